//! [`ReplicaLog`]: one partition replica's log, in the words replication uses: log start
//! offset, high watermark (hw), log end offset (leo).

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use protocol::record::batch::{batches, set_base_offset};

use super::checkpoint::{self, Checkpoint, CheckpointRead};
use super::config::{FlushPolicy, StorageConfig};
use super::error::{InvalidBatchReason, IoContext, Result, StorageError};
use super::group_commit::{GroupCommit, SyncOutcome};
use super::recovery::{self, RecoveryReport};
use super::segment::{Segment, WriteShape};
use super::slice::{FileRange, ReadSlice};
use super::verify::{SegmentView, VerifyReport, verify_segments};

/// Which records a read may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Up to the high watermark: records every in-sync replica has.
    ReadCommitted,
    /// Up to the log end offset (Fluvio's default for consumers).
    #[default]
    ReadUncommitted,
}

/// The three offsets that describe a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// The first offset still stored.
    pub log_start: i64,
    /// The high watermark: offsets below it are committed.
    pub hw: i64,
    /// The log end offset: the offset the next record gets.
    pub leo: i64,
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// The offset of the first record appended.
    pub base_offset: i64,
    /// The log end offset after the append.
    pub next_offset: i64,
    pub batches: usize,
    pub bytes: u64,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    pub deleted_segments: usize,
    pub deleted_bytes: u64,
    pub log_start: i64,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageStats {
    pub appends: u64,
    /// fsyncs of segment data (group commit makes this lower than appends under `always`).
    pub syncs: u64,
    pub segments: usize,
    pub size_bytes: u64,
}

/// Offsets past a segment's base that an index entry can hold.
const MAX_RELATIVE_OFFSET: i64 = u32::MAX as i64;
/// Index entries are written to the file in groups of this many.
const INDEX_WRITE_BATCH: usize = 512;
const LOCK_FILE: &str = ".lock";

/// One partition replica's log on disk.
///
/// Every method takes `&self` and is safe to call from many threads: share it with
/// `Arc<ReplicaLog>`. Appends serialize on a lock while they write; under
/// [`FlushPolicy::Always`] they then wait for a sync that covers them, shared with every
/// append that wrote meanwhile (group commit). Reads take the lock shared and return file
/// ranges, never copying data.
///
/// The methods block on file I/O. From async code use [`ReplicaLog::append_as_leader_async`]
/// / [`ReplicaLog::append_as_follower_async`] (which run on tokio's blocking pool) for
/// appends; reads only read batch headers from the page cache.
///
/// `close` is a clean shutdown. Dropping the log without `close` is treated as a crash: the
/// next `open` validates the segments written since the last checkpoint.
#[derive(Debug)]
pub struct ReplicaLog {
    shared: Arc<Shared>,
    background: Background,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    config: StorageConfig,
    state: RwLock<LogState>,
    /// Changed only with `state` held (shared for `set_hw`, exclusive for truncation).
    hw: AtomicI64,
    group: GroupCommit,
    /// Sealed segments whose data is not known to be on stable storage.
    unsynced_sealed: Mutex<Vec<SealedFile>>,
    /// A segment file was created or deleted since the directory was last synced.
    dir_dirty: AtomicBool,
    checkpoint: Mutex<CheckpointState>,
    report: RecoveryReport,
    appends: AtomicU64,
    /// Wakes the background thread early (after a roll).
    signal: Arc<Signal>,
    /// Held for the log's lifetime: `flock` keeps a second opener out.
    _lock_file: File,
}

#[derive(Debug)]
struct LogState {
    /// Ordered by base offset, contiguous; the last is the active segment.
    segments: Vec<Segment>,
    closed: bool,
}

#[derive(Debug, Clone)]
struct SealedFile {
    file: Arc<File>,
    log_path: Arc<Path>,
    index_path: PathBuf,
}

#[derive(Debug, Default)]
struct CheckpointState {
    last: Option<Checkpoint>,
    written_at: Option<Instant>,
}

/// The thread that runs interval flushes, syncs rolled segments and writes lagging
/// checkpoints.
#[derive(Debug)]
struct Background {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Signal {
    state: Mutex<SignalState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct SignalState {
    stop: bool,
    work: bool,
}

impl LogState {
    fn active(&self) -> &Segment {
        // `segments` is never empty: open creates one and nothing removes the last.
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn log_start(&self) -> i64 {
        self.segments[0].base
    }

    fn leo(&self) -> i64 {
        self.active().end
    }

    fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The segment holding `offset` (the last whose base is at or below it).
    fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base <= offset)
            .saturating_sub(1)
    }
}

/// One batch of an append, checked.
#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    start: usize,
    len: usize,
    base_offset: i64,
    records: i64,
    max_time_stamp: i64,
}

