//! The async Fluvio client library: what a program needs to administer a cluster and to
//! produce and consume records, speaking the wire protocol of the official Fluvio clients.
//!
//! - [`Fluvio`] connects to the SC, follows its metadata ([`MetadataCache`]) and keeps one
//!   connection per SPU that leads a partition the program uses.
//! - [`Admin`] is the SC's object API: create, delete, list and watch topics, partitions,
//!   SPUs and auth tokens.
//! - [`TopicProducer`] batches records per partition and reports each record's offset;
//!   [`PartitionConsumer`], [`RecordStream`] and [`MultiStream`] read them back in order,
//!   following a partition's leader when it moves.
//! - [`Fluvio::consumer_offsets`] and [`OffsetCommitter`] keep consumers' committed
//!   offsets in the cluster (the system topic `consumer-offset`), as the official client does.
//! - [`ClientError`] says what failed and where, with fields a caller can match on.
//!
//! The library stands on its own: it knows nothing of the `fluvio` command line built on
//! it, so its messages name what failed and never a command or a flag to run.
//!
//! ```no_run
//! use client::{ConsumerConfig, Fluvio, Offset, ProducerConfig};
//!
//! # async fn example() -> Result<(), client::ClientError> {
//! let fluvio = Fluvio::connect("127.0.0.1:9003").await?;
//! let producer = fluvio
//!     .topic_producer("greetings", ProducerConfig::default())
//!     .await?;
//! let pending = producer.send(None, "hello").await?;
//! producer.flush().await?;
//! println!("stored at offset {}", pending.wait().await?.offset);
//!
//! let consumer = fluvio.partition_consumer("greetings", 0).await?;
//! let mut stream = consumer
//!     .stream(Offset::Beginning, ConsumerConfig::default())
//!     .await?;
//! if let Some(record) = stream.next().await {
//!     println!("{:?}", record?.value);
//! }
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod cluster;
pub mod consumer;
pub mod error;
#[cfg(any(test, feature = "fake-sc"))]
pub mod fake_sc;
mod gather;
pub mod kafka;
pub mod metadata;
pub mod multi;
pub mod offsets;
pub mod producer;
mod refusal;
mod routing;
pub mod socket;
pub mod tls;

pub use admin::{Admin, WatchStream};
pub use cluster::Fluvio;
pub use consumer::{
    ConsumerConfig, ConsumerRecord, Offset, PartitionConsumer, PartitionOffsets, RecordStream,
    StreamEvent,
};
pub use error::{ClientError, Peer, RecordSpan};
pub use metadata::{MetadataCache, PartitionRoute};
pub use multi::MultiStream;
pub use offsets::{OffsetCommitter, OffsetStrategy};
pub use producer::{
    MAX_IN_FLIGHT_IDEMPOTENT, PendingRecord, ProducerConfig, RecordMetadata, TopicProducer,
    partition_for_key, resolve_compression,
};
pub use socket::{FrameStream, Socket};
pub use tls::{ClientTls, Pem, TlsConfigError};
