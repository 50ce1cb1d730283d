//! The command tree shared by the CLI, the REPL and the TUI's `:` bar, and its executor.
//!
//! * [`Cli`] is the whole tree as clap parses it; [`parse`] takes any argument list (argv,
//!   or a REPL line split with shell quoting), so every front end parses the same way.
//! * [`execute`] runs one [`Command`] against a [`Context`] (the SC to talk to, and the
//!   connection once made) and returns typed [`Output`]; it never prints and never exits.
//! * Rendering [`Output`] as text, JSON or YAML is the job of `render`, the layer above.
//!
//! One module per command group: [`topic`], [`partition`], [`spu`], [`auth_token`],
//! [`consumer`], [`consumer_group`], [`advanced`], [`version`], [`benchmark`], [`profile`]; the flags of `repl` and `tui` in [`interactive`].

pub mod advanced;
pub mod auth_token;
pub mod benchmark;
pub mod cluster;
pub mod consume;
pub mod consumer;
pub mod consumer_group;
pub mod error;
pub mod interactive;
pub mod output;
pub mod parse;
pub mod partition;
pub mod produce;
pub mod profile;
pub mod record_json;
pub mod spu;
pub mod topic;
pub mod version;

use std::io::Write;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tokio::sync::Mutex;

use crate::client::{Admin, Fluvio};
use crate::config::{ConfigError, PemSource, ScTarget, TlsSettings};

pub use error::{CommandError, advised};
pub use output::{Block, Body, Column, Output, Report, Table};

/// The `fluvio` command line.
#[derive(Debug, Parser)]
#[command(
    name = "fluvio",
    version,
    about = "Manage and use a Fluvio cluster: topics, partitions, SPUs, auth tokens",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The SC's public address, as Fluvio's -c (before the command).
    // Not global: after a command, -c is the command's own (`topic delete -c`). [`parse`]
    // moves it into `target.sc`.
    #[arg(short = 'c', value_name = "HOST:PORT", conflicts_with = "sc")]
    pub cluster: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Which SC to talk to. Without either, `FLUVIO_SC`, then the active profile of
/// `~/.fluvio/config`, then 127.0.0.1:9003.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// The SC's public address.
    // `--cluster` is Fluvio's spelling; the help shows it as an alias.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        visible_alias = "cluster"
    )]
    pub sc: Option<String>,
    /// Use this profile of ~/.fluvio/config instead of the current one.
    #[arg(short = 'P', long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// How to secure the connections; given, they replace the profile's `tls` settings.
#[derive(Debug, Clone, Default, Args, PartialEq, Eq)]
pub struct TlsArgs {
    /// Connect with TLS. Without --tls-ca-cert the server's certificate is not checked
    /// (the profiles' "anonymous" policy).
    #[arg(long, global = true)]
    pub tls: bool,
    /// The name expected in the server's certificate (default: the SC's host).
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_domain: Option<String>,
    /// The CA (PEM) the server's certificate must be signed by (the "verified" policy;
    /// implies --tls).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca_cert: Option<std::path::PathBuf>,
    /// A client certificate (PEM) to present: its CN is who the server sees.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_client_key")]
    pub tls_client_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-client-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_client_cert")]
    pub tls_client_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The settings these flags ask for; `Ok(None)` when none was given.
    pub fn settings(&self) -> Result<Option<TlsSettings>, ConfigError> {
        let Some(ca) = &self.tls_ca_cert else {
            if self.tls_client_cert.is_some() || self.tls_domain.is_some() {
                return Err(ConfigError::TlsFlags);
            }
            return Ok(self.tls.then_some(TlsSettings::Anonymous));
        };
        let file = |path: &std::path::PathBuf| PemSource::File(path.clone());
        Ok(Some(TlsSettings::Verified {
            domain: self.tls_domain.clone(),
            ca: file(ca),
            client: self
                .tls_client_cert
                .as_ref()
                .zip(self.tls_client_key.as_ref())
                .map(|(cert, key)| (file(cert), file(key))),
        }))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCmd),
    /// List partitions with their replicas and offsets.
    #[command(subcommand)]
    Partition(partition::PartitionCmd),
    /// List SPUs; register and unregister custom SPUs.
    #[command(subcommand)]
    Spu(spu::SpuCmd),
    /// Create, list and delete the tokens that admit SPUs to the cluster.
    #[command(subcommand, name = "auth-token")]
    AuthToken(auth_token::AuthTokenCmd),
    /// Write records to a topic: one per line of stdin or a file.
    Produce(produce::ProduceArgs),
    /// Read records from a topic, following new ones unless told to stop.
    Consume(consume::ConsumeArgs),
    /// List and delete the offsets consumers committed (`consume --consumer NAME`).
    #[command(subcommand)]
    Consumer(consumer::ConsumerCmd),
    /// List and describe Kafka consumer groups: members, assignments, committed offsets, lag.
    #[command(subcommand, name = "consumer-group")]
    ConsumerGroup(consumer_group::ConsumerGroupCmd),
    /// An interactive session: every command without `fluvio`, completion, history;
    /// also runs scripts (-f FILE, or piped to stdin) and single lines (-c).
    Repl(interactive::ReplArgs),
    /// The profiles of ~/.fluvio/config (the official client's file): which SC to use.
    Profile(profile::ProfileArgs),
    /// Metadata dump and raw requests, for debugging.
    #[command(subcommand)]
    Advanced(advanced::AdvancedCmd),
    /// The CLI's version and the cluster's platform version.
    Version(version::VersionArgs),
    /// Measure produce or consume throughput and latency against a loopback baseline,
    /// or hold a load for a while and check nothing acknowledged was lost (soak).
    #[command(subcommand)]
    Benchmark(benchmark::BenchmarkCmd),
    /// A full-screen console: live views of the cluster, a live tail, a command bar.
    Tui(interactive::TuiArgs),
    /// A local cluster: start fluvio-daemon in the background, see its status, stop it,
    /// delete its data.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Print a shell completion script, e.g. `fluvio completions bash > /etc/bash_completion.d/fluvio`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
    /// As Fluvio's `-O toml`; a listing (an array) becomes `[[items]]` tables.
    Toml,
}