/// Appended bytes: a leader rewrites base offsets in place, a follower keeps them.
enum Input<'a> {
    Leader(&'a mut [u8]),
    Follower(&'a [u8]),
}

impl Input<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Input::Leader(bytes) => bytes,
            Input::Follower(bytes) => bytes,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplicaLog {
    /// Open the replica log in `dir`, creating the directory and an empty log if needed.
    /// Recovers from an unclean stop (see [`RecoveryReport`]).
    pub fn open(dir: impl Into<PathBuf>, config: StorageConfig) -> Result<Self> {
        config.validate()?;
        let dir = dir.into();
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let lock_file = lock_dir(&dir)?;
        let clean = checkpoint::take_clean_shutdown_marker(&dir)?;
        let saved = match checkpoint::read_checkpoint(&dir)? {
            CheckpointRead::Valid(cp) => Some(cp),
            CheckpointRead::Missing => None,
            CheckpointRead::Invalid => {
                tracing::error!(dir = %dir.display(), "unreadable replica checkpoint; validating every segment");
                None
            }
        };
        let loaded = recovery::load(&dir, &config, clean, saved.map(|cp| cp.recovery_point))?;
        let state = LogState {
            segments: loaded.segments,
            closed: false,
        };
        let (log_start, leo) = (state.log_start(), state.leo());
        let saved_hw = saved.map_or(log_start, |cp| cp.hw);
        let hw = saved_hw.clamp(log_start, leo);
        if saved_hw > leo {
            tracing::warn!(dir = %dir.display(), saved_hw, leo, "high watermark above the log end; lowered");
        }
        let durable = if clean {
            leo
        } else {
            saved
                .map_or(log_start, |cp| cp.recovery_point)
                .clamp(log_start, leo)
        };
        let unsynced: Vec<SealedFile> = if clean {
            Vec::new()
        } else {
            state.segments[loaded.unsynced_from..state.segments.len() - 1]
                .iter()
                .map(sealed_file)
                .collect()
        };
        let report = loaded.report;
        tracing::info!(
            dir = %dir.display(),
            clean = report.clean_shutdown,
            log_start,
            hw,
            leo,
            segments = report.segments,
            validated = report.segments_validated,
            truncated_bytes = report.truncated_bytes,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "replica log opened"
        );
        let has_unsynced = !unsynced.is_empty();
        let shared = Arc::new(Shared {
            dir,
            config,
            state: RwLock::new(state),
            hw: AtomicI64::new(hw),
            group: GroupCommit::new(durable),
            unsynced_sealed: Mutex::new(unsynced),
            dir_dirty: AtomicBool::new(true),
            checkpoint: Mutex::new(CheckpointState::default()),
            report,
            appends: AtomicU64::new(0),
            signal: Arc::new(Signal::default()),
            _lock_file: lock_file,
        });
        // Record what recovery decided before anything else can happen.
        shared.write_checkpoint(true)?;
        let background = Background::start(&shared)?;
        if has_unsynced {
            shared.wake_background();
        }
        Ok(Self { shared, background })
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> &StorageConfig {
        &self.shared.config
    }

    /// What `open` found.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.shared.report
    }

    pub fn offsets(&self) -> Offsets {
        let st = self.shared.read_state();
        Offsets {
            log_start: st.log_start(),
            hw: self.shared.hw.load(Ordering::Acquire),
            leo: st.leo(),
        }
    }

    pub fn hw(&self) -> i64 {
        self.shared.hw.load(Ordering::Acquire)
    }

    pub fn leo(&self) -> i64 {
        self.shared.read_state().leo()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.shared.read_state().log_start()
    }

    /// Bytes of batches across all segments.
    pub fn size_bytes(&self) -> u64 {
        self.shared.read_state().size()
    }

    pub fn stats(&self) -> StorageStats {
        let st = self.shared.read_state();
        StorageStats {
            appends: self.shared.appends.load(Ordering::Relaxed),
            syncs: self.shared.group.syncs(),
            segments: st.segments.len(),
            size_bytes: st.size(),
        }
    }

    /// Append batches as the leader: each batch's base offset is rewritten in `batches`
    /// to continue the log. All batches are checked (header, length, CRC-32C, size limits)
    /// before anything is written; either all are stored or none.
    pub fn append_as_leader(&self, batches: &mut [u8]) -> Result<AppendInfo> {
        self.shared.append(Input::Leader(batches))
    }

    /// Append batches as a follower: they keep the leader's offsets, which must continue
    /// this log exactly ([`StorageError::NonContiguousAppend`] otherwise).
    pub fn append_as_follower(&self, batches: &[u8]) -> Result<AppendInfo> {
        self.shared.append(Input::Follower(batches))
    }

    /// [`ReplicaLog::append_as_leader`] on tokio's blocking pool, so an `always` append
    /// waiting for its fsync never blocks a runtime thread.
    pub async fn append_as_leader_async(&self, mut batches: Vec<u8>) -> Result<AppendInfo> {
        let shared = self.shared.clone();
        shared
            .clone()
            .run_blocking(move || shared.append(Input::Leader(&mut batches)))
            .await
    }

    /// [`ReplicaLog::append_as_follower`] on tokio's blocking pool.
    pub async fn append_as_follower_async(&self, batches: Vec<u8>) -> Result<AppendInfo> {
        let shared = self.shared.clone();
        shared
            .clone()
            .run_blocking(move || shared.append(Input::Follower(&batches)))
            .await
    }

    /// Read whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (but at least that first batch, so consumers always progress), ending on a batch
    /// boundary and never past the high watermark (`ReadCommitted`) or the log end
    /// (`ReadUncommitted`). A batch that straddles the high watermark is not returned
    /// until the high watermark passes its end.
    ///
    /// A read crosses segment boundaries: it returns one file range per segment touched.
    /// Reading at the cap returns an empty slice; outside `[log_start, leo]` is
    /// [`StorageError::OffsetOutOfRange`].
    pub fn read(&self, offset: i64, max_bytes: u64, isolation: Isolation) -> Result<ReadSlice> {
        self.shared.read(offset, max_bytes, isolation)
    }

    /// The offset after the segment holding `offset`. A read that fails with
    /// [`StorageError::Corrupt`] at `offset` fails for every offset up to there (reads stop
    /// at a segment's first bad batch); the next segment reads again.
    pub fn segment_end(&self, offset: i64) -> Result<i64> {
        let st = self.shared.open_state()?;
        Ok(st.segments[st.segment_index(offset)].end)
    }

    /// Move the high watermark to `hw`, anywhere in `[log_start, leo]` (keeping it monotonic
    /// is the replication layer's rule). Returns whether it changed.
    ///
    /// Persisting is lazy: the background thread writes the checkpoint at most every
    /// `hw_checkpoint_interval` (and truncate and close write it at once), so this never
    /// waits on the disk. With `hw_checkpoint_interval` zero it writes the checkpoint (two
    /// fsyncs) before returning instead.
    pub fn set_hw(&self, hw: i64) -> Result<bool> {
        let changed = {
            let st = self.shared.open_state()?;
            let (log_start, leo) = (st.log_start(), st.leo());
            if hw < log_start || hw > leo {
                return Err(StorageError::OffsetOutOfRange {
                    requested: hw,
                    log_start,
                    leo,
                });
            }
            self.shared.hw.swap(hw, Ordering::AcqRel) != hw
        };
        if changed && self.shared.config.hw_checkpoint_interval.is_zero() {
            self.shared.write_checkpoint(true)?;
        }
        Ok(changed)
    }

    /// Drop every record at and after `offset` (a follower discarding a diverged suffix
    /// after a leader change). Whole batches go: when `offset` is inside a batch, the log
    /// is cut before that batch, so the new log end can be below `offset`; it is returned.
    ///
    /// Never below the high watermark ([`StorageError::TruncateBelowHighWatermark`]):
    /// committed records are on every in-sync replica and a new leader has them, so a
    /// request to drop them is a bug upstream, not something to obey.
    pub fn truncate(&self, offset: i64) -> Result<i64> {
        let mut st = self.shared.open_state_mut()?;
        self.shared.group.check_failed()?;
        let (log_start, leo) = (st.log_start(), st.leo());
        let hw = self.shared.hw.load(Ordering::Acquire);
        if offset < log_start || offset > leo {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start,
                leo,
            });
        }
        if offset < hw {
            return Err(StorageError::TruncateBelowHighWatermark {
                requested: offset,
                hw,
            });
        }
        if offset == leo {
            return Ok(leo);
        }
        let new_leo = self.shared.truncate_locked(&mut st, offset, Cut::Records)?;
        self.shared.write_checkpoint(true)?;
        Ok(new_leo)
    }

    /// Like [`ReplicaLog::truncate`], but also below the high watermark, which comes down
    /// with the log end. Only for a follower whose log diverged from a new leader's: the
    /// replication layer keeps a follower's high watermark at or below what any in-sync
    /// replica has, so this should cut uncommitted records only; it exists so a follower
    /// that learned a high watermark the new leader cannot confirm is not stuck forever.
    pub fn truncate_diverged(&self, offset: i64) -> Result<i64> {
        let mut st = self.shared.open_state_mut()?;
        self.shared.group.check_failed()?;
        let (log_start, leo) = (st.log_start(), st.leo());
        if offset < log_start || offset > leo {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start,
                leo,
            });
        }
        let hw = self.shared.hw.load(Ordering::Acquire);
        if offset < hw {
            tracing::warn!(dir = %self.shared.dir.display(), hw, offset, "truncating below the high watermark: the new leader does not have these records");
            self.shared.hw.store(offset, Ordering::Release);
        }
        let new_leo = if offset == leo {
            leo
        } else {
            self.shared.truncate_locked(&mut st, offset, Cut::Records)?
        };
        self.shared.write_checkpoint(true)?;
        Ok(new_leo)
    }

    /// Delete every segment and start an empty log at `offset` (a follower whose log end is
    /// below the leader's log start). The high watermark becomes `offset`.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: 0,
                leo: i64::MAX,
            });
        }
        let mut st = self.shared.open_state_mut()?;
        self.shared.group.check_failed()?;
        let shared = &self.shared;
        while let Some(seg) = st.segments.pop() {
            if let Err(err) = remove_segment_files(&seg) {
                st.segments.push(seg);
                shared.poison_on(&err);
                return Err(err);
            }
        }
        shared.dir_dirty.store(true, Ordering::Release);
        match Segment::create(&shared.dir, offset) {
            Ok(seg) => st.segments.push(seg),
            Err(err) => {
                shared.poison_on(&err);
                return Err(err);
            }
        }
        lock(&shared.unsynced_sealed).clear();
        shared.hw.store(offset, Ordering::Release);
        shared.group.reset(offset);
        shared.write_checkpoint(true)?;
        Ok(())
    }

    /// Delete whole sealed segments that are past retention: those whose newest batch is
    /// older than `retention_time` at `now` (the batch's `max_time_stamp`; the file's
    /// modification time when the batch carries none), then the oldest while the log is
    /// larger than `max_partition_size`. Never the active segment, and never a segment
    /// holding offsets at or above the high watermark (followers may still need them).
    pub fn enforce_retention(&self, now: SystemTime) -> Result<RetentionOutcome> {
        let removed: Vec<Segment> = {
            let mut st = self.shared.open_state_mut()?;
            let hw = self.shared.hw.load(Ordering::Acquire);
            let config = &self.shared.config;
            let now_ms = now
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let mut remaining = st.size();
            let mut count = 0;
            for seg in &st.segments[..st.segments.len() - 1] {
                if seg.end > hw {
                    break;
                }
                let expired = config
                    .retention_time
                    .is_some_and(|keep| segment_age_ms(seg, now_ms) > keep.as_millis() as i64);
                let oversize = config.max_partition_size.is_some_and(|max| remaining > max);
                if !(expired || oversize) {
                    break;
                }
                remaining -= seg.size;
                count += 1;
            }
            st.segments.drain(..count).collect()
        };
        if removed.is_empty() {
            return Ok(RetentionOutcome {
                log_start: self.log_start_offset(),
                ..Default::default()
            });
        }
        // Open file ranges keep deleted files readable; new reads no longer see them.
        self.shared.dir_dirty.store(true, Ordering::Release);
        let outcome = RetentionOutcome {
            deleted_segments: removed.len(),
            deleted_bytes: removed.iter().map(|s| s.size).sum(),
            log_start: self.log_start_offset(),
        };
        // Try every file even if one fails; a file left behind comes back on the next open
        // as the oldest segment, and the next retention pass removes it.
        let mut failed = None;
        for seg in &removed {
            if let Err(err) = remove_segment_files(seg) {
                tracing::error!(%err, "retention could not delete a segment file");
                failed.get_or_insert(err);
            }
        }
        tracing::info!(
            dir = %self.shared.dir.display(),
            segments = outcome.deleted_segments,
            bytes = outcome.deleted_bytes,
            log_start = outcome.log_start,
            "retention deleted segments"
        );
        match failed {
            Some(err) => Err(err),
            None => Ok(outcome),
        }
    }

    /// Read every batch of every segment and report each range that does not read back
    /// (see [`VerifyReport`]). Blocks on file I/O for as long as reading the whole log
    /// takes; the log's lock is held only to list the segments, so appends and reads go
    /// on meanwhile. Batches appended after the listing are not checked.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.shared.verify()
    }

    /// [`ReplicaLog::verify`] on the blocking pool. The future does not borrow the log, so
    /// a caller holding the log behind a lock can let go of it before awaiting.
    pub fn verify_async(&self) -> impl Future<Output = Result<VerifyReport>> + Send + use<> {
        let shared = self.shared.clone();
        async move {
            let scrub = shared.clone();
            shared.run_blocking(move || scrub.verify()).await
        }
    }

    /// Sync everything written so far (data, rolled segments, the directory) and write the
    /// checkpoint, whatever the flush policy.
    pub fn flush(&self) -> Result<()> {
        drop(self.shared.open_state()?);
        self.shared.flush_all()?;
        self.shared.write_checkpoint(true)
    }

    /// Clean shutdown: flush, write the checkpoint, then the clean-shutdown marker that lets
    /// the next `open` skip validation.
    pub fn close(mut self) -> Result<()> {
        self.background.stop();
        {
            let mut st = self.shared.open_state_mut()?;
            st.closed = true;
            if let Err(err) = st.active_mut().persist_index() {
                tracing::warn!(%err, "index not written at close; the next open rebuilds it");
            }
        }
        self.shared.flush_all()?;
        self.shared.write_checkpoint(true)?;
        checkpoint::write_clean_shutdown_marker(&self.shared.dir)
    }

    /// Remove the replica: its directory and everything in it.
    pub fn delete(mut self) -> Result<()> {
        self.background.stop();
        self.shared.open_state_mut()?.closed = true;
        let dir = &self.shared.dir;
        fs::remove_dir_all(dir).ctx("remove directory", dir)
    }
}

