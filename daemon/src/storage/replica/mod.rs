//! [`ReplicaLog`]: one partition replica's log, in the words replication uses: log start
//! offset, high watermark (hw), log end offset (leo).
//!
//! The parts, one file each:
//!
//! - this file: the types, [`ReplicaLog::open`], offsets, the high watermark, verify,
//!   flush, close and delete, and the state every part shares;
//! - [`append`]: checking batches, assigning offsets, writing and rolling segments;
//! - [`read`]: whole batches as file ranges, capped by the isolation;
//! - [`truncate`]: cutting a suffix (policy: keep committed records, or drop a diverged
//!   suffix) and starting over at an offset;
//! - [`retention`]: deleting whole segments by age and partition size;
//! - [`background`]: syncs and checkpoints, and the thread that runs them off the write
//!   path.
//!
//! Each part's tests sit at the end of its file; `tests.rs` holds what they share and the
//! tests of the log's life cycle (open, close, delete).

mod append;
mod background;
mod read;
mod retention;
#[cfg(test)]
mod tests;
mod truncate;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use super::checkpoint::{self, Checkpoint, CheckpointRead};
use super::config::StorageConfig;
use super::dir_lock::{LogLock, lock_log};
use super::error::{IoContext, Result, StorageError, run_blocking};
use super::file_pool::{FilePool, PooledFile};
use super::group_commit::GroupCommit;
use super::recovery::{self, RecoveryReport};
use super::segment::Segment;
use super::verify::{SegmentView, VerifyReport, verify_segments};
use crate::sync::{self, lock};
use background::{Background, Signal};

pub use truncate::{Truncate, TruncatePolicy};

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
///
/// [`FlushPolicy::Always`]: crate::storage::FlushPolicy::Always
#[derive(Debug)]
pub struct ReplicaLog {
    shared: Arc<Shared>,
    background: Background,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    config: StorageConfig,
    /// Where the segments' files are kept open.
    pool: Arc<FilePool>,
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
    /// Held for the log's lifetime: keeps a second opener out (see [`dir_lock`]).
    ///
    /// [`dir_lock`]: crate::storage::dir_lock
    _lock: LogLock,
}

#[derive(Debug)]
struct LogState {
    /// Ordered by base offset, contiguous; the last is the active segment.
    segments: Vec<Segment>,
    closed: bool,
}

#[derive(Debug, Clone)]
struct SealedFile {
    file: PooledFile,
    log_path: Arc<Path>,
    index_path: PathBuf,
}

#[derive(Debug, Default)]
struct CheckpointState {
    last: Option<Checkpoint>,
    /// Whether the directory was synced after `last` was renamed into place.
    rename_synced: bool,
    written_at: Option<Instant>,
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

    /// `offset` if it is in `[log_start, leo]`, else [`StorageError::OffsetOutOfRange`].
    fn check_in_log(&self, offset: i64) -> Result<()> {
        let (log_start, leo) = (self.log_start(), self.leo());
        if offset < log_start || offset > leo {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start,
                leo,
            });
        }
        Ok(())
    }

    /// The segment holding `offset` (the last whose base is at or below it).
    fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base <= offset)
            .saturating_sub(1)
    }
}

impl ReplicaLog {
    /// Open the replica log in `dir`, creating the directory and an empty log if needed.
    /// Recovers from an unclean stop (see [`RecoveryReport`]).
    pub fn open(dir: impl Into<PathBuf>, config: StorageConfig) -> Result<Self> {
        Self::open_in(dir, config, FilePool::global())
    }

    /// [`ReplicaLog::open`] with the segments' files kept open in `pool`.
    pub(crate) fn open_in(
        dir: impl Into<PathBuf>,
        config: StorageConfig,
        pool: Arc<FilePool>,
    ) -> Result<Self> {
        config.validate()?;
        let dir = dir.into();
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let lock = lock_log(&dir)?;
        let clean = checkpoint::take_clean_shutdown_marker(&dir)?;
        let saved = match checkpoint::read_checkpoint(&dir)? {
            CheckpointRead::Valid(cp) => Some(cp),
            CheckpointRead::Missing => None,
            CheckpointRead::Invalid => {
                tracing::error!(dir = %dir.display(), "unreadable replica checkpoint; validating every segment");
                None
            }
        };
        let loaded = recovery::load(
            &dir,
            &config,
            clean,
            saved.map(|cp| cp.recovery_point),
            &pool,
        )?;
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
        let torn_tail = u64::from(report.truncated_bytes > 0);
        crate::metrics::log_recovered(
            report.elapsed,
            torn_tail + report.corrupt_segments.len() as u64,
        );
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
            pool,
            state: RwLock::new(state),
            hw: AtomicI64::new(hw),
            group: GroupCommit::new(durable),
            unsynced_sealed: Mutex::new(unsynced),
            dir_dirty: AtomicBool::new(true),
            checkpoint: Mutex::new(CheckpointState::default()),
            report,
            appends: AtomicU64::new(0),
            signal: Arc::new(Signal::new()),
            _lock: lock,
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

    /// Move the high watermark to `hw`, anywhere in `[log_start, leo]` (keeping it monotonic
    /// is the replication layer's rule). Returns whether it changed.
    ///
    /// Persisting is lazy: the background thread writes the checkpoint at most every
    /// `hw_checkpoint_interval` (and truncate and close write it at once), so this never
    /// waits on the disk. With `hw_checkpoint_interval` zero it writes the checkpoint (two
    /// fsyncs) before returning instead.
    pub fn set_hw(&self, hw: i64) -> Result<bool> {
        let changed = {
            // Held while the high watermark moves: a truncation cannot run in between.
            let st = self.shared.open_state()?;
            st.check_in_log(hw)?;
            self.shared.hw.swap(hw, Ordering::AcqRel) != hw
        };
        if changed && self.shared.config.hw_checkpoint_interval.is_zero() {
            self.shared.write_checkpoint(true)?;
        }
        Ok(changed)
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
            run_blocking(&shared.dir, move || scrub.verify()).await
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

impl Shared {
    fn read_state(&self) -> RwLockReadGuard<'_, LogState> {
        sync::read(&self.state)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, LogState> {
        sync::write(&self.state)
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
}
