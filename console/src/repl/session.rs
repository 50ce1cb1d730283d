//! One REPL session: a line in, its command parsed by the CLI's own tree (or a session
//! command), executed against the session's cluster, its output rendered by the CLI's
//! renderer. The same code serves the interactive loop, scripts and `-c`.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::CommandFactory;
use clap::parser::ValueSource;

use super::builtin::{self, Builtin, Toggle};
use super::complete::NOT_IN_SESSION;
use super::error::ReplError;
use super::line;
use crate::command::{self, Cli, Command, CommandError, Context, Output, OutputFormat};
use crate::config::{self, AddrOrigin, ScTarget};
use crate::frontend::{self, Env};
use crate::render;

/// How long the prompt waits to learn whether the SC answers.
const CONNECT_CHECK: Duration = Duration::from_secs(2);

/// What a line came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The command ran and failed (exit code 1).
    Failed,
    /// The line was not a valid command (exit code 2 on its own, a failure in a script).
    Usage,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => frontend::EXIT_OK,
            Status::Failed => frontend::EXIT_FAILED,
            Status::Usage => frontend::EXIT_USAGE,
        }
    }
}

/// Whether the session goes on after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue(Status),
    Exit,
}

/// Where a line came from, for error messages: `error: line 3: ...` in scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Typed,
    Line(usize),
}

impl Origin {
    fn place(self) -> Option<String> {
        match self {
            Origin::Typed => None,
            Origin::Line(n) => Some(format!("line {n}")),
        }
    }
}

/// What the session's stdin is, which decides whether `produce` may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    /// Free for commands (`-c`, `-f`).
    Free,
    /// The script being run.
    Script,
    /// The terminal the session reads lines from.
    Terminal,
}

pub struct Session {
    target: ScTarget,
    ctx: Arc<Context>,
    env: Env,
    stdin: Stdin,
    /// The format for commands given no -O; `None` = the commands' own default.
    format: Option<OutputFormat>,
    timing: bool,
    /// Lines for `history`: the history file's, then this session's.
    history: Vec<String>,
}

impl Session {
    pub fn new(target: ScTarget, env: Env, stdin: Stdin) -> Self {
        Self {
            ctx: Arc::new(Context::new(target.clone()).with_config_path(env.config_path.clone())),
            target,
            env,
            stdin,
            format: None,
            timing: false,
            history: Vec::new(),
        }
    }

    /// `fluvio 127.0.0.1:9003> `, or with `(not connected)` when the SC did not answer, so
    /// a person sees before typing that commands will fail.
    /// Over TLS the prompt says so, with the principal: `fluvio HOST:PORT [TLS as
    /// admin]> `.
    pub fn prompt(&self, connected: bool) -> String {
        let security = if self.target.tls.is_enabled() {
            format!(" [{}]", self.ctx.security())
        } else {
            String::new()
        };
        if connected {
            format!("fluvio {}{security}> ", self.target.addr)
        } else {
            format!("fluvio {}{security} (not connected)> ", self.target.addr)
        }
    }

    /// Is the session's SC reachable? Uses the kept connection, or makes one (a lost one
    /// is made again), giving up after a moment so the prompt never waits long.
    pub async fn connected(&self) -> bool {
        let attempt = tokio::time::timeout(CONNECT_CHECK, self.ctx.fluvio());
        matches!(attempt.await, Ok(Ok(_)))
    }

    pub fn target(&self) -> &ScTarget {
        &self.target
    }

