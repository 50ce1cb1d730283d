//! Durability off the write path: syncing segment data, rolled segments and the directory
//! (shared by concurrent appends through group commit), writing the checkpoint (high
//! watermark and recovery point), and the flusher threads that do both on the flush
//! policy's schedule.
//!
//! The flusher is shared: a few threads for every log of the process (each log is
//! assigned to one of them), not a thread per log, so an SPU with 10,000 partitions does
//! not run 10,000 threads. Each thread visits its logs when they are due (the log's tick)
//! or woken (after a roll), and a log's pass writes its checkpoint only when it changed.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::{Shared, lock};
use crate::storage::checkpoint::{self, Checkpoint};
use crate::storage::config::FlushPolicy;
use crate::storage::error::{IoContext, Result};
use crate::storage::group_commit::SyncOutcome;
use crate::sync;

/// Flusher threads. Syncs and checkpoint writes block on the disk; a few threads let the
/// file system batch the syncs of several logs into one journal commit.
const FLUSH_THREADS: usize = 4;

/// A log's place with the flusher; stopping it (or dropping it) ends the log's passes.
#[derive(Debug)]
pub(super) struct Background {
    job: Arc<Job>,
}

/// Wakes a log's flusher early (after a roll).
#[derive(Debug)]
pub(super) struct Signal {
    work: AtomicBool,
    worker: Arc<Worker>,
}

#[derive(Debug)]
struct Job {
    shared: Weak<Shared>,
    signal: Arc<Signal>,
    tick: Duration,
    /// When the next pass is due; only the worker reads and writes it.
    next_due: Mutex<Instant>,
    /// Held while a pass runs; true once stopped (no pass runs after that).
    stopped: Mutex<bool>,
    /// The same, readable without waiting for a pass to end.
    gone: AtomicBool,
    /// The opener's span (a replica's topic and partition) for the pass's logs.
    span: tracing::Span,
}

#[derive(Debug, Default)]
struct Worker {
    state: Mutex<WorkerState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct WorkerState {
    jobs: Vec<Arc<Job>>,
    notified: bool,
}

/// The process's flusher threads, started on first use.
struct Flusher {
    workers: Vec<Arc<Worker>>,
    next: AtomicUsize,
}

fn flusher() -> &'static Flusher {
    static FLUSHER: OnceLock<Flusher> = OnceLock::new();
    FLUSHER.get_or_init(|| {
        let workers: Vec<Arc<Worker>> = (0..FLUSH_THREADS)
            .map(|_| Arc::new(Worker::default()))
            .collect();
        for (i, worker) in workers.iter().enumerate() {
            let worker = worker.clone();
            // Without its flusher a log still works (appends under `always` sync
            // themselves); a process that cannot start a thread at all is failing anyway.
            if let Err(err) = std::thread::Builder::new()
                .name(format!("storage-flush-{i}"))
                .spawn(move || worker.run())
            {
                tracing::error!(%err, "cannot start a storage flusher thread");
            }
        }
        Flusher {
            workers,
            next: AtomicUsize::new(0),
        }
    })
}

