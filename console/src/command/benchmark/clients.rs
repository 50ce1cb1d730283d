//! Concurrent clients of a benchmark (`--producers N`, `--consumers N`): each has a cluster
//! connection of its own (its own SC and SPU sockets), takes a share of the records and
//! is timed on its own; the aggregate is every byte over the time from the first client's
//! start to the last one's finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::record::Record;
use serde::Serialize;
use tokio::sync::{Barrier, Semaphore};

use super::{BenchError, BenchmarkArgs, Percentiles, Progress, Throughput};
use crate::client::{
    ClientError, ConsumerConfig, Fluvio, MultiStream, Offset, ProducerConfig, TopicProducer,
};

/// Connections opened at once when a benchmark starts many clients: enough to start a
/// thousand in a few seconds, few enough not to look like a flood to the daemon.
const PARALLEL_CONNECTS: usize = 16;

/// Records unacknowledged at most per producer, so memory stays flat on large runs.
const WINDOW: usize = 50_000;

/// One client's share of a run and what it measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// 1-based, in the order the clients were started.
    pub client: u32,
    /// Its records over the time from the moment all clients started together to its
    /// last record.
    pub throughput: Throughput,
    /// A producer's acknowledgement latency under full load: from handing each record to
    /// the producer to its acknowledgement, in the throughput phase (every record, or an
    /// even sample of [`LATENCY_SAMPLES`]). Not measured for consumers.
    pub ack_latency: Percentiles,
    /// A consumer's end-to-end latency in the latency phase, where every consumer follows
    /// the whole topic. Not measured for producers.
    pub end_to_end_latency: Percentiles,
}

/// A client's throughput and its latency samples, with when it ran.
pub struct ClientRun {
    pub records: u64,
    pub bytes: u64,
    pub started: Instant,
    pub finished: Instant,
    pub latencies: Vec<Duration>,
}

impl ClientRun {
    pub fn throughput(&self) -> Throughput {
        Throughput::new(self.records, self.bytes, self.finished - self.started)
    }
}

/// Every client's bytes over the time from the first start to the last finish.
pub fn aggregate(runs: &[ClientRun]) -> Throughput {
    let (Some(start), Some(end)) = (
        runs.iter().map(|r| r.started).min(),
        runs.iter().map(|r| r.finished).max(),
    ) else {
        return Throughput::default();
    };
    Throughput::new(
        runs.iter().map(|r| r.records).sum(),
        runs.iter().map(|r| r.bytes).sum(),
        end - start,
    )
}

/// `count` cluster clients: `fluvio` itself for one, else `count` new connections to the
/// same SC, opened a few at a time.
pub async fn connections(fluvio: &Fluvio, count: u32) -> Result<Vec<Fluvio>, BenchError> {
    if count <= 1 {
        return Ok(vec![fluvio.clone()]);
    }
    let addr = fluvio.metadata().addr().to_string();
    let tls = fluvio.metadata().tls().clone();
    let limit = Arc::new(Semaphore::new(PARALLEL_CONNECTS));
    let mut tasks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (addr, tls, limit) = (addr.clone(), tls.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            Fluvio::connect_with(&addr, &tls).await
        }));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(Ok(fluvio)) => out.push(fluvio),
            Ok(Err(err)) => failed = failed.or(Some(err)),
            Err(join) => return Err(BenchError::Task(join.to_string())),
        }
    }
    match failed {
        None => Ok(out),
        Some(source) => Err(BenchError::Connect {
            opened: out.len() as u32,
            wanted: count,
            addr,
            source: Box::new(source),
        }),
    }
}

/// `total` split into `parts` shares that differ by at most one, the larger ones first.
pub fn split_count(total: u64, parts: u32) -> Vec<u64> {
    let parts = u64::from(parts.max(1));
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

/// What one consumer reads: whole partitions from the beginning, or one slice of one
/// partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub partitions: Vec<u32>,
    /// `[from, to)` of the one partition, for a slice; `None` for whole partitions.
    pub range: Option<(i64, i64)>,
}