/// `-O/--output`, on every command that lists or describes.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'O', long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

impl Command {
    /// The format this command's report is to be printed in.
    pub fn output_format(&self) -> OutputFormat {
        let args = match self {
            Command::Topic(cmd) => cmd.output(),
            Command::Partition(cmd) => cmd.output(),
            Command::Spu(cmd) => cmd.output(),
            Command::AuthToken(cmd) => cmd.output(),
            Command::Consumer(cmd) => cmd.output(),
            Command::ConsumerGroup(cmd) => cmd.output(),
            Command::Advanced(cmd) => cmd.output(),
            Command::Version(args) => Some(args.output),
            Command::Profile(args) => args.output(),
            Command::Produce(_)
            | Command::Consume(_)
            | Command::Benchmark(_)
            | Command::Tui(_)
            | Command::Repl(_)
            | Command::Cluster(_)
            | Command::Completions { .. } => None,
        };
        args.map(|a| a.format).unwrap_or_default()
    }

    /// Does this command need the SC? (`completions` and `profile` do not, so they work
    /// anywhere; `profile` must, to repair a profile that names a bad address.)
    pub fn needs_sc(&self) -> bool {
        match self {
            Command::Completions { .. } | Command::Profile(_) => false,
            Command::Cluster(cmd) => cmd.needs_sc(),
            _ => true,
        }
    }
}

/// Parse an argument list, the program name first (`["fluvio", "topic", "list"]`).
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cli = Cli::try_parse_from(args)?;
    if let Some(addr) = cli.cluster.take() {
        cli.target.sc = Some(addr);
    }
    // `profile add` records the TLS flags in the profile instead of connecting with them.
    if let Command::Profile(profile::ProfileArgs {
        cmd: Some(profile::ProfileCmd::Add(add)),
    }) = &mut cli.command
    {
        add.tls = std::mem::take(&mut cli.target.tls);
    }
    Ok(cli)
}

/// What commands run against: the SC's address and, once made, the connections to it,
/// and where streamed records go. A REPL keeps one for the session; a lost connection is
/// made again on next use.
pub struct Context {
    target: ScTarget,
    /// The config file `fluvio profile` edits.
    config_path: std::path::PathBuf,
    admin: Mutex<Option<Admin>>,
    fluvio: Mutex<Option<Fluvio>>,
    client_tls: std::sync::OnceLock<crate::client::ClientTls>,
    records: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
    /// Records go to this process's stdout, whose reader may go away (`| head -1`).
    records_to_stdout: bool,
    /// Where a running command says what happens meanwhile (a stream lost and back):
    /// stderr for the CLI and the REPL, never stdout, which may be JSON.
    notices: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
}

impl Context {
    /// Streamed records (`consume`) go to stdout.
    pub fn new(target: ScTarget) -> Self {
        let mut ctx = Self::with_record_writer(target, Box::new(std::io::stdout()));
        ctx.records_to_stdout = true;
        ctx.notices = std::sync::Mutex::new(Box::new(std::io::stderr()));
        ctx
    }

