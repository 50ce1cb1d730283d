//! Several SCs on one etcd prefix: which of them leads.
//!
//! Every SC holds an etcd lease of `--leader-lease-secs` and keeps it alive; it publishes
//! itself under `sc/members/` on that lease, and tries to create `sc/leader` on it (a
//! transaction that succeeds only when the key does not exist). The SC that created the
//! key leads: it runs the controllers and serves SPUs; its writes are conditioned on the
//! key (see [`crate::kv::etcd`]). When it stops renewing, etcd deletes the key with the
//! lease and the next SC to try takes over. A leader that finds its lease gone (it was
//! paused, or cut off from etcd for longer than the lease) steps down at once; its
//! writes were already refused by etcd.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use protocol::sc::cluster::{ScClusterResponse, ScMember};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::kv::EtcdBackend;
use crate::kv::etcd::client::{Compare, TxnOp};
use crate::kv::etcd::{EtcdError, ScRecord};

/// Whether this SC leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This SC leads, since this time (ms since the epoch).
    Leader { since_ms: i64 },
    /// Another SC leads (`None`: none known yet, or etcd unreachable).
    Follower { leader: Option<ScRecord> },
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }

    /// The leader's private address, for SPUs asking a follower.
    pub fn leader_private_addr(&self) -> Option<&str> {
        match self {
            Leadership::Follower { leader: Some(l) } => Some(&l.private_addr),
            _ => None,
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The cluster's SCs as one SC sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScView {
    pub backend: String,
    pub members: Vec<ScRecord>,
    pub leader: Option<ScRecord>,
}

/// Read who runs and who leads from etcd.
pub async fn view(backend: &EtcdBackend) -> Result<ScView, EtcdError> {
    let client = backend.client();
    let (members, _) = client.range_prefix(&backend.members_prefix()).await?;
    let leader = client.get(&backend.leader_key()).await?;
    Ok(ScView {
        backend: crate::kv::MetadataBackend::describe(backend),
        members: members
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect(),
        leader: leader.and_then(|kv| serde_json::from_slice(&kv.value).ok()),
    })
}

/// Run the election for this SC until shutdown; `leadership` says where it stands.
pub async fn run_election(
    backend: Arc<EtcdBackend>,
    me: ScRecord,
    lease_secs: u64,
    leadership: watch::Sender<Leadership>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ttl = Duration::from_secs(lease_secs.max(1));
    let renew_every = ttl / 3;
    let client = backend.client().clone();
    let leader_key = backend.leader_key();
    let member_key = format!("{}{}", backend.members_prefix(), me.id);
    let mut lease: Option<i64> = None;
    // When the lease was last confirmed alive: past the TTL it may be gone, and this SC
    // must not believe it leads.
    let mut renewed = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250).min(renew_every));
    let mut unreachable_logged = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let step = async {
            let id = match lease {
                Some(id) => {
                    if renewed.elapsed() >= renew_every {
                        if client.lease_keepalive(id).await? {
                            renewed = Instant::now();
                        } else {
                            warn!(sc = %me.id, "this SC's etcd lease expired");
                            lease = None;
                            step_down(&backend, &leadership, None);
                            return Ok(());
                        }
                    }
                    id
                }
                None => {
                    let id = client.lease_grant(lease_secs.max(1)).await?;
                    renewed = Instant::now();
                    let record = serde_json::to_vec(&me).unwrap_or_default();
                    client
                        .txn(
                            &[],
                            &[TxnOp::Put {
                                key: member_key.clone(),
                                value: record,
                                lease: id,
                            }],
                            &[],
                        )
                        .await?;
                    lease = Some(id);
                    id
                }
            };
            let current = leadership.borrow().clone();
            if current.is_leader() {
                let held = client.get(&leader_key).await?;
                if held.is_none_or(|kv| kv.lease != id) {
                    warn!(sc = %me.id, "this SC lost the leader key");
                    step_down(&backend, &leadership, None);
                }
                return Ok(());
            }
            let record = ScRecord {
                since_ms: now_ms(),
                ..me.clone()
            };
            let result = client
                .txn(
                    &[Compare::CreateRevision(leader_key.clone(), 0)],
                    &[TxnOp::Put {
                        key: leader_key.clone(),
                        value: serde_json::to_vec(&record).unwrap_or_default(),
                        lease: id,
                    }],
                    &[TxnOp::Get(leader_key.clone())],
                )
                .await?;
            if result.succeeded {
                backend.set_leader_guard(Some(result.revision));
                info!(sc = %me.id, "this SC is now the leader");
                leadership.send_replace(Leadership::Leader {
                    since_ms: record.since_ms,
                });
            } else {
                let leader: Option<ScRecord> = result
                    .reads
                    .first()
                    .and_then(|kv| serde_json::from_slice(&kv.value).ok());
                leadership.send_if_modified(|now| {
                    let next = Leadership::Follower {
                        leader: leader.clone(),
                    };
                    let changed = *now != next;
                    *now = next;
                    changed
                });
            }
            Ok::<(), EtcdError>(())
        };
        match step.await {
            Ok(()) => unreachable_logged = false,
            Err(e) => {
                if !unreachable_logged {
                    warn!(sc = %me.id, "metadata store unavailable: {e}; retrying");
                    unreachable_logged = true;
                }
                // Past the lease, etcd may have given the lead to another SC.
                if leadership.borrow().is_leader() && renewed.elapsed() >= ttl {
                    step_down(&backend, &leadership, None);
                }
            }
        }
    }
    // A clean stop hands over at once instead of after the lease.
    if let Some(id) = lease {
        backend.set_leader_guard(None);
        let _ = client.lease_revoke(id).await;
    }
}

