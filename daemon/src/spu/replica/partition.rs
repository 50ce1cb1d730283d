//! One partition replica this SPU hosts: its log, the SC's assignment for it, and the
//! signals that wake stream sessions and offset reports when the log moves.
//!
//! The high watermark: while a replica has no followers (replication factor 1),
//! everything the leader stored is on every in-sync replica, so the leader moves the high
//! watermark to the log end after each append, once the append is as durable as the flush
//! policy makes it. With followers it is the smallest log end in the in-sync set (see
//! [`replication`](crate::spu::replication::leader)); a follower takes the leader's, capped at its own
//! log end.
//!
//! Leader epochs: the leader stamps its epoch into every batch it stores
//! (`partition_leader_epoch`), and every replica keeps a [`LeaderEpochCache`] of where
//! each epoch starts, so a follower can ask a new leader where its last epoch ends and cut
//! what diverged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use protocol::internal::{Replica, ReplicaOffsetReport};
use protocol::sc::{CompressionAlgorithm, SpuId};
use protocol::spu::{Isolation as WireIsolation, ReplicaKey};
use tokio::sync::{Notify, watch};

use crate::spu::replica::producers::{self, Plan, ProducerStates, SequenceError};
use crate::spu::replication::leader::LeaderState;
use crate::storage::{
    AppendInfo, FlushPolicy, Isolation, LeaderEpochCache, Offsets, ReadSlice, ReplicaLog, Result,
    RetentionOutcome, StorageConfig, StorageError, Truncate, VerifyReport, run_blocking,
};
use crate::sync::{lock, read as read_lock, write as write_lock};

/// Bytes read at a time when rebuilding the leader-epoch cache from the log.
const EPOCH_SCAN_BYTES: u64 = 1 << 20;

/// A hosted replica. Shared (`Arc`) by the store, producers and stream sessions; after
/// [`Partition::delete`] or [`Partition::close`] every call answers
/// [`StorageError::Closed`] and subscribers are woken to notice.
#[derive(Debug)]
pub struct Partition {
    key: ReplicaKey,
    spu: SpuId,
    dir: PathBuf,
    assignment: RwLock<Replica>,
    /// `None` once closed or deleted. Appends and reads share it; close and delete take it.
    log: RwLock<Option<ReplicaLog>>,
    /// Serializes high watermark moves so concurrent appends never move it backwards.
    hw_lock: Mutex<()>,
    /// Bumped whenever the log's offsets may have moved (append, high watermark,
    /// retention) and when the replica closes: stream sessions wait on it.
    changes: watch::Sender<u64>,
    closed: AtomicBool,
    /// Store-wide: some replica's offsets moved, a report to the SC is due.
    report_due: Arc<Notify>,
    epochs: Mutex<LeaderEpochCache>,
    /// `Some` while this SPU leads the partition.
    leader: Mutex<Option<LeaderState>>,
    /// Appends wait for an fsync (`--flush always`), so they run on the blocking pool;
    /// otherwise they only copy into the page cache and run in place, sparing two thread
    /// hand-offs per request.
    appends_block: bool,
    /// This replica's event counters, resolved once for the hot paths.
    counters: crate::metrics::PartitionCounters,
    /// Idempotent producers' sequences while this SPU leads; `None` until the first
    /// idempotent batch of a leadership term rebuilds them from the log tail. Held across
    /// the check and the write, so two batches of one producer cannot both pass as next.
    producers: Mutex<Option<ProducerStates>>,
}

/// How far back (in records) a new leader reads its log to learn idempotent producers'
/// recent batches. A retry is of one of a producer's last few batches, written moments
/// before a failover; producers older than this are accepted at any sequence, as Kafka
/// does once their state expired.
const PRODUCER_SCAN_RECORDS: i64 = 200_000;

/// What became of batches a producer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produced {
    /// Stored now.
    Stored(AppendInfo),
    /// Stored before (a retry of idempotent batches): these are their offsets.
    Duplicate { base_offset: i64, next_offset: i64 },
}

impl Produced {
    /// The first offset and the offset after the last of the batches.
    pub fn offsets(&self) -> (i64, i64) {
        match self {
            Self::Stored(info) => (info.base_offset, info.next_offset),
            Self::Duplicate {
                base_offset,
                next_offset,
            } => (*base_offset, *next_offset),
        }
    }
}

/// Why batches a producer sent were not stored.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Sequence(#[from] SequenceError),
}

/// Why a follower's request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// This SPU does not lead the partition, or leads it in another epoch.
    NotLeader,
}

