//! StreamFetch (1003): a session per request that sends the stored batches from
//! `fetch_offset` on and then pushes new ones as they are written, all on the request's
//! correlation id, until the connection closes.
//!
//! * Frames carry whole batches read straight from the log's files: the frame's head is
//!   encoded in memory and the batches follow as file ranges, which the connection writes
//!   with `sendfile(2)`.
//! * A frame holds batches up to `max_bytes`, but always at least one whole batch so a
//!   consumer progresses whatever its limit. Each frame continues exactly where the last
//!   one ended (batch boundaries), so no offset is skipped or repeated.
//! * `ReadCommitted` sessions read up to the high watermark, `ReadUncommitted` up to the
//!   log end.
//! * A session sleeps on the replica's change signal (no polling) and wakes on appends.
//! * Pacing: the official consumer acknowledges every frame with UpdateOffsets. Once a
//!   session has seen an acknowledgement it keeps at most [`MAX_UNACKED_FRAMES`] frames
//!   unacknowledged, like the real SPU (which waits for each), so a stream the client
//!   dropped stops soon. A client that never acknowledges is paced by the connection's
//!   bounded writer queue alone; queued frames are file ranges, not copies of the data.
//! * `fetch_offset` outside `[log start, log end]` is answered with one `OffsetOutOfRange`
//!   frame; SmartModules (not supported) with one `SmartModuleError` frame; a partition
//!   this SPU does not lead with `NotLeaderForPartition`. Those sessions end at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use protocol::api::ErrorCode;
use protocol::spu::StreamFetchResponse;
use protocol::spu::{OffsetKey, ReplicaKey, StreamFetchRequest};
use protocol::{Encode, EncodeError, Version};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::net::{RequestError, ResponseSink};
use crate::spu::replica::partition::{Partition, isolation, read_cap};
use crate::spu::replica::store::{NEW_REPLICA_WAIT, ReplicaStore};
use crate::storage::{CorruptionKind, Isolation, ReadSlice, StorageError};

/// Frames a pacing session sends ahead of the consumer's acknowledgements.
pub const MAX_UNACKED_FRAMES: usize = 4;
/// Live sessions per connection; more are refused with an error frame.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
/// The largest `max_bytes` honoured (larger asks get frames of this size).
pub const MAX_FRAME_RECORDS_BYTES: u64 = 64 << 20;

/// The stream sessions of one connection.
#[derive(Debug, Default)]
pub struct Streams {
    /// The last id issued; ids start at 1.
    last_id: u32,
    live: HashMap<u32, StreamHandle>,
    /// The consumer each session with a consumer id serves: UpdateConsumerOffset (1006)
    /// names a session, and may come after its stream has ended. The newest
    /// [`MAX_STREAMS_PER_CONNECTION`] are kept.
    consumers: std::collections::BTreeMap<u32, OffsetKey>,
}

#[derive(Debug)]
struct StreamHandle {
    task: JoinHandle<()>,
    acks: watch::Sender<Option<i64>>,
}

impl Streams {
    fn next_id(&mut self) -> u32 {
        self.last_id = self.last_id.wrapping_add(1).max(1);
        self.last_id
    }

    /// Record a consumer's acknowledgement; false for an id never issued here.
    pub fn acknowledge(&self, id: u32, offset: i64) -> bool {
        match self.live.get(&id) {
            Some(handle) => {
                handle.acks.send_replace(Some(offset));
                true
            }
            None => id >= 1 && id <= self.last_id,
        }
    }

    /// Was session `id` ever issued on this connection?
    pub fn acknowledge_known(&self, id: u32) -> bool {
        id >= 1 && id <= self.last_id
    }

    /// The consumer (and partition) session `id` serves, if it has a consumer id.
    pub fn consumer(&self, id: u32) -> Option<&OffsetKey> {
        self.consumers.get(&id)
    }

    fn remember_consumer(&mut self, id: u32, key: OffsetKey) {
        self.consumers.insert(id, key);
        while self.consumers.len() > MAX_STREAMS_PER_CONNECTION {
            self.consumers.pop_first();
        }
    }

    fn prune(&mut self) {
        self.live.retain(|_, handle| !handle.task.is_finished());
    }

    /// Stop every session (the connection closed).
    pub fn end_all(self) {
        for handle in self.live.into_values() {
            handle.task.abort();
        }
    }
}

