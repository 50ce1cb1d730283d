//! Batches as values: build one from records (producers, tests, the console) and turn it
//! into wire bytes, or decode a wire batch back into its records (consumers).
//!
//! Servers do not need this: they store and forward [`RawBatch`] bytes untouched.
//!
//! Building fills in every derived header field: `batch_len`, `last_offset_delta` (record
//! count − 1), the compression bits and the schema-id flag of `attributes`, and the CRC-32C.
//! The records section, `u32 count` + records, is compressed as a whole when a codec is set.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::batch::{
    BATCH_HEADER_LEN, BATCH_PREAMBLE_LEN, BatchError, BatchHeader, CRC_START, MAGIC, RawBatch,
    SCHEMA_ID_FLAG, batches,
};
use super::compression::{Compression, CompressionError, DEFAULT_MAX_DECOMPRESSED_BYTES};
use super::entry::Record;
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader};

/// Why a batch could not be built or its records read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error("malformed records: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode batch: {0}")]
    Encode(#[from] EncodeError),
    #[error("batch header announces {announced} records but the records section holds {found}")]
    CountMismatch { announced: i64, found: usize },
}

/// A record batch in memory, with its records as values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(default)]
pub struct Batch {
    /// Assigned by the partition leader; what the producer writes is ignored.
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub compression: Compression,
    /// Milliseconds since the epoch; record timestamps are deltas from it.
    pub first_timestamp: i64,
    pub max_time_stamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_sequence: i32,
    /// Written after the header when present (attribute bit 0x10). The official client
    /// never sets it.
    pub schema_id: Option<u32>,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "proptest::collection::vec(proptest::prelude::any::<Record>(), 0..6)")
    )]
    pub records: Vec<Record>,
}

impl Default for Batch {
    /// An empty, uncompressed batch with the values the official producer writes: no
    /// timestamp yet, and -1 for the leader epoch and the producer fields.
    fn default() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            first_timestamp: -1,
            max_time_stamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            first_sequence: -1,
            schema_id: None,
            records: Vec::new(),
        }
    }
}

/// One record of a decoded batch, with its absolute offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    /// `base_offset` + position in the batch (the official consumer ignores `offset_delta`).
    pub offset: i64,
    /// `first_timestamp` + `timestamp_delta`, or -1 when the batch has no timestamp.
    pub timestamp: i64,
    pub record: &'a Record,
}

impl Batch {
    /// An empty batch (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch compressed with `compression`.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Set the batch timestamp (ms since the epoch); `max_time_stamp` follows the records.
    pub fn with_timestamp(mut self, first_timestamp: i64) -> Self {
        self.first_timestamp = first_timestamp;
        self.max_time_stamp = first_timestamp;
        for index in 0..self.records.len() {
            self.track_max_timestamp(index);
        }
        self
    }

