//! `fluvio cluster start | status | stop | delete`: a local cluster in one command, as
//! Fluvio users know it.
//!
//! * `start` runs `fluvio-daemon` (SC and SPUs in one process) in the background, in a
//!   process group of its own so a Ctrl-C in the shell does not reach it, with its data in
//!   `~/.fluvio/data` and its log in `~/.fluvio/fluvio-daemon.log`; records its pid in
//!   `~/.fluvio/fluvio-daemon.pid`; waits for the daemon's ready line and prints where it
//!   listens. `~` is `$HOME`.
//! * `status` says whether that daemon runs and where, and how the cluster the CLI points at
//!   (`--sc`, `FLUVIO_SC`, the profile, the default) is doing: SC reachable, SPUs online and
//!   offline. It fails (exit 1) when the SC cannot be reached, so scripts can wait on it.
//! * `stop` sends SIGTERM and waits for the daemon to flush and exit.
//! * `delete` stops it and removes its data and log, after a confirmation (`--force`/`-y`
//!   skips it; without a terminal to ask on, it is required).
//!
//! The daemon binary is the `fluvio-daemon` next to this `fluvio`, else the one on `PATH`.

use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use protocol::sc::{SpuResolution, SpuSpec};

use super::{CommandError, Context, Output};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Start a local cluster (fluvio-daemon: an SC and SPUs) in the background, with its
    /// data and log under ~/.fluvio; waits until it is ready.
    Start(StartArgs),
    /// Whether the local cluster runs, and the health of the cluster the CLI points at.
    Status,
    /// Stop the local cluster cleanly (SIGTERM, then wait for it to exit).
    Stop,
    /// Stop the local cluster and delete its data and log (asks first).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// SPUs to run in the daemon (ids 5001.., each on the next two ports).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub spus: u16,
    /// Where the SC listens for clients.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9003")]
    pub sc_public_addr: SocketAddr,
    /// Where the SC listens for SPUs.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9004")]
    pub sc_private_addr: SocketAddr,
    /// Where the first SPU listens for clients; SPU i adds 2i to the port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9005")]
    pub spu_public_addr: SocketAddr,
    /// Where the first SPU listens for followers; SPU i adds 2i to the port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9006")]
    pub spu_private_addr: SocketAddr,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Delete without asking.
    #[arg(short = 'y', long, visible_alias = "yes")]
    pub force: bool,
}

impl ClusterCmd {
    /// `status` looks at the SC the CLI points at; the others only at the local daemon.
    pub fn needs_sc(&self) -> bool {
        matches!(self, ClusterCmd::Status)
    }
}

/// Why a cluster command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot find the home directory: set HOME")]
    NoHome,
    #[error(
        "cannot find fluvio-daemon next to {} or on PATH; build it with `cargo build -p daemon` \
         and put it beside fluvio or on PATH",
        beside.display()
    )]
    NoDaemonBinary { beside: PathBuf },
    #[error(
        "a local cluster already runs: fluvio-daemon pid {pid}; `fluvio cluster status` shows \
         it, `fluvio cluster stop` stops it"
    )]
    AlreadyRunning { pid: u32 },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fluvio-daemon exited before it was ready ({status}); its log {} ends with:\n{tail}", log.display())]
    DiedAtStart {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "fluvio-daemon (pid {pid}) is not ready after {} s; it may still be starting: see {}",
        waited.as_secs(), log.display()
    )]
    NotReady {
        pid: u32,
        waited: Duration,
        log: PathBuf,
    },
    #[error(
        "fluvio-daemon (pid {pid}) did not stop within {} s of SIGTERM; it goes on running: \
         see {}, or end it with `kill -9 {pid}`",
        waited.as_secs(), log.display()
    )]
    DidNotStop {
        pid: u32,
        waited: Duration,
        log: PathBuf,
    },
    #[error("cannot signal fluvio-daemon (pid {pid}): {source}")]
    Signal { pid: u32, source: std::io::Error },
    #[error(
        "deleting the local cluster's data needs a confirmation and there is no terminal to \
         ask on: pass --force (-y)"
    )]
    NeedsConfirmation,
}

/// Where the local cluster keeps its files: `~/.fluvio/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFiles {
    pub base: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    pub pid: PathBuf,
}

