//! The `etcd` backend: every metadata object under one key prefix of an etcd cluster,
//! shared by any number of SCs.
//!
//! Layout under the prefix `P` (always ending in `/`):
//! - `P data/<kind>/<key>`: one object (JSON, as the local backend stores it);
//! - `P sc/leader`: the leading SC (JSON [`ScRecord`]), attached to its lease;
//! - `P sc/members/<id>`: every running SC, each attached to its own lease.
//!
//! Every write is one transaction with compare-and-swap on the revisions this SC last saw
//! of the keys it changes (a key it has never seen must not exist), so two SCs never
//! overwrite each other's changes unseen. While this SC leads, every write is also
//! conditioned on the leader key still being the one it created: a leader whose lease ran
//! out (paused, partitioned) writes nothing, by construction.

pub mod client;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::warn;

use client::{Compare, TxnOp, WatchMsg};
pub use client::{EtcdClient, EtcdError};

use super::{Kind, KvError, KvOp, MetadataBackend, RemoteChange, RemoteMsg};
use crate::sync::lock;

/// `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`, as given to `--metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTarget {
    pub endpoints: Vec<String>,
    /// Normalised: starts without and ends with `/`.
    pub prefix: String,
}

impl FromStr for EtcdTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage =
            "expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX, e.g. etcd://127.0.0.1:2379/fluvio";
        let rest = s
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("'{s}' is not an etcd address: {usage}"))?;
        let (hosts, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let endpoints: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if endpoints.is_empty() {
            return Err(format!("'{s}' names no etcd member: {usage}"));
        }
        for endpoint in &endpoints {
            let port = endpoint.rsplit_once(':').map(|(_, p)| p);
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return Err(format!(
                    "'{endpoint}' in '{s}' needs a port (HOST:PORT): {usage}"
                ));
            }
        }
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return Err(format!(
                "'{s}' names no key prefix; give one so several clusters can share etcd: {usage}"
            ));
        }
        Ok(Self {
            endpoints,
            prefix: format!("{prefix}/"),
        })
    }
}

/// What an SC publishes about itself under `sc/members/` and, when it leads, `sc/leader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScRecord {
    pub id: String,
    pub public_addr: String,
    pub private_addr: String,
    /// When this SC started (members) or took the lead (leader), ms since the epoch.
    pub since_ms: i64,
}

/// The leader key as this SC created it: writes are conditioned on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Guard {
    create_revision: i64,
}

#[derive(Default)]
struct State {
    /// The last revision seen of every data key (a delete keeps the key at its revision,
    /// so an older put arriving late is recognised as old).
    revisions: HashMap<String, i64>,
    guard: Option<Guard>,
    /// The lowest revision among the loads: the watch starts after it.
    loaded_at: Option<i64>,
}

pub struct EtcdBackend {
    client: Arc<EtcdClient>,
    target: EtcdTarget,
    runtime: Handle,
    state: Mutex<State>,
}

impl EtcdBackend {
    /// A backend on `target`; call from inside the tokio runtime.
    pub fn new(target: EtcdTarget) -> Self {
        Self {
            client: Arc::new(EtcdClient::new(target.endpoints.clone())),
            target,
            runtime: Handle::current(),
            state: Mutex::default(),
        }
    }

    pub fn client(&self) -> &Arc<EtcdClient> {
        &self.client
    }

    pub fn target(&self) -> &EtcdTarget {
        &self.target
    }

    fn data_prefix(&self) -> String {
        format!("{}data/", self.target.prefix)
    }

    fn kind_prefix(&self, kind: Kind) -> String {
        format!("{}data/{}/", self.target.prefix, kind.label())
    }

    pub fn leader_key(&self) -> String {
        format!("{}sc/leader", self.target.prefix)
    }

    pub fn members_prefix(&self) -> String {
        format!("{}sc/members/", self.target.prefix)
    }

    /// From now on, every write requires that the leader key is still the one created at
    /// `create_revision` (this SC's); `None`: writes are conditioned on revisions only.
    pub fn set_leader_guard(&self, create_revision: Option<i64>) {
        lock(&self.state).guard = create_revision.map(|create_revision| Guard { create_revision });
    }

    fn split_key(&self, full: &str) -> Option<(Kind, String)> {
        let rest = full.strip_prefix(&self.data_prefix())?;
        let (label, key) = rest.split_once('/')?;
        let kind = Kind::ALL.into_iter().find(|k| k.label() == label)?;
        Some((kind, key.to_string()))
    }

    fn full_key(&self, kind: Kind, key: &str) -> String {
        format!("{}{key}", self.kind_prefix(kind))
    }

