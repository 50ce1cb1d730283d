//! The `local` backend: one redb file in the data directory.
//!
//! redb commits are atomic and, at its default durability, fsynced before `commit`
//! returns; a torn write at any point leaves the previous commit readable. That is the
//! whole crash-safety argument, so nothing here is hand-rolled.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Kind, KvError, KvOp, MetadataBackend};

/// The file name inside the data directory.
pub const FILE_NAME: &str = "sc-metadata.redb";

fn table(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(kind.label())
}

pub struct LocalBackend {
    db: Database,
    path: PathBuf,
}

impl LocalBackend {
    /// Open (or create) the store in `dir`, creating every table so loads never miss one.
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        let path = dir.join(FILE_NAME);
        let err = |source: redb::Error| KvError::Local {
            path: path.display().to_string(),
            source: Box::new(source),
        };
        let db = Database::create(&path).map_err(|e| err(e.into()))?;
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        for kind in Kind::ALL {
            txn.open_table(table(kind)).map_err(|e| err(e.into()))?;
        }
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(Self { db, path })
    }

    fn err(&self, source: impl Into<redb::Error>) -> KvError {
        KvError::Local {
            path: self.path.display().to_string(),
            source: Box::new(source.into()),
        }
    }
}

impl MetadataBackend for LocalBackend {
    fn load(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, KvError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(table(kind)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            out.push((key.value().to_string(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, ops: &[KvOp]) -> Result<(), KvError> {
        if ops.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        for op in ops {
            match op {
                KvOp::Put { kind, key, value } => {
                    let mut table = txn.open_table(table(*kind)).map_err(|e| self.err(e))?;
                    table
                        .insert(key.as_str(), value.as_slice())
                        .map_err(|e| self.err(e))?;
                }
                KvOp::Delete { kind, key } => {
                    let mut table = txn.open_table(table(*kind)).map_err(|e| self.err(e))?;
                    table.remove(key.as_str()).map_err(|e| self.err(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn describe(&self) -> String {
        format!("local ({})", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_reopen_and_deletes_apply() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = LocalBackend::open(dir.path()).unwrap();
            kv.commit(&[
                KvOp::Put {
                    kind: Kind::Topic,
                    key: "a".into(),
                    value: b"1".to_vec(),
                },
                KvOp::Put {
                    kind: Kind::Topic,
                    key: "b".into(),
                    value: b"2".to_vec(),
                },
                KvOp::Put {
                    kind: Kind::Spu,
                    key: "5001".into(),
                    value: b"s".to_vec(),
                },
            ])
            .unwrap();
            kv.commit(&[KvOp::Delete {
                kind: Kind::Topic,
                key: "a".into(),
            }])
            .unwrap();
        }
        let kv = LocalBackend::open(dir.path()).unwrap();
        assert_eq!(
            kv.load(Kind::Topic).unwrap(),
            vec![("b".to_string(), b"2".to_vec())]
        );
        assert_eq!(kv.load(Kind::Spu).unwrap().len(), 1);
        assert!(kv.load(Kind::AuthToken).unwrap().is_empty());
    }
}
