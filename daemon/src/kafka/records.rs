//! Record batches between Kafka's layout and ours.
//!
//! Both are "magic 2" batches with the same 57 first header bytes (offsets, epoch, CRC-32C,
//! attributes, timestamps, producer id, epoch and sequence), but the records differ:
//!
//! | | Kafka | ours (Fluvio's) |
//! |---|---|---|
//! | record count | `i32` after the header, outside the compression | `u32` at the front of the records section, inside the compression |
//! | key | varint length, `-1` for none | presence byte (`0`/`1`), then varint length |
//! | value | varint length, `-1` for null | varint length (no null: a tombstone is stored empty) |
//! | header value | varint length, `-1` for null | varint length (null stored empty) |
//! | attributes bit 4 | transactional | schema id present |
//! | snappy | raw (librdkafka) or xerial framing (Java, kafka-python) | the snappy frame format |
//!
//! Partitions keep our layout, so Fluvio clients read every record unchanged; the Kafka
//! listener converts a Kafka producer's batches on the way in ([`from_kafka`]) and the
//! stored batches on the way out to a Kafka consumer ([`to_kafka`]), keeping every header
//! field, each record's timestamp and offset deltas, keys, values and headers. gzip, lz4
//! (the LZ4 frame format on both sides) and zstd are the same codecs on both sides.

#[cfg(test)]
use bytes::Bytes;
use protocol::record::batch::{
    self as raw, BATCH_HEADER_LEN, BATCH_PREAMBLE_LEN, BatchError, BatchHeader, COMPRESSION_MASK,
    CRC_START, RawBatch,
};
use protocol::record::varint::decode_varint;
#[cfg(test)]
use protocol::record::varint::write_varint;
use protocol::record::{Compression, DEFAULT_MAX_DECOMPRESSED_BYTES};
#[cfg(test)]
use protocol::record::{Record, RecordHeader};

/// A Kafka batch header: ours plus the record count.
const KAFKA_HEADER_LEN: usize = BATCH_HEADER_LEN + 4;
/// Kafka's attribute bits we cannot store: transactional (4) and control batch (5).
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;
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
    #[error("batch at byte {position}: {reason}")]
    Invalid { position: usize, reason: String },
    #[error(
        "batch at byte {position} is transactional or a control batch; transactions are not \
         supported by this cluster"
    )]
    Transactional { position: usize },
}

/// A Kafka producer's batches in our layout, each checked (length, magic, CRC) first.
/// With `codec`, every batch is compressed with it whatever the producer used, as a Kafka
/// broker does for a topic whose `compression.type` is not `producer`.
#[cfg(test)]
pub fn from_kafka(batches: &[u8], codec: Option<Compression>) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::with_capacity(batches.len() + 64);
    from_kafka_into(batches, codec, &mut out)?;
    Ok(out)
}

/// [`from_kafka`], appending to `out` (on an error, `out` may hold part of the batches).
/// Each batch's records are converted in one pass, copied field by field from the
/// producer's (decompressed) bytes; an uncompressed batch that stays uncompressed goes
/// straight into `out`.
pub fn from_kafka_into<O: Out>(
    batches: &[u8],
    codec: Option<Compression>,
    out: &mut O,
) -> Result<(), RecordsError> {
    let target = codec;
    out.reserve(batches.len() + 64);
    let mut iter = raw::batches(batches);
    loop {
        let position = iter.position();
        let Some(batch) = iter.next() else { break };
        let batch = batch.map_err(|source| RecordsError::Batch { position, source })?;
        batch
            .verify_crc()
            .map_err(|source| RecordsError::Batch { position, source })?;
        if batch.header.attributes & (TRANSACTIONAL | CONTROL) != 0 {
            return Err(RecordsError::Transactional { position });
        }
        let invalid = |reason: String| RecordsError::Invalid { position, reason };
        let codec = Compression::from_attributes(batch.header.attributes)
            .map_err(|err| invalid(err.to_string()))?;
        let stored_codec = target.unwrap_or(codec);
        let count = kafka_count(&batch).map_err(invalid)?;
        let data = &batch.bytes[KAFKA_HEADER_LEN..];
        let plain = match codec {
            Compression::None if data.len() <= DEFAULT_MAX_DECOMPRESSED_BYTES => {
                std::borrow::Cow::Borrowed(data)
            }
            codec => std::borrow::Cow::Owned(decompress_kafka(codec, data).map_err(invalid)?),
        };
        let mut header = batch.header;
        header.attributes = i16::from(stored_codec.tag());
        if stored_codec == Compression::None {
            let start = out.len();
            write_header(out, header);
            out.extend_from_slice(&(count as u32).to_be_bytes());
            records_from_kafka(&plain, count, out).map_err(invalid)?;
            finish_batch(&mut out[start..]);
        } else {
            let mut section = Vec::with_capacity(plain.len() + 4 + count);
            section.extend_from_slice(&(count as u32).to_be_bytes());
            records_from_kafka(&plain, count, &mut section).map_err(invalid)?;
            let section = stored_codec
                .compress(&section)
                .map_err(|err| invalid(err.to_string()))?;
            write_batch(out, header, None, &section);
        }
    }
    if iter.position() != batches.len() {
        let position = iter.position();
        return Err(RecordsError::Batch {
            position,
            source: BatchError::Truncated {
                needed: BATCH_PREAMBLE_LEN,
                available: batches.len() - position,
            },
        });
    }
    Ok(())
}