/// The records of a topic split among `consumers`: with at least as many partitions as
/// consumers, whole partitions dealt out in turn (as a Kafka consumer group does); with
/// more consumers than partitions, consumer `i` reads a slice of partition `i mod P`, the
/// slices of one partition splitting its offsets `[start, end)` evenly.
pub fn split_partitions(offsets: &[(i64, i64)], consumers: u32) -> Vec<Share> {
    let partitions = offsets.len() as u32;
    let consumers = consumers.max(1);
    if consumers <= partitions {
        return (0..consumers)
            .map(|i| Share {
                partitions: (i..partitions).step_by(consumers as usize).collect(),
                range: None,
            })
            .collect();
    }
    (0..consumers)
        .map(|i| {
            let p = i % partitions;
            // This partition's readers, and this consumer's place among them.
            let readers = (consumers - p).div_ceil(partitions);
            let place = i / partitions;
            let (start, end) = offsets[p as usize];
            let len = end - start;
            let at = |k: u32| start + len * i64::from(k) / i64::from(readers);
            Share {
                partitions: vec![p],
                range: Some((at(place), at(place + 1))),
            }
        })
        .collect()
}

/// The throughput phase of a produce run: `args.producers` producers, each on its own
/// connection, send their share of `args.records` at once, each record's acknowledgement
/// timed. The producers are made before the clock starts.
pub async fn produce(
    fluvio: &Fluvio,
    args: &BenchmarkArgs,
    topic: &str,
    progress: &Progress,
) -> Result<Vec<ClientRun>, BenchError> {
    let clients = connections(fluvio, args.producers).await?;
    let shares = split_count(args.records, clients.len() as u32);
    let value = Bytes::from(vec![b'x'; args.record_size]);
    let start = Arc::new(Barrier::new(clients.len()));
    let mut tasks = Vec::with_capacity(clients.len());
    for (i, (client, share)) in clients.iter().zip(shares).enumerate() {
        let producer = client
            .topic_producer(
                topic,
                ProducerConfig {
                    batch_size: args.batch_size,
                    linger: Duration::from_millis(10),
                    isolation: args.isolation.into(),
                    max_in_flight: args.max_in_flight,
                    ..ProducerConfig::default()
                },
            )
            .await?;
        let (start, value, progress) = (start.clone(), value.clone(), progress.clone());
        let record_size = args.record_size as u64;
        // Producers start on different partitions, so they do not fill the same batch.
        let spread = Spread::new(
            producer.partition_count(),
            batch_run(args.batch_size, &value),
            i as u32,
        );
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let started = Instant::now();
            let latencies = send_all(&producer, share, &value, spread, &progress).await?;
            Ok::<_, BenchError>(ClientRun {
                records: share,
                bytes: share * record_size,
                started,
                finished: Instant::now(),
                latencies,
            })
        }));
    }
    let runs = joined(tasks).await?;
    // Connections of their own close with the clients, after the clock stopped.
    drop(clients);
    Ok(runs)
}

/// Where a benchmark producer's records go: the partitions in turn, one batch's worth of
/// records to each (`run`), as Kafka's producer spreads records without a key (its sticky
/// partitioner). Every batch then fills whatever the partition count. Record-by-record
/// round robin instead gives each of 1000 partitions one record in 1000 sends, so at the
/// benchmark's 10 ms linger a batch was sealed holding 3 or 4 records of 1 KiB instead of
/// 15: four times the batches, requests and appends for the same bytes.
#[derive(Debug, Clone)]
pub struct Spread {
    partitions: u32,
    run: u64,
    partition: u32,
    left: u64,
}

impl Spread {
    /// Runs of `run` records (at least 1) over `partitions`, starting at `first`.
    pub fn new(partitions: u32, run: u64, first: u32) -> Self {
        let partitions = partitions.max(1);
        let run = run.max(1);
        Self {
            partitions,
            run,
            partition: first % partitions,
            left: run,
        }
    }

    /// The partition for the next record.
    pub fn next_partition(&mut self) -> u32 {
        if self.left == 0 {
            self.partition = (self.partition + 1) % self.partitions;
            self.left = self.run;
        }
        self.left -= 1;
        self.partition
    }
}

