//! Record batches as stored and sent: a fixed 57-byte header followed by the records
//! section. Servers treat batches as opaque bytes: they read the header, check the CRC,
//! rewrite the base offset, and never re-encode the records.
//!
//! ```text
//! offset  field                  type
//!  0      base_offset            i64   assigned by the leader; outside the CRC
//!  8      batch_len              i32   bytes after this field
//! 12      partition_leader_epoch i32
//! 16      magic                  i8    2
//! 17      crc                    u32   CRC-32C of bytes 21.. to the end of the batch
//! 21      attributes             i16   bits 0-2 compression, bit 4 schema id present
//! 23      last_offset_delta      i32   record count - 1
//! 27      first_timestamp        i64   ms since the epoch
//! 35      max_time_stamp         i64
//! 43      producer_id            i64
//! 51      producer_epoch         i16
//! 53      first_sequence         i32
//! 57      [schema_id u32] records
//! ```

use serde::{Deserialize, Serialize};

/// Bytes before `batch_len` counts: base offset and the length itself.
pub const BATCH_PREAMBLE_LEN: usize = 12;
/// Bytes of the fixed header, up to where the records section starts.
pub const BATCH_HEADER_LEN: usize = 57;
/// The smallest legal `batch_len`: the header after the preamble, with no records section.
pub const MIN_BATCH_LEN: i32 = (BATCH_HEADER_LEN - BATCH_PREAMBLE_LEN) as i32;
/// Where the CRC-covered bytes start.
pub const CRC_START: usize = 21;
/// The only batch format there is.
pub const MAGIC: i8 = 2;
/// Attribute bits that select the compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit: a u32 schema id follows the header.
pub const SCHEMA_ID_FLAG: i16 = 0x10;

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("batch length {0} is below the minimum of {MIN_BATCH_LEN}")]
    BadLength(i32),
    #[error("batch magic {0} is not {MAGIC}")]
    BadMagic(i8),
    #[error("batch CRC mismatch: header says {stored:#010x}, bytes give {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
}

/// The fixed header of a record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_len: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_time_stamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_sequence: i32,
}

impl Default for BatchHeader {
    fn default() -> Self {
        Self {
            base_offset: 0,
            batch_len: MIN_BATCH_LEN,
            partition_leader_epoch: -1,
            magic: MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: -1,
            first_timestamp: -1,
            max_time_stamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            first_sequence: -1,
        }
    }
}

fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

impl BatchHeader {
    /// Parse the header at the front of `bytes`, checking its length field and magic.
    /// The records section need not be present.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: bytes.len(),
            });
        }
        let header = Self {
            base_offset: i64::from_be_bytes(be(bytes, 0)),
            batch_len: i32::from_be_bytes(be(bytes, 8)),
            partition_leader_epoch: i32::from_be_bytes(be(bytes, 12)),
            magic: bytes[16] as i8,
            crc: u32::from_be_bytes(be(bytes, 17)),
            attributes: i16::from_be_bytes(be(bytes, 21)),
            last_offset_delta: i32::from_be_bytes(be(bytes, 23)),
            first_timestamp: i64::from_be_bytes(be(bytes, 27)),
            max_time_stamp: i64::from_be_bytes(be(bytes, 35)),
            producer_id: i64::from_be_bytes(be(bytes, 43)),
            producer_epoch: i16::from_be_bytes(be(bytes, 51)),
            first_sequence: i32::from_be_bytes(be(bytes, 53)),
        };
        if header.batch_len < MIN_BATCH_LEN {
            return Err(BatchError::BadLength(header.batch_len));
        }
        if header.magic != MAGIC {
            return Err(BatchError::BadMagic(header.magic));
        }
        Ok(header)
    }

    /// Write the header into the first [`BATCH_HEADER_LEN`] bytes of `dst`.
    pub fn write(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.base_offset.to_be_bytes());
        dst.extend_from_slice(&self.batch_len.to_be_bytes());
        dst.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        dst.push(self.magic as u8);
        dst.extend_from_slice(&self.crc.to_be_bytes());
        dst.extend_from_slice(&self.attributes.to_be_bytes());
        dst.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        dst.extend_from_slice(&self.first_timestamp.to_be_bytes());
        dst.extend_from_slice(&self.max_time_stamp.to_be_bytes());
        dst.extend_from_slice(&self.producer_id.to_be_bytes());
        dst.extend_from_slice(&self.producer_epoch.to_be_bytes());
        dst.extend_from_slice(&self.first_sequence.to_be_bytes());
    }

    /// The whole batch's size in bytes, preamble included.
    pub fn total_len(&self) -> usize {
        BATCH_PREAMBLE_LEN + self.batch_len.max(0) as usize
    }

    /// How many records (offsets) the batch holds.
    pub fn record_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }

    /// The offset after the batch's last record.
    pub fn next_offset(&self) -> i64 {
        self.base_offset + self.record_count()
    }

    /// The compression codec bits (batch numbering: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression_bits(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    pub fn has_schema_id(&self) -> bool {
        self.attributes & SCHEMA_ID_FLAG != 0
    }
}

