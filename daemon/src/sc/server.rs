//! Starting the SC: open the metadata store, record the managed SPUs, bind both ports,
//! run the servers and the reconciler until shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::sc::{Endpoint, IngressPort, Metadata, SpuResolution, SpuSpec, SpuStatus, SpuType};
use std::time::Duration;

use protocol::sc::TopicResolution;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Controller;
use super::ha::{ClusterSource, Leadership};
use super::private::{AdmissionPolicy, PrivateService};
use super::public::PublicService;
use super::store::{Event, MetadataStore, Mutation, StoreError};
use crate::kv::etcd::ScRecord;
use crate::kv::{EtcdBackend, KvError, LocalBackend, MetadataChoice};
use crate::net::{self, Server, ServerConfig};

/// An SPU this process runs, recorded as managed.
#[derive(Debug, Clone)]
pub struct ManagedSpu {
    pub id: i32,
    pub public_addr: SocketAddr,
    pub private_addr: SocketAddr,
    pub rack: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScConfig {
    pub data_dir: PathBuf,
    pub public_addr: SocketAddr,
    pub private_addr: SocketAddr,
    /// Flag names for error messages about the two addresses.
    pub public_flag: &'static str,
    pub private_flag: &'static str,
    pub max_frame_bytes: usize,
    /// Connection, deadline and frame-memory limits of both ports.
    pub limits: net::ListenerLimits,
    pub policy: AdmissionPolicy,
    /// Who may do what on the public port (`--authz-policy`); the private port's SPU
    /// admission uses `policy.authz`.
    pub authz: crate::authz::Authorizer,
    pub managed: Vec<ManagedSpu>,
    pub replication: super::ReplicationPolicy,
    /// `--metadata`: the embedded store or an etcd prefix shared with other SCs.
    pub metadata: MetadataChoice,
    /// `--leader-lease-secs`: how long a silent leader keeps the lead (etcd only).
    pub leader_lease_secs: u64,
    /// TLS on both ports; `None`: plaintext.
    pub tls: Option<std::sync::Arc<net::tls::Tls>>,
}

/// The default of `--leader-lease-secs`.
pub const DEFAULT_LEADER_LEASE_SECS: u64 = 5;

/// After taking over, how long (beyond the heartbeat timeout) SPUs get to register with
/// the new leader before their partitions get new leaders.
const TAKEOVER_GRACE: Duration = Duration::from_secs(8);

/// How often start-up tries an unreachable etcd again.
const STORE_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ScError {
    #[error("data directory {path} is not usable: {source}; choose another with --data-dir")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the metadata store: {0}")]
    Kv(#[from] KvError),
    #[error("cannot load the metadata store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bind(std::io::Error),
}

pub struct RunningSc {
    pub public_addr: SocketAddr,
    pub private_addr: SocketAddr,
    pub controller: Arc<Controller>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningSc {
    /// Wait until the servers have stopped (after shutdown was signalled).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Check that `dir` exists (creating it) and is writable, with an error naming it.
pub fn prepare_data_dir(dir: &Path) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(probe)
}

/// Make `path` readable and writable by its owner only (mode 0600), creating it empty if
/// missing: the metadata store holds the auth tokens' secret hashes. redb initialises an
/// empty file as a new database.
pub fn owner_only(path: &Path) -> Result<(), std::io::Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps the mode it was created with; older versions made it 0644.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

pub async fn start(
    config: ScConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningSc, ScError> {
    prepare_data_dir(&config.data_dir).map_err(|source| ScError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    // Bind first: a taken port is the most common start-up error and costs nothing to find.
    let public = net::bind(config.public_addr, config.public_flag)
        .await
        .map_err(ScError::Bind)?;
    let private = net::bind(config.private_addr, config.private_flag)
        .await
        .map_err(ScError::Bind)?;
    let public_addr = public.local_addr().map_err(ScError::Bind)?;
    let private_addr = private.local_addr().map_err(ScError::Bind)?;
    let mut tasks = Vec::new();
    let controller = match &config.metadata {
        MetadataChoice::Local => {
            let dir = config.data_dir.clone();
            let metadata_file = dir.join(crate::kv::LOCAL_FILE_NAME);
            owner_only(&metadata_file).map_err(|source| ScError::DataDir {
                path: metadata_file.display().to_string(),
                source,
            })?;
            let backend = crate::sync::run_blocking(move || LocalBackend::open(&dir))
                .await
                .map_err(|e| KvError::Task(e.to_string()))??;
            info!(
                "metadata store: {}",
                crate::kv::MetadataBackend::describe(&backend)
            );
            let described = crate::kv::MetadataBackend::describe(&backend);
            let store = MetadataStore::open(Arc::new(backend)).await?;
            record_managed(&store, &config.managed).await?;
            let controller = Controller::new(store).await;
            controller.set_cluster_source(ClusterSource::Local {
                me: ScRecord {
                    id: public_addr.to_string(),
                    public_addr: public_addr.to_string(),
                    private_addr: private_addr.to_string(),
                    since_ms: super::ha::now_ms(),
                },
                backend: format!("local ({described})"),
            });
            tasks.push(tokio::spawn(controller.clone().run_reconciler(
                config.managed.iter().map(|m| m.id).collect(),
                shutdown.clone(),
            )));
            controller
        }
        MetadataChoice::Etcd(target) => {
            let backend = Arc::new(EtcdBackend::new(target.clone()));
            let described = crate::kv::MetadataBackend::describe(&*backend);
            info!("metadata store: {described}");
            let store = loop {
                match MetadataStore::open(backend.clone()).await {
                    Ok(store) => break store,
                    Err(StoreError::Kv(KvError::Unavailable(reason))) => {
                        warn!(
                            "metadata store unavailable: {reason}; retrying every {} s",
                            STORE_RETRY.as_secs()
                        );
                        let mut stop = shutdown.clone();
                        tokio::select! {
                            _ = tokio::time::sleep(STORE_RETRY) => {}
                            _ = stop.changed() => return Err(ScError::Kv(KvError::Unavailable(reason))),
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            info!("metadata store loaded from {described}");
            let (leadership_tx, leadership_rx) =
                watch::channel(Leadership::Follower { leader: None });
            let controller = Controller::with_leadership(store, leadership_rx).await;
            let me = ScRecord {
                id: format!("{public_addr}"),
                public_addr: public_addr.to_string(),
                private_addr: private_addr.to_string(),
                since_ms: super::ha::now_ms(),
            };
            controller.set_cluster_source(ClusterSource::Etcd {
                me: me.clone(),
                backend: backend.clone(),
            });
            tasks.push(tokio::spawn(super::ha::run_election(
                backend.clone(),
                me,
                config.leader_lease_secs,
                leadership_tx,
                shutdown.clone(),
            )));
            tasks.push(tokio::spawn(lead_while_leader(
                controller.clone(),
                config.replication,
                shutdown.clone(),
            )));
            controller
        }
    };
    let mut server_config = ServerConfig::new("SC public");
    server_config.max_frame_bytes = config.max_frame_bytes;
    server_config.limits = config.limits.clone();
    server_config.tls = config.tls.clone();
    let public_server = Server::new(
        server_config.clone(),
        public,
        Arc::new(PublicService::new(controller.clone(), config.authz.clone())),
    );
    server_config.name = "SC private";
    let private_server = Server::new(
        server_config,
        private,
        Arc::new(
            PrivateService::new(
                controller.clone(),
                config.policy.clone(),
                config.replication,
            )
            .with_public_addr(public_addr),
        ),
    );
    tasks.push(tokio::spawn(public_server.run(shutdown.clone())));
    tasks.push(tokio::spawn(private_server.run(shutdown)));
    info!("SC ready: public {public_addr}, private {private_addr}");
    Ok(RunningSc {
        public_addr,
        private_addr,
        controller,
        tasks,
    })
}

/// Record (or update) the SPUs this process runs, so topics can be placed on them.
async fn record_managed(store: &MetadataStore, managed: &[ManagedSpu]) -> Result<(), StoreError> {
    let mutations: Vec<Mutation> = store
        .read(|stores| {
            managed
                .iter()
                .filter_map(|m| {
                    let spec = SpuSpec {
                        id: m.id,
                        spu_type: SpuType::Managed,
                        public_endpoint: IngressPort::from_host_port(
                            &m.public_addr.ip().to_string(),
                            m.public_addr.port(),
                        ),
                        private_endpoint: Endpoint::from_host_port(
                            &m.private_addr.ip().to_string(),
                            m.private_addr.port(),
                        ),
                        rack: m.rack.clone(),
                        public_endpoint_local: None,
                        kafka_endpoint: None,
                    };
                    let name = m.id.to_string();
                    match stores.spus.get(&name) {
                        Some(existing) if existing.spec == spec => None,
                        _ => Some(Mutation::PutSpu(Metadata::new(
                            name,
                            spec,
                            SpuStatus {
                                resolution: SpuResolution::Init,
                            },
                        ))),
                    }
                })
                .collect()
        })
        .await;
    store.apply(mutations).await
}

/// On a shared store: whenever this SC becomes the leader, take over (every SPU is
/// offline until it registers here), run the reconciler, and after a grace period elect
/// new partition leaders in place of SPUs that never came back; stop all that when the
/// lead is lost.
async fn lead_while_leader(
    controller: Arc<Controller>,
    replication: super::ReplicationPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut leadership = controller.watch_leadership();
    loop {
        tokio::select! {
            changed = leadership.wait_for(Leadership::is_leader) => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
        info!("leading: taking over the SPUs and the controllers");
        let taken = controller
            .store()
            .update(|stores| {
                let offline = SpuStatus {
                    resolution: SpuResolution::Offline,
                };
                let mutations = stores
                    .spus
                    .values()
                    .filter(|s| s.status.resolution != SpuResolution::Offline)
                    .map(|s| Mutation::SetSpuStatus(s.name.clone(), offline.clone()))
                    .collect();
                Ok::<_, std::convert::Infallible>((mutations, ()))
            })
            .await;
        if let Err(e) = taken {
            warn!(%e, "cannot take over the SPUs; waiting for the next term");
        }
        let (term_end, term) = watch::channel(false);
        let reconciler = tokio::spawn(controller.clone().run_reconciler(Vec::new(), term.clone()));
        // Other SCs create topics against what they last saw of the SPUs; one that found
        // none online waits here for placement.
        let placer = {
            let controller = controller.clone();
            let mut topics = controller.store().feeds().topics.subscribe();
            let mut term = term;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        event = topics.recv() => match event {
                            Ok(batch) => {
                                let waiting = batch.events.iter().any(|e| matches!(e,
                                    Event::Update(t) if t.status.resolution != TopicResolution::Provisioned));
                                if waiting {
                                    controller.reconcile_topics().await;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => controller.reconcile_topics().await,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = term.changed() => return,
                    }
                }
            })
        };
        // SPUs need a while to come over: noticing the old leader is gone (it may be
        // paused, silent rather than closed) and trying the SCs of their list in turn.
        let grace = replication.heartbeat_timeout + TAKEOVER_GRACE;
        let elector = {
            let controller = controller.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let missing: Vec<(i32, String)> = controller
                    .store()
                    .read(|stores| {
                        stores
                            .spus
                            .values()
                            .filter(|s| s.status.resolution != SpuResolution::Online)
                            .map(|s| (s.spec.id, s.name.clone()))
                            .collect()
                    })
                    .await;
                for (id, name) in missing {
                    if controller.is_leader() {
                        super::private::take_offline(
                            &controller,
                            id,
                            &name,
                            replication.unclean_election,
                        )
                        .await;
                    }
                }
            })
        };
        tokio::select! {
            _ = leadership.wait_for(|l| !l.is_leader()) => {}
            _ = shutdown.changed() => {}
        }
        let _ = term_end.send(true);
        elector.abort();
        placer.abort();
        let _ = reconciler.await;
        if *shutdown.borrow() {
            return;
        }
        warn!("no longer leading: the controllers stopped");
    }
}