/// The storage settings a replica gets from its topic's settings.
pub fn storage_config(replica: &Replica, flush: FlushPolicy) -> StorageConfig {
    let defaults = StorageConfig::default();
    StorageConfig {
        segment_max_bytes: replica
            .segment_size
            .map_or(defaults.segment_max_bytes, u64::from),
        retention_time: replica
            .retention_secs
            .map(|secs| Duration::from_secs(secs.into()))
            .or(defaults.retention_time),
        max_partition_size: replica.max_partition_size.or(defaults.max_partition_size),
        flush,
        ..defaults
    }
}

/// The storage engine's isolation for the wire's.
pub fn isolation(isolation: WireIsolation) -> Isolation {
    match isolation {
        WireIsolation::ReadCommitted => Isolation::ReadCommitted,
        WireIsolation::ReadUncommitted => Isolation::ReadUncommitted,
    }
}

/// The offset a reader with `isolation` may read up to.
pub fn read_cap(offsets: Offsets, isolation: Isolation) -> i64 {
    match isolation {
        Isolation::ReadCommitted => offsets.hw,
        Isolation::ReadUncommitted => offsets.leo,
    }
}

/// Write the leader epoch into every batch's header (not covered by the CRC).
fn stamp_epoch(batches: &mut [u8], epoch: i32) {
    let mut at = 0;
    while at < batches.len() {
        let Ok(header) = protocol::record::batch::BatchHeader::parse(&batches[at..]) else {
            return;
        };
        let end = (at + header.total_len()).min(batches.len());
        protocol::record::batch::set_leader_epoch(&mut batches[at..end], epoch);
        at = end;
    }
}

/// Bring the epoch cache in line with the log: forget epochs past its end, and learn
/// those of batches written after the cache was last saved (a crash in between).
fn rebuild_epochs(log: &ReplicaLog, epochs: &mut LeaderEpochCache) -> Result<()> {
    let offsets = log.offsets();
    epochs.truncate_to(offsets.leo)?;
    let mut at = epochs
        .entries()
        .last()
        .map_or(offsets.log_start, |(_, start)| *start)
        .clamp(offsets.log_start, offsets.leo);
    let mut buf = Vec::new();
    while at < offsets.leo {
        let slice = match log.read(at, EPOCH_SCAN_BYTES, Isolation::ReadUncommitted) {
            Ok(slice) => slice,
            // Damage recovery marked: its batches cannot tell their epochs. Reads resume at
            // the next segment; refusing to open would make the healthy rest unreadable too.
            Err(StorageError::Corrupt { path, offset, .. }) => {
                let next = log.segment_end(at)?;
                tracing::warn!(path = %path.display(), offset, resume = next,
                    "leader epochs of a corrupt range are unknown; skipping it");
                if next <= at {
                    break;
                }
                at = next;
                continue;
            }
            Err(err) => return Err(err),
        };
        if slice.is_empty() || slice.end_offset <= at {
            break;
        }
        buf.clear();
        slice.read_into(&mut buf)?;
        for batch in protocol::record::batch::batches(&buf).flatten() {
            epochs.assign(
                batch.header.partition_leader_epoch,
                batch.header.base_offset,
            )?;
        }
        at = slice.end_offset;
    }
    Ok(())
}

impl Partition {
    /// Open (or create, recovering after a crash) the replica's log in `dir`. Blocks on
    /// file I/O: call it from a blocking task.
    pub fn open(
        dir: PathBuf,
        spu: SpuId,
        replica: Replica,
        flush: FlushPolicy,
        report_due: Arc<Notify>,
    ) -> Result<Self> {
        let log = ReplicaLog::open(&dir, storage_config(&replica, flush))?;
        let (replica_key_topic, replica_key_partition) =
            (replica.key.topic.clone(), replica.key.partition);
        let mut epochs = LeaderEpochCache::load(&dir)?;
        rebuild_epochs(&log, &mut epochs)?;
        let partition = Self {
            key: replica.key.clone(),
            spu,
            dir,
            assignment: RwLock::new(replica),
            log: RwLock::new(Some(log)),
            hw_lock: Mutex::new(()),
            changes: watch::Sender::new(0),
            closed: AtomicBool::new(false),
            report_due,
            epochs: Mutex::new(epochs),
            leader: Mutex::new(None),
            appends_block: flush == FlushPolicy::Always,
            counters: crate::metrics::PartitionCounters::new(
                &replica_key_topic,
                replica_key_partition,
                spu,
            ),
            producers: Mutex::new(None),
        };
        partition.take_assignment(None)?;
        // A replica without followers committed everything it stored before the restart.
        partition.with_log(|log| {
            if partition.commits_on_append() {
                partition.advance_hw(log, log.leo())?;
            }
            Ok(())
        })?;
        Ok(partition)
    }