    /// Streamed records go to `records`, as they arrive; notices are dropped (the TUI
    /// shows a stream's state itself).
    pub fn with_record_writer(target: ScTarget, records: Box<dyn std::io::Write + Send>) -> Self {
        Self {
            target,
            config_path: crate::config::config_path(),
            admin: Mutex::new(None),
            fluvio: Mutex::new(None),
            client_tls: std::sync::OnceLock::new(),
            records: std::sync::Mutex::new(records),
            records_to_stdout: false,
            notices: std::sync::Mutex::new(Box::new(std::io::sink())),
        }
    }

    /// Ask the person a yes/no question before something that cannot be undone: on the
    /// terminal for the CLI and the REPL; `None` when there is nobody to ask (stdin is not
    /// a terminal, or under the TUI, which asks its own way), so the command can say which
    /// flag skips the question.
    pub fn confirm(&self, question: &str) -> Option<bool> {
        if !self.records_to_stdout {
            return None;
        }
        cluster::ask_on_terminal(question)
    }

    /// May a command draw on stderr (a progress bar)? Only in the CLI and the REPL, and
    /// only when stderr is a terminal: not into a pipe or a log, and not under the TUI.
    pub fn stderr_is_a_terminal(&self) -> bool {
        use std::io::IsTerminal;
        self.records_to_stdout && std::io::stderr().is_terminal()
    }

    /// Say one line about what is happening while a command runs, now.
    pub fn notice(&self, line: &str) {
        let mut notices = self
            .notices
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Nothing to do when stderr is gone too.
        let _ = writeln!(notices, "{line}");
        let _ = notices.flush();
    }

    pub fn target(&self) -> &ScTarget {
        &self.target
    }

    /// How the connections are secured, for status lines: "plaintext", or "TLS as" the
    /// principal (the client certificate's CN, else "anonymous").
    pub fn security(&self) -> String {
        match self.client_tls() {
            Ok(tls) => tls.describe(),
            Err(_) => "TLS (settings unusable)".to_string(),
        }
    }

    /// The target's TLS settings, built (certificates read) on first use.
    pub fn client_tls(&self) -> Result<crate::client::ClientTls, CommandError> {
        if let Some(tls) = self.client_tls.get() {
            return Ok(tls.clone());
        }
        let tls = self.target.tls.build()?;
        Ok(self.client_tls.get_or_init(|| tls).clone())
    }

    /// Edit the profiles of the config file at `path` (the front ends pass their `Env`'s).
    pub fn with_config_path(mut self, path: std::path::PathBuf) -> Self {
        self.config_path = path;
        self
    }

    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    /// The admin connection to the SC, made on first use.
    pub async fn admin(&self) -> Result<Admin, CommandError> {
        let mut admin = self.admin.lock().await;
        if let Some(existing) = admin.as_ref()
            && existing.socket().is_open()
        {
            return Ok(existing.clone());
        }
        let fresh = Admin::connect_with(&self.target.addr, &self.client_tls()?).await?;
        *admin = Some(fresh.clone());
        Ok(fresh)
    }

    /// The cluster client (metadata, producers, consumers), made on first use. While the
    /// kept one is reconnecting, a command asks for a new one, so it fails at once if the
    /// SC is down and need not wait for the old one's next attempt if the SC is back.
    pub async fn fluvio(&self) -> Result<Fluvio, CommandError> {
        let mut fluvio = self.fluvio.lock().await;
        if let Some(existing) = fluvio.as_ref()
            && existing.admin().socket().is_open()
        {
            return Ok(existing.clone());
        }
        let fresh = Fluvio::connect_with(&self.target.addr, &self.client_tls()?).await?;
        *fluvio = Some(fresh.clone());
        Ok(fresh)
    }

    /// Write streamed output now. An error (a closed pipe: Rust ignores SIGPIPE, so the
    /// write says `BrokenPipe`) means nobody reads any more: the caller stops, quietly.
    pub fn write_records(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        records.write_all(bytes)?;
        records.flush()
    }

