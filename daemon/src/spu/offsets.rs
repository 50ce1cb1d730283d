//! Consumer offsets: what consumers committed, kept as records of the system topic
//! `consumer-offset` (partition 0) in Fluvio's layout ([`OffsetEntry`]) and served from
//! an in-memory view by the leader of that partition.
//!
//! - The view is rebuilt from the whole log the first time it is needed after this SPU
//!   becomes leader (a new leader epoch), so a restart after kill -9 or a failover finds
//!   every offset a former leader acknowledged: acknowledged means replicated to the
//!   in-sync replicas, like any produce with `ReadCommitted`.
//! - Writes (commit, delete) are serialized under one lock: append, wait for the high
//!   watermark, then change the view, so the view never shows what the log may lose.
//! - Every [`CHECKPOINT_EVERY`] changes the leader appends a checkpoint (Fluvio's
//!   `Checkpoint` entry followed by every live offset, in one batch), so retention can
//!   delete old segments without losing an offset that has not changed for long.
//! - An SPU serving a consumer's stream that does not lead `consumer-offset-0` hands
//!   the commit to the leader's private port ([`CommitConsumerOffsetRequest`]); the
//!   control stream tells every SPU who that leader is.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use protocol::api::ErrorCode;
use protocol::internal::{CommitConsumerOffsetRequest, CommitConsumerOffsetResponse};
use protocol::record::{Batch, Record, batches};
use protocol::sc::SpuId;
use protocol::spu::{
    CONSUMER_OFFSET_PARTITION, CONSUMER_OFFSET_TOPIC, ConsumerOffset, OffsetEntry, OffsetKey,
    OffsetValue,
};
use tracing::{debug, info, warn};

use super::replica::partition::Partition;
use super::replica::store::{Lookup, ReplicaStore};
use crate::net::client::{self, Frames, WriteHalf, decode, send};
use crate::storage::Isolation;
use crate::sync::{read, write};

/// Changes between two checkpoints.
pub const CHECKPOINT_EVERY: usize = 100;
/// How long a write waits for the in-sync replicas.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for this SPU to open `consumer-offset-0` it was assigned.
const OPEN_WAIT: Duration = Duration::from_secs(5);
/// Bytes read per step while rebuilding.
const REBUILD_READ_BYTES: u64 = 4 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an offset request failed; each maps to the error code the client gets.
#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error("this SPU does not lead {CONSUMER_OFFSET_TOPIC}-{CONSUMER_OFFSET_PARTITION}")]
    NotLeader,
    #[error("no SPU leads {CONSUMER_OFFSET_TOPIC}-{CONSUMER_OFFSET_PARTITION} yet")]
    NoLeader,
    #[error("the consumer offset log failed: {0}")]
    Storage(String),
    #[error("the consumer offset was not replicated within {} s", COMMIT_TIMEOUT.as_secs())]
    NotReplicated,
    #[error("cannot reach the leader of the consumer offsets (SPU {spu}): {reason}")]
    Forward { spu: SpuId, reason: String },
    #[error("the leader of the consumer offsets refused: {0}")]
    Refused(ErrorCode),
}

impl OffsetError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            OffsetError::NotLeader => ErrorCode::NotLeaderForPartition,
            OffsetError::NoLeader => ErrorCode::Other(self.to_string()),
            OffsetError::Refused(code) => code.clone(),
            other => ErrorCode::OffsetFlushRequestError(other.to_string()),
        }
    }
}

/// The committed offsets, as the log states them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct View {
    entries: BTreeMap<OffsetKey, OffsetValue>,
    /// Changes since the last checkpoint.
    changes: usize,
}

impl View {
    /// Replay one entry.
    pub fn apply(&mut self, entry: OffsetEntry) {
        match entry {
            OffsetEntry::Updated { key, value } => {
                self.entries.insert(key, value);
                self.changes += 1;
            }
            OffsetEntry::Deleted { key } => {
                self.entries.remove(&key);
                self.changes += 1;
            }
            // A checkpoint repeats every live entry right after it: start over from it.
            OffsetEntry::Checkpoint => {
                self.entries.clear();
                self.changes = 0;
            }
        }
    }

