//! Consuming a partition: resolve where to start, then stream records as they are written.

use std::collections::VecDeque;

use bytes::Bytes;
use protocol::api::{ErrorCode, spu_keys};
use protocol::record::batch::{BatchError, BatchHeader};
use protocol::record::{
    Batch, DEFAULT_MAX_DECOMPRESSED_BYTES, RecordError, RecordHeader, RecordSet,
};
use protocol::spu::{
    ApiRequest, FetchOffsetsRequest, Isolation, OffsetUpdate, StreamFetchRequest,
    StreamFetchResponse, UpdateOffsetsRequest, VerifyReplicaRequest, VerifyReplicaResponse,
};
use protocol::{Decode, Reader};
use serde::{Deserialize, Serialize};

use super::error::{ClientError, Peer};
use super::offsets::OffsetCommitter;
use super::routing::{RETRY_BACKOFF, Routing};
use super::socket::{FrameStream, Socket};

/// How long `partition verify` waits for the leader's answer. The SPU reads every byte of
/// the log before answering, and a log of hundreds of GB takes many minutes at disk speed;
/// the usual minute for a request would give up on it.
pub const VERIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Offset {
    /// The oldest record still stored.
    Beginning,
    /// The next record to be written: only new records.
    End,
    /// This offset (clamped to what is stored).
    Absolute(i64),
    /// N records after the beginning.
    FromBeginning(i64),
    /// N records before the end: the last N.
    FromEnd(i64),
}

impl Offset {
    /// The absolute offset to fetch from, given the partition's log start and end,
    /// clamped into `[start, end]` as the official client does.
    pub fn resolve(self, start: i64, end: i64) -> i64 {
        let wanted = match self {
            Offset::Beginning => start,
            Offset::End => end,
            Offset::Absolute(n) => n,
            Offset::FromBeginning(n) => start.saturating_add(n),
            Offset::FromEnd(n) => end.saturating_sub(n),
        };
        wanted.clamp(start, end.max(start))
    }
}

/// How a stream reads.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Bytes per response frame the SPU may send. A server that cuts frames at this limit
    /// may end one inside a batch; a batch larger than the whole frame makes the stream
    /// ask again with frames that hold it.
    pub max_bytes: i32,
    /// `ReadUncommitted` sees everything the leader wrote; `ReadCommitted` only what the
    /// in-sync replicas have.
    pub isolation: Isolation,
    /// Stop after this offset (inclusive).
    pub end: Option<i64>,
    /// Stop at the partition's end as it was when the stream started, instead of
    /// following new records.
    pub stop_at_end: bool,
    /// Check every batch's CRC-32C before delivering its records (Kafka's `check.crcs`);
    /// a mismatch fails the stream with [`ClientError::CorruptBatch`]. On by default: the
    /// check runs over the bytes as received and costs little next to the network.
    pub check_crcs: bool,
    /// How long a stream whose leader went away keeps trying to reach one again before it
    /// fails with the last error; `None` retries until the stream is dropped (a person
    /// tailing a topic through a daemon restart).
    pub resume_within: Option<std::time::Duration>,
    /// Where the stream says that it lost its leader and is retrying, and that it is back:
    /// a front end tells its user, so a quiet stream is not mistaken for a hung one.
    pub events: Option<tokio::sync::mpsc::UnboundedSender<StreamEvent>>,
    /// The consumer this stream reads for: its session can then commit offsets
    /// ([`RecordStream::committer`]). Where to start is the caller's choice (see
    /// [`Fluvio::committed_offset`](crate::Fluvio::committed_offset)).
    pub consumer_id: Option<String>,
}

/// A change in a stream's connection, sent to [`ConsumerConfig::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The partition's leader could not be reached again at once; the stream keeps trying.
    Lost { partition: u32, reason: String },
    /// After a [`StreamEvent::Lost`], the stream reads again, from `leader`.
    Resumed { partition: u32, leader: String },
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_bytes: protocol::spu::DEFAULT_STREAM_FETCH_MAX_BYTES,
            isolation: Isolation::ReadUncommitted,
            end: None,
            stop_at_end: false,
            check_crcs: true,
            resume_within: Some(RESUME_WITHIN),
            events: None,
            consumer_id: None,
        }
    }
}

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub partition: u32,
    pub offset: i64,
    /// Milliseconds since the epoch; -1 when the producer set none.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Vec<RecordHeader>,
}

/// A consumer of one partition.
#[derive(Clone)]
pub struct PartitionConsumer {
    routing: Routing,
    topic: String,
    partition: u32,
}

/// The partition's offsets as its leader reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The oldest offset still stored.
    pub start: i64,
    /// The high watermark: the next offset to be committed.
    pub end: i64,
}

