//! Producing records: batching by size and linger time, partitioning by key, offsets back.
//!
//! Each partition has a lane: `send` encodes the record straight into the lane's open
//! batch (no hop through a channel, one copy of the value), and a delivery task sends what
//! is ready. A batch is sealed before it would pass `batch_size` bytes, or when its first
//! record has waited `linger`. With `read_uncommitted` at most one produce request per
//! partition is in flight; the batches sealed meanwhile all travel in the next request, so
//! a busy partition sends large requests and an idle one answers fast. With
//! `read_committed` each answer waits for the replicas, so up to `max_in_flight` (5, as in
//! Kafka) requests per partition are out at once; that is safe because the producer is
//! idempotent (below). The requests of all partitions with the same
//! leader travel together (see `gather`), so many partitions do not mean many small
//! requests. Order within a partition is the order of `send` calls. The records of a batch share one acknowledgement.
//!
//! Order survives failures too: when a request fails for good, every batch queued behind
//! it for that partition (sealed or still open) fails without being sent, since storing it
//! would leave a hole in the records the caller sent. Until the caller has seen that
//! failure (an error from a record's [`PendingRecord::wait`], or from `send` itself), sends
//! to the partition are refused the same way; sends after that go out as usual.
//!
//! Idempotence (`idempotent`, on by default): the producer takes a producer id from an SPU
//! (InitProducerId, ours) and stamps it, an epoch and per-partition sequence numbers into
//! each batch as it is first sent. A retry resends the same bytes, so a leader that stored
//! the batch before answers with the offsets it got instead of storing it twice, even after
//! a failover; a request that overtook an earlier one being retried is refused as out of
//! sequence and retried after it. After a request fails for good the partition's next
//! batches start a new epoch at sequence 0, since the failed batches left a gap. Against
//! an SPU that hands out no producer ids the producer falls back to at-least-once, one
//! request at a time.

use std::collections::VecDeque;
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use protocol::api::ErrorCode;
use protocol::record::{BatchWriter, Compression, Record};
use protocol::sc::CompressionAlgorithm;
use protocol::spu::{Isolation, PartitionProduceResponse, is_out_of_order_sequence};
use tokio::sync::Notify;

use super::error::{ClientError, RecordSpan};
use super::gather::Gather;
use super::routing::{RETRY_BACKOFF, Routing};

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
    /// The codec to ask for; `None` follows the topic's compression type (none for a
    /// topic that allows any). A codec the topic does not allow is refused by
    /// [`Fluvio::topic_producer`](super::Fluvio::topic_producer) before anything is sent.
    pub compression: Option<Compression>,
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
    /// Take a producer id and number batches, so retries are stored once (exactly once
    /// per partition while the producer lives).
    pub idempotent: bool,
    /// Produce requests out at once per partition with `ReadCommitted` when idempotent
    /// (Kafka's `max.in.flight.requests.per.connection`, at most 5 for idempotence).
    pub max_in_flight: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_size: 16 * 1024,
            linger: Duration::from_millis(100),
            isolation: Isolation::ReadUncommitted,
            compression: None,
            timeout: Duration::from_millis(1500),
            max_attempts: 4,
            // Kafka's max.request.size; measured here, 1 MiB requests produced about 8%
            // faster than 4 MiB ones (the console's produce benchmark, 64 KiB batches).
            max_request_bytes: 1024 * 1024,
            max_buffered_bytes: 32 * 1024 * 1024,
            idempotent: true,
            max_in_flight: MAX_IN_FLIGHT_IDEMPOTENT,
        }
    }
}

/// The most requests in flight per partition an idempotent producer may have: leaders
/// remember the last five batches of each producer.
pub const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;

/// A request joins others in flight once a `1/PIPELINE_FRACTION` of the request size is
/// ready.
const PIPELINE_FRACTION: usize = 4;

/// Extra attempts for a request refused as out of sequence: it overtook an earlier one
/// still being retried (a leader change), which should land first.
const OUT_OF_ORDER_ATTEMPTS: u32 = 20;

impl ProducerConfig {
    /// The codec batches are written with: the one asked for, else none.
    pub fn codec(&self) -> Compression {
        self.compression.unwrap_or(Compression::None)
    }
}

