//! Metadata backends: where the SC writes every change before acknowledging it.
//!
//! The SC keeps its stores in memory and treats the backend as a durable log of the
//! latest value per key. A backend only needs atomic, durable batches and a full load at
//! start-up, which is what both the embedded store and etcd give. A shared backend
//! (etcd) also tells the SC about changes other SCs made ([`MetadataBackend::watch`]).

pub mod etcd;
mod local;
mod memory;

pub use etcd::{EtcdBackend, EtcdTarget};
/// The `local` backend's file in the data directory.
pub use local::FILE_NAME as LOCAL_FILE_NAME;
pub use local::LocalBackend;
pub use memory::MemoryBackend;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::mpsc;

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
    /// The shared store cannot be reached; reads are served from memory meanwhile.
    #[error(
        "metadata store unavailable: {0}; reads are served from this SC's cache, retry the change once etcd is back"
    )]
    Unavailable(String),
    /// Another SC changed one of the keys since this SC last saw it.
    #[error("metadata changed concurrently (store revision {revision}); try again")]
    Conflict { revision: i64 },
    /// This SC no longer holds the leader lease: its write was refused by the store.
    #[error("this SC is no longer the leader (its etcd lease expired); the change was not written")]
    NotLeader,
}

/// A change another writer made to a shared backend; `value` is `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteChange {
    pub kind: Kind,
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// What a shared backend's watch delivers.
#[derive(Debug, Clone)]
pub enum RemoteMsg {
    /// Changes in commit order, up to `revision`.
    Changes {
        changes: Vec<RemoteChange>,
        revision: i64,
    },
    /// Changes were missed: load everything again.
    Resync,
}

/// Where the SC keeps its metadata: `--metadata local | etcd://HOST:PORT[,...]/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MetadataChoice {
    /// The embedded store in the data directory.
    #[default]
    Local,
    Etcd(EtcdTarget),
}

impl FromStr for MetadataChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Self::Local),
            s if s.starts_with("etcd://") => s.parse().map(Self::Etcd),
            other => Err(format!(
                "unknown metadata store '{other}': use local (the default) or etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
            )),
        }
    }
}

impl fmt::Display for MetadataChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Etcd(t) => write!(
                f,
                "etcd://{}/{}",
                t.endpoints.join(","),
                t.prefix.trim_end_matches('/')
            ),
        }
    }
}

/// A durable key-value store for metadata. Calls block; async callers run them on the
/// blocking pool.
pub trait MetadataBackend: Send + Sync + 'static {
    /// Every key and value of one kind, in key order.
    fn load(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, KvError>;

    /// Apply `ops` atomically. When this returns `Ok`, the batch survives a crash.
    fn commit(&self, ops: &[KvOp]) -> Result<(), KvError>;

    /// [`MetadataBackend::commit`] for the controllers' writes, which only the leading SC
    /// may make: a shared backend refuses them ([`KvError::NotLeader`]) unless this SC
    /// still holds the lead when the batch lands. A private backend has one SC, always
    /// leading.
    fn commit_as_leader(&self, ops: &[KvOp]) -> Result<(), KvError> {
        self.commit(ops)
    }

    /// Names the backend in logs.
    fn describe(&self) -> String;

    /// Whether other SCs write to the same store: runtime status (SPU liveness, partition
    /// resolution) is then persisted too, so every SC can show it.
    fn shared(&self) -> bool {
        false
    }

    /// Changes other writers make, from the last load on; `None` for a private store.
    fn watch(self: Arc<Self>) -> Option<mpsc::Receiver<RemoteMsg>> {
        None
    }
}