    /// Replay the record batches in `log` (whole batches, as stored); records that are not
    /// offset entries are skipped with a warning rather than losing every offset.
    pub fn replay(&mut self, log: &[u8]) -> usize {
        let mut skipped = 0;
        for raw in batches(log) {
            let batch = match raw
                .map_err(|e| e.to_string())
                .and_then(|raw| Batch::from_raw(&raw).map_err(|e| e.to_string()))
            {
                Ok(batch) => batch,
                Err(err) => {
                    warn!(%err, "unreadable batch in the consumer offset log; skipped");
                    skipped += 1;
                    continue;
                }
            };
            // A checkpoint's batch restates entries: they are not changes.
            let mut checkpoint = false;
            for record in batch.iter() {
                match OffsetEntry::decode(&record.record.value) {
                    Ok(entry) => {
                        checkpoint |= entry == OffsetEntry::Checkpoint;
                        self.apply(entry);
                    }
                    Err(err) => {
                        warn!(%err, "a record of the consumer offset log is not an offset entry; skipped");
                        skipped += 1;
                    }
                }
            }
            if checkpoint {
                self.changes = 0;
            }
        }
        skipped
    }

    pub fn get(&self, key: &OffsetKey) -> Option<&OffsetValue> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The offsets `keep` admits, as the wire lists them.
    pub fn list(&self, keep: impl Fn(&OffsetKey) -> bool) -> Vec<ConsumerOffset> {
        self.entries
            .iter()
            .filter(|(key, _)| keep(key))
            .map(|(key, value)| ConsumerOffset {
                consumer_id: key.consumer_id.clone(),
                replica_id: key.replica_id.clone(),
                offset: value.offset,
                modified_time: value.modified_time,
            })
            .collect()
    }

    /// The checkpoint batch's records: the marker, then every live entry.
    fn checkpoint(&self) -> Vec<OffsetEntry> {
        std::iter::once(OffsetEntry::Checkpoint)
            .chain(
                self.entries
                    .iter()
                    .map(|(key, value)| OffsetEntry::Updated {
                        key: key.clone(),
                        value: value.clone(),
                    }),
            )
            .collect()
    }
}

/// The view of one leadership term.
#[derive(Debug)]
struct Term {
    leader_epoch: i32,
    view: View,
}

/// A connection to the leader's private port, for forwarded commits.
struct Forward {
    spu: SpuId,
    writer: WriteHalf,
    frames: Frames,
    next_corr: i32,
}

/// The consumer offsets of one SPU: the view while it leads `consumer-offset-0`, and
/// where the leader is while it does not.
#[derive(Default)]
pub struct ConsumerOffsets {
    term: tokio::sync::Mutex<Option<Term>>,
    /// The leader of `consumer-offset-0`, from the control stream.
    leader: RwLock<Option<SpuId>>,
    forward: tokio::sync::Mutex<Option<Forward>>,
}