impl Drop for ReplicaLog {
    fn drop(&mut self) {
        self.background.stop();
    }
}

fn sealed_file(seg: &Segment) -> SealedFile {
    SealedFile {
        file: seg.file.clone(),
        log_path: seg.log_path.clone(),
        index_path: seg.index_path.clone(),
    }
}

fn remove_segment_files(seg: &Segment) -> Result<()> {
    fs::remove_file(&seg.log_path).ctx("remove", &seg.log_path)?;
    match fs::remove_file(&seg.index_path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).ctx("remove", &seg.index_path)
        }
        _ => Ok(()),
    }
}

/// How old a segment's newest data is.
fn segment_age_ms(seg: &Segment, now_ms: i64) -> i64 {
    let newest = seg.newest_timestamp.or_else(|| {
        let modified = seg.file.metadata().ok()?.modified().ok()?;
        let ms = modified.duration_since(UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok()
    });
    // Unknown age: keep it.
    newest.map_or(i64::MIN, |t| now_ms.saturating_sub(t))
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx("open", &path)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StorageError::Locked {
                path: dir.to_path_buf(),
            });
        }
        return Err(err).ctx("lock", &path);
    }
    Ok(file)
}

/// Check appended bytes without touching the log.
fn check_batches(bytes: &[u8], config: &StorageConfig) -> Result<Vec<BatchMeta>> {
    let invalid = |position, reason| StorageError::InvalidBatch { position, reason };
    if bytes.is_empty() {
        return Err(invalid(0, InvalidBatchReason::Empty));
    }
    let mut metas = Vec::new();
    let mut iter = batches(bytes);
    loop {
        let start = iter.position();
        let Some(next) = iter.next() else { break };
        let batch = next.map_err(|err| invalid(start, err.into()))?;
        let len = batch.bytes.len();
        if len as u64 > config.max_batch_bytes {
            return Err(StorageError::BatchTooLarge {
                size: len as u64,
                max: config.max_batch_bytes,
            });
        }
        if len as u64 > config.segment_max_bytes {
            return Err(StorageError::BatchTooLargeForSegment {
                size: len as u64,
                segment_max_bytes: config.segment_max_bytes,
            });
        }
        batch
            .verify_crc()
            .map_err(|err| invalid(start, err.into()))?;
        if batch.header.last_offset_delta < 0 {
            return Err(invalid(
                start,
                InvalidBatchReason::NoRecords(batch.header.last_offset_delta),
            ));
        }
        metas.push(BatchMeta {
            start,
            len,
            base_offset: batch.header.base_offset,
            records: batch.header.record_count(),
            max_time_stamp: batch.header.max_time_stamp,
        });
    }
    Ok(metas)
}

