//! The SPU role, one folder per part:
//!
//! - [`control`]: the link to the SC (register, follow the replica assignment, report
//!   offsets, heartbeats, reconnect).
//! - [`replica`]: the replicas the assignment gives this SPU, each with its log
//!   ([`replica::store::ReplicaStore`], [`replica::partition::Partition`]).
//! - [`replication`]: leader and follower per partition; the leader's view of its
//!   followers and the private port that serves them, and the follower's fetch loop.
//! - [`public`]: the public port serving produce, fetch offsets and stream fetch.
//! - [`offsets`]: committed consumer offsets, kept in the system topic `consumer-offset`.
//!
//! [`start`] binds both ports and runs them all with one [`SpuConfig`].

pub mod control;
pub mod offsets;
pub mod producer_ids;
pub mod public;
pub mod replica;
pub mod replication;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use protocol::sc::{SpuId, SpuType};
use tokio::sync::watch;
use tracing::info;

use crate::net::{self, Server, ServerConfig};
use crate::storage::FlushPolicy;
use control::link;
use replica::store::{self, ReplicaStore};
use replication::private;

/// How often leaders check their followers' lag.
const REPLICATION_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Everything one SPU needs to run.
#[derive(Debug, Clone)]
pub struct SpuConfig {
    pub id: SpuId,
    pub spu_type: SpuType,
    /// The SC's private address, `host:port`.
    pub sc_private_addr: String,
    pub public_addr: SocketAddr,
    pub private_addr: SocketAddr,
    /// Flag names for error messages about the two addresses.
    pub public_flag: String,
    pub private_flag: String,
    pub data_dir: PathBuf,
    pub rack: Option<String>,
    /// Token name and secret presented at registration.
    pub token: Option<(String, String)>,
    pub max_frame_bytes: usize,
    /// Who may produce, consume and manage consumer offsets on the public port.
    pub authz: crate::authz::Authorizer,
    /// Connection, deadline and frame-memory limits of both ports.
    pub limits: net::ListenerLimits,
    /// When replica logs are synced.
    pub flush: FlushPolicy,
    /// A follower this far behind the leader's log end leaves the in-sync set.
    pub replica_lag: std::time::Duration,
    /// Test fault injection: while this file exists, follower streams send nothing.
    /// Honoured only in builds with the `fault-injection` feature (ignored, with a
    /// warning, otherwise), so that the field is the same in every build.
    pub fault_hold_replication: Option<PathBuf>,
    /// The Kafka listener, if this SPU serves Kafka.
    pub kafka: Option<KafkaListen>,
    /// TLS on both ports and on the links to the SC and other SPUs; `None`: plaintext.
    pub tls: Option<Arc<net::tls::Tls>>,
}

/// Where an SPU's Kafka listener listens.
#[derive(Debug, Clone)]
pub struct KafkaListen {
    pub addr: SocketAddr,
    /// The flag that chose it, for error messages.
    pub flag: String,
    /// Chosen by the operator: failing to bind it is an error. A default address that is
    /// taken is logged and the SPU runs without Kafka.
    pub explicit: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpuError {
    #[error("{0}")]
    Bind(std::io::Error),
    #[error("data directory {path} is not usable: {source}; choose another with --data-dir")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the SC refused SPU {id}: {message}")]
    Refused { id: SpuId, message: String },
    #[error(
        "data directory {path} is in use by another SPU (its .lock is held); give each daemon its own --data-dir, or each SPU its own id"
    )]
    DataDirLocked {
        path: String,
        source: crate::storage::StorageError,
    },
}

/// A started SPU: its bound addresses and the tasks serving them.
pub struct RunningSpu {
    pub id: SpuId,
    pub public_addr: SocketAddr,
    pub private_addr: SocketAddr,
    /// The Kafka listener's address, when it serves Kafka.
    pub kafka_addr: Option<SocketAddr>,
    pub replicas: Arc<ReplicaStore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    link: tokio::task::JoinHandle<Result<(), SpuError>>,
    /// This SPU writes the logs in its directory: one lock for all of them.
    _data_dir: crate::storage::DataDirLock,
}

impl RunningSpu {
    /// Wait for the SPU to stop: after shutdown, or when the SC refuses it.
    pub async fn wait(self) -> Result<(), SpuError> {
        let result = self.link.await.unwrap_or(Ok(()));
        for task in self.tasks {
            if result.is_err() {
                // Refused: nothing to wind down gracefully, the ports just close.
                task.abort();
            }
            let _ = task.await;
        }
        // Connections are gone: close the logs cleanly so the next start skips recovery.
        self.replicas.close_all().await;
        result
    }
}

