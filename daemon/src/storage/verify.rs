//! Scrubbing a replica's log on request (`fluvio partition verify`): every batch of every
//! segment is read and checked (header, length, CRC-32C, offsets continuing), and every
//! range that does not read back is reported, not just the first.
//!
//! After a bad batch whose header still parses, the scan skips it by its stated length and
//! goes on; the length is outside the CRC, so if it was the damaged field the next header
//! will not parse either, and the rest of the segment is reported as one unreadable range.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::record::batch::BatchError;

use super::error::{CorruptionKind, Result, StorageError};
use super::file_pool::PooledFile;
use super::segment::{read_header, scan_batches};

/// What a scrub checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u32,
    /// Batches, records and bytes that read back.
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    pub problems: Vec<CorruptRange>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A range of a segment file that does not read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRange {
    pub segment: PathBuf,
    /// Byte position in the segment and length of the range; length 0 at the end of a
    /// segment for offsets missing before the next one.
    pub position: u64,
    pub length: u64,
    /// The offsets the range holds (or should hold), inclusive.
    pub first_offset: i64,
    pub last_offset: i64,
    pub kind: CorruptionKind,
}

/// A segment as the log knew it when the scrub started.
pub(crate) struct SegmentView {
    /// Opened through the pool for the segment's scan only.
    pub file: PooledFile,
    pub path: Arc<Path>,
    pub base: i64,
    /// Bytes of batches in the file.
    pub size: u64,
    /// The offset after its last batch (for a sealed segment, the next one's base).
    pub end: i64,
}

pub(crate) fn verify_segments(segments: &[SegmentView]) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for segment in segments {
        report.segments += 1;
        verify_segment(segment, &mut report)?;
    }
    Ok(report)
}