    /// The session's connection to its cluster.
    pub fn context(&self) -> Arc<Context> {
        Arc::clone(&self.ctx)
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Add a line to what `history` lists.
    pub fn remember(&mut self, line: &str) {
        self.history.push(line.to_string());
    }

    /// Run one line (a statement: continuation lines already joined). `interrupt`
    /// stops a running command (Ctrl-C in a terminal); the session goes on.
    pub async fn run_line<F: Future>(
        &mut self,
        text: &str,
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
        interrupt: F,
    ) -> Flow {
        let mut words = match line::split(text) {
            Ok(words) => words,
            Err(error) => {
                self.report(&ReplError::from(error), origin, err);
                return Flow::Continue(Status::Usage);
            }
        };
        if words.first().is_some_and(|w| w == "fluvio") {
            words.remove(0);
        }
        let Some(first) = words.first() else {
            return Flow::Continue(Status::Ok);
        };
        if builtin::is_builtin(first) {
            return self.run_builtin(&words, origin, out, err, interrupt).await;
        }
        let started = Instant::now();
        let status = self.run_command(words, origin, out, err, interrupt).await;
        if self.timing {
            let _ = writeln!(err, "time: {}", elapsed(started.elapsed()));
        }
        Flow::Continue(status)
    }

    async fn run_command<F: Future>(
        &mut self,
        words: Vec<String>,
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
        interrupt: F,
    ) -> Status {
        if NOT_IN_SESSION.contains(&words[0].as_str()) {
            self.report(&ReplError::NotInSession(words[0].clone()), origin, err);
            return Status::Failed;
        }
        let argv: Vec<String> = std::iter::once("fluvio".to_string()).chain(words).collect();
        let cli = match command::parse(&argv) {
            Ok(cli) => cli,
            Err(error) => return self.usage(&error, origin, out, err),
        };
        if let Command::Produce(args) = &cli.command
            && args.file.is_none()
            && self.stdin != Stdin::Free
        {
            let error = ReplError::ProduceNeedsFile {
                topic: args.topic.clone(),
                stdin: self.stdin,
            };
            self.report(&error, origin, err);
            return Status::Failed;
        }
        let mut format = cli.command.output_format();
        if let Some(session_format) = self.format
            && !format_given(&argv)
        {
            format = session_format;
        }
        // `--sc` or `-P` on a line runs that line against another cluster.
        let tls_flags = cli.target.tls != Default::default();
        let ctx = if cli.target.sc.is_some() || cli.target.profile.is_some() || tls_flags {
            let tls = match cli.target.tls.settings() {
                Ok(tls) => tls,
                Err(error) => {
                    self.report_command_error(&error.into(), None, origin, err);
                    return Status::Failed;
                }
            };
            // TLS flags alone: the session's cluster, secured as they say.
            let sc = cli
                .target
                .sc
                .clone()
                .or_else(|| (cli.target.profile.is_none()).then(|| self.target.addr.clone()));
            match config::resolve_sc(
                sc.as_deref(),
                self.env.sc.as_deref(),
                cli.target.profile.as_deref(),
                &self.env.config_path,
                tls,
            ) {
                Ok(target) => {
                    Arc::new(Context::new(target).with_config_path(self.env.config_path.clone()))
                }
                Err(error) => {
                    self.report_command_error(&error.into(), None, origin, err);
                    return Status::Failed;
                }
            }
        } else {
            self.context()
        };
        let result = tokio::select! {
            result = command::execute(cli.command, &ctx) => Some(result),
            _ = interrupt => None,
        };
        match result {
            // Stopped on purpose (Ctrl-C ends a `consume` that follows the log).
            None => Status::Ok,
            Some(Ok(output)) => self.print(&output, format, &ctx, origin, out, err),
            Some(Err(error)) => {
                self.report_command_error(&error, Some(ctx.target()), origin, err);
                Status::Failed
            }
        }
    }

    async fn run_builtin<F: Future>(
        &mut self,
        words: &[String],
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
        interrupt: F,
    ) -> Flow {
        let builtin = match builtin::parse(words) {
            Ok(builtin) => builtin,
            Err(error) => return Flow::Continue(self.usage(&error, origin, out, err)),
        };
        let status = match builtin {
            Builtin::Exit => return Flow::Exit,
            Builtin::Help { command } => self.help(&command, origin, out, err),
            Builtin::Connect { addr: None, tls } if tls == Default::default() => {
                let _ = writeln!(
                    out,
                    "connected to {} ({})",
                    self.target.addr,
                    self.ctx.security()
                );
                Status::Ok
            }
            Builtin::Connect { addr, tls } => {
                let addr = addr.unwrap_or_else(|| self.target.addr.clone());
                let tls = match tls.settings() {
                    Ok(tls) => tls.unwrap_or_default(),
                    Err(error) => {
                        self.report_command_error(&error.into(), None, origin, err);
                        return Flow::Continue(Status::Failed);
                    }
                };
                self.connect(&addr, tls, origin, err, interrupt).await
            }
            Builtin::Output { format: None } => {
                let format = self.format.map_or("as each command says (table)", name);
                let _ = writeln!(out, "output: {format}");
                Status::Ok
            }
            Builtin::Output {
                format: Some(format),
            } => {
                self.format = Some(format);
                Status::Ok
            }
            Builtin::Timing { state } => {
                match state {
                    Some(state) => self.timing = state == Toggle::On,
                    None => {
                        let state = if self.timing { "on" } else { "off" };
                        let _ = writeln!(out, "timing: {state}");
                    }
                }
                Status::Ok
            }
            Builtin::History { count } => {
                let first = self.history.len().saturating_sub(count);
                for (n, line) in self.history.iter().enumerate().skip(first) {
                    let _ = writeln!(out, "{:5}  {}", n + 1, line.replace('\n', "\n       "));
                }
                Status::Ok
            }
        };
        Flow::Continue(status)
    }

    /// `help`: what a session offers; `help COMMAND...`: that command's own help, exactly
    /// as `COMMAND --help` prints it.
    fn help(
        &self,
        command: &[String],
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Status {
        let Some(first) = command.first() else {
            let _ = out.write_all(session_help().as_bytes());
            return Status::Ok;
        };
        let mut words: Vec<String> = command.to_vec();
        words.push("--help".into());
        let result = if builtin::is_builtin(first) {
            builtin::parse(&words).map(|_| ())
        } else {
            let argv = std::iter::once("fluvio".to_string()).chain(words);
            command::parse(argv).map(|_| ())
        };
        match result {
            Err(error) => self.usage(&error, origin, out, err),
            Ok(()) => Status::Ok,
        }
    }

    async fn connect<F: Future>(
        &mut self,
        addr: &str,
        tls: crate::config::TlsSettings,
        origin: Origin,
        err: &mut dyn Write,
        interrupt: F,
    ) -> Status {
        if let Err(problem) = command::parse::host_port(addr) {
            self.report(&ReplError::BadAddress(problem), origin, err);
            return Status::Failed;
        }
        let target = ScTarget {
            addr: addr.to_string(),
            origin: AddrOrigin::Flag,
            tls,
        };
        let ctx =
            Arc::new(Context::new(target.clone()).with_config_path(self.env.config_path.clone()));
        // Switch only to a cluster that answers, as psql's \connect does.
        let connected = tokio::select! {
            result = ctx.fluvio() => Some(result),
            _ = interrupt => None,
        };
        match connected {
            None => Status::Failed,
            Some(Err(error)) => {
                self.report_command_error(&error, Some(&target), origin, err);
                let _ = writeln!(err, "note: still connected to {}", self.target.addr);
                Status::Failed
            }
            Some(Ok(_)) => {
                self.target = target;
                self.ctx = ctx;
                Status::Ok
            }
        }
    }

    /// Print a command's output as the CLI does.
    fn print(
        &self,
        output: &Output,
        format: OutputFormat,
        ctx: &Context,
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Status {
        let rendered = match render::render_fitted(
            output,
            format,
            self.env.stdout_color,
            render::stdout_width(),
        ) {
            Ok(rendered) => rendered,
            Err(error) => {
                self.report_command_error(&error, None, origin, err);
                return Status::Failed;
            }
        };
        let _ = out.write_all(rendered.stdout.as_bytes());
        let _ = out.flush();
        for line in &rendered.stderr {
            let _ = writeln!(err, "{}", in_session(line));
        }
        for failure in &output.failures {
            self.report_command_error(failure, Some(ctx.target()), origin, err);
        }
        if output.failures.is_empty() {
            Status::Ok
        } else {
            Status::Failed
        }
    }

    /// A clap error: help or version to stdout, a usage error to stderr.
    fn usage(
        &self,
        error: &clap::Error,
        origin: Origin,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Status {
        let Some(place) = origin.place() else {
            return match frontend::report_usage(error, &self.env, out, err) {
                frontend::EXIT_OK => Status::Ok,
                _ => Status::Usage,
            };
        };
        if !error.use_stderr() {
            let _ = out.write_all(error.render().to_string().as_bytes());
            return Status::Ok;
        }
        let text = error.render().to_string();
        let text = text.strip_prefix("error: ").unwrap_or(&text);
        let _ = write!(err, "{} {place}: {text}", self.error_prefix());
        Status::Usage
    }

    fn report(&self, error: &ReplError, origin: Origin, err: &mut dyn Write) {
        match origin.place() {
            Some(place) => {
                let _ = writeln!(err, "{} {place}: {error}", self.error_prefix());
            }
            None => {
                let _ = writeln!(err, "{} {error}", self.error_prefix());
            }
        }
    }

    fn report_command_error(
        &self,
        error: &CommandError,
        target: Option<&ScTarget>,
        origin: Origin,
        err: &mut dyn Write,
    ) {
        let mut text = Vec::new();
        frontend::print_error_at(
            error,
            origin.place().as_deref(),
            target,
            &self.env,
            &mut text,
        );
        let _ = err.write_all(in_session(&String::from_utf8_lossy(&text)).as_bytes());
    }

    fn error_prefix(&self) -> &'static str {
        if self.env.stderr_color {
            "\x1b[1;31merror:\x1b[0m"
        } else {
            "error:"
        }
    }
}

/// A message as the session should say it: commands it suggests (`` `fluvio topic list` ``)
/// are typed here without the `fluvio` prefix (`` `topic list` ``). Only quoted commands
/// change, so `fluvio-daemon` and prose stay as they are.
pub fn in_session(text: &str) -> String {
    text.replace("`fluvio ", "`")
}

/// Was `-O/--output` given on the line? (`output json` applies only when it was not.)
fn format_given(argv: &[String]) -> bool {
    let Ok(matches) = Cli::command().try_get_matches_from(argv) else {
        return false;
    };
    let mut leaf = &matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    leaf.ids().any(|id| id.as_str() == "format")
        && leaf.value_source("format") == Some(ValueSource::CommandLine)
}

fn name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Table => "table",
        OutputFormat::Json => "json",
        OutputFormat::Yaml => "yaml",
        OutputFormat::Toml => "toml",
    }
}

fn elapsed(took: Duration) -> String {
    if took < Duration::from_secs(1) {
        format!("{:.1} ms", took.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", took.as_secs_f64())
    }
}

/// `help` with no command: the CLI's commands and the session's own, from their trees.
fn session_help() -> String {
    let mut text = String::from("Commands (as on the command line, without `fluvio`):\n");
    let rows = |command: clap::Command| -> Vec<(String, String)> {
        command
            .get_subcommands()
            .filter(|c| !c.is_hide_set() && !NOT_IN_SESSION.contains(&c.get_name()))
            .map(|c| {
                let mut name = c.get_name().to_string();
                for alias in c.get_visible_aliases() {
                    name.push_str(&format!(", {alias}"));
                }
                (
                    name,
                    c.get_about().map(|a| a.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    };
    let commands = rows(Cli::command());
    let session = rows(Builtin::command());
    let width = commands
        .iter()
        .chain(&session)
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, about) in &commands {
        text.push_str(&format!("  {name:width$}  {about}\n"));
    }
    text.push_str("\nSession commands:\n");
    for (name, about) in &session {
        text.push_str(&format!("  {name:width$}  {about}\n"));
    }
    text.push_str(
        "\n`help COMMAND` or `COMMAND --help` shows a command's flags. Tab completes commands, \
         flags and names; a quote left open continues the line. Ctrl-C stops a running \
         command (a `consume` that follows the log) or clears the line; Ctrl-D or `exit` \
         leaves.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env() -> Env {
        Env {
            sc: None,
            config_path: PathBuf::from("/nonexistent/fluvio-config"),
            stdout_color: false,
            stderr_color: false,
        }
    }

    fn dead_addr() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    fn session() -> Session {
        let target = ScTarget {
            addr: dead_addr(),
            origin: AddrOrigin::Flag,
            tls: Default::default(),
        };
        Session::new(target, env(), Stdin::Script)
    }

    async fn run(session: &mut Session, line: &str, origin: Origin) -> (Flow, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let flow = session
            .run_line(
                line,
                origin,
                &mut out,
                &mut err,
                std::future::pending::<()>(),
            )
            .await;
        (
            flow,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[tokio::test]
    async fn blank_lines_and_comments_do_nothing() {
        let mut s = session();
        for line in ["", "   ", "# topic delete everything", "  # x 'y"] {
            assert_eq!(
                run(&mut s, line, Origin::Line(1)).await,
                (Flow::Continue(Status::Ok), String::new(), String::new())
            );
        }
    }

    #[tokio::test]
    async fn usage_errors_name_the_line() {
        let mut s = session();
        let (flow, out, err) = run(&mut s, "topic create", Origin::Line(3)).await;
        assert_eq!(flow, Flow::Continue(Status::Usage));
        assert!(out.is_empty());
        assert!(
            err.starts_with("error: line 3: the following required"),
            "{err}"
        );
        let (flow, _, err) = run(&mut s, "nonsense here", Origin::Line(4)).await;
        assert_eq!(flow, Flow::Continue(Status::Usage));
        assert!(
            err.starts_with("error: line 4: unrecognized subcommand 'nonsense'"),
            "{err}"
        );
        let (flow, _, err) = run(&mut s, "topic create 'x", Origin::Line(5)).await;
        assert_eq!(flow, Flow::Continue(Status::Usage));
        assert_eq!(
            err,
            "error: line 5: a quote is not closed; close it, or escape it with a backslash\n"
        );
        let (_, _, err) = run(&mut s, "topic create", Origin::Typed).await;
        assert!(err.starts_with("error: the following required"), "{err}");
    }

    #[tokio::test]
    async fn command_failures_name_the_line_and_the_session_goes_on() {
        let mut s = session();
        let addr = s.target().addr.clone();
        let (flow, _, err) = run(&mut s, "topic list # all of them", Origin::Line(7)).await;
        assert_eq!(flow, Flow::Continue(Status::Failed));
        assert!(
            err.starts_with(&format!("error: line 7: cannot reach the SC at {addr}")),
            "{err}"
        );
        let (flow, out, _) = run(&mut s, "timing", Origin::Line(8)).await;
        assert_eq!(
            (flow, out.as_str()),
            (Flow::Continue(Status::Ok), "timing: off\n")
        );
    }

    #[tokio::test]
    async fn session_commands() {
        let mut s = session();
        let (_, out, _) = run(&mut s, "output", Origin::Typed).await;
        assert_eq!(out, "output: as each command says (table)\n");
        run(&mut s, "output yaml", Origin::Typed).await;
        let (_, out, _) = run(&mut s, "output", Origin::Typed).await;
        assert_eq!(out, "output: yaml\n");
        let (_, _, err) = run(&mut s, "timing on", Origin::Typed).await;
        assert_eq!(err, "", "session commands are not timed");
        let (_, _, err) = run(&mut s, "version", Origin::Typed).await;
        assert!(err.contains("time: "), "{err}");
        let (flow, out, err) = run(&mut s, "exit", Origin::Typed).await;
        assert_eq!((flow, out.as_str(), err.as_str()), (Flow::Exit, "", ""));
        assert_eq!(run(&mut s, "quit", Origin::Typed).await.0, Flow::Exit);
        let (flow, _, err) = run(&mut s, "repl", Origin::Typed).await;
        assert_eq!(flow, Flow::Continue(Status::Failed));
        assert!(err.contains("cannot run inside a session"), "{err}");
        let (flow, _, err) = run(&mut s, "connect nowhere", Origin::Line(2)).await;
        assert_eq!(flow, Flow::Continue(Status::Failed));
        assert!(
            err.starts_with("error: line 2: 'nowhere' is not HOST:PORT"),
            "{err}"
        );
        let (flow, _, err) = run(&mut s, "produce t", Origin::Typed).await;
        assert_eq!(flow, Flow::Continue(Status::Failed));
        assert!(err.contains("produce t -f FILE"), "{err}");
    }

    #[tokio::test]
    async fn history_lists_recent_lines_numbered() {
        let mut s = session();
        for line in ["topic list", "spu list", "version"] {
            s.remember(line);
        }
        let (_, out, _) = run(&mut s, "history 2", Origin::Typed).await;
        assert_eq!(out, "    2  spu list\n    3  version\n");
    }

    #[tokio::test]
    async fn help_is_clap_help() {
        let mut s = session();
        let (flow, out, _) = run(&mut s, "help", Origin::Typed).await;
        assert_eq!(flow, Flow::Continue(Status::Ok));
        for name in ["topic", "consume", "connect", "exit, quit", "timing"] {
            assert!(out.contains(name), "{name} in {out}");
        }
        assert!(!out.contains("  repl "), "{out}");
        let (_, out, _) = run(&mut s, "help topic create", Origin::Typed).await;
        assert!(out.contains("Usage: fluvio topic create"), "{out}");
        assert!(out.contains("--partitions"), "{out}");
        let (_, same, _) = run(&mut s, "topic create --help", Origin::Typed).await;
        assert_eq!(out, same);
        let (_, out, _) = run(&mut s, "help connect", Origin::Typed).await;
        assert!(out.contains("HOST:PORT"), "{out}");
        let (flow, _, err) = run(&mut s, "help nonsense", Origin::Line(9)).await;
        assert_eq!(flow, Flow::Continue(Status::Usage));
        assert!(
            err.starts_with("error: line 9: unrecognized subcommand"),
            "{err}"
        );
    }

    #[test]
    fn suggestions_inside_a_session_drop_the_fluvio_prefix() {
        assert_eq!(
            in_session("topic 'nope' does not exist; create it with `fluvio topic create nope`"),
            "topic 'nope' does not exist; create it with `topic create nope`"
        );
        let daemon = "Is fluvio-daemon running? Start it with fluvio-daemon.";
        assert_eq!(in_session(daemon), daemon);
    }

    #[test]
    fn an_explicit_output_flag_wins_over_the_session_format() {
        let argv = |line: &str| -> Vec<String> {
            std::iter::once("fluvio".to_string())
                .chain(line::split(line).unwrap())
                .collect()
        };
        assert!(format_given(&argv("topic list -O table")));
        assert!(format_given(&argv("topic list --output=json")));
        assert!(!format_given(&argv("topic list")));
        assert!(!format_given(&argv("topic create x")));
        assert!(format_given(&argv("consume t -O json")));
    }
}
