//! Why a command failed, worded for the person who typed it: what failed and what to do.

use std::path::PathBuf;

use crate::client::ClientError;
use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Soak(#[from] crate::benchmark::SoakError),
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("replica assignment file {}: {problem}", path.display())]
    AssignmentFile { path: PathBuf, problem: String },
    #[error("{kind} '{name}' not found; `fluvio {command}` lists them")]
    NotFound {
        kind: &'static str,
        name: String,
        command: &'static str,
    },
    #[error("unknown api '{name}'; valid names: {known}")]
    UnknownApi { name: String, known: String },
    #[error("{} is not a valid {api} request: {source}. `fluvio advanced generate --api {api}` prints a template", path.display())]
    RequestJson {
        path: PathBuf,
        api: String,
        source: serde_json::Error,
    },
    #[error(
        "api {api} is served by SPUs: pass --spu HOST:PORT (`fluvio spu list` shows their public addresses)"
    )]
    NeedsSpu { api: String },
    #[error("api {api} is served by the SC, not by SPUs: drop --spu")]
    NotAnSpuApi { api: String },
    #[error(
        "the {peer} at {addr} answered {api} with a response this client cannot read: {source}"
    )]
    BadResponse {
        peer: crate::client::Peer,
        addr: String,
        api: String,
        source: protocol::DecodeError,
    },
    #[error(
        "line {line} has no key separator '{separator}'; write it as KEY{separator}VALUE, or drop --key-separator"
    )]
    NoSeparator { line: usize, separator: String },
    #[error("line {line}: {source}; `produce --json` reads the lines `consume -O json` prints")]
    BadJsonRecord {
        line: usize,
        source: super::record_json::JsonRecordError,
    },
    #[error("{what} is required")]
    MissingArgument { what: &'static str },
    #[error("cannot produce JSON or YAML: {source}")]
    Serialize { source: serde_json::Error },
    #[error("cannot produce YAML: {source}")]
    Yaml { source: serde_norway::Error },
    #[error("cannot generate a secret: the operating system's random generator failed: {0}")]
    Random(String),
    #[error(
        "topic '{topic}' partition {partition}: {ranges} corrupt range(s) found by the leader; the records there cannot be read as written"
    )]
    CorruptPartition {
        topic: String,
        partition: u32,
        ranges: usize,
    },
    #[error("cannot write completions for {shell}: {source}")]
    Completions {
        shell: String,
        source: std::string::FromUtf8Error,
    },
}