/// `count` records in Kafka's layout, which must fill `data` exactly, appended to `out`
/// in ours. The checks are the ones reading them into [`Record`](protocol::record::Record)s makes; fields are
/// copied as they are, except the attributes (`0`), the key (a presence byte before its
/// length, or `0` for none) and null values and header keys and values (stored empty).
fn records_from_kafka<O: Out>(data: &[u8], count: usize, out: &mut O) -> Result<(), String> {
    let mut src = Cursor { data, at: 0 };
    // Every record takes at least 7 bytes: no count can claim more than that allows.
    if count > data.len() / 7 + 1 {
        return Err(format!(
            "record count {count} is more than {} bytes can hold",
            data.len()
        ));
    }
    for _ in 0..count {
        let len = src.length("record length")?;
        let body = &data[src.at..src.at + len];
        src.at += len;
        let mut fields = Cursor { data: body, at: 0 };
        fields.byte("record attributes")?;
        fields.varint("timestamp delta")?;
        fields.varint("offset delta")?;
        let deltas_end = fields.at;
        let key = fields.nullable("key")?;
        write_varint_into(out, (len + usize::from(key.is_some())) as i64);
        out.push(0); // attributes
        out.extend_from_slice(&body[1..deltas_end]);
        match key {
            Some(key) => {
                out.push(1);
                out.extend_from_slice(key);
            }
            None => out.push(0),
        }
        // Kafka's null value (a tombstone) has no equivalent in our records: stored empty.
        copy_nullable(out, fields.nullable("value")?);
        let headers_start = fields.at;
        let headers = fields.length("header count")?;
        out.extend_from_slice(&body[headers_start..fields.at]);
        for _ in 0..headers {
            let key = fields.nullable("header key")?;
            if let Some(key) = key {
                std::str::from_utf8(&key[varint_prefix(key)..])
                    .map_err(|_| "a header key is not UTF-8")?;
            }
            copy_nullable(out, key);
            copy_nullable(out, fields.nullable("header value")?);
        }
        if fields.at != body.len() {
            return Err(format!(
                "a record's length says {len} bytes but its fields take {}",
                fields.at
            ));
        }
    }
    if src.at != data.len() {
        return Err(format!(
            "{} bytes after the batch's {count} records",
            data.len() - src.at
        ));
    }
    Ok(())
}

/// A nullable field as we store it: its bytes as they are (length included), or an empty
/// length for null.
fn copy_nullable<O: Out>(out: &mut O, field: Option<&[u8]>) {
    match field {
        Some(field) => out.extend_from_slice(field),
        None => out.push(0),
    }
}

/// How many bytes the varint at the front of `field` (checked already) takes.
fn varint_prefix(field: &[u8]) -> usize {
    field
        .iter()
        .position(|b| b & 0x80 == 0)
        .map_or(0, |i| i + 1)
}

/// Stored batches in Kafka's layout, for a Kafka consumer. A batch that cannot be read
/// ends the answer there (the consumer comes back for it and gets the error then); the
/// error when it is the first.
#[cfg(test)]
pub fn to_kafka(batches: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(batches.len() + 64);
    to_kafka_into(batches, &mut out)?;
    Ok(out)
}

/// [`to_kafka`], appending to `out` (which keeps what it held before; on an error, nothing
/// more). Uncompressed batches, the common case, are converted in one pass from the stored
/// bytes: no records are built, each field is checked and copied once.
pub fn to_kafka_into<O: Out>(batches: &[u8], out: &mut O) -> Result<(), String> {
    let start = out.len();
    out.reserve(batches.len() + 64);
    for batch in raw::batches(batches) {
        let batch_start = out.len();
        let converted = batch
            .map_err(|err| err.to_string())
            .and_then(|batch| convert_out(&batch, out));
        if let Err(err) = converted {
            out.truncate(batch_start);
            if batch_start == start {
                return Err(err);
            }
            break;
        }
    }
    Ok(())
}

/// A buffer the conversion appends to: a `Vec<u8>`, or the `BytesMut` a response takes
/// its records from without a copy.
pub trait Out: std::ops::DerefMut<Target = [u8]> {
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn push(&mut self, byte: u8);
    fn reserve(&mut self, additional: usize);
    fn truncate(&mut self, len: usize);
}

impl Out for Vec<u8> {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

impl Out for bytes::BytesMut {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        bytes::BytesMut::extend_from_slice(self, bytes);
    }
    fn push(&mut self, byte: u8) {
        bytes::BufMut::put_u8(self, byte);
    }
    fn reserve(&mut self, additional: usize) {
        bytes::BytesMut::reserve(self, additional);
    }
    fn truncate(&mut self, len: usize) {
        bytes::BytesMut::truncate(self, len);
    }
}

