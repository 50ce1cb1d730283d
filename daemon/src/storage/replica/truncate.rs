//! Truncation: cutting the log's suffix (whole batches), under a policy that says whether
//! committed records may go, and starting over empty at an offset.

use std::sync::atomic::Ordering;

use super::{LogState, ReplicaLog, Shared, lock, remove_segment_files};
use crate::storage::error::{IoContext, Result, StorageError};
use crate::storage::segment::Segment;

/// Whether a truncation may cut committed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TruncatePolicy {
    /// Never below the high watermark ([`StorageError::TruncateBelowHighWatermark`]):
    /// committed records are on every in-sync replica and a new leader has them, so a
    /// request to drop them is a bug upstream, not something to obey.
    #[default]
    KeepCommitted,
    /// Also below the high watermark, which comes down with the log end. Only for a
    /// follower whose log diverged from a new leader's: the replication layer keeps a
    /// follower's high watermark at or below what any in-sync replica has, so this should
    /// cut uncommitted records only; it exists so a follower that learned a high watermark
    /// the new leader cannot confirm is not stuck forever.
    DropDiverged,
}

/// Where a truncation cuts, and under which policy. A bare offset converts to
/// [`TruncatePolicy::KeepCommitted`], the safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncate {
    pub offset: i64,
    pub policy: TruncatePolicy,
}

impl Truncate {
    /// Cut at `offset`, below the high watermark if need be ([`TruncatePolicy::DropDiverged`]).
    pub fn diverged(offset: i64) -> Self {
        Self {
            offset,
            policy: TruncatePolicy::DropDiverged,
        }
    }
}

impl From<i64> for Truncate {
    fn from(offset: i64) -> Self {
        Self {
            offset,
            policy: TruncatePolicy::KeepCommitted,
        }
    }
}

impl ReplicaLog {
    /// Drop every record at and after the offset of `to` (a follower discarding a diverged
    /// suffix after a leader change). Whole batches go: when the offset is inside a batch,
    /// the log is cut before that batch, so the new log end can be below the offset; it is
    /// returned. `to`'s policy says whether committed records may go.
    pub fn truncate(&self, to: impl Into<Truncate>) -> Result<i64> {
        let Truncate { offset, policy } = to.into();
        let mut st = self.shared.open_state_mut()?;
        self.shared.group.check_failed()?;
        st.check_in_log(offset)?;
        let leo = st.leo();
        let hw = self.shared.hw.load(Ordering::Acquire);
        if offset < hw {
            match policy {
                TruncatePolicy::KeepCommitted => {
                    return Err(StorageError::TruncateBelowHighWatermark {
                        requested: offset,
                        hw,
                    });
                }
                TruncatePolicy::DropDiverged => {
                    tracing::warn!(dir = %self.shared.dir.display(), hw, offset, "truncating below the high watermark: the new leader does not have these records");
                    self.shared.hw.store(offset, Ordering::Release);
                }
            }
        }
        // The high watermark is at most the log end, so it was not lowered here.
        if offset == leo {
            return Ok(leo);
        }
        let new_leo = self.shared.truncate_locked(&mut st, offset, Cut::Records)?;
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
        match Segment::create(&shared.dir, offset, &shared.pool) {
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
}

impl Shared {
    /// Cut the log to end at or before `offset` (the start of the batch holding it).
    pub(super) fn truncate_locked(&self, st: &mut LogState, offset: i64, cut: Cut) -> Result<i64> {
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
            .and_then(|()| seg.file.get()?.sync_data().ctx("fsync", &seg.log_path));
        if let Err(err) = result {
            self.poison_on(&err);
            return Err(err);
        }
        let active_file = seg.file.clone();
        lock(&self.unsynced_sealed).retain(|s| {
            !s.file.same(&active_file) && st.segments.iter().any(|g| g.file.same(&s.file))
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
}

/// What a cut removes, which decides whether appends waiting for a sync must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// Records that were in the log: a sync may have covered them, so appends still
    /// waiting for one cannot be acknowledged by it.
    Records,
    /// The bytes of an append that failed while it held the write lock: no sync can have
    /// seen them, so appends waiting for a sync of the records before them still get it.
    FailedAppend,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::replica::tests::*;

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
            log.truncate(Truncate::diverged(11)),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        // At or above the hw it behaves like truncate.
        assert_eq!(log.truncate(Truncate::diverged(9)).unwrap(), 8);
        assert_eq!(log.hw(), 8);
        assert_eq!(log.truncate(Truncate::diverged(4)).unwrap(), 4);
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
}