    /// Commit with compare-and-swap on the revisions seen; `as_leader`: only while this
    /// SC leads (conditioned on its leader key), refused at once when it does not.
    fn commit_guarded(&self, ops: &[KvOp], as_leader: bool) -> Result<(), KvError> {
        let (mut compares, guard) = {
            let state = lock(&self.state);
            let mut compares = Vec::new();
            for op in ops {
                let (kind, key, is_put) = match op {
                    KvOp::Put { kind, key, .. } => (*kind, key, true),
                    KvOp::Delete { kind, key } => (*kind, key, false),
                };
                let full = self.full_key(kind, key);
                if compares.iter().any(|c| matches!(c, Compare::ModRevision(k, _) | Compare::CreateRevision(k, _) if *k == full)) {
                    continue;
                }
                match state.revisions.get(&full) {
                    Some(&rev) => compares.push(Compare::ModRevision(full, rev)),
                    // Never seen: it must not exist (a delete of nothing needs no check).
                    None if is_put => compares.push(Compare::CreateRevision(full, 0)),
                    None => {}
                }
            }
            // Client writes (any SC takes them) rest on the revisions alone.
            (compares, if as_leader { state.guard } else { None })
        };
        if as_leader && guard.is_none() {
            return Err(KvError::NotLeader);
        }
        if let Some(guard) = guard {
            compares.push(Compare::CreateRevision(
                self.leader_key(),
                guard.create_revision,
            ));
        }
        let writes: Vec<TxnOp> = ops
            .iter()
            .map(|op| match op {
                KvOp::Put { kind, key, value } => TxnOp::Put {
                    key: self.full_key(*kind, key),
                    value: value.clone(),
                    lease: 0,
                },
                KvOp::Delete { kind, key } => TxnOp::Delete(self.full_key(*kind, key)),
            })
            .collect();
        let result = self
            .runtime
            .block_on(
                self.client
                    .txn(&compares, &writes, &[TxnOp::Get(self.leader_key())]),
            )
            .map_err(unavailable)?;
        if result.succeeded {
            let mut state = lock(&self.state);
            for op in ops {
                let (kind, key) = match op {
                    KvOp::Put { kind, key, .. } | KvOp::Delete { kind, key } => (*kind, key),
                };
                state
                    .revisions
                    .insert(self.full_key(kind, key), result.revision);
            }
            return Ok(());
        }
        if let Some(guard) = guard {
            let leader = result.reads.first();
            if leader.is_none_or(|kv| kv.create_revision != guard.create_revision) {
                return Err(KvError::NotLeader);
            }
        }
        Err(KvError::Conflict {
            revision: result.revision,
        })
    }
}

fn unavailable(e: EtcdError) -> KvError {
    KvError::Unavailable(e.to_string())
}

impl MetadataBackend for EtcdBackend {
    fn load(&self, kind: Kind) -> Result<Vec<(String, Vec<u8>)>, KvError> {
        let prefix = self.kind_prefix(kind);
        let (kvs, revision) = self
            .runtime
            .block_on(self.client.range_prefix(&prefix))
            .map_err(unavailable)?;
        let mut state = lock(&self.state);
        state.loaded_at = Some(state.loaded_at.map_or(revision, |r| r.min(revision)));
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            state.revisions.insert(kv.key.clone(), kv.mod_revision);
            if let Some(key) = kv.key.strip_prefix(&prefix) {
                out.push((key.to_string(), kv.value));
            }
        }
        Ok(out)
    }

    fn commit(&self, ops: &[KvOp]) -> Result<(), KvError> {
        self.commit_guarded(ops, false)
    }

    fn commit_as_leader(&self, ops: &[KvOp]) -> Result<(), KvError> {
        self.commit_guarded(ops, true)
    }

    fn describe(&self) -> String {
        format!(
            "etcd://{}/{}",
            self.target.endpoints.join(","),
            self.target.prefix.trim_end_matches('/')
        )
    }

    fn shared(&self) -> bool {
        true
    }

    fn watch(self: Arc<Self>) -> Option<mpsc::Receiver<RemoteMsg>> {
        let start = lock(&self.state).loaded_at.unwrap_or(0);
        let mut changes = self.client.watch_prefix(self.data_prefix(), start);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(msg) = changes.recv().await {
                let out = match msg {
                    WatchMsg::Resync => {
                        warn!("etcd history was compacted past this SC's watch; reloading");
                        RemoteMsg::Resync
                    }
                    WatchMsg::Changes(changes) => {
                        let mut state = lock(&self.state);
                        let mut fresh = Vec::new();
                        let mut revision = 0;
                        for change in changes {
                            revision = revision.max(change.mod_revision);
                            // Our own commits and what the load already read come back: skip.
                            let seen = state.revisions.get(&change.key).copied().unwrap_or(0);
                            if change.mod_revision <= seen {
                                continue;
                            }
                            state
                                .revisions
                                .insert(change.key.clone(), change.mod_revision);
                            if let Some((kind, key)) = self.split_key(&change.key) {
                                fresh.push(RemoteChange {
                                    kind,
                                    key,
                                    value: change.value,
                                });
                            }
                        }
                        RemoteMsg::Changes {
                            changes: fresh,
                            revision,
                        }
                    }
                };
                if tx.send(out).await.is_err() {
                    return;
                }
            }
        });
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_one_or_more_members_and_a_prefix() {
        let t: EtcdTarget = "etcd://127.0.0.1:2379,10.0.0.2:2379/fluvio/prod"
            .parse()
            .unwrap();
        assert_eq!(t.endpoints, vec!["127.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(t.prefix, "fluvio/prod/");
        let err = "etcd://127.0.0.1:2379".parse::<EtcdTarget>().unwrap_err();
        assert!(err.contains("no key prefix"), "{err}");
        let err = "etcd://localhost/x".parse::<EtcdTarget>().unwrap_err();
        assert!(err.contains("needs a port"), "{err}");
        let err = "http://x:1/p".parse::<EtcdTarget>().unwrap_err();
        assert!(err.contains("not an etcd address"), "{err}");
    }
}