impl PartitionConsumer {
    pub(crate) fn new(routing: Routing, topic: String, partition: u32) -> Self {
        Self {
            routing,
            topic,
            partition,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Ask the leader for the log start and high watermark.
    pub async fn offsets(&self) -> Result<PartitionOffsets, ClientError> {
        let (_, socket) = self.routing.leader(&self.topic, self.partition).await?;
        self.offsets_on(&socket).await
    }

    async fn offsets_on(&self, socket: &Socket) -> Result<PartitionOffsets, ClientError> {
        let version = FetchOffsetsRequest::VERSION;
        let request = FetchOffsetsRequest::new(self.topic.clone(), self.partition);
        let reply = socket
            .request(spu_keys::FETCH_OFFSETS, version, &request)
            .await?;
        let response = FetchOffsetsRequest::decode_response(&reply, version).map_err(|source| {
            ClientError::BadResponse {
                peer: Peer::Spu,
                addr: socket.addr().to_string(),
                source,
            }
        })?;
        let entry = response.find(&self.topic, self.partition).ok_or_else(|| {
            ClientError::UnexpectedResponse {
                peer: Peer::Spu,
                addr: socket.addr().to_string(),
                what: format!("no offsets for {}-{}", self.topic, self.partition),
            }
        })?;
        if entry.error_code.is_error() {
            let message = match entry.error_code {
                ErrorCode::PermissionDenied => {
                    crate::refusal::denied(socket, "consume from", &self.topic).await
                }
                _ => None,
            };
            return Err(ClientError::Refused {
                action: format!(
                    "cannot read the offsets of {}-{}",
                    self.topic, self.partition
                ),
                code: entry.error_code.clone(),
                message,
            });
        }
        Ok(PartitionOffsets {
            start: entry.start_offset,
            end: entry.last_stable_offset,
        })
    }

    /// Have the partition's leader read every batch of its log and report each range that
    /// does not read back: a scrub on request. Takes as long as reading the whole
    /// log on the SPU.
    pub async fn verify(&self) -> Result<VerifyReplicaResponse, ClientError> {
        let (_, socket) = self.routing.leader(&self.topic, self.partition).await?;
        let version = VerifyReplicaRequest::VERSION;
        let request = VerifyReplicaRequest::new(self.topic.clone(), self.partition);
        let reply = socket
            .request_within(spu_keys::VERIFY_REPLICA, version, &request, VERIFY_TIMEOUT)
            .await?;
        let response =
            VerifyReplicaRequest::decode_response(&reply, version).map_err(|source| {
                ClientError::BadResponse {
                    peer: Peer::Spu,
                    addr: socket.addr().to_string(),
                    source,
                }
            })?;
        if response.error_code.is_error() {
            let message = match response.error_code {
                ErrorCode::PermissionDenied => {
                    crate::refusal::denied(&socket, "consume from", &self.topic).await
                }
                _ => None,
            };
            return Err(ClientError::Refused {
                action: format!("cannot verify {}-{}", self.topic, self.partition),
                code: response.error_code,
                message,
            });
        }
        Ok(response)
    }

    /// Stream records from `offset` on.
    pub async fn stream(
        &self,
        offset: Offset,
        config: ConsumerConfig,
    ) -> Result<RecordStream, ClientError> {
        let (_, socket) = self.routing.leader(&self.topic, self.partition).await?;
        let offsets = self.offsets_on(&socket).await?;
        let start = offset.resolve(offsets.start, offsets.end);
        // The last offset to deliver, if the stream stops: `config.end`, or the end as of now.
        let mut last = config.end;
        if config.stop_at_end {
            let at_end = offsets.end - 1;
            last = Some(last.map_or(at_end, |l| l.min(at_end)));
        }
        let mut request = StreamFetchRequest::new(self.topic.clone(), self.partition, start);
        request.max_bytes = config.max_bytes;
        request.isolation = config.isolation;
        request.consumer_id = config.consumer_id.clone();
        let finished = last.is_some_and(|l| l < start);
        let frames = if finished {
            None
        } else {
            Some(stream_fetch(&socket, &request).await?)
        };
        Ok(RecordStream {
            routing: self.routing.clone(),
            topic: self.topic.clone(),
            request,
            socket,
            frames,
            partition: self.partition,
            next_offset: start,
            last,
            buffered: VecDeque::new(),
            check_crcs: config.check_crcs,
            failed: None,
            resume_within: config.resume_within,
            events: config.events,
            committer: OffsetCommitter::default(),
        })
    }
}

/// Records of one partition in offset order, each offset once. When the partition's
/// leader goes away (its connection drops, or it answers that it no longer leads), the
/// stream follows the leadership to the new leader and carries on from the next offset.
pub struct RecordStream {
    routing: Routing,
    topic: String,
    request: StreamFetchRequest,
    socket: Socket,
    /// `None` once the stream has ended.
    frames: Option<FrameStream>,
    partition: u32,
    /// The next offset to deliver; earlier records in a batch are skipped.
    next_offset: i64,
    last: Option<i64>,
    buffered: VecDeque<ConsumerRecord>,
    check_crcs: bool,
    /// A bad batch met after the buffered records: the stream's end, once they are out.
    failed: Option<ClientError>,
    resume_within: Option<std::time::Duration>,
    events: Option<tokio::sync::mpsc::UnboundedSender<StreamEvent>>,
    /// Commits for the stream's consumer id, through its current session.
    committer: OffsetCommitter,
}

impl RecordStream {
    /// The next record; `None` when the stream ended (its end offset was reached or the
    /// offset fell out of range); an error when no leader could be reached again.
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord, ClientError>> {
        loop {
            if let Some(record) = self.pop_buffered() {
                return Some(Ok(record));
            }
            if let Some(err) = self.failed.take() {
                self.frames = None;
                return Some(Err(err));
            }
            let frames = self.frames.as_mut()?;
            let outcome = match frames.next().await {
                Ok(body) => self.take_frame(&body).await,
                Err(_) => Err(FrameEnd::LeaderGone),
            };
            match outcome {
                Ok(()) => {}
                Err(FrameEnd::LeaderGone) => {
                    if let Err(err) = self.resume().await {
                        self.frames = None;
                        return Some(Err(err));
                    }
                }
                Err(FrameEnd::Refetch(max_bytes)) => {
                    if let Err(err) = self.refetch(max_bytes).await {
                        self.frames = None;
                        return Some(Err(err));
                    }
                }
                Err(FrameEnd::OutOfRange) => {
                    self.frames = None;
                    return None;
                }
                Err(FrameEnd::Error(err)) => {
                    self.frames = None;
                    return Some(Err(err));
                }
            }
        }
    }

    /// The next records in order: every record already decoded (at least one), or the
    /// error that ends the stream; `None` when the stream ended. The same records as
    /// [`RecordStream::next`], handed over a frame's worth at a time, so that a reader who
    /// passes them on (to another task, as [`MultiStream`](crate::MultiStream) does) pays
    /// the hand-off once per frame instead of once per record.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<ConsumerRecord>, ClientError>> {
        let first = match self.next().await? {
            Ok(record) => record,
            Err(err) => return Some(Err(err)),
        };
        let mut chunk = Vec::with_capacity(1 + self.buffered.len());
        chunk.push(first);
        while let Some(record) = self.pop_buffered() {
            chunk.push(record);
        }
        Some(Ok(chunk))
    }

    /// The next decoded record, ending the stream at its last offset.
    fn pop_buffered(&mut self) -> Option<ConsumerRecord> {
        let record = self.buffered.pop_front()?;
        if self.last.is_some_and(|last| record.offset >= last) {
            self.frames = None;
            self.buffered.clear();
            self.failed = None;
        }
        Some(record)
    }

    /// Find the partition's leader again and stream from the next offset, retrying while
    /// the cluster elects one or the daemon restarts (the SC away too), for up to
    /// [`ConsumerConfig::resume_within`]. A deleted topic ends the stream at once. The
    /// first failed attempt is reported as [`StreamEvent::Lost`] and the success after it
    /// as [`StreamEvent::Resumed`]; a leader that moves and is found at once says nothing.
    async fn resume(&mut self) -> Result<(), ClientError> {
        self.frames = None;
        let deadline = self
            .resume_within
            .and_then(|within| tokio::time::Instant::now().checked_add(within));
        let past_deadline = || deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        let mut attempt = 0;
        let mut reported = false;
        loop {
            attempt += 1;
            tokio::time::sleep(RETRY_BACKOFF * attempt.min(10)).await;
            // While the SC is away its copy of the metadata may be stale: wait for it to
            // come back (the cache reconnects on its own). Past the deadline, the lost SC
            // is the error.
            if let Err(lost) = self.routing.metadata().check_connected() {
                if past_deadline() {
                    return Err(lost);
                }
                self.report_lost(&mut reported, &lost);
                continue;
            }
            // Fails with "does not exist" when the topic was deleted.
            self.routing.topic(&self.topic).await?;
            self.routing.drop_spu_at(self.socket.addr()).await;
            self.request.fetch_offset = self.next_offset;
            let error = match self.routing.leader(&self.topic, self.partition).await {
                Ok((_, socket)) => match stream_fetch(&socket, &self.request).await {
                    Ok(frames) => {
                        tracing::debug!(topic = %self.topic, partition = self.partition,
                            offset = self.next_offset, leader = socket.addr(), "stream resumed");
                        if reported && let Some(events) = &self.events {
                            let _ = events.send(StreamEvent::Resumed {
                                partition: self.partition,
                                leader: socket.addr().to_string(),
                            });
                        }
                        self.socket = socket;
                        self.frames = Some(frames);
                        return Ok(());
                    }
                    Err(err) => err,
                },
                Err(err) => err,
            };
            if past_deadline() {
                return Err(error);
            }
            self.report_lost(&mut reported, &error);
        }
    }

    /// Send [`StreamEvent::Lost`] once per outage.
    fn report_lost(&self, reported: &mut bool, error: &ClientError) {
        if *reported {
            return;
        }
        *reported = true;
        if let Some(events) = &self.events {
            let _ = events.send(StreamEvent::Lost {
                partition: self.partition,
                reason: error.to_string(),
            });
        }
    }

    /// Commits offsets of this stream's consumer (given by
    /// [`ConsumerConfig::consumer_id`]) through its current session, also after the
    /// stream followed its partition to another leader.
    pub fn committer(&self) -> OffsetCommitter {
        self.committer.clone()
    }

    /// The offset the stream will deliver next.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    async fn take_frame(&mut self, body: &Bytes) -> Result<(), FrameEnd> {
        let bad = |source| {
            FrameEnd::Error(ClientError::BadResponse {
                peer: Peer::Spu,
                addr: self.socket.addr().to_string(),
                source,
            })
        };
        let response =
            StreamFetchResponse::decode(&mut Reader::shared(body), StreamFetchRequest::VERSION)
                .map_err(bad)?;
        let frame = read_frame_beside(
            response.records.clone(),
            self.partition,
            self.next_offset,
            self.check_crcs,
        )
        .await;
        self.next_offset = frame.next_offset;
        if self.request.consumer_id.is_some() {
            self.committer.set_session(&self.socket, response.stream_id);
        }
        let delivered = !frame.records.is_empty();
        self.buffered.extend(frame.records);
        let mut refetch = None;
        if let Some(bad) = frame.bad {
            match refetch_size(&bad, self.request.max_bytes) {
                Some(needed) => refetch = Some(needed),
                // Delivered after the good records before it, as Kafka's consumer does.
                None => self.failed = Some(self.batch_error(bad)),
            }
        }
        // The acknowledgement also tells a Fluvio SPU where to send from next: a batch cut
        // off at the end of this frame comes again, whole, from its own offset.
        if delivered || frame.whole_batches > 0 {
            self.acknowledge(response.stream_id);
        }
        match response.error_code {
            ErrorCode::None => match refetch {
                Some(needed) => Err(FrameEnd::Refetch(needed)),
                None => Ok(()),
            },
            // Records in the frame come first; the error ends the stream after them.
            ErrorCode::OffsetOutOfRange if self.buffered.is_empty() => Err(FrameEnd::OutOfRange),
            ErrorCode::OffsetOutOfRange => {
                self.last = Some(self.next_offset - 1);
                Ok(())
            }
            // The partition moved: follow it.
            ErrorCode::NotLeaderForPartition | ErrorCode::PartitionNotLeader => {
                Err(FrameEnd::LeaderGone)
            }
            code => Err(FrameEnd::Error(ClientError::Refused {
                action: format!("cannot stream partition {}", self.partition),
                code,
                message: None,
            })),
        }
    }

