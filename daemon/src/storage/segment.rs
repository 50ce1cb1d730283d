//! One segment: `<base offset:020>.log` holding batches in wire format, end to end, and its
//! sparse `.index`.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::record::batch::{BATCH_HEADER_LEN, BatchError, BatchHeader, CRC_START};

use super::error::{CorruptionKind, IoContext, Result, StorageError};
use super::file_pool::{FilePool, PooledFile};
use super::index::{IndexEntry, IndexProblem, OffsetIndex};

/// The largest single write into the page cache when the data stays there for a while
/// (`--flush never` or `interval`). Measured on the 2-core VMs this runs on (`dd` of 1 GiB
/// to ext4): 64 KiB writes go at 2.5 GB/s, 1 MiB writes at 0.4 GB/s, as the kernel then
/// builds large folios for them; a produce request can carry megabytes.
pub const WRITE_CHUNK: usize = 64 * 1024;

/// How an append's bytes are handed to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteShape {
    /// In pieces of [`WRITE_CHUNK`]: the bytes stay in the page cache until a later flush.
    Pieces,
    /// In one write: an fdatasync follows at once, and writeback of the large folios one
    /// write builds goes faster than of many small ones. Measured here, 1 MiB appends each
    /// followed by fdatasync, interleaved: 16 writes of 64 KiB took 12-15% longer than one.
    Whole,
}

/// Disk blocks reserved ahead of an active segment's writes: at least this much...
const PREALLOCATE_MIN_STEP: u64 = 1 << 20;
/// ...and at most this much (Redpanda reserves 32 MiB steps too), growing with the
/// segment so that many small partitions reserve little.
const PREALLOCATE_MAX_STEP: u64 = 32 << 20;

#[cfg(target_os = "linux")]
fn preallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    fallocate(file, libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

#[cfg(target_os = "linux")]
fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let too_far = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "offset past off_t");
    let offset = libc::off_t::try_from(offset).map_err(|_| too_far())?;
    let len = libc::off_t::try_from(len).map_err(|_| too_far())?;
    // SAFETY: the descriptor is open for the duration of the call (borrowed from `file`);
    // fallocate takes no pointers.
    if unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn preallocate(_: &File, _: u64, _: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";

/// Recovery scans read this much at a time.
const SCAN_CHUNK: usize = 4 << 20;

pub(crate) fn file_name(base: i64, suffix: &str) -> String {
    format!("{base:020}.{suffix}")
}

/// The base offset a segment file name encodes, if it is one of ours.
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = stem.parse::<i64>().ok()?;
    Some((base, suffix))
}

/// Where data in a sealed segment stops being readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CorruptMark {
    pub position: u64,
    pub offset: i64,
    pub kind: CorruptionKind,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base: i64,
    /// The offset after the last batch.
    pub end: i64,
    /// Bytes of batches in the file.
    pub size: u64,
    pub log_path: Arc<Path>,
    pub index_path: PathBuf,
    /// The log file, opened through the process's [`FilePool`] when used.
    pub file: PooledFile,
    /// Set while the segment is active: index entries are appended to its file. The
    /// file is opened for each write (a batch of entries), so a log holds no index open.
    pub index_open: bool,
    pub index: OffsetIndex,
    /// Bytes written since the last index entry (or the segment start).
    pub bytes_since_index: u64,
    /// `max_time_stamp` of the newest batch, if it had a usable one.
    pub newest_timestamp: Option<i64>,
    /// Set when an older segment turned out not to read back; reads stop there.
    pub corrupt: Option<CorruptMark>,
    /// Bytes of the file reserved on disk ahead of the writes (see [`Segment::reserve`]);
    /// `u64::MAX` once the file system refused, so it is not asked again.
    pub preallocated: u64,
}

/// How a scan of batch bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Position after the last good batch.
    pub end_position: u64,
    /// Offset after the last good batch.
    pub end_offset: i64,
    pub newest_timestamp: Option<i64>,
    /// Why the scan stopped before the requested end, if it did.
    pub problem: Option<CorruptionKind>,
}

fn open_rw(path: &Path, create_new: bool) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if create_new {
        options.create_new(true);
    }
    options.open(path).ctx("open", path)
}