impl Shared {
    fn read_state(&self) -> RwLockReadGuard<'_, LogState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, LogState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn closed_error(&self) -> StorageError {
        StorageError::Closed {
            path: self.dir.clone(),
        }
    }

    fn open_state(&self) -> Result<RwLockReadGuard<'_, LogState>> {
        let st = self.read_state();
        if st.closed {
            return Err(self.closed_error());
        }
        Ok(st)
    }

    fn open_state_mut(&self) -> Result<RwLockWriteGuard<'_, LogState>> {
        let st = self.write_state();
        if st.closed {
            return Err(self.closed_error());
        }
        Ok(st)
    }

    async fn run_blocking<T: Send + 'static>(
        self: Arc<Self>,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match tokio::task::spawn_blocking(f).await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(StorageError::RuntimeShutdown {
                path: self.dir.clone(),
            }),
        }
    }

    fn verify(&self) -> Result<VerifyReport> {
        let views: Vec<SegmentView> = {
            let st = self.open_state()?;
            st.segments
                .iter()
                .map(|seg| SegmentView {
                    file: seg.file.clone(),
                    path: seg.log_path.clone(),
                    base: seg.base,
                    size: seg.size,
                    end: seg.end,
                })
                .collect()
        };
        let mut report = verify_segments(&views)?;
        // A truncation or retention during the scan removes data; what was read past the
        // new end of a segment, or in a deleted one, is gone, not corrupt.
        let st = self.read_state();
        report.problems.retain(|problem| {
            st.segments
                .iter()
                .any(|seg| *seg.log_path == *problem.segment && problem.position <= seg.size)
        });
        Ok(report)
    }

    /// Refuse further writes after an I/O error left the files in an unknown state.
    fn poison_on(&self, err: &StorageError) {
        if let StorageError::Io { op, path, source } = err {
            self.group.fail(op, path.clone(), source.kind());
        }
    }

    fn append(self: &Arc<Self>, mut input: Input<'_>) -> Result<AppendInfo> {
        // CRC and header checks run before the lock, so concurrent appenders overlap them.
        let metas = check_batches(input.bytes(), &self.config)?;
        let (info, generation, rolled) = {
            let mut st = self.open_state_mut()?;
            self.group.check_failed()?;
            let base = st.leo();
            let follower = matches!(input, Input::Follower(_));
            let offsets = assign_offsets(base, &metas, follower)?;
            if let Input::Leader(bytes) = &mut input {
                for (meta, &offset) in metas.iter().zip(&offsets) {
                    set_base_offset(&mut bytes[meta.start..meta.start + meta.len], offset);
                }
            }
            let bytes = input.bytes();
            let mut rolled = false;
            if let Err(err) = self.write_batches(&mut st, bytes, &metas, &offsets, &mut rolled) {
                self.roll_back(&mut st, base, &err);
                return Err(err);
            }
            let next = st.leo();
            let info = AppendInfo {
                base_offset: base,
                next_offset: next,
                batches: metas.len(),
                bytes: bytes.len() as u64,
            };
            (info, self.group.generation(), rolled)
        };
        self.appends.fetch_add(1, Ordering::Relaxed);
        match self.config.flush {
            FlushPolicy::Always => {
                self.group
                    .wait_durable(info.next_offset, generation, || self.sync_files(true))?;
            }
            FlushPolicy::Never | FlushPolicy::Interval(_) if rolled => self.wake_background(),
            _ => {}
        }
        Ok(info)
    }

    fn write_batches(
        self: &Arc<Self>,
        st: &mut LogState,
        bytes: &[u8],
        metas: &[BatchMeta],
        offsets: &[i64],
        rolled: &mut bool,
    ) -> Result<()> {
        let max = self.config.segment_max_bytes;
        let interval = self.config.index_interval_bytes;
        let shape = match self.config.flush {
            FlushPolicy::Always => WriteShape::Whole,
            FlushPolicy::Never | FlushPolicy::Interval(_) => WriteShape::Pieces,
        };
        let mut i = 0;
        while i < metas.len() {
            let fits = |seg: &Segment, extra: u64, j: usize| {
                seg.size + extra + metas[j].len as u64 <= max
                    && offsets[j] + metas[j].records - seg.base <= MAX_RELATIVE_OFFSET
            };
            if st.active().size > 0 && !fits(st.active(), 0, i) {
                self.roll(st)?;
                *rolled = true;
            }
            let seg = st.active_mut();
            // Batches that fit go out in one write; the first always fits an empty segment.
            let mut run_len = metas[i].len as u64;
            let mut end = i + 1;
            while end < metas.len() && fits(seg, run_len, end) {
                run_len += metas[end].len as u64;
                end += 1;
            }
            let from = metas[i].start;
            let to = metas[end - 1].start + metas[end - 1].len;
            seg.write_at_end(&bytes[from..to], shape)?;
            let mut position = seg.size;
            for j in i..end {
                seg.note_batch(position, offsets[j], metas[j].len as u64, interval);
                position += metas[j].len as u64;
            }
            seg.size = position;
            seg.end = offsets[end - 1] + metas[end - 1].records;
            let newest = metas[end - 1].max_time_stamp;
            seg.newest_timestamp = (newest > 0).then_some(newest);
            if seg.index.unpersisted() >= INDEX_WRITE_BATCH
                && let Err(err) = seg.persist_index()
            {
                // The index is a hint; recovery rebuilds it. Data writes decide success.
                tracing::warn!(%err, "index write failed");
            }
            i = end;
        }
        Ok(())
    }

    /// Undo a partly written append so the log holds all of it or none: the files,
    /// index and offsets as they were before it, so the next append lands right after the
    /// last one that succeeded.
    fn roll_back(&self, st: &mut LogState, base: i64, cause: &StorageError) {
        tracing::error!(%cause, "append failed; rolling the log back to offset {base}");
        if let Err(err) = self.truncate_locked(st, base, Cut::FailedAppend) {
            tracing::error!(%err, "rollback failed; the log refuses writes until reopened");
            self.poison_on(&err);
            self.poison_on(cause);
        }
    }

    fn roll(self: &Arc<Self>, st: &mut LogState) -> Result<()> {
        let base = st.leo();
        let new = Segment::create(&self.dir, base)?;
        let old = st.active_mut();
        old.release_reserve();
        if let Err(err) = old.persist_index() {
            tracing::warn!(%err, "index write failed at roll; the next open rebuilds it");
        }
        old.index_file = None;
        let sealed = sealed_file(old);
        st.segments.push(new);
        lock(&self.unsynced_sealed).push(sealed);
        self.dir_dirty.store(true, Ordering::Release);
        tracing::debug!(dir = %self.dir.display(), base, "rolled a new segment");
        Ok(())
    }

    /// Cut the log to end at or before `offset` (the start of the batch holding it).
    fn truncate_locked(&self, st: &mut LogState, offset: i64, cut: Cut) -> Result<i64> {
        let idx = st.segment_index(offset);
        let (size, end) = {
            let seg = &st.segments[idx];
            if offset <= seg.base {
                (0, seg.base)
            } else if offset >= seg.end {
                (seg.size, seg.end)
            } else {
                let (position, header) = seg.locate(offset)?;
                (position, header.base_offset)
            }
        };
        while st.segments.len() > idx + 1 {
            let Some(seg) = st.segments.pop() else { break };
            if let Err(err) = remove_segment_files(&seg) {
                st.segments.push(seg);
                self.poison_on(&err);
                return Err(err);
            }
            self.dir_dirty.store(true, Ordering::Release);
        }
        let seg = st.active_mut();
        let result = seg
            .open_index_file()
            .and_then(|()| seg.truncate_to(size, end))
            .and_then(|()| seg.file.sync_data().ctx("fsync", &seg.log_path));
        if let Err(err) = result {
            self.poison_on(&err);
            return Err(err);
        }
        let active_file = seg.file.clone();
        lock(&self.unsynced_sealed).retain(|s| {
            !Arc::ptr_eq(&s.file, &active_file)
                && st.segments.iter().any(|g| Arc::ptr_eq(&g.file, &s.file))
        });
        let hw = self.hw.load(Ordering::Acquire);
        if hw > end {
            tracing::warn!(
                hw,
                leo = end,
                "truncation inside the batch holding the high watermark; hw lowered"
            );
            self.hw.store(end, Ordering::Release);
        }
        if cut == Cut::Records {
            self.group.truncated(end);
        }
        tracing::info!(dir = %self.dir.display(), offset, leo = end, "log truncated");
        Ok(end)
    }

    fn read(&self, offset: i64, max_bytes: u64, isolation: Isolation) -> Result<ReadSlice> {
        self.read_ranges(offset, max_bytes, isolation)
            .inspect_err(|err| {
                if let StorageError::Corrupt { path, position, offset, kind } = err {
                    tracing::error!(path = %path.display(), position, offset, %kind, "read hit corrupt data");
                }
            })
    }

    fn read_ranges(&self, offset: i64, max_bytes: u64, isolation: Isolation) -> Result<ReadSlice> {
        let st = self.open_state()?;
        let (log_start, leo) = (st.log_start(), st.leo());
        let hw = self.hw.load(Ordering::Acquire);
        if offset < log_start || offset > leo {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start,
                leo,
            });
        }
        let cap = match isolation {
            Isolation::ReadCommitted => hw,
            Isolation::ReadUncommitted => leo,
        };
        let mut slice = ReadSlice {
            ranges: Vec::new(),
            start_offset: offset,
            end_offset: offset,
            log_start,
            hw,
            leo,
        };
        if offset >= cap {
            return Ok(slice);
        }
        let mut budget = max_bytes;
        let mut first = true;
        for seg in &st.segments[st.segment_index(offset)..] {
            if seg.base >= cap {
                break;
            }
            let (position, position_offset, first_batch) = if first {
                let (position, header) = seg.locate(offset)?;
                (position, header.base_offset, Some(header))
            } else {
                (0, seg.base, None)
            };
            let cap_in_corruption = seg.corrupt.as_ref().is_some_and(|m| cap >= m.offset);
            let cap_position = if cap >= seg.end || cap_in_corruption {
                seg.readable_size()
            } else {
                seg.locate(cap)?.0
            };
            if position >= cap_position {
                break;
            }
            let limit = cap_position.min(position.saturating_add(budget));
            let (mut end_position, mut end_offset) =
                seg.boundary_before(limit, position, position_offset)?;
            if end_position == position {
                match first_batch {
                    // The first batch alone is over max_bytes: send it so consumers progress.
                    Some(header) => {
                        end_position = position + header.total_len() as u64;
                        end_offset = header.next_offset();
                    }
                    None => break,
                }
            }
            let len = end_position - position;
            slice.ranges.push(FileRange::new(
                seg.file.clone(),
                seg.log_path.clone(),
                position,
                len,
            ));
            if first {
                slice.start_offset = position_offset;
            }
            slice.end_offset = end_offset;
            budget = budget.saturating_sub(len);
            first = false;
            // Stopping inside a segment (budget, cap or corruption) ends the read: going on
            // to the next segment would skip offsets.
            if end_position < seg.size || end_offset >= cap || budget == 0 {
                break;
            }
        }
        Ok(slice)
    }

    /// Sync rolled segments and, when `include_active`, the active one. Returns the offset
    /// below which everything is now durable.
    fn sync_files(&self, include_active: bool) -> Result<SyncOutcome> {
        let (sealed, active, upto, generation) = {
            let st = self.read_state();
            let sealed = lock(&self.unsynced_sealed).clone();
            let generation = self.group.generation();
            let active = st.active();
            if include_active {
                (
                    sealed,
                    Some((active.file.clone(), active.log_path.clone())),
                    active.end,
                    generation,
                )
            } else {
                (sealed, None, active.base, generation)
            }
        };
        for s in &sealed {
            s.file.sync_data().ctx("fsync", &s.log_path)?;
            // The index is a hint, but a synced one spares a rebuild after a crash.
            if let Ok(index) = File::open(&s.index_path) {
                let _ = index.sync_all();
            }
        }
        if self.dir_dirty.swap(false, Ordering::AcqRel)
            && let Err(err) = checkpoint::sync_dir(&self.dir)
        {
            self.dir_dirty.store(true, Ordering::Release);
            return Err(err);
        }
        if let Some((file, path)) = active {
            file.sync_data().ctx("fsync", &path)?;
        }
        if !sealed.is_empty() {
            lock(&self.unsynced_sealed)
                .retain(|s| !sealed.iter().any(|d| Arc::ptr_eq(&d.file, &s.file)));
        }
        Ok(SyncOutcome { upto, generation })
    }

    fn flush_all(&self) -> Result<()> {
        self.group.sync_now(|| self.sync_files(true))
    }

    /// Write the checkpoint if it changed, and (unless `force`) the last write is older
    /// than `hw_checkpoint_interval`.
    fn write_checkpoint(&self, force: bool) -> Result<()> {
        let mut cp = lock(&self.checkpoint);
        let current = Checkpoint {
            hw: self.hw.load(Ordering::Acquire),
            recovery_point: self.group.durable(),
        };
        if cp.last == Some(current) {
            return Ok(());
        }
        let due = cp
            .written_at
            .is_none_or(|at| at.elapsed() >= self.config.hw_checkpoint_interval);
        if !(force || due) {
            return Ok(());
        }
        checkpoint::write_checkpoint(&self.dir, current)?;
        cp.last = Some(current);
        cp.written_at = Some(Instant::now());
        Ok(())
    }

    fn wake_background(&self) {
        self.signal.wake();
    }

    /// One pass of background work. Returns false when the log is gone or failed.
    fn background_pass(&self) -> bool {
        if self.read_state().closed {
            return false;
        }
        let result = match self.config.flush {
            FlushPolicy::Interval(_) => {
                let behind = self.group.durable() < self.read_state().leo()
                    || !lock(&self.unsynced_sealed).is_empty();
                if behind { self.flush_all() } else { Ok(()) }
            }
            FlushPolicy::Never => {
                if lock(&self.unsynced_sealed).is_empty() {
                    Ok(())
                } else {
                    self.group.sync_now(|| self.sync_files(false))
                }
            }
            FlushPolicy::Always => Ok(()),
        };
        let result = result.and_then(|()| self.write_checkpoint(false));
        if let Err(err) = result {
            tracing::error!(dir = %self.dir.display(), %err, "background flush failed");
            return self.group.check_failed().is_ok();
        }
        true
    }
}