/// Append one stored batch in Kafka's layout; on an error `out` may hold part of it.
fn convert_out<O: Out>(batch: &RawBatch<'_>, out: &mut O) -> Result<(), String> {
    let codec =
        Compression::from_attributes(batch.header.attributes).map_err(|err| err.to_string())?;
    let section = batch.records_section();
    let start = out.len();
    let mut header = batch.header;
    header.attributes &= COMPRESSION_MASK;
    write_header(out, header);
    out.extend_from_slice(&[0; 4]); // Kafka's record count, set below
    let count = if codec == Compression::None {
        if section.len() > DEFAULT_MAX_DECOMPRESSED_BYTES {
            return Err(format!(
                "the records section of {} bytes is over the limit of {DEFAULT_MAX_DECOMPRESSED_BYTES}",
                section.len()
            ));
        }
        records_to_kafka(section, out)?
    } else {
        let plain = codec
            .decompress(section, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .map_err(|err| err.to_string())?;
        let mut records = Vec::with_capacity(plain.len() + 64);
        let count = records_to_kafka(&plain, &mut records)?;
        match codec {
            Compression::Snappy => xerial_encode_into(out, &records),
            codec => out.extend_from_slice(&codec.compress(&records).map_err(|e| e.to_string())?),
        }
        count
    };
    let batch = &mut out[start..];
    batch[BATCH_HEADER_LEN..KAFKA_HEADER_LEN].copy_from_slice(&count.to_be_bytes());
    finish_batch(batch);
    Ok(())
}

/// Our uncompressed records section (an `i32` count, then the records, nothing after) as
/// Kafka's records, appended to `out`; returns the count. The checks are the ones decoding
/// the section into [`Record`](protocol::record::Record)s makes, and each record's fields are copied as they are
/// (every varint has one encoding, so copying is re-encoding): only the attributes (`0`),
/// the key's presence byte (dropped, or `-1` for no key) and the record's length change.
fn records_to_kafka<O: Out>(section: &[u8], out: &mut O) -> Result<i32, String> {
    let count = section
        .get(..4)
        .ok_or("the records section ends before its record count")?;
    let count = i32::from_be_bytes(count.try_into().expect("4 bytes"));
    let mut src = Cursor {
        data: section,
        at: 4,
    };
    // Records take at least 7 bytes each; the decoder reads a count <= 0 as none.
    let count = count.max(0);
    if count as usize > (section.len() - 4) / 7 {
        return Err(format!(
            "record count {count} is more than {} bytes can hold",
            section.len() - 4
        ));
    }
    for _ in 0..count {
        let len = src.length("record length")?;
        let body = &section[src.at..src.at + len];
        src.at += len;
        let mut fields = Cursor { data: body, at: 0 };
        fields.byte("record attributes")?;
        fields.varint("timestamp delta")?;
        fields.varint("offset delta")?;
        let deltas_end = fields.at;
        let has_key = match fields.byte("key presence")? {
            0 => false,
            1 => {
                fields.skip("key")?;
                true
            }
            other => return Err(format!("key presence byte {other}")),
        };
        fields.skip("value")?;
        let headers = fields.varint("header count")?;
        // Each header takes at least two bytes (two empty lengths).
        if headers < 0 || headers as u64 > (fields.data.len() - fields.at) as u64 / 2 {
            return Err(format!(
                "header count {headers} does not fit the {} bytes left",
                fields.data.len() - fields.at
            ));
        }
        for _ in 0..headers {
            let key = fields.skip("header key")?;
            std::str::from_utf8(key).map_err(|_| "a header key is not UTF-8")?;
            fields.skip("header value")?;
        }
        if fields.at != body.len() {
            return Err(format!(
                "a record's length says {len} bytes but its fields take {}",
                fields.at
            ));
        }
        write_varint_into(out, (len - usize::from(has_key)) as i64);
        out.push(0); // attributes
        out.extend_from_slice(&body[1..deltas_end]);
        if !has_key {
            out.push(1); // varint -1: no key
        }
        out.extend_from_slice(&body[deltas_end + 1..]);
    }
    if src.at != section.len() {
        return Err(format!(
            "{} bytes after the batch's {count} records",
            section.len() - src.at
        ));
    }
    Ok(count)
}

fn write_varint_into<O: Out>(out: &mut O, value: i64) {
    let mut rest = protocol::record::varint::zigzag_encode(value);
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// The conversion as it was first written, record by record through [`Record`](protocol::record::Record)s: what
/// the one-pass conversion is checked against.
#[cfg(test)]
fn to_kafka_by_records(batches: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(batches.len() + 64);
    for batch in raw::batches(batches) {
        let converted = batch
            .map_err(|err| err.to_string())
            .and_then(|batch| convert_out_by_records(&batch));
        match converted {
            Ok(converted) => out.extend_from_slice(&converted),
            Err(err) if out.is_empty() => return Err(err),
            Err(_) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
fn convert_out_by_records(batch: &RawBatch<'_>) -> Result<Vec<u8>, String> {
    let codec =
        Compression::from_attributes(batch.header.attributes).map_err(|err| err.to_string())?;
    let records = protocol::record::decode_records_section(
        codec,
        batch.records_section(),
        DEFAULT_MAX_DECOMPRESSED_BYTES,
    )
    .map_err(|err| err.to_string())?;
    let mut plain = Vec::with_capacity(batch.bytes.len() + records.len() * 2);
    for record in &records {
        write_kafka_record(&mut plain, record);
    }
    let data = compress_kafka(codec, &plain)?;
    let mut header = batch.header;
    header.attributes &= COMPRESSION_MASK;
    let mut out = Vec::with_capacity(KAFKA_HEADER_LEN + data.len());
    write_batch(&mut out, header, Some(records.len() as i32), &data);
    Ok(out)
}

/// Append a batch: `header` (length and CRC redone), Kafka's record count when given,
/// then `data`.
fn write_batch<O: Out>(out: &mut O, header: BatchHeader, count: Option<i32>, data: &[u8]) {
    let start = out.len();
    write_header(out, header);
    if let Some(count) = count {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(data);
    finish_batch(&mut out[start..]);
}

/// Append `header`, its length and CRC to be set by [`finish_batch`].
fn write_header<O: Out>(out: &mut O, mut header: BatchHeader) {
    header.batch_len = 0;
    header.crc = 0;
    let mut bytes = Vec::with_capacity(BATCH_HEADER_LEN);
    header.write(&mut bytes);
    out.extend_from_slice(&bytes);
}

/// Set the length and CRC of `batch`, the whole batch.
fn finish_batch(batch: &mut [u8]) {
    let len = (batch.len() - BATCH_PREAMBLE_LEN) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = raw::compute_crc(batch);
    batch[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
}

/// The produce conversion as it was first written, record by record through [`Record`](protocol::record::Record)s:
/// what the one-pass conversion is checked against.
#[cfg(test)]
fn from_kafka_by_records(
    batches: &[u8],
    codec: Option<Compression>,
) -> Result<Vec<u8>, RecordsError> {
    let target = codec;
    let mut out = Vec::with_capacity(batches.len() + 64);
    let mut iter = raw::batches(batches);
    loop {
        let position = iter.position();
        let Some(batch) = iter.next() else { break };
        let batch = batch.map_err(|source| RecordsError::Batch { position, source })?;
        batch
            .verify_crc()
            .map_err(|source| RecordsError::Batch { position, source })?;
        if batch.header.attributes & (TRANSACTIONAL | CONTROL) != 0 {
            return Err(RecordsError::Transactional { position });
        }
        let invalid = |reason: String| RecordsError::Invalid { position, reason };
        let codec = Compression::from_attributes(batch.header.attributes)
            .map_err(|err| invalid(err.to_string()))?;
        let stored_codec = target.unwrap_or(codec);
        let count = kafka_count(&batch).map_err(invalid)?;
        let data = &batch.bytes[KAFKA_HEADER_LEN..];
        let plain = decompress_kafka(codec, data).map_err(invalid)?;
        let records = read_kafka_records(&plain, count).map_err(invalid)?;
        let mut section = Vec::with_capacity(plain.len() + 4 + records.len());
        section.extend_from_slice(&(records.len() as u32).to_be_bytes());
        for record in &records {
            protocol::Encode::encode(record, &mut section, 0)
                .map_err(|err| invalid(err.to_string()))?;
        }
        let section = stored_codec
            .compress(&section)
            .map_err(|err| invalid(err.to_string()))?;
        let mut header = batch.header;
        header.attributes = i16::from(stored_codec.tag());
        write_batch(&mut out, header, None, &section);
    }
    if iter.position() != batches.len() {
        let position = iter.position();
        return Err(RecordsError::Batch {
            position,
            source: BatchError::Truncated {
                needed: BATCH_PREAMBLE_LEN,
                available: batches.len() - position,
            },
        });
    }
    Ok(out)
}

/// Kafka's record count, which must agree with the header's last offset delta.
fn kafka_count(batch: &RawBatch<'_>) -> Result<usize, String> {
    let bytes = batch
        .bytes
        .get(BATCH_HEADER_LEN..KAFKA_HEADER_LEN)
        .ok_or("the batch ends before its record count")?;
    let count = i32::from_be_bytes(bytes.try_into().expect("4 bytes"));
    if count < 0 || i64::from(count) > batch.header.record_count() {
        return Err(format!(
            "record count {count} does not fit a last offset delta of {}",
            batch.header.last_offset_delta
        ));
    }
    Ok(count as usize)
}

fn decompress_kafka(codec: Compression, data: &[u8]) -> Result<Vec<u8>, String> {
    match codec {
        Compression::Snappy if !data.starts_with(FRAMED_MAGIC) => decode_kafka_snappy(data),
        codec => codec
            .decompress(data, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .map_err(|err| err.to_string()),
    }
}

#[cfg(test)]
fn compress_kafka(codec: Compression, data: &[u8]) -> Result<Vec<u8>, String> {
    match codec {
        Compression::Snappy => Ok(xerial_encode(data)),
        codec => codec.compress(data).map_err(|err| err.to_string()),
    }
}

/// Read `count` records in Kafka's layout, which must fill `data` exactly.
#[cfg(test)]
fn read_kafka_records(data: &[u8], count: usize) -> Result<Vec<Record>, String> {
    let mut src = Cursor { data, at: 0 };
    // Every record takes at least 7 bytes: no count can claim more than that allows.
    if count > data.len() / 7 + 1 {
        return Err(format!(
            "record count {count} is more than {} bytes can hold",
            data.len()
        ));
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let len = src.length("record length")?;
        let end = src.at + len;
        let record = read_kafka_record(&mut src)?;
        if src.at != end {
            return Err(format!(
                "a record's length says {len} bytes but its fields take {}",
                src.at + len - end
            ));
        }
        records.push(record);
    }
    if src.at != data.len() {
        return Err(format!(
            "{} bytes after the batch's {count} records",
            data.len() - src.at
        ));
    }
    Ok(records)
}

#[cfg(test)]
fn read_kafka_record(src: &mut Cursor<'_>) -> Result<Record, String> {
    let attributes = src.byte("record attributes")? as i8;
    let timestamp_delta = src.varint("timestamp delta")?;
    let offset_delta = src.varint("offset delta")?;
    let key = src.nullable_bytes("key")?;
    // Kafka's null value (a tombstone) has no equivalent in our records: stored empty.
    let value = src.nullable_bytes("value")?.unwrap_or_default();
    let header_count = src.length("header count")?;
    let mut headers = Vec::with_capacity(header_count.min(1024));
    for _ in 0..header_count {
        let key = src.nullable_bytes("header key")?.unwrap_or_default();
        let key = String::from_utf8(key.to_vec()).map_err(|_| "a header key is not UTF-8")?;
        let value = src.nullable_bytes("header value")?.unwrap_or_default();
        headers.push(RecordHeader { key, value });
    }
    let _ = attributes; // Kafka defines no record attributes; ours are 0.
    Ok(Record {
        attributes: 0,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

#[cfg(test)]
fn write_kafka_record(out: &mut Vec<u8>, record: &Record) {
    let mut body = Vec::with_capacity(16 + record.value.len());
    body.push(0); // attributes
    write_varint(&mut body, record.timestamp_delta);
    write_varint(&mut body, record.offset_delta);
    match &record.key {
        Some(key) => {
            write_varint(&mut body, key.len() as i64);
            body.extend_from_slice(key);
        }
        None => write_varint(&mut body, -1),
    }
    write_varint(&mut body, record.value.len() as i64);
    body.extend_from_slice(&record.value);
    write_varint(&mut body, record.headers.len() as i64);
    for header in &record.headers {
        write_varint(&mut body, header.key.len() as i64);
        body.extend_from_slice(header.key.as_bytes());
        write_varint(&mut body, header.value.len() as i64);
        body.extend_from_slice(&header.value);
    }
    write_varint(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// Reading Kafka's record fields, every length checked against what is left.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let byte = *self
            .data
            .get(self.at)
            .ok_or_else(|| format!("the records end inside a {what}"))?;
        self.at += 1;
        Ok(byte)
    }

    fn varint(&mut self, what: &str) -> Result<i64, String> {
        let (value, len) = decode_varint(&self.data[self.at..])
            .map_err(|err| format!("bad {what} varint: {err}"))?;
        self.at += len;
        Ok(value)
    }

    /// A non-negative length that fits in what is left.
    fn length(&mut self, what: &str) -> Result<usize, String> {
        let len = self.varint(what)?;
        usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.data.len() - self.at)
            .ok_or_else(|| {
                format!(
                    "{what} {len} does not fit the {} bytes left",
                    self.data.len() - self.at
                )
            })
    }

    /// Bytes with a non-negative varint length that fits in what is left.
    fn skip(&mut self, what: &str) -> Result<&[u8], String> {
        let len = self.length(what)?;
        let bytes = &self.data[self.at..self.at + len];
        self.at += len;
        Ok(bytes)
    }

    /// Bytes with a varint length, `-1` for null: the field's bytes, length included.
    fn nullable(&mut self, what: &str) -> Result<Option<&[u8]>, String> {
        let start = self.at;
        match self.nullable_len(what)? {
            None => Ok(None),
            Some(len) => {
                self.at += len;
                Ok(Some(&self.data[start..self.at]))
            }
        }
    }

    /// A varint length, `-1` for null, that fits in what is left.
    fn nullable_len(&mut self, what: &str) -> Result<Option<usize>, String> {
        let len = self.varint(what)?;
        if len == -1 {
            return Ok(None);
        }
        usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.data.len() - self.at)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "{what} length {len} does not fit the {} bytes left",
                    self.data.len() - self.at
                )
            })
    }

    /// Bytes with a varint length, `-1` for null.
    #[cfg(test)]
    fn nullable_bytes(&mut self, what: &str) -> Result<Option<Bytes>, String> {
        let len = self.varint(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.data.len() - self.at)
            .ok_or_else(|| {
                format!(
                    "{what} length {len} does not fit the {} bytes left",
                    self.data.len() - self.at
                )
            })?;
        let bytes = Bytes::copy_from_slice(&self.data[self.at..self.at + len]);
        self.at += len;
        Ok(Some(bytes))
    }
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
    let len = snap::raw::decompress_len(data).map_err(|e| format!("snappy: {e}"))?;
    if len > limit {
        return Err(format!(
            "snappy data decompresses to {len} bytes, over the limit of {limit}"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| format!("snappy: {e}"))
}

/// Xerial framing: magic, version 1, compatible version 1, then length-prefixed raw
/// snappy blocks.
#[cfg(test)]
fn xerial_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2 + 16);
    xerial_encode_into(&mut out, data);
    out
}

/// [`xerial_encode`], appending to `out`.
fn xerial_encode_into<O: Out>(out: &mut O, data: &[u8]) {
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    let mut compressed = vec![0; snap::raw::max_compress_len(XERIAL_BLOCK)];
    for block in data.chunks(XERIAL_BLOCK) {
        let len = encoder
            .compress(block, &mut compressed)
            .expect("a 32 KiB block is within snappy's input limit");
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&compressed[..len]);
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn header(codec: Compression, count: usize) -> BatchHeader {
        BatchHeader {
            attributes: codec as i16,
            last_offset_delta: count as i32 - 1,
            first_timestamp: 1_700_000_000_000,
            max_time_stamp: 1_700_000_000_000 + 7 * (count as i64 - 1),
            producer_id: 42,
            producer_epoch: 3,
            first_sequence: 100,
            ..BatchHeader::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::Batch;

    fn records() -> Vec<Record> {
        (0..40)
            .map(|i| {
                let mut r = Record::new(vec![b'v'; 50 + i]);
                r.key = (i % 3 != 0).then(|| Bytes::from(format!("k{i}")));
                r.offset_delta = i as i64;
                r.timestamp_delta = 7 * i as i64;
                if i % 4 == 0 {
                    r.headers = vec![RecordHeader::new("h", format!("x{i}").into_bytes())];
                }
                r
            })
            .collect()
    }

    use super::tests_support::header;

    /// A batch as a Kafka client writes it, snappy in `snappy` framing.
    fn kafka_batch(codec: Compression, snappy: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let records = records();
        let mut plain = Vec::new();
        for r in &records {
            write_kafka_record(&mut plain, r);
        }
        let data = match codec {
            Compression::Snappy => snappy(&plain),
            codec => codec.compress(&plain).unwrap(),
        };
        let mut out = Vec::new();
        write_batch(
            &mut out,
            header(codec, records.len()),
            Some(records.len() as i32),
            &data,
        );
        out
    }

    fn raw_snappy(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(data).unwrap()
    }

    #[test]
    fn kafka_batches_are_stored_in_our_layout_with_every_field() {
        for codec in Compression::ALL.iter().copied() {
            for snappy in [raw_snappy as fn(&[u8]) -> Vec<u8>, xerial_encode] {
                let stored = from_kafka(&kafka_batch(codec, snappy), None).unwrap();
                let batch = raw::batches(&stored).next().unwrap().unwrap();
                batch.verify_crc().unwrap();
                let decoded = Batch::decode(&stored).unwrap();
                assert_eq!(decoded.records, records(), "{codec:?}");
                assert_eq!(decoded.compression, codec);
                assert_eq!(decoded.producer_id, 42);
                assert_eq!(decoded.first_sequence, 100);
                assert_eq!(decoded.first_timestamp, 1_700_000_000_000);
            }
        }
    }

    #[test]
    fn our_batches_go_out_in_kafka_layout_and_come_back_the_same() {
        for codec in Compression::ALL.iter().copied() {
            let mut ours = Batch::from_records(records());
            ours.compression = codec;
            let ours = ours.encode().unwrap();
            let kafka = to_kafka(&ours).unwrap();
            let batch = raw::batches(&kafka).next().unwrap().unwrap();
            batch.verify_crc().unwrap();
            if codec == Compression::Snappy {
                assert!(batch.bytes[KAFKA_HEADER_LEN..].starts_with(XERIAL_MAGIC));
            }
            let count = kafka_count(&batch).unwrap();
            let plain = decompress_kafka(codec, &batch.bytes[KAFKA_HEADER_LEN..]).unwrap();
            assert_eq!(read_kafka_records(&plain, count).unwrap(), records());
            let back = from_kafka(&kafka, None).unwrap();
            assert_eq!(Batch::decode(&back).unwrap().records, records());
        }
    }

    #[test]
    fn bad_batches_are_refused_with_the_reason() {
        let good = kafka_batch(Compression::None, raw_snappy);
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(matches!(
            from_kafka(&corrupt, None),
            Err(RecordsError::Batch {
                source: BatchError::CrcMismatch { .. },
                ..
            })
        ));
        assert!(from_kafka(&good[..good.len() - 3], None).is_err());
        let mut transactional = header(Compression::None, 1);
        transactional.attributes |= TRANSACTIONAL;
        let mut bytes = Vec::new();
        let mut plain = Vec::new();
        write_kafka_record(&mut plain, &Record::new(b"x".to_vec()));
        write_batch(&mut bytes, transactional, Some(1), &plain);
        assert!(matches!(
            from_kafka(&bytes, None),
            Err(RecordsError::Transactional { .. })
        ));
        // A count claiming more records than the bytes hold.
        let mut lying = Vec::new();
        write_batch(
            &mut lying,
            header(Compression::None, 1_000_000),
            Some(1_000_000),
            &plain,
        );
        assert!(matches!(
            from_kafka(&lying, None),
            Err(RecordsError::Invalid { .. })
        ));
    }

    #[test]
    fn null_values_are_stored_empty_and_null_keys_stay_null() {
        let mut plain = Vec::new();
        // attributes, ts delta 0, offset delta 0, key null, value null, 0 headers
        let mut body = vec![0u8];
        write_varint(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, -1);
        write_varint(&mut body, -1);
        write_varint(&mut body, 0);
        write_varint(&mut plain, body.len() as i64);
        plain.extend_from_slice(&body);
        let mut bytes = Vec::new();
        write_batch(&mut bytes, header(Compression::None, 1), Some(1), &plain);
        let stored = from_kafka(&bytes, None).unwrap();
        let record = &Batch::decode(&stored).unwrap().records[0];
        assert_eq!(record.key, None);
        assert!(record.value.is_empty());
    }
}

#[cfg(test)]
mod topic_codec {
    use super::*;
    use protocol::record::Batch;

    #[test]
    fn a_topic_codec_recompresses_whatever_the_producer_used() {
        let mut plain = Vec::new();
        write_kafka_record(&mut plain, &Record::new(b"value".to_vec()));
        let header = BatchHeader {
            last_offset_delta: 0,
            ..BatchHeader::default()
        };
        let mut kafka = Vec::new();
        write_batch(&mut kafka, header, Some(1), &plain);
        let stored = from_kafka(&kafka, Some(Compression::Zstd)).unwrap();
        let batch = Batch::decode(&stored).unwrap();
        assert_eq!(batch.compression, Compression::Zstd);
        assert_eq!(batch.records[0].value.as_ref(), b"value");
    }
}

#[cfg(test)]
mod one_pass {
    use super::*;
    use proptest::prelude::*;
    use protocol::record::batch::SCHEMA_ID_FLAG;

    fn record() -> impl Strategy<Value = Record> {
        (
            any::<i8>(),
            prop_oneof![Just(0i64), any::<i64>(), -100_000i64..100_000],
            prop_oneof![Just(0i64), any::<i64>(), 0i64..1000],
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80)),
            prop_oneof![
                Just(Vec::new()),
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::collection::vec(any::<u8>(), 60..300),
            ],
            proptest::collection::vec(
                ("[a-zé]{0,6}", proptest::collection::vec(any::<u8>(), 0..10)),
                0..3,
            ),
        )
            .prop_map(|(attributes, ts, off, key, value, headers)| Record {
                attributes,
                timestamp_delta: ts,
                offset_delta: off,
                key: key.map(Bytes::from),
                value: Bytes::from(value),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| RecordHeader::new(k, v))
                    .collect(),
            })
    }

    fn codec() -> impl Strategy<Value = Compression> {
        prop_oneof![
            4 => Just(Compression::None),
            1 => proptest::sample::select(Compression::ALL.to_vec()),
        ]
    }

    /// One batch in our layout, as the SPU stores it, records as they are.
    fn stored(records: &[Record], codec: Compression, schema: bool) -> Vec<u8> {
        let mut section = (records.len() as u32).to_be_bytes().to_vec();
        for record in records {
            protocol::Encode::encode(record, &mut section, 0).unwrap();
        }
        let mut data = if schema { vec![0, 0, 0, 9] } else { vec![] };
        data.extend_from_slice(&codec.compress(&section).unwrap());
        let mut header = BatchHeader {
            base_offset: 1000,
            partition_leader_epoch: 4,
            ..super::tests_support::header(codec, records.len().max(1))
        };
        if schema {
            header.attributes |= SCHEMA_ID_FLAG;
        }
        let mut out = Vec::new();
        write_batch(&mut out, header, None, &data);
        out
    }

    /// Both conversions agree: the same bytes, or both an error.
    fn agree(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let fast = to_kafka(bytes);
        let general = to_kafka_by_records(bytes);
        match (&fast, &general) {
            (Ok(fast), Ok(general)) => assert_eq!(fast, general),
            (Err(_), Err(_)) => {}
            _ => panic!("one pass: {fast:?}\nby records: {general:?}"),
        }
        fast
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn one_pass_matches_record_by_record(
            batches in proptest::collection::vec(
                (proptest::collection::vec(record(), 0..12), codec(), any::<bool>()),
                1..4,
            ),
        ) {
            let mut bytes = Vec::new();
            for (records, codec, schema) in &batches {
                bytes.extend_from_slice(&stored(records, *codec, *schema));
            }
            let kafka = agree(&bytes).unwrap();
            let mut rest = &kafka[..];
            for (records, _, _) in &batches {
                let batch = raw::batches(rest).next().unwrap().unwrap();
                batch.verify_crc().unwrap();
                prop_assert_eq!(kafka_count(&batch).unwrap(), records.len());
                rest = &rest[batch.bytes.len()..];
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn a_kafka_batch_comes_back_the_same(
            records in proptest::collection::vec(record(), 1..12),
            codec in codec(),
        ) {
            // What a Kafka producer can send that we keep exactly: attributes 0 (Kafka
            // defines none) and non-null values.
            let records: Vec<Record> = records
                .into_iter()
                .map(|r| Record { attributes: 0, ..r })
                .collect();
            let mut plain = Vec::new();
            for r in &records {
                write_kafka_record(&mut plain, r);
            }
            let data = match codec {
                Compression::Snappy => xerial_encode(&plain),
                codec => codec.compress(&plain).unwrap(),
            };
            let mut kafka = Vec::new();
            write_batch(
                &mut kafka,
                super::tests_support::header(codec, records.len()),
                Some(records.len() as i32),
                &data,
            );
            let ours = from_kafka(&kafka, None).unwrap();
            prop_assert_eq!(&agree(&ours).unwrap(), &kafka);
        }

        #[test]
        fn damaged_batches_give_errors_not_panics(
            records in proptest::collection::vec(record(), 1..8),
            codec in codec(),
            cut in any::<proptest::sample::Index>(),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
            good_first in any::<bool>(),
        ) {
            let mut damaged = stored(&records, codec, false);
            // Cut the records short but keep the batch length true, so the records are
            // what is read wrong; then change a few bytes after the header.
            let len = BATCH_HEADER_LEN + cut.index(damaged.len() - BATCH_HEADER_LEN + 1);
            damaged.truncate(len);
            damaged[8..12].copy_from_slice(&((len - BATCH_PREAMBLE_LEN) as i32).to_be_bytes());
            for (at, byte) in flips {
                if len > BATCH_HEADER_LEN {
                    damaged[BATCH_HEADER_LEN + at.index(len - BATCH_HEADER_LEN)] = byte;
                }
            }
            let mut bytes = Vec::new();
            let good = stored(&records, Compression::None, false);
            if good_first {
                bytes.extend_from_slice(&good);
            }
            bytes.extend_from_slice(&damaged);
            bytes.extend_from_slice(&good);
            let out = agree(&bytes);
            if good_first {
                // A later bad batch ends the answer; the batches before it are served.
                let out = out.unwrap();
                prop_assert!(out.len() >= to_kafka(&good).unwrap().len());
            }
        }
    }

    #[test]
    fn truncated_and_corrupt_stored_batches_are_errors() {
        let records: Vec<Record> = (0..5)
            .map(|i| Record::with_key(format!("k{i}").into_bytes(), vec![b'v'; 100]))
            .collect();
        let good = stored(&records, Compression::None, false);
        let with_len = |mut bytes: Vec<u8>| {
            let len = bytes.len();
            bytes[8..12].copy_from_slice(&((len - BATCH_PREAMBLE_LEN) as i32).to_be_bytes());
            bytes
        };
        // Records cut short, at every length.
        for len in BATCH_HEADER_LEN..good.len() {
            let bytes = with_len(good[..len].to_vec());
            assert!(to_kafka(&bytes).is_err(), "cut at {len}");
            assert!(to_kafka_by_records(&bytes).is_err(), "cut at {len}");
        }
        // The batch itself cut short (its length runs past the end).
        assert!(to_kafka(&good[..good.len() - 1]).is_err());
        // A key presence byte that is neither 0 nor 1: the first record's is after its
        // length, attributes and two one-byte deltas.
        let mut bad = good.clone();
        let presence = BATCH_HEADER_LEN + 4 + 2 + 1 + 1 + 1;
        assert_eq!(bad[presence], 1);
        bad[presence] = 2;
        assert!(to_kafka(&bad).is_err());
        // A count claiming more records than there are bytes for.
        let mut bad = good.clone();
        bad[BATCH_HEADER_LEN..BATCH_HEADER_LEN + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
        assert!(to_kafka(&bad).is_err());
        // Bytes after the last record.
        let mut bad = good.clone();
        bad.push(0);
        assert!(to_kafka(&with_len(bad)).is_err());
        // A header key that is not UTF-8.
        let mut record = Record::new(b"v".to_vec());
        record.headers = vec![RecordHeader::new("kk", b"x".to_vec())];
        let mut bad = stored(&[record], Compression::None, false);
        let at = bad.windows(2).position(|w| w == b"kk").unwrap();
        bad[at] = 0xff;
        assert!(to_kafka(&bad).is_err());
        // A bad batch after a good one ends the answer after the good one.
        let mut two = good.clone();
        two.extend_from_slice(&with_len(good[..good.len() - 10].to_vec()));
        assert_eq!(to_kafka(&two).unwrap(), to_kafka(&good).unwrap());
    }
}

#[cfg(test)]
mod one_pass_in {
    use super::*;
    use proptest::prelude::*;

    /// A record in Kafka's layout, nulls where Kafka allows them.
    type KafkaRecord = (
        i8,
        i64,
        i64,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<(Option<String>, Option<Vec<u8>>)>,
    );

    fn record() -> impl Strategy<Value = KafkaRecord> {
        let bytes = |max| proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max));
        (
            prop_oneof![Just(0i8), any::<i8>()],
            prop_oneof![Just(0i64), any::<i64>(), -100_000i64..100_000],
            prop_oneof![Just(0i64), any::<i64>(), 0i64..1000],
            bytes(80),
            prop_oneof![bytes(40), bytes(300)],
            proptest::collection::vec((proptest::option::of("[a-zé]{0,6}"), bytes(10)), 0..3),
        )
    }

    fn write_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
        match field {
            Some(field) => {
                write_varint(out, field.len() as i64);
                out.extend_from_slice(field);
            }
            None => write_varint(out, -1),
        }
    }

    fn write_record(out: &mut Vec<u8>, r: &KafkaRecord) {
        let (attributes, ts, off, key, value, headers) = r;
        let mut body = vec![*attributes as u8];
        write_varint(&mut body, *ts);
        write_varint(&mut body, *off);
        write_nullable(&mut body, key.as_deref());
        write_nullable(&mut body, value.as_deref());
        write_varint(&mut body, headers.len() as i64);
        for (k, v) in headers {
            write_nullable(&mut body, k.as_deref().map(str::as_bytes));
            write_nullable(&mut body, v.as_deref());
        }
        write_varint(out, body.len() as i64);
        out.extend_from_slice(&body);
    }

    fn kafka_batch(records: &[KafkaRecord], codec: Compression) -> Vec<u8> {
        let mut plain = Vec::new();
        for r in records {
            write_record(&mut plain, r);
        }
        let data = match codec {
            Compression::Snappy => xerial_encode(&plain),
            codec => codec.compress(&plain).unwrap(),
        };
        let mut out = Vec::new();
        write_batch(
            &mut out,
            super::tests_support::header(codec, records.len().max(1)),
            Some(records.len() as i32),
            &data,
        );
        out
    }

    fn codec() -> impl Strategy<Value = Compression> {
        prop_oneof![
            4 => Just(Compression::None),
            1 => proptest::sample::select(Compression::ALL.to_vec()),
        ]
    }

    fn target() -> impl Strategy<Value = Option<Compression>> {
        prop_oneof![
            4 => Just(None),
            1 => proptest::option::of(proptest::sample::select(Compression::ALL.to_vec())),
        ]
    }

    /// Both conversions agree: the same bytes, or both an error.
    fn agree(bytes: &[u8], target: Option<Compression>) -> Result<Vec<u8>, RecordsError> {
        let fast = from_kafka(bytes, target);
        let general = from_kafka_by_records(bytes, target);
        match (&fast, &general) {
            (Ok(fast), Ok(general)) => assert_eq!(fast, general),
            (Err(_), Err(_)) => {}
            _ => panic!("one pass: {fast:?}\nby records: {general:?}"),
        }
        fast
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn one_pass_matches_record_by_record(
            batches in proptest::collection::vec(
                (proptest::collection::vec(record(), 0..10), codec()),
                1..4,
            ),
            target in target(),
        ) {
            let mut bytes = Vec::new();
            for (records, codec) in &batches {
                bytes.extend_from_slice(&kafka_batch(records, *codec));
            }
            let ours = agree(&bytes, target).unwrap();
            let mut rest = &ours[..];
            for (records, _) in &batches {
                let batch = raw::batches(rest).next().unwrap().unwrap();
                batch.verify_crc().unwrap();
                let codec = Compression::from_attributes(batch.header.attributes).unwrap();
                let section = protocol::record::decode_records_section(
                    codec,
                    batch.records_section(),
                    DEFAULT_MAX_DECOMPRESSED_BYTES,
                );
                prop_assert_eq!(section.unwrap().len(), records.len());
                rest = &rest[batch.bytes.len()..];
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn damaged_batches_give_errors_not_panics(
            records in proptest::collection::vec(record(), 1..8),
            codec in codec(),
            cut in any::<proptest::sample::Index>(),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
            count in prop_oneof![Just(None), proptest::option::of(any::<i32>())],
        ) {
            let mut bytes = kafka_batch(&records, codec);
            // Cut the records short and change a few bytes after the count, keeping the
            // batch length and CRC true, so the records are what is read wrong.
            let len = KAFKA_HEADER_LEN + cut.index(bytes.len() - KAFKA_HEADER_LEN + 1);
            bytes.truncate(len);
            for (at, byte) in flips {
                if len > KAFKA_HEADER_LEN {
                    bytes[KAFKA_HEADER_LEN + at.index(len - KAFKA_HEADER_LEN)] = byte;
                }
            }
            if let Some(count) = count {
                bytes[BATCH_HEADER_LEN..KAFKA_HEADER_LEN].copy_from_slice(&count.to_be_bytes());
            }
            finish_batch(&mut bytes);
            let _ = agree(&bytes, None);
        }
    }

    #[test]
    fn truncated_and_corrupt_kafka_records_are_errors() {
        let records: Vec<KafkaRecord> = (0..5)
            .map(|i| (0, 0, i, Some(vec![b'k'; 3]), Some(vec![b'v'; 100]), vec![]))
            .collect();
        let good = kafka_batch(&records, Compression::None);
        assert!(from_kafka(&good, None).is_ok());
        for len in KAFKA_HEADER_LEN..good.len() {
            let mut bytes = good[..len].to_vec();
            finish_batch(&mut bytes);
            assert!(from_kafka(&bytes, None).is_err(), "cut at {len}");
        }
        // A header key that is not UTF-8.
        let bad = (0, 0, 0, None, None, vec![(Some("kk".to_string()), None)]);
        let mut bytes = kafka_batch(&[bad], Compression::None);
        let at = bytes.windows(2).position(|w| w == b"kk").unwrap();
        bytes[at] = 0xff;
        finish_batch(&mut bytes);
        assert!(from_kafka(&bytes, None).is_err());
    }
}