fn step_down(
    backend: &EtcdBackend,
    leadership: &watch::Sender<Leadership>,
    leader: Option<ScRecord>,
) {
    backend.set_leader_guard(None);
    if leadership.borrow().is_leader() {
        warn!("this SC steps down: another SC may lead now");
    }
    leadership.send_replace(Leadership::Follower { leader });
}

/// What this SC tells clients about the cluster's SCs (the SC cluster API).
pub enum ClusterSource {
    /// The only SC, on its embedded store.
    Local { me: ScRecord, backend: String },
    Etcd {
        me: ScRecord,
        backend: Arc<EtcdBackend>,
    },
}

impl ClusterSource {
    pub async fn answer(&self, leadership: &Leadership) -> ScClusterResponse {
        let member = |r: &ScRecord, leader: Option<&ScRecord>| ScMember {
            id: r.id.clone(),
            public_addr: r.public_addr.clone(),
            private_addr: r.private_addr.clone(),
            started_ms: r.since_ms,
            leader: leader.is_some_and(|l| l.id == r.id),
            leader_since_ms: leader.filter(|l| l.id == r.id).map_or(0, |l| l.since_ms),
        };
        match self {
            ClusterSource::Local { me, backend } => {
                let since = match leadership {
                    Leadership::Leader { since_ms } => *since_ms,
                    Leadership::Follower { .. } => me.since_ms,
                };
                let leader = ScRecord {
                    since_ms: since,
                    ..me.clone()
                };
                ScClusterResponse {
                    backend: backend.clone(),
                    answered_by: me.public_addr.clone(),
                    members: vec![member(me, Some(&leader))],
                    // Filled by the public service, which reads the SPUs.
                    kafka_brokers: Vec::new(),
                }
            }
            ClusterSource::Etcd { me, backend } => match view(backend).await {
                Ok(view) => {
                    let mut members: Vec<ScMember> = view
                        .members
                        .iter()
                        .map(|m| member(m, view.leader.as_ref()))
                        .collect();
                    members.sort_by(|a, b| a.public_addr.cmp(&b.public_addr));
                    ScClusterResponse {
                        backend: view.backend,
                        answered_by: me.public_addr.clone(),
                        members,
                        kafka_brokers: Vec::new(),
                    }
                }
                // etcd away: what this SC knows of itself and the last leader it saw.
                Err(e) => {
                    warn!("cannot read the SC list: metadata store unavailable: {e}");
                    let leader = match leadership {
                        Leadership::Leader { since_ms } => Some(ScRecord {
                            since_ms: *since_ms,
                            ..me.clone()
                        }),
                        Leadership::Follower { leader } => leader.clone(),
                    };
                    let mut members = vec![member(me, leader.as_ref())];
                    if let Some(l) = leader.as_ref().filter(|l| l.id != me.id) {
                        members.push(member(l, Some(l)));
                    }
                    ScClusterResponse {
                        backend: format!(
                            "{} (unavailable)",
                            crate::kv::MetadataBackend::describe(&**backend)
                        ),
                        answered_by: me.public_addr.clone(),
                        members,
                        kafka_brokers: Vec::new(),
                    }
                }
            },
        }
    }
}
