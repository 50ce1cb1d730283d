//! Why a REPL line or session failed, beyond the commands' own errors.

use std::path::PathBuf;

use super::line::LineError;
use super::session::Stdin;

#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error(transparent)]
    Line(#[from] LineError),
    #[error("`{0}` cannot run inside a session; start it from a shell")]
    NotInSession(String),
    #[error(
        "in this session stdin is {}, so produce reads records from a file: produce {topic} -f FILE",
        match stdin { Stdin::Terminal => "the terminal you type commands on", _ => "the script being run" }
    )]
    ProduceNeedsFile { topic: String, stdin: Stdin },
    #[error("{0}")]
    BadAddress(String),
    #[error("cannot read the script {}: {source}", path.display())]
    Script {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the terminal: {0}")]
    Terminal(#[from] rustyline::error::ReadlineError),
    #[error("the line editor stopped unexpectedly: {0}")]
    EditorTask(#[from] tokio::task::JoinError),
}
