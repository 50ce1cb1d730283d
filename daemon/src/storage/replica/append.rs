//! Appending: check every batch before writing any (header, length, CRC-32C, size
//! limits), give them offsets (a leader assigns, a follower must continue the log), write
//! them to the active segment, rolling to a new one when it is full, and undo a write the
//! disk refused halfway.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use protocol::record::batch::{batches, set_base_offset};

use super::truncate::Cut;
use super::{AppendInfo, LogState, ReplicaLog, Shared, lock, sealed_file};
use crate::storage::config::{FlushPolicy, StorageConfig};
use crate::storage::error::{InvalidBatchReason, Result, StorageError, run_blocking};
use crate::storage::segment::{Segment, WriteShape};

/// Offsets past a segment's base that an index entry can hold.
const MAX_RELATIVE_OFFSET: i64 = u32::MAX as i64;
/// Index entries are written to the file in groups of this many.
const INDEX_WRITE_BATCH: usize = 512;

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

impl ReplicaLog {
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
        run_blocking(&self.shared.dir, move || {
            shared.append(Input::Leader(&mut batches))
        })
        .await
    }

    /// [`ReplicaLog::append_as_follower`] on tokio's blocking pool.
    pub async fn append_as_follower_async(&self, batches: Vec<u8>) -> Result<AppendInfo> {
        let shared = self.shared.clone();
        run_blocking(&self.shared.dir, move || {
            shared.append(Input::Follower(&batches))
        })
        .await
    }
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
        batch.verify_crc().map_err(|err| {
            crate::metrics::corrupt_found("append", 1);
            invalid(start, err.into())
        })?;
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

impl Shared {
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
        let new = Segment::create(&self.dir, base, &self.pool)?;
        let old = st.active_mut();
        old.release_reserve();
        if let Err(err) = old.persist_index() {
            tracing::warn!(%err, "index write failed at roll; the next open rebuilds it");
        }
        old.index_open = false;
        let sealed = sealed_file(old);
        st.segments.push(new);
        lock(&self.unsynced_sealed).push(sealed);
        self.dir_dirty.store(true, Ordering::Release);
        tracing::debug!(dir = %self.dir.display(), base, "rolled a new segment");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::replica::tests::*;

    #[test]
    fn a_write_refused_by_the_disk_leaves_the_log_as_it_was() {
        const LIMIT: u64 = 64 * 1024;
        let name =
            "storage::replica::append::tests::a_write_refused_by_the_disk_leaves_the_log_as_it_was";
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
        let segment = dir
            .path()
            .join(crate::storage::segment::file_name(0, "log"));
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
}
