//! A backend that keeps everything in memory: for tests of the stores and controllers.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::sync::lock;

use super::{Kind, KvError, KvOp, MetadataBackend};

#[derive(Debug, Default)]
pub struct MemoryBackend {
    data: Mutex<BTreeMap<(Kind, String), Vec<u8>>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl MetadataBackend for MemoryBackend {
    fn load(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, KvError> {
        let data = lock(&self.data);
        Ok(data
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    fn commit(&self, ops: &[KvOp]) -> Result<(), KvError> {
        let mut data = lock(&self.data);
        for op in ops {
            match op {
                KvOp::Put { kind, key, value } => {
                    data.insert((*kind, key.clone()), value.clone());
                }
                KvOp::Delete { kind, key } => {
                    data.remove(&(*kind, key.clone()));
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "in-memory".to_string()
    }
}
