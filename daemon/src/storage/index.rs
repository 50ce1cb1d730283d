//! The sparse offset index of one segment.
//!
//! On disk, `<base offset:020>.index` is a flat array of 8-byte entries: the batch's base
//! offset relative to the segment's base offset (u32, big-endian) and the batch's byte
//! position in the `.log` file (u32, big-endian). An entry is added before a batch when at
//! least `index_interval_bytes` were written since the previous entry, so the index holds
//! one entry per interval and a lookup walks at most one interval of batch headers.
//!
//! The index is a hint that can always be rebuilt from the log: it is never fsynced on the
//! append path, and recovery rebuilds it when it is missing, torn or inconsistent. The
//! entries live in memory (8 bytes per `index_interval_bytes` of log, 2 MiB per GiB at the
//! default interval); the file lets a clean start skip scanning sealed segments.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::{IoContext, Result};

pub(crate) const ENTRY_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// Why index bytes cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexProblem {
    /// The length is not a whole number of entries.
    TornEntry,
    /// Entries do not strictly increase in both offset and position.
    NotIncreasing { entry: usize },
}

#[derive(Debug, Default)]
pub(crate) struct OffsetIndex {
    entries: Vec<IndexEntry>,
    /// How many leading entries are already in the file.
    persisted: usize,
}

impl OffsetIndex {
    /// Decode index file bytes, checking that the entries are strictly increasing.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, IndexProblem> {
        if !bytes.len().is_multiple_of(ENTRY_LEN) {
            return Err(IndexProblem::TornEntry);
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        for (i, chunk) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
            let entry = IndexEntry {
                relative_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
            };
            let increasing = entries.last().is_none_or(|prev| {
                entry.relative_offset > prev.relative_offset && entry.position > prev.position
            });
            if !increasing {
                return Err(IndexProblem::NotIncreasing { entry: i });
            }
            entries.push(entry);
        }
        let persisted = entries.len();
        Ok(Self { entries, persisted })
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn last(&self) -> Option<IndexEntry> {
        self.entries.last().copied()
    }

    pub fn push(&mut self, entry: IndexEntry) {
        debug_assert!(self.entries.last().is_none_or(|last| {
            last.relative_offset < entry.relative_offset && last.position < entry.position
        }));
        self.entries.push(entry);
    }

    /// The last entry whose offset is at or before `relative_offset`.
    pub fn floor_offset(&self, relative_offset: u32) -> Option<IndexEntry> {
        let n = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// The last entry whose position is at or before `position`.
    pub fn floor_position(&self, position: u64) -> Option<IndexEntry> {
        let n = self
            .entries
            .partition_point(|e| u64::from(e.position) <= position);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drop entries that point at or past `size` (after the log was truncated to `size`).
    pub fn truncate_to_size(&mut self, size: u64) {
        let keep = self
            .entries
            .partition_point(|e| u64::from(e.position) < size);
        self.entries.truncate(keep);
        self.persisted = self.persisted.min(keep);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.persisted = 0;
    }

    pub fn unpersisted(&self) -> usize {
        self.entries.len() - self.persisted
    }

    pub fn encode(entries: &[IndexEntry]) -> Vec<u8> {
        let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN);
        for e in entries {
            out.extend_from_slice(&e.relative_offset.to_be_bytes());
            out.extend_from_slice(&e.position.to_be_bytes());
        }
        out
    }

    /// Append the entries not yet in the file.
    pub fn persist(&mut self, file: &File, path: &Path) -> Result<()> {
        if self.persisted == self.entries.len() {
            return Ok(());
        }
        let bytes = Self::encode(&self.entries[self.persisted..]);
        file.write_all_at(&bytes, (self.persisted * ENTRY_LEN) as u64)
            .ctx("write index", path)?;
        self.persisted = self.entries.len();
        Ok(())
    }

    /// Replace the file's contents with the entries in memory.
    pub fn rewrite(&mut self, file: &File, path: &Path) -> Result<()> {
        let bytes = Self::encode(&self.entries);
        file.set_len(0).ctx("truncate index", path)?;
        file.write_all_at(&bytes, 0).ctx("write index", path)?;
        self.persisted = self.entries.len();
        Ok(())
    }

    /// Cut the file back to the persisted entries (after `truncate_to_size`).
    pub fn sync_file_len(&self, file: &File, path: &Path) -> Result<()> {
        file.set_len((self.persisted * ENTRY_LEN) as u64)
            .ctx("truncate index", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(relative_offset: u32, position: u32) -> IndexEntry {
        IndexEntry {
            relative_offset,
            position,
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let entries = vec![entry(3, 4100), entry(9, 8300), entry(40, 20000)];
        let decoded = OffsetIndex::decode(&OffsetIndex::encode(&entries)).unwrap();
        assert_eq!(decoded.entries(), entries.as_slice());
        assert_eq!(decoded.unpersisted(), 0);
    }

    #[test]
    fn torn_and_non_increasing_indexes_are_rejected() {
        let mut bytes = OffsetIndex::encode(&[entry(3, 4100), entry(9, 8300)]);
        bytes.push(0);
        assert_eq!(
            OffsetIndex::decode(&bytes).unwrap_err(),
            IndexProblem::TornEntry
        );
        let bytes = OffsetIndex::encode(&[entry(3, 4100), entry(3, 8300)]);
        assert_eq!(
            OffsetIndex::decode(&bytes).unwrap_err(),
            IndexProblem::NotIncreasing { entry: 1 }
        );
        let zeros = [0u8; 32];
        assert!(OffsetIndex::decode(&zeros).is_err());
        assert!(OffsetIndex::decode(&[]).unwrap().entries().is_empty());
    }

    #[test]
    fn floor_lookups() {
        let mut index = OffsetIndex::default();
        assert_eq!(index.floor_offset(5), None);
        for e in [entry(10, 100), entry(20, 200), entry(30, 300)] {
            index.push(e);
        }
        assert_eq!(index.floor_offset(9), None);
        assert_eq!(index.floor_offset(10), Some(entry(10, 100)));
        assert_eq!(index.floor_offset(29), Some(entry(20, 200)));
        assert_eq!(index.floor_offset(u32::MAX), Some(entry(30, 300)));
        assert_eq!(index.floor_position(99), None);
        assert_eq!(index.floor_position(250), Some(entry(20, 200)));
        index.truncate_to_size(200);
        assert_eq!(index.entries(), &[entry(10, 100)]);
    }

    #[test]
    fn persist_appends_only_new_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut index = OffsetIndex::default();
        index.push(entry(1, 10));
        index.persist(&file, &path).unwrap();
        index.push(entry(2, 20));
        assert_eq!(index.unpersisted(), 1);
        index.persist(&file, &path).unwrap();
        let on_disk = OffsetIndex::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk.entries(), index.entries());
        index.truncate_to_size(15);
        index.sync_file_len(&file, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), ENTRY_LEN);
    }
}