impl Shared {
    /// Sync rolled segments and, when `include_active`, the active one. Returns the offset
    /// below which everything is now durable.
    pub(super) fn sync_files(&self, include_active: bool) -> Result<SyncOutcome> {
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
            s.file.get()?.sync_data().ctx("fsync", &s.log_path)?;
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
            file.get()?.sync_data().ctx("fsync", &path)?;
        }
        if !sealed.is_empty() {
            lock(&self.unsynced_sealed).retain(|s| !sealed.iter().any(|d| d.file.same(&s.file)));
        }
        Ok(SyncOutcome { upto, generation })
    }

    pub(super) fn flush_all(&self) -> Result<()> {
        self.group.sync_now(|| self.sync_files(true))
    }

    /// Write the checkpoint if it changed, and (unless `force`) the last write is older
    /// than `hw_checkpoint_interval`.
    pub(super) fn write_checkpoint(&self, force: bool) -> Result<()> {
        let mut cp = lock(&self.checkpoint);
        let current = Checkpoint {
            hw: self.hw.load(Ordering::Acquire),
            recovery_point: self.group.durable(),
        };
        if cp.last == Some(current) {
            if force && !cp.rename_synced {
                checkpoint::sync_dir(&self.dir)?;
                cp.rename_synced = true;
            }
            return Ok(());
        }
        let due = cp
            .written_at
            .is_none_or(|at| at.elapsed() >= self.config.hw_checkpoint_interval);
        if !(force || due) {
            return Ok(());
        }
        // A forced write (open, close, truncation, flush) is a step others rely on: durable
        // at once. A periodic one may come back older after a crash (see the checkpoint).
        checkpoint::write_checkpoint(&self.dir, current, force)?;
        cp.last = Some(current);
        cp.rename_synced = force;
        cp.written_at = Some(Instant::now());
        Ok(())
    }

    pub(super) fn wake_background(&self) {
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

impl Background {
    pub(super) fn start(shared: &Arc<Shared>) -> Result<Self> {
        let checkpoint_tick = shared
            .config
            .hw_checkpoint_interval
            .max(Duration::from_millis(100));
        let tick = match shared.config.flush {
            FlushPolicy::Interval(every) => every.min(checkpoint_tick),
            _ => checkpoint_tick,
        };
        let job = Arc::new(Job {
            shared: Arc::downgrade(shared),
            signal: shared.signal.clone(),
            tick,
            next_due: Mutex::new(Instant::now() + tick),
            stopped: Mutex::new(false),
            gone: AtomicBool::new(false),
            span: tracing::Span::current(),
        });
        let worker = &shared.signal.worker;
        lock(&worker.state).jobs.push(job.clone());
        worker.notify();
        Ok(Self { job })
    }

    /// End the log's passes; returns once a pass in progress has finished.
    pub(super) fn stop(&mut self) {
        *lock(&self.job.stopped) = true;
        self.job.gone.store(true, Ordering::Release);
    }
}

impl Job {
    fn run(&self) {
        let mut stopped = lock(&self.stopped);
        if *stopped {
            return;
        }
        self.signal.work.store(false, Ordering::Release);
        *lock(&self.next_due) = Instant::now() + self.tick;
        let _in_replica = self.span.enter();
        let alive = self
            .shared
            .upgrade()
            .is_some_and(|shared| shared.background_pass());
        if !alive {
            *stopped = true;
            self.gone.store(true, Ordering::Release);
        }
    }
}

impl Worker {
    fn notify(&self) {
        lock(&self.state).notified = true;
        self.cond.notify_one();
    }

    fn run(&self) {
        loop {
            let due = self.wait_for_due();
            for job in due {
                job.run();
            }
        }
    }

    /// Wait until some job is due or woken, and return those.
    fn wait_for_due(&self) -> Vec<Arc<Job>> {
        let mut st = lock(&self.state);
        loop {
            st.jobs.retain(|job| !job.gone.load(Ordering::Acquire));
            let now = Instant::now();
            let mut wait = Duration::from_secs(1);
            let mut due = Vec::new();
            for job in &st.jobs {
                let next = *lock(&job.next_due);
                if job.signal.work.load(Ordering::Acquire) || next <= now {
                    due.push(job.clone());
                } else {
                    wait = wait.min(next - now);
                }
            }
            if !due.is_empty() {
                return due;
            }
            st.notified = false;
            st = sync::wait_timeout_while(&self.cond, st, wait, |s| !s.notified).0;
        }
    }
}

impl Signal {
    /// A signal for a new log, which goes to the next flusher thread in turn.
    pub(super) fn new() -> Self {
        let flusher = flusher();
        let i = flusher.next.fetch_add(1, Ordering::Relaxed) % flusher.workers.len();
        Self {
            work: AtomicBool::new(false),
            worker: flusher.workers[i].clone(),
        }
    }

    pub(super) fn wake(&self) {
        self.work.store(true, Ordering::Release);
        self.worker.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::replica::tests::*;

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

    /// Many logs share the flusher's few threads: each log's high watermark still reaches
    /// its checkpoint, and the process runs no thread per log.
    #[test]
    fn many_logs_share_the_flusher_threads() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            hw_checkpoint_interval: Duration::from_millis(20),
            ..config()
        };
        let logs: Vec<ReplicaLog> = (0..40)
            .map(|i| ReplicaLog::open(dir.path().join(format!("p-{i}")), config.clone()).unwrap())
            .collect();
        for (i, log) in logs.iter().enumerate() {
            log.append_as_leader(&mut batch(i + 1, 10, 1)).unwrap();
            log.set_hw(i as i64 + 1).unwrap();
        }
        // No timing assertion: wait (bounded only by the test harness) for every checkpoint.
        for (i, log) in logs.iter().enumerate() {
            loop {
                if let CheckpointRead::Valid(cp) = checkpoint::read_checkpoint(log.dir()).unwrap()
                    && cp.hw == i as i64 + 1
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let storage_threads = fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| fs::read_to_string(task.unwrap().path().join("comm")).ok())
            .filter(|name| name.starts_with("storage-"))
            .count();
        assert!(
            storage_threads <= FLUSH_THREADS,
            "{storage_threads} storage threads for 40 logs"
        );
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
