//! The `fluvio` command line: parse, find the SC, execute, render, and decide the exit
//! code. Everything the process environment provides comes in through [`Env`], and output
//! goes to the writers given, so tests and the REPL drive the same path as `main`.
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line was wrong.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::client::ClientError;
use crate::command::{self, Command, CommandError, Context, Output};
use crate::config::{self, AddrOrigin, ScTarget};
use crate::render;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// What the CLI takes from the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `FLUVIO_SC`.
    pub sc: Option<String>,
    /// The config file with the profiles.
    pub config_path: PathBuf,
    /// Colour on stdout / stderr.
    pub stdout_color: bool,
    pub stderr_color: bool,
}

impl Env {
    pub fn from_process() -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        let term = std::env::var_os("TERM");
        let color = |tty: bool| render::color_enabled(tty, no_color.as_deref(), term.as_deref());
        Self {
            sc: std::env::var(config::SC_ENV).ok(),
            config_path: config::config_path(),
            stdout_color: color(std::io::stdout().is_terminal()),
            stderr_color: color(std::io::stderr().is_terminal()),
        }
    }
}

/// Run one command line (program name first) and return the exit code.
pub async fn run<I, T>(args: I, env: &Env, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match command::parse(args) {
        Ok(cli) => cli,
        Err(error) => return report_usage(&error, env, out, err),
    };
    let target = if cli.command.needs_sc() {
        match config::resolve_sc(
            cli.target.sc.as_deref(),
            env.sc.as_deref(),
            cli.target.profile.as_deref(),
            &env.config_path,
        ) {
            Ok(target) => target,
            Err(error) => {
                print_error(&CommandError::from(error), None, env, err);
                return EXIT_FAILED;
            }
        }
    } else {
        ScTarget {
            addr: config::DEFAULT_SC_ADDR.to_string(),
            origin: AddrOrigin::Default,
        }
    };
    if let Command::Tui(args) = &cli.command {
        return crate::tui::run_cli(args, &target, env, err).await;
    }
    if let Command::Repl(args) = &cli.command {
        return crate::repl::run(args, target, env, out, err).await;
    }
    let ctx = Context::new(target);
    execute_and_print(cli.command, &ctx, env, out, err).await
}

/// Print a clap error (usage: exit 2) or help/version (exit 0).
pub fn report_usage(
    error: &clap::Error,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if error.use_stderr() {
        let text = if env.stderr_color {
            error.render().ansi().to_string()
        } else {
            error.render().to_string()
        };
        let _ = err.write_all(text.as_bytes());
        EXIT_USAGE
    } else {
        let text = if env.stdout_color {
            error.render().ansi().to_string()
        } else {
            error.render().to_string()
        };
        let _ = out.write_all(text.as_bytes());
        EXIT_OK
    }
}

/// Execute a parsed command against `ctx` and print what came of it. Shared by the CLI
/// and the REPL (which keeps one `ctx` for the session).
pub async fn execute_and_print(
    command: Command,
    ctx: &Context,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let format = command.output_format();
    match command::execute(command, ctx).await {
        Ok(output) => print_output(&output, format, ctx, env, out, err),
        Err(error) => {
            print_error(&error, Some(ctx.target()), env, err);
            EXIT_FAILED
        }
    }
}