    pub fn key(&self) -> &ReplicaKey {
        &self.key
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The SC's current assignment for this replica.
    pub fn assignment(&self) -> Replica {
        read_lock(&self.assignment).clone()
    }

    /// A new assignment (e.g. another leader); sessions are woken to re-check it.
    pub fn set_assignment(&self, replica: Replica) {
        let old = std::mem::replace(&mut *write_lock(&self.assignment), replica);
        if let Err(err) = self.take_assignment(Some(&old)) {
            tracing::error!(replica = %self.key, %err, "cannot record the new leader epoch");
        }
        self.publish();
    }

    /// Become leader (a new epoch starts at the log end), stay leader (the SC's in-sync
    /// set), or stop leading.
    fn take_assignment(&self, old: Option<&Replica>) -> Result<()> {
        let now = self.assignment();
        // The log end before the leader lock: appends take the log, then the leader lock.
        let leo = self.with_log(|log| Ok(log.leo()))?;
        let mut leader = lock(&self.leader);
        if now.leader != self.spu {
            *leader = None;
            *lock(&self.producers) = None;
            return Ok(());
        }
        let same_term = old
            .is_some_and(|o| o.leader == self.spu && o.leader_epoch == now.leader_epoch)
            && leader.is_some();
        if same_term {
            if let Some(state) = leader.as_mut() {
                state.confirm(&now.in_sync);
            }
        } else {
            // A new term: what this replica knew of producers as an earlier leader may
            // predate batches it since took as a follower.
            *lock(&self.producers) = None;
            let mut epochs = lock(&self.epochs);
            epochs.assign(now.leader_epoch, leo)?;
            let start = epochs.entries().last().map_or(leo, |(_, start)| *start);
            *leader = Some(LeaderState::new(
                self.spu,
                now.leader_epoch,
                start,
                now.replicas.iter().copied(),
                &now.in_sync,
                Instant::now(),
            ));
        }
        drop(leader);
        if !self.commits_on_append() {
            self.recompute_hw()?;
        }
        Ok(())
    }

    /// Does this SPU lead the partition?
    pub fn is_leader(&self) -> bool {
        read_lock(&self.assignment).leader == self.spu
    }

    /// The topic's compression setting (producers must match it unless `Any`).
    pub fn compression(&self) -> CompressionAlgorithm {
        read_lock(&self.assignment).compression
    }

    /// Without followers, an append is committed once stored.
    fn commits_on_append(&self) -> bool {
        let assignment = read_lock(&self.assignment);
        assignment.followers().next().is_none()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn closed_error(&self) -> StorageError {
        StorageError::Closed {
            path: self.dir.clone(),
        }
    }

    fn with_log<T>(&self, f: impl FnOnce(&ReplicaLog) -> Result<T>) -> Result<T> {
        let guard = read_lock(&self.log);
        match guard.as_ref() {
            Some(log) => f(log),
            None => Err(self.closed_error()),
        }
    }

    pub fn offsets(&self) -> Result<Offsets> {
        self.with_log(|log| Ok(log.offsets()))
    }

    /// Size, segments and counts of the log (for metrics).
    pub fn log_stats(&self) -> Result<crate::storage::StorageStats> {
        self.with_log(|log| Ok(log.stats()))
    }

    /// This replica's event counters (bytes served to consumers and followers).
    pub fn counters(&self) -> &crate::metrics::PartitionCounters {
        &self.counters
    }

    /// Wake stream sessions and schedule a report to the SC.
    fn publish(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        self.report_due.notify_one();
    }

    /// A receiver that changes whenever the offsets may have moved or the replica closed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn advance_hw(&self, log: &ReplicaLog, to: i64) -> Result<()> {
        let _guard = lock(&self.hw_lock);
        if to > log.hw() {
            log.set_hw(to)?;
        }
        Ok(())
    }

    /// Move the high watermark up to `offset` (replication: once the in-sync replicas
    /// have it) and wake whoever waits on it. Blocks on file I/O at most briefly (the
    /// checkpoint is rewritten at most once a second).
    pub fn commit(&self, offset: i64) -> Result<()> {
        self.with_log(|log| self.advance_hw(log, offset))?;
        self.publish();
        Ok(())
    }

    /// Append batches as the leader (base offsets rewritten in `batches`); under `--flush
    /// always` on the blocking pool, returning after the data is synced.
    pub async fn append(self: &Arc<Self>, batches: impl Into<BytesMut>) -> Result<AppendInfo> {
        let this = self.clone();
        let batches: BytesMut = batches.into();
        let append = move || {
            let mut batches = batches;
            let epoch = this.assignment().leader_epoch;
            stamp_epoch(&mut batches, epoch);
            this.with_log(|log| {
                let info = log.append_as_leader(&mut batches)?;
                if this.commits_on_append() {
                    this.advance_hw(log, info.next_offset)?;
                } else {
                    this.recompute_hw_in(log)?;
                }
                Ok(info)
            })
        };
        let info = self.run_append(append).await?;
        self.counters
            .appended(info.next_offset - info.base_offset, info.bytes);
        Ok(info)
    }

    /// Append batches a producer sent, as the leader: like [`Partition::append`], but
    /// batches of idempotent producers are checked against their sequences first (see
    /// [`producers`]); a retry of batches already stored is answered with their offsets and
    /// not stored again.
    pub async fn produce(
        self: &Arc<Self>,
        batches: impl Into<BytesMut>,
    ) -> std::result::Result<Produced, ProduceError> {
        let batches: BytesMut = batches.into();
        if !producers::any_idempotent(&batches) {
            return Ok(Produced::Stored(self.append(batches).await?));
        }
        if lock(&self.producers).is_none() {
            let this = self.clone();
            let rebuilt = run_blocking(&self.dir, move || this.scan_producers()).await?;
            lock(&self.producers).get_or_insert(rebuilt);
        }
        let this = self.clone();
        let append = move || {
            let mut batches = batches;
            let mut guard = lock(&this.producers);
            // Leadership moved between the rebuild and now: refuse rather than check
            // against a state that no longer describes the log.
            let Some(states) = guard.as_mut() else {
                return Err(ProduceError::Storage(this.closed_error()));
            };
            // Where the new batches start, and the offset the answer starts at if a
            // retried prefix of them is stored already.
            let (skip, answer_base) = match states.plan(&batches)? {
                Plan::Append => (0, None),
                Plan::Duplicate {
                    base_offset,
                    next_offset,
                } => {
                    return Ok(Produced::Duplicate {
                        base_offset,
                        next_offset,
                    });
                }
                Plan::Partial {
                    skip,
                    base_offset,
                    next_offset,
                } => {
                    let leo = this.with_log(|log| Ok(log.leo()))?;
                    if next_offset != leo {
                        // Others wrote after the stored part: the request's batches could
                        // not have consecutive offsets.
                        let producer_id = protocol::record::batch::BatchHeader::parse(&batches)
                            .map_or(-1, |h| h.producer_id);
                        return Err(SequenceError::MixedRetry { producer_id }.into());
                    }
                    (skip, Some(base_offset))
                }
            };
            let mut batches = batches.split_off(skip);
            let epoch = this.assignment().leader_epoch;
            stamp_epoch(&mut batches, epoch);
            let info = this.with_log(|log| {
                let mut info = log.append_as_leader(&mut batches)?;
                if let Some(base) = answer_base {
                    info.base_offset = base;
                }
                if this.commits_on_append() {
                    this.advance_hw(log, info.next_offset)?;
                } else {
                    this.recompute_hw_in(log)?;
                }
                Ok(info)
            })?;
            states.record(&batches);
            Ok(Produced::Stored(info))
        };
        let produced = if self.appends_block {
            run_blocking(&self.dir, move || Ok(append()))
                .await
                .map_err(ProduceError::Storage)
                .and_then(|r| r)
        } else {
            append()
        };
        if let Ok(Produced::Stored(info)) = &produced {
            self.publish();
            self.counters
                .appended(info.next_offset - info.base_offset, info.bytes);
        }
        produced
    }

    /// Learn idempotent producers' recent batches from the log tail (a new leader, or
    /// after a restart). Blocks on file I/O.
    fn scan_producers(&self) -> Result<ProducerStates> {
        self.with_log(|log| {
            let offsets = log.offsets();
            let from = (offsets.leo - PRODUCER_SCAN_RECORDS).max(offsets.log_start);
            let mut buf = Vec::new();
            ProducerStates::rebuild_from(from, offsets.leo, |at| {
                let slice = match log.read(at, EPOCH_SCAN_BYTES, Isolation::ReadUncommitted) {
                    Ok(slice) => slice,
                    // A damaged range tells no sequences; go on after it (see rebuild_epochs).
                    Err(StorageError::Corrupt { .. }) => {
                        let next = log.segment_end(at)?;
                        return Ok((Vec::new(), next.max(at)));
                    }
                    Err(err) => return Err(err),
                };
                buf.clear();
                slice.read_into(&mut buf)?;
                Ok((std::mem::take(&mut buf), slice.end_offset))
            })
        })
    }

    /// Run an append: on the blocking pool when appends block (`--flush always` syncs
    /// before returning), inline otherwise; wake readers and the offset report after.
    async fn run_append<T: Send + 'static>(
        &self,
        append: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let result = if self.appends_block {
            run_blocking(&self.dir, append).await
        } else {
            append()
        };
        if result.is_ok() {
            self.publish();
        }
        result
    }