impl LocalFiles {
    /// Under `$HOME/.fluvio`.
    pub fn from_home() -> Result<LocalFiles, ClusterError> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(ClusterError::NoHome)?;
        Ok(LocalFiles::under(&PathBuf::from(home).join(".fluvio")))
    }

    pub fn under(base: &Path) -> LocalFiles {
        LocalFiles {
            base: base.to_path_buf(),
            data: base.join("data"),
            log: base.join("fluvio-daemon.log"),
            pid: base.join("fluvio-daemon.pid"),
        }
    }

    /// The pid recorded, if that process still runs and is a fluvio-daemon (a pid reused by
    /// another program after a crash does not count).
    pub fn running_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(&self.pid).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        is_daemon(pid).then_some(pid)
    }

    /// The addresses of the last ready line in the log: (SC public, SC private, SPUs).
    fn ready_line(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines()
            .rev()
            .find_map(|l| l.split_once(READY).map(|(_, rest)| rest.trim().to_string()))
    }
}

/// What the daemon logs once it serves: `fluvio-daemon ready: SC public A, private B; N SPU(s)`.
const READY: &str = "fluvio-daemon ready:";
/// How long `start` waits for the ready line.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long `stop` waits after SIGTERM: a daemon flushes every partition before it exits.
const STOP_WITHIN: Duration = Duration::from_secs(30);

pub async fn execute(cmd: ClusterCmd, ctx: &Context) -> Result<Output, CommandError> {
    let files = LocalFiles::from_home()?;
    match cmd {
        ClusterCmd::Start(args) => start(&files, &args).await,
        ClusterCmd::Status => status(&files, ctx).await,
        ClusterCmd::Stop => stop(&files).await,
        ClusterCmd::Delete(args) => delete(&files, &args, ctx).await,
    }
}

