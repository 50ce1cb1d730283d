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
}