impl std::fmt::Debug for ConsumerOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerOffsets")
            .field("leader", &*read(&self.leader))
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch, as Fluvio stamps offsets.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl ConsumerOffsets {
    /// The control stream named the leader of `consumer-offset-0`.
    pub fn set_leader(&self, leader: SpuId) {
        *write(&self.leader) = Some(leader);
    }

    pub fn leader(&self) -> Option<SpuId> {
        *read(&self.leader)
    }

    /// This SPU's replica of `consumer-offset-0` if it leads it.
    async fn leading(&self, store: &ReplicaStore) -> Result<Arc<Partition>, OffsetError> {
        match store
            .wait_leader(
                CONSUMER_OFFSET_TOPIC,
                CONSUMER_OFFSET_PARTITION,
                self.open_wait(store),
            )
            .await
        {
            Ok(p) => Ok(p),
            Err(Lookup::NotLeader) => Err(OffsetError::NotLeader),
            Err(Lookup::NotHosted) => match self.leader() {
                Some(_) => Err(OffsetError::NotLeader),
                None => Err(OffsetError::NoLeader),
            },
        }
    }

    /// Wait for the replica only when the SC named this SPU its leader.
    fn open_wait(&self, store: &ReplicaStore) -> Duration {
        if self.leader() == Some(store.spu()) {
            OPEN_WAIT
        } else {
            Duration::ZERO
        }
    }

    /// Run `f` on the view of the current term, rebuilding it from the log first if this
    /// SPU has become leader since it was built.
    async fn with_view<T>(
        &self,
        store: &ReplicaStore,
        f: impl AsyncFnOnce(&Arc<Partition>, &mut View) -> Result<T, OffsetError>,
    ) -> Result<T, OffsetError> {
        let p = self.leading(store).await?;
        let epoch = p.assignment().leader_epoch;
        let mut term = self.term.lock().await;
        if term.as_ref().is_none_or(|t| t.leader_epoch != epoch) {
            let view = rebuild(&p).await?;
            info!(
                spu = store.spu(),
                leader_epoch = epoch,
                offsets = view.len(),
                "consumer offsets rebuilt from the log"
            );
            *term = Some(Term {
                leader_epoch: epoch,
                view,
            });
        }
        let Some(current) = term.as_mut() else {
            return Err(OffsetError::NoLeader);
        };
        f(&p, &mut current.view).await
    }

    /// Store `offset` for `key` here; this SPU must lead `consumer-offset-0`.
    pub async fn put(
        &self,
        store: &ReplicaStore,
        key: OffsetKey,
        offset: i64,
    ) -> Result<(), OffsetError> {
        self.with_view(store, async |p, view| {
            let value = OffsetValue {
                offset,
                modified_time: now_secs(),
            };
            let entry = OffsetEntry::Updated {
                key: key.clone(),
                value: value.clone(),
            };
            append(p, std::slice::from_ref(&entry)).await?;
            view.apply(entry);
            maybe_checkpoint(p, view).await;
            Ok(())
        })
        .await
    }

    /// Forget `key`'s offset; false if there was none.
    pub async fn delete(&self, store: &ReplicaStore, key: OffsetKey) -> Result<bool, OffsetError> {
        self.with_view(store, async |p, view| {
            if view.get(&key).is_none() {
                return Ok(false);
            }
            let entry = OffsetEntry::Deleted { key };
            append(p, std::slice::from_ref(&entry)).await?;
            view.apply(entry);
            maybe_checkpoint(p, view).await;
            Ok(true)
        })
        .await
    }

    /// The offsets `keep` admits.
    pub async fn list(
        &self,
        store: &ReplicaStore,
        keep: impl Fn(&OffsetKey) -> bool,
    ) -> Result<Vec<ConsumerOffset>, OffsetError> {
        self.with_view(store, async |_, view| Ok(view.list(keep)))
            .await
    }

    /// Commit `offset` for `key`: here when this SPU leads `consumer-offset-0`, else on
    /// the leader through its private port.
    pub async fn commit(
        &self,
        store: &ReplicaStore,
        key: OffsetKey,
        offset: i64,
    ) -> Result<(), OffsetError> {
        match self.put(store, key.clone(), offset).await {
            Err(OffsetError::NotLeader) => {}
            other => return other,
        }
        let Some(leader) = self.leader().filter(|&l| l != store.spu()) else {
            return Err(OffsetError::NoLeader);
        };
        let request = CommitConsumerOffsetRequest { key, offset };
        let mut forward = self.forward.lock().await;
        // One retry on a fresh connection: a cached one may have been closed meanwhile.
        for attempt in 0..2 {
            if forward.as_ref().is_none_or(|f| f.spu != leader) || attempt > 0 {
                *forward = Some(connect(store, leader).await?);
            }
            let Some(conn) = forward.as_mut() else {
                return Err(OffsetError::NoLeader);
            };
            match conn.call(&request).await {
                Ok(response) if response.error_code.is_ok() => return Ok(()),
                Ok(response) => return Err(OffsetError::Refused(response.error_code)),
                Err(err) => {
                    debug!(leader, %err, "forwarding a consumer offset failed");
                    *forward = None;
                    if attempt > 0 {
                        return Err(OffsetError::Forward {
                            spu: leader,
                            reason: err.to_string(),
                        });
                    }
                }
            }
        }
        Err(OffsetError::NoLeader)
    }
}

impl Forward {
    async fn call(
        &mut self,
        request: &CommitConsumerOffsetRequest,
    ) -> std::io::Result<CommitConsumerOffsetResponse> {
        self.next_corr = self.next_corr.wrapping_add(1);
        let corr = self.next_corr;
        send(&mut self.writer, request, corr).await?;
        loop {
            let (got, body) =
                tokio::time::timeout(COMMIT_TIMEOUT + CONNECT_TIMEOUT, self.frames.next())
                    .await
                    .map_err(|_| std::io::Error::other("no answer in time"))??;
            if got == corr {
                return decode(&body);
            }
        }
    }
}

async fn connect(store: &ReplicaStore, leader: SpuId) -> Result<Forward, OffsetError> {
    let fail = |reason: String| OffsetError::Forward {
        spu: leader,
        reason,
    };
    let addr = store
        .private_addr(leader)
        .ok_or_else(|| fail("its address is not known yet".to_string()))?;
    let (reader, writer) = client::connect(&addr, store.tls().as_ref(), CONNECT_TIMEOUT)
        .await
        .map_err(|e| fail(format!("{addr}: {e}")))?;
    Ok(Forward {
        spu: leader,
        writer,
        frames: Frames::new(reader, 1 << 20, "leader of the consumer offsets"),
        next_corr: 0,
    })
}