    /// The error a bad batch ends the stream with.
    fn batch_error(&self, bad: BadBatch) -> ClientError {
        let addr = self.socket.addr().to_string();
        match bad {
            BadBatch::Corrupt {
                first_offset,
                last_offset,
                reason,
            } => ClientError::CorruptBatch {
                topic: self.topic.clone(),
                partition: self.partition,
                first_offset,
                last_offset,
                addr,
                reason,
            },
            BadBatch::CutShort {
                first_offset,
                last_offset,
                needed,
                available,
            } => ClientError::CorruptBatch {
                topic: self.topic.clone(),
                partition: self.partition,
                first_offset,
                last_offset,
                addr,
                reason: format!(
                    "the batch is cut short at the end of the answer ({available} of {needed} bytes): its length is damaged, or it is larger than the server sends in one frame"
                ),
            },
            BadBatch::Unreadable(err) => ClientError::UnexpectedResponse {
                peer: Peer::Spu,
                addr,
                what: format!("an unreadable record batch: {err}"),
            },
        }
    }

    /// Open the stream again on the same leader, from the next offset, asking for frames of
    /// `max_bytes`; where that fails, look for the leader as after a lost connection.
    async fn refetch(&mut self, max_bytes: usize) -> Result<(), ClientError> {
        self.frames = None;
        self.request.max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        self.request.fetch_offset = self.next_offset;
        tracing::debug!(topic = %self.topic, partition = self.partition,
            offset = self.next_offset, max_bytes, "a batch larger than the frame: fetching it again");
        match stream_fetch(&self.socket, &self.request).await {
            Ok(frames) => {
                self.frames = Some(frames);
                Ok(())
            }
            Err(_) => self.resume().await,
        }
    }

