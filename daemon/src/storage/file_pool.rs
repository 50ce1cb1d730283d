//! A bounded set of open segment files shared by every replica log of a process.
//!
//! A log keeps each of its segments as a [`PooledFile`]: a path and, while the file is
//! open, a handle in the [`FilePool`]. The pool holds at most `capacity` files open; when
//! a file is needed and the pool is full, the one used longest ago is closed (its
//! [`PooledFile`] reopens it on the next use). So the number of open segment files stays
//! bounded however many partitions an SPU holds, while the active segment of a busy
//! partition, used by every append, stays open.
//!
//! A user gets an `Arc<File>`: a fetch sending a [`FileRange`] holds one, so evicting
//! that file from the pool only drops the pool's reference and the descriptor stays open
//! until the send is done (and a use meanwhile finds it and takes it back into the pool
//! rather than opening it twice). Reopening is safe for data: writes are positional,
//! and an fsync through a new descriptor syncs the file, not the descriptor. A writeback
//! error that happened while no descriptor was open is reported to the next opener that
//! syncs (Linux reports an unseen error to a new opener since 4.13, `errseq`).
//!
//! [`FileRange`]: super::FileRange

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::error::{IoContext, Result};
use crate::sync::lock;

/// Files kept open when the limit on open files cannot be read.
const FALLBACK_CAPACITY: usize = 1024;
/// The pool takes this share of the process's limit on open files (the rest is for
/// connections, per-log lock files, indexes being written, checkpoints).
const SHARE_OF_LIMIT: u64 = 5;
const MIN_CAPACITY: usize = 16;
const MAX_CAPACITY: usize = 16 * 1024;

/// Open segment files, at most `capacity` of them, closed least recently used first.
#[derive(Debug)]
pub(crate) struct FilePool {
    capacity: usize,
    next_id: AtomicU64,
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Use counter: each use gets the next value.
    clock: u64,
    /// Open files by the id of their [`PooledFile`]: last use, and the pool's reference.
    open: HashMap<u64, (u64, Arc<File>)>,
    /// The same files by last use, oldest first.
    by_use: BTreeMap<u64, u64>,
    opens: u64,
    evictions: u64,
}

/// What the pool did so far.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolStats {
    pub open: usize,
    pub opens: u64,
    pub evictions: u64,
}

impl FilePool {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            next_id: AtomicU64::new(0),
            state: Mutex::new(PoolState::default()),
        })
    }

    /// The process's pool, sized from the limit on open files when first used (the daemon
    /// raises that limit before it opens any log).
    pub fn global() -> Arc<Self> {
        static GLOBAL: OnceLock<Arc<FilePool>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Self::new(capacity_for_limit(open_files_limit())))
            .clone()
    }

    #[cfg(test)]
    pub fn stats(&self) -> PoolStats {
        let st = lock(&self.state);
        PoolStats {
            open: st.open.len(),
            opens: st.opens,
            evictions: st.evictions,
        }
    }

    /// Take `file` (just opened or found still alive) into the pool as the most recently
    /// used; close the least recently used beyond the capacity.
    fn admit(&self, id: u64, file: &Arc<File>, opened: bool) {
        let evicted: Vec<Arc<File>> = {
            let mut st = lock(&self.state);
            st.clock += 1;
            let now = st.clock;
            if opened {
                st.opens += 1;
            }
            if let Some((last, _)) = st.open.insert(id, (now, file.clone())) {
                st.by_use.remove(&last);
            }
            st.by_use.insert(now, id);
            let mut evicted = Vec::new();
            while st.open.len() > self.capacity {
                let Some((_, oldest)) = st.by_use.pop_first() else {
                    break;
                };
                if let Some((_, file)) = st.open.remove(&oldest) {
                    evicted.push(file);
                    st.evictions += 1;
                }
            }
            evicted
        };
        // Closing happens outside the lock; a file still in use elsewhere stays open.
        drop(evicted);
    }

    /// Mark `id` as just used, if the pool holds it. False if it was evicted.
    fn touch(&self, id: u64) -> bool {
        let mut st = lock(&self.state);
        st.clock += 1;
        let now = st.clock;
        let Some(entry) = st.open.get_mut(&id) else {
            return false;
        };
        let last = std::mem::replace(&mut entry.0, now);
        st.by_use.remove(&last);
        st.by_use.insert(now, id);
        true
    }

    fn forget(&self, id: u64) {
        let removed = {
            let mut st = lock(&self.state);
            let removed = st.open.remove(&id);
            if let Some((last, _)) = &removed {
                st.by_use.remove(last);
            }
            removed
        };
        drop(removed);
    }
}

/// `limit / SHARE_OF_LIMIT`, within sensible bounds.
fn capacity_for_limit(limit: Option<u64>) -> usize {
    limit.map_or(FALLBACK_CAPACITY, |limit| {
        usize::try_from(limit / SHARE_OF_LIMIT)
            .unwrap_or(MAX_CAPACITY)
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
    })
}

fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some(limit.rlim_cur)
}

/// One segment file, opened (read and write) through the pool when used. Clones share
/// the file.
#[derive(Debug, Clone)]
pub(crate) struct PooledFile {
    slot: Arc<Slot>,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    path: Arc<Path>,
    pool: Arc<FilePool>,
    /// The open file, if anyone (the pool or a reader) still holds it.
    file: Mutex<Weak<File>>,
}

