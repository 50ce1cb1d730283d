//! Helpers shared by the integration tests: the daemon binary, free ports, fresh data
//! dirs, child daemons that die with the test, daemons inside the test process, the
//! official Python client in a virtualenv, and a minimal blocking SC client built on the
//! protocol types.

pub mod cli;
pub mod client;
pub mod cluster;
pub mod inproc;
pub mod metrics;
pub mod python;
pub mod spu_client;
pub mod tmux;
pub mod wire;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a daemon may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The workspace's binaries, built once per test process, and the path of `name`
/// among them. (A test in another package cannot use `CARGO_BIN_EXE_*`; a nested
/// `cargo build` is fine inside `cargo test`.) `--examples` brings in the features that
/// dev-dependencies add, as `cargo test --workspace` does, so after that command, or
/// `.ci/run`'s build step (the same command), this finds nothing to do instead of
/// compiling the dependencies again with another feature set.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let out = Command::new(cargo)
            .args(["build", "--workspace", "--bins", "--examples"])
            .current_dir(workspace_root())
            .output()
            .expect("run cargo build for the binaries");
        assert!(
            out.status.success(),
            "building the binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let binary = target_dir().join("debug").join(name);
    assert!(binary.exists(), "{} missing after build", binary.display());
    binary
}

/// The `fluvio-daemon` binary.
pub fn daemon_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| workspace_binary("fluvio-daemon"))
}

/// Ports for test servers come from below the kernel's ephemeral range (32768 and up by
/// default), so an outgoing connection can never take one between our picking it and a
/// daemon binding it, nor while a killed daemon is restarted on it.
const TEST_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A port free right now on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    free_ports(1)
}

/// The first of `count` consecutive ports, all free right now on 127.0.0.1 (managed SPUs
/// take consecutive ports above their base). Each test process walks the range from its
/// own starting point, so processes that follow each other do not reuse ports at once.
pub fn free_ports(count: u16) -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = NEXT.fetch_add(u32::from(count), Ordering::Relaxed);
        let base = TEST_PORTS.start + (start + offset) % span;
        if base + u32::from(count) > TEST_PORTS.end {
            continue;
        }
        let all_free = (base..base + u32::from(count))
            .map(|port| TcpListener::bind(("127.0.0.1", port as u16)))
            .collect::<Result<Vec<_>, _>>()
            .is_ok();
        if all_free {
            return SocketAddr::from(([127, 0, 0, 1], base as u16));
        }
    }
    panic!("no {count} free consecutive ports in {TEST_PORTS:?}");
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Role {
    /// SC plus `spus` managed SPUs.
    AllInOne {
        spus: u16,
    },
    Sc {
        allow_unauthenticated_spus: bool,
    },
    Spu {
        id: i32,
        sc_private: SocketAddr,
        token: Option<(String, PathBuf)>,
        rack: Option<String>,
    },
}

/// A child `fluvio-daemon`, killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    pub role: Role,
    pub data_dir: PathBuf,
    /// SC public/private, or the SPU's public/private.
    pub public: SocketAddr,
    pub private: SocketAddr,
    /// The metrics and health endpoint (`--metrics-addr`), on a port of its own so that
    /// daemons of parallel tests never meet on the default 9644; `None` when the test
    /// passed `--no-metrics` or its own `--metrics-addr`.
    pub metrics: Option<SocketAddr>,
    log: PathBuf,
}

impl Daemon {
    /// Start `role` with fresh ports on `data_dir` and wait until it is ready.
    pub fn start(role: Role, data_dir: &Path) -> Daemon {
        let daemon = Self::spawn(role, data_dir);
        daemon.wait_ready();
        daemon
    }

    /// Start without waiting for readiness (for processes expected to fail).
    pub fn spawn(role: Role, data_dir: &Path) -> Daemon {
        let public = free_addr();
        let private = free_addr();
        Self::spawn_on(role, data_dir, public, private)
    }

    /// Start on given addresses (to restart a daemon where it was).
    pub fn spawn_on(
        role: Role,
        data_dir: &Path,
        public: SocketAddr,
        private: SocketAddr,
    ) -> Daemon {
        Self::spawn_with_args(role, data_dir, public, private, &[])
    }

    /// Start with fresh ports and `extra` flags (e.g. `--flush always`), and wait until
    /// it is ready.
    pub fn start_with_args(role: Role, data_dir: &Path, extra: &[&str]) -> Daemon {
        let daemon = Self::spawn_with_args(role, data_dir, free_addr(), free_addr(), extra);
        daemon.wait_ready();
        daemon
    }

    /// Start with fresh ports where no file the daemon writes may grow past `bytes`:
    /// writes beyond it fail with EFBIG (SIGXFSZ ignored), as when a disk or quota is full.
    /// The daemon's own log counts too, so keep `bytes` well above what it logs.
    pub fn start_with_file_size_limit(role: Role, data_dir: &Path, bytes: u64) -> Daemon {
        let daemon = Self::spawn_inner(role, data_dir, free_addr(), free_addr(), &[], Some(bytes));
        daemon.wait_ready();
        daemon
    }

    /// Start on given addresses with `extra` flags after the role's own.
    pub fn spawn_with_args(
        role: Role,
        data_dir: &Path,
        public: SocketAddr,
        private: SocketAddr,
        extra: &[&str],
    ) -> Daemon {
        Self::spawn_inner(role, data_dir, public, private, extra, None)
    }