/// Records of `value` that fit in one batch of `batch_size` bytes (at least 1), counted as
/// the producer counts them when it seals a batch.
pub fn batch_run(batch_size: usize, value: &Bytes) -> u64 {
    let each = Record::new(value.clone()).encoded_len().max(1);
    (batch_size / each).max(1) as u64
}

/// Acknowledgements timed at most per producer. Timing one puts a channel hop and a
/// wake-up of the task that awaits it on the send path, which on every record would slow
/// the rate being measured; an even sample of ten thousand was indistinguishable from
/// timing none (five interleaved rounds of 400,000 records of 1 KiB, release build:
/// median 727 vs 729 MB/s) and still leaves ten samples above the p99.9 rank.
const LATENCY_SAMPLES: u64 = 10_000;

/// Send `count` records and wait for every acknowledgement, keeping at most [`WINDOW`]
/// unacknowledged; the time from send to acknowledgement of every record, or of every
/// k-th one (evenly spaced) when there are more than [`LATENCY_SAMPLES`].
pub async fn send_all(
    producer: &TopicProducer,
    count: u64,
    value: &Bytes,
    mut spread: Spread,
    progress: &Progress,
) -> Result<Vec<Duration>, BenchError> {
    let every = count.div_ceil(LATENCY_SAMPLES).max(1);
    // The timed acknowledgements are awaited off the send path, in send order, by a task
    // of their own; the others wait in the window and are awaited when it is full.
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(Instant, crate::client::PendingRecord)>(WINDOW);
    let acks = tokio::spawn(async move {
        let mut samples = Vec::new();
        while let Some((sent_at, pending)) = rx.recv().await {
            pending.wait().await?;
            samples.push(sent_at.elapsed());
        }
        Ok::<_, ClientError>(samples)
    });
    let sent = async {
        let mut window = std::collections::VecDeque::with_capacity(WINDOW);
        for i in 0..count {
            let sent_at = Instant::now();
            let pending = producer
                .send_record(spread.next_partition(), Record::new(value.clone()))
                .await?;
            progress.inc(1);
            if i % every == 0 {
                if tx.send((sent_at, pending)).await.is_err() {
                    // The timing task stopped on an error: it says which, below.
                    return Ok(());
                }
            } else {
                window.push_back(pending);
                if window.len() >= WINDOW
                    && let Some(oldest) = window.pop_front()
                {
                    oldest.wait().await?;
                }
            }
        }
        producer.flush().await?;
        for pending in window {
            pending.wait().await?;
        }
        Ok::<_, ClientError>(())
    }
    .await;
    drop(tx);
    let acked = acks
        .await
        .map_err(|join| BenchError::Task(join.to_string()))?;
    sent?;
    Ok(acked?)
}

/// The throughput phase of a consume run: `args.consumers` consumers, each on its own
/// connection, read their share of the records of `topic` (see [`split_partitions`]) at
/// once. `offsets` are each partition's `[start, end)`.
pub async fn consume(
    fluvio: &Fluvio,
    args: &BenchmarkArgs,
    topic: &str,
    offsets: &[(i64, i64)],
    progress: &Progress,
) -> Result<Vec<ClientRun>, BenchError> {
    let clients = connections(fluvio, args.consumers).await?;
    let shares = split_partitions(offsets, clients.len() as u32);
    let start = Arc::new(Barrier::new(clients.len()));
    let mut tasks = Vec::with_capacity(clients.len());
    for (client, share) in clients.iter().cloned().zip(shares) {
        let (start, progress, topic) = (start.clone(), progress.clone(), topic.to_string());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let started = Instant::now();
            let (offset, end) = match share.range {
                Some((from, to)) => (Offset::Absolute(from), Some(to - 1)),
                None => (Offset::Beginning, None),
            };
            let config = ConsumerConfig {
                stop_at_end: true,
                end,
                ..ConsumerConfig::default()
            };
            let (mut records, mut bytes) = (0u64, 0u64);
            // An empty slice (more consumers than records) reads nothing.
            if share.range.is_none_or(|(from, to)| from < to) {
                let mut stream =
                    MultiStream::start(&client, &topic, &share.partitions, offset, config).await?;
                while let Some(record) = stream.next().await {
                    let record = record?;
                    progress.inc(1);
                    records += 1;
                    bytes += record.value.len() as u64;
                }
            }
            Ok::<_, BenchError>(ClientRun {
                records,
                bytes,
                started,
                finished: Instant::now(),
                latencies: Vec::new(),
            })
        }));
    }
    joined(tasks).await
}