/// Bind the SPU's ports and start its link to the SC.
pub async fn start(
    config: SpuConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningSpu, SpuError> {
    let dir = config.data_dir.join(format!("spu-{}", config.id));
    std::fs::create_dir_all(&dir).map_err(|source| SpuError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let data_dir =
        crate::storage::DataDirLock::acquire(&dir).map_err(|source| SpuError::DataDirLocked {
            path: dir.display().to_string(),
            source,
        })?;
    let public = net::bind(config.public_addr, &config.public_flag)
        .await
        .map_err(SpuError::Bind)?;
    let private = net::bind(config.private_addr, &config.private_flag)
        .await
        .map_err(SpuError::Bind)?;
    let public_addr = public.local_addr().map_err(SpuError::Bind)?;
    let private_addr = private.local_addr().map_err(SpuError::Bind)?;
    let kafka = match &config.kafka {
        Some(listen) => match net::bind(listen.addr, &listen.flag).await {
            Ok(listener) => Some(listener),
            Err(err) if !listen.explicit => {
                // The error names the flag that picks another address.
                tracing::warn!(spu = config.id, %err, "the SPU runs without a Kafka listener");
                None
            }
            Err(err) => return Err(SpuError::Bind(err)),
        },
        None => None,
    };
    let kafka_addr = match &kafka {
        Some(listener) => Some(listener.local_addr().map_err(SpuError::Bind)?),
        None => None,
    };

    let replicas = ReplicaStore::new(config.id, dir, config.flush);
    replicas.set_replica_lag(config.replica_lag);
    replicas.set_tls(config.tls.clone());
    #[cfg(feature = "fault-injection")]
    replicas.set_fault_hold_replication(config.fault_hold_replication.clone());
    #[cfg(not(feature = "fault-injection"))]
    if config.fault_hold_replication.is_some() {
        tracing::warn!(
            spu = config.id,
            "fault_hold_replication ignored: built without the fault-injection feature"
        );
    }
    let mut server_config = ServerConfig::new("SPU public");
    server_config.max_frame_bytes = config.max_frame_bytes;
    server_config.limits = config.limits.clone();
    server_config.tls = config.tls.clone();
    let public_service = Arc::new(public::PublicService::new(
        replicas.clone(),
        config.authz.clone(),
    ));
    let public_server = Server::new(server_config.clone(), public, public_service);
    server_config.name = "SPU private";
    let private_server = Server::new(
        server_config,
        private,
        Arc::new(private::PrivateService::new(replicas.clone())),
    );
    let mut tasks = vec![
        tokio::spawn(public_server.run(shutdown.clone())),
        tokio::spawn(private_server.run(shutdown.clone())),
        tokio::spawn(replicas.clone().reconcile(shutdown.clone())),
        tokio::spawn(
            replicas
                .clone()
                .replication_loop(REPLICATION_CHECK_EVERY, shutdown.clone()),
        ),
        tokio::spawn(
            replicas
                .clone()
                .retention_loop(store::RETENTION_EVERY, shutdown.clone()),
        ),
    ];

    if let (Some(listener), Some(addr)) = (kafka, kafka_addr) {
        let mut kafka_config = ServerConfig::new(crate::kafka::LISTENER);
        kafka_config.max_frame_bytes = config.max_frame_bytes;
        kafka_config.limits = config.limits.clone();
        // TLS as on the other listeners, so that a client certificate names the principal
        // the policy applies to (librdkafka's `security.protocol=ssl`).
        kafka_config.tls = config.tls.clone();
        let broker = Arc::new(crate::kafka::Broker::new(
            config.id,
            addr,
            replicas.clone(),
            config.authz.clone(),
        ));
        let service = Arc::new(crate::kafka::KafkaService::new(broker));
        tasks.push(tokio::spawn(
            Server::new(kafka_config, listener, service).run(shutdown.clone()),
        ));
    }

    let mut link_config = config.clone();
    link_config.public_addr = public_addr;
    link_config.private_addr = private_addr;
    if let (Some(listen), Some(addr)) = (&mut link_config.kafka, kafka_addr) {
        listen.addr = addr;
    } else {
        link_config.kafka = None;
    }
    let link = tokio::spawn(link::run(link_config, replicas.clone(), shutdown));
    let kafka_note = kafka_addr.map_or(String::new(), |addr| format!(", kafka {addr}"));
    info!(
        spu = config.id,
        "SPU {} ready: public {public_addr}, private {private_addr}{kafka_note}", config.id
    );
    Ok(RunningSpu {
        id: config.id,
        public_addr,
        private_addr,
        kafka_addr,
        replicas,
        tasks,
        link,
        _data_dir: data_dir,
    })
}
