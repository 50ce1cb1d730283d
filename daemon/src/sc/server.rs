//! Starting the SC: open the metadata store, record the managed SPUs, bind both ports,
//! run the servers and the reconciler until shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::sc::{Endpoint, IngressPort, Metadata, SpuResolution, SpuSpec, SpuStatus, SpuType};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use super::Controller;
use super::private::{AdmissionPolicy, PrivateService};
use super::public::PublicService;
use super::store::{MetadataStore, Mutation, StoreError};
use crate::kv::{KvError, LocalBackend};
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
    pub managed: Vec<ManagedSpu>,
    pub replication: super::ReplicationPolicy,
}

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
    let dir = config.data_dir.clone();
    let backend = crate::sync::run_blocking(move || LocalBackend::open(&dir))
        .await
        .map_err(|e| KvError::Task(e.to_string()))??;
    info!(
        "metadata store: {}",
        crate::kv::MetadataBackend::describe(&backend)
    );
    let store = Arc::new(MetadataStore::open(Arc::new(backend)).await?);
    record_managed(&store, &config.managed).await?;
    let controller = Controller::new(store).await;

    let public_addr = public.local_addr().map_err(ScError::Bind)?;
    let private_addr = private.local_addr().map_err(ScError::Bind)?;
    let mut server_config = ServerConfig::new("SC public");
    server_config.max_frame_bytes = config.max_frame_bytes;
    server_config.limits = config.limits.clone();
    let public_server = Server::new(
        server_config.clone(),
        public,
        Arc::new(PublicService::new(controller.clone())),
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
    let tasks = vec![
        tokio::spawn(public_server.run(shutdown.clone())),
        tokio::spawn(private_server.run(shutdown.clone())),
        tokio::spawn(
            controller
                .clone()
                .run_reconciler(config.managed.iter().map(|m| m.id).collect(), shutdown),
        ),
    ];
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
