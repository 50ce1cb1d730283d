//! Producing records: batching by size and linger time, partitioning by key, offsets back.
//!
//! Each partition has a task that gathers records into batches. A batch is sealed when it
//! reaches `batch_size` bytes or when its first record has waited `linger`. At most one
//! produce request per partition is in flight; the batches sealed meanwhile all travel in
//! the next request, so a busy partition sends large requests and an idle one answers
//! fast. Order within a partition is the order of `send` calls.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::api::{ErrorCode, spu_keys};
use protocol::record::{Batch, Compression, Record, RecordSet};
use protocol::spu::{
    ApiRequest, Isolation, PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::cluster::{Fluvio, RETRY_BACKOFF};
use super::error::{ClientError, Peer};

/// How records are batched and acknowledged.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Seal a batch once its records reach this many bytes.
    pub batch_size: usize,
    /// Seal a batch once its first record has waited this long.
    pub linger: Duration,
    /// `ReadCommitted`: acknowledged once the in-sync replicas have it;
    /// `ReadUncommitted`: once the leader wrote it.
    pub isolation: Isolation,
    pub compression: Compression,
    /// How long the SPU may take to acknowledge.
    pub timeout: Duration,
    /// Attempts for a batch whose leader moved or whose connection failed. Retries can
    /// duplicate a batch the SPU had written before the failure (at-least-once).
    pub max_attempts: u32,
    /// The most record bytes one produce request carries (a single larger batch still
    /// goes, alone).
    pub max_request_bytes: usize,
    /// Per partition, the most bytes gathered but not yet acknowledged; `send` waits
    /// beyond it.
    pub max_buffered_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_size: 16 * 1024,
            linger: Duration::from_millis(100),
            isolation: Isolation::ReadUncommitted,
            compression: Compression::None,
            timeout: Duration::from_millis(1500),
            max_attempts: 4,
            max_request_bytes: 4 * 1024 * 1024,
            max_buffered_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    pub partition: u32,
    pub offset: i64,
}