    /// Resolves once the reader of the records has gone (the pipe's read end closed), so a
    /// following `consume` that has nothing to write still ends like `cat` would on its
    /// next write. Never resolves for other writers (the TUI's, a terminal).
    pub async fn records_gone(&self) {
        if !self.records_to_stdout {
            return std::future::pending().await;
        }
        loop {
            if stdout_closed() {
                return;
            }
            // Polling stays cheap and needs no thread; a quarter second is soon enough
            // for a person whose `head` has already printed.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

/// Is stdout a pipe or socket whose reading end is closed? poll(2) reports POLLERR for
/// such a pipe (and POLLHUP for a socket) whatever events are asked for.
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll only writes `revents`.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Run one command.
pub async fn execute(command: Command, ctx: &Context) -> Result<Output, CommandError> {
    match command {
        Command::Topic(cmd) => topic::execute(cmd, ctx).await,
        Command::Partition(cmd) => partition::execute(cmd, ctx).await,
        Command::Spu(cmd) => spu::execute(cmd, ctx).await,
        Command::AuthToken(cmd) => auth_token::execute(cmd, ctx).await,
        Command::Advanced(cmd) => advanced::execute(cmd, ctx).await,
        Command::Version(args) => version::execute(args, ctx).await,
        Command::Produce(args) => produce::execute(args, ctx).await,
        Command::Consume(args) => consume::execute(args, ctx).await,
        Command::Consumer(cmd) => consumer::execute(cmd, ctx).await,
        Command::ConsumerGroup(cmd) => consumer_group::execute(cmd, ctx).await,
        Command::Benchmark(cmd) => benchmark::execute(cmd, ctx).await,
        Command::Cluster(cmd) => cluster::execute(cmd, ctx).await,
        Command::Completions { shell } => completions(shell),
        Command::Profile(args) => profile::execute(args, ctx),
        // The console takes over the terminal, so `cli::run` starts it itself.
        Command::Tui(_) => Ok(Output::message(
            "`fluvio tui` runs on its own; start it from a shell",
        )),
        // A session reads the terminal or a script, so `cli::run` starts it itself.
        Command::Repl(_) => Ok(Output::message(
            "`fluvio repl` runs on its own; start it from a shell",
        )),
    }
}

fn completions(shell: clap_complete::Shell) -> Result<Output, CommandError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "fluvio", &mut script);
    let text = String::from_utf8(script).map_err(|source| CommandError::Completions {
        shell: shell.to_string(),
        source,
    })?;
    Ok(Output {
        body: Body::Text(text),
        ..Output::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_line_parses_like_argv() {
        let cli = parse(["fluvio", "topic", "create", "t1", "-p", "3", "--sc", "h:1"]).unwrap();
        assert_eq!(cli.target.sc.as_deref(), Some("h:1"));
        match cli.command {
            Command::Topic(topic::TopicCmd::Create(args)) => {
                assert_eq!(args.name, "t1");
                assert_eq!(args.partitions, 3);
                assert_eq!(args.replication, 1);
            }
            other => panic!("{other:?}"),
        }
        // Fluvio's spellings of the SC address: `-c` before the command, `--cluster` anywhere.
        let cli = parse(["fluvio", "-c", "h:2", "topic", "list"]).unwrap();
        assert_eq!(cli.target.sc.as_deref(), Some("h:2"));
        let cli = parse(["fluvio", "topic", "list", "--cluster", "h:3"]).unwrap();
        assert_eq!(cli.target.sc.as_deref(), Some("h:3"));
        let cli = parse(["fluvio", "topic", "delete", "-c", "a", "b"]).unwrap();
        assert_eq!(
            cli.target.sc, None,
            "after the command, -c is the command's own"
        );
        let cli = parse(["fluvio", "-P", "local", "topic", "list", "-O", "json"]).unwrap();
        assert_eq!(cli.target.profile.as_deref(), Some("local"));
        assert_eq!(cli.command.output_format(), OutputFormat::Json);
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        for line in [
            vec!["fluvio", "topic", "create"],
            vec!["fluvio", "topic", "create", "t", "-f", "a.json", "-p", "2"],
            vec!["fluvio", "topic", "create", "t", "--retention-time", "7x"],
            vec!["fluvio", "topic", "create", "t", "--segment-size", "1XB"],
            vec!["fluvio", "topic", "create", "t", "-p", "0"],
            vec![
                "fluvio",
                "auth-token",
                "create",
                "-n",
                "a",
                "-s",
                "short",
                "-m",
                "1",
                "-x",
                "2",
            ],
            vec![
                "fluvio",
                "auth-token",
                "create",
                "-n",
                "a",
                "-m",
                "1",
                "-x",
                "2",
            ],
            vec!["fluvio", "topic", "list", "-O", "xml"],
            vec!["fluvio", "nonsense"],
        ] {
            let err = parse(line.clone()).expect_err(&line.join(" "));
            assert_eq!(err.exit_code(), 2, "{}: {err}", line.join(" "));
        }
    }

    #[test]
    fn completions_are_generated_without_a_cluster() {
        let output = completions(clap_complete::Shell::Bash).unwrap();
        match output.body {
            Body::Text(text) => assert!(text.contains("auth-token"), "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
