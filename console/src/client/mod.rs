//! The async client library: connections to the SC and SPUs, the admin object API,
//! producers and consumers. The CLI, REPL, TUI and the integration tests are built on it.

pub mod admin;
pub mod cluster;
pub mod consumer;
pub mod error;
pub mod metadata;
pub mod producer;
pub mod socket;

pub use admin::{Admin, WatchStream};
pub use cluster::Fluvio;
pub use consumer::{
    ConsumerConfig, ConsumerRecord, MultiStream, Offset, PartitionConsumer, PartitionOffsets,
    RecordStream,
};
pub use error::{ClientError, Peer, RecordSpan};
pub use metadata::{MetadataCache, PartitionRoute};
pub use producer::{
    PendingRecord, ProducerConfig, RecordMetadata, TopicProducer, partition_for_key,
};
pub use socket::{FrameStream, Socket};