impl PooledFile {
    /// A file just opened (or created) at `path`, taken into the pool.
    pub fn opened(pool: &Arc<FilePool>, path: Arc<Path>, file: File) -> Self {
        let file = Arc::new(file);
        let this = Self::new(pool, path, Arc::downgrade(&file));
        pool.admit(this.slot.id, &file, true);
        this
    }

    fn new(pool: &Arc<FilePool>, path: Arc<Path>, file: Weak<File>) -> Self {
        Self {
            slot: Arc::new(Slot {
                id: pool.next_id.fetch_add(1, Ordering::Relaxed),
                path,
                pool: pool.clone(),
                file: Mutex::new(file),
            }),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Arc<Path> {
        &self.slot.path
    }

    /// The open file: the pool's, one a reader still holds, or the file opened again.
    pub fn get(&self) -> Result<Arc<File>> {
        let slot = &*self.slot;
        let mut held = lock(&slot.file);
        if let Some(file) = held.upgrade() {
            if !slot.pool.touch(slot.id) {
                slot.pool.admit(slot.id, &file, false);
            }
            return Ok(file);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slot.path)
            .ctx("open", &slot.path)?;
        let file = Arc::new(file);
        *held = Arc::downgrade(&file);
        slot.pool.admit(slot.id, &file, true);
        Ok(file)
    }

    /// Whether both name the same segment file.
    pub fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.forget(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    fn files(dir: &Path, pool: &Arc<FilePool>, n: usize) -> Vec<PooledFile> {
        (0..n)
            .map(|i| {
                let path: Arc<Path> = Arc::from(dir.join(format!("{i}.log")));
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .unwrap();
                write!(file, "file {i}").unwrap();
                PooledFile::opened(pool, path, file)
            })
            .collect()
    }

    fn read(file: &File) -> String {
        let mut buf = vec![0; 16];
        let n = file.read_at(&mut buf, 0).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn the_least_recently_used_file_is_closed_and_reopened_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let pool = FilePool::new(2);
        let f = files(dir.path(), &pool, 3);
        // Creating the third closed the first.
        assert_eq!(pool.stats().open, 2);
        assert_eq!(pool.stats().evictions, 1);
        assert!(f[0].slot.file.lock().unwrap().upgrade().is_none());
        // Using the first reopens it and closes the least recently used: the second.
        assert_eq!(read(&f[0].get().unwrap()), "file 0");
        assert_eq!(pool.stats().opens, 4);
        assert!(f[1].slot.file.lock().unwrap().upgrade().is_none());
        assert!(f[2].slot.file.lock().unwrap().upgrade().is_some());
    }

    #[test]
    fn a_used_file_stays_open_while_others_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let pool = FilePool::new(2);
        let f = files(dir.path(), &pool, 2);
        let other_dir = tempfile::tempdir().unwrap();
        let others = files(other_dir.path(), &pool, 4);
        for other in &others {
            // The hot file is used between every other use: it is never the oldest.
            f[0].get().unwrap();
            other.get().unwrap();
        }
        let opens_before = pool.stats().opens;
        assert_eq!(read(&f[0].get().unwrap()), "file 0");
        assert_eq!(
            pool.stats().opens,
            opens_before,
            "the hot file was not reopened"
        );
    }

    #[test]
    fn a_file_held_by_a_reader_is_not_closed_under_it_and_not_opened_twice() {
        let dir = tempfile::tempdir().unwrap();
        let pool = FilePool::new(1);
        let f = files(dir.path(), &pool, 2);
        // The reader (a fetch's file range) holds the first file across its eviction...
        let f0 = f[0].get().unwrap();
        f[1].get().unwrap();
        assert_eq!(pool.stats().open, 1);
        let opens = pool.stats().opens;
        assert_eq!(read(&f0), "file 0", "still readable after eviction");
        // ...and even after the file is deleted, as with retention.
        std::fs::remove_file(f[0].path()).unwrap();
        assert_eq!(read(&f0), "file 0");
        // A use meanwhile takes the same open file back instead of opening the path again.
        let again = f[0].get().unwrap();
        assert!(Arc::ptr_eq(&again, &f0));
        assert_eq!(pool.stats().opens, opens, "not opened again");
    }

    #[test]
    fn dropping_the_last_handle_takes_the_file_out_of_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let pool = FilePool::new(4);
        let mut f = files(dir.path(), &pool, 3);
        let clone = f[2].clone();
        f.pop();
        assert_eq!(pool.stats().open, 3, "a clone still names the file");
        drop(clone);
        assert_eq!(pool.stats().open, 2);
        f.clear();
        assert_eq!(pool.stats().open, 0);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let pool = FilePool::new(1);
        let f = files(dir.path(), &pool, 2);
        std::fs::remove_file(f[0].path()).unwrap();
        let err = f[0].get().unwrap_err().to_string();
        assert!(err.contains("0.log"), "{err}");
    }

    #[test]
    fn the_capacity_is_a_share_of_the_open_files_limit() {
        assert_eq!(capacity_for_limit(Some(20_000)), 4000);
        assert_eq!(capacity_for_limit(Some(1024)), 204);
        assert_eq!(capacity_for_limit(Some(10)), MIN_CAPACITY);
        assert_eq!(capacity_for_limit(Some(u64::MAX)), MAX_CAPACITY);
        assert_eq!(capacity_for_limit(None), FALLBACK_CAPACITY);
    }
}