fn verify_segment(seg: &SegmentView, report: &mut VerifyReport) -> Result<()> {
    let file = seg.file.get()?;
    let mut position = 0;
    let mut offset = seg.base;
    while position < seg.size {
        let scan = scan_batches(&file, &seg.path, position, offset, seg.size, |_, h| {
            report.batches += 1;
            report.records += h.record_count().max(0) as u64;
            report.bytes += h.total_len() as u64;
        })?;
        let Some(kind) = scan.problem else {
            position = scan.end_position;
            offset = scan.end_offset;
            break;
        };
        let at = scan.end_position;
        let expected = scan.end_offset;
        let header = match read_header(&file, &seg.path, at) {
            Ok(header) if at + header.total_len() as u64 <= seg.size => Some(header),
            Ok(_) | Err(StorageError::Corrupt { .. }) => None,
            Err(err) => return Err(err),
        };
        let Some(header) = header else {
            // No usable length: nothing after this point can be located.
            report.problems.push(CorruptRange {
                segment: seg.path.to_path_buf(),
                position: at,
                length: seg.size - at,
                first_offset: expected,
                last_offset: seg.end.saturating_sub(1).max(expected),
                kind,
            });
            return Ok(());
        };
        let len = header.total_len() as u64;
        let (first, next) = match &kind {
            // The batch is intact, only numbered wrong: report its own offsets.
            CorruptionKind::OffsetGap { .. } => (
                header.base_offset,
                header.base_offset.saturating_add(header.record_count()),
            ),
            // It holds no records (a valid CRC over a negative delta).
            CorruptionKind::Batch(BatchError::BadLength(_)) => (expected, expected),
            // The damage may be anywhere in the covered bytes, the record count included;
            // the offsets it should hold start where the log had got to.
            _ => {
                let count = header.record_count().max(1);
                (expected, expected.saturating_add(count))
            }
        };
        report.problems.push(CorruptRange {
            segment: seg.path.to_path_buf(),
            position: at,
            length: len,
            first_offset: first,
            last_offset: next.saturating_sub(1).max(first),
            kind,
        });
        position = at + len;
        offset = next;
    }
    if offset < seg.end && position >= seg.size {
        report.problems.push(CorruptRange {
            segment: seg.path.to_path_buf(),
            position: seg.size,
            length: 0,
            first_offset: offset,
            last_offset: seg.end - 1,
            kind: CorruptionKind::MissingTail {
                expected: seg.end,
                found: offset,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::time::Duration;

    use super::*;
    use crate::storage::test_support::batch_with_values;
    use crate::storage::{ReplicaLog, StorageConfig};

    fn config() -> StorageConfig {
        StorageConfig {
            segment_max_bytes: 1024,
            index_interval_bytes: 256,
            hw_checkpoint_interval: Duration::ZERO,
            ..StorageConfig::default()
        }
    }

    /// A log of 30 single-record batches of 100 bytes each (about 160 bytes a batch, so a
    /// few sealed segments), closed cleanly. Returns the segment files in order.
    fn filled(dir: &Path) -> Vec<PathBuf> {
        let log = ReplicaLog::open(dir, config()).unwrap();
        for i in 0..30u8 {
            let mut batch = batch_with_values(&[vec![b'a' + i % 26; 100]], 1_700_000_000_000);
            log.append_as_leader(&mut batch).unwrap();
        }
        log.close().unwrap();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        assert!(logs.len() >= 3, "{logs:?}");
        logs
    }

    fn flip(path: &Path, position: u64) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, position).unwrap();
        file.write_all_at(&[byte[0] ^ 0xff], position).unwrap();
    }

    /// The base offset a segment's file name gives.
    fn base_of(path: &Path) -> i64 {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        stem.parse().unwrap()
    }

    /// The size of a segment's first batch.
    fn batch_len(path: &Path) -> u64 {
        let bytes = std::fs::read(path).unwrap();
        protocol::record::batch::BatchHeader::parse(&bytes)
            .unwrap()
            .total_len() as u64
    }

    #[test]
    fn a_healthy_log_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let logs = filled(dir.path());
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.segments as usize, logs.len());
        assert_eq!(report.batches, 30);
        assert_eq!(report.records, 30);
        let on_disk: u64 = logs
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(report.bytes, on_disk);
    }

    #[test]
    fn every_bad_batch_is_reported_with_its_offsets_and_the_scan_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let logs = filled(dir.path());
        let len = batch_len(&logs[0]);
        let second_base: i64 = base_of(&logs[1]);
        // A value byte of the first segment's second batch, a value byte of the second
        // segment's first batch, and the magic byte of the third segment's first batch.
        flip(&logs[0], len + len - 10);
        flip(&logs[1], len - 10);
        flip(&logs[2], 16);
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.verify().unwrap();
        let third_base: i64 = base_of(&logs[2]);
        let third_end = if logs.len() > 3 {
            base_of(&logs[3])
        } else {
            30
        };
        let seen: Vec<_> = report
            .problems
            .iter()
            .map(|p| (p.segment.clone(), p.position, p.first_offset, p.last_offset))
            .collect();
        assert_eq!(
            seen,
            [
                (logs[0].clone(), len, 1, 1),
                (logs[1].clone(), 0, second_base, second_base),
                (logs[2].clone(), 0, third_base, third_end - 1),
            ]
        );
        assert!(matches!(
            report.problems[0].kind,
            CorruptionKind::Batch(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            report.problems[2].kind,
            CorruptionKind::Batch(BatchError::BadMagic(_))
        ));
        // The rest was read and counted.
        let lost = 2 + (third_end - third_base) as u64;
        assert_eq!(report.batches, 30 - lost);
    }

    #[test]
    fn a_batch_numbered_out_of_order_is_an_offset_gap() {
        let dir = tempfile::tempdir().unwrap();
        let logs = filled(dir.path());
        let len = batch_len(&logs[0]);
        // The base offset is outside the CRC: rewrite the second batch's to 7.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&logs[0])
            .unwrap();
        file.write_all_at(&7i64.to_be_bytes(), len).unwrap();
        drop(file);
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.verify().unwrap();
        let p = &report.problems[0];
        assert_eq!((p.position, p.first_offset, p.last_offset), (len, 7, 7));
        assert_eq!(
            p.kind,
            CorruptionKind::OffsetGap {
                expected: 1,
                found: 7
            }
        );
    }
}
