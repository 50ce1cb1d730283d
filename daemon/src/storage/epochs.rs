//! The leader-epoch cache: for each leader epoch this replica has records of, the offset
//! where that epoch's records start (Kafka's `leader-epoch-checkpoint`). A follower asks a
//! new leader where its own last epoch ends there and truncates what diverged; the leader
//! answers from this cache.
//!
//! Persisted as `leader-epoch.checkpoint` next to the replica checkpoint, replaced
//! atomically on every change (changes are rare: one per leadership change):
//!
//! ```text
//! fluvio-leader-epochs v1
//! 0 0
//! 3 1200
//! ```
//!
//! The file can lag the log after a crash (entries are written after the records they
//! describe arrive); the SPU rebuilds the tail from the batches' `partition_leader_epoch`
//! fields when it opens a replica.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::error::{IoContext, Result};

pub const EPOCHS_FILE: &str = "leader-epoch.checkpoint";
const EPOCHS_TMP_FILE: &str = "leader-epoch.checkpoint.tmp";
const HEADER: &str = "fluvio-leader-epochs v1";

/// Epoch → start offset, both increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEpochCache {
    dir: PathBuf,
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Load the cache of the replica in `dir` (empty when there is no file or it does not
    /// parse; the caller rebuilds from the log).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(EPOCHS_FILE);
        let entries = match fs::read_to_string(&path) {
            Ok(text) => decode(&text).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "unreadable leader-epoch checkpoint; rebuilding it from the log");
                Vec::new()
            }),
            Err(err) if err.kind() == ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err).ctx("read leader epochs", &path),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// The newest epoch with records here (or a leader's current epoch), if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(epoch, _)| *epoch)
    }

    /// Records from `start` on belong to `epoch`. Ignored unless `epoch` is newer than every
    /// epoch known. Returns whether the cache changed (then it was persisted).
    pub fn assign(&mut self, epoch: i32, start: i64) -> Result<bool> {
        if epoch < 0 || self.latest_epoch().is_some_and(|last| epoch <= last) {
            return Ok(false);
        }
        // A later epoch cannot start before an earlier one (a new leader with no records).
        let start = self.entries.last().map_or(start, |(_, s)| start.max(*s));
        self.entries.push((epoch, start));
        self.persist()?;
        Ok(true)
    }

    /// The log was cut at `leo`: forget epochs that start after it.
    pub fn truncate_to(&mut self, leo: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start <= leo);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// The log restarts empty at `offset`: only the newest epoch survives, starting there.
    pub fn restart_at(&mut self, offset: i64) -> Result<()> {
        let last = self.entries.last().copied();
        self.entries.clear();
        if let Some((epoch, _)) = last {
            self.entries.push((epoch, offset));
        }
        self.persist()
    }

    /// Where `epoch` ends in a log ending at `leo`: the largest known epoch at or below it,
    /// and the start of the next epoch (or `leo` when it is the newest). `None` when every
    /// known epoch is newer than `epoch` (or none is known).
    pub fn end_offset(&self, epoch: i32, leo: i64) -> Option<(i32, i64)> {
        let at = self.entries.iter().rposition(|(e, _)| *e <= epoch)?;
        let end = self.entries.get(at + 1).map_or(leo, |(_, start)| *start);
        Some((self.entries[at].0, end))
    }

    fn persist(&self) -> Result<()> {
        let tmp = self.dir.join(EPOCHS_TMP_FILE);
        let path = self.dir.join(EPOCHS_FILE);
        let mut text = format!("{HEADER}\n");
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        let mut file = File::create(&tmp).ctx("create", &tmp)?;
        file.write_all(text.as_bytes()).ctx("write", &tmp)?;
        file.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, &path).ctx("rename", &path)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .ctx("fsync", &self.dir)?;
        Ok(())
    }
}

fn decode(text: &str) -> Option<Vec<(i32, i64)>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut entries: Vec<(i32, i64)> = Vec::new();
    for line in lines {
        let (epoch, start) = line.split_once(' ')?;
        let (epoch, start): (i32, i64) = (epoch.parse().ok()?, start.parse().ok()?);
        if entries
            .last()
            .is_some_and(|(e, s)| epoch <= *e || start < *s)
        {
            return None;
        }
        entries.push((epoch, start));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_persist_and_answer_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(cache.end_offset(3, 10), None);
        assert!(cache.assign(0, 0).unwrap());
        assert!(cache.assign(2, 5).unwrap());
        assert!(!cache.assign(1, 7).unwrap(), "older epochs are ignored");
        assert!(cache.assign(4, 9).unwrap());
        assert_eq!(cache.end_offset(0, 12), Some((0, 5)));
        assert_eq!(cache.end_offset(1, 12), Some((0, 5)));
        assert_eq!(cache.end_offset(3, 12), Some((2, 9)));
        assert_eq!(cache.end_offset(7, 12), Some((4, 12)));

        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), &[(0, 0), (2, 5), (4, 9)]);

        cache.truncate_to(6).unwrap();
        assert_eq!(cache.entries(), &[(0, 0), (2, 5)]);
        cache.restart_at(100).unwrap();
        assert_eq!(
            LeaderEpochCache::load(dir.path()).unwrap().entries(),
            &[(2, 100)]
        );
    }

    #[test]
    fn a_damaged_file_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(EPOCHS_FILE),
            "fluvio-leader-epochs v1\n3 10\n2 20\n",
        )
        .unwrap();
        assert!(
            LeaderEpochCache::load(dir.path())
                .unwrap()
                .entries()
                .is_empty()
        );
        fs::write(dir.path().join(EPOCHS_FILE), "junk").unwrap();
        assert!(
            LeaderEpochCache::load(dir.path())
                .unwrap()
                .entries()
                .is_empty()
        );
    }
}