/// The codec a producer for a topic with compression type `topic` writes with, given the
/// codec it asked for (`None`: follow the topic). As in Fluvio, a topic other than `any`
/// accepts its own codec only, so asking for another is an error before sending.
pub fn resolve_compression(
    topic_name: &str,
    topic: CompressionAlgorithm,
    asked: Option<Compression>,
) -> Result<Compression, ClientError> {
    match (Compression::from_topic(topic), asked) {
        (None, asked) => Ok(asked.unwrap_or(Compression::None)),
        (Some(required), None) => Ok(required),
        (Some(required), Some(asked)) if asked == required => Ok(required),
        (Some(required), Some(asked)) => Err(ClientError::CompressionMismatch {
            topic: topic_name.to_string(),
            required,
            asked,
        }),
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
    ack: Arc<BatchAck>,
    partition: u32,
    /// Position in its batch.
    index: i64,
}

impl PendingRecord {
    pub async fn wait(self) -> Result<RecordMetadata, ClientError> {
        match self.ack.wait().await {
            Ok(base) => Ok(RecordMetadata {
                partition: self.partition,
                offset: base + self.index,
            }),
            Err(err) => {
                if let Some(seen) = self.ack.seen.get() {
                    seen.store(true, Ordering::Release);
                }
                Err(err.clone())
            }
        }
    }
}

/// The outcome of one batch (its base offset), shared by its records.
#[derive(Default)]
struct BatchAck {
    result: OnceLock<Result<i64, ClientError>>,
    done: Notify,
    /// For a batch failed with its partition's lane: raised once a caller got the error.
    seen: OnceLock<Arc<AtomicBool>>,
}

impl BatchAck {
    async fn wait(&self) -> &Result<i64, ClientError> {
        loop {
            // Registered before the check, so a result set in between still wakes us.
            let done = self.done.notified();
            if let Some(result) = self.result.get() {
                return result;
            }
            done.await;
        }
    }
}

/// The producer's side of a [`BatchAck`]: answers it once, and if dropped unanswered
/// (the producer went away), fails it so no caller waits forever.
struct Answer(Arc<BatchAck>);

impl Answer {
    fn new() -> Self {
        Self(Arc::default())
    }

    fn send(&self, result: Result<i64, ClientError>) {
        let _ = self.0.result.set(result);
        self.0.done.notify_waiters();
    }

    /// Fail the batch as part of its lane's failure, which lifts once `seen` is raised.
    fn fail(&self, error: ClientError, seen: &Arc<AtomicBool>) {
        let _ = self.0.seen.set(Arc::clone(seen));
        self.send(Err(error));
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.0.result.get().is_none() {
            self.send(Err(ClientError::ProducerStopped));
        }
    }
}

/// A producer for one topic. Cheap to clone; records of all clones share the batches.
#[derive(Clone)]
pub struct TopicProducer {
    inner: Arc<Inner>,
}

struct Inner {
    routing: Routing,
    topic: String,
    partitions: u32,
    config: ProducerConfig,
    /// One lane per partition, its delivery task started on first use.
    lanes: Vec<OnceLock<Arc<Lane>>>,
    /// The lanes' requests, gathered per leader.
    gather: Gather,
    next_partition: AtomicU32,
    /// The producer id and epoch, taken by the first lane that sends (`None`: not
    /// idempotent).
    identity: Arc<tokio::sync::OnceCell<Option<Identity>>>,
}

/// An idempotent producer's id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    producer_id: i64,
    epoch: i16,
}

impl Drop for Inner {
    /// The last clone is gone: each lane delivers what it holds, then its task ends.
    fn drop(&mut self) {
        for lane in self.lanes.iter().filter_map(OnceLock::get) {
            lane.lock().stopped = true;
            lane.work.notify_one();
        }
    }
}

