//! Loading a replica directory: which segments exist, how far each is valid, which
//! indexes to rebuild.
//!
//! Rules:
//! - After an unclean stop (no clean-shutdown marker), every segment from the one holding
//!   the checkpoint's recovery point on is validated batch by batch (length, CRC-32C,
//!   offsets continuing) and its index rebuilt. The log is cut at the first bad or partial
//!   batch and later segments are deleted: nothing after a hole can be served in order,
//!   and bytes past the recovery point were never synced, so a torn tail there is the
//!   expected outcome of a crash.
//! - Older, sealed segments (and every segment after a clean stop) get a cheap check: the
//!   index's last entry must point at the batch it names and the batches after it must be
//!   valid and end where the next segment starts. A failed index check rebuilds the index.
//!   Corruption found in a sealed segment is logged as an error and marked: reads of that
//!   range fail with [`StorageError::Corrupt`](super::StorageError::Corrupt); nothing is
//!   dropped.
//! - After a clean stop nothing is cut, the active segment included. A clean close syncs
//!   everything and never leaves a torn tail, so a bad batch there is damage to data that
//!   was acknowledged: the active segment is marked corrupt like a sealed one, sealed, and
//!   a new active segment starts at the log end as of the close, so appends go on at the
//!   right offset and no offset that was handed out is ever given to other data.
//! - That log end is the larger of the checkpoint's recovery point (a clean close writes
//!   it after syncing everything, so it is the log end then) and the end the damaged
//!   batch's and later batches' headers give when they still chain to the end of the file.
//!   When neither is known (no usable checkpoint and a damaged header), the new segment
//!   starts past the most offsets the damaged bytes could hold (2^31 per batch header's
//!   worth of bytes): a gap of unused offsets is harmless, while guessing low would hand
//!   acknowledged offsets to new records, and refusing appends would leave the partition
//!   unwritable with no way out short of deleting files. That case is logged at error.
//!   Bytes past the end the checkpoint recorded at the close, after the last good batch,
//!   never held an acknowledged offset (something wrote them since): they are cut.
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::record::batch::BATCH_HEADER_LEN;

use super::checkpoint::{self, CHECKPOINT_TMP_FILE};
use super::config::StorageConfig;
use super::error::{CorruptionKind, IoContext, Result};
use super::file_pool::FilePool;
use super::segment::{
    CorruptMark, INDEX_SUFFIX, LOG_SUFFIX, Scan, Segment, parse_file_name, read_header,
};

/// What opening a replica log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The clean-shutdown marker was there.
    pub clean_shutdown: bool,
    pub segments: usize,
    /// Segments validated batch by batch.
    pub segments_validated: usize,
    pub indexes_rebuilt: usize,
    /// Bytes cut from torn or corrupt tails (including deleted later segments).
    pub truncated_bytes: u64,
    /// Segments deleted because they came after a cut.
    pub segments_dropped: usize,
    /// Sealed segments with corruption that reads will report.
    pub corrupt_segments: Vec<PathBuf>,
    /// After a clean stop the active segment did not read back to its end: it was sealed
    /// (and is listed in `corrupt_segments`) and a new active segment starts at this offset.
    pub rolled_past_corruption: Option<i64>,
    pub elapsed: Duration,
}

pub(crate) struct Loaded {
    pub segments: Vec<Segment>,
    pub report: RecoveryReport,
    /// Index of the first segment whose data may not be on stable storage yet.
    pub unsynced_from: usize,
}

