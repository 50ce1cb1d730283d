//! Who may write a replica's directory: one process, and in that process one open log.
//!
//! A process that serves many replicas under one directory (an SPU's `spu-<id>/`) locks
//! that directory once with [`DataDirLock`]; the logs it opens below it then hold no file
//! of their own. A lock descriptor per replica cost 10,000 descriptors at 10,000
//! partitions: half of a common 20,000 open-files limit, next to the segment files and
//! the sockets. A log opened anywhere else `flock(2)`s its own `.lock` for as long as it
//! is open, as before.
//!
//! The two kinds also see each other, so two processes never write the same replica
//! whichever way each opened it: a log under a locked directory probes its own `.lock`
//! (a log opened directly holds it), and a log opened directly probes the `.lock` of every
//! directory above it (a process holding one of those serves the replica). Each side
//! takes its own lock before probing the other's, so of two racing openers at least one
//! sees the other. Within the process, a set of open log directories refuses a second
//! open of the same log.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use super::error::{IoContext, Result, StorageError};

/// The lock file in a locked directory, the data directory's or a log's.
pub const LOCK_FILE: &str = ".lock";

/// Directories this process holds a [`DataDirLock`] on, canonical.
static LOCKED_DIRS: LazyLock<Mutex<Vec<PathBuf>>> = LazyLock::new(Mutex::default);
/// Log directories open in this process, canonical.
static OPEN_LOGS: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Mutex::default);

/// This process writes the logs below `dir` (its `.lock` is held) until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Lock `dir` (which must exist) for this process; [`StorageError::Locked`] when
    /// another process or another lock of this one holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock> {
        let dir = dir.canonicalize().ctx("resolve", dir)?;
        let file = flock(&dir)?;
        crate::sync::lock(&LOCKED_DIRS).push(dir.clone());
        Ok(DataDirLock { dir, _file: file })
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        let mut locked = crate::sync::lock(&LOCKED_DIRS);
        if let Some(at) = locked.iter().position(|d| *d == self.dir) {
            locked.remove(at);
        }
    }
}

/// One open log's claim on its directory, released when dropped.
#[derive(Debug)]
pub(crate) struct LogLock {
    dir: PathBuf,
    /// The log's own `.lock`, held when no [`DataDirLock`] covers it.
    _file: Option<File>,
}

impl Drop for LogLock {
    fn drop(&mut self) {
        crate::sync::lock(&OPEN_LOGS).remove(&self.dir);
    }
}

/// Claim the log directory `dir` (which must exist) for one open log.
pub(crate) fn lock_log(dir: &Path) -> Result<LogLock> {
    let dir = dir.canonicalize().ctx("resolve", dir)?;
    let locked = || StorageError::Locked { path: dir.clone() };
    if !crate::sync::lock(&OPEN_LOGS).insert(dir.clone()) {
        return Err(locked());
    }
    // From here on, dropping the claim takes the directory out of the set again.
    let mut claim = LogLock {
        dir: dir.clone(),
        _file: None,
    };
    let covered = crate::sync::lock(&LOCKED_DIRS)
        .iter()
        .any(|root| dir.starts_with(root) && dir != *root);
    if covered {
        // A process that opened this log directly holds its own lock.
        if !probe(&dir)? {
            return Err(locked());
        }
    } else {
        claim._file = Some(flock(&dir)?);
        // A process serving a directory above this log serves the log too.
        for above in dir.ancestors().skip(1) {
            if above.join(LOCK_FILE).exists() && !probe(above)? {
                return Err(locked());
            }
        }
    }
    Ok(claim)
}

/// Take `dir/.lock` exclusively, without waiting.
fn flock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx("open", &path)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StorageError::Locked {
                path: dir.to_path_buf(),
            });
        }
        return Err(err).ctx("lock", &path);
    }
    Ok(file)
}

/// Is `dir/.lock` free? Taken for a moment and let go (closing the file releases it).
/// A missing lock file is free.
fn probe(dir: &Path) -> Result<bool> {
    let path = dir.join(LOCK_FILE);
    let file = match File::options().write(true).open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(err) => return Err(err).ctx("open", &path),
    };
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(err).ctx("lock", &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_under_a_locked_directory_hold_no_file_and_open_once() {
        let root = tempfile::tempdir().unwrap();
        let log_dir = root.path().join("t-0");
        std::fs::create_dir_all(&log_dir).unwrap();
        let data = DataDirLock::acquire(root.path()).unwrap();
        let log = lock_log(&log_dir).unwrap();
        assert!(log._file.is_none(), "covered by the data directory's lock");
        assert!(matches!(
            lock_log(&log_dir),
            Err(StorageError::Locked { .. })
        ));
        // A second lock of the same data directory is refused, like another process's.
        assert!(matches!(
            DataDirLock::acquire(root.path()),
            Err(StorageError::Locked { .. })
        ));
        drop(log);
        let again = lock_log(&log_dir).unwrap();
        drop(again);
        drop(data);
        // Without the data directory's lock, a log holds its own.
        let alone = lock_log(&log_dir).unwrap();
        assert!(alone._file.is_some());
    }

    #[test]
    fn a_log_opened_directly_and_a_locked_directory_above_it_exclude_each_other() {
        let root = tempfile::tempdir().unwrap();
        let log_dir = root.path().join("t-1");
        std::fs::create_dir_all(&log_dir).unwrap();
        // Another process holds the data directory: flock from a file of our own stands
        // for it (locks on separate opens conflict as between processes).
        let other = flock(root.path()).unwrap();
        assert!(matches!(
            lock_log(&log_dir),
            Err(StorageError::Locked { .. })
        ));
        drop(other);
        // Another process opened the log directly: this process's SPU may lock the data
        // directory, but not open that log.
        let other = flock(&log_dir).unwrap();
        let data = DataDirLock::acquire(root.path()).unwrap();
        assert!(matches!(
            lock_log(&log_dir),
            Err(StorageError::Locked { .. })
        ));
        drop(other);
        lock_log(&log_dir).unwrap();
        drop(data);
    }
}
