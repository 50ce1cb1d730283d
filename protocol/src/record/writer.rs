//! Building a wire batch record by record, for producers.
//!
//! [`Batch`](super::Batch) keeps records as values and encodes them all when asked, which
//! costs a second pass and a copy of the records section. A [`BatchWriter`] encodes each
//! record into the batch buffer as it is pushed, behind room left for the header, so an
//! uncompressed batch is finished by filling in the header and the CRC in place. The bytes
//! are the same as [`Batch::encode`](super::Batch::encode) of the same records.

use bytes::Bytes;

use super::batch::{BATCH_HEADER_LEN, BATCH_PREAMBLE_LEN, BatchHeader, CRC_START, MAGIC};
use super::compression::Compression;
use super::entry::Record;
use super::memory::RecordError;
use crate::codec::{Encode, EncodeError};

/// Where the records section starts: after the header and the `u32` record count.
const RECORDS_START: usize = BATCH_HEADER_LEN + 4;

/// One batch under construction (no schema id; producer fields as the official client
/// writes them).
#[derive(Debug)]
pub struct BatchWriter {
    /// Header room, record count room, then the encoded records.
    buf: Vec<u8>,
    records: i64,
    first_timestamp: i64,
    max_timestamp: i64,
    compression: Compression,
}

impl BatchWriter {
    /// An empty batch whose buffer has room for `capacity` bytes of records.
    pub fn with_capacity(capacity: usize, compression: Compression) -> Self {
        let mut buf = Vec::with_capacity(RECORDS_START + capacity);
        buf.resize(RECORDS_START, 0);
        Self {
            buf,
            records: 0,
            first_timestamp: -1,
            max_timestamp: -1,
            compression,
        }
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.records as usize
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes of encoded records so far (before compression).
    pub fn records_bytes(&self) -> usize {
        self.buf.len() - RECORDS_START
    }

    /// Append `record` written at `timestamp_ms`: its offset delta becomes its position,
    /// its timestamp delta is taken from the batch's first record. On error nothing was
    /// added.
    pub fn push(&mut self, mut record: Record, timestamp_ms: i64) -> Result<(), EncodeError> {
        if self.first_timestamp < 0 {
            self.first_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        }
        record.offset_delta = self.records;
        record.timestamp_delta = timestamp_ms.saturating_sub(self.first_timestamp);
        let len = self.buf.len();
        if let Err(err) = record.encode(&mut self.buf, 0) {
            self.buf.truncate(len);
            return Err(err);
        }
        self.records += 1;
        if self.first_timestamp >= 0 {
            let stamp = self.first_timestamp.saturating_add(record.timestamp_delta);
            self.max_timestamp = self.max_timestamp.max(stamp);
        }
        Ok(())
    }

    /// The finished wire batch.
    pub fn finish(self) -> Result<Bytes, RecordError> {
        let Self {
            mut buf,
            records,
            first_timestamp,
            max_timestamp,
            compression,
        } = self;
        let count = u32::try_from(records).map_err(|_| EncodeError::TooLong {
            what: "record batch",
            len: records as usize,
            max: u32::MAX as usize,
        })?;
        buf[BATCH_HEADER_LEN..RECORDS_START].copy_from_slice(&count.to_be_bytes());
        if compression != Compression::None {
            let section = compression.compress(&buf[BATCH_HEADER_LEN..])?;
            buf.truncate(BATCH_HEADER_LEN);
            buf.extend_from_slice(&section);
        }
        let batch_len =
            i32::try_from(buf.len() - BATCH_PREAMBLE_LEN).map_err(|_| EncodeError::TooLong {
                what: "record batch",
                len: buf.len(),
                max: i32::MAX as usize,
            })?;
        let header = BatchHeader {
            base_offset: 0,
            batch_len,
            partition_leader_epoch: -1,
            magic: MAGIC,
            crc: 0,
            attributes: i16::from(compression.tag()),
            last_offset_delta: (records - 1).clamp(i32::MIN.into(), i32::MAX.into()) as i32,
            first_timestamp,
            max_time_stamp: max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            first_sequence: -1,
        };
        let mut head = Vec::with_capacity(BATCH_HEADER_LEN);
        header.write(&mut head);
        buf[..BATCH_HEADER_LEN].copy_from_slice(&head);
        let crc = crc32c::crc32c(&buf[CRC_START..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Batch, RecordHeader};

    fn record(i: usize) -> Record {
        let mut r = Record::new(vec![i as u8; i * 7]);
        if i.is_multiple_of(2) {
            r.key = Some(Bytes::from(format!("key-{i}")));
        }
        if i.is_multiple_of(3) {
            r.headers.push(RecordHeader::new("h", vec![1, 2, 3]));
        }
        r
    }

    #[test]
    fn same_bytes_as_a_batch_value() {
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
            for n in [1usize, 2, 17] {
                let mut writer = BatchWriter::with_capacity(16, compression);
                let mut batch = Batch::new().with_compression(compression);
                for i in 0..n {
                    // Timestamps that go back and forth, as clocks do.
                    let at = 1_700_000_000_000 + [0i64, 5, 3, 9][i % 4];
                    writer.push(record(i), at).unwrap();
                    batch.push_at(record(i), at);
                }
                assert_eq!(writer.len(), n);
                let bytes = writer.finish().unwrap();
                assert_eq!(bytes.as_ref(), batch.encode().unwrap().as_slice());
                let decoded = Batch::decode(&bytes).unwrap();
                assert_eq!(decoded.records.len(), n);
                assert_eq!(decoded.records[n - 1].value, record(n - 1).value);
            }
        }
    }
}