    /// Wait until the high watermark reaches `offset`, at most `timeout`. False on timeout,
    /// when the replica closes first, or when this SPU stops leading it.
    pub async fn wait_for_hw(&self, offset: i64, timeout: Duration) -> bool {
        let mut changes = self.subscribe();
        let epoch = self.assignment().leader_epoch;
        let wait = async {
            loop {
                match self.offsets() {
                    Ok(offsets) if offsets.hw >= offset => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
                let a = self.assignment();
                if a.leader != self.spu || a.leader_epoch != epoch {
                    return false;
                }
                if changes.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// Whole batches from the one holding `offset`, as file ranges (see
    /// [`ReplicaLog::read`]).
    pub fn read(&self, offset: i64, max_bytes: u64, isolation: Isolation) -> Result<ReadSlice> {
        self.with_log(|log| log.read(offset, max_bytes, isolation))
    }

    /// See [`ReplicaLog::segment_end`].
    pub fn segment_end(&self, offset: i64) -> Result<i64> {
        self.with_log(|log| log.segment_end(offset))
    }

    /// Scrub the whole log (see [`ReplicaLog::verify`]) on the blocking pool. The replica
    /// stays open for everything else meanwhile, close and delete included: the scan
    /// holds its own references to the segment files.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let scrub = self.with_log(|log| Ok(log.verify_async()))?;
        scrub.await
    }

    /// Delete segments past the topic's retention. Blocks on file I/O.
    pub fn enforce_retention(&self, now: SystemTime) -> Result<RetentionOutcome> {
        let outcome = self.with_log(|log| log.enforce_retention(now))?;
        if outcome.deleted_segments > 0 {
            self.publish();
        }
        Ok(outcome)
    }

    /// Where the replica stands, for the SC (only the leader reports).
    pub fn report(&self) -> Option<ReplicaOffsetReport> {
        let assignment = self.assignment();
        if assignment.leader != self.spu {
            return None;
        }
        let (offsets, size) = self
            .with_log(|log| Ok((log.offsets(), log.size_bytes())))
            .ok()?;
        let state = lock(&self.leader).clone();
        Some(ReplicaOffsetReport {
            key: self.key.clone(),
            leader_epoch: assignment.leader_epoch,
            hw: offsets.hw,
            leo: offsets.leo,
            log_start: offsets.log_start,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            followers: state
                .as_ref()
                .map(LeaderState::follower_statuses)
                .unwrap_or_default(),
            in_sync: state.map_or_else(|| vec![self.spu], |s| s.reported_in_sync()),
        })
    }

    fn recompute_hw(&self) -> Result<()> {
        self.with_log(|log| self.recompute_hw_in(log))
    }

    /// Move the high watermark to what the in-sync replicas have.
    fn recompute_hw_in(&self, log: &ReplicaLog) -> Result<()> {
        let target = match lock(&self.leader).as_ref() {
            Some(state) => state.high_watermark(log.leo()),
            None => None,
        };
        if let Some(hw) = target {
            self.advance_hw(log, hw)?;
        }
        Ok(())
    }

    /// How many replicas (this leader included) the high watermark waits for; 0 when this
    /// SPU does not lead.
    pub fn in_sync_count(&self) -> usize {
        lock(&self.leader)
            .as_ref()
            .map_or(0, |s| s.effective_in_sync().len())
    }

    /// The minimum in-sync replicas for acknowledging with ReadCommitted.
    pub fn min_in_sync(&self) -> usize {
        read_lock(&self.assignment).min_in_sync.max(1) as usize
    }

    /// Check the leader epoch a follower claims against the one this SPU leads in.
    pub fn check_leader_epoch(&self, epoch: i32) -> std::result::Result<(), Fenced> {
        let a = read_lock(&self.assignment);
        if a.leader == self.spu && a.leader_epoch == epoch && !self.is_closed() {
            Ok(())
        } else {
            Err(Fenced::NotLeader)
        }
    }

    /// A follower's log end and high watermark (from its fetch or after it appended).
    pub fn follower_report(
        &self,
        follower: SpuId,
        epoch: i32,
        leo: i64,
        hw: i64,
    ) -> std::result::Result<(), Fenced> {
        self.check_leader_epoch(epoch)?;
        let offsets = self.offsets().map_err(|_| Fenced::NotLeader)?;
        let changed = {
            let mut leader = lock(&self.leader);
            let state = leader.as_mut().ok_or(Fenced::NotLeader)?;
            if state.epoch != epoch {
                return Err(Fenced::NotLeader);
            }
            state.follower_report(follower, leo, hw, offsets.leo, offsets.hw, Instant::now())
        };
        let before = offsets.hw;
        let _ = self.recompute_hw();
        let after = self.offsets().map_or(before, |o| o.hw);
        if changed || after != before {
            self.publish();
        } else {
            self.report_due.notify_one();
        }
        Ok(())
    }

    /// Drop followers that lag by more than `lag` from the in-sync set (reported to the
    /// SC, which confirms).
    pub fn check_in_sync(&self, lag: Duration) {
        let Ok(leo) = self.with_log(|log| Ok(log.leo())) else {
            return;
        };
        let changed = lock(&self.leader)
            .as_mut()
            .is_some_and(|s| s.shrink(leo, lag, Instant::now()));
        if changed {
            tracing::info!(replica = %self.key, "a follower fell behind; reporting a smaller in-sync set");
            self.publish();
        }
    }

    /// Where `epoch` ends in this log (answering a follower): the largest epoch known at
    /// or below it and the offset after its last record.
    pub fn epoch_end_offset(&self, epoch: i32) -> Result<(i32, i64)> {
        let offsets = self.offsets()?;
        let epochs = lock(&self.epochs);
        Ok(match epochs.end_offset(epoch, offsets.leo) {
            Some(found) => found,
            None => (
                -1,
                epochs
                    .entries()
                    .first()
                    .map_or(offsets.leo, |(_, start)| *start),
            ),
        })
    }

    /// The newest epoch this replica has records of.
    pub fn latest_epoch(&self) -> Option<i32> {
        lock(&self.epochs).latest_epoch()
    }

    /// Where `epoch` ends in this log by its own cache.
    pub fn own_epoch_end(&self, epoch: i32) -> Option<i64> {
        let leo = self.offsets().ok()?.leo;
        lock(&self.epochs)
            .end_offset(epoch, leo)
            .map(|(_, end)| end)
    }

    /// Follower: append batches as the leader stored them, then take the leader's high
    /// watermark up to this log's end. On the blocking pool under `--flush always`.
    pub async fn append_replicated(
        self: &Arc<Self>,
        batches: Bytes,
        leader_hw: i64,
    ) -> Result<Offsets> {
        let this = self.clone();
        let append = move || {
            this.with_log(|log| {
                let before = log.leo();
                log.append_as_follower(&batches)?;
                // After the append, which checked every batch (CRC included) and stored
                // all or none: the cache only learns of epochs the log holds.
                {
                    let mut epochs = lock(&this.epochs);
                    for batch in protocol::record::batch::batches(&batches).flatten() {
                        let h = batch.header;
                        epochs.assign(h.partition_leader_epoch, h.base_offset)?;
                    }
                }
                this.advance_hw(log, leader_hw.min(log.leo()))?;
                this.counters
                    .appended(log.leo() - before, batches.len() as u64);
                Ok(log.offsets())
            })
        };
        self.run_append(append).await
    }

    /// Follower: the leader's high watermark moved.
    pub fn follow_hw(&self, leader_hw: i64) -> Result<()> {
        let moved = self.with_log(|log| {
            let before = log.hw();
            self.advance_hw(log, leader_hw.min(log.leo()))?;
            Ok(log.hw() != before)
        })?;
        if moved {
            self.publish();
        }
        Ok(())
    }

    /// Follower: drop the records from `offset` on, which the new leader does not have.
    pub async fn truncate_diverged(self: &Arc<Self>, offset: i64) -> Result<i64> {
        let this = self.clone();
        let result = run_blocking(&self.dir, move || {
            this.with_log(|log| {
                let leo = log.truncate(Truncate::diverged(offset))?;
                lock(&this.epochs).truncate_to(leo)?;
                *lock(&this.producers) = None;
                Ok(leo)
            })
        })
        .await;
        self.publish();
        result
    }

    /// Follower: this log ends before the leader's starts; start over empty at `offset`.
    pub async fn restart_at(self: &Arc<Self>, offset: i64) -> Result<()> {
        let this = self.clone();
        let result = run_blocking(&self.dir, move || {
            this.with_log(|log| {
                log.truncate_fully_and_start_at(offset)?;
                *lock(&this.producers) = None;
                lock(&this.epochs).restart_at(offset)
            })
        })
        .await;
        self.publish();
        result
    }

    fn take_log(&self) -> Option<ReplicaLog> {
        let log = write_lock(&self.log).take();
        self.closed.store(true, Ordering::Release);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        log
    }

    /// Clean shutdown of the log. Blocks on file I/O.
    pub fn close(&self) -> Result<()> {
        match self.take_log() {
            Some(log) => log.close(),
            None => Ok(()),
        }
    }

    /// Remove the replica and its directory (the topic was deleted). Blocks on file I/O.
    pub fn delete(&self) -> Result<()> {
        match self.take_log() {
            Some(log) => log.delete(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::{Batch, Record};

    fn replica(replicas: Vec<SpuId>) -> Replica {
        Replica {
            key: ReplicaKey::new("t", 0),
            leader: 1,
            in_sync: replicas.clone(),
            replicas,
            ..Default::default()
        }
    }

    fn batch(values: &[&str]) -> Vec<u8> {
        Batch::from_records(values.iter().map(|v| Record::new(v.as_bytes().to_vec())))
            .encode()
            .unwrap()
    }

    #[test]
    fn topic_settings_reach_storage() {
        let mut r = replica(vec![1]);
        r.retention_secs = Some(60);
        r.segment_size = Some(4096);
        r.max_partition_size = Some(1 << 20);
        let config = storage_config(&r, FlushPolicy::Always);
        assert_eq!(config.segment_max_bytes, 4096);
        assert_eq!(config.retention_time, Some(Duration::from_secs(60)));
        assert_eq!(config.max_partition_size, Some(1 << 20));
        assert_eq!(config.flush, FlushPolicy::Always);
        let defaults = storage_config(&replica(vec![1]), FlushPolicy::Never);
        assert_eq!(
            defaults.segment_max_bytes,
            StorageConfig::default().segment_max_bytes
        );
    }

    #[test]
    fn isolation_caps_reads() {
        let offsets = Offsets {
            log_start: 2,
            hw: 5,
            leo: 9,
        };
        assert_eq!(read_cap(offsets, Isolation::ReadCommitted), 5);
        assert_eq!(read_cap(offsets, Isolation::ReadUncommitted), 9);
        assert_eq!(
            isolation(WireIsolation::ReadCommitted),
            Isolation::ReadCommitted
        );
    }

    #[tokio::test]
    async fn without_followers_the_high_watermark_follows_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = Arc::new(
            Partition::open(
                dir.path().join("t-0"),
                1,
                replica(vec![1]),
                FlushPolicy::Never,
                Arc::default(),
            )
            .unwrap(),
        );
        let mut changes = p.subscribe();
        let info = p
            .append(BytesMut::from(&batch(&["a", "b"])[..]))
            .await
            .unwrap();
        assert_eq!((info.base_offset, info.next_offset), (0, 2));
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert_eq!(p.offsets().unwrap().hw, 2);
        assert!(p.wait_for_hw(2, Duration::from_millis(10)).await);
        let report = p.report().unwrap();
        assert_eq!((report.hw, report.leo, report.log_start), (2, 2, 0));
        assert!(report.size > 0);

        p.delete().unwrap();
        assert!(
            changes.has_changed().unwrap(),
            "sessions are woken on delete"
        );
        assert!(p.is_closed());
        assert!(matches!(p.offsets(), Err(StorageError::Closed { .. })));
        assert!(!dir.path().join("t-0").exists());
    }

    #[tokio::test]
    async fn with_followers_the_high_watermark_waits_for_replication() {
        let dir = tempfile::tempdir().unwrap();
        let p = Arc::new(
            Partition::open(
                dir.path().join("t-0"),
                1,
                replica(vec![1, 2]),
                FlushPolicy::Never,
                Arc::default(),
            )
            .unwrap(),
        );
        p.append(BytesMut::from(&batch(&["a"])[..])).await.unwrap();
        let offsets = p.offsets().unwrap();
        assert_eq!((offsets.hw, offsets.leo), (0, 1));
        assert!(!p.wait_for_hw(1, Duration::from_millis(20)).await);
    }

    fn idempotent(pid: i64, seq: i32, values: &[&str]) -> BytesMut {
        let mut b = Batch::from_records(values.iter().map(|v| Record::new(v.as_bytes().to_vec())));
        b.producer_id = pid;
        b.producer_epoch = 0;
        b.first_sequence = seq;
        BytesMut::from(&b.encode().unwrap()[..])
    }

    fn open(dir: &std::path::Path, spu: SpuId, replica: Replica) -> Arc<Partition> {
        Arc::new(
            Partition::open(
                dir.join("t-0"),
                spu,
                replica,
                FlushPolicy::Never,
                Arc::default(),
            )
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn a_retried_idempotent_batch_is_stored_once_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), 1, replica(vec![1]));
        p.append(BytesMut::from(&batch(&["plain"])[..]))
            .await
            .unwrap();
        let first = p.produce(idempotent(11, 0, &["a", "b"])).await.unwrap();
        assert!(matches!(first, Produced::Stored(_)));
        assert_eq!(first.offsets(), (1, 3));
        let retry = p.produce(idempotent(11, 0, &["a", "b"])).await.unwrap();
        assert_eq!(
            retry,
            Produced::Duplicate {
                base_offset: 1,
                next_offset: 3
            }
        );
        let gap = p.produce(idempotent(11, 5, &["c"])).await.unwrap_err();
        assert!(
            matches!(
                gap,
                ProduceError::Sequence(SequenceError::OutOfOrder {
                    expected: 2,
                    got: 5,
                    ..
                })
            ),
            "{gap}"
        );
        assert_eq!(
            p.offsets().unwrap().leo,
            3,
            "neither the retry nor the gap was stored"
        );
        p.close().unwrap();

        // After a restart the state comes back from the log.
        let p = open(dir.path(), 1, replica(vec![1]));
        assert_eq!(
            p.produce(idempotent(11, 0, &["a", "b"])).await.unwrap(),
            Produced::Duplicate {
                base_offset: 1,
                next_offset: 3
            }
        );
        let next = p.produce(idempotent(11, 2, &["c"])).await.unwrap();
        assert_eq!(next.offsets(), (3, 4));
    }

    #[tokio::test]
    async fn a_follower_that_becomes_leader_recognises_retries() {
        let dir = tempfile::tempdir().unwrap();
        let leader = open(&dir.path().join("a"), 1, replica(vec![1, 2]));
        let stored = leader.produce(idempotent(21, 0, &["x"])).await.unwrap();
        assert_eq!(stored.offsets(), (0, 1));
        let bytes = {
            let slice = leader.read(0, 1 << 20, Isolation::ReadUncommitted).unwrap();
            let mut buf = Vec::new();
            slice.read_into(&mut buf).unwrap();
            buf
        };
        let mut as_follower = replica(vec![1, 2]);
        as_follower.leader = 1;
        let follower = open(&dir.path().join("b"), 2, as_follower.clone());
        follower
            .append_replicated(Bytes::from(bytes), 1)
            .await
            .unwrap();
        // Failover: SPU 2 leads in the next epoch and the producer retries.
        let mut promoted = as_follower;
        promoted.leader = 2;
        promoted.leader_epoch += 1;
        promoted.in_sync = vec![2];
        follower.set_assignment(promoted);
        assert_eq!(
            follower.produce(idempotent(21, 0, &["x"])).await.unwrap(),
            Produced::Duplicate {
                base_offset: 0,
                next_offset: 1
            }
        );
        assert_eq!(follower.offsets().unwrap().leo, 1);
    }

    #[tokio::test]
    async fn a_follower_append_with_a_corrupt_batch_stores_nothing_and_learns_no_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let leader = open(&dir.path().join("a"), 1, replica(vec![1, 2]));
        let mut first = BytesMut::from(&batch(&["good", "also good"])[..]);
        let first_len = first.len();
        first.extend_from_slice(&batch(&["damaged"]));
        leader.append(first).await.unwrap();
        let mut bytes = {
            let slice = leader.read(0, 1 << 20, Isolation::ReadUncommitted).unwrap();
            let mut buf = Vec::new();
            slice.read_into(&mut buf).unwrap();
            buf
        };
        let at = bytes.windows(7).position(|w| w == b"damaged").unwrap();
        bytes[at] = b'D';
        let bytes = Bytes::from(bytes);

        let follower = open(&dir.path().join("b"), 2, replica(vec![1, 2]));
        let epochs_before = follower.latest_epoch();
        // The follower relies on this: a refused frame names where the bad batch starts,
        // and nothing of the frame is stored or cached.
        match follower.append_replicated(bytes.clone(), 3).await {
            Err(StorageError::InvalidBatch { position, .. }) => assert_eq!(position, first_len),
            other => panic!("expected a refused batch, got {other:?}"),
        }
        assert_eq!(follower.offsets().unwrap().leo, 0);
        assert_eq!(follower.latest_epoch(), epochs_before);

        // The good batch before it goes in alone, with its epoch.
        let offsets = follower
            .append_replicated(bytes.slice(..first_len), 3)
            .await
            .unwrap();
        assert_eq!((offsets.leo, offsets.hw), (2, 2));
        assert!(leader.latest_epoch().is_some());
        assert_eq!(follower.latest_epoch(), leader.latest_epoch());
    }
}
