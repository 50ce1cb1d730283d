//! Why a command failed, worded for the person who typed it: what failed and what to do.

use std::path::PathBuf;

use crate::client::{ClientError, Peer};
use crate::config::ConfigError;
use protocol::api::ErrorCode;
use protocol::sc::TopicResolution;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{}", advised(.0))]
    Client(#[from] ClientError),
    #[error("{}", kafka_advised(.0))]
    Kafka(#[from] crate::client::kafka::KafkaError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Profile(#[from] crate::profiles::ProfileError),
    #[error(
        "{} names no current profile; pick one with `fluvio profile switch NAME`",
        path.display()
    )]
    NoCurrentProfile { path: PathBuf },
    #[error(transparent)]
    Soak(#[from] super::benchmark::SoakError),
    #[error(transparent)]
    Benchmark(super::benchmark::BenchError),
    #[error(transparent)]
    Cluster(#[from] super::cluster::ClusterError),
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret in {}: {problem}", path.display())]
    SecretFile { path: PathBuf, problem: String },
    #[error("replica assignment file {}: {problem}", path.display())]
    AssignmentFile { path: PathBuf, problem: String },
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
    #[error(
        "consumer '{consumer}' has no committed offsets{scope}; `fluvio consumer list` shows the consumers that have"
    )]
    NoConsumerOffsets { consumer: String, scope: String },
    #[error("cannot write completions for {shell}: {source}")]
    Completions {
        shell: String,
        source: std::string::FromUtf8Error,
    },
}

/// A client error followed by what to do about it. The client library says what failed;
/// the advice names the commands and flags of this command line that help, so it lives
/// here. Every front end shows client errors through this.
pub fn advised(error: &ClientError) -> String {
    match advice(error) {
        Some(advice) => format!("{error}{advice}"),
        None => error.to_string(),
    }
}

/// A Kafka listener's error with what to do about it.
fn kafka_advised(error: &crate::client::kafka::KafkaError) -> String {
    use crate::client::kafka::KafkaError;
    match error {
        KafkaError::Unreachable { .. } | KafkaError::Timeout { .. } => format!(
            "{error}. Is the cluster running with a Kafka listener there? Pass the address \
             of an SPU's Kafka listener (its --kafka-addr) with --kafka-addr HOST:PORT"
        ),
        KafkaError::UnknownGroup { .. } => {
            format!("{error}; `fluvio consumer-group list` shows the groups")
        }
        KafkaError::NoListener { .. } => format!(
            "{error} (SPUs started with --no-kafka, or all offline). Pass the address of a \
             Kafka listener with --kafka-addr HOST:PORT"
        ),
        _ => error.to_string(),
    }
}

/// What to do about `error`, with the punctuation that joins it to the message.
fn advice(error: &ClientError) -> Option<String> {
    Some(match error {
        ClientError::Unreachable { peer, .. } | ClientError::ConnectionLost { peer, .. } => {
            format!(". {}", reach_hint(*peer))
        }
        ClientError::TopicNotFound { topic } => {
            format!("; create it with `fluvio topic create {topic}`")
        }
        ClientError::TopicNotProvisioned { resolution, .. } => {
            format!(". {}", unplaced_hint(*resolution))
        }
        ClientError::CorruptBatch {
            topic, partition, ..
        } => {
            format!("; `fluvio partition verify {topic} -p {partition}` lists every damaged range")
        }
        // The SC says who was refused what in its message; the SPUs' answers carry only
        // the code, and their logs name the principal.
        ClientError::Refused {
            code: ErrorCode::PermissionDenied,
            message,
            ..
        } => match message {
            Some(_) => "; the cluster's authorization policy (--authz-policy) does not grant it: ask its operator".to_string(),
            None => "; the cluster's authorization policy (--authz-policy) does not grant it to this client's principal (the SPU's log names the principal, action and object): ask its operator".to_string(),
        },
        // The batch failed for its cause: what helps with that helps here.
        ClientError::NotSent { cause, .. } => return advice(cause),
        _ => return None,
    })
}

/// What to tell a user whose connection to `peer` failed.
fn reach_hint(peer: Peer) -> &'static str {
    match peer {
        Peer::Sc => {
            "Is fluvio-daemon running? Start it with fluvio-daemon, or point --sc at your SC."
        }
        Peer::Spu => "Is the SPU running? `fluvio spu list` shows which SPUs are online.",
    }
}

/// What to do about a topic the SC could not place.
fn unplaced_hint(resolution: TopicResolution) -> &'static str {
    match resolution {
        TopicResolution::InsufficientResources => {
            "The SC places it as soon as enough SPUs are online (`fluvio spu list` shows them), or delete it and create it with a lower replication factor."
        }
        _ => {
            "Delete the topic and create it again with SPUs that exist (`fluvio spu list` shows them)."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_come_with_what_to_do() {
        let unreachable = ClientError::Unreachable {
            peer: Peer::Sc,
            addr: "127.0.0.1:9".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            CommandError::from(unreachable).to_string(),
            "cannot reach the SC at 127.0.0.1:9: connection refused. Is fluvio-daemon running? \
             Start it with fluvio-daemon, or point --sc at your SC."
        );
        let missing = ClientError::TopicNotFound {
            topic: "nope".into(),
        };
        assert_eq!(
            CommandError::from(missing).to_string(),
            "topic 'nope' does not exist; create it with `fluvio topic create nope`"
        );
        let lost = ClientError::ConnectionLost {
            peer: Peer::Spu,
            addr: "127.0.0.1:9005".into(),
        };
        assert_eq!(
            advised(&lost),
            "the connection to the SPU at 127.0.0.1:9005 was lost. Is the SPU running? \
             `fluvio spu list` shows which SPUs are online."
        );
        let corrupt = ClientError::CorruptBatch {
            topic: "t".into(),
            partition: 2,
            first_offset: 5,
            last_offset: 9,
            addr: "127.0.0.1:9005".into(),
            reason: "CRC mismatch".into(),
        };
        assert_eq!(
            advised(&corrupt),
            "corrupt record batch in topic 't' partition 2 at offsets 5..=9 (from the SPU at \
             127.0.0.1:9005): CRC mismatch. The stored data is damaged; \
             `fluvio partition verify t -p 2` lists every damaged range"
        );
        let stopped = ClientError::ProducerStopped;
        assert_eq!(advised(&stopped), stopped.to_string());
        let denied = ClientError::Refused {
            action: "cannot create topic 'b'".into(),
            code: ErrorCode::PermissionDenied,
            message: Some("principal 'reader' may not create topic 'b'".into()),
        };
        assert!(
            advised(&denied).starts_with(
                "cannot create topic 'b': principal 'reader' may not create topic 'b'; the cluster's authorization policy"
            ),
            "{}",
            advised(&denied)
        );
    }
}
