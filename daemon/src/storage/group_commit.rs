//! Group commit: many appenders, one fsync.
//!
//! Appenders write under the log's lock, then wait here until the "durable up to" offset
//! covers their batches. Whoever finds no sync in progress becomes the flusher: it snapshots
//! the log end, syncs, publishes the new durable offset and wakes everyone. Appenders that
//! wrote while that sync ran are covered by the next one, which one of them leads. Under
//! load each sync therefore covers every append that finished writing before it started.
//!
//! Truncation bumps a generation: an appender whose write came before a truncation is told
//! its data may be gone rather than acknowledged by a sync of different bytes.

use std::io;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::error::{Result, StorageError};
use crate::sync;

/// What one sync made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncOutcome {
    /// Every offset below this is on stable storage.
    pub upto: i64,
    /// The truncation generation the snapshot was taken in.
    pub generation: u64,
}

#[derive(Debug, Clone)]
struct Failure {
    op: &'static str,
    path: PathBuf,
    kind: io::ErrorKind,
}

#[derive(Debug)]
struct CommitState {
    durable: i64,
    flushing: bool,
    generation: u64,
    syncs: u64,
    failed: Option<Failure>,
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<CommitState>,
    cond: Condvar,
}

impl GroupCommit {
    pub fn new(durable: i64) -> Self {
        Self {
            state: Mutex::new(CommitState {
                durable,
                flushing: false,
                generation: 0,
                syncs: 0,
                failed: None,
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CommitState> {
        // Nothing here panics while holding the lock; a poisoned mutex still holds valid state.
        sync::lock(&self.state)
    }

    pub fn durable(&self) -> i64 {
        self.lock().durable
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// How many syncs ran (for statistics and tests).
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// The error every write should fail with after a failed write or sync.
    pub fn check_failed(&self) -> Result<()> {
        match &self.lock().failed {
            Some(f) => Err(f.to_error()),
            None => Ok(()),
        }
    }

    /// Refuse further writes: after a failed fsync the kernel may have dropped dirty pages.
    pub fn fail(&self, op: &'static str, path: PathBuf, kind: io::ErrorKind) {
        let mut st = self.lock();
        if st.failed.is_none() {
            st.failed = Some(Failure { op, path, kind });
        }
        self.cond.notify_all();
    }

    /// The log was truncated to `new_leo`: what was above it is no longer durable data.
    pub fn truncated(&self, new_leo: i64) {
        let mut st = self.lock();
        st.durable = st.durable.min(new_leo);
        st.generation += 1;
        self.cond.notify_all();
    }

    /// The log was reset to start at `offset` with nothing in it.
    pub fn reset(&self, offset: i64) {
        let mut st = self.lock();
        st.durable = offset;
        st.generation += 1;
        self.cond.notify_all();
    }

    /// Block until every offset below `target` is durable. `written_in` is the generation
    /// the caller's write happened in. `sync` runs at most once per group of waiters.
    pub fn wait_durable(
        &self,
        target: i64,
        written_in: u64,
        mut sync: impl FnMut() -> Result<SyncOutcome>,
    ) -> Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(f) = &st.failed {
                return Err(f.to_error());
            }
            if st.generation != written_in {
                return Err(StorageError::TruncatedBeforeDurable {
                    next_offset: target,
                });
            }
            if st.durable >= target {
                return Ok(());
            }
            if st.flushing {
                st = sync::wait(&self.cond, st);
                continue;
            }
            let (guard, result) = self.lead(st, &mut sync);
            st = guard;
            result?;
        }
    }

    /// Run one sync now (waiting for one in progress first), for flushes outside appends.
    pub fn sync_now(&self, mut sync: impl FnMut() -> Result<SyncOutcome>) -> Result<()> {
        let mut st = self.lock();
        while st.flushing {
            st = sync::wait(&self.cond, st);
        }
        if let Some(f) = &st.failed {
            return Err(f.to_error());
        }
        self.lead(st, &mut sync).1
    }

    fn lead<'a>(
        &'a self,
        mut st: MutexGuard<'a, CommitState>,
        sync: &mut impl FnMut() -> Result<SyncOutcome>,
    ) -> (MutexGuard<'a, CommitState>, Result<()>) {
        st.flushing = true;
        drop(st);
        let started = std::time::Instant::now();
        let result = sync();
        crate::metrics::fsync_done(started.elapsed());
        let mut st = self.lock();
        st.flushing = false;
        st.syncs += 1;
        let result = match result {
            Ok(outcome) => {
                // A snapshot taken before a truncation says nothing about the bytes now there.
                if outcome.generation == st.generation {
                    crate::metrics::group_commit(outcome.upto - st.durable);
                    st.durable = st.durable.max(outcome.upto);
                }
                Ok(())
            }
            Err(err) => {
                if let StorageError::Io { op, path, source } = &err {
                    st.failed.get_or_insert_with(|| Failure {
                        op,
                        path: path.clone(),
                        kind: source.kind(),
                    });
                }
                Err(err)
            }
        };
        self.cond.notify_all();
        (st, result)
    }
}

impl Failure {
    fn to_error(&self) -> StorageError {
        StorageError::Poisoned {
            path: self.path.clone(),
            op: self.op,
            kind: self.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::mpsc;
    use std::thread;

    /// Three appenders, two syncs: the second sync covers both appenders that wrote while
    /// the first ran. The fake sync blocks until the test releases it, so this is
    /// deterministic.
    #[test]
    fn appends_during_a_sync_share_the_next_one() {
        let gc = Arc::new(GroupCommit::new(0));
        let leo = Arc::new(AtomicI64::new(0));
        let (entered_tx, entered_rx) = mpsc::channel::<i64>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));

        let appender = |end: i64| {
            let gc = gc.clone();
            let leo = leo.clone();
            let entered_tx = entered_tx.clone();
            let release_rx = release_rx.clone();
            thread::spawn(move || {
                leo.fetch_max(end, Ordering::SeqCst);
                gc.wait_durable(end, 0, || {
                    let upto = leo.load(Ordering::SeqCst);
                    entered_tx.send(upto).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                    Ok(SyncOutcome {
                        upto,
                        generation: 0,
                    })
                })
            })
        };

        let first = appender(10);
        assert_eq!(entered_rx.recv().unwrap(), 10);
        // While the first sync is blocked, two more appends land and wait.
        let second = appender(20);
        let third = appender(30);
        wait_until(|| leo.load(Ordering::SeqCst) == 30);
        release_tx.send(()).unwrap();
        first.join().unwrap().unwrap();
        // One of the two waiters leads the next sync, which covers offset 30.
        assert_eq!(entered_rx.recv().unwrap(), 30);
        release_tx.send(()).unwrap();
        second.join().unwrap().unwrap();
        third.join().unwrap().unwrap();
        assert_eq!(gc.syncs(), 2);
        assert_eq!(gc.durable(), 30);
        assert!(entered_rx.try_recv().is_err());
    }

    fn wait_until(cond: impl Fn() -> bool) {
        while !cond() {
            thread::yield_now();
        }
    }

    #[test]
    fn already_durable_waits_do_not_sync() {
        let gc = GroupCommit::new(100);
        gc.wait_durable(50, 0, unreachable_sync).unwrap();
        assert_eq!(gc.syncs(), 0);
    }

    #[test]
    fn truncation_fails_pending_waiters_and_ignores_stale_syncs() {
        let gc = GroupCommit::new(0);
        // The sync snapshot is taken in generation 0; the log is truncated before it ends.
        let stale = gc.wait_durable(10, 0, || {
            gc.truncated(0);
            Ok(SyncOutcome {
                upto: 10,
                generation: 0,
            })
        });
        assert!(matches!(
            stale,
            Err(StorageError::TruncatedBeforeDurable { next_offset: 10 })
        ));
        assert_eq!(gc.durable(), 0);
        assert!(matches!(
            gc.wait_durable(5, 0, unreachable_sync),
            Err(StorageError::TruncatedBeforeDurable { next_offset: 5 })
        ));
        // Writes made after the truncation are synced as usual.
        gc.wait_durable(5, 1, || {
            Ok(SyncOutcome {
                upto: 5,
                generation: 1,
            })
        })
        .unwrap();
        assert_eq!(gc.durable(), 5);
    }

    fn unreachable_sync() -> Result<SyncOutcome> {
        panic!("this wait must not sync")
    }

    #[test]
    fn a_failed_sync_poisons_every_later_wait() {
        let gc = GroupCommit::new(0);
        let err = gc
            .wait_durable(1, 0, || {
                Err(StorageError::Io {
                    op: "fsync",
                    path: PathBuf::from("/x/00000000000000000000.log"),
                    source: io::Error::other("EIO"),
                })
            })
            .unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }));
        assert!(matches!(
            gc.wait_durable(1, 0, unreachable_sync),
            Err(StorageError::Poisoned { op: "fsync", .. })
        ));
        assert!(gc.check_failed().is_err());
    }
}