/// CRC-32C of the bytes the header's `crc` field covers.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_START..).unwrap_or_default())
}

/// Rewrite a batch's base offset in place (the leader's offset assignment).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(field) = batch.get_mut(0..8) {
        field.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Rewrite a batch's partition leader epoch in place.
pub fn set_leader_epoch(batch: &mut [u8], epoch: i32) {
    if let Some(field) = batch.get_mut(12..16) {
        field.copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Stamp an idempotent producer's id, epoch and first sequence into a whole batch and
/// recompute its CRC (the fields are covered by it). A buffer too short to be a batch is
/// left alone.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, first_sequence: i32) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&first_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// One batch inside a larger buffer, header parsed, bytes borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawBatch<'a> {
    pub header: BatchHeader,
    /// The whole batch, preamble included.
    pub bytes: &'a [u8],
}

impl<'a> RawBatch<'a> {
    /// Check the stored CRC against the bytes.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let computed = compute_crc(self.bytes);
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch {
                stored: self.header.crc,
                computed,
            })
        }
    }

    /// The records section (after the header and the optional schema id).
    pub fn records_section(&self) -> &'a [u8] {
        let start = BATCH_HEADER_LEN + if self.header.has_schema_id() { 4 } else { 0 };
        self.bytes.get(start..).unwrap_or_default()
    }
}

/// Walk the batches laid end to end in `buf`. Stops with an error at the first batch whose
/// header is malformed or whose bytes run past the end of the buffer.
pub fn batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter { buf, pos: 0 }
}

/// Iterator returned by [`batches`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    /// Bytes of complete batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<RawBatch<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let header = match BatchHeader::parse(rest) {
            Ok(header) => header,
            Err(err) => {
                self.pos = self.buf.len();
                return Some(Err(err));
            }
        };
        let total = header.total_len();
        if rest.len() < total {
            self.pos = self.buf.len();
            return Some(Err(BatchError::Truncated {
                needed: total,
                available: rest.len(),
            }));
        }
        self.pos += total;
        Some(Ok(RawBatch {
            header,
            bytes: &rest[..total],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch the official client sent for `producer.send(b"k1", b"hello")`.
    const CAPTURED: &str = concat!(
        "000000000000000000000040ffffffff02fe85cec0000000000000000001a20a",
        "f9adea000001a20af9adeaffffffffffffffffffffffffffff000000011c0000",
        "0001046b310a68656c6c6f00",
    );

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn captured_batch_parses_and_crc_matches() {
        let bytes = hex(CAPTURED);
        let mut iter = batches(&bytes);
        let batch = iter.next().unwrap().unwrap();
        assert!(iter.next().is_none());
        assert_eq!(batch.header.batch_len, 64);
        assert_eq!(batch.header.record_count(), 1);
        assert_eq!(batch.header.total_len(), bytes.len());
        batch.verify_crc().unwrap();
        let mut rewritten = Vec::new();
        batch.header.write(&mut rewritten);
        assert_eq!(rewritten, bytes[..BATCH_HEADER_LEN]);
    }

    #[test]
    fn base_offset_is_outside_the_crc() {
        let mut bytes = hex(CAPTURED);
        set_base_offset(&mut bytes, 42);
        let batch = batches(&bytes).next().unwrap().unwrap();
        assert_eq!(batch.header.base_offset, 42);
        assert_eq!(batch.header.next_offset(), 43);
        batch.verify_crc().unwrap();
    }

    #[test]
    fn corrupt_and_truncated_batches_are_errors() {
        let mut bytes = hex(CAPTURED);
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        let batch = batches(&bytes).next().unwrap().unwrap();
        assert!(matches!(
            batch.verify_crc(),
            Err(BatchError::CrcMismatch { .. })
        ));
        let short = &bytes[..bytes.len() - 1];
        assert!(matches!(
            batches(short).next(),
            Some(Err(BatchError::Truncated { .. }))
        ));
        let mut bad_magic = hex(CAPTURED);
        bad_magic[16] = 1;
        assert_eq!(
            batches(&bad_magic).next(),
            Some(Err(BatchError::BadMagic(1)))
        );
    }
}
