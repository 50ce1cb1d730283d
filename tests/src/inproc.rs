//! A daemon inside the test process: the SC and its managed SPUs started through
//! `daemon::sc::server::start` and `daemon::spu::start`, as `fluvio-daemon` wires them, on
//! a tokio runtime of their own. For the protocol-level tests, which talk bytes to a port
//! and need no process to kill: no binary to build, no process to spawn and poll for its
//! ready line. Its log goes to a buffer of its own, as a child's goes to its file.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use daemon::net::ListenerLimits;
use daemon::sc::private::{AdmissionPolicy, MANAGED_TOKEN_NAME};
use daemon::sc::server::{self, ManagedSpu, RunningSc, ScConfig};
use daemon::spu::{self, RunningSpu, SpuConfig};
use protocol::frame::DEFAULT_MAX_FRAME_BYTES;
use protocol::sc::SpuType;
use tokio::sync::watch;

use crate::{Role, free_addr};

/// The id of the first managed SPU, as `fluvio-daemon` numbers them.
const FIRST_SPU_ID: i32 = 5001;

/// How long the SPUs may take to come online, and the servers to stop.
const WAIT: Duration = Duration::from_secs(30);

/// The daemon's log, shared with the writer its tracing subscriber makes.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An SC (with `Role::AllInOne`, plus its managed SPUs) serving from this process;
/// stopped, and its logs closed, when dropped.
pub struct InProcess {
    /// SC public and private.
    pub public: SocketAddr,
    pub private: SocketAddr,
    pub data_dir: PathBuf,
    log: LogBuffer,
    stop: watch::Sender<bool>,
    sc: Option<RunningSc>,
    spus: Vec<RunningSpu>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl InProcess {
    /// Start `role` (`AllInOne` or `Sc`) on `data_dir` and wait until it is ready: the SC
    /// on port 0, managed SPUs on free ports (the SC records them before they bind).
    pub fn start(role: Role, data_dir: &Path) -> InProcess {
        let log = LogBuffer::default();
        let dispatch = {
            let log = log.clone();
            tracing::Dispatch::new(
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(move || log.clone())
                    .finish(),
            )
        };
        // Each runtime thread logs to this daemon's buffer only: other daemons of the
        // test process have their own.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .expect("tokio runtime");
        let (spus, allow_unauthenticated) = match role {
            Role::AllInOne { spus } => (spus, false),
            Role::Sc {
                allow_unauthenticated_spus,
            } => (0, allow_unauthenticated_spus),
            Role::Spu { .. } => panic!("an SPU alone runs as a process: Daemon::start"),
        };
        let secret = daemon::sc::auth::generate_secret();
        let managed: Vec<ManagedSpu> = (0..spus)
            .map(|i| ManagedSpu {
                id: FIRST_SPU_ID + i32::from(i),
                public_addr: free_addr(),
                private_addr: free_addr(),
                rack: None,
            })
            .collect();
        let (stop, shutdown) = watch::channel(false);
        let config = ScConfig {
            data_dir: data_dir.to_path_buf(),
            public_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            private_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_flag: "--sc-public-addr",
            private_flag: "--sc-private-addr",
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            limits: ListenerLimits::default(),
            policy: AdmissionPolicy {
                allow_unauthenticated,
                managed_secret: (spus > 0).then(|| secret.clone()),
            },
            managed: managed.clone(),
            replication: daemon::sc::ReplicationPolicy::default(),
        };
        let (sc, spus) = runtime.block_on(async {
            let sc = server::start(config, shutdown.clone())
                .await
                .expect("start the SC in process");
            let mut spus = Vec::new();
            for m in managed {
                let config = SpuConfig {
                    id: m.id,
                    spu_type: SpuType::Managed,
                    sc_private_addr: sc.private_addr.to_string(),
                    public_addr: m.public_addr,
                    private_addr: m.private_addr,
                    public_flag: "--spu-public-addr".into(),
                    private_flag: "--spu-private-addr".into(),
                    data_dir: data_dir.to_path_buf(),
                    rack: None,
                    token: Some((MANAGED_TOKEN_NAME.to_string(), secret.clone())),
                    max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
                    limits: ListenerLimits::default(),
                    flush: Default::default(),
                    replica_lag: Duration::from_secs(10),
                    fault_hold_replication: None,
                    kafka: None,
                };
                let spu = spu::start(config, shutdown.clone())
                    .await
                    .expect("start an SPU in process");
                spus.push(spu);
            }
            let ids: Vec<_> = spus.iter().map(|spu| spu.id).collect();
            let offline = sc.controller.wait_online(&ids, WAIT).await;
            assert!(
                offline.is_empty(),
                "SPUs {offline:?} not online in {WAIT:?}"
            );
            (sc, spus)
        });
        InProcess {
            public: sc.public_addr,
            private: sc.private_addr,
            data_dir: data_dir.to_path_buf(),
            log,
            stop,
            sc: Some(sc),
            spus,
            runtime: Some(runtime),
        }
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        let log = self.log.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&log).into_owned()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let spus = std::mem::take(&mut self.spus);
        let sc = self.sc.take();
        // Stop as the binary does on SIGTERM, so the logs close before the data dir goes.
        let _ = runtime.block_on(async {
            tokio::time::timeout(WAIT, async {
                for spu in spus {
                    let _ = spu.wait().await;
                }
                if let Some(sc) = sc {
                    sc.wait().await;
                }
            })
            .await
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