impl Segment {
    /// A new, empty, active segment.
    pub fn create(dir: &Path, base: i64, pool: &Arc<FilePool>) -> Result<Self> {
        let log_path: Arc<Path> = Arc::from(dir.join(file_name(base, LOG_SUFFIX)));
        let index_path = dir.join(file_name(base, INDEX_SUFFIX));
        let file = open_rw(&log_path, true)?;
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&index_path)
            .ctx("create", &index_path)?;
        Ok(Self {
            base,
            end: base,
            size: 0,
            file: PooledFile::opened(pool, log_path.clone(), file),
            log_path,
            index_path,
            index_open: true,
            index: OffsetIndex::default(),
            bytes_since_index: 0,
            preallocated: 0,
            newest_timestamp: None,
            corrupt: None,
        })
    }

    /// Open an existing segment's files. The end offset is not known until a scan.
    /// Returns the index problem, if the index file was missing or unusable (it is then
    /// empty in memory and must be rebuilt).
    pub fn open(
        dir: &Path,
        base: i64,
        pool: &Arc<FilePool>,
    ) -> Result<(Self, Option<IndexTrouble>)> {
        let log_path: Arc<Path> = Arc::from(dir.join(file_name(base, LOG_SUFFIX)));
        let index_path = dir.join(file_name(base, INDEX_SUFFIX));
        let file = open_rw(&log_path, false)?;
        let size = file.metadata().ctx("stat", &log_path)?.len();
        let (index, trouble) = match fs::read(&index_path) {
            Ok(bytes) => match OffsetIndex::decode(&bytes) {
                Ok(index) => (index, None),
                Err(problem) => (OffsetIndex::default(), Some(IndexTrouble::Bad(problem))),
            },
            Err(err) if err.kind() == ErrorKind::NotFound => {
                (OffsetIndex::default(), Some(IndexTrouble::Missing))
            }
            Err(err) => return Err(err).ctx("read", &index_path),
        };
        Ok((
            Self {
                base,
                end: base,
                size,
                file: PooledFile::opened(pool, log_path.clone(), file),
                log_path,
                index_path,
                index_open: false,
                index,
                bytes_since_index: 0,
                preallocated: 0,
                newest_timestamp: None,
                corrupt: None,
            },
            trouble,
        ))
    }

    /// Open the index file for appends (the segment becomes or stays active).
    pub fn open_index_file(&mut self) -> Result<()> {
        if !self.index_open {
            self.index_file()?;
            self.index_open = true;
        }
        Ok(())
    }

    /// The index file, opened (created when missing) for one write.
    fn index_file(&self) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.index_path)
            .ctx("open", &self.index_path)
    }

    /// Write index entries still in memory only to the file.
    pub fn persist_index(&mut self) -> Result<()> {
        if !self.index_open || self.index.unpersisted() == 0 {
            return Ok(());
        }
        let file = self.index_file()?;
        self.index.persist(&file, &self.index_path)
    }

    /// Replace the index file with the entries in memory.
    pub fn rewrite_index(&mut self) -> Result<()> {
        let file = self.index_file()?;
        self.index.rewrite(&file, &self.index_path)
    }

    /// Account for a batch about to be written at `position`: index it if an interval
    /// has passed since the last entry.
    pub fn note_batch(&mut self, position: u64, base_offset: i64, len: u64, interval: u64) {
        index_batch(
            &mut self.index,
            &mut self.bytes_since_index,
            self.base,
            (position, base_offset, len),
            interval,
        );
    }

    /// Recompute `bytes_since_index` from the index and size (after a rebuild or truncation).
    pub fn reset_index_cursor(&mut self) {
        let last = self.index.last().map_or(0, |e| u64::from(e.position));
        self.bytes_since_index = self.size.saturating_sub(last);
    }

    pub fn read_header(&self, position: u64) -> Result<BatchHeader> {
        read_header(&*self.file.get()?, &self.log_path, position)
    }

    fn corrupt_error(&self, position: u64, offset: i64, kind: CorruptionKind) -> StorageError {
        StorageError::Corrupt {
            path: self.log_path.to_path_buf(),
            position,
            offset,
            kind,
        }
    }

    /// How far reads may go: the file, or the start of known corruption.
    pub fn readable_size(&self) -> u64 {
        self.corrupt
            .as_ref()
            .map_or(self.size, |m| m.position.min(self.size))
    }

    /// The header of the batch at `position`, checked to be the batch expected there and
    /// to lie wholly within the readable part of the segment.
    fn header_at(&self, position: u64, expected: i64) -> Result<BatchHeader> {
        let limit = self.readable_size();
        if position + BATCH_HEADER_LEN as u64 > limit {
            let kind = match &self.corrupt {
                Some(mark) if position >= mark.position => mark.kind.clone(),
                _ => CorruptionKind::Batch(BatchError::Truncated {
                    needed: BATCH_HEADER_LEN,
                    available: limit.saturating_sub(position) as usize,
                }),
            };
            return Err(self.corrupt_error(position, expected, kind));
        }
        let header = self.read_header(position).map_err(|err| match err {
            StorageError::Corrupt { kind, .. } => self.corrupt_error(position, expected, kind),
            other => other,
        })?;
        if header.base_offset != expected {
            let kind = CorruptionKind::OffsetGap {
                expected,
                found: header.base_offset,
            };
            return Err(self.corrupt_error(position, expected, kind));
        }
        if position + header.total_len() as u64 > limit || header.last_offset_delta < 0 {
            let kind = CorruptionKind::Batch(BatchError::Truncated {
                needed: header.total_len(),
                available: limit.saturating_sub(position) as usize,
            });
            return Err(self.corrupt_error(position, expected, kind));
        }
        Ok(header)
    }

    /// The index entry at or before `entry`, if its position really holds the batch it
    /// names. A wrong entry (a stale or damaged index) is logged and ignored: lookups then
    /// walk from the segment start, which is slow but right.
    fn checked_entry(&self, entry: Option<IndexEntry>) -> Result<Option<(u64, i64, BatchHeader)>> {
        let Some(entry) = entry else { return Ok(None) };
        let position = u64::from(entry.position);
        let offset = self.base + i64::from(entry.relative_offset);
        match self.header_at(position, offset) {
            Ok(header) => Ok(Some((position, offset, header))),
            Err(StorageError::Corrupt { .. }) if position < self.readable_size() => {
                tracing::warn!(
                    path = %self.index_path.display(),
                    position,
                    offset,
                    "index entry disagrees with the log; walking from the segment start"
                );
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// The position and header of the batch holding `offset` (which must be in
    /// `[base, end)`), walking batch headers from the nearest index entry.
    pub fn locate(&self, offset: i64) -> Result<(u64, BatchHeader)> {
        let relative = u32::try_from(offset - self.base).unwrap_or(u32::MAX);
        let (mut position, mut header) =
            match self.checked_entry(self.index.floor_offset(relative))? {
                Some((position, _, header)) => (position, header),
                None => (0, self.header_at(0, self.base)?),
            };
        while header.next_offset() <= offset {
            position += header.total_len() as u64;
            header = self.header_at(position, header.next_offset())?;
        }
        Ok((position, header))
    }

    /// The last batch boundary at or before `limit` and at or after `from`, a known
    /// boundary where offset `from_offset` starts. Returns the position and its offset.
    pub fn boundary_before(&self, limit: u64, from: u64, from_offset: i64) -> Result<(u64, i64)> {
        let entry = self
            .index
            .floor_position(limit)
            .filter(|e| u64::from(e.position) > from);
        let (mut position, mut offset) = match self.checked_entry(entry)? {
            Some((position, offset, _)) => (position, offset),
            None => (from, from_offset),
        };
        while position < limit {
            let header = self.header_at(position, offset)?;
            let next = position + header.total_len() as u64;
            if next > limit {
                break;
            }
            position = next;
            offset = header.next_offset();
        }
        Ok((position, offset))
    }

    /// Write bytes at the end of the log, in the shape given.
    pub fn write_at_end(&mut self, bytes: &[u8], shape: WriteShape) -> Result<()> {
        let file = self.file.get()?;
        self.reserve(&file, self.size + bytes.len() as u64);
        let piece = match shape {
            WriteShape::Pieces => WRITE_CHUNK,
            WriteShape::Whole => bytes.len().max(1),
        };
        let mut at = self.size;
        for piece in bytes.chunks(piece) {
            file.write_all_at(piece, at).ctx("write", &self.log_path)?;
            at += piece.len() as u64;
        }
        Ok(())
    }

    /// Make sure the file has disk blocks for `end` bytes, reserving ahead in steps that
    /// grow with the segment (1 MiB to [`PREALLOCATE_MAX_STEP`]). Writes into reserved
    /// blocks skip ext4's per-block delayed allocation: measured here, 1 GiB of 64 KiB
    /// writes went at 2.84 GB/s instead of 2.3-2.4. The file's size stays that of its data
    /// (`FALLOC_FL_KEEP_SIZE`), so recovery and reads are unaffected. Best effort: a file
    /// system that refuses is written to as before.
    fn reserve(&mut self, file: &File, end: u64) {
        if end <= self.preallocated {
            return;
        }
        let step = self.size.clamp(PREALLOCATE_MIN_STEP, PREALLOCATE_MAX_STEP);
        let from = self.preallocated.min(self.size);
        let to = end + step;
        match preallocate(file, from, to - from) {
            Ok(()) => self.preallocated = to,
            Err(err) => {
                tracing::debug!(path = %self.log_path.display(), %err, "cannot reserve disk blocks ahead; writing without");
                self.preallocated = u64::MAX;
            }
        }
    }

    /// Give back blocks reserved past the data (the segment is sealed or cut): setting the
    /// length frees the blocks past it (a hole punch would not: it stops at the size).
    pub fn release_reserve(&mut self) {
        if self.preallocated != u64::MAX && self.preallocated > self.size {
            let cut = self.file.get().and_then(|file| {
                file.set_len(self.size)
                    .ctx("release reserved blocks of", &self.log_path)
            });
            if let Err(err) = cut {
                tracing::debug!(path = %self.log_path.display(), %err, "cannot release reserved blocks");
            }
            self.preallocated = self.size;
        }
    }

    /// Cut the log file to `size` bytes (a batch boundary ending at offset `end`).
    pub fn truncate_to(&mut self, size: u64, end: i64) -> Result<()> {
        self.release_reserve();
        self.file
            .get()?
            .set_len(size)
            .ctx("truncate", &self.log_path)?;
        if self.preallocated != u64::MAX {
            self.preallocated = self.preallocated.min(size);
        }
        self.size = size;
        self.end = end;
        self.index.truncate_to_size(size);
        if self.index_open {
            let file = self.index_file()?;
            self.index.sync_file_len(&file, &self.index_path)?;
        } else {
            self.rewrite_index()?;
        }
        self.reset_index_cursor();
        if self.corrupt.as_ref().is_some_and(|m| m.position >= size) {
            self.corrupt = None;
        }
        self.newest_timestamp = None;
        if size > 0 {
            let (position, offset) = match self.index.last() {
                Some(e) => (
                    u64::from(e.position),
                    self.base + i64::from(e.relative_offset),
                ),
                None => (0, self.base),
            };
            // Re-derive the newest timestamp from the batches left; tail is at most an interval.
            let scan = scan_batches(
                &*self.file.get()?,
                &self.log_path,
                position,
                offset,
                size,
                |_, _| {},
            )?;
            self.newest_timestamp = scan.newest_timestamp;
        }
        Ok(())
    }

    /// Validate the whole segment batch by batch (length, CRC, offsets) and rebuild the
    /// index from what is valid. The file itself is not changed.
    pub fn rebuild(&mut self, interval: u64) -> Result<Scan> {
        self.index.clear();
        self.bytes_since_index = 0;
        self.extend_from(0, self.base, interval)
    }

    /// Check the index against the log (bounds, and that the last entry points at the batch
    /// it names), then validate the batches after the last entry. Cheap: one header read and
    /// at most one interval of batches. `Ok(None)` when the index cannot be trusted.
    pub fn check_tail(&mut self, interval: u64) -> Result<Option<Scan>> {
        let Some(last) = self.index.last() else {
            return self.tail_from(0, self.base, interval).map(Some);
        };
        if u64::from(last.position) + BATCH_HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let expected = self.base + i64::from(last.relative_offset);
        match read_header(&*self.file.get()?, &self.log_path, u64::from(last.position)) {
            Ok(header) if header.base_offset == expected => {}
            Ok(_) | Err(StorageError::Corrupt { .. }) => return Ok(None),
            Err(err) => return Err(err),
        }
        self.tail_from(u64::from(last.position), expected, interval)
            .map(Some)
    }

    fn tail_from(&mut self, position: u64, offset: i64, interval: u64) -> Result<Scan> {
        // Restart the interval count at the last entry, as when it was written.
        self.bytes_since_index = 0;
        self.extend_from(position, offset, interval)
    }

    /// Scan from `position` (a batch start at `offset`) to the end of the file, indexing the
    /// batches as appends would have; the batch at an existing entry is not indexed twice.
    fn extend_from(&mut self, position: u64, offset: i64, interval: u64) -> Result<Scan> {
        let base = self.base;
        let mut index = std::mem::take(&mut self.index);
        let mut since = self.bytes_since_index;
        let already_indexed = index.last().map(|e| u64::from(e.position)) == Some(position);
        let scan = scan_batches(
            &*self.file.get()?,
            &self.log_path,
            position,
            offset,
            self.size,
            |pos, header| {
                let len = header.total_len() as u64;
                if already_indexed && pos == position {
                    since = len;
                } else {
                    index_batch(
                        &mut index,
                        &mut since,
                        base,
                        (pos, header.base_offset, len),
                        interval,
                    );
                }
            },
        );
        self.index = index;
        self.bytes_since_index = since;
        let scan = scan?;
        self.end = scan.end_offset;
        self.newest_timestamp = scan.newest_timestamp;
        Ok(scan)
    }
}

/// Index a batch `(position, base offset, length)` about to follow the others if at least
/// `interval` bytes went by since the last entry.
fn index_batch(
    index: &mut OffsetIndex,
    bytes_since_index: &mut u64,
    segment_base: i64,
    (position, base_offset, len): (u64, i64, u64),
    interval: u64,
) {
    if *bytes_since_index >= interval {
        // Offsets or positions past u32 cannot be indexed; lookups walk from earlier.
        if let (Ok(relative_offset), Ok(position)) = (
            u32::try_from(base_offset - segment_base),
            u32::try_from(position),
        ) {
            index.push(IndexEntry {
                relative_offset,
                position,
            });
            *bytes_since_index = 0;
        }
    }
    *bytes_since_index += len;
}

/// Why an index file had to be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexTrouble {
    Missing,
    Bad(IndexProblem),
}

pub(crate) fn read_header(file: &File, path: &Path, position: u64) -> Result<BatchHeader> {
    let mut buf = [0u8; BATCH_HEADER_LEN];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], position + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).ctx("read", path),
        }
    }
    BatchHeader::parse(&buf[..filled]).map_err(|err| StorageError::Corrupt {
        path: path.to_path_buf(),
        position,
        offset: -1,
        kind: CorruptionKind::Batch(err),
    })
}

