//! `fluvio repl`: an interactive session against one cluster, where every CLI command
//! works without the `fluvio` prefix, plus a few session commands (`help`, `connect`,
//! `output`, `timing`, `history`, `exit`).
//!
//! # Layout
//!
//! * [`line`]: a line's words (shell quoting, `#` comments), whether it continues on the
//!   next line, the words before the cursor, and whether it carries a secret.
//! * [`builtin`]: the session commands, a clap tree of their own.
//! * [`session`]: the core: line → parse (the CLI's own tree) → execute → render (the
//!   CLI's renderer). Interactive sessions, scripts and `-c` all run lines through it.
//! * [`complete`]: completion and hints from the clap trees and [`names`], the cluster's
//!   live names.
//! * [`script`]: `-f FILE` and piped stdin.
//! * [`interactive`]: the rustyline front end; only calls the core.
//!
//! # Modes and exit codes
//!
//! * `fluvio repl` on a terminal: a prompt showing the cluster, history in
//!   `~/.fluvio/history` (or `$FLUVIO_HISTORY`). Exits 0 on `exit`, `quit` or Ctrl-D.
//!   Lines that carry a secret (`auth-token create -s ...`, anything with `--secret`) are
//!   recalled with Up during the session but never written to the history file.
//! * `fluvio repl -f FILE`, or a script piped to stdin: no prompt, no history. The first
//!   failing line (a command that fails or a line that is not a valid command) stops the
//!   script with exit 1 and `error: line N: ...`; with `--continue-on-error` every line
//!   runs and the exit code is 1 if any failed.
//! * `fluvio repl -c LINE`: run one line; exit 0, 1 (it failed) or 2 (not a valid command).

pub mod builtin;
pub mod complete;
pub mod error;
pub mod interactive;
pub mod line;
pub mod names;
pub mod script;
pub mod session;

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::config::ScTarget;
use crate::frontend::{EXIT_FAILED, EXIT_OK, Env};

pub use crate::command::interactive::ReplArgs;
pub use error::ReplError;
pub use session::{Flow, Origin, Session, Status, Stdin};

/// Overrides where the history file is.
pub const HISTORY_ENV: &str = "FLUVIO_HISTORY";

/// Run a session against `target` as `args` say; the exit code.
pub async fn run(
    args: &ReplArgs,
    target: ScTarget,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if let Some(text) = &args.command {
        let mut session = Session::new(target, env.clone(), Stdin::Free);
        let flow = session
            .run_line(text, Origin::Typed, out, err, std::future::pending::<()>())
            .await;
        return match flow {
            Flow::Exit => EXIT_OK,
            Flow::Continue(status) => status.exit_code(),
        };
    }
    if let Some(path) = &args.file {
        let lines = match script::open(path) {
            Ok(lines) => lines,
            Err(error) => {
                let _ = writeln!(err, "error: {error}");
                return EXIT_FAILED;
            }
        };
        let mut session = Session::new(target, env.clone(), Stdin::Free);
        return script::run(&mut session, lines, path, args.continue_on_error, out, err).await;
    }
    if !std::io::stdin().is_terminal() {
        let lines = script::read_lines(std::io::BufReader::new(std::io::stdin()));
        let mut session = Session::new(target, env.clone(), Stdin::Script);
        return script::run(
            &mut session,
            lines,
            Path::new("<stdin>"),
            args.continue_on_error,
            out,
            err,
        )
        .await;
    }
    interactive::run(Session::new(target, env.clone(), Stdin::Terminal), out, err).await
}
