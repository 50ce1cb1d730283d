//! Retention: deleting whole sealed segments past the topic's retention time or beyond
//! its maximum partition size, never data a follower may still need.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{ReplicaLog, RetentionOutcome, remove_segment_files};
use crate::storage::error::Result;
use crate::storage::segment::Segment;

impl ReplicaLog {
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
}

/// How old a segment's newest data is.
fn segment_age_ms(seg: &Segment, now_ms: i64) -> i64 {
    let newest = seg.newest_timestamp.or_else(|| {
        let modified = seg.file.get().ok()?.metadata().ok()?.modified().ok()?;
        let ms = modified.duration_since(UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok()
    });
    // Unknown age: keep it.
    newest.map_or(i64::MIN, |t| now_ms.saturating_sub(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::replica::tests::*;

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
}
