//! What a read hands back: byte ranges of segment files, ready to be sent as they are.

use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
#[cfg(not(target_os = "linux"))]
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::error::{IoContext, Result};

/// `len` bytes of a segment file from `position`: whole batches in wire format.
///
/// The range holds the file open, so it stays readable after retention deletes the segment.
/// A truncation of the same bytes (a follower after a leader change) makes later sends come
/// up short; both send and read report that as an `UnexpectedEof` error.
#[derive(Debug, Clone)]
pub struct FileRange {
    file: Arc<File>,
    path: Arc<Path>,
    position: u64,
    len: u64,
}

impl FileRange {
    pub(crate) fn new(file: Arc<File>, path: Arc<Path>, position: u64, len: u64) -> Self {
        Self {
            file,
            path,
            position,
            len,
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the range's bytes to `out` (the buffered fallback); on error `out` is left as
    /// it was. Reuse `out` across reads
    /// (clear it first) to avoid allocating; the new bytes are read straight into its spare
    /// capacity, without zero-filling it first.
    pub fn read_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        out.reserve(len);
        let start = out.len();
        let mut done = 0usize;
        while done < len {
            let want = (len - done).min(isize::MAX as usize);
            let position = libc::off_t::try_from(self.position + done as u64)
                .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "position past off_t"))
                .ctx("read", &self.path)?;
            // SAFETY: `reserve` made room for `len` more bytes after `start`; pread writes at
            // most `want` bytes at `start + done`, within that room, and `set_len` below only
            // covers bytes the kernel reported as written.
            let n = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    out.as_mut_ptr().add(start + done).cast(),
                    want,
                    position,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                out.truncate(start);
                return Err(err).ctx("read", &self.path);
            }
            if n == 0 {
                out.truncate(start);
                let err = io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the segment is shorter than the range (truncated since the read)",
                );
                return Err(err).ctx("read", &self.path);
            }
            done += n as usize;
            // SAFETY: bytes `start..start + done` were written by pread above.
            unsafe { out.set_len(start + done) };
        }
        Ok(())
    }

    /// One `sendfile(2)` of what is left after the first `sent` bytes of the range, to
    /// `out` (a socket or any file). Returns how many bytes went; on a non-blocking socket
    /// this may be `WouldBlock`, so it fits in `tokio::net::TcpStream::try_io`.
    pub fn send_once(&self, out: BorrowedFd<'_>, sent: u64) -> io::Result<usize> {
        if sent >= self.len {
            return Ok(0);
        }
        let remaining = self.len - sent;
        let chunk = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        let n = sendfile(out, &self.file, self.position + sent, chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the segment is shorter than the range (truncated since the read)",
            ));
        }
        Ok(n)
    }

    /// Send the whole range to a blocking `out`.
    pub fn send_all(&self, out: impl AsFd) -> Result<u64> {
        let out = out.as_fd();
        let mut sent = 0u64;
        while sent < self.len {
            match self.send_once(out, sent) {
                Ok(n) => sent += n as u64,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err).ctx("sendfile from", &self.path),
            }
        }
        Ok(sent)
    }
}

#[cfg(target_os = "linux")]
fn sendfile(out: BorrowedFd<'_>, file: &File, position: u64, len: usize) -> io::Result<usize> {
    let mut offset = libc::off_t::try_from(position)
        .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "position past off_t"))?;
    // SAFETY: both descriptors are open for the duration of the call (borrowed), and
    // `offset` is a valid, exclusively borrowed off_t that the kernel updates.
    let n = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut offset, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Elsewhere: copy through a buffer (correct, not zero-copy).
#[cfg(not(target_os = "linux"))]
fn sendfile(out: BorrowedFd<'_>, file: &File, position: u64, len: usize) -> io::Result<usize> {
    let mut buf = vec![0u8; len.min(1 << 20)];
    let n = file.read_at(&mut buf, position)?;
    // SAFETY: `out` is a borrowed, open descriptor and `buf[..n]` is initialized.
    let written = unsafe { libc::write(out.as_raw_fd(), buf.as_ptr().cast(), n) };
    if written < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(written as usize)
    }
}

/// The answer to a read: the batches from the one holding the requested offset, as file
/// ranges in log order (more than one when the read crosses segments).
#[derive(Debug, Clone)]
pub struct ReadSlice {
    pub ranges: Vec<FileRange>,
    /// Base offset of the first batch returned; the requested offset when empty. Consumers
    /// skip records before the offset they asked for.
    pub start_offset: i64,
    /// The offset after the last batch returned: where the next read continues.
    pub end_offset: i64,
    /// The log's offsets when the read was served.
    pub log_start: i64,
    pub hw: i64,
    pub leo: i64,
}

impl ReadSlice {
    /// Total bytes in the ranges.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(FileRange::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// All the bytes, copied into memory (the buffered fallback).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// Append all the bytes to `out`; on error `out` may hold part of them.
    pub fn read_into(&self, out: &mut Vec<u8>) -> Result<()> {
        for range in &self.ranges {
            range.read_into(out)?;
        }
        Ok(())
    }

    /// Send every range to a blocking `out` with `sendfile(2)`.
    pub fn send_all(&self, out: impl AsFd) -> Result<u64> {
        let out = out.as_fd();
        let mut total = 0;
        for range in &self.ranges {
            total += range.send_all(out)?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    fn sendfile_and_buffered_read_agree() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src_path, &data).unwrap();
        let file = Arc::new(File::open(&src_path).unwrap());
        let path: Arc<Path> = Arc::from(src_path.as_path());
        let ranges = vec![
            FileRange::new(file.clone(), path.clone(), 10, 5000),
            FileRange::new(file.clone(), path.clone(), 70_000, 30_000),
        ];
        let slice = ReadSlice {
            ranges,
            start_offset: 0,
            end_offset: 0,
            log_start: 0,
            hw: 0,
            leo: 0,
        };
        let expected: Vec<u8> = [&data[10..5010], &data[70_000..100_000]].concat();
        assert_eq!(slice.len(), expected.len() as u64);
        assert_eq!(slice.to_vec().unwrap(), expected);

        let mut out = tempfile::tempfile().unwrap();
        assert_eq!(slice.send_all(&out).unwrap(), expected.len() as u64);
        out.seek(SeekFrom::Start(0)).unwrap();
        let mut sent = Vec::new();
        out.read_to_end(&mut sent).unwrap();
        assert_eq!(sent, expected);
    }

    #[test]
    fn a_range_past_the_end_of_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, [1u8; 100]).unwrap();
        let file = Arc::new(File::open(&src_path).unwrap());
        let range = FileRange::new(file, Arc::from(src_path.as_path()), 50, 80);
        let mut buf = vec![9u8];
        assert!(range.read_into(&mut buf).is_err());
        assert_eq!(buf, vec![9u8]);
        let out = tempfile::tempfile().unwrap();
        assert!(range.send_all(&out).is_err());
    }
}