/// What a cut removes, which decides whether appends waiting for a sync must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Records that were in the log: a sync may have covered them, so appends still
    /// waiting for one cannot be acknowledged by it.
    Records,
    /// The bytes of an append that failed while it held the write lock: no sync can have
    /// seen them, so appends waiting for a sync of the records before them still get it.
    FailedAppend,
}

fn assign_offsets(base: i64, metas: &[BatchMeta], follower: bool) -> Result<Vec<i64>> {
    let overflow = |m: &BatchMeta| StorageError::InvalidBatch {
        position: m.start,
        reason: InvalidBatchReason::OffsetOverflow,
    };
    let mut next = base;
    let mut offsets = Vec::with_capacity(metas.len());
    for meta in metas {
        if follower && meta.base_offset != next {
            return Err(StorageError::NonContiguousAppend {
                expected: next,
                found: meta.base_offset,
            });
        }
        offsets.push(next);
        next = next
            .checked_add(meta.records)
            .ok_or_else(|| overflow(meta))?;
    }
    Ok(offsets)
}

impl Background {
    fn start(shared: &Arc<Shared>) -> Result<Self> {
        let checkpoint_tick = shared
            .config
            .hw_checkpoint_interval
            .max(Duration::from_millis(100));
        let tick = match shared.config.flush {
            FlushPolicy::Interval(every) => every.min(checkpoint_tick),
            _ => checkpoint_tick,
        };
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let signal = shared.signal.clone();
        let name = format!(
            "storage-{}",
            shared
                .dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("log")
        );
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                while signal.wait(tick) {
                    let Some(shared) = weak.upgrade() else { return };
                    if !shared.background_pass() {
                        return;
                    }
                }
            })
            .ctx("start the flush thread for", &shared.dir)?;
        Ok(Self {
            signal: shared.signal.clone(),
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        {
            let mut st = lock(&self.signal.state);
            st.stop = true;
        }
        self.signal.cond.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread holds no handle to the log, so it never runs this; joining is safe.
            if thread.join().is_err() {
                tracing::error!("the storage flush thread panicked");
            }
        }
    }
}

