//! Durability off the write path: syncing segment data, rolled segments and the directory
//! (shared by concurrent appends through group commit), writing the checkpoint (high
//! watermark and recovery point), and the background thread that does both on the flush
//! policy's schedule.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Shared, lock};
use crate::storage::checkpoint::{self, Checkpoint};
use crate::storage::config::FlushPolicy;
use crate::storage::error::{IoContext, Result};
use crate::storage::group_commit::SyncOutcome;
use crate::sync;

/// The thread that runs interval flushes, syncs rolled segments and writes lagging
/// checkpoints.
#[derive(Debug)]
pub(super) struct Background {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
pub(super) struct Signal {
    state: Mutex<SignalState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
pub(super) struct SignalState {
    stop: bool,
    work: bool,
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
        // The opener's span (a replica's topic and partition) goes with the thread.
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let _in_replica = span.enter();
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

    pub(super) fn stop(&mut self) {
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
        let (mut st, _) = sync::wait_timeout_while(&self.cond, st, tick, |s| !s.stop && !s.work);
        st.work = false;
        !st.stop
    }

    pub(super) fn wake(&self) {
        lock(&self.state).work = true;
        self.cond.notify_all();
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
