//! Metadata backends: where the SC writes every change before acknowledging it.
//!
//! The SC keeps its stores in memory and treats the backend as a durable log of the
//! latest value per key. A backend only needs atomic, durable batches and a full load at
//! start-up, which is what both the embedded store and etcd (later) give.

mod local;
mod memory;

pub use local::LocalBackend;
pub use memory::MemoryBackend;

use std::fmt;

/// The kinds of object the SC persists. Each is its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Topic,
    Partition,
    Spu,
    AuthToken,
    /// Per partition: the leader epoch and the in-sync set the SC confirmed.
    Replication,
    /// Cluster-wide counters (the next free producer id), as 8-byte big-endian values.
    Counter,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Topic,
        Kind::Partition,
        Kind::Spu,
        Kind::AuthToken,
        Kind::Replication,
        Kind::Counter,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Topic => "topics",
            Kind::Partition => "partitions",
            Kind::Spu => "spus",
            Kind::AuthToken => "auth-tokens",
            Kind::Replication => "replication",
            Kind::Counter => "counters",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    Put {
        kind: Kind,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        kind: Kind,
        key: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("metadata store at {path}: {source}")]
    Local {
        path: String,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("metadata store task failed: {0}")]
    Task(String),
}

/// A durable key-value store for metadata. Calls block; async callers run them on the
/// blocking pool.
pub trait MetadataBackend: Send + Sync + 'static {
    /// Every key and value of one kind, in key order.
    fn load(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, KvError>;

    /// Apply `ops` atomically. When this returns `Ok`, the batch survives a crash.
    fn commit(&self, ops: &[KvOp]) -> Result<(), KvError>;

    /// Names the backend in logs.
    fn describe(&self) -> String;
}
