//! `fluvio-daemon`: the SC and SPUs in one process (no subcommand), or one role per
//! process (`sc`, `spu`).
//!
//! Ports with no subcommand: the SC listens on `--sc-public-addr` (9003) and
//! `--sc-private-addr` (9004). Managed SPU `i` (0-based, id `5001 + i`) listens on the
//! port of `--spu-public-addr` plus `2i` and the port of `--spu-private-addr` plus `2i`:
//! 9005/9006, 9007/9008, ...

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use daemon::net::ListenerLimits;
use daemon::net::limits::{self, FrameMemory};
use daemon::sc::private::{AdmissionPolicy, MANAGED_TOKEN_NAME};
use daemon::sc::server::{self, ManagedSpu, ScConfig};
use daemon::spu::{self, SpuConfig};
use daemon::storage::FlushPolicy;
use protocol::frame::DEFAULT_MAX_FRAME_BYTES;
use protocol::sc::SpuType;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// The first managed SPU's id.
const FIRST_SPU_ID: i32 = 5001;
/// How long the all-in-one daemon waits for its SPUs to register before it says it is ready
/// anyway (they keep trying; topics created meanwhile wait for them).
const SPUS_ONLINE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(
    name = "fluvio-daemon",
    version,
    about = "The Fluvio streaming platform daemon"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    all: AllInOne,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run only the Streaming Controller.
    Sc(ScArgs),
    /// Run only one SPU, joining the SC at --sc-private-addr.
    Spu(SpuArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Where metadata and partition logs live.
    #[arg(long, env = "FLUVIO_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Largest request frame accepted, in bytes; bigger frames close the connection.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Log filter (tracing syntax, e.g. `info,daemon=debug`); RUST_LOG works too.
    #[arg(long)]
    log: Option<String>,
    /// Log line format: text (for people) or json (one object per line, for log shippers).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve /metrics, /healthz and /readyz over HTTP here (one endpoint for every role of
    /// the process). Default without a subcommand: 127.0.0.1:9644, skipped with a warning
    /// if taken; `sc` and `spu` serve it only when given.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_metrics")]
    metrics_addr: Option<SocketAddr>,
    /// Run without the metrics and health endpoint, and count nothing.
    #[arg(long)]
    no_metrics: bool,
    #[command(flatten)]
    listener: ListenerArgs,
}

/// Limits every listener of the process enforces (SC public and private, each SPU's
/// public and private).
#[derive(Debug, Args)]
struct ListenerArgs {
    /// Connections each listener serves at once; one more is accepted and closed at once.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Connections each listener serves at once from one peer IP address.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_CONNECTIONS_PER_PEER)]
    max_connections_per_peer: usize,
    /// How long a frame may take to arrive whole once its first byte has come
    /// (e.g. 30s, 500ms, 2m; bare numbers are seconds). Quiet time between frames is
    /// not limited.
    #[arg(long, default_value = "30s", value_parser = limits::parse_duration)]
    frame_timeout: std::time::Duration,
    /// How long a new connection may take to send its first whole frame.
    #[arg(long, default_value = "10s", value_parser = limits::parse_duration)]
    first_frame_timeout: std::time::Duration,
    /// Memory for frames being received, shared by all connections of the process
    /// (bytes, or with KiB/MiB/GiB); at least --max-frame-bytes. While it is spent,
    /// large frames wait unread.
    #[arg(long, default_value = "512MiB", value_parser = limits::parse_bytes)]
    frame_memory: usize,
}

impl ListenerArgs {
    /// The limits for every listener of this process: one frame-memory budget for all.
    fn limits(&self, max_frame_bytes: usize) -> Result<ListenerLimits, String> {
        if self.frame_memory < max_frame_bytes {
            return Err(format!(
                "--frame-memory {} is less than --max-frame-bytes {max_frame_bytes}: a frame of the largest allowed size could never be read; raise --frame-memory or lower --max-frame-bytes",
                self.frame_memory
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_peer == 0 {
            return Err(
                "--max-connections and --max-connections-per-peer must be at least 1".into(),
            );
        }
        Ok(ListenerLimits {
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            frame_timeout: self.frame_timeout,
            first_frame_timeout: self.first_frame_timeout,
            frame_memory: FrameMemory::new(self.frame_memory),
        })
    }
}

/// The SPUs' Kafka listeners.
#[derive(Debug, Args)]
struct KafkaArgs {
    /// Serve the Kafka protocol here (in `fluvio-daemon`: the first SPU's address, SPU i
    /// adds i to the port; default 127.0.0.1:9092, skipped with a warning when taken).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_kafka")]
    kafka_addr: Option<SocketAddr>,
    /// Serve no Kafka protocol.
    #[arg(long)]
    no_kafka: bool,
}

impl KafkaArgs {
    /// Whether the SPUs serve Kafka (the all-in-one daemon by default).
    fn serves(&self, all_in_one: bool) -> bool {
        !self.no_kafka && (all_in_one || self.kafka_addr.is_some())
    }

    /// SPU `index`'s listener; only the all-in-one daemon has a default.
    fn listen(&self, index: u16, all_in_one: bool) -> Result<Option<spu::KafkaListen>, String> {
        if self.no_kafka {
            return Ok(None);
        }
        let (base, explicit) = match self.kafka_addr {
            Some(addr) => (addr, true),
            None if all_in_one => (
                daemon::kafka::DEFAULT_ADDR
                    .parse()
                    .expect("the default Kafka address parses"),
                false,
            ),
            None => return Ok(None),
        };
        // Port 0 asks the system for a free port, for every SPU.
        let addr = if base.port() == 0 {
            base
        } else {
            add_to_port(base, index, "--kafka-addr")?
        };
        Ok(Some(spu::KafkaListen {
            addr,
            flag: "--kafka-addr".into(),
            explicit,
        }))
    }
}

/// SC plus managed SPUs in one process.
#[derive(Debug, Args)]
struct AllInOne {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[arg(long, default_value = "127.0.0.1:9003")]
    sc_public_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9004")]
    sc_private_addr: SocketAddr,
    /// Managed SPUs to run (ids 5001, 5002, ...).
    #[arg(long, default_value_t = 1)]
    spus: u16,
    /// The first SPU's public address; SPU i adds 2i to the port.
    #[arg(long, default_value = "127.0.0.1:9005")]
    spu_public_addr: SocketAddr,
    /// The first SPU's private address; SPU i adds 2i to the port.
    #[arg(long, default_value = "127.0.0.1:9006")]
    spu_private_addr: SocketAddr,
    /// When partition logs are synced: always | interval:<ms> | never.
    #[arg(long, default_value = "never")]
    flush: FlushPolicy,
    /// A follower that has not caught up with the leader for this long leaves the
    /// in-sync set.
    #[arg(long, default_value_t = 10_000)]
    replica_lag_ms: u64,
    #[command(flatten)]
    replication: ReplicationArgs,
}

#[derive(Debug, Args)]
struct ScArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "127.0.0.1:9003")]
    public_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9004")]
    private_addr: SocketAddr,
    /// Admit registered custom SPUs without an auth token.
    #[arg(long)]
    allow_unauthenticated_spus: bool,
    #[command(flatten)]
    replication: ReplicationArgs,
}

/// The SC's replication settings.
#[derive(Debug, Args)]
struct ReplicationArgs {
    /// Replicas that must be in sync to acknowledge a read_committed produce (default:
    /// 2 for replication factor 3 or more, else 1; never more than the factor).
    #[arg(long)]
    min_in_sync: Option<u32>,
    /// An SPU silent for this long (no heartbeat) is taken offline and its partitions get
    /// new leaders.
    #[arg(long, default_value_t = 5_000)]
    spu_heartbeat_timeout_ms: u64,
    /// Allow electing a replica outside the in-sync set when no in-sync one is left
    /// (loses committed records; off by default).
    #[arg(long)]
    unclean_leader_election: bool,
}

impl ReplicationArgs {
    fn policy(&self) -> daemon::sc::ReplicationPolicy {
        daemon::sc::ReplicationPolicy {
            min_in_sync: self.min_in_sync,
            heartbeat_timeout: std::time::Duration::from_millis(self.spu_heartbeat_timeout_ms),
            unclean_election: self.unclean_leader_election,
        }
    }
}

#[derive(Debug, Args)]
struct SpuArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// This SPU's id; it must be registered on the SC as a custom SPU.
    #[arg(long)]
    id: i32,
    #[arg(long, default_value = "127.0.0.1:9004")]
    sc_private_addr: String,
    #[arg(long, default_value = "127.0.0.1:9005")]
    public_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9006")]
    private_addr: SocketAddr,
    #[arg(long)]
    rack: Option<String>,
    /// Auth token to present to the SC.
    #[arg(long, requires = "token_secret_file")]
    token_name: Option<String>,
    /// File holding the token's secret.
    #[arg(long, env = "FLV_TOKEN_SECRET_FILE", requires = "token_name")]
    token_secret_file: Option<PathBuf>,
    /// When partition logs are synced: always | interval:<ms> | never.
    #[arg(long, default_value = "never")]
    flush: FlushPolicy,
    /// A follower that has not caught up with the leader for this long leaves the
    /// in-sync set (it rejoins once caught up).
    #[arg(long, default_value_t = 10_000)]
    replica_lag_ms: u64,
    /// Fault injection for tests: while this file exists, followers get nothing from
    /// this SPU.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    fault_hold_replication: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl Common {
    /// Where to serve the admin endpoint, and whether the operator chose it; `None` for
    /// none. Only the all-in-one daemon has a default.
    fn metrics_addr(&self, all_in_one: bool) -> Option<(SocketAddr, bool)> {
        if self.no_metrics {
            return None;
        }
        match self.metrics_addr {
            Some(addr) => Some((addr, true)),
            None if all_in_one => daemon::admin_http::DEFAULT_ADDR
                .parse()
                .ok()
                .map(|addr| (addr, false)),
            None => None,
        }
    }
}