impl Signal {
    /// Sleep for `tick` or until woken. False when told to stop.
    fn wait(&self, tick: Duration) -> bool {
        let st = lock(&self.state);
        let (mut st, _) = self
            .cond
            .wait_timeout_while(st, tick, |s| !s.stop && !s.work)
            .unwrap_or_else(PoisonError::into_inner);
        st.work = false;
        !st.stop
    }

    fn wake(&self) {
        lock(&self.state).work = true;
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::batch_with_values;
    use protocol::record::batch::BatchHeader;

    fn config() -> StorageConfig {
        StorageConfig {
            segment_max_bytes: 4096,
            index_interval_bytes: 256,
            hw_checkpoint_interval: Duration::ZERO,
            ..StorageConfig::default()
        }
    }

    /// A batch of `records` records of `value_len` bytes each.
    fn batch(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
        batch_with_values(&vec![vec![b'v'; value_len]; records], ts)
    }

    fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
        batches(bytes).map(|b| b.unwrap().header).collect()
    }

    /// Set in the copy of this test binary that runs a test under a file size limit.
    const FILE_LIMIT_CHILD: &str = "FLUVIO_STORAGE_TEST_FILE_LIMIT";

    /// Run the test `name` again in a child copy of this binary whose files may not grow
    /// past `limit` bytes (writes past it fail with EFBIG, as on a full quota), so the limit
    /// does not reach the other tests. Returns true in the child, which runs the body.
    fn under_file_size_limit(name: &str, limit: u64) -> bool {
        if std::env::var_os(FILE_LIMIT_CHILD).is_some() {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: plain system calls on this process, no pointers kept.
            unsafe {
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit), 0);
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            return true;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(FILE_LIMIT_CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{name} under a file size limit:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

    #[test]
    fn a_write_refused_by_the_disk_leaves_the_log_as_it_was() {
        const LIMIT: u64 = 64 * 1024;
        let name = "storage::replica::tests::a_write_refused_by_the_disk_leaves_the_log_as_it_was";
        if !under_file_size_limit(name, LIMIT) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            segment_max_bytes: 1 << 20,
            index_interval_bytes: 1024,
            flush: FlushPolicy::Never,
            hw_checkpoint_interval: Duration::ZERO,
            ..StorageConfig::default()
        };
        let log = ReplicaLog::open(dir.path(), config.clone()).unwrap();
        let mut stored = Vec::new();
        for i in 0..20 {
            let mut one = batch(2, 1000, i);
            log.append_as_leader(&mut one).unwrap();
            stored.extend(one);
        }
        let segment = dir.path().join(super::super::segment::file_name(0, "log"));
        let file_len = || std::fs::metadata(&segment).unwrap().len();
        let index_entries = || {
            let st = log.shared.read_state();
            (
                st.active().index.entries().to_vec(),
                st.active().bytes_since_index,
            )
        };
        let before = (log.offsets(), file_len(), index_entries(), log.stats());
        assert_eq!(before.0.leo, 40);
        assert!(
            !before.2.0.is_empty(),
            "the test wants index entries to compare"
        );
        // Written before the failure and still waiting for its sync, as under `always`.
        let generation = log.shared.group.generation();

        // 40 KiB more passes the limit partway through: the disk takes some, then refuses.
        let mut refused = batch(40, 1000, 99);
        let err = log.append_as_leader(&mut refused).unwrap_err();
        assert!(
            matches!(&err, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG)),
            "{err}"
        );
        assert_eq!(
            (log.offsets(), file_len(), index_entries(), log.stats()),
            before
        );
        // The failed append did not take the sync from the appends before it.
        log.shared
            .group
            .wait_durable(40, generation, || log.shared.sync_files(true))
            .unwrap();

        // The next append that fits lands right after the last good one.
        let mut next = batch(1, 100, 100);
        let info = log.append_as_leader(&mut next).unwrap();
        assert_eq!((info.base_offset, info.next_offset), (40, 41));
        stored.extend(&next);
        let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
        assert_eq!(all.end_offset, 41);
        assert_eq!(all.to_vec().unwrap(), stored);
        assert_eq!(file_len(), stored.len() as u64);

        // Recovery after a crash finds nothing to cut.
        drop(log);
        let log = ReplicaLog::open(dir.path(), config).unwrap();
        assert_eq!(log.recovery_report().truncated_bytes, 0);
        assert_eq!(log.leo(), 41);
    }