    /// A batch holding `records`, numbered by position.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Self {
        let mut batch = Self::new();
        for record in records {
            batch.push(record);
        }
        batch
    }

    /// Append a record. Its `offset_delta` becomes its position in the batch, and
    /// `max_time_stamp` grows to cover its timestamp.
    pub fn push(&mut self, mut record: Record) {
        record.offset_delta = self.records.len() as i64;
        self.records.push(record);
        self.track_max_timestamp(self.records.len() - 1);
    }

    /// Append a record stamped at `timestamp_ms`. The first record stamped into a batch
    /// without a timestamp sets the batch's `first_timestamp`.
    pub fn push_at(&mut self, mut record: Record, timestamp_ms: i64) {
        if self.first_timestamp < 0 {
            self.first_timestamp = timestamp_ms;
            self.max_time_stamp = timestamp_ms;
        }
        record.timestamp_delta = timestamp_ms.saturating_sub(self.first_timestamp);
        self.push(record);
    }

    fn track_max_timestamp(&mut self, index: usize) {
        if self.first_timestamp < 0 {
            return;
        }
        let stamp = self
            .first_timestamp
            .saturating_add(self.records[index].timestamp_delta);
        self.max_time_stamp = self.max_time_stamp.max(stamp);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record count − 1, as the header carries it.
    pub fn last_offset_delta(&self) -> i32 {
        (self.records.len() as i64 - 1).clamp(i32::MIN.into(), i32::MAX.into()) as i32
    }

    /// The offset after the batch's last record.
    pub fn next_offset(&self) -> i64 {
        self.base_offset.saturating_add(self.records.len() as i64)
    }

    /// The timestamp consumers report for a record of this batch.
    pub fn timestamp_of(&self, record: &Record) -> i64 {
        if self.first_timestamp <= 0 {
            -1
        } else {
            self.first_timestamp.saturating_add(record.timestamp_delta)
        }
    }

    /// The records with their absolute offsets and timestamps.
    pub fn iter(&self) -> impl Iterator<Item = BatchRecord<'_>> + '_ {
        self.records
            .iter()
            .enumerate()
            .map(move |(index, record)| BatchRecord {
                offset: self.base_offset.saturating_add(index as i64),
                timestamp: self.timestamp_of(record),
                record,
            })
    }

    /// The `attributes` field this batch is written with.
    pub fn attributes(&self) -> i16 {
        let schema = if self.schema_id.is_some() {
            SCHEMA_ID_FLAG
        } else {
            0
        };
        i16::from(self.compression.tag()) | schema
    }

    /// The uncompressed records section: `u32 count` + records.
    pub fn records_section(&self) -> Result<Vec<u8>, RecordError> {
        let size: usize = 4 + self.records.iter().map(Record::encoded_len).sum::<usize>();
        let mut section = Vec::with_capacity(size);
        self.records.encode(&mut section, 0)?;
        Ok(section)
    }

    /// The complete wire batch: header with every derived field and the CRC filled in,
    /// optional schema id, records section (compressed if a codec is set).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let section = self.records_section()?;
        let section = self.compression.compress(&section)?;
        let schema_len = if self.schema_id.is_some() { 4 } else { 0 };
        let total = BATCH_HEADER_LEN + schema_len + section.len();
        let batch_len =
            i32::try_from(total - BATCH_PREAMBLE_LEN).map_err(|_| EncodeError::TooLong {
                what: "record batch",
                len: total,
                max: i32::MAX as usize,
            })?;
        let header = BatchHeader {
            base_offset: self.base_offset,
            batch_len,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC,
            crc: 0,
            attributes: self.attributes(),
            last_offset_delta: self.last_offset_delta(),
            first_timestamp: self.first_timestamp,
            max_time_stamp: self.max_time_stamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            first_sequence: self.first_sequence,
        };
        let mut out = Vec::with_capacity(total);
        header.write(&mut out);
        if let Some(schema_id) = self.schema_id {
            out.extend_from_slice(&schema_id.to_be_bytes());
        }
        out.extend_from_slice(&section);
        let crc = crc32c::crc32c(&out[CRC_START..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }

    /// [`Batch::encode`] into [`Bytes`].
    pub fn to_bytes(&self) -> Result<Bytes, RecordError> {
        self.encode().map(Bytes::from)
    }

    /// Decode a batch's records, decompressing with the default limit
    /// ([`DEFAULT_MAX_DECOMPRESSED_BYTES`]). The CRC is not checked (consumers do not);
    /// call [`RawBatch::verify_crc`] for that.
    pub fn from_raw(raw: &RawBatch<'_>) -> Result<Self, RecordError> {
        Self::from_raw_with_limit(raw, DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// Decode a batch's records; the decompressed records section may not exceed
    /// `max_decompressed` bytes.
    pub fn from_raw_with_limit(
        raw: &RawBatch<'_>,
        max_decompressed: usize,
    ) -> Result<Self, RecordError> {
        Self::from_raw_in(raw, None, max_decompressed)
    }

    /// [`Batch::from_raw_with_limit`] for a batch lying in `source`: the records' keys and
    /// values are slices of it (of the decompressed section, if compressed), not copies.
    pub fn from_raw_shared(
        raw: &RawBatch<'_>,
        source: &Bytes,
        max_decompressed: usize,
    ) -> Result<Self, RecordError> {
        Self::from_raw_in(raw, Some(source), max_decompressed)
    }

    fn from_raw_in(
        raw: &RawBatch<'_>,
        source: Option<&Bytes>,
        max_decompressed: usize,
    ) -> Result<Self, RecordError> {
        let header = &raw.header;
        let schema_id = if header.has_schema_id() {
            let bytes = raw
                .bytes
                .get(BATCH_HEADER_LEN..BATCH_HEADER_LEN + 4)
                .ok_or(BatchError::Truncated {
                    needed: BATCH_HEADER_LEN + 4,
                    available: raw.bytes.len(),
                })?;
            Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        } else {
            None
        };
        let compression = Compression::from_attributes(header.attributes)?;
        let records = match source {
            Some(source) => {
                let section = source.slice_ref(raw.records_section());
                decode_shared_records_section(compression, &section, max_decompressed)?
            }
            None => decode_records_section(compression, raw.records_section(), max_decompressed)?,
        };
        if records.len() as i64 != header.record_count() {
            return Err(RecordError::CountMismatch {
                announced: header.record_count(),
                found: records.len(),
            });
        }
        Ok(Self {
            base_offset: header.base_offset,
            partition_leader_epoch: header.partition_leader_epoch,
            compression,
            first_timestamp: header.first_timestamp,
            max_time_stamp: header.max_time_stamp,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            first_sequence: header.first_sequence,
            schema_id,
            records,
        })
    }

    /// Decode exactly one wire batch (no bytes before or after it).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::decode_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// [`Batch::decode`] with an explicit decompression limit.
    pub fn decode_with_limit(bytes: &[u8], max_decompressed: usize) -> Result<Self, RecordError> {
        let mut iter = batches(bytes);
        let raw = match iter.next() {
            Some(raw) => raw?,
            None => {
                return Err(BatchError::Truncated {
                    needed: BATCH_HEADER_LEN,
                    available: 0,
                }
                .into());
            }
        };
        if iter.position() != bytes.len() {
            return Err(DecodeError::TrailingBytes {
                what: "record batch",
                count: bytes.len() - iter.position(),
            }
            .into());
        }
        Self::from_raw_with_limit(&raw, max_decompressed)
    }
}

/// Decompress (if needed) and decode a records section: `u32 count` + records, nothing
/// after them.
pub fn decode_records_section(
    compression: Compression,
    section: &[u8],
    max_decompressed: usize,
) -> Result<Vec<Record>, RecordError> {
    match plain_section(compression, section, max_decompressed)? {
        Cow::Borrowed(plain) => read_records(Reader::new(plain)),
        Cow::Owned(plain) => read_records(Reader::new(&plain)),
    }
}

/// [`decode_records_section`] of reference-counted bytes: the records slice them (or the
/// decompressed copy) instead of copying each key and value.
pub fn decode_shared_records_section(
    compression: Compression,
    section: &Bytes,
    max_decompressed: usize,
) -> Result<Vec<Record>, RecordError> {
    let plain = match plain_section(compression, section, max_decompressed)? {
        Cow::Borrowed(_) => section.clone(),
        Cow::Owned(plain) => Bytes::from(plain),
    };
    read_records(Reader::shared(&plain))
}

/// The records section uncompressed, within `max_decompressed` bytes.
fn plain_section(
    compression: Compression,
    section: &[u8],
    max_decompressed: usize,
) -> Result<Cow<'_, [u8]>, RecordError> {
    if compression != Compression::None {
        return Ok(Cow::Owned(
            compression.decompress(section, max_decompressed)?,
        ));
    }
    if section.len() > max_decompressed {
        return Err(CompressionError::TooLarge {
            codec: compression,
            limit: max_decompressed,
        }
        .into());
    }
    Ok(Cow::Borrowed(section))
}

fn read_records(mut reader: Reader<'_>) -> Result<Vec<Record>, RecordError> {
    let records = Vec::<Record>::decode(&mut reader, 0)?;
    reader.finish("records section")?;
    Ok(records)
}

impl RawBatch<'_> {
    /// Decode this batch into a [`Batch`] (default decompression limit). See
    /// [`Batch::from_raw`].
    pub fn decode(&self) -> Result<Batch, RecordError> {
        Batch::from_raw(self)
    }

    /// Decode this batch's records, decompressing at most `max_decompressed` bytes.
    pub fn records(&self, max_decompressed: usize) -> Result<Vec<Record>, RecordError> {
        Batch::from_raw_with_limit(self, max_decompressed).map(|batch| batch.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The batch the official client sent for `producer.send(b"k1", b"hello")`, with the
    /// client's base offset (count - 1 = 0).
    const CAPTURED: &str = "0000000000000000 00000040 ffffffff 02 fe85cec0 0000 00000000 \
        000001a20af9adea 000001a20af9adea ffffffffffffffff ffff ffffffff 00000001 \
        1c 00 00 00 01 04 6b31 0a 68656c6c6f 00";

    #[test]
    fn builds_the_captured_batch_byte_for_byte() {
        let mut batch = Batch::new().with_timestamp(0x01a2_0af9_adea);
        batch.push(Record::with_key(&b"k1"[..], &b"hello"[..]));
        assert_eq!(batch.encode().unwrap(), hex(CAPTURED));
    }

    #[test]
    fn decodes_the_captured_batch() {
        let batch = Batch::decode(&hex(CAPTURED)).unwrap();
        assert_eq!(
            batch.records,
            vec![Record::with_key(&b"k1"[..], &b"hello"[..])]
        );
        assert_eq!(batch.first_timestamp, 0x01a2_0af9_adea);
        let all: Vec<_> = batch.iter().collect();
        assert_eq!(all[0].offset, 0);
        assert_eq!(all[0].timestamp, 0x01a2_0af9_adea);
    }

    #[test]
    fn derived_fields_and_crc() {
        let mut batch = Batch::new()
            .with_timestamp(1000)
            .with_compression(Compression::None);
        batch.schema_id = Some(7);
        batch.push_at(Record::new(&b"a"[..]), 1005);
        batch.push_at(Record::new(&b"b"[..]), 1003);
        let bytes = batch.encode().unwrap();
        let raw = batches(&bytes).next().unwrap().unwrap();
        raw.verify_crc().unwrap();
        assert_eq!(raw.header.last_offset_delta, 1);
        assert_eq!(raw.header.max_time_stamp, 1005);
        assert!(raw.header.has_schema_id());
        assert_eq!(raw.header.total_len(), bytes.len());
        let decoded = raw.decode().unwrap();
        assert_eq!(decoded, batch);
        assert_eq!(decoded.records[1].offset_delta, 1);
        assert_eq!(decoded.records[1].timestamp_delta, 3);
    }

    #[test]
    fn empty_batch_round_trips() {
        let batch = Batch::new();
        let bytes = batch.encode().unwrap();
        assert_eq!(bytes.len(), BATCH_HEADER_LEN + 4);
        assert_eq!(Batch::decode(&bytes).unwrap(), batch);
    }

    #[test]
    fn count_mismatch_is_an_error() {
        let mut bytes = hex(CAPTURED);
        bytes[23..27].copy_from_slice(&1i32.to_be_bytes());
        assert!(matches!(
            Batch::decode(&bytes),
            Err(RecordError::CountMismatch {
                announced: 2,
                found: 1
            })
        ));
    }

    #[test]
    fn trailing_bytes_after_the_batch_or_records() {
        let mut bytes = hex(CAPTURED);
        bytes.push(0);
        assert!(matches!(
            Batch::decode(&bytes),
            Err(RecordError::Decode(DecodeError::TrailingBytes { .. }))
        ));
        // A byte after the last record, inside the batch (batch_len grown to match).
        let mut inner = hex(CAPTURED);
        inner.push(0);
        inner[8..12].copy_from_slice(&65i32.to_be_bytes());
        assert!(matches!(
            Batch::decode(&inner),
            Err(RecordError::Decode(DecodeError::TrailingBytes { .. }))
        ));
    }

    #[test]
    fn uncompressed_section_is_bounded_too() {
        let bytes = hex(CAPTURED);
        let raw = batches(&bytes).next().unwrap().unwrap();
        assert!(matches!(
            raw.records(4),
            Err(RecordError::Compression(CompressionError::TooLarge { .. }))
        ));
    }
}
