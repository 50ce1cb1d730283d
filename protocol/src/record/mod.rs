//! Record batches and records: Fluvio's `Batch` and `Record`. Batches look like Kafka's
//! magic-2 batches but are not Kafka-compatible: null keys, where the record count sits and
//! the attribute bits all differ.
//!
//! * [`batch`]: the fixed batch header, CRC-32C, and walking raw batches ([`RawBatch`],
//!   [`batches`]) — all a server needs, since it stores batches opaquely.
//! * [`RecordSet`]: the `i32`-length-prefixed run of batches inside produce requests and
//!   fetch responses.
//! * [`Batch`]: a batch as values, built from [`Record`]s and encoded to wire bytes (with
//!   compression and CRC), or decoded back with bounded decompression.
//! * [`Record`], [`RecordHeader`]: one record's varint layout; [`varint`]: zig-zag LEB128.
//! * [`Compression`]: the batch codecs (gzip, snappy framed, lz4 frame, zstd).

pub mod batch;
pub mod compression;
pub mod entry;
pub mod memory;
pub mod record_set;
pub mod varint;
pub mod writer;

pub use batch::{BatchError, BatchHeader, RawBatch, batches};
pub use compression::{Compression, CompressionError, DEFAULT_MAX_DECOMPRESSED_BYTES};
pub use entry::{Record, RecordHeader};
pub use memory::{Batch, BatchRecord, RecordError, decode_records_section};
pub use record_set::RecordSet;
pub use varint::VarintError;
pub use writer::BatchWriter;