/// List, open and check the segments in `dir`. `recovery_point` is `None` when unknown,
/// which after an unclean stop means validating everything.
pub(crate) fn load(
    dir: &Path,
    config: &StorageConfig,
    clean: bool,
    recovery_point: Option<i64>,
    pool: &Arc<FilePool>,
) -> Result<Loaded> {
    let started = Instant::now();
    let mut report = RecoveryReport {
        clean_shutdown: clean,
        ..RecoveryReport::default()
    };
    let mut bases = Vec::new();
    let mut index_bases = Vec::new();
    for entry in fs::read_dir(dir).ctx("list", dir)? {
        let entry = entry.ctx("list", dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_file_name(name) {
            Some((base, LOG_SUFFIX)) => bases.push(base),
            Some((base, INDEX_SUFFIX)) => index_bases.push(base),
            _ if name == CHECKPOINT_TMP_FILE => {
                let path = entry.path();
                fs::remove_file(&path).ctx("remove", &path)?;
            }
            _ => {}
        }
    }
    bases.sort_unstable();
    for base in index_bases {
        if bases.binary_search(&base).is_err() {
            let path = dir.join(super::segment::file_name(base, INDEX_SUFFIX));
            tracing::info!(path = %path.display(), "removing an index without a log");
            fs::remove_file(&path).ctx("remove", &path)?;
        }
    }

    if bases.is_empty() {
        let segment = Segment::create(dir, 0, pool)?;
        report.segments = 1;
        report.elapsed = started.elapsed();
        return Ok(Loaded {
            segments: vec![segment],
            report,
            unsynced_from: 0,
        });
    }

    let validate_from = match (clean, recovery_point) {
        (true, _) => bases.len(),
        (false, None) => 0,
        (false, Some(rp)) => bases.partition_point(|&b| b <= rp).saturating_sub(1),
    };
    let rp = recovery_point.unwrap_or(i64::MIN);
    let interval = config.index_interval_bytes;
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let mut i = 0;
    while i < bases.len() {
        let (mut seg, trouble) = Segment::open(dir, bases[i], pool)?;
        let next_base = bases.get(i + 1).copied();
        let is_last = next_base.is_none();
        // Where a new active segment starts when this one has to be sealed.
        let mut roll_at = None;

        if i >= validate_from {
            report.segments_validated += 1;
            report.indexes_rebuilt += 1;
            let scan = seg.rebuild(interval)?;
            let problem = scan.problem.clone().or_else(|| {
                next_base
                    .filter(|&next| next != scan.end_offset)
                    .map(|next| CorruptionKind::MissingTail {
                        expected: next,
                        found: scan.end_offset,
                    })
            });
            let cut = scan.end_position < seg.size;
            if cut {
                cut_tail(&mut seg, &scan, rp, &mut report)?;
            }
            seg.rewrite_index()?;
            if let Some(kind) = problem.filter(|_| !is_last) {
                let dropped = drop_segments(dir, &bases[i + 1..])?;
                tracing::warn!(
                    path = %seg.log_path.display(),
                    %kind,
                    segments = bases.len() - i - 1,
                    bytes = dropped,
                    "log cut after an unclean stop; later segments deleted"
                );
                report.segments_dropped += bases.len() - i - 1;
                report.truncated_bytes += dropped;
                segments.push(seg);
                break;
            }
        } else {
            let tail = match trouble {
                None => seg.check_tail(interval)?,
                Some(trouble) => {
                    tracing::warn!(path = %seg.index_path.display(), ?trouble, "rebuilding index");
                    None
                }
            };
            let scan = match tail {
                Some(scan) => scan,
                None => {
                    report.indexes_rebuilt += 1;
                    let scan = seg.rebuild(interval)?;
                    seg.rewrite_index()?;
                    scan
                }
            };
            let short = next_base.filter(|&next| next != scan.end_offset);
            if is_last {
                // Only after a clean stop: after an unclean one the last segment is always
                // validated above.
                if scan.end_position < seg.size {
                    roll_at =
                        seal_damaged_active(&mut seg, scan, recovery_point, interval, &mut report)?;
                    if roll_at.is_some() {
                        persist_new_entries(&mut seg)?;
                    }
                }
            } else if scan.problem.is_some() || short.is_some() {
                let mark = mark_corrupt(
                    &mut seg,
                    scan,
                    next_base.unwrap_or(i64::MAX),
                    interval,
                    &mut report,
                )?;
                tracing::error!(
                    path = %seg.log_path.display(),
                    position = mark.position,
                    offset = mark.offset,
                    kind = %mark.kind,
                    "sealed segment is corrupt; reads from this point will fail"
                );
            }
            if !is_last {
                persist_new_entries(&mut seg)?;
            }
        }
        if let Some(next) = next_base {
            // Offsets of a sealed segment end where the next one starts, whatever happened.
            seg.end = next;
        }
        segments.push(seg);
        if let Some(base) = roll_at {
            segments.push(Segment::create(dir, base, pool)?);
            // The new segment must survive a crash: without it the damaged one would be the
            // last again, and recovery after an unclean stop cuts a bad last segment.
            checkpoint::sync_dir(dir)?;
        }
        i += 1;
    }

    let last = segments.len() - 1;
    let active = &mut segments[last];
    active.open_index_file()?;
    active.persist_index()?;
    active.reset_index_cursor();
    report.segments = segments.len();
    report.elapsed = started.elapsed();
    Ok(Loaded {
        unsynced_from: validate_from.min(last),
        segments,
        report,
    })
}

/// Cut a torn or corrupt tail after the last good batch.
fn cut_tail(seg: &mut Segment, scan: &Scan, rp: i64, report: &mut RecoveryReport) -> Result<()> {
    let cut_bytes = seg.size - scan.end_position;
    let kind = scan
        .problem
        .as_ref()
        .map_or_else(|| "trailing bytes".to_string(), ToString::to_string);
    if scan.end_offset < rp {
        tracing::error!(
            path = %seg.log_path.display(),
            position = scan.end_position,
            offset = scan.end_offset,
            recovery_point = rp,
            bytes = cut_bytes,
            problem = %kind,
            "cutting data below the recovery point: bytes that were synced do not read back"
        );
    } else {
        tracing::warn!(
            path = %seg.log_path.display(),
            position = scan.end_position,
            offset = scan.end_offset,
            bytes = cut_bytes,
            problem = %kind,
            "cutting a torn tail"
        );
    }
    seg.file
        .get()?
        .set_len(scan.end_position)
        .ctx("truncate", &seg.log_path)?;
    seg.size = scan.end_position;
    seg.end = scan.end_offset;
    seg.index.truncate_to_size(seg.size);
    report.truncated_bytes += cut_bytes;
    Ok(())
}

/// A sealed segment that does not read back: find where, mark it, and keep everything
/// else.
fn mark_corrupt(
    seg: &mut Segment,
    scan: Scan,
    next_base: i64,
    interval: u64,
    report: &mut RecoveryReport,
) -> Result<CorruptMark> {
    let scan = locate_damage(seg, scan, interval, report)?;
    let kind = scan.problem.unwrap_or(CorruptionKind::MissingTail {
        expected: next_base,
        found: scan.end_offset,
    });
    Ok(set_mark(
        seg,
        scan.end_position,
        scan.end_offset,
        kind,
        report,
    ))
}

/// The cheap check starts at the last index entry; locate the first bad batch exactly.
fn locate_damage(
    seg: &mut Segment,
    scan: Scan,
    interval: u64,
    report: &mut RecoveryReport,
) -> Result<Scan> {
    if scan.end_position == 0 || scan.problem.is_none() {
        return Ok(scan);
    }
    let full = seg.rebuild(interval)?;
    seg.rewrite_index()?;
    report.indexes_rebuilt += 1;
    Ok(full)
}

fn set_mark(
    seg: &mut Segment,
    position: u64,
    offset: i64,
    kind: CorruptionKind,
    report: &mut RecoveryReport,
) -> CorruptMark {
    let mark = CorruptMark {
        position,
        offset,
        kind,
    };
    seg.corrupt = Some(mark.clone());
    report.corrupt_segments.push(seg.log_path.to_path_buf());
    mark
}

/// After a clean stop, the active segment does not read back to its end. Mark the damage
/// and seal the segment at the log end as of the close; returns that end, the base of the
/// new active segment (see the module doc for how it is found). `None` when the
/// checkpoint written at the close says the log ended where the good batches end: the
/// bytes after them never held an acknowledged offset and are cut.
fn seal_damaged_active(
    seg: &mut Segment,
    scan: Scan,
    recovery_point: Option<i64>,
    interval: u64,
    report: &mut RecoveryReport,
) -> Result<Option<i64>> {
    let scan = locate_damage(seg, scan, interval, report)?;
    let (position, first) = (scan.end_position, scan.end_offset);
    let kind = scan.problem.clone().unwrap_or(CorruptionKind::MissingTail {
        expected: i64::MAX,
        found: first,
    });
    let chained = chained_end(seg, position, first)?;
    if let (Some(chained), Some(recorded)) = (chained, recovery_point)
        && chained != recorded
    {
        tracing::warn!(
            path = %seg.log_path.display(),
            headers_end = chained,
            checkpoint_end = recorded,
            "the damaged segment's batch headers and the checkpoint disagree on the log end; using the larger"
        );
    }
    let known = chained.into_iter().chain(recovery_point).max();
    let end = match known {
        Some(end) if end > first => {
            tracing::error!(
                path = %seg.log_path.display(),
                position,
                first_offset = first,
                last_offset = end - 1,
                %kind,
                "active segment is corrupt after a clean stop: acknowledged data does not read back; \
                 nothing is cut, reads of these offsets will fail, and appends go on in a new segment \
                 at offset {end}"
            );
            end
        }
        Some(end) if end == first => {
            tracing::error!(
                path = %seg.log_path.display(),
                position,
                offset = first,
                bytes = seg.size - position,
                %kind,
                "bytes after the log end recorded at the clean close (written since?); they never \
                 held an acknowledged offset and are cut"
            );
            cut_tail(seg, &scan, i64::MIN, report)?;
            return Ok(None);
        }
        _ => {
            let damaged = seg.size - position;
            let batches = damaged.div_ceil(BATCH_HEADER_LEN as u64);
            let most = i64::try_from(batches)
                .unwrap_or(i64::MAX)
                .saturating_mul(1 << 31);
            let end = first.saturating_add(most);
            tracing::error!(
                path = %seg.log_path.display(),
                position,
                first_offset = first,
                bytes = damaged,
                %kind,
                "active segment is corrupt after a clean stop and the log end is unknown \
                 (the batch headers do not chain to the end of the file and the checkpoint gives \
                 no usable end); nothing is cut, reads from offset {first} will fail, and appends go \
                 on in a new segment at offset {end}, past any offset the damaged bytes can hold, so \
                 that no acknowledged offset is given to other data"
            );
            end
        }
    };
    set_mark(seg, position, first, kind, report);
    seg.end = end;
    report.rolled_past_corruption = Some(end);
    Ok(Some(end))
}

/// The offset after the last batch, if batch headers from `position` (where offset
/// `offset` should start) chain with continuing offsets exactly to the end of the file.
/// Only headers are read: the batches' contents may be damaged, their extent is not.
fn chained_end(seg: &Segment, mut position: u64, mut offset: i64) -> Result<Option<i64>> {
    while position < seg.size {
        let header = match read_header(&*seg.file.get()?, &seg.log_path, position) {
            Ok(header) => header,
            Err(super::StorageError::Corrupt { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let len = header.total_len() as u64;
        if header.base_offset != offset || header.last_offset_delta < 0 || len > seg.size - position
        {
            return Ok(None);
        }
        position += len;
        offset = header.next_offset();
    }
    Ok(Some(offset))
}

/// Index entries the tail check added to a sealed segment go to its file.
fn persist_new_entries(seg: &mut Segment) -> Result<()> {
    if seg.index.unpersisted() > 0 {
        seg.open_index_file()?;
        seg.persist_index()?;
        seg.index_open = false;
    }
    Ok(())
}

fn drop_segments(dir: &Path, bases: &[i64]) -> Result<u64> {
    let mut bytes = 0;
    for &base in bases.iter().rev() {
        let log = dir.join(super::segment::file_name(base, LOG_SUFFIX));
        bytes += fs::metadata(&log).ctx("stat", &log)?.len();
        fs::remove_file(&log).ctx("remove", &log)?;
        let index = dir.join(super::segment::file_name(base, INDEX_SUFFIX));
        match fs::remove_file(&index) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).ctx("remove", &index);
            }
            _ => {}
        }
    }
    Ok(bytes)
}
