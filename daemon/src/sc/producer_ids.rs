//! Producer ids for idempotent producers, handed out by the SC in blocks to the SPUs
//! (which answer InitProducerId from them), as Kafka's controller does.
//!
//! One counter for the cluster, the next free id, lives in the metadata backend. A block
//! is granted only after the counter past it is committed, so an id is never granted twice,
//! whatever crashes: an SC that dies after the commit merely skips the ids of the block it
//! never sent. The counter is read from the backend for every block rather than cached, so
//! an SC that just took over from another (etcd backend) continues where that one stopped.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::kv::{Kind, KvError, KvOp, MetadataBackend};
use crate::sync::run_blocking;

/// The key of the counter under [`Kind::Counter`].
pub const NEXT_PRODUCER_ID: &str = "next-producer-id";

/// The largest block an SPU may ask for at once.
pub const MAX_BLOCK: i32 = 100_000;

/// Hands out blocks of producer ids.
pub struct ProducerIdAllocator {
    backend: Arc<dyn MetadataBackend>,
    /// Serializes read-modify-write of the counter within this SC.
    lock: Mutex<()>,
}

impl ProducerIdAllocator {
    pub fn new(backend: Arc<dyn MetadataBackend>) -> Self {
        Self {
            backend,
            lock: Mutex::new(()),
        }
    }

    /// The first id of a fresh block of `count` (1 to [`MAX_BLOCK`]; clamped) ids, and the
    /// count granted.
    pub async fn allocate(&self, count: i32) -> Result<(i64, i32), KvError> {
        let count = count.clamp(1, MAX_BLOCK);
        let _serial = self.lock.lock().await;
        let backend = self.backend.clone();
        run_blocking(move || {
            let next = backend
                .load(Kind::Counter)?
                .into_iter()
                .find(|(key, _)| key == NEXT_PRODUCER_ID)
                .and_then(|(_, value)| <[u8; 8]>::try_from(value.as_slice()).ok())
                .map_or(0, i64::from_be_bytes);
            let after = next + i64::from(count);
            backend.commit(&[KvOp::Put {
                kind: Kind::Counter,
                key: NEXT_PRODUCER_ID.to_string(),
                value: after.to_be_bytes().to_vec(),
            }])?;
            Ok((next, count))
        })
        .await
        .map_err(|e| KvError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{LocalBackend, MemoryBackend};

    #[tokio::test]
    async fn blocks_never_overlap_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn MetadataBackend> = Arc::new(LocalBackend::open(dir.path()).unwrap());
        let ids = ProducerIdAllocator::new(backend);
        assert_eq!(ids.allocate(10).await.unwrap(), (0, 10));
        assert_eq!(ids.allocate(5).await.unwrap(), (10, 5));
        drop(ids);
        let backend: Arc<dyn MetadataBackend> = Arc::new(LocalBackend::open(dir.path()).unwrap());
        let ids = ProducerIdAllocator::new(backend);
        assert_eq!(ids.allocate(1).await.unwrap(), (15, 1));
    }

    #[tokio::test]
    async fn block_sizes_are_bounded() {
        let ids = ProducerIdAllocator::new(Arc::new(MemoryBackend::new()));
        assert_eq!(ids.allocate(0).await.unwrap(), (0, 1));
        assert_eq!(ids.allocate(i32::MAX).await.unwrap(), (1, MAX_BLOCK));
    }
}
