//! What went wrong talking to the cluster: what failed and where, in fields a caller can
//! match on. What to do about it is for the program built on the library to say.

use std::time::Duration;

use protocol::api::ErrorCode;
use protocol::record::{Compression, RecordError};
use protocol::sc::TopicResolution;
use protocol::{DecodeError, EncodeError};

/// Which server a connection goes to; named in every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Sc,
    Spu,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Sc => "SC",
            Peer::Spu => "SPU",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the {peer} at {addr}: {reason}")]
    Unreachable {
        peer: Peer,
        addr: String,
        reason: String,
    },
    #[error("the connection to the {peer} at {addr} was lost")]
    ConnectionLost { peer: Peer, addr: String },
    #[error("the {peer} at {addr} did not answer within {secs} s")]
    Timeout { peer: Peer, addr: String, secs: u64 },
    #[error("the {peer} at {addr} sent a response this client cannot read: {source}")]
    BadResponse {
        peer: Peer,
        addr: String,
        source: DecodeError,
    },
    #[error("the {peer} at {addr} answered with an unexpected message: {what}")]
    UnexpectedResponse {
        peer: Peer,
        addr: String,
        what: String,
    },
    #[error("the {peer} at {addr} is not compatible with this client: {reason}")]
    Incompatible {
        peer: Peer,
        addr: String,
        reason: String,
    },
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The server understood the request and refused it.
    #[error("{action}: {}", message.clone().unwrap_or_else(|| code.to_string()))]
    Refused {
        action: String,
        code: ErrorCode,
        message: Option<String>,
    },
    /// Neither the SC's watched metadata nor the SC itself knows the topic.
    #[error("topic '{topic}' does not exist")]
    TopicNotFound { topic: String },
    /// The topic is placed but has no partitions to produce to.
    #[error("topic '{topic}' has no partitions")]
    NoPartitions { topic: String },
    #[error("topic '{topic}' has {partitions} partition(s); there is no partition {partition}")]
    PartitionNotFound {
        topic: String,
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// The SC is connected but its metadata did not show the topic, or the partition and
    /// its leader's SPU, within the time a lookup waits.
    #[error(
        "{} did not appear in the SC's metadata within {} s",
        metadata_object(topic, *partition),
        timeout.as_secs()
    )]
    MetadataTimeout {
        topic: String,
        /// `None` when the topic itself was waited for.
        partition: Option<u32>,
        timeout: Duration,
    },
    /// The producer was dropped with the record still unacknowledged: nobody will know
    /// whether it was stored.
    #[error("the producer stopped before the record was acknowledged")]
    ProducerStopped,
    #[error("cannot encode the record: {source}")]
    EncodeRecord { source: EncodeError },
    /// The producer asked for a codec the topic's compression type does not allow.
    #[error(
        "topic '{topic}' takes {} batches only, and the producer asked for {}: produce without \
         a compression setting (the topic's codec is used), or create the topic with \
         compression type `any` to let producers choose",
        required.name(),
        asked.name()
    )]
    CompressionMismatch {
        topic: String,
        required: Compression,
        asked: Compression,
    },
    #[error("cannot encode a {compression:?} record batch: {source}")]
    EncodeBatch {
        compression: Compression,
        source: RecordError,
    },
    /// The topic exists but the SC could not place its partitions; the SC's reason says
    /// why. Waiting for a leader would only end in a timeout that blames the metadata.
    #[error(
        "topic '{topic}' is not provisioned ({}): {}",
        resolution.label(),
        if reason.is_empty() { "the SC gave no reason" } else { reason }
    )]
    TopicNotProvisioned {
        topic: String,
        resolution: TopicResolution,
        reason: String,
    },
    /// A consumed batch failed its CRC-32C or did not parse: the bytes are not what the
    /// producer sent. Nothing of the batch was delivered.
    #[error(
        "corrupt record batch in topic '{topic}' partition {partition} at offsets {first_offset}..={last_offset} (from the SPU at {addr}): {reason}. The stored data is damaged"
    )]
    CorruptBatch {
        topic: String,
        partition: u32,
        first_offset: i64,
        last_offset: i64,
        addr: String,
        reason: String,
    },
    /// A batch was failed without being sent because an earlier batch to its partition
    /// failed: sending it would have stored it after a hole in the records sent.
    #[error(
        "not sent: an earlier batch to {topic}-{partition} failed: {cause} (that batch held {failed}; \
         nothing sent to {topic}-{partition} after it was written: send from there again, in order)"
    )]
    NotSent {
        topic: String,
        partition: u32,
        /// The records of the batch that failed, numbered in the order they were sent.
        failed: RecordSpan,
        cause: Box<ClientError>,
    },
}

/// Records numbered from 1 in the order one producer sent them to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    pub first: u64,
    pub last: u64,
}

impl std::fmt::Display for RecordSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "record #{} of those sent to it", self.first)
        } else {
            write!(
                f,
                "records #{} to #{} of those sent to it",
                self.first, self.last
            )
        }
    }
}

impl ClientError {
    /// The server's error code, when the server refused the request.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// How a metadata lookup names what it waited for.
fn metadata_object(topic: &str, partition: Option<u32>) -> String {
    match partition {
        Some(partition) => format!(
            "partition {}",
            protocol::sc::partition_name(topic, partition)
        ),
        None => format!("topic '{topic}'"),
    }
}