/// The frame's head: size prefix, correlation id and `frame`, whose last field must be
/// an empty record set, with that record set's length set to `records_len`. The records
/// themselves follow on the wire. Serves stream fetch and the follower stream alike.
pub fn frame_head<T: Encode>(
    correlation_id: i32,
    version: Version,
    frame: &T,
    records_len: u64,
) -> Result<Vec<u8>, EncodeError> {
    let too_long = |len: u64| EncodeError::TooLong {
        what: "stream fetch frame",
        len: usize::try_from(len).unwrap_or(usize::MAX),
        max: i32::MAX as usize,
    };
    let mut head = vec![0u8; 4];
    head.extend_from_slice(&correlation_id.to_be_bytes());
    frame.encode(&mut head, version)?;
    debug_assert!(
        head.ends_with(&[0, 0, 0, 0]),
        "the frame must end with an empty record set"
    );
    let records = i32::try_from(records_len).map_err(|_| too_long(records_len))?;
    let at = head.len() - 4;
    head[at..].copy_from_slice(&records.to_be_bytes());
    let size = (head.len() as u64 - 4) + records_len;
    let size = i32::try_from(size).map_err(|_| too_long(size))?;
    head[..4].copy_from_slice(&size.to_be_bytes());
    Ok(head)
}

/// Where a new session starts, or the error that refuses it: `fetch_offset` must be in
/// `[log start, log end]`.
pub fn check_start(fetch_offset: i64, log_start: i64, leo: i64) -> Result<i64, ErrorCode> {
    if fetch_offset < log_start || fetch_offset > leo {
        Err(ErrorCode::OffsetOutOfRange)
    } else {
        Ok(fetch_offset)
    }
}

/// The error code that ends a session after a failed read.
fn read_error_code(err: &StorageError) -> ErrorCode {
    match err {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::Closed { .. } => ErrorCode::NotLeaderForPartition,
        _ => ErrorCode::StorageError,
    }
}

/// What a consumer is told when stored data does not read back: the offsets it cannot get
/// (from the first bad batch to the end of its segment, where reads stop) and why. Sent as
/// `Other`, the one code that carries text, so the consumer can name them.
fn corrupt_message(
    topic: &str,
    partition: u32,
    first: i64,
    last: i64,
    kind: &CorruptionKind,
) -> String {
    format!(
        "corrupt data in topic '{topic}' partition {partition} at offsets {first}..={last}: \
         {kind}. The stored data is damaged and cannot be sent; `fluvio partition verify \
         {topic} -p {partition}` lists every damaged range"
    )
}

/// Start a session for `request` (or answer it with one error frame: `permission` is
/// the authorization check's answer).
pub async fn start(
    store: &ReplicaStore,
    streams: &mut Streams,
    sink: ResponseSink,
    correlation_id: i32,
    version: Version,
    request: StreamFetchRequest,
    permission: Result<(), ErrorCode>,
) -> Result<(), RequestError> {
    streams.prune();
    let stream_id = streams.next_id();
    let session = Session {
        sink,
        correlation_id,
        version,
        stream_id,
        topic: request.topic.clone(),
        partition_index: request.partition,
        max_bytes: u64::try_from(request.max_bytes)
            .unwrap_or(0)
            .min(MAX_FRAME_RECORDS_BYTES),
        isolation: isolation(request.isolation),
    };
    let refuse = |code: ErrorCode| async {
        debug!(topic = %request.topic, partition = request.partition, %code, "stream fetch refused");
        session.send_error(code, None).await
    };
    if let Err(code) = permission {
        return refuse(code).await;
    }
    if request.has_smartmodules() {
        return refuse(ErrorCode::SmartModuleError).await;
    }
    if streams.live.len() >= MAX_STREAMS_PER_CONNECTION {
        return refuse(ErrorCode::Other(format!(
            "too many streams on one connection (at most {MAX_STREAMS_PER_CONNECTION})"
        )))
        .await;
    }
    let found = store
        .wait_leader(&request.topic, request.partition, NEW_REPLICA_WAIT)
        .await;
    let Ok(partition) = found else {
        return refuse(ErrorCode::NotLeaderForPartition).await;
    };
    let offsets = match partition.offsets() {
        Ok(offsets) => offsets,
        Err(err) => return refuse(read_error_code(&err)).await,
    };
    let next = match check_start(request.fetch_offset, offsets.log_start, offsets.leo) {
        Ok(next) => next,
        Err(code) => {
            return session
                .send_error(code, Some((offsets.hw, offsets.log_start)))
                .await;
        }
    };
    if let Some(consumer_id) = request.consumer_id.clone().filter(|c| !c.is_empty()) {
        streams.remember_consumer(
            stream_id,
            OffsetKey {
                replica_id: ReplicaKey::new(request.topic.clone(), request.partition),
                consumer_id,
            },
        );
    }
    let (acks, acks_rx) = watch::channel(None);
    let span = crate::spu::replica::span(partition.key());
    let task = tokio::spawn(tracing::Instrument::instrument(
        session.run(partition, next, acks_rx),
        span,
    ));
    streams.live.insert(stream_id, StreamHandle { task, acks });
    Ok(())
}

