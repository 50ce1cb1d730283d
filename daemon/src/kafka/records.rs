//! Record batches between the Kafka clients' dialect and ours.
//!
//! Both sides write the same v2 batch, with one difference: snappy. Our clients (and
//! Fluvio's) compress a snappy batch in the snappy *frame* format; Kafka clients write
//! raw snappy (librdkafka) or the xerial framing (the Java client, kafka-python), and read
//! xerial (and raw). Batches keep our format on disk, so a snappy batch is re-framed on
//! the way in from a Kafka producer and on the way out to a Kafka consumer. gzip, lz4
//! (the LZ4 frame format on both sides) and zstd are the same on both and pass through
//! untouched.

use protocol::record::batch::{
    self as raw, BATCH_HEADER_LEN, BatchError, BatchHeader, CRC_START, RawBatch,
};
use protocol::record::compression::DEFAULT_MAX_DECOMPRESSED_BYTES;

/// The compression bits of a snappy batch.
const SNAPPY: u8 = 2;
/// The first bytes of a xerial snappy stream, then a version and a compatible version.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// The stream identifier chunk that opens the snappy frame format.
const FRAMED_MAGIC: &[u8] = b"\xff\x06\x00\x00sNaPpY";
/// Uncompressed bytes per xerial block, as the Java client writes them.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Why a produced batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("batch at byte {position}: {source}")]
    Batch { position: usize, source: BatchError },
    #[error("batch at byte {position}: snappy data cannot be read: {reason}")]
    Snappy { position: usize, reason: String },
}

/// Check every batch a Kafka producer sent (header, length, CRC) and re-frame its snappy
/// batches in our format. `None` when nothing needed re-framing: the bytes are stored as
/// they came.
pub fn from_kafka(batches: &[u8]) -> Result<Option<Vec<u8>>, RecordsError> {
    let mut converted: Option<Vec<u8>> = None;
    let mut iter = raw::batches(batches);
    loop {
        let position = iter.position();
        let Some(batch) = iter.next() else { break };
        let batch = batch.map_err(|source| RecordsError::Batch { position, source })?;
        batch
            .verify_crc()
            .map_err(|source| RecordsError::Batch { position, source })?;
        let reframed = if batch.header.compression_bits() == SNAPPY
            && !batch.records_section().starts_with(FRAMED_MAGIC)
        {
            let data = decode_kafka_snappy(batch.records_section())
                .map_err(|reason| RecordsError::Snappy { position, reason })?;
            let framed = protocol::record::Compression::Snappy
                .compress(&data)
                .map_err(|err| RecordsError::Snappy {
                    position,
                    reason: err.to_string(),
                })?;
            Some(rebuild(&batch, &framed))
        } else {
            None
        };
        match (reframed, &mut converted) {
            (Some(bytes), Some(out)) => out.extend_from_slice(&bytes),
            (Some(bytes), None) => {
                let mut out = batches[..position].to_vec();
                out.extend_from_slice(&bytes);
                converted = Some(out);
            }
            (None, Some(out)) => out.extend_from_slice(batch.bytes),
            (None, None) => {}
        }
    }
    if iter.position() != batches.len() {
        return Err(RecordsError::Batch {
            position: iter.position(),
            source: BatchError::Truncated {
                needed: raw::BATCH_PREAMBLE_LEN,
                available: batches.len() - iter.position(),
            },
        });
    }
    Ok(converted)
}

/// Batches read from a log, as a Kafka consumer reads them: snappy batches in xerial
/// framing. `None` when there are none (the bytes go out as stored). A batch that cannot
/// be converted goes out as stored (the client then reports it), as does a trailing
/// part of a batch.
pub fn to_kafka(batches: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut iter = raw::batches(batches);
    loop {
        let position = iter.position();
        let Some(Ok(batch)) = iter.next() else { break };
        let xerial = (batch.header.compression_bits() == SNAPPY
            && batch.records_section().starts_with(FRAMED_MAGIC))
        .then(|| {
            protocol::record::Compression::Snappy
                .decompress(batch.records_section(), DEFAULT_MAX_DECOMPRESSED_BYTES)
                .ok()
                .map(|data| rebuild(&batch, &xerial_encode(&data)))
        })
        .flatten();
        match (xerial, &mut out) {
            (Some(bytes), Some(out)) => out.extend_from_slice(&bytes),
            (Some(bytes), None) => {
                let mut fresh = batches[..position].to_vec();
                fresh.extend_from_slice(&bytes);
                out = Some(fresh);
            }
            (None, Some(out)) => out.extend_from_slice(batch.bytes),
            (None, None) => {}
        }
    }
    if let Some(out) = &mut out {
        out.extend_from_slice(&batches[iter.position()..]);
    }
    out
}