/// Bind and start the admin endpoint if the process has one.
async fn start_admin(
    common: &Common,
    all_in_one: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some((addr, explicit)) = common.metrics_addr(all_in_one) else {
        return Ok(None);
    };
    let Some(listener) = daemon::admin_http::bind(addr, explicit).await? else {
        return Ok(None);
    };
    Ok(Some(tokio::spawn(daemon::admin_http::serve(
        listener, shutdown,
    ))))
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".fluvio")
        .join("data")
}

fn init_logging(filter: Option<&str>, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        Some(f) => EnvFilter::new(f),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init(),
        // One object per line: timestamp, level, target, fields (message included) and
        // the fields of the spans it happened in (topic and partition of a replica task).
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_target(true)
            .try_init(),
    };
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (log, log_format) = match &cli.role {
        Some(Role::Sc(a)) => (a.common.log.clone(), a.common.log_format),
        Some(Role::Spu(a)) => (a.common.log.clone(), a.common.log_format),
        None => (cli.all.common.log.clone(), cli.all.common.log_format),
    };
    init_logging(log.as_deref(), log_format);
    let no_metrics = match &cli.role {
        Some(Role::Sc(a)) => a.common.no_metrics,
        Some(Role::Spu(a)) => a.common.no_metrics,
        None => cli.all.common.no_metrics,
    };
    if no_metrics {
        daemon::metrics::disable();
    }
    let (common, listeners) = match &cli.role {
        Some(Role::Sc(a)) => (&a.common, 2),
        // An SPU's Kafka listener is one more.
        Some(Role::Spu(a)) => (&a.common, if a.kafka.serves(false) { 3 } else { 2 }),
        None => {
            let per_spu = if cli.all.kafka.serves(true) { 3 } else { 2 };
            (&cli.all.common, 2 + per_spu * usize::from(cli.all.spus))
        }
    };
    raise_open_files_limit(&common.listener, listeners);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.role {
            Some(Role::Sc(args)) => run_sc(args).await,
            Some(Role::Spu(args)) => run_spu(args).await,
            None => run_all(cli.all).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Lift the open-files limit as far as allowed, and say so when the connection limits of
/// all listeners together still cannot be reached.
fn raise_open_files_limit(args: &ListenerArgs, listeners: usize) {
    match limits::raise_open_files_limit() {
        Ok(open_files) => {
            let wanted = args.max_connections.saturating_mul(listeners) as u64;
            if open_files < wanted {
                tracing::warn!(
                    open_files,
                    "the open-files limit ({open_files}) is below --max-connections ({}) times {listeners} listeners; connections beyond it fail at accept (raise the hard limit with ulimit -Hn)",
                    args.max_connections
                );
            } else {
                info!(open_files, "open-files limit");
            }
        }
        Err(err) => tracing::warn!(%err, "cannot raise the open-files limit"),
    }
}

/// Signal shutdown on SIGINT/SIGTERM.
fn shutdown_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

fn add_to_port(addr: SocketAddr, by: u16, flag: &str) -> Result<SocketAddr, String> {
    let port = addr
        .port()
        .checked_add(by)
        .ok_or_else(|| format!("{flag} {addr}: no room for {by} more ports above it"))?;
    Ok(SocketAddr::new(addr.ip(), port))
}

async fn run_all(args: AllInOne) -> Result<(), String> {
    let secret = daemon::sc::auth::generate_secret();
    let mut managed = Vec::new();
    for i in 0..args.spus {
        managed.push(ManagedSpu {
            id: FIRST_SPU_ID + i32::from(i),
            public_addr: add_to_port(args.spu_public_addr, 2 * i, "--spu-public-addr")?,
            private_addr: add_to_port(args.spu_private_addr, 2 * i, "--spu-private-addr")?,
            rack: None,
        });
    }
    let limits = args.common.listener.limits(args.common.max_frame_bytes)?;
    let (stop, shutdown) = shutdown_channel();
    daemon::metrics::health::expect_sc();
    for m in &managed {
        daemon::metrics::health::expect_spu(m.id);
    }
    let admin = start_admin(&args.common, true, shutdown.clone()).await?;
    let sc = server::start(
        ScConfig {
            data_dir: args.common.data_dir.clone(),
            public_addr: args.sc_public_addr,
            private_addr: args.sc_private_addr,
            public_flag: "--sc-public-addr",
            private_flag: "--sc-private-addr",
            max_frame_bytes: args.common.max_frame_bytes,
            limits: limits.clone(),
            policy: AdmissionPolicy {
                allow_unauthenticated: false,
                managed_secret: Some(secret.clone()),
            },
            managed: managed.clone(),
            replication: args.replication.policy(),
        },
        shutdown.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    daemon::metrics::state::register_sc(&sc.controller);
    info!(flush = %args.flush, "partition log flush policy");
    let mut spus = Vec::new();
    for (index, m) in managed.into_iter().enumerate() {
        let kafka = args.kafka.listen(index as u16, true)?;
        let spu = spu::start(
            SpuConfig {
                id: m.id,
                spu_type: SpuType::Managed,
                sc_private_addr: sc.private_addr.to_string(),
                public_addr: m.public_addr,
                private_addr: m.private_addr,
                public_flag: "--spu-public-addr".into(),
                private_flag: "--spu-private-addr".into(),
                data_dir: args.common.data_dir.clone(),
                rack: m.rack,
                token: Some((MANAGED_TOKEN_NAME.to_string(), secret.clone())),
                max_frame_bytes: args.common.max_frame_bytes,
                limits: limits.clone(),
                flush: args.flush,
                replica_lag: std::time::Duration::from_millis(args.replica_lag_ms),
                fault_hold_replication: None,
                kafka,
            },
            shutdown.clone(),
        )
        .await;
        match spu {
            Ok(spu) => {
                daemon::metrics::state::register_spu(&spu.replicas);
                spus.push(spu);
            }
            Err(err) => {
                let _ = stop.send(true);
                sc.wait().await;
                return Err(err.to_string());
            }
        }
    }
    // Topics go to online SPUs only: "ready" means a topic created now lands on ours.
    let ids: Vec<_> = spus.iter().map(|spu| spu.id).collect();
    let offline = sc.controller.wait_online(&ids, SPUS_ONLINE_WAIT).await;
    if !offline.is_empty() {
        warn!(
            ?offline,
            "SPUs not online after {} s; topics wait for them",
            SPUS_ONLINE_WAIT.as_secs()
        );
    }
    // Consumers with a consumer id need `consumer-offset` as soon as the daemon is ready.
    sc.controller.ensure_offsets_topic(&ids, false).await;
    info!(
        "fluvio-daemon ready: SC public {}, private {}; {} SPU(s)",
        sc.public_addr,
        sc.private_addr,
        spus.len()
    );
    shutdown_signal().await;
    info!("shutting down");
    let _ = stop.send(true);
    for spu in spus {
        let _ = spu.wait().await;
    }
    sc.wait().await;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    info!("stopped");
    Ok(())
}

async fn run_sc(args: ScArgs) -> Result<(), String> {
    let limits = args.common.listener.limits(args.common.max_frame_bytes)?;
    let (stop, shutdown) = shutdown_channel();
    daemon::metrics::health::expect_sc();
    let admin = start_admin(&args.common, false, shutdown.clone()).await?;
    let sc = server::start(
        ScConfig {
            data_dir: args.common.data_dir,
            public_addr: args.public_addr,
            private_addr: args.private_addr,
            public_flag: "--public-addr",
            private_flag: "--private-addr",
            max_frame_bytes: args.common.max_frame_bytes,
            limits: limits.clone(),
            policy: AdmissionPolicy {
                allow_unauthenticated: args.allow_unauthenticated_spus,
                managed_secret: None,
            },
            managed: Vec::new(),
            replication: args.replication.policy(),
        },
        shutdown,
    )
    .await
    .map_err(|e| e.to_string())?;
    daemon::metrics::state::register_sc(&sc.controller);
    shutdown_signal().await;
    info!("shutting down");
    let _ = stop.send(true);
    sc.wait().await;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    info!("stopped");
    Ok(())
}

async fn run_spu(args: SpuArgs) -> Result<(), String> {
    let token = match (args.token_name, args.token_secret_file) {
        (Some(name), Some(file)) => {
            let secret = std::fs::read_to_string(&file).map_err(|e| {
                format!("cannot read the token secret from {}: {e}", file.display())
            })?;
            Some((name, secret.trim().to_string()))
        }
        _ => None,
    };
    let limits = args.common.listener.limits(args.common.max_frame_bytes)?;
    let (stop, shutdown) = shutdown_channel();
    daemon::metrics::health::expect_spu(args.id);
    let admin = start_admin(&args.common, false, shutdown.clone()).await?;
    info!(flush = %args.flush, "partition log flush policy");
    let kafka = args.kafka.listen(0, false)?;
    let spu = spu::start(
        SpuConfig {
            id: args.id,
            spu_type: SpuType::Custom,
            sc_private_addr: args.sc_private_addr,
            public_addr: args.public_addr,
            private_addr: args.private_addr,
            public_flag: "--public-addr".into(),
            private_flag: "--private-addr".into(),
            data_dir: args.common.data_dir,
            rack: args.rack,
            token,
            max_frame_bytes: args.common.max_frame_bytes,
            limits,
            flush: args.flush,
            replica_lag: std::time::Duration::from_millis(args.replica_lag_ms),
            #[cfg(feature = "fault-injection")]
            fault_hold_replication: args.fault_hold_replication,
            #[cfg(not(feature = "fault-injection"))]
            fault_hold_replication: None,
            kafka,
        },
        shutdown,
    )
    .await
    .map_err(|e| e.to_string())?;
    daemon::metrics::state::register_spu(&spu.replicas);
    let stopper = tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = stop.send(true);
    });
    let result = spu.wait().await.map_err(|e| e.to_string());
    stopper.abort();
    if let Some(admin) = admin {
        admin.abort();
    }
    result
}