impl TopicProducer {
    pub(crate) fn new(
        routing: Routing,
        topic: String,
        partitions: u32,
        config: ProducerConfig,
    ) -> Self {
        let gather = Gather::new(
            topic.clone(),
            config.isolation,
            config.timeout.as_millis().min(i32::MAX as u128) as i32,
            config.max_request_bytes,
        );
        Self {
            inner: Arc::new(Inner {
                routing,
                topic,
                partitions,
                gather,
                config,
                lanes: (0..partitions).map(|_| OnceLock::new()).collect(),
                next_partition: AtomicU32::new(0),
                identity: Arc::default(),
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

    /// Send a record (with its headers) to a chosen partition. Waits while the partition
    /// already holds `max_buffered_bytes` unacknowledged. Refused with
    /// [`ClientError::NotSent`] when a batch to the partition failed and the caller has not
    /// yet seen that error.
    pub async fn send_record(
        &self,
        partition: u32,
        record: Record,
    ) -> Result<PendingRecord, ClientError> {
        if partition >= self.inner.partitions {
            return Err(ClientError::PartitionNotFound {
                topic: self.inner.topic.clone(),
                partition,
                partitions: self.inner.partitions,
            });
        }
        let lane = self.lane(partition);
        let config = &self.inner.config;
        loop {
            let space = lane.space.notified();
            {
                let mut state = lane.lock();
                state.admit()?;
                if state.buffered == 0 || state.buffered < config.max_buffered_bytes {
                    return state.add(record, partition, config, &lane.work);
                }
            }
            space.await;
        }
    }

    /// Send everything gathered so far and wait until all of it is acknowledged (or
    /// failed; failures are reported on each record's [`PendingRecord`]).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let mut newest = Vec::new();
        for lane in self.inner.lanes.iter().filter_map(OnceLock::get) {
            let mut state = lane.lock();
            state.seal();
            if let Some(last) = state.last.clone() {
                newest.push(last);
            }
            drop(state);
            lane.work.notify_one();
        }
        // Batches of a partition are answered in order: the newest answers last.
        for ack in newest {
            let _ = ack.wait().await;
        }
        Ok(())
    }

    fn lane(&self, partition: u32) -> &Arc<Lane> {
        self.inner.lanes[partition as usize].get_or_init(|| {
            let lane = Arc::new(Lane::default());
            let delivery = Delivery {
                routing: self.inner.routing.clone(),
                gather: self.inner.gather.clone(),
                topic: self.inner.topic.clone(),
                partition,
                config: self.inner.config.clone(),
                identity: self.inner.identity.clone(),
            };
            tokio::spawn(delivery.run(Arc::clone(&lane)));
            lane
        })
    }
}

/// The partition a key goes to, exactly as the official Fluvio client picks it: SipHash-2-4
/// with zero keys, modulo the partition count. The official client feeds the key through
/// `<[u8] as Hash>::hash`, which writes the length (a `usize`) before the bytes; on the
/// 64-bit little-endian targets it ships for, that is 8 little-endian bytes. We write those
/// bytes explicitly so the result stays the same on any platform we are built for.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    // std's SipHasher is SipHash-2-4 with the keys given to `new` (zero); it is deprecated
    // only in favour of a randomly keyed hasher, which a stable partitioner cannot use, and it
    // spares us a dependency.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    hasher.write(&(key.len() as u64).to_le_bytes());
    hasher.write(key);
    (hasher.finish() % u64::from(partitions.max(1))) as u32
}

/// What `send` and the delivery task share for one partition.
#[derive(Default)]
struct Lane {
    state: std::sync::Mutex<LaneState>,
    /// Wakes the delivery task: a batch sealed or started, a flush, the producer gone.
    work: Notify,
    /// Wakes senders waiting for buffer space.
    space: Notify,
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct LaneState {
    open: Option<Open>,
    ready: VecDeque<Sealed>,
    /// Record bytes taken and not yet acknowledged (open, ready and in flight).
    buffered: usize,
    /// The newest sealed batch's acknowledgement, for `flush`.
    last: Option<Arc<BatchAck>>,
    /// Every producer handle is gone: deliver what is left, then stop.
    stopped: bool,
    /// Records taken so far; numbers them for error messages.
    taken: u64,
    /// A batch failed and the caller has perhaps not heard of it yet.
    failure: Option<LaneFailure>,
}

/// Why sends to a lane are refused until the caller has seen an earlier failure.
struct LaneFailure {
    error: ClientError,
    /// Raised when a caller received the error of one of the failed batches.
    seen: Arc<AtomicBool>,
}

/// The batch records are being added to.
struct Open {
    writer: BatchWriter,
    /// The lane's number (from 0) for the first record.
    first: u64,
    answer: Answer,
    since: tokio::time::Instant,
    compression: Compression,
}

/// A finished batch waiting for (or on) its produce request.
struct Sealed {
    bytes: Bytes,
    /// The lane's number (from 0) for its first record.
    first: u64,
    /// Records in it.
    records: usize,
    /// Record bytes it holds, as counted in `buffered`.
    size: usize,
    answer: Answer,
}

impl LaneState {
    /// Refuse a send while a failure is pending that the caller has not seen; the refusal
    /// is how it sees it, so the send after it goes ahead.
    fn admit(&mut self) -> Result<(), ClientError> {
        match self.failure.take() {
            Some(failure) if !failure.seen.load(Ordering::Acquire) => Err(failure.error),
            _ => Ok(()),
        }
    }

    fn add(
        &mut self,
        record: Record,
        partition: u32,
        config: &ProducerConfig,
        work: &Notify,
    ) -> Result<PendingRecord, ClientError> {
        let size = record.encoded_len();
        if let Some(open) = &self.open
            && open.writer.records_bytes() + size > config.batch_size
        {
            // Seal before passing the batch size; a record larger than it goes alone.
            self.seal();
            work.notify_one();
        }
        let open = match &mut self.open {
            Some(open) => open,
            started => {
                // A new batch starts its linger clock: the delivery task must know.
                work.notify_one();
                started.insert(Open {
                    writer: BatchWriter::with_capacity(config.batch_size.max(size), config.codec()),
                    first: self.taken,
                    answer: Answer::new(),
                    since: tokio::time::Instant::now(),
                    compression: config.codec(),
                })
            }
        };
        let index = open.writer.len() as i64;
        let before = open.writer.records_bytes();
        open.writer
            .push(record, now_ms())
            .map_err(|source| ClientError::EncodeRecord { source })?;
        let pending = PendingRecord {
            ack: Arc::clone(&open.answer.0),
            partition,
            index,
        };
        // What the batch grew by is what its delivery will give back.
        self.buffered += open.writer.records_bytes() - before;
        self.taken += 1;
        if open.writer.records_bytes() >= config.batch_size {
            self.seal();
            work.notify_one();
        }
        Ok(pending)
    }

    /// Finish the open batch, if any, and queue it.
    fn seal(&mut self) {
        // A batch whose only record failed to encode has nothing to send.
        let Some(open) = self.open.take().filter(|open| !open.writer.is_empty()) else {
            return;
        };
        let size = open.writer.records_bytes();
        let records = open.writer.len();
        match open.writer.finish() {
            Ok(bytes) => {
                self.last = Some(Arc::clone(&open.answer.0));
                self.ready.push_back(Sealed {
                    bytes,
                    first: open.first,
                    records,
                    size,
                    answer: open.answer,
                });
            }
            Err(source) => {
                self.buffered -= size;
                open.answer.send(Err(ClientError::EncodeBatch {
                    compression: open.compression,
                    source,
                }));
            }
        }
    }

    /// The request carrying `failed` failed for good with `cause`: fail every batch
    /// queued behind it, unsent, and refuse sends until the caller has seen an error.
    /// Returns the flag the failed request's own batches raise when their error is seen.
    fn fail_queued(
        &mut self,
        topic: &str,
        partition: u32,
        failed: &[Sealed],
        cause: &ClientError,
    ) -> Arc<AtomicBool> {
        let seen = Arc::new(AtomicBool::new(false));
        let first = failed.first().map_or(0, |b| b.first);
        let last = failed.last().map_or(first, |b| b.first + b.records as u64);
        let error = ClientError::NotSent {
            topic: topic.to_string(),
            partition,
            failed: RecordSpan {
                first: first + 1,
                last: last.max(first + 1),
            },
            cause: Box::new(cause.clone()),
        };
        self.seal();
        for batch in self.ready.drain(..) {
            self.buffered -= batch.size;
            batch.answer.fail(error.clone(), &seen);
        }
        self.failure = Some(LaneFailure {
            error,
            seen: Arc::clone(&seen),
        });
        seen
    }
}

type Delivered = (Vec<Sealed>, Result<Vec<i64>, ClientError>);

/// The task that sends a lane's batches.
struct Delivery {
    routing: Routing,
    gather: Gather,
    topic: String,
    partition: u32,
    config: ProducerConfig,
    identity: Arc<tokio::sync::OnceCell<Option<Identity>>>,
}

/// Where the lane's batch numbering stands (idempotent producers).
struct Sequencing {
    identity: Identity,
    /// Bumped after a request failed for good: its batches left a gap in the sequence.
    epoch: i16,
    next: i32,
}

impl Sequencing {
    /// Stamp the producer id, epoch and the next sequence numbers into the batches.
    fn stamp(&mut self, batches: &mut [Sealed]) {
        for batch in batches {
            let mut bytes = std::mem::take(&mut batch.bytes)
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            protocol::record::batch::set_producer(
                &mut bytes,
                self.identity.producer_id,
                self.epoch,
                self.next,
            );
            batch.bytes = bytes.freeze();
            // Sequences wrap after i32::MAX, as the leader expects.
            let records = batch.records as i64;
            self.next = ((i64::from(self.next) + records) % (i64::from(i32::MAX) + 1)) as i32;
        }
    }

    /// Start over after a gap: a new epoch from sequence 0, which the leader accepts.
    fn restart(&mut self) {
        self.epoch = self.epoch.checked_add(1).unwrap_or(0);
        self.next = 0;
    }
}

impl Delivery {
    async fn run(self, lane: Arc<Lane>) {
        let me = Arc::new(self);
        let mut sequencing = me.identity().await.map(|identity| Sequencing {
            identity,
            epoch: identity.epoch,
            next: 0,
        });
        // Several requests out at once only when answers wait for replication and the
        // leader can put retries in their place.
        let limit = if sequencing.is_some() && me.config.isolation == Isolation::ReadCommitted {
            me.config.max_in_flight.clamp(1, MAX_IN_FLIGHT_IDEMPOTENT)
        } else {
            1
        };
        let mut in_flight: VecDeque<tokio::task::JoinHandle<Delivered>> = VecDeque::new();
        loop {
            let mut linger_at = None;
            if in_flight.len() < limit {
                let mut state = lane.lock();
                if let Some(open) = &state.open {
                    let due = open.since + me.config.linger;
                    // With requests out, a batch waits for its linger or its size: it
                    // would otherwise go out tiny while the others travel.
                    if state.stopped || due <= tokio::time::Instant::now() {
                        state.seal();
                    } else {
                        linger_at = Some(due);
                    }
                }
                // With requests out, the next one waits until it is worth sending: a
                // request per sealed batch would carry less in flight than one large
                // request did. Alone, whatever is ready goes at once.
                let ready_bytes: usize = state.ready.iter().map(|b| b.bytes.len()).sum();
                let worth = in_flight.is_empty()
                    || state.stopped
                    || ready_bytes >= me.config.max_request_bytes / PIPELINE_FRACTION;
                if !state.ready.is_empty() && worth {
                    let mut request = take_request(&mut state.ready, me.config.max_request_bytes);
                    if let Some(sequencing) = sequencing.as_mut() {
                        sequencing.stamp(&mut request);
                    }
                    in_flight.push_back(tokio::spawn(Arc::clone(&me).deliver(request)));
                    drop(state);
                    // More may be ready to go out beside it.
                    continue;
                } else if state.stopped && state.open.is_none() && in_flight.is_empty() {
                    return;
                }
            }
            tokio::select! {
                _ = lane.work.notified() => {}
                _ = sleep_until(linger_at), if linger_at.is_some() => {}
                joined = async { in_flight.front_mut().expect("guarded").await }, if !in_flight.is_empty() => {
                    in_flight.pop_front();
                    // A delivery task only ends by returning (it never panics on input).
                    let Ok((sent, result)) = joined else { continue };
                    let size: usize = sent.iter().map(|b| b.size).sum();
                    let seen = {
                        let mut state = lane.lock();
                        state.buffered -= size;
                        // Before anyone hears of the failure, so a send made after
                        // hearing of it is not failed with the batches queued before.
                        result.as_ref().err().map(|cause| {
                            state.fail_queued(&me.topic, me.partition, &sent, cause)
                        })
                    };
                    if seen.is_some()
                        && let Some(sequencing) = sequencing.as_mut()
                    {
                        sequencing.restart();
                    }
                    answer(sent, result, seen.as_ref());
                    lane.space.notify_waiters();
                }
            }
        }
    }

    /// The producer id, asked of this partition's leader by the first lane that needs it.
    async fn identity(&self) -> Option<Identity> {
        if !self.config.idempotent {
            return None;
        }
        *self
            .identity
            .get_or_init(|| async {
                match self.init_producer_id().await {
                    Ok(identity) => Some(identity),
                    Err(err) => {
                        tracing::warn!(topic = %self.topic, %err,
                            "no producer id: producing without idempotence (retries may store a batch twice)");
                        None
                    }
                }
            })
            .await
    }

    async fn init_producer_id(&self) -> Result<Identity, ClientError> {
        use protocol::spu::{ApiRequest, InitProducerIdRequest};
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result =
                async {
                    let (_, socket) = self.routing.leader(&self.topic, self.partition).await?;
                    let version = InitProducerIdRequest::VERSION;
                    let reply = socket
                        .request(
                            protocol::api::spu_keys::INIT_PRODUCER_ID,
                            version,
                            &InitProducerIdRequest {},
                        )
                        .await?;
                    let response = InitProducerIdRequest::decode_response(&reply, version)
                        .map_err(|source| ClientError::BadResponse {
                            peer: super::error::Peer::Spu,
                            addr: socket.addr().to_string(),
                            source,
                        })?;
                    if response.error_code.is_error() {
                        return Err(ClientError::Refused {
                            action: "cannot get a producer id".to_string(),
                            code: response.error_code,
                            message: None,
                        });
                    }
                    Ok(Identity {
                        producer_id: response.producer_id,
                        epoch: response.producer_epoch,
                    })
                }
                .await;
            match result {
                Err(ClientError::ConnectionLost { .. } | ClientError::Unreachable { .. })
                    if attempt < self.config.max_attempts =>
                {
                    tokio::time::sleep(RETRY_BACKOFF * attempt).await;
                }
                other => return other,
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
        let mut out_of_order = 0;
        loop {
            let result = self.send_once(&batches).await;
            let retry = match &result {
                Err(ClientError::ConnectionLost { .. } | ClientError::Unreachable { .. }) => true,
                Err(ClientError::Refused { code, .. }) if is_out_of_order_sequence(code) => {
                    out_of_order += 1;
                    if out_of_order <= OUT_OF_ORDER_ATTEMPTS {
                        tokio::time::sleep(RETRY_BACKOFF).await;
                        continue;
                    }
                    false
                }
                Err(ClientError::Refused { code, .. }) => matches!(
                    code,
                    ErrorCode::NotLeaderForPartition | ErrorCode::PartitionNotLeader
                ),
                _ => false,
            };
            attempt += 1;
            if !retry || attempt >= self.config.max_attempts {
                return (batches, result);
            }
            tokio::time::sleep(RETRY_BACKOFF * attempt).await;
        }
    }

    async fn send_once(&self, batches: &[Sealed]) -> Result<Vec<i64>, ClientError> {
        let (route, socket) = self.routing.leader(&self.topic, self.partition).await?;
        // One entry holding every batch (the SPU appends it as one piece), in the next
        // request to this leader with the other partitions' entries.
        let asked = socket.clone();
        let answer = match self
            .gather
            .send(route.leader, socket, self.partition, concat(batches))
            .await
        {
            Ok(answer) => answer,
            Err(err) => {
                // A connection that failed or stalled is dialled afresh next time; a reply
                // we could not read says nothing about the connection.
                if !matches!(
                    err,
                    ClientError::BadResponse { .. } | ClientError::UnexpectedResponse { .. }
                ) {
                    self.routing.drop_spu(route.leader).await;
                }
                return Err(err);
            }
        };
        let base = match self.base_offset(&answer) {
            // The answer names no principal: ask the SPU whom it refused.
            Err(ClientError::Refused {
                action,
                code: ErrorCode::PermissionDenied,
                ..
            }) => {
                return Err(ClientError::Refused {
                    action,
                    code: ErrorCode::PermissionDenied,
                    message: crate::refusal::denied(&asked, "produce to", &self.topic).await,
                });
            }
            other => other?,
        };
        // Batches take consecutive offsets: each starts where the one before ended.
        let mut next = base;
        Ok(batches
            .iter()
            .map(|batch| {
                let start = next;
                next += batch.records as i64;
                start
            })
            .collect())
    }

    /// The base offset of the entry's first batch, or the SPU's refusal.
    fn base_offset(&self, entry: &PartitionProduceResponse) -> Result<i64, ClientError> {
        if entry.error_code.is_ok() {
            Ok(entry.base_offset)
        } else {
            Err(ClientError::Refused {
                action: format!("cannot produce to {}-{}", self.topic, self.partition),
                code: entry.error_code.clone(),
                message: (entry.error_code == ErrorCode::StorageError).then(|| {
                    "storage error: the SPU could not write the records to its disk; \
                     its log names the file and the cause"
                        .to_string()
                }),
            })
        }
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

/// The batches laid end to end, as one record set.
fn concat(batches: &[Sealed]) -> Bytes {
    match batches {
        [one] => one.bytes.clone(),
        many => {
            let mut out = BytesMut::with_capacity(many.iter().map(|b| b.bytes.len()).sum());
            for batch in many {
                out.extend_from_slice(&batch.bytes);
            }
            out.freeze()
        }
    }
}

/// Tell every caller of the sent batches where their records went, or why they failed
/// (raising `seen` when one of them reads the error).
fn answer(
    sent: Vec<Sealed>,
    result: Result<Vec<i64>, ClientError>,
    seen: Option<&Arc<AtomicBool>>,
) {
    match result {
        Ok(bases) => {
            for (batch, base) in sent.iter().zip(bases) {
                batch.answer.send(Ok(base));
            }
        }
        Err(error) => {
            for batch in &sent {
                match seen {
                    Some(seen) => batch.answer.fail(error.clone(), seen),
                    None => batch.answer.send(Err(error.clone())),
                }
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
    use protocol::record::Batch;

    #[test]
    fn the_codec_follows_the_topic_unless_it_allows_any() {
        use CompressionAlgorithm as Topic;
        let resolve = |topic, asked| resolve_compression("t", topic, asked);
        assert_eq!(resolve(Topic::Gzip, None).unwrap(), Compression::Gzip);
        assert_eq!(resolve(Topic::Zstd, None).unwrap(), Compression::Zstd);
        assert_eq!(resolve(Topic::None, None).unwrap(), Compression::None);
        assert_eq!(resolve(Topic::Any, None).unwrap(), Compression::None);
        assert_eq!(
            resolve(Topic::Any, Some(Compression::Lz4)).unwrap(),
            Compression::Lz4
        );
        assert_eq!(
            resolve(Topic::Snappy, Some(Compression::Snappy)).unwrap(),
            Compression::Snappy
        );
        let err = resolve(Topic::Gzip, Some(Compression::Zstd)).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::CompressionMismatch {
                    required: Compression::Gzip,
                    asked: Compression::Zstd,
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("topic 't' takes gzip batches only") && text.contains("asked for zstd"),
            "{text}"
        );
        assert!(resolve(Topic::None, Some(Compression::Gzip)).is_err());
    }

    #[tokio::test]
    async fn batches_seal_before_the_batch_size_and_records_share_their_answer() {
        let config = ProducerConfig {
            batch_size: 3000,
            ..ProducerConfig::default()
        };
        let work = Notify::new();
        let mut state = LaneState::default();
        let mut pending = Vec::new();
        for i in 0..5u8 {
            let record = Record::new(vec![i; 1000]);
            pending.push(state.add(record, 7, &config, &work).unwrap());
        }
        // A 1000-byte value encodes to a little more: two fit in 3000 bytes, not three.
        assert_eq!(state.ready.len(), 2);
        assert_eq!(state.open.as_ref().map(|o| o.writer.len()), Some(1));
        let indexes: Vec<i64> = pending.iter().map(|p| p.index).collect();
        assert_eq!(indexes, [0, 1, 0, 1, 0]);
        state.seal();
        state.seal(); // nothing open: no empty batch
        assert_eq!(state.ready.len(), 3);
        // What is buffered is exactly what the batches hold, for delivery to give back.
        let held: usize = state.ready.iter().map(|b| b.size).sum();
        assert_eq!(state.buffered, held);
        for (sealed, values) in state.ready.iter().zip([[0u8, 1].as_slice(), &[2, 3], &[4]]) {
            let batch = Batch::decode(&sealed.bytes).unwrap();
            let firsts: Vec<u8> = batch.records.iter().map(|r| r.value[0]).collect();
            assert_eq!(firsts, values);
        }
        assert!(Arc::ptr_eq(
            state.last.as_ref().unwrap(),
            &state.ready.back().unwrap().answer.0
        ));

        let sent: Vec<Sealed> = state.ready.drain(..).collect();
        answer(sent, Ok(vec![100, 102, 104]), None);
        let mut offsets = Vec::new();
        for record in pending {
            let meta = record.wait().await.unwrap();
            assert_eq!(meta.partition, 7);
            offsets.push(meta.offset);
        }
        assert_eq!(offsets, [100, 101, 102, 103, 104]);
    }

    #[tokio::test]
    async fn a_batch_dropped_unanswered_fails_its_records() {
        let config = ProducerConfig::default();
        let mut state = LaneState::default();
        let pending = state
            .add(Record::new(&b"v"[..]), 0, &config, &Notify::new())
            .unwrap();
        drop(state);
        let err = pending.wait().await.unwrap_err();
        assert!(matches!(err, ClientError::ProducerStopped), "{err}");
    }

    /// Four batches of two records: the first goes out and fails, the second and third
    /// wait behind it sealed, the fourth is still open.
    fn lane_with_a_failed_request() -> (LaneState, Vec<PendingRecord>, Vec<Sealed>) {
        let config = ProducerConfig {
            batch_size: 2100,
            ..ProducerConfig::default()
        };
        let work = Notify::new();
        let mut state = LaneState::default();
        let mut pending = Vec::new();
        for i in 0..7u8 {
            let record = Record::new(vec![i; 1000]);
            pending.push(state.add(record, 0, &config, &work).unwrap());
        }
        assert_eq!(state.ready.len(), 3);
        let sent = take_request(&mut state.ready, 1);
        assert_eq!(sent.len(), 1);
        (state, pending, sent)
    }

    fn refused() -> ClientError {
        ClientError::Refused {
            action: "cannot produce to orders-0".to_string(),
            code: ErrorCode::StorageError,
            message: None,
        }
    }

    #[tokio::test]
    async fn a_failed_request_fails_every_batch_queued_behind_it_unsent() {
        let (mut state, pending, sent) = lane_with_a_failed_request();
        let in_flight: usize = sent.iter().map(|b| b.size).sum();
        let seen = state.fail_queued("orders", 0, &sent, &refused());
        answer(sent, Err(refused()), Some(&seen));
        // Nothing is left to send, and only the failed request's bytes are still counted
        // (delivery gives those back itself).
        assert!(state.ready.is_empty());
        assert!(state.open.is_none());
        assert_eq!(state.buffered, in_flight);

        let mut errors = Vec::new();
        for record in pending {
            errors.push(record.wait().await.unwrap_err());
        }
        assert!(
            matches!(errors[0], ClientError::Refused { .. }),
            "{}",
            errors[0]
        );
        assert!(
            matches!(errors[1], ClientError::Refused { .. }),
            "{}",
            errors[1]
        );
        for err in &errors[2..] {
            let ClientError::NotSent {
                topic,
                partition,
                failed,
                cause,
            } = err
            else {
                panic!("expected NotSent, got {err}");
            };
            assert_eq!((topic.as_str(), *partition), ("orders", 0));
            assert_eq!(*failed, RecordSpan { first: 1, last: 2 });
            assert!(matches!(**cause, ClientError::Refused { .. }));
            let text = err.to_string();
            assert!(
                text.starts_with("not sent: an earlier batch to orders-0 failed: cannot produce to orders-0: storage error"),
                "{text}"
            );
            assert!(text.contains("records #1 to #2"), "{text}");
        }
    }

    #[tokio::test]
    async fn sends_are_refused_until_the_failure_is_seen_then_go_ahead() {
        // Seen through a refused send: that refusal is the news, the next send proceeds.
        let (mut state, _pending, sent) = lane_with_a_failed_request();
        state.fail_queued("orders", 0, &sent, &refused());
        let err = state.admit().unwrap_err();
        assert!(
            matches!(err, ClientError::NotSent { partition: 0, .. }),
            "{err}"
        );
        state.admit().unwrap();

        // Seen through a failed record's answer: no send is refused.
        let (mut state, mut pending, sent) = lane_with_a_failed_request();
        let seen = state.fail_queued("orders", 0, &sent, &refused());
        answer(sent, Err(refused()), Some(&seen));
        assert!(pending.remove(0).wait().await.is_err());
        state.admit().unwrap();
        // Records sent now start a fresh batch, numbered after all the failed ones.
        let config = ProducerConfig::default();
        let next = state
            .add(Record::new(&b"after"[..]), 0, &config, &Notify::new())
            .unwrap();
        assert_eq!(next.index, 0);
        assert_eq!(state.open.as_ref().map(|o| o.first), Some(7));
    }

    #[tokio::test]
    async fn a_successful_request_leaves_the_queue_alone() {
        let (mut state, _pending, sent) = lane_with_a_failed_request();
        answer(sent, Ok(vec![0]), None);
        assert_eq!(state.ready.len(), 2);
        state.admit().unwrap();
        assert!(state.failure.is_none());
    }

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
        // Known values from an independent SipHash-2-4 (zero keys) over le64(len) || key,
        // checked against the reference vector of the SipHash paper.
        let vectors: [(&[u8], u64); 4] = [
            (b"", 0xe849_e8bb_6ffe_2567),
            (b"a", 0xfeb1_5081_b68c_a86b),
            (b"user-1", 0x5b7b_f110_f671_cd04),
            (
                b"hello world, a key longer than eight",
                0xf7a0_255e_70db_fa9e,
            ),
        ];
        for (key, hash) in vectors {
            for partitions in [2, 3, 7, 1000] {
                assert_eq!(
                    partition_for_key(key, partitions),
                    (hash % u64::from(partitions)) as u32,
                    "key {key:?}, {partitions} partitions"
                );
            }
        }
    }

    /// std's SipHasher is SipHash-2-4: the paper's test vector (keys 00..0f, message 00..0e).
    #[test]
    #[allow(deprecated)]
    fn std_siphasher_is_siphash_2_4() {
        let mut hasher = std::hash::SipHasher::new_with_keys(
            u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]),
            u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
        );
        hasher.write(&(0u8..15).collect::<Vec<u8>>());
        assert_eq!(hasher.finish(), 0xa129_ca61_49be_45e5);
    }

    /// The official client hashes the key with `<[u8] as Hash>::hash`; on this platform that
    /// is the same byte stream we write by hand.
    #[test]
    #[allow(deprecated)]
    fn matches_hashing_the_slice() {
        use std::hash::Hash;
        for key in [&b""[..], b"a", b"user-1", b"0123456789abcdef-and-more"] {
            let mut hasher = std::hash::SipHasher::new();
            key.hash(&mut hasher);
            assert_eq!(
                partition_for_key(key, 7),
                (hasher.finish() % 7) as u32,
                "key {key:?}"
            );
        }
    }
}