/// Read exactly `buf.len()` bytes at `position`, or fewer at end of file.
fn read_full_at(file: &File, path: &Path, buf: &mut [u8], position: u64) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], position + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).ctx("read", path),
        }
    }
    Ok(filled)
}

/// Walk the batches in `file` from `start` (where offset `start_offset` begins) to `end`,
/// checking each batch's header, length, CRC-32C and that offsets continue. Stops at the
/// first batch that fails and says why. `on_batch` sees each good batch's position and
/// header.
pub(crate) fn scan_batches(
    file: &File,
    path: &Path,
    start: u64,
    start_offset: i64,
    end: u64,
    mut on_batch: impl FnMut(u64, &BatchHeader),
) -> Result<Scan> {
    let mut buf: Vec<u8> = Vec::new();
    // File position of buf[0].
    let mut buf_pos = start;
    let mut position = start;
    let mut expected = start_offset;
    let mut newest_timestamp = None;
    let stop = |problem: CorruptionKind, position: u64, offset: i64, newest| Scan {
        end_position: position,
        end_offset: offset,
        newest_timestamp: newest,
        problem: Some(problem),
    };

    while position < end {
        let remaining = end - position;
        // Make sure the header is in the buffer.
        let in_buf = (position - buf_pos) as usize;
        if buf.len() - in_buf < BATCH_HEADER_LEN {
            refill(file, path, &mut buf, &mut buf_pos, position, end)?;
        }
        let in_buf = (position - buf_pos) as usize;
        let header = match BatchHeader::parse(&buf[in_buf..]) {
            Ok(header) => header,
            Err(err) => {
                return Ok(stop(err.into(), position, expected, newest_timestamp));
            }
        };
        let total = header.total_len() as u64;
        if total > remaining {
            let err = BatchError::Truncated {
                needed: total as usize,
                available: remaining as usize,
            };
            return Ok(stop(err.into(), position, expected, newest_timestamp));
        }
        let computed = if total as usize <= SCAN_CHUNK {
            if buf.len() - in_buf < total as usize {
                refill(file, path, &mut buf, &mut buf_pos, position, end)?;
            }
            let in_buf = (position - buf_pos) as usize;
            crc32c::crc32c(&buf[in_buf + CRC_START..in_buf + total as usize])
        } else {
            // Too big to buffer whole: stream the CRC and move the buffer past the batch.
            let crc = streaming_crc(file, path, position + CRC_START as u64, position + total)?;
            buf.clear();
            buf_pos = position + total;
            crc
        };
        if computed != header.crc {
            let err = BatchError::CrcMismatch {
                stored: header.crc,
                computed,
            };
            return Ok(stop(err.into(), position, expected, newest_timestamp));
        }
        if header.base_offset != expected {
            let kind = CorruptionKind::OffsetGap {
                expected,
                found: header.base_offset,
            };
            return Ok(stop(kind, position, expected, newest_timestamp));
        }
        if header.last_offset_delta < 0 {
            let kind = CorruptionKind::Batch(BatchError::BadLength(header.batch_len));
            return Ok(stop(kind, position, expected, newest_timestamp));
        }
        on_batch(position, &header);
        newest_timestamp = (header.max_time_stamp > 0).then_some(header.max_time_stamp);
        position += total;
        expected = header.next_offset();
    }
    Ok(Scan {
        end_position: position,
        end_offset: expected,
        newest_timestamp,
        problem: None,
    })
}

