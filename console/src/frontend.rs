//! What every front end (the CLI, the REPL and the TUI) shares: the process environment
//! ([`Env`]), the exit codes, and printing a command's result or error the same way
//! everywhere. It sits below the front ends and above the command tree, so none of them
//! needs another to print.
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line was wrong.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::client::ClientError;
use crate::command::{self, Command, CommandError, Context, Output};
use crate::config::{self, AddrOrigin, ScTarget};
use crate::render;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// What the front ends take from the process environment.
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

/// Print a clap error (usage: exit 2) or help/version (exit 0).
pub fn report_usage(
    error: &clap::Error,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let (to, color, code): (&mut dyn Write, _, _) = if error.use_stderr() {
        (err, env.stderr_color, EXIT_USAGE)
    } else {
        (out, env.stdout_color, EXIT_OK)
    };
    let text = if color {
        error.render().ansi().to_string()
    } else {
        error.render().to_string()
    };
    let _ = to.write_all(text.as_bytes());
    code
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
    let rendered =
        match render::render_fitted(output, format, env.stdout_color, render::stdout_width()) {
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