    #[test]
    fn leader_appends_assign_offsets_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                hw: 0,
                leo: 0
            }
        );
        let mut first = batch(3, 10, 1);
        let info = log.append_as_leader(&mut first).unwrap();
        assert_eq!(
            (info.base_offset, info.next_offset, info.batches),
            (0, 3, 1)
        );
        let mut two = [batch(2, 10, 2), batch(1, 10, 3)].concat();
        let info = log.append_as_leader(&mut two).unwrap();
        assert_eq!(
            (info.base_offset, info.next_offset, info.batches),
            (3, 6, 2)
        );
        // The caller's buffer carries the assigned offsets, and so does the log.
        assert_eq!(
            headers(&two)
                .iter()
                .map(|h| h.base_offset)
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
        let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
        assert_eq!(all.to_vec().unwrap(), [first.clone(), two.clone()].concat());
        assert_eq!((all.start_offset, all.end_offset), (0, 6));
        // A read from inside a batch starts at that batch.
        let mid = log.read(4, u64::MAX, Isolation::ReadUncommitted).unwrap();
        assert_eq!(mid.start_offset, 3);
        assert_eq!(mid.to_vec().unwrap(), two);
        // Reading at the end is empty, past it is out of range.
        assert!(
            log.read(6, 100, Isolation::ReadUncommitted)
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            log.read(7, 100, Isolation::ReadUncommitted),
            Err(StorageError::OffsetOutOfRange {
                requested: 7,
                log_start: 0,
                leo: 6
            })
        ));
    }

    #[test]
    fn reads_respect_max_bytes_but_always_return_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let batches: Vec<Vec<u8>> = (0..4).map(|i| batch(1, 100, i)).collect();
        for b in &batches {
            log.append_as_leader(&mut b.clone()).unwrap();
        }
        let len = batches[0].len() as u64;
        let slice = log
            .read(0, 2 * len + len / 2, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(slice.len(), 2 * len);
        assert_eq!(slice.end_offset, 2);
        let slice = log.read(1, 1, Isolation::ReadUncommitted).unwrap();
        assert_eq!(slice.len(), len);
        assert_eq!((slice.start_offset, slice.end_offset), (1, 2));
    }

    #[test]
    fn read_committed_stops_at_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        for i in 0..3 {
            log.append_as_leader(&mut batch(2, 10, i)).unwrap();
        }
        assert!(
            log.read(0, u64::MAX, Isolation::ReadCommitted)
                .unwrap()
                .is_empty()
        );
        assert!(log.set_hw(4).unwrap());
        assert!(!log.set_hw(4).unwrap());
        let slice = log.read(0, u64::MAX, Isolation::ReadCommitted).unwrap();
        assert_eq!(slice.end_offset, 4);
        // The high watermark inside a batch holds that whole batch back.
        log.set_hw(5).unwrap();
        let slice = log.read(0, u64::MAX, Isolation::ReadCommitted).unwrap();
        assert_eq!(slice.end_offset, 4);
        assert!(
            log.read(4, u64::MAX, Isolation::ReadCommitted)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            log.read(4, u64::MAX, Isolation::ReadUncommitted)
                .unwrap()
                .end_offset,
            6
        );
        assert!(matches!(
            log.set_hw(7),
            Err(StorageError::OffsetOutOfRange { requested: 7, .. })
        ));
    }

    #[test]
    fn segments_roll_and_reads_span_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let mut written = Vec::new();
        for i in 0..20 {
            let mut b = batch(2, 300, i);
            log.append_as_leader(&mut b).unwrap();
            written.extend_from_slice(&b);
        }
        let stats = log.stats();
        assert!(stats.segments > 3, "{stats:?}");
        assert_eq!(stats.size_bytes, written.len() as u64);
        let slice = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
        assert_eq!(slice.ranges.len(), stats.segments);
        assert_eq!(slice.to_vec().unwrap(), written);
        for seg in log.shared.read_state().segments.iter() {
            assert!(seg.size <= 4096);
            assert!(!seg.index.entries().is_empty() || seg.size < 2 * 256);
        }
        // Every offset reads back from its own batch, whichever segment holds it.
        for offset in 0..40 {
            let slice = log.read(offset, 1, Isolation::ReadUncommitted).unwrap();
            assert_eq!(slice.start_offset, offset - offset % 2);
        }
    }

    #[test]
    fn bad_appends_are_rejected_whole_with_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(
            dir.path(),
            StorageConfig {
                max_batch_bytes: 2000,
                ..config()
            },
        )
        .unwrap();
        let good = batch(1, 10, 1);
        let mut corrupt = [good.clone(), good.clone()].concat();
        let last = corrupt.len() - 3;
        corrupt[last] ^= 0x40;
        assert!(matches!(
            log.append_as_leader(&mut corrupt),
            Err(StorageError::InvalidBatch { position, reason: InvalidBatchReason::Malformed(_) })
                if position == good.len()
        ));
        assert!(matches!(
            log.append_as_leader(&mut []),
            Err(StorageError::InvalidBatch {
                reason: InvalidBatchReason::Empty,
                ..
            })
        ));
        let mut torn = good[..good.len() - 1].to_vec();
        assert!(matches!(
            log.append_as_leader(&mut torn),
            Err(StorageError::InvalidBatch { .. })
        ));
        assert!(matches!(
            log.append_as_leader(&mut batch(1, 3000, 1)),
            Err(StorageError::BatchTooLarge { max: 2000, .. })
        ));
        let mut no_records = good.clone();
        no_records[23..27].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = protocol::record::batch::compute_crc(&no_records);
        no_records[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            log.append_as_leader(&mut no_records),
            Err(StorageError::InvalidBatch {
                reason: InvalidBatchReason::NoRecords(-1),
                ..
            })
        ));
        assert_eq!(log.leo(), 0);
        assert_eq!(log.size_bytes(), 0);

        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert!(matches!(
            log.append_as_leader(&mut batch(1, 5000, 1)),
            Err(StorageError::BatchTooLargeForSegment {
                segment_max_bytes: 4096,
                ..
            })
        ));
    }

    #[test]
    fn follower_appends_keep_offsets_and_must_continue_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let mut b = batch(2, 10, 1);
        set_base_offset(&mut b, 0);
        log.append_as_follower(&b).unwrap();
        let mut next = batch(3, 10, 2);
        set_base_offset(&mut next, 5);
        assert!(matches!(
            log.append_as_follower(&next),
            Err(StorageError::NonContiguousAppend {
                expected: 2,
                found: 5
            })
        ));
        set_base_offset(&mut next, 2);
        let info = log.append_as_follower(&next).unwrap();
        assert_eq!((info.base_offset, info.next_offset), (2, 5));
        assert_eq!(
            log.read(0, u64::MAX, Isolation::ReadUncommitted)
                .unwrap()
                .to_vec()
                .unwrap(),
            [b, next].concat()
        );
    }

    #[test]
    fn truncation_drops_whole_batches_never_below_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let mut written = Vec::new();
        for i in 0..20 {
            let mut b = batch(2, 300, i);
            log.append_as_leader(&mut b).unwrap();
            written.push(b);
        }
        log.set_hw(10).unwrap();
        assert!(matches!(
            log.truncate(9),
            Err(StorageError::TruncateBelowHighWatermark {
                requested: 9,
                hw: 10
            })
        ));
        assert!(matches!(
            log.truncate(41),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        // Inside the batch [12, 14): the log is cut before it.
        assert_eq!(log.truncate(13).unwrap(), 12);
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                hw: 10,
                leo: 12
            }
        );
        let segments_left = log.stats().segments;
        let files = fs::read_dir(dir.path()).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        });
        assert_eq!(files.count(), segments_left);
        assert_eq!(
            log.read(0, u64::MAX, Isolation::ReadUncommitted)
                .unwrap()
                .to_vec()
                .unwrap(),
            written[..6].concat()
        );
        let mut more = batch(1, 10, 99);
        assert_eq!(log.append_as_leader(&mut more).unwrap().base_offset, 12);
        // Truncating to the hw itself is allowed.
        assert_eq!(log.truncate(10).unwrap(), 10);
        assert_eq!(log.leo(), 10);
    }

    #[test]
    fn diverged_truncation_may_lower_the_high_watermark_and_persists_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        for i in 0..5 {
            log.append_as_leader(&mut batch(2, 100, i)).unwrap();
        }
        log.set_hw(8).unwrap();
        assert!(matches!(
            log.truncate_diverged(11),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        // At or above the hw it behaves like truncate.
        assert_eq!(log.truncate_diverged(9).unwrap(), 8);
        assert_eq!(log.hw(), 8);
        assert_eq!(log.truncate_diverged(4).unwrap(), 4);
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                hw: 4,
                leo: 4
            }
        );
        let mut b = batch(2, 10, 9);
        set_base_offset(&mut b, 4);
        log.append_as_follower(&b).unwrap();
        assert_eq!(log.leo(), 6);
        drop(log);
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert_eq!((log.hw(), log.leo()), (4, 6));
    }

    #[test]
    fn truncate_fully_restarts_the_log_at_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        for i in 0..10 {
            log.append_as_leader(&mut batch(2, 300, i)).unwrap();
        }
        log.truncate_fully_and_start_at(1000).unwrap();
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 1000,
                hw: 1000,
                leo: 1000
            }
        );
        let mut b = batch(1, 1, 1);
        set_base_offset(&mut b, 1000);
        log.append_as_follower(&b).unwrap();
        log.close().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 1000,
                hw: 1000,
                leo: 1001
            }
        );
    }

    #[test]
    fn retention_deletes_old_and_excess_sealed_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        let log = ReplicaLog::open(
            dir.path(),
            StorageConfig {
                retention_time: Some(hour),
                max_partition_size: None,
                ..config()
            },
        )
        .unwrap();
        let t0: i64 = 1_700_000_000_000;
        // Batches an hour apart: each segment holds 3 (3 x ~1.3 KB per 4 KiB segment).
        for i in 0..12 {
            log.append_as_leader(&mut batch(1, 1200, t0 + i * 3_600_000))
                .unwrap();
        }
        let segments = log.stats().segments;
        assert_eq!(segments, 4);
        let at = |ms: i64| UNIX_EPOCH + Duration::from_millis(ms as u64);
        // Nothing is committed yet: nothing goes.
        let outcome = log.enforce_retention(at(t0 + 100 * 3_600_000)).unwrap();
        assert_eq!(outcome.deleted_segments, 0);
        log.set_hw(12).unwrap();
        // Segment 0's newest batch (t0 + 2h) is 1.5 h old at t0 + 3.5 h; segment 1's is not.
        let outcome = log
            .enforce_retention(at(t0 + 3 * 3_600_000 + 1_800_000))
            .unwrap();
        assert_eq!((outcome.deleted_segments, outcome.log_start), (1, 3));
        assert_eq!(log.log_start_offset(), 3);
        assert!(matches!(
            log.read(0, 10, Isolation::ReadUncommitted),
            Err(StorageError::OffsetOutOfRange {
                requested: 0,
                log_start: 3,
                ..
            })
        ));
        // Far in the future everything sealed goes, never the active segment.
        let outcome = log.enforce_retention(at(t0 + 1000 * 3_600_000)).unwrap();
        assert_eq!(outcome.deleted_segments, 2);
        assert_eq!(log.stats().segments, 1);
        assert_eq!(log.log_start_offset(), 9);
        assert_eq!(
            log.read(9, u64::MAX, Isolation::ReadCommitted)
                .unwrap()
                .end_offset,
            12
        );
    }

    #[test]
    fn retention_by_size_keeps_the_log_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(
            dir.path(),
            StorageConfig {
                retention_time: None,
                max_partition_size: Some(9000),
                ..config()
            },
        )
        .unwrap();
        for i in 0..20 {
            log.append_as_leader(&mut batch(1, 1200, i)).unwrap();
        }
        log.set_hw(log.leo()).unwrap();
        let outcome = log.enforce_retention(SystemTime::now()).unwrap();
        assert!(outcome.deleted_segments > 0);
        assert!(log.size_bytes() <= 9000, "{}", log.size_bytes());
        assert_eq!(
            log.read(log.log_start_offset(), u64::MAX, Isolation::ReadCommitted)
                .unwrap()
                .end_offset,
            20
        );
    }

    #[test]
    fn clean_close_skips_validation_and_keeps_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert!(!log.recovery_report().clean_shutdown);
        for i in 0..10 {
            log.append_as_leader(&mut batch(2, 300, i)).unwrap();
        }
        log.set_hw(15).unwrap();
        let before = log
            .read(0, u64::MAX, Isolation::ReadUncommitted)
            .unwrap()
            .to_vec()
            .unwrap();
        log.close().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.recovery_report();
        assert!(report.clean_shutdown);
        assert_eq!((report.segments_validated, report.indexes_rebuilt), (0, 0));
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                hw: 15,
                leo: 20
            }
        );
        assert_eq!(
            log.read(0, u64::MAX, Isolation::ReadUncommitted)
                .unwrap()
                .to_vec()
                .unwrap(),
            before
        );
        // The marker is gone while open: dropping now is an unclean stop.
        drop(log);
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert!(!log.recovery_report().clean_shutdown);
        assert_eq!(
            log.offsets(),
            Offsets {
                log_start: 0,
                hw: 15,
                leo: 20
            }
        );
    }

    #[test]
    fn the_high_watermark_reaches_the_checkpoint_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(
            dir.path(),
            StorageConfig {
                hw_checkpoint_interval: Duration::from_millis(20),
                ..config()
            },
        )
        .unwrap();
        log.append_as_leader(&mut batch(3, 10, 1)).unwrap();
        log.set_hw(3).unwrap();
        // No timing assertion: wait (bounded only by the test harness) for the thread.
        loop {
            if let CheckpointRead::Valid(cp) = checkpoint::read_checkpoint(dir.path()).unwrap()
                && cp.hw == 3
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(log);
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert_eq!(log.hw(), 3);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert!(matches!(
            ReplicaLog::open(dir.path(), config()),
            Err(StorageError::Locked { .. })
        ));
        drop(log);
        ReplicaLog::open(dir.path(), config()).unwrap();
    }

    #[test]
    fn delete_removes_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let replica_dir = dir.path().join("topic-0");
        let log = ReplicaLog::open(&replica_dir, config()).unwrap();
        log.append_as_leader(&mut batch(1, 1, 1)).unwrap();
        log.delete().unwrap();
        assert!(!replica_dir.exists());
    }

    #[test]
    fn concurrent_always_appends_share_syncs_and_get_distinct_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            ReplicaLog::open(
                dir.path(),
                StorageConfig {
                    flush: FlushPolicy::Always,
                    segment_max_bytes: 64 * 1024,
                    ..config()
                },
            )
            .unwrap(),
        );
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            let mut b = batch(1 + (t + i) % 3, 50, i as i64);
                            let info = log.append_as_leader(&mut b).unwrap();
                            (info.base_offset, info.next_offset)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ranges: Vec<(i64, i64)> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        ranges.sort();
        let mut expect = 0;
        for (base, next) in &ranges {
            assert_eq!(*base, expect);
            expect = *next;
        }
        assert_eq!(log.leo(), expect);
        let stats = log.stats();
        assert_eq!(stats.appends, 200);
        assert!(stats.syncs <= stats.appends, "{stats:?}");
        // Everything acknowledged is durable by the time append returns.
        assert_eq!(log.shared.group.durable(), expect);
    }

    #[test]
    fn async_appends_run_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            ReplicaLog::open(
                dir.path(),
                StorageConfig {
                    flush: FlushPolicy::Always,
                    ..config()
                },
            )
            .unwrap(),
        );
        // A current-thread runtime: an `always` append blocking it would deadlock the test.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let log = log.clone();
                    tokio::spawn(async move { log.append_as_leader_async(batch(2, 20, i)).await })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                let info = task.await.unwrap().unwrap();
                total += info.next_offset - info.base_offset;
            }
            let mut follower_batch = batch(1, 1, 1);
            set_base_offset(&mut follower_batch, 32);
            log.append_as_follower_async(follower_batch).await.unwrap();
            total + 1
        });
        assert_eq!(total, 33);
        assert_eq!(log.leo(), 33);
    }

    #[test]
    fn interval_flush_makes_data_durable_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(
            dir.path(),
            StorageConfig {
                flush: FlushPolicy::Interval(Duration::from_millis(5)),
                ..config()
            },
        )
        .unwrap();
        log.append_as_leader(&mut batch(4, 10, 1)).unwrap();
        // No timing assertion: wait (bounded only by the test harness) for the flusher.
        while log.shared.group.durable() < 4 {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(log.stats().syncs >= 1);
    }

    /// Recovery validates exactly what was not fsynced: under `never` that is the active
    /// segment (the checkpoint's recovery point is its base once the rolled segments are
    /// synced), so damage in the active segment is cut there, while damage in a synced
    /// sealed segment is left to the cheap check and found by a scrub.
    #[test]
    fn after_a_crash_unsynced_segments_are_validated_and_synced_ones_scrubbed_on_request() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        for i in 0..10 {
            log.append_as_leader(&mut batch(1, 1500, i)).unwrap();
        }
        let (first, active) = {
            let st = log.shared.read_state();
            (
                st.segments[0].log_path.to_path_buf(),
                st.active().log_path.to_path_buf(),
            )
        };
        let active_base = log.shared.read_state().active().base;
        // No timing assertion: wait for the background sync and checkpoint.
        loop {
            match checkpoint::read_checkpoint(dir.path()).unwrap() {
                CheckpointRead::Valid(cp) if cp.recovery_point >= active_base => break,
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        drop(log); // a crash: no clean-shutdown marker
        let active_len = fs::metadata(&active).unwrap().len();
        assert!(active_len > 2000, "the active segment holds two batches");
        let damage = |path: &Path, at: u64| {
            let file = fs::OpenOptions::new().write(true).open(path).unwrap();
            file.write_all_at(b"?", at).unwrap();
        };
        damage(&first, 100);
        damage(&active, 100);

        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.recovery_report().clone();
        assert!(!report.clean_shutdown);
        assert_eq!(report.segments_validated, 1, "{report:?}");
        assert_eq!(log.leo(), active_base, "cut at the damaged unsynced batch");
        let scrub = log.verify().unwrap();
        assert_eq!(scrub.problems.len(), 1, "{scrub:?}");
        assert_eq!(scrub.problems[0].segment, first);
        assert_eq!(scrub.problems[0].first_offset, 0);
    }

    #[test]
    fn flush_policy_never_syncs_rolled_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        for i in 0..6 {
            log.append_as_leader(&mut batch(1, 1500, i)).unwrap();
        }
        let active_base = log.shared.read_state().active().base;
        assert!(active_base > 0);
        while log.shared.group.durable() < active_base {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(log.shared.group.durable() < log.leo());
        log.flush().unwrap();
        assert_eq!(log.shared.group.durable(), log.leo());
    }
}