struct Session {
    sink: ResponseSink,
    correlation_id: i32,
    version: Version,
    stream_id: u32,
    topic: String,
    partition_index: u32,
    max_bytes: u64,
    isolation: Isolation,
}

impl Session {
    fn response(&self, error_code: ErrorCode, hw: i64, log_start: i64) -> StreamFetchResponse {
        StreamFetchResponse {
            topic: self.topic.clone(),
            stream_id: self.stream_id,
            partition_index: self.partition_index,
            error_code,
            high_watermark: hw,
            next_filter_offset: 0,
            log_start_offset: log_start,
            aborted: None,
            records: Default::default(),
        }
    }

    async fn send_error(
        &self,
        code: ErrorCode,
        offsets: Option<(i64, i64)>,
    ) -> Result<(), RequestError> {
        crate::metrics::request_error("SPU public", protocol::api::spu_keys::STREAM_FETCH, &code);
        let (hw, log_start) = offsets.unwrap_or((-1, -1));
        let frame = self.response(code, hw, log_start);
        self.sink
            .respond(self.correlation_id, self.version, &frame)
            .await
    }

    async fn send_records(&self, slice: ReadSlice) -> Result<(), RequestError> {
        let frame = self.response(ErrorCode::None, slice.hw, slice.log_start);
        let head = frame_head(self.correlation_id, self.version, &frame, slice.len())?;
        self.sink
            .send_spliced(Bytes::from(head), slice.ranges)
            .await?;
        Ok(())
    }

    async fn run(
        self,
        partition: Arc<Partition>,
        mut next: i64,
        mut acks: watch::Receiver<Option<i64>>,
    ) {
        let _open = crate::metrics::stream_opened("SPU public");
        let mut changes = partition.subscribe();
        // End offsets of the frames sent and not yet acknowledged.
        let mut unacked: VecDeque<i64> = VecDeque::new();
        loop {
            let acked = *acks.borrow_and_update();
            if let Some(acked) = acked {
                while unacked.front().is_some_and(|end| *end <= acked) {
                    unacked.pop_front();
                }
            }
            let paced = acked.is_some() && unacked.len() >= MAX_UNACKED_FRAMES;
            if !paced {
                // Mark the signal seen before reading: an append from now on wakes us.
                changes.borrow_and_update();
                if !partition.is_leader() {
                    let _ = self
                        .send_error(ErrorCode::NotLeaderForPartition, None)
                        .await;
                    return;
                }
                match self.read(&partition, next) {
                    Ok(Some(slice)) => {
                        let end = slice.end_offset;
                        partition.counters().served_consumer(slice.len());
                        if self.send_records(slice).await.is_err() {
                            return;
                        }
                        next = end;
                        unacked.push_back(end);
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        if !matches!(err, StorageError::Closed { .. }) {
                            warn!(topic = %self.topic, partition = self.partition_index, offset = next, %err, "stream fetch read failed");
                        }
                        let offsets = partition.offsets().ok().map(|o| (o.hw, o.log_start));
                        let code = match &err {
                            StorageError::Corrupt { offset, kind, .. } => {
                                crate::metrics::corrupt_found("read", 1);
                                let first = if *offset >= 0 { *offset } else { next };
                                let last = partition
                                    .segment_end(first)
                                    .map_or(first, |end| (end - 1).max(first));
                                let (topic, partition) = (&self.topic, self.partition_index);
                                ErrorCode::Other(corrupt_message(
                                    topic, partition, first, last, kind,
                                ))
                            }
                            other => read_error_code(other),
                        };
                        let _ = self.send_error(code, offsets).await;
                        return;
                    }
                }
            }
            tokio::select! {
                changed = changes.changed(), if !paced => if changed.is_err() { return },
                changed = acks.changed() => if changed.is_err() { return },
                _ = self.sink.closed() => return,
            }
        }
    }

