//! Reading: whole batches from the one holding an offset, as file ranges for zero-copy
//! sends, capped at the high watermark or the log end.

use std::sync::atomic::Ordering;

use super::{Isolation, ReplicaLog, Shared};
use crate::storage::error::{Result, StorageError};
use crate::storage::slice::{FileRange, ReadSlice};

impl ReplicaLog {
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
}

impl Shared {
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
        st.check_in_log(offset)?;
        let (log_start, leo) = (st.log_start(), st.leo());
        let hw = self.hw.load(Ordering::Acquire);
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
                seg.file.get()?,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::replica::tests::*;

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
}