/// The acknowledgement of one record, to await when it matters.
pub struct PendingRecord {
    reply: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl PendingRecord {
    pub async fn wait(self) -> Result<RecordMetadata, ClientError> {
        self.reply.await.unwrap_or_else(|_| {
            Err(ClientError::NotFound(
                "the producer stopped before the record was acknowledged".to_string(),
            ))
        })
    }
}

enum Command {
    Send {
        record: Record,
        reply: oneshot::Sender<Result<RecordMetadata, ClientError>>,
    },
    Flush(oneshot::Sender<()>),
}

/// A producer for one topic. Cheap to clone; records of all clones share the batches.
#[derive(Clone)]
pub struct TopicProducer {
    inner: Arc<Inner>,
}

struct Inner {
    fluvio: Fluvio,
    topic: String,
    partitions: u32,
    config: ProducerConfig,
    /// One channel per partition, its task started on first use.
    lanes: Mutex<Vec<Option<mpsc::Sender<Command>>>>,
    next_partition: AtomicU32,
}

impl TopicProducer {
    pub(crate) fn new(
        fluvio: Fluvio,
        topic: String,
        partitions: u32,
        config: ProducerConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                fluvio,
                topic,
                partitions,
                config,
                lanes: Mutex::new(vec![None; partitions as usize]),
                next_partition: AtomicU32::new(0),
            }),
        }
    }

    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    pub fn partition_count(&self) -> u32 {
        self.inner.partitions
    }

    /// Send a record; a keyed record goes to the partition its key hashes to, others
    /// round-robin.
    pub async fn send(
        &self,
        key: Option<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<PendingRecord, ClientError> {
        let record = Record {
            key,
            value: value.into(),
            ..Record::default()
        };
        self.send_by_key(record).await
    }

    /// Send a record (with its headers) to the partition its key hashes to, or the next
    /// partition round-robin when it has no key.
    pub async fn send_by_key(&self, record: Record) -> Result<PendingRecord, ClientError> {
        let partition = match &record.key {
            Some(key) => partition_for_key(key, self.inner.partitions),
            None => {
                self.inner.next_partition.fetch_add(1, Ordering::Relaxed) % self.inner.partitions
            }
        };
        self.send_record(partition, record).await
    }

    /// Send a record (with its headers) to a chosen partition.
    pub async fn send_record(
        &self,
        partition: u32,
        record: Record,
    ) -> Result<PendingRecord, ClientError> {
        if partition >= self.inner.partitions {
            return Err(ClientError::NotFound(format!(
                "topic '{}' has {} partition(s); there is no partition {partition}",
                self.inner.topic, self.inner.partitions
            )));
        }
        let (reply, rx) = oneshot::channel();
        let lane = self.lane(partition).await;
        lane.send(Command::Send { record, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(PendingRecord { reply: rx })
    }

    /// Send everything gathered so far and wait until all of it is acknowledged (or
    /// failed; failures are reported on each record's [`PendingRecord`]).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let lanes: Vec<_> = self
            .inner
            .lanes
            .lock()
            .await
            .iter()
            .flatten()
            .cloned()
            .collect();
        let mut waits = Vec::new();
        for lane in lanes {
            let (tx, rx) = oneshot::channel();
            if lane.send(Command::Flush(tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        for wait in waits {
            let _ = wait.await;
        }
        Ok(())
    }

    async fn lane(&self, partition: u32) -> mpsc::Sender<Command> {
        let mut lanes = self.inner.lanes.lock().await;
        let slot = &mut lanes[partition as usize];
        if let Some(lane) = slot
            && !lane.is_closed()
        {
            return lane.clone();
        }
        // Enough room that a burst of sends does not wait on the batching task.
        let (tx, rx) = mpsc::channel(4096);
        let lane = PartitionLane {
            fluvio: self.inner.fluvio.clone(),
            topic: self.inner.topic.clone(),
            partition,
            config: self.inner.config.clone(),
        };
        tokio::spawn(lane.run(rx));
        *slot = Some(tx.clone());
        tx
    }
}

fn stopped() -> ClientError {
    ClientError::NotFound("the producer's partition task stopped".to_string())
}

/// The partition a key goes to: FNV-1a of the key bytes, modulo the partition count.
/// Stable across runs and platforms, so a key always lands in the same partition.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

type Reply = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// A sealed batch with the callers waiting on its records.
struct Sealed {
    bytes: Bytes,
    replies: Vec<Reply>,
}

/// Records not yet sealed.
#[derive(Default)]
struct Open {
    batch: Batch,
    bytes: usize,
    replies: Vec<Reply>,
    since: Option<tokio::time::Instant>,
}

type InFlight = Pin<Box<dyn Future<Output = (Vec<Sealed>, Result<Vec<i64>, ClientError>)> + Send>>;

struct PartitionLane {
    fluvio: Fluvio,
    topic: String,
    partition: u32,
    config: ProducerConfig,
}

impl PartitionLane {
    async fn run(self, mut commands: mpsc::Receiver<Command>) {
        let me = Arc::new(self);
        let mut open = Open::default();
        let mut ready: VecDeque<Sealed> = VecDeque::new();
        let mut in_flight: Option<InFlight> = None;
        let mut flush_waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut closed = false;
        loop {
            if in_flight.is_none() && !ready.is_empty() {
                let request = take_request(&mut ready, me.config.max_request_bytes);
                in_flight = Some(Box::pin(Arc::clone(&me).deliver(request)));
            }
            if in_flight.is_none() && ready.is_empty() && open.replies.is_empty() {
                for waiter in flush_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                if closed {
                    return;
                }
            }
            // While this much waits to be sent, take no more records: `send` then waits on
            // the full channel, which bounds the producer's memory.
            let buffered: usize = ready.iter().map(|b| b.bytes.len()).sum::<usize>() + open.bytes;
            let accepting = !closed && buffered < me.config.max_buffered_bytes;
            if !accepting && !closed && ready.is_empty() && in_flight.is_none() {
                // Full with nothing on its way: what is gathered must go, whatever the linger.
                me.seal(&mut open, &mut ready);
                continue;
            }
            let linger_at = open.since.map(|since| since + me.config.linger);
            tokio::select! {
                command = commands.recv(), if accepting => {
                    let mut next = command;
                    // Take whatever else is already queued before deciding to seal, so a
                    // burst shares batches even with no linger.
                    loop {
                        match next {
                            Some(Command::Send { record, reply }) => {
                                me.add(&mut open, record, reply);
                                if open.bytes >= me.config.batch_size {
                                    me.seal(&mut open, &mut ready);
                                }
                            }
                            Some(Command::Flush(waiter)) => {
                                me.seal(&mut open, &mut ready);
                                flush_waiters.push(waiter);
                            }
                            None => {
                                closed = true;
                                me.seal(&mut open, &mut ready);
                                break;
                            }
                        }
                        if open.bytes >= me.config.max_buffered_bytes {
                            break;
                        }
                        match commands.try_recv() {
                            Ok(command) => next = Some(command),
                            Err(_) => break,
                        }
                    }
                    if me.config.linger.is_zero() {
                        me.seal(&mut open, &mut ready);
                    }
                }
                _ = sleep_until(linger_at), if linger_at.is_some() => {
                    me.seal(&mut open, &mut ready);
                }
                (sent, result) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    answer(me.partition, sent, result);
                }
            }
        }
    }

    fn add(&self, open: &mut Open, record: Record, reply: Reply) {
        if open.since.is_none() {
            open.since = Some(tokio::time::Instant::now());
        }
        open.bytes += record.encoded_len();
        open.batch.push_at(record, now_ms());
        open.replies.push(reply);
    }

    fn seal(&self, open: &mut Open, ready: &mut VecDeque<Sealed>) {
        if open.replies.is_empty() {
            return;
        }
        let taken = std::mem::take(open);
        let batch = taken.batch.with_compression(self.config.compression);
        match batch.to_bytes() {
            Ok(bytes) => ready.push_back(Sealed {
                bytes,
                replies: taken.replies,
            }),
            Err(err) => {
                let error = ClientError::NotFound(format!("cannot encode a record batch: {err}"));
                for reply in taken.replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Send the batches in one produce request (retrying while the leader moves) and
    /// return each batch's base offset.
    async fn deliver(
        self: Arc<Self>,
        batches: Vec<Sealed>,
    ) -> (Vec<Sealed>, Result<Vec<i64>, ClientError>) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send_once(&batches).await;
            let retry = match &result {
                Err(ClientError::ConnectionLost { .. } | ClientError::Unreachable { .. }) => true,
                Err(ClientError::Refused { code, .. }) => matches!(
                    code,
                    ErrorCode::NotLeaderForPartition | ErrorCode::PartitionNotLeader
                ),
                _ => false,
            };
            if !retry || attempt >= self.config.max_attempts {
                return (batches, result);
            }
            tokio::time::sleep(RETRY_BACKOFF * attempt).await;
        }
    }

    async fn send_once(&self, batches: &[Sealed]) -> Result<Vec<i64>, ClientError> {
        let (route, socket) = self.fluvio.leader(&self.topic, self.partition).await?;
        let request = ProduceRequest {
            transactional_id: None,
            isolation: self.config.isolation,
            timeout_ms: self.config.timeout.as_millis().min(i32::MAX as u128) as i32,
            topics: vec![TopicProduceData {
                name: self.topic.clone(),
                partitions: batches
                    .iter()
                    .map(|b| PartitionProduceData {
                        partition_index: self.partition,
                        records: RecordSet::new(b.bytes.clone()),
                    })
                    .collect(),
            }],
            smartmodules: Vec::new(),
        };
        let version = ProduceRequest::VERSION;
        let reply = match socket.request(spu_keys::PRODUCE, version, &request).await {
            Ok(reply) => reply,
            Err(err) => {
                self.fluvio.drop_spu(route.leader).await;
                return Err(err);
            }
        };
        let response = ProduceRequest::decode_response(&reply, version).map_err(|source| {
            ClientError::BadResponse {
                peer: Peer::Spu,
                addr: socket.addr().to_string(),
                source,
            }
        })?;
        self.base_offsets(&response, batches.len())
    }

    /// The base offset of each batch, pairing response entries with batches by position.
    fn base_offsets(
        &self,
        response: &ProduceResponse,
        expected: usize,
    ) -> Result<Vec<i64>, ClientError> {
        let entries: Vec<_> = response
            .responses
            .iter()
            .flat_map(|topic| topic.partitions.iter())
            .collect();
        if entries.len() != expected {
            return Err(ClientError::UnexpectedResponse {
                peer: Peer::Spu,
                addr: String::new(),
                what: format!("{} produce results for {expected} batches", entries.len()),
            });
        }
        entries
            .into_iter()
            .map(|entry| {
                if entry.error_code.is_ok() {
                    Ok(entry.base_offset)
                } else {
                    Err(ClientError::Refused {
                        action: format!("cannot produce to {}-{}", self.topic, self.partition),
                        code: entry.error_code.clone(),
                        message: None,
                    })
                }
            })
            .collect()
    }
}

/// The oldest sealed batches that fit in one request of `max_bytes` (at least one, so a
/// batch larger than the limit still goes out alone).
fn take_request(ready: &mut VecDeque<Sealed>, max_bytes: usize) -> Vec<Sealed> {
    let mut request = Vec::new();
    let mut bytes = 0;
    while let Some(next) = ready.front() {
        if !request.is_empty() && bytes + next.bytes.len() > max_bytes {
            break;
        }
        bytes += next.bytes.len();
        request.extend(ready.pop_front());
    }
    request
}

/// Tell every caller of the sent batches where their record went, or why it failed.
fn answer(partition: u32, sent: Vec<Sealed>, result: Result<Vec<i64>, ClientError>) {
    match result {
        Ok(bases) => {
            for (batch, base) in sent.into_iter().zip(bases) {
                for (index, reply) in batch.replies.into_iter().enumerate() {
                    let _ = reply.send(Ok(RecordMetadata {
                        partition,
                        offset: base + index as i64,
                    }));
                }
            }
        }
        Err(error) => {
            for reply in sent.into_iter().flat_map(|b| b.replies) {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_stably_into_range() {
        assert_eq!(partition_for_key(b"user-1", 1), 0);
        let a = partition_for_key(b"user-1", 7);
        assert_eq!(a, partition_for_key(b"user-1", 7));
        assert!(a < 7);
        // Different keys spread over the partitions.
        let used: std::collections::BTreeSet<u32> = (0..100)
            .map(|i| partition_for_key(format!("k{i}").as_bytes(), 4))
            .collect();
        assert_eq!(used.len(), 4);
        // Known value: FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c.
        assert_eq!(
            partition_for_key(b"a", 1000),
            (0xaf63_dc4c_8601_ec8c_u64 % 1000) as u32
        );
    }
}