/// Append `entries` as one batch and wait until the in-sync replicas have it.
async fn append(p: &Arc<Partition>, entries: &[OffsetEntry]) -> Result<(), OffsetError> {
    let records = entries
        .iter()
        .map(|e| e.encode().map(Record::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| OffsetError::Storage(e.to_string()))?;
    let batch = Batch::from_records(records)
        .with_timestamp(now_ms())
        .encode()
        .map_err(|e| OffsetError::Storage(e.to_string()))?;
    let info = p
        .append(BytesMut::from(&batch[..]))
        .await
        .map_err(|e| OffsetError::Storage(e.to_string()))?;
    if p.wait_for_hw(info.next_offset, COMMIT_TIMEOUT).await {
        Ok(())
    } else if !p.is_leader() {
        Err(OffsetError::NotLeader)
    } else {
        Err(OffsetError::NotReplicated)
    }
}

/// Checkpoint once enough changes piled up; a failure only delays it.
async fn maybe_checkpoint(p: &Arc<Partition>, view: &mut View) {
    if view.changes < CHECKPOINT_EVERY {
        return;
    }
    match append(p, &view.checkpoint()).await {
        Ok(()) => view.changes = 0,
        Err(err) => warn!(%err, "consumer offset checkpoint failed; retried after the next change"),
    }
}

/// The view as the replica's whole log states it.
async fn rebuild(p: &Arc<Partition>) -> Result<View, OffsetError> {
    let p = p.clone();
    let result = crate::sync::run_blocking(move || {
        let mut view = View::default();
        let start = p.offsets().map_err(|e| e.to_string())?;
        let mut offset = start.log_start;
        let mut buf = Vec::new();
        while offset < start.leo {
            let slice = p
                .read(offset, REBUILD_READ_BYTES, Isolation::ReadUncommitted)
                .map_err(|e| e.to_string())?;
            if slice.is_empty() || slice.end_offset <= offset {
                break;
            }
            buf.clear();
            slice.read_into(&mut buf).map_err(|e| e.to_string())?;
            view.replay(&buf);
            offset = slice.end_offset;
        }
        Ok::<_, String>(view)
    })
    .await
    .map_err(|e| OffsetError::Storage(e.to_string()))?;
    result.map_err(OffsetError::Storage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::spu::ReplicaKey;

    fn key(consumer: &str, partition: u32) -> OffsetKey {
        OffsetKey {
            replica_id: ReplicaKey::new("t", partition),
            consumer_id: consumer.to_string(),
        }
    }

    fn updated(consumer: &str, offset: i64) -> OffsetEntry {
        OffsetEntry::Updated {
            key: key(consumer, 0),
            value: OffsetValue {
                offset,
                modified_time: 1,
            },
        }
    }

    fn log(batches: &[&[OffsetEntry]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut base = 0;
        for entries in batches {
            let records = entries.iter().map(|e| Record::new(e.encode().unwrap()));
            let mut batch = Batch::from_records(records);
            batch.base_offset = base;
            base += entries.len() as i64;
            out.extend(batch.encode().unwrap());
        }
        out
    }

    #[test]
    fn replay_keeps_the_last_word_per_consumer() {
        let bytes = log(&[
            &[updated("a", 1), updated("b", 5)],
            &[updated("a", 9)],
            &[OffsetEntry::Deleted { key: key("b", 0) }],
        ]);
        let mut view = View::default();
        assert_eq!(view.replay(&bytes), 0);
        assert_eq!(view.len(), 1);
        assert_eq!(view.get(&key("a", 0)).map(|v| v.offset), Some(9));
        assert!(view.get(&key("b", 0)).is_none());
    }

    #[test]
    fn a_checkpoint_restates_everything() {
        let mut before = View::default();
        before.apply(updated("a", 3));
        before.apply(updated("b", 4));
        let checkpoint = before.checkpoint();
        let bytes = log(&[&[updated("gone", 1)], &checkpoint, &[updated("a", 7)]]);
        let mut view = View::default();
        view.replay(&bytes);
        assert_eq!(
            view.list(|_| true)
                .iter()
                .map(|o| (o.consumer_id.as_str(), o.offset))
                .collect::<Vec<_>>(),
            [("a", 7), ("b", 4)],
            "entries before the checkpoint are replaced by it"
        );
        assert_eq!(view.changes, 1, "changes count from the checkpoint");
    }

    #[test]
    fn foreign_records_are_skipped() {
        let mut bytes = log(&[&[updated("a", 2)]]);
        let mut other = Batch::from_records([Record::new(&b"not an entry"[..])]);
        other.base_offset = 1;
        bytes.extend(other.encode().unwrap());
        bytes.extend(log(&[&[updated("a", 3)]]));
        let mut view = View::default();
        assert_eq!(view.replay(&bytes), 1);
        assert_eq!(view.get(&key("a", 0)).map(|v| v.offset), Some(3));
        let mut torn = View::default();
        assert!(
            torn.replay(&bytes[..bytes.len() - 3]) >= 1,
            "a torn tail is skipped, not a panic"
        );
        assert_eq!(torn.get(&key("a", 0)).map(|v| v.offset), Some(2));
    }
}