    /// The batches readable from `next`, if any.
    fn read(&self, partition: &Partition, next: i64) -> Result<Option<ReadSlice>, StorageError> {
        let offsets = partition.offsets()?;
        if next >= read_cap(offsets, self.isolation) {
            return Ok(None);
        }
        let slice = partition.read(next, self.max_bytes, self.isolation)?;
        Ok((!slice.is_empty()).then_some(slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::encode_response_frame;
    use protocol::record::RecordSet;

    #[test]
    fn head_plus_records_is_the_whole_frame() {
        let records = vec![7u8; 300];
        let frame = StreamFetchResponse {
            topic: "demo".into(),
            stream_id: 3,
            partition_index: 1,
            high_watermark: 9,
            log_start_offset: 2,
            ..Default::default()
        };
        let head = frame_head(5, 24, &frame, records.len() as u64).unwrap();
        let mut whole = frame.clone();
        whole.records = RecordSet::new(records.clone());
        let expected = encode_response_frame(5, &whole, 24).unwrap();
        assert_eq!([head, records].concat(), expected);
    }

    #[test]
    fn start_offsets_outside_the_log_are_refused() {
        assert_eq!(check_start(0, 0, 0), Ok(0));
        assert_eq!(check_start(5, 2, 9), Ok(5));
        assert_eq!(
            check_start(9, 2, 9),
            Ok(9),
            "the log end waits for new records"
        );
        assert_eq!(check_start(10, 2, 9), Err(ErrorCode::OffsetOutOfRange));
        assert_eq!(check_start(1, 2, 9), Err(ErrorCode::OffsetOutOfRange));
    }

    /// The next frame a session queued, decoded.
    async fn next_frame(
        rx: &mut tokio::sync::mpsc::Receiver<crate::net::Outgoing>,
    ) -> StreamFetchResponse {
        let frame = rx.recv().await.expect("a frame").to_vec().unwrap();
        let size = i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        <StreamFetchResponse as protocol::Decode>::from_bytes(&frame[8..], 24).unwrap()
    }

    #[tokio::test]
    async fn sessions_read_up_to_their_isolation_cap() {
        use crate::storage::FlushPolicy;
        use protocol::internal::Replica;
        use protocol::record::{Batch, Record};
        use protocol::spu::{Isolation as Wire, ReplicaKey};

        let dir = tempfile::tempdir().unwrap();
        let store = ReplicaStore::new(1, dir.path().to_path_buf(), FlushPolicy::Never);
        // A follower keeps the high watermark where replication puts it.
        let replica = Replica {
            key: ReplicaKey::new("t", 0),
            leader: 1,
            replicas: vec![1, 2],
            in_sync: vec![1, 2],
            ..Default::default()
        };
        let assigned = [(replica.key.clone(), replica)].into_iter().collect();
        assert!(store.apply(&assigned, &Default::default()).await);
        let partition = store.leader("t", 0).unwrap();
        for value in ["a", "b", "c"] {
            let batch = Batch::from_records([Record::new(value.as_bytes().to_vec())]);
            partition
                .append(bytes::BytesMut::from(&batch.encode().unwrap()[..]))
                .await
                .unwrap();
        }

        let mut streams = Streams::default();
        let (sink, mut uncommitted) = ResponseSink::channel();
        let request = StreamFetchRequest::new("t", 0, 0);
        start(&store, &mut streams, sink, 7, 24, request.clone(), Ok(()))
            .await
            .unwrap();
        let frame = next_frame(&mut uncommitted).await;
        assert_eq!(frame.records.next_offset(), Some(3));
        assert_eq!(frame.high_watermark, 0);

        let (sink, mut committed) = ResponseSink::channel();
        let request = StreamFetchRequest {
            isolation: Wire::ReadCommitted,
            ..request
        };
        start(&store, &mut streams, sink, 8, 24, request, Ok(()))
            .await
            .unwrap();
        partition.commit(2).unwrap();
        let frame = next_frame(&mut committed).await;
        assert_eq!(frame.error_code, ErrorCode::None);
        let offsets: Vec<i64> = frame
            .records
            .batches()
            .map(|b| b.unwrap().header.base_offset)
            .collect();
        assert_eq!(offsets, [0, 1], "nothing past the high watermark");
        partition.commit(3).unwrap();
        let frame = next_frame(&mut committed).await;
        assert_eq!(frame.records.next_offset(), Some(3));
        assert_eq!(frame.high_watermark, 3);
        streams.end_all();
    }

    #[tokio::test]
    async fn acknowledgements_reach_live_sessions_only() {
        let mut streams = Streams::default();
        assert!(!streams.acknowledge(1, 0), "never issued");
        let id = streams.next_id();
        let (acks, mut rx) = watch::channel(None);
        let task = tokio::spawn(async {});
        streams.live.insert(id, StreamHandle { task, acks });
        assert!(streams.acknowledge(id, 42));
        assert_eq!(*rx.borrow_and_update(), Some(42));
        streams.live.remove(&id).unwrap().task.await.unwrap();
        assert!(
            streams.acknowledge(id, 43),
            "ended sessions are still known"
        );
        assert!(!streams.acknowledge(id + 1, 0));
        assert!(!streams.acknowledge(0, 0));
    }
}