async fn start(files: &LocalFiles, args: &StartArgs) -> Result<Output, CommandError> {
    if let Some(pid) = files.running_pid() {
        return Err(ClusterError::AlreadyRunning { pid }.into());
    }
    let binary = daemon_binary()?;
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClusterError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(&files.data).map_err(io("create", &files.data))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .map_err(io("open", &files.log))?;
    // Only lines written from here on tell whether this run is ready.
    let from = log.seek(SeekFrom::End(0)).map_err(io("read", &files.log))?;
    let stderr = log.try_clone().map_err(io("open", &files.log))?;
    let mut command = std::process::Command::new(&binary);
    command
        .arg("--data-dir")
        .arg(&files.data)
        .args(["--spus", &args.spus.to_string()])
        .args(["--sc-public-addr", &args.sc_public_addr.to_string()])
        .args(["--sc-private-addr", &args.sc_private_addr.to_string()])
        .args(["--spu-public-addr", &args.spu_public_addr.to_string()])
        .args(["--spu-private-addr", &args.spu_private_addr.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(stderr);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: the shell's Ctrl-C and hang-up are not for it.
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(io("run", &binary))?;
    let pid = child.id();
    std::fs::write(&files.pid, format!("{pid}\n")).map_err(io("write", &files.pid))?;

    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if ready_since(&files.log, from).is_some() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let _ = std::fs::remove_file(&files.pid);
            return Err(ClusterError::DiedAtStart {
                status: status.to_string(),
                log: files.log.clone(),
                tail: log_tail(&files.log, from, 10),
            }
            .into());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::NotReady {
                pid,
                waited: READY_WITHIN,
                log: files.log.clone(),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut text = format!("local cluster started: fluvio-daemon pid {pid}\n");
    text.push_str(&addresses(args));
    text.push_str(&format!(
        "data:     {}\nlog:      {}\n",
        files.data.display(),
        files.log.display()
    ));
    Ok(Output {
        body: super::Body::Text(text),
        ..Output::default()
    })
}

/// Where the started daemon listens, one line per role, SPUs by the daemon's rule: SPU i
/// on the first SPU's ports plus 2i.
fn addresses(args: &StartArgs) -> String {
    let mut text = format!(
        "SC:       {} (clients), {} (SPUs)\n",
        args.sc_public_addr, args.sc_private_addr
    );
    let nth = |addr: SocketAddr, i: u16| {
        let mut addr = addr;
        addr.set_port(addr.port().wrapping_add(2 * i));
        addr
    };
    for i in 0..args.spus {
        text.push_str(&format!(
            "SPU {}: {} (clients), {} (followers)\n",
            5001 + u32::from(i),
            nth(args.spu_public_addr, i),
            nth(args.spu_private_addr, i),
        ));
    }
    text
}

async fn status(files: &LocalFiles, ctx: &Context) -> Result<Output, CommandError> {
    let mut text = match files.running_pid() {
        Some(pid) => {
            let at = files
                .ready_line()
                .map(|ready| format!(", {ready}"))
                .unwrap_or_default();
            format!(
                "local cluster: running, fluvio-daemon pid {pid}{at}\n  data {}\n  log  {}\n",
                files.data.display(),
                files.log.display()
            )
        }
        None => "local cluster: not running (`fluvio cluster start` starts one)\n".to_string(),
    };
    let target = ctx.target();
    let origin = match &target.origin {
        crate::config::AddrOrigin::Flag => "given with --sc".to_string(),
        origin => origin.to_string(),
    };
    text.push_str(&format!("cluster at {} ({origin}): ", target.addr));
    let spus = match ctx.admin().await {
        Ok(admin) => admin.list::<SpuSpec>(&[]).await,
        Err(CommandError::Client(error)) => Err(error),
        Err(other) => return Err(other),
    };
    match spus {
        Ok(spus) => {
            let online = spus
                .iter()
                .filter(|s| s.status.resolution == SpuResolution::Online)
                .count();
            let mut offline: Vec<String> = spus
                .iter()
                .filter(|s| s.status.resolution != SpuResolution::Online)
                .map(|s| format!("{} ({})", s.spec.id, s.status.resolution.label()))
                .collect();
            offline.sort();
            text.push_str(&format!(
                "SC reachable; SPUs: {online} online, {} not online",
                offline.len()
            ));
            if !offline.is_empty() {
                text.push_str(&format!(": {}", offline.join(", ")));
            }
            text.push('\n');
            // An SC older than the SC cluster API just shows nothing more.
            if let Ok(scs) = client::Admin::sc_cluster(&target.addr).await {
                text.push_str(&sc_lines(&scs, now_ms()));
            }
            Ok(Output {
                body: super::Body::Text(text),
                ..Output::default()
            })
        }
        Err(error) => {
            text.push_str("SC not reachable\n");
            Ok(Output {
                body: super::Body::Text(text),
                failures: vec![error.into()],
                ..Output::default()
            })
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The metadata store and one line per SC: address, leader or standby (with since when),
/// private address.
fn sc_lines(scs: &protocol::sc::cluster::ScClusterResponse, now_ms: i64) -> String {
    let mut text = format!("metadata store: {}\n", scs.backend);
    let leader = scs
        .leader()
        .map_or("none elected".to_string(), |l| l.public_addr.clone());
    text.push_str(&format!(
        "SCs: {} running, leader {leader}\n",
        scs.members.len()
    ));
    for m in &scs.members {
        let role = if m.leader {
            let secs = (now_ms - m.leader_since_ms).max(0) / 1000;
            format!(
                "leader since {} UTC ({secs} s)",
                crate::tui::format::timestamp(m.leader_since_ms)
            )
        } else {
            "standby".to_string()
        };
        text.push_str(&format!(
            "  {}  {role}  (private {}, up since {} UTC)\n",
            m.public_addr,
            m.private_addr,
            crate::tui::format::timestamp(m.started_ms)
        ));
    }
    text
}

async fn stop(files: &LocalFiles) -> Result<Output, CommandError> {
    let Some(pid) = files.running_pid() else {
        // A pid file left by a crash says nothing any more.
        let _ = std::fs::remove_file(&files.pid);
        return Ok(Output::message("no local cluster is running"));
    };
    terminate(pid, files).await?;
    Ok(Output::message(format!(
        "local cluster stopped (fluvio-daemon pid {pid})"
    )))
}

/// SIGTERM, then wait until the process is gone; the pid file goes with it.
async fn terminate(pid: u32, files: &LocalFiles) -> Result<(), ClusterError> {
    let raw = i32::try_from(pid).map_err(|_| ClusterError::Signal {
        pid,
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: kill(2) with a pid read back and checked to be a fluvio-daemon.
    if unsafe { libc::kill(raw, libc::SIGTERM) } != 0 {
        return Err(ClusterError::Signal {
            pid,
            source: std::io::Error::last_os_error(),
        });
    }
    let deadline = Instant::now() + STOP_WITHIN;
    while is_daemon(pid) {
        if Instant::now() >= deadline {
            return Err(ClusterError::DidNotStop {
                pid,
                waited: STOP_WITHIN,
                log: files.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(&files.pid);
    Ok(())
}

async fn delete(
    files: &LocalFiles,
    args: &DeleteArgs,
    ctx: &Context,
) -> Result<Output, CommandError> {
    if !args.force {
        let question = format!(
            "Delete the local cluster's data ({}) and log ({})? Every topic and record in it is lost.",
            files.data.display(),
            files.log.display()
        );
        match ctx.confirm(&question) {
            Some(true) => {}
            Some(false) => return Ok(Output::message("nothing deleted")),
            None => return Err(ClusterError::NeedsConfirmation.into()),
        }
    }
    let mut said = Vec::new();
    if let Some(pid) = files.running_pid() {
        terminate(pid, files).await?;
        said.push(format!("local cluster stopped (fluvio-daemon pid {pid})"));
    }
    for path in [&files.data] {
        match std::fs::remove_dir_all(path) {
            Ok(()) => said.push(format!("deleted {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClusterError::Io {
                    action: "delete",
                    path: path.clone(),
                    source,
                }
                .into());
            }
        }
    }
    for path in [&files.log, &files.pid] {
        match std::fs::remove_file(path) {
            Ok(()) if path == &files.log => said.push(format!("deleted {}", path.display())),
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClusterError::Io {
                    action: "delete",
                    path: path.clone(),
                    source,
                }
                .into());
            }
        }
    }
    if said.is_empty() {
        said.push("no local cluster data to delete".into());
    }
    Ok(Output {
        body: super::Body::Text(said.join("\n") + "\n"),
        ..Output::default()
    })
}

/// Does `pid` run a fluvio-daemon? (Not a zombie, not another program that got the pid.)
fn is_daemon(pid: u32) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc.join("stat")) else {
        return false;
    };
    // The state follows the command name in parentheses: `Z` is exited, not yet reaped.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim().chars().next());
    if state == Some('Z') {
        return false;
    }
    std::fs::read(proc.join("cmdline")).is_ok_and(|cmdline| {
        let program = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        Path::new(std::ffi::OsStr::new(
            std::str::from_utf8(program).unwrap_or_default(),
        ))
        .file_name()
        .is_some_and(|name| name == "fluvio-daemon")
    })
}

/// The `fluvio-daemon` next to this binary, else the first on `PATH`.
fn daemon_binary() -> Result<PathBuf, ClusterError> {
    let me = std::env::current_exe().unwrap_or_default();
    let beside = me
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let candidate = beside.join("fluvio-daemon");
    if candidate.is_file() {
        return Ok(candidate);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("fluvio-daemon"))
        .find(|path| path.is_file())
        .ok_or(ClusterError::NoDaemonBinary { beside })
}

/// The ready line written to `log` after byte `from`, if any yet.
fn ready_since(log: &Path, from: u64) -> Option<String> {
    let text = read_from(log, from);
    text.lines()
        .find_map(|l| l.split_once(READY).map(|(_, rest)| rest.trim().to_string()))
}

/// The last `lines` lines written to `log` after byte `from`.
fn log_tail(log: &Path, from: u64, lines: usize) -> String {
    let text = read_from(log, from);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn read_from(log: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log)
        && file.seek(SeekFrom::Start(from)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// Ask `question` on stderr and read y/N from the terminal; `None` when stdin is not a
/// terminal (nobody to ask).
pub fn ask_on_terminal(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_live_under_the_base() {
        let files = LocalFiles::under(Path::new("/home/u/.fluvio"));
        assert_eq!(files.data, Path::new("/home/u/.fluvio/data"));
        assert_eq!(files.log, Path::new("/home/u/.fluvio/fluvio-daemon.log"));
        assert_eq!(files.pid, Path::new("/home/u/.fluvio/fluvio-daemon.pid"));
    }

    #[test]
    fn addresses_follow_the_daemons_rule() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: StartArgs,
        }
        let wrap = Wrap::parse_from(["x", "--spus", "2"]);
        assert_eq!(
            addresses(&wrap.args),
            "SC:       127.0.0.1:9003 (clients), 127.0.0.1:9004 (SPUs)\n\
             SPU 5001: 127.0.0.1:9005 (clients), 127.0.0.1:9006 (followers)\n\
             SPU 5002: 127.0.0.1:9007 (clients), 127.0.0.1:9008 (followers)\n"
        );
    }

    #[test]
    fn a_pid_that_is_not_a_daemon_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let files = LocalFiles::under(dir.path());
        assert_eq!(files.running_pid(), None);
        std::fs::write(&files.pid, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(
            files.running_pid(),
            None,
            "this test is not a fluvio-daemon"
        );
        std::fs::write(&files.pid, "not a pid").unwrap();
        assert_eq!(files.running_pid(), None);
    }
}
