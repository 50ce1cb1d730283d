//! The Streaming Controller: owns the metadata (auth tokens, SPUs, topics, partitions),
//! reconciles it with controllers, serves clients on the public port and SPUs on the
//! private port.
//!
//! - [`server`]: start the SC ([`server::start`], [`server::ScConfig`]).
//! - [`store`]: the metadata in memory, written through to the KV backend, with change
//!   feeds; [`views`] builds what clients see from it; [`table_fmt`] prints it.
//! - [`controllers`]: the decisions, pure functions over the stores (replica assignment,
//!   topic and partition reconciliation), tested without I/O.
//! - [`actions`]: applies those decisions through the store for each request that changes
//!   metadata, and runs the reconcile loop ([`Controller`]).
//! - [`public`]: the client port; [`private`]: the SPU port; [`auth`]: SPU admission by
//!   auth token.

pub mod actions;
pub mod auth;
pub mod controllers;
pub mod ha;
pub mod private;
pub mod producer_ids;
pub mod public;
pub mod server;
pub mod store;
pub mod table_fmt;
pub mod views;

pub use actions::Controller;

use std::time::Duration;

/// How the SC runs replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationPolicy {
    /// `--min-in-sync`: replicas that must be in sync to acknowledge a read_committed
    /// produce. `None`: 2 for replication factor 3 or more, else 1.
    pub min_in_sync: Option<u32>,
    /// An SPU silent for this long is taken offline.
    pub heartbeat_timeout: Duration,
    /// Elect an out-of-sync replica when no in-sync one is left.
    pub unclean_election: bool,
}

impl Default for ReplicationPolicy {
    fn default() -> Self {
        Self {
            min_in_sync: None,
            heartbeat_timeout: Duration::from_secs(5),
            unclean_election: false,
        }
    }
}

impl ReplicationPolicy {
    /// The minimum in-sync replicas for a partition with `replication_factor` replicas.
    pub fn min_in_sync_for(&self, replication_factor: usize) -> u32 {
        let rf = u32::try_from(replication_factor).unwrap_or(u32::MAX).max(1);
        let default = if rf >= 3 { 2 } else { 1 };
        self.min_in_sync.unwrap_or(default).clamp(1, rf)
    }
}