/// Drop consumed bytes and read the next chunk, starting at `position`.
fn refill(
    file: &File,
    path: &Path,
    buf: &mut Vec<u8>,
    buf_pos: &mut u64,
    position: u64,
    end: u64,
) -> Result<()> {
    let consumed = (position - *buf_pos) as usize;
    buf.drain(..consumed.min(buf.len()));
    *buf_pos = position;
    let have = buf.len();
    let want = (SCAN_CHUNK as u64).min(end - position) as usize;
    if want > have {
        buf.resize(want, 0);
        let got = read_full_at(file, path, &mut buf[have..], position + have as u64)?;
        buf.truncate(have + got);
    }
    Ok(())
}

fn streaming_crc(file: &File, path: &Path, mut from: u64, to: u64) -> Result<u32> {
    let mut chunk = vec![0u8; SCAN_CHUNK];
    let mut crc = 0;
    while from < to {
        let n = ((to - from) as usize).min(chunk.len());
        let got = read_full_at(file, path, &mut chunk[..n], from)?;
        if got == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &chunk[..got]);
        from += got as u64;
    }
    Ok(crc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::batch_with_values;
    use protocol::record::batch::set_base_offset;

    fn write_batches(path: &Path, batches: &[Vec<u8>]) -> File {
        let bytes: Vec<u8> = batches.concat();
        fs::write(path, &bytes).unwrap();
        File::open(path).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn blocks_are_reserved_ahead_and_given_back() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &FilePool::new(4)).unwrap();
        let data = vec![7u8; 300_000];
        seg.write_at_end(&data, WriteShape::Pieces).unwrap();
        seg.size += data.len() as u64;
        let meta = fs::metadata(&*seg.log_path).unwrap();
        // The size is the data's; the blocks reach past it (where the file system allows).
        assert_eq!(meta.len(), data.len() as u64);
        if seg.preallocated != u64::MAX {
            assert!(seg.preallocated >= data.len() as u64 + PREALLOCATE_MIN_STEP);
            assert!(meta.blocks() * 512 >= seg.preallocated);
            seg.release_reserve();
            let meta = fs::metadata(&*seg.log_path).unwrap();
            assert!(
                meta.blocks() * 512 < data.len() as u64 + 64 * 1024,
                "{}",
                meta.blocks()
            );
        }
        assert_eq!(fs::read(&*seg.log_path).unwrap(), data);
    }

    #[test]
    fn both_write_shapes_store_the_same_bytes_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &FilePool::new(4)).unwrap();
        // Not a multiple of the piece size, so the last piece is short.
        let first: Vec<u8> = (0..WRITE_CHUNK * 3 + 17).map(|i| i as u8).collect();
        let second: Vec<u8> = (0..WRITE_CHUNK + 5).map(|i| (i * 7) as u8).collect();
        seg.write_at_end(&first, WriteShape::Pieces).unwrap();
        seg.size += first.len() as u64;
        seg.write_at_end(&second, WriteShape::Whole).unwrap();
        seg.size += second.len() as u64;
        seg.write_at_end(&[], WriteShape::Whole).unwrap();
        assert_eq!(
            fs::read(&*seg.log_path).unwrap(),
            [first, second].concat(),
            "each write continues where the last ended"
        );
    }

    fn numbered(count: usize) -> Vec<Vec<u8>> {
        let mut next = 0;
        (0..count)
            .map(|i| {
                let mut b =
                    batch_with_values(&vec![vec![i as u8; 10 + i]; 1 + i % 3], 1000 + i as i64);
                set_base_offset(&mut b, next);
                next += 1 + (i % 3) as i64;
                b
            })
            .collect()
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.log"),
            Some((42, "log"))
        );
        assert_eq!(
            parse_file_name("00000000000000000042.index"),
            Some((42, "index"))
        );
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_file_name("replica.checkpoint"), None);
    }

    #[test]
    fn scan_accepts_good_batches_and_stops_at_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let batches = numbered(5);
        let good_len: u64 = batches.iter().map(|b| b.len() as u64).sum();
        let mut bytes = batches.concat();
        let file = write_batches(&path, &batches);
        let scan = scan_batches(&file, &path, 0, 0, good_len, |_, _| {}).unwrap();
        assert_eq!(scan.end_position, good_len);
        assert_eq!(scan.end_offset, 1 + 2 + 3 + 1 + 2);
        assert_eq!(scan.problem, None);
        assert_eq!(scan.newest_timestamp, Some(1004));

        // Half a batch more: stops at the last whole batch.
        bytes.extend_from_slice(&batches[0][..30]);
        fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let scan = scan_batches(&file, &path, 0, 0, bytes.len() as u64, |_, _| {}).unwrap();
        assert_eq!(scan.end_position, good_len);
        assert!(matches!(
            scan.problem,
            Some(CorruptionKind::Batch(BatchError::Truncated { .. }))
        ));
    }

    #[test]
    fn scan_stops_at_a_flipped_bit_and_at_an_offset_gap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let batches = numbered(4);
        let mut bytes = batches.concat();
        let third = batches[0].len() + batches[1].len();
        bytes[third + 60] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let scan = scan_batches(&file, &path, 0, 0, bytes.len() as u64, |_, _| {}).unwrap();
        assert_eq!(scan.end_position, third as u64);
        assert_eq!(scan.end_offset, 3);
        assert!(matches!(
            scan.problem,
            Some(CorruptionKind::Batch(BatchError::CrcMismatch { .. }))
        ));

        let mut gap = batches.clone();
        set_base_offset(&mut gap[2], 99);
        let file = write_batches(&path, &gap);
        let scan = scan_batches(&file, &path, 0, 0, bytes.len() as u64, |_, _| {}).unwrap();
        assert_eq!(
            scan.problem,
            Some(CorruptionKind::OffsetGap {
                expected: 3,
                found: 99
            })
        );
    }

    #[test]
    fn scan_streams_batches_larger_than_its_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let big = batch_with_values(&[vec![7u8; SCAN_CHUNK + 1000]], 5);
        let small = {
            let mut b = batch_with_values(&[b"after".to_vec()], 6);
            set_base_offset(&mut b, 1);
            b
        };
        let file = write_batches(&path, &[big.clone(), small.clone()]);
        let len = (big.len() + small.len()) as u64;
        let mut seen = Vec::new();
        let scan = scan_batches(&file, &path, 0, 0, len, |pos, h| {
            seen.push((pos, h.base_offset))
        })
        .unwrap();
        assert_eq!(scan.problem, None);
        assert_eq!(scan.end_offset, 2);
        assert_eq!(seen, vec![(0, 0), (big.len() as u64, 1)]);
    }

    #[test]
    fn junk_lengths_never_allocate_past_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut junk = batch_with_values(&[b"v".to_vec()], 1);
        junk[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        fs::write(&path, &junk).unwrap();
        let file = File::open(&path).unwrap();
        let scan = scan_batches(&file, &path, 0, 0, junk.len() as u64, |_, _| {}).unwrap();
        assert_eq!(scan.end_position, 0);
        assert!(scan.problem.is_some());
    }
}