    /// Tell the SPU how far we got, which it may use for flow control.
    fn acknowledge(&self, stream_id: u32) {
        let socket = self.socket.clone();
        let request = UpdateOffsetsRequest {
            offsets: vec![OffsetUpdate {
                offset: self.next_offset,
                session_id: stream_id,
            }],
        };
        tokio::spawn(async move {
            let _ = socket
                .request(
                    spu_keys::UPDATE_OFFSETS,
                    UpdateOffsetsRequest::VERSION,
                    &request,
                )
                .await;
        });
    }
}

/// Why the batches of a stream-fetch answer cannot be delivered.
#[derive(Debug, PartialEq)]
enum BadBatch {
    /// The bytes are not what the producer sent (CRC mismatch, damaged header).
    Corrupt {
        first_offset: i64,
        last_offset: i64,
        reason: String,
    },
    /// The frame's first batch runs past its end though its header is sound: the batch is
    /// larger than the frame (or its length is damaged). A larger frame may bring it whole.
    CutShort {
        first_offset: i64,
        last_offset: i64,
        needed: usize,
        available: usize,
    },
    /// The CRC matched (or was not checked) but the records do not decode.
    Unreadable(RecordError),
}

/// The largest frame a stream asks for to fetch one big batch whole: what the socket
/// accepts, less room for the response's own fields.
const MAX_REFETCH_BYTES: usize = protocol::frame::DEFAULT_MAX_FRAME_BYTES - 64 * 1024;

/// The frame size to stream with again when an answer's first batch did not fit in it:
/// only when a larger frame than the one asked for can hold the batch. A batch cut short
/// in a frame that should have held it is damaged, and asking again would loop.
fn refetch_size(bad: &BadBatch, max_bytes: i32) -> Option<usize> {
    match *bad {
        BadBatch::CutShort { needed, .. }
            if needed > usize::try_from(max_bytes).unwrap_or(0) && needed <= MAX_REFETCH_BYTES =>
        {
            Some(needed)
        }
        _ => None,
    }
}

/// What one stream-fetch answer gives the stream.
#[derive(Debug, PartialEq)]
struct FrameRecords {
    /// The records at or after the stream's next offset, in order.
    records: Vec<ConsumerRecord>,
    /// Where the stream goes on: after the last whole batch. A batch cut off at the end of
    /// the answer is not delivered and is fetched again from its own offset.
    next_offset: i64,
    /// Whole batches in the answer, including ones whose records were all delivered before.
    whole_batches: usize,
    /// The bad batch that ended the answer, after the records before it.
    bad: Option<BadBatch>,
}

/// Frames from this size on are checked and decoded on a thread of the blocking pool.
const DECODE_BESIDE_BYTES: usize = 64 * 1024;

/// [`read_frame`], for a large frame on a thread of the blocking pool: the CRC pass and the
/// decoding of a frame then run beside the connection's reader, which meanwhile copies the
/// next frames out of the socket, instead of after it on the same thread (a consumer on a
/// one-thread runtime, like the `fluvio` CLI, otherwise does both in turn). Frames are
/// still read one after another, in order. Small frames (a live tail's few records)
/// are read in place: a thread hop would only add to their latency.
async fn read_frame_beside(
    records: RecordSet,
    partition: u32,
    next_offset: i64,
    check_crcs: bool,
) -> FrameRecords {
    if records.as_bytes().len() < DECODE_BESIDE_BYTES {
        return read_frame(&records, partition, next_offset, check_crcs);
    }
    let beside = records.clone();
    match tokio::task::spawn_blocking(move || {
        read_frame(&beside, partition, next_offset, check_crcs)
    })
    .await
    {
        Ok(frame) => frame,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // No thread could be had (the runtime is shutting down): read it here.
        Err(_) => read_frame(&records, partition, next_offset, check_crcs),
    }
}