/// Every task's result in order, each timed from the common start, or the first error.
async fn joined(
    tasks: Vec<tokio::task::JoinHandle<Result<ClientRun, BenchError>>>,
) -> Result<Vec<ClientRun>, BenchError> {
    let mut runs = Vec::with_capacity(tasks.len());
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(Ok(run)) => runs.push(run),
            Ok(Err(err)) => failed = failed.or(Some(err)),
            Err(join) => failed = failed.or(Some(BenchError::Task(join.to_string()))),
        }
    }
    if let Some(err) = failed {
        return Err(err);
    }
    // The clients started together at the barrier; the first to pass it marks that
    // moment for all, so a client whose task happened to be polled later is not credited
    // with a shorter run.
    if let Some(start) = runs.iter().map(|r| r.started).min() {
        runs.iter_mut().for_each(|r| r.started = start);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_go_one_batch_to_each_partition_in_turn() {
        let mut spread = Spread::new(3, 2, 0);
        let got: Vec<u32> = (0..8).map(|_| spread.next_partition()).collect();
        assert_eq!(got, [0, 0, 1, 1, 2, 2, 0, 0]);
        // A second producer starts one partition further on; a run of 0 still moves.
        let mut spread = Spread::new(3, 0, 4);
        let got: Vec<u32> = (0..4).map(|_| spread.next_partition()).collect();
        assert_eq!(got, [1, 2, 0, 1]);
        let mut one = Spread::new(1, 15, 0);
        assert!((0..40).all(|_| one.next_partition() == 0));
    }

    #[test]
    fn a_run_is_what_fills_one_batch() {
        use protocol::record::{BatchWriter, Compression};
        let value = Bytes::from(vec![b'x'; 1024]);
        let run = batch_run(16 * 1024, &value);
        assert_eq!(run, 15);
        // The producer's rule: seal before a record would pass the batch size.
        let mut writer = BatchWriter::with_capacity(16 * 1024, Compression::None);
        for _ in 0..run {
            writer.push(Record::new(value.clone()), 0).unwrap();
        }
        let size = Record::new(value.clone()).encoded_len();
        assert!(writer.records_bytes() <= 16 * 1024);
        assert!(writer.records_bytes() + size > 16 * 1024);
        assert_eq!(
            batch_run(100, &value),
            1,
            "a record larger than a batch goes alone"
        );
    }

    #[test]
    fn records_split_evenly() {
        assert_eq!(split_count(10, 3), vec![4, 3, 3]);
        assert_eq!(split_count(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split_count(7, 1), vec![7]);
        assert_eq!(split_count(9, 0), vec![9]);
    }

    #[test]
    fn consumers_get_whole_partitions_or_even_slices() {
        let offsets = [(0, 100), (0, 100), (0, 100)];
        // Fewer consumers than partitions: dealt out in turn.
        let shares = split_partitions(&offsets, 2);
        assert_eq!(shares[0].partitions, vec![0, 2]);
        assert_eq!(shares[1].partitions, vec![1]);
        assert!(shares.iter().all(|s| s.range.is_none()));
        // More consumers than partitions: every offset of every partition read once.
        for consumers in [4, 5, 7, 300] {
            let shares = split_partitions(&[(5, 105), (0, 3), (0, 0)], consumers);
            assert_eq!(shares.len(), consumers as usize);
            for (p, (start, end)) in [(5, 105), (0, 3), (0, 0)].into_iter().enumerate() {
                let mut ranges: Vec<(i64, i64)> = shares
                    .iter()
                    .filter(|s| s.partitions == [p as u32])
                    .map(|s| s.range.unwrap())
                    .collect();
                ranges.sort();
                assert_eq!(ranges.first().unwrap().0, start, "{consumers}");
                assert_eq!(ranges.last().unwrap().1, end, "{consumers}");
                assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0), "{ranges:?}");
            }
        }
    }
}