    fn spawn_inner(
        role: Role,
        data_dir: &Path,
        public: SocketAddr,
        private: SocketAddr,
        extra: &[&str],
        file_size_limit: Option<u64>,
    ) -> Daemon {
        let mut cmd = Command::new(daemon_binary());
        let data = data_dir.display().to_string();
        match &role {
            Role::AllInOne { spus } => {
                cmd.args(["--data-dir", &data])
                    .args(["--sc-public-addr", &public.to_string()])
                    .args(["--sc-private-addr", &private.to_string()])
                    .args(["--spus", &spus.to_string()]);
                // Managed SPUs take consecutive port pairs above a free base.
                let base = free_ports(2 * spus);
                cmd.args(["--spu-public-addr", &base.to_string()]).args([
                    "--spu-private-addr",
                    &SocketAddr::new(base.ip(), base.port().wrapping_add(1)).to_string(),
                ]);
            }
            Role::Sc {
                allow_unauthenticated_spus,
            } => {
                cmd.args(["sc", "--data-dir", &data])
                    .args(["--public-addr", &public.to_string()])
                    .args(["--private-addr", &private.to_string()]);
                if *allow_unauthenticated_spus {
                    cmd.arg("--allow-unauthenticated-spus");
                }
            }
            Role::Spu {
                id,
                sc_private,
                token,
                rack,
            } => {
                cmd.args(["spu", "--data-dir", &data, "--id", &id.to_string()])
                    .args(["--sc-private-addr", &sc_private.to_string()])
                    .args(["--public-addr", &public.to_string()])
                    .args(["--private-addr", &private.to_string()]);
                if let Some((name, file)) = token {
                    cmd.args(["--token-name", name])
                        .args(["--token-secret-file", &file.display().to_string()]);
                }
                if let Some(rack) = rack {
                    cmd.args(["--rack", rack]);
                }
            }
        }
        cmd.args(extra);
        if matches!(role, Role::AllInOne { .. })
            && !extra
                .iter()
                .any(|a| a.starts_with("--kafka-addr") || *a == "--no-kafka")
        {
            // The all-in-one daemon serves Kafka on 9092 by default: tests that want
            // Kafka pass their own --kafka-addr, the others keep off that shared port.
            cmd.arg("--no-kafka");
        }
        let metrics = if extra
            .iter()
            .any(|a| a.starts_with("--metrics-addr") || *a == "--no-metrics")
        {
            None
        } else {
            let addr = free_addr();
            cmd.args(["--metrics-addr", &addr.to_string()]);
            Some(addr)
        };
        if let Some(bytes) = file_size_limit {
            // The shell sets the limit and execs the daemon in its place; `sh` counts
            // `ulimit -f` in 512-byte blocks.
            let script = format!(
                "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
                bytes.div_ceil(512)
            );
            let mut wrapped = Command::new("sh");
            wrapped
                .arg("-c")
                .arg(script)
                .arg(cmd.get_program())
                .args(cmd.get_args());
            cmd = wrapped;
        }
        std::fs::create_dir_all(data_dir).expect("create data dir");
        let log = data_dir.join(format!(
            "daemon-{}-{}.log",
            std::process::id(),
            public.port()
        ));
        let stderr = File::create(&log).expect("create daemon log");
        let child = cmd
            .env("RUST_LOG", "info")
            .env_remove("FLUVIO_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn fluvio-daemon");
        Daemon {
            child,
            role,
            data_dir: data_dir.to_path_buf(),
            public,
            private,
            metrics,
            log,
        }
    }

    /// What the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn ready_marker(&self) -> String {
        match &self.role {
            Role::AllInOne { .. } => "fluvio-daemon ready".into(),
            Role::Sc { .. } => "SC ready".into(),
            Role::Spu { .. } => "registered with the SC".into(),
        }
    }

    /// Wait for the ready line; panic with the log if the process exits or takes too long.
    pub fn wait_ready(&self) {
        let marker = self.ready_marker();
        self.wait_for_log(&marker, READY_TIMEOUT);
    }

    /// Wait until the log contains `text`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not log {text:?} in {timeout:?}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the process to exit; its status and log.
    pub fn wait_exit(&mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "daemon still running after {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit(timeout).0
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// A client library handle on this daemon's SC.
    pub async fn connect(&self) -> console::client::Fluvio {
        console::client::Fluvio::connect(&self.public.to_string())
            .await
            .expect("connect to the daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Held by the tests that keep the CPU busy on purpose (connection floods, soaks,
/// benchmarks, memory bounds under load) so that they run one at a time while the tests
/// that mostly wait on I/O run around them: `cargo test` runs more test threads than the
/// machine has cores (`.cargo/config.toml`), and two floods at once would starve daemons of
/// other tests past deadlines those tests are not about.
pub fn cpu_heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed heavy test must not fail the next one.
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh temporary directory, removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fluvio-test-")
        .tempdir()
        .expect("create temp dir")
}

/// A multi-threaded tokio runtime for tests that drive the async client library.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A computed topic spec: `partitions` partitions, one replica each.
pub fn topic_spec(partitions: u32) -> protocol::sc::TopicSpec {
    protocol::sc::TopicSpec {
        replicas: protocol::sc::ReplicaSpec::Computed {
            partitions,
            replication_factor: 1,
            ignore_rack_assignment: false,
        },
        ..protocol::sc::TopicSpec::default()
    }
}

/// A computed topic spec: `partitions` partitions, `replication_factor` replicas each,
/// racks ignored.
pub fn replicated(partitions: u32, replication_factor: u32) -> protocol::sc::TopicSpec {
    protocol::sc::TopicSpec {
        replicas: protocol::sc::ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ignore_rack_assignment: true,
        },
        ..protocol::sc::TopicSpec::default()
    }
}

/// One memory figure of process `pid` from `/proc/<pid>/status`, in bytes: `"VmRSS"` for
/// the resident set now, `"VmHWM"` for its peak so far.
pub fn proc_memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("read /proc/{pid}/status: {err}"));
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in kB in /proc/{pid}/status"));
    kib * 1024
}