/// Read a stream-fetch answer's record set for a stream that delivers `next_offset` next.
fn read_frame(
    records: &RecordSet,
    partition: u32,
    mut next_offset: i64,
    check_crcs: bool,
) -> FrameRecords {
    let (batches, bad) = frame_batches(records, next_offset, check_crcs);
    let whole_batches = batches.len();
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.records.len()).sum());
    for mut batch in batches {
        // The records move out of their batch: their keys and values are slices of the
        // frame already, and a clone would cost a reference count up and down per record.
        let records = std::mem::take(&mut batch.records);
        for (index, record) in records.into_iter().enumerate() {
            let offset = batch.base_offset.saturating_add(index as i64);
            if offset < next_offset {
                continue;
            }
            next_offset = offset + 1;
            out.push(ConsumerRecord {
                partition,
                offset,
                timestamp: batch.timestamp_of(&record),
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    FrameRecords {
        records: out,
        next_offset,
        whole_batches,
        bad,
    }
}

/// The whole batches of a stream-fetch answer, decoded, each checked against its CRC-32C
/// first when `check_crcs` (over the bytes as received: nothing is re-encoded), up to the
/// first bad one, which is returned beside them.
///
/// An answer may end in the middle of a batch (the real SPU cuts frames at `max_bytes`);
/// that batch is dropped and comes whole in a later frame, once the acknowledgement says
/// where to resume. A frame whose first batch is already cut short cannot make progress
/// that way: the batch is larger than the frame (or its length field is damaged), and it
/// is returned as [`BadBatch::CutShort`] for the stream to ask for larger frames. A
/// header too short to read, or damaged, is corrupt. `expected` is the offset the stream wants next: where a damaged
/// header hides a batch's own offsets, the offset after the good batches is named.
fn frame_batches(
    records: &RecordSet,
    expected: i64,
    check_crcs: bool,
) -> (Vec<Batch>, Option<BadBatch>) {
    let bytes = records.as_bytes();
    let mut batches: Vec<Batch> = Vec::new();
    let mut iter = records.batches();
    loop {
        let at = iter.position();
        let Some(next) = iter.next() else { break };
        let raw = match next {
            Ok(raw) => raw,
            // The server stopped at its byte limit inside this batch: it comes again,
            // whole, from its own offset once the acknowledgement says where we are.
            Err(BatchError::Truncated { .. }) if !batches.is_empty() => break,
            Err(err) => {
                let here = batches.last().map_or(expected, Batch::next_offset);
                let header = BatchHeader::parse(&bytes[at..]);
                let bad = match (err, header) {
                    (BatchError::Truncated { needed, available }, Ok(header)) => {
                        let (first_offset, last_offset) = offsets_of(header);
                        BadBatch::CutShort {
                            first_offset,
                            last_offset,
                            needed,
                            available,
                        }
                    }
                    (err, header) => {
                        let (first_offset, last_offset) = header.map_or((here, here), offsets_of);
                        BadBatch::Corrupt {
                            first_offset,
                            last_offset,
                            reason: err.to_string(),
                        }
                    }
                };
                return (batches, Some(bad));
            }
        };
        if check_crcs && let Err(err) = raw.verify_crc() {
            let (first_offset, last_offset) = offsets_of(raw.header);
            let bad = BadBatch::Corrupt {
                first_offset,
                last_offset,
                reason: err.to_string(),
            };
            return (batches, Some(bad));
        }
        match Batch::from_raw_shared(&raw, bytes, DEFAULT_MAX_DECOMPRESSED_BYTES) {
            Ok(batch) => batches.push(batch),
            // A whole batch whose header does not hold together (a schema id announced in
            // a batch too short for one) is damage, like a bad CRC.
            Err(RecordError::Batch(err)) => {
                let (first_offset, last_offset) = offsets_of(raw.header);
                let bad = BadBatch::Corrupt {
                    first_offset,
                    last_offset,
                    reason: err.to_string(),
                };
                return (batches, Some(bad));
            }
            Err(err) => return (batches, Some(BadBatch::Unreadable(err))),
        }
    }
    (batches, None)
}

/// The first and last offset a batch header claims, whatever damage it carries.
fn offsets_of(header: BatchHeader) -> (i64, i64) {
    let first = header.base_offset;
    let last = first.saturating_add(i64::from(header.last_offset_delta));
    (first, last.max(first))
}

enum FrameEnd {
    OutOfRange,
    /// The frame's first batch is larger than the frame: stream again with frames this big.
    Refetch(usize),
    /// The leader hung up or no longer leads the partition.
    LeaderGone,
    Error(ClientError),
}

/// How long a stream looks for a new leader before giving up.
const RESUME_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Open a stream fetch on `socket`: the one request every (re)start of a stream sends.
async fn stream_fetch(
    socket: &Socket,
    request: &StreamFetchRequest,
) -> Result<FrameStream, ClientError> {
    socket
        .stream(spu_keys::STREAM_FETCH, StreamFetchRequest::VERSION, request)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::Record;

    /// Three batches at offsets 10, 12, 14, two records each: `v10`..`v15`.
    fn three_batches() -> Vec<u8> {
        let mut out = Vec::new();
        for base in [10i64, 12, 14] {
            let mut batch = Batch::from_records([
                Record::new(format!("v{base}").into_bytes()),
                Record::new(format!("v{}", base + 1).into_bytes()),
            ]);
            batch.base_offset = base;
            out.extend_from_slice(&batch.encode().unwrap());
        }
        out
    }

    fn values(batches: &[Batch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| b.iter())
            .map(|r| String::from_utf8_lossy(&r.record.value).into_owned())
            .collect()
    }

    fn position_of(bytes: &[u8], needle: &[u8]) -> usize {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    }

    #[test]
    fn whole_batches_are_delivered_and_a_cut_last_batch_waits_for_the_next_frame() {
        let bytes = three_batches();
        let (all, bad) = frame_batches(&RecordSet::new(bytes.clone()), 10, true);
        assert_eq!(values(&all), ["v10", "v11", "v12", "v13", "v14", "v15"]);
        assert_eq!(bad, None);
        // Cut inside the third batch's records, then inside its header.
        let third = bytes.len() - BatchHeader::parse(&bytes).unwrap().total_len();
        for cut in [bytes.len() - 3, third + 20] {
            let partial = RecordSet::new(bytes[..cut].to_vec());
            let (got, bad) = frame_batches(&partial, 10, true);
            assert_eq!(values(&got), ["v10", "v11", "v12", "v13"]);
            assert_eq!(bad, None);
        }
    }

    #[test]
    fn a_flipped_value_byte_fails_the_batch_naming_its_offsets() {
        let mut bytes = three_batches();
        let at = position_of(&bytes, b"v13");
        bytes[at + 1] ^= 0x01; // "v13" reads "v03"
        let set = RecordSet::new(bytes);
        let (good, bad) = frame_batches(&set, 10, true);
        assert_eq!(
            values(&good),
            ["v10", "v11"],
            "the batch before it is delivered"
        );
        match bad {
            Some(BadBatch::Corrupt {
                first_offset,
                last_offset,
                reason,
            }) => {
                assert_eq!((first_offset, last_offset), (12, 13));
                assert!(reason.contains("CRC mismatch"), "{reason}");
            }
            other => panic!("expected a corrupt batch, got {other:?}"),
        }
        // With the check off the damage goes through, as Kafka's check.crcs=false does.
        let (unchecked, bad) = frame_batches(&set, 10, false);
        assert_eq!(values(&unchecked)[3], "v03");
        assert_eq!(bad, None);
    }

    #[test]
    fn a_damaged_header_or_a_first_batch_cut_short_is_corrupt_not_partial() {
        let bytes = three_batches();
        let cut = RecordSet::new(bytes[..30].to_vec());
        let (good, bad) = frame_batches(&cut, 10, true);
        assert!(good.is_empty());
        assert!(matches!(
            bad,
            Some(BadBatch::Corrupt {
                first_offset: 10,
                last_offset: 10,
                ..
            })
        ));
        let mut bad_magic = bytes.clone();
        let second = BatchHeader::parse(&bytes).unwrap().total_len();
        bad_magic[second + 16] = 7;
        let (good, bad) = frame_batches(&RecordSet::new(bad_magic), 10, true);
        assert_eq!(values(&good), ["v10", "v11"]);
        match bad {
            Some(BadBatch::Corrupt {
                first_offset,
                reason,
                ..
            }) => {
                assert_eq!(first_offset, 12, "names the offset after the good batches");
                assert!(reason.contains("magic 7"), "{reason}");
            }
            other => panic!("expected a corrupt batch, got {other:?}"),
        }
    }

    /// A stream-fetch answer carrying `records`, through the encoding and decoding a frame
    /// takes on the wire, as `take_frame` reads it.
    fn answer(records: &[u8]) -> StreamFetchResponse {
        use protocol::Encode;
        let mut response = StreamFetchResponse::error("t", 1, 0, ErrorCode::None);
        response.records = RecordSet::new(records.to_vec());
        let mut body = Vec::new();
        response
            .encode(&mut body, StreamFetchRequest::VERSION)
            .unwrap();
        let body = Bytes::from(body);
        StreamFetchResponse::decode(&mut Reader::shared(&body), StreamFetchRequest::VERSION)
            .unwrap()
    }

    fn offsets_and_values(frame: &FrameRecords) -> Vec<(i64, String)> {
        frame
            .records
            .iter()
            .map(|r| (r.offset, String::from_utf8_lossy(&r.value).into_owned()))
            .collect()
    }

    #[test]
    fn an_answer_cut_in_its_last_batch_delivers_the_whole_ones_and_fetches_the_cut_one_again() {
        let bytes = three_batches();
        let first = BatchHeader::parse(&bytes).unwrap().total_len();
        let third = bytes.len() - first;
        // Cut inside the third batch's records, its header, its length field, and right
        // after its first byte: all are "not yet", whatever the server's byte limit hit.
        for cut in [bytes.len() - 1, third + 40, third + 10, third + 1] {
            let response = answer(&bytes[..cut]);
            let frame = read_frame(&response.records, 0, 10, true);
            assert_eq!(
                offsets_and_values(&frame),
                [(10, "v10"), (11, "v11"), (12, "v12"), (13, "v13")]
                    .map(|(o, v)| (o, v.to_string())),
                "cut at {cut}"
            );
            assert_eq!(
                frame.next_offset, 14,
                "the cut batch is fetched from its offset"
            );
            assert_eq!(frame.whole_batches, 2);
            assert_eq!(frame.bad, None, "cut at {cut}");
            // The server sends again from offset 14: the batch arrives whole.
            let again = answer(&bytes[third..]);
            let frame = read_frame(&again.records, 0, frame.next_offset, true);
            assert_eq!(
                offsets_and_values(&frame),
                [(14, "v14".to_string()), (15, "v15".to_string())]
            );
            assert_eq!(frame.next_offset, 16);
        }
        // A stream already past some records of the first batch skips them, and a cut
        // answer whose whole batches were all delivered before still moves nothing back.
        let frame = read_frame(&answer(&bytes[..third + 5]).records, 0, 11, true);
        assert_eq!(offsets_and_values(&frame)[0], (11, "v11".to_string()));
        assert_eq!(frame.next_offset, 14);
        let frame = read_frame(&answer(&bytes[..first + 5]).records, 0, 12, true);
        assert!(frame.records.is_empty());
        assert_eq!((frame.next_offset, frame.whole_batches), (12, 1));
        assert_eq!(frame.bad, None);
    }

    #[test]
    fn a_first_batch_larger_than_the_frame_is_fetched_again_with_a_frame_that_holds_it() {
        let bytes = three_batches();
        let first = BatchHeader::parse(&bytes).unwrap().total_len();
        let frame = read_frame(&answer(&bytes[..first - 3]).records, 0, 10, true);
        assert!(frame.records.is_empty());
        assert_eq!(frame.next_offset, 10);
        let bad = frame.bad.expect("a cut first batch is reported");
        assert_eq!(
            bad,
            BadBatch::CutShort {
                first_offset: 10,
                last_offset: 11,
                needed: first,
                available: first - 3,
            }
        );
        // Asked for fewer bytes than the batch: ask again for exactly enough.
        assert_eq!(refetch_size(&bad, (first - 3) as i32), Some(first));
        // Asked for enough and still cut: damage, not a limit; no endless asking.
        assert_eq!(refetch_size(&bad, first as i32), None);
        // A length beyond any frame is not chased either.
        let huge = BadBatch::CutShort {
            first_offset: 10,
            last_offset: 11,
            needed: MAX_REFETCH_BYTES + 1,
            available: 100,
        };
        assert_eq!(refetch_size(&huge, 1 << 20), None);
        assert_eq!(
            refetch_size(
                &BadBatch::Corrupt {
                    first_offset: 0,
                    last_offset: 0,
                    reason: String::new()
                },
                0
            ),
            None
        );
    }

    #[test]
    fn a_whole_batch_with_a_damaged_header_is_corrupt_not_unreadable() {
        // A bare header (no records section) that claims a schema id it has no room for;
        // its CRC is made to match, so only the header's inconsistency is wrong.
        let mut bytes = Vec::new();
        BatchHeader {
            base_offset: 16,
            attributes: 0x10,
            ..BatchHeader::default()
        }
        .write(&mut bytes);
        let crc = protocol::record::batch::compute_crc(&bytes);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let mut all = three_batches();
        all.extend_from_slice(&bytes);
        for check_crcs in [true, false] {
            let frame = read_frame(&answer(&all).records, 0, 10, check_crcs);
            assert_eq!(frame.records.len(), 6, "the whole batches before it arrive");
            match &frame.bad {
                Some(BadBatch::Corrupt {
                    first_offset,
                    reason,
                    ..
                }) => {
                    assert_eq!(*first_offset, 16);
                    assert!(reason.contains("truncated"), "{reason}");
                }
                other => panic!("expected a corrupt batch, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_large_frame_read_beside_gives_what_it_gives_in_place() {
        // 40 batches of 8 records of 300 B: about 100 KiB, past DECODE_BESIDE_BYTES, and
        // the last batch cut short as a frame limit would cut it.
        let mut bytes = Vec::new();
        for n in 0..40i64 {
            let mut batch = Batch::from_records(
                (0..8).map(|i| Record::new(format!("{n}-{i}-{}", "x".repeat(290)).into_bytes())),
            );
            batch.base_offset = 100 + 8 * n;
            bytes.extend_from_slice(&batch.encode().unwrap());
        }
        assert!(bytes.len() > DECODE_BESIDE_BYTES);
        let cut = RecordSet::new(bytes[..bytes.len() - 50].to_vec());
        let beside = read_frame_beside(cut.clone(), 3, 105, true).await;
        assert_eq!(beside, read_frame(&cut, 3, 105, true));
        assert_eq!(
            beside.records.len(),
            39 * 8 - 5,
            "from offset 105, less the cut batch"
        );
        assert_eq!(beside.records[0].offset, 105);
        assert_eq!(beside.records[0].partition, 3);
        assert_eq!(beside.next_offset, 100 + 39 * 8);
        assert_eq!(beside.whole_batches, 39);
        // A damaged byte is found beside as in place.
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 0xff;
        let damaged = RecordSet::new(damaged);
        let beside = read_frame_beside(damaged.clone(), 3, 100, true).await;
        assert!(matches!(beside.bad, Some(BadBatch::Corrupt { .. })));
        assert_eq!(beside, read_frame(&damaged, 3, 100, true));
    }

    /// A scripted SPU that serves `log` (batches laid end to end) as a Fluvio SPU does: a
    /// stream frame is the log from the batch holding the asked offset, cut at the
    /// stream's `max_bytes` wherever that falls, and an acknowledgement behind the end
    /// sends again from the acknowledged offset. Records every StreamFetch as
    /// (offset, max_bytes).
    async fn fluvio_like_spu(
        listener: tokio::net::TcpListener,
        log: Vec<u8>,
        fetches: std::sync::Arc<std::sync::Mutex<Vec<(i64, i32)>>>,
    ) {
        use protocol::api::ApiVersionsResponse;
        use protocol::spu::{
            FetchOffsetPartitionResponse, FetchOffsetTopicResponse, FetchOffsetsResponse,
            SpuRequest, SpuResponse, UpdateOffsetsResponse,
        };
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        // Each batch's (base offset, byte position).
        let mut starts = Vec::new();
        let mut at = 0;
        while at < log.len() {
            let header = BatchHeader::parse(&log[at..]).unwrap();
            starts.push((header.base_offset, at));
            at += header.total_len();
        }
        let end = 16;
        let slice = |offset: i64, max_bytes: i32| {
            let from = starts
                .iter()
                .rev()
                .find(|(base, _)| *base <= offset)
                .map_or(0, |(_, at)| *at);
            let to = (from + max_bytes as usize).min(log.len());
            log[from..to].to_vec()
        };
        let (mut conn, _) = listener.accept().await.unwrap();
        // Stream id to (correlation id, api version, max_bytes) of its request.
        let mut streams = std::collections::HashMap::new();
        loop {
            let Ok(size) = conn.read_i32().await else {
                return;
            };
            let mut frame = vec![0; size as usize];
            if conn.read_exact(&mut frame).await.is_err() {
                return;
            }
            let (header, request) = SpuRequest::decode_frame(&frame).unwrap();
            let reply = |response: SpuResponse, correlation_id: i32| {
                response
                    .to_frame(correlation_id, header.api_version)
                    .unwrap()
            };
            let mut out = Vec::new();
            match request {
                SpuRequest::ApiVersions(_) => out.push(reply(
                    SpuResponse::ApiVersions(ApiVersionsResponse::spu()),
                    header.correlation_id,
                )),
                SpuRequest::FetchOffsets(_) => {
                    let offsets = FetchOffsetsResponse {
                        topics: vec![FetchOffsetTopicResponse {
                            name: "t".into(),
                            partitions: vec![FetchOffsetPartitionResponse {
                                error_code: ErrorCode::None,
                                partition_index: 0,
                                start_offset: 10,
                                last_stable_offset: end,
                            }],
                        }],
                    };
                    out.push(reply(
                        SpuResponse::FetchOffsets(offsets),
                        header.correlation_id,
                    ));
                }
                SpuRequest::StreamFetch(fetch) => {
                    fetches
                        .lock()
                        .unwrap()
                        .push((fetch.fetch_offset, fetch.max_bytes));
                    let id = streams.len() as u32 + 1;
                    streams.insert(
                        id,
                        (header.correlation_id, header.api_version, fetch.max_bytes),
                    );
                    let mut response = StreamFetchResponse::error("t", id, 0, ErrorCode::None);
                    response.high_watermark = end;
                    response.records = RecordSet::new(slice(fetch.fetch_offset, fetch.max_bytes));
                    out.push(reply(
                        SpuResponse::StreamFetch(response),
                        header.correlation_id,
                    ));
                }
                SpuRequest::UpdateOffsets(update) => {
                    out.push(reply(
                        SpuResponse::UpdateOffsets(UpdateOffsetsResponse { status: vec![] }),
                        header.correlation_id,
                    ));
                    for ack in update.offsets {
                        let Some(&(correlation_id, version, max_bytes)) =
                            streams.get(&ack.session_id)
                        else {
                            continue;
                        };
                        if ack.offset < end {
                            let mut response =
                                StreamFetchResponse::error("t", ack.session_id, 0, ErrorCode::None);
                            response.high_watermark = end;
                            response.records = RecordSet::new(slice(ack.offset, max_bytes));
                            // At the version of the stream's request, not of this one.
                            let frame = SpuResponse::StreamFetch(response)
                                .to_frame(correlation_id, version)
                                .unwrap();
                            out.push(frame);
                        }
                    }
                }
                _ => return,
            }
            for frame in out {
                if conn.write_all(&frame).await.is_err() {
                    return;
                }
            }
        }
    }

    /// A scripted SC whose one topic `t` has one partition led by SPU 1 at `spu`.
    async fn sc_for(listener: tokio::net::TcpListener, spu: std::net::SocketAddr) {
        use protocol::api::ApiVersionsResponse;
        use protocol::sc::{
            IngressPort, Metadata, MetadataUpdate, ObjectWatchRequest, ObjectWatchResponse,
            PartitionSpec, PartitionStatus, ScRequest, ScResponse, SpuSpec, SpuStatus,
            TopicResolution, TopicSpec, TopicStatus,
        };
        let mut tasks = tokio::task::JoinSet::new();
        while let Ok((conn, _)) = listener.accept().await {
            tasks.spawn(crate::fake_sc::serve(conn, move |request| {
                Some(match request {
                    ScRequest::ApiVersions(_) => ScResponse::ApiVersions(ApiVersionsResponse::sc()),
                    ScRequest::Watch(ObjectWatchRequest::Topic(_)) => {
                        let status = TopicStatus {
                            resolution: TopicResolution::Provisioned,
                            replica_map: [(0, vec![1])].into(),
                            ..TopicStatus::default()
                        };
                        let topic = Metadata::new("t", TopicSpec::default(), status);
                        ScResponse::Watch(ObjectWatchResponse::Topic(MetadataUpdate::snapshot(
                            1,
                            vec![topic],
                        )))
                    }
                    ScRequest::Watch(ObjectWatchRequest::Partition(_)) => {
                        let spec = PartitionSpec {
                            leader: 1,
                            replicas: vec![1],
                            ..PartitionSpec::default()
                        };
                        let partition = Metadata::new("t-0", spec, PartitionStatus::default());
                        ScResponse::Watch(ObjectWatchResponse::Partition(MetadataUpdate::snapshot(
                            1,
                            vec![partition],
                        )))
                    }
                    ScRequest::Watch(ObjectWatchRequest::Spu(_)) => {
                        let spec = SpuSpec {
                            id: 1,
                            public_endpoint: IngressPort::from_host_port(
                                &spu.ip().to_string(),
                                spu.port(),
                            ),
                            ..SpuSpec::default()
                        };
                        let spu = Metadata::new("1", spec, SpuStatus::default());
                        ScResponse::Watch(ObjectWatchResponse::Spu(MetadataUpdate::snapshot(
                            1,
                            vec![spu],
                        )))
                    }
                    _ => return None,
                })
            }));
        }
    }

    /// Stream every record of `t-0` from a Fluvio-like SPU asked for frames of
    /// `max_bytes`; the records and the StreamFetch requests the SPU saw.
    async fn stream_through(max_bytes: i32) -> (Vec<(i64, String)>, Vec<(i64, i32)>) {
        use tokio::net::TcpListener;
        let spu = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sc_addr = sc.local_addr().unwrap().to_string();
        let fetches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let spu_addr = spu.local_addr().unwrap();
        let spu_task = tokio::spawn(fluvio_like_spu(
            spu,
            three_batches(),
            std::sync::Arc::clone(&fetches),
        ));
        let sc_task = tokio::spawn(sc_for(sc, spu_addr));
        let fluvio = crate::Fluvio::connect(&sc_addr).await.unwrap();
        let consumer = fluvio.partition_consumer("t", 0).await.unwrap();
        let config = ConsumerConfig {
            max_bytes,
            ..ConsumerConfig::default()
        };
        let mut stream = consumer.stream(Offset::Beginning, config).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 6 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
                .await
                .expect("the stream stalled");
            let record = next.expect("the stream ended").expect("a record");
            got.push((
                record.offset,
                String::from_utf8_lossy(&record.value).into_owned(),
            ));
        }
        assert_eq!(stream.next_offset(), 16);
        spu_task.abort();
        sc_task.abort();
        let fetches = fetches.lock().unwrap().clone();
        (got, fetches)
    }

    #[tokio::test]
    async fn a_stream_from_a_server_that_cuts_frames_mid_batch_delivers_every_record_once() {
        let all: Vec<(i64, String)> = (10..16).map(|o| (o, format!("v{o}"))).collect();
        let batch = BatchHeader::parse(&three_batches()).unwrap().total_len();
        // Frames of a batch and a half: each ends inside the next batch.
        let (got, fetches) = stream_through((batch + batch / 2) as i32).await;
        assert_eq!(got, all);
        assert_eq!(
            fetches,
            [(10, (batch + batch / 2) as i32)],
            "one stream is enough"
        );
        // Frames smaller than a batch (but holding its header): the stream asks again, from
        // the same offset, for frames that hold one.
        let (got, fetches) = stream_through(70).await;
        assert_eq!(got, all);
        assert_eq!(fetches, [(10, 70), (10, batch as i32)]);
    }

    #[test]
    fn offsets_resolve_and_clamp() {
        // log holds offsets 10..20 (start 10, end 20).
        assert_eq!(Offset::Beginning.resolve(10, 20), 10);
        assert_eq!(Offset::End.resolve(10, 20), 20);
        assert_eq!(Offset::Absolute(15).resolve(10, 20), 15);
        assert_eq!(Offset::Absolute(3).resolve(10, 20), 10);
        assert_eq!(Offset::Absolute(99).resolve(10, 20), 20);
        assert_eq!(Offset::FromBeginning(4).resolve(10, 20), 14);
        assert_eq!(Offset::FromEnd(3).resolve(10, 20), 17);
        assert_eq!(Offset::FromEnd(50).resolve(10, 20), 10);
        // An empty partition.
        assert_eq!(Offset::FromEnd(5).resolve(0, 0), 0);
    }
}