fn print_output(
    output: &Output,
    format: command::OutputFormat,
    ctx: &Context,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let rendered = match render::render(output, format, env.stdout_color) {
        Ok(rendered) => rendered,
        Err(error) => {
            print_error(&error, None, env, err);
            return EXIT_FAILED;
        }
    };
    // A closed pipe (`fluvio topic list | head -1`) is not an error worth reporting.
    let _ = out.write_all(rendered.stdout.as_bytes());
    let _ = out.flush();
    for line in &rendered.stderr {
        let _ = writeln!(err, "{line}");
    }
    for failure in &output.failures {
        print_error(failure, Some(ctx.target()), env, err);
    }
    if output.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `error: <what failed and what to do>`, plus where the SC address came from when the SC
/// could not be reached through an address the person may not have chosen.
pub fn print_error(
    error: &CommandError,
    target: Option<&ScTarget>,
    env: &Env,
    err: &mut dyn Write,
) {
    print_error_at(error, None, target, env, err);
}

/// [`print_error`], saying where the command came from (`error: line 3: ...` in a REPL
/// script) when `place` is given.
pub fn print_error_at(
    error: &CommandError,
    place: Option<&str>,
    target: Option<&ScTarget>,
    env: &Env,
    err: &mut dyn Write,
) {
    let prefix = if env.stderr_color {
        "\x1b[1;31merror:\x1b[0m"
    } else {
        "error:"
    };
    match place {
        Some(place) => {
            let _ = writeln!(err, "{prefix} {place}: {error}");
        }
        None => {
            let _ = writeln!(err, "{prefix} {error}");
        }
    }
    if let (CommandError::Client(ClientError::Unreachable { .. }), Some(target)) = (error, target) {
        let origin = match &target.origin {
            AddrOrigin::Flag => None,
            AddrOrigin::Default => Some(format!(
                "{} is the default SC address; choose another with --sc, {} or a profile in {}",
                target.addr,
                config::SC_ENV,
                env.config_path.display()
            )),
            origin => Some(format!("{} is {origin}", target.addr)),
        };
        if let Some(origin) = origin {
            let _ = writeln!(err, "note: {origin}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env {
            sc: None,
            config_path: PathBuf::from("/nonexistent/fluvio-config"),
            stdout_color: false,
            stderr_color: false,
        }
    }

    async fn run_line(line: &[&str], env: &Env) -> (u8, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let args = std::iter::once("fluvio").chain(line.iter().copied());
        let code = run(args, env, &mut out, &mut err).await;
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn dead_addr() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn usage_errors_exit_2_and_help_exits_0() {
        let (code, out, err) = run_line(&["topic", "create"], &env()).await;
        assert_eq!(code, EXIT_USAGE);
        assert!(out.is_empty());
        assert!(err.contains("<NAME>"), "{err}");
        let (code, out, _) = run_line(&["--help"], &env()).await;
        assert_eq!(code, EXIT_OK);
        assert!(out.contains("auth-token"), "{out}");
        let (code, out, _) = run_line(&["--version"], &env()).await;
        assert_eq!(code, EXIT_OK);
        assert_eq!(out, format!("fluvio {}\n", env!("CARGO_PKG_VERSION")));
    }

    #[tokio::test]
    async fn a_dead_sc_exits_1_saying_what_to_do() {
        let addr = dead_addr();
        let mut env = env();
        env.sc = Some(addr.clone());
        let (code, out, err) = run_line(&["topic", "list"], &env).await;
        assert_eq!(code, EXIT_FAILED);
        assert!(out.is_empty());
        assert!(
            err.starts_with(&format!("error: cannot reach the SC at {addr}: connection refused. Is fluvio-daemon running?")),
            "{err}"
        );
        assert!(err.contains("note: ") && err.contains("FLUVIO_SC"), "{err}");
        let (code, _, err) = run_line(&["topic", "list", "--sc", &addr], &env).await;
        assert_eq!(code, EXIT_FAILED);
        assert!(
            !err.contains("note:"),
            "the person chose the address: {err}"
        );
    }

    #[tokio::test]
    async fn a_bad_profile_is_a_failure_not_a_usage_error() {
        let (code, _, err) = run_line(&["topic", "list", "-P", "nope"], &env()).await;
        assert_eq!(code, EXIT_FAILED);
        assert!(err.starts_with("error: no config file at"), "{err}");
    }

    #[tokio::test]
    async fn completions_need_no_cluster() {
        let mut env = env();
        env.sc = Some("not an address".into());
        let (code, out, _) = run_line(&["completions", "zsh"], &env).await;
        assert_eq!(code, EXIT_OK);
        assert!(
            out.contains("#compdef fluvio"),
            "{}",
            &out[..100.min(out.len())]
        );
    }

    #[tokio::test]
    async fn version_without_an_sc_still_reports_the_cli() {
        let mut env = env();
        env.sc = Some(dead_addr());
        let (code, out, err) = run_line(&["version"], &env).await;
        assert_eq!(code, EXIT_OK);
        assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
        assert!(err.contains("cannot reach the SC"), "{err}");
    }
}