/// `batch` with `records` (compressed) as its records section: length and CRC redone,
/// every other header field kept.
fn rebuild(batch: &RawBatch<'_>, records: &[u8]) -> Vec<u8> {
    let schema_id = if batch.header.has_schema_id() {
        &batch.bytes[BATCH_HEADER_LEN..BATCH_HEADER_LEN + 4]
    } else {
        &[]
    };
    let mut header: BatchHeader = batch.header;
    let total = BATCH_HEADER_LEN + schema_id.len() + records.len();
    header.batch_len = (total - raw::BATCH_PREAMBLE_LEN) as i32;
    let mut out = Vec::with_capacity(total);
    header.write(&mut out);
    out.extend_from_slice(schema_id);
    out.extend_from_slice(records);
    let crc = raw::compute_crc(&out);
    out[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
    out
}

/// A Kafka client's snappy records: xerial blocks, or one raw snappy block.
fn decode_kafka_snappy(data: &[u8]) -> Result<Vec<u8>, String> {
    if !data.starts_with(XERIAL_MAGIC) {
        return decode_raw(data, DEFAULT_MAX_DECOMPRESSED_BYTES);
    }
    let mut rest = data
        .get(XERIAL_HEADER_LEN..)
        .ok_or("xerial header truncated")?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("xerial block length truncated")?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest.get(4..4 + len).ok_or("xerial block truncated")?;
        let left = DEFAULT_MAX_DECOMPRESSED_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&decode_raw(block, left)?);
        rest = &rest[4 + len..];
    }
    Ok(out)
}

fn decode_raw(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(data).map_err(|e| e.to_string())?;
    if len > limit {
        return Err(format!(
            "decompresses to {len} bytes, over the limit of {limit}"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| e.to_string())
}

/// Xerial framing: magic, version 1, compatible version 1, then length-prefixed raw
/// snappy blocks.
fn xerial_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2 + 16);
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in data.chunks(XERIAL_BLOCK) {
        let compressed = encoder
            .compress_vec(block)
            .expect("a 32 KiB block is within snappy's input limit");
        out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        out.extend_from_slice(&compressed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::{Batch, Compression, Record};

    fn records() -> Vec<Record> {
        (0..50)
            .map(|i| Record::with_key(format!("k{i}").into_bytes(), vec![b'v'; 100 + i]))
            .collect()
    }

    fn snappy_batch() -> Vec<u8> {
        let mut batch = Batch::from_records(records());
        batch.compression = Compression::Snappy;
        batch.encode().unwrap()
    }

    /// The same batch as a Kafka client would send it, with `framing` applied to the
    /// uncompressed records section.
    fn kafka_batch(framing: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let ours = snappy_batch();
        let parsed = raw::batches(&ours).next().unwrap().unwrap();
        let data = Compression::Snappy
            .decompress(parsed.records_section(), usize::MAX)
            .unwrap();
        rebuild(&parsed, &framing(&data))
    }

    fn decoded(bytes: &[u8]) -> Vec<Record> {
        Batch::decode(bytes).unwrap().records
    }

    #[test]
    fn raw_and_xerial_snappy_are_stored_in_our_framing() {
        for framing in [
            (|d: &[u8]| snap::raw::Encoder::new().compress_vec(d).unwrap()) as fn(&[u8]) -> Vec<u8>,
            xerial_encode,
        ] {
            let sent = kafka_batch(framing);
            let stored = from_kafka(&sent).unwrap().expect("re-framed");
            let batch = raw::batches(&stored).next().unwrap().unwrap();
            batch.verify_crc().unwrap();
            assert!(batch.records_section().starts_with(FRAMED_MAGIC));
            assert_eq!(decoded(&stored), records());
        }
    }

    #[test]
    fn our_snappy_goes_out_as_xerial_and_comes_back() {
        let ours = snappy_batch();
        let out = to_kafka(&ours).expect("converted");
        let batch = raw::batches(&out).next().unwrap().unwrap();
        batch.verify_crc().unwrap();
        assert!(batch.records_section().starts_with(XERIAL_MAGIC));
        let back = from_kafka(&out).unwrap().unwrap();
        assert_eq!(decoded(&back), records());
    }

    #[test]
    fn other_codecs_pass_untouched_and_bad_crcs_are_refused() {
        let mut batch = Batch::from_records(records());
        batch.compression = Compression::Gzip;
        let gzip = batch.encode().unwrap();
        assert!(from_kafka(&gzip).unwrap().is_none());
        assert!(to_kafka(&gzip).is_none());
        let mut corrupt = gzip.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(matches!(
            from_kafka(&corrupt),
            Err(RecordsError::Batch {
                source: BatchError::CrcMismatch { .. },
                ..
            })
        ));
        assert!(from_kafka(&gzip[..gzip.len() - 3]).is_err());
    }
}
