//! The `fluvio` command line: parse, find the SC, execute, render, and decide the exit
//! code. Everything the process environment provides comes in through [`Env`], and output
//! goes to the writers given, so tests drive the same path as `main`. `fluvio repl` and
//! `fluvio tui` are started from here; what they share with the CLI is in
//! [`crate::frontend`].
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line was wrong.

use std::ffi::OsString;
use std::io::Write;

use crate::command::{self, Command, CommandError, Context};
use crate::config::{self, AddrOrigin, ScTarget};
use crate::frontend::{EXIT_FAILED, Env, execute_and_print, print_error, report_usage};

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
            match cli.target.tls.settings() {
                Ok(tls) => tls,
                Err(error) => {
                    print_error(&CommandError::from(error), None, env, err);
                    return EXIT_FAILED;
                }
            },
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
            tls: config::TlsSettings::Disabled,
        }
    };
    if let Command::Tui(args) = &cli.command {
        return crate::tui::run_cli(args, &target, env, err).await;
    }
    if let Command::Repl(args) = &cli.command {
        return crate::repl::run(args, target, env, out, err).await;
    }
    let ctx = Context::new(target).with_config_path(env.config_path.clone());
    execute_and_print(cli.command, &ctx, env, out, err).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::{EXIT_OK, EXIT_USAGE};
    use std::path::PathBuf;

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
