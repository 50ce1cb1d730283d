//! One record inside a batch, as Fluvio's `Record` is encoded (Kafka-like varints, but a
//! key is a presence byte first, so a null key is not Kafka's length -1).
//!
//! ```text
//! length           varint  bytes of everything after it
//! attributes       i8      0
//! timestamp_delta  varint  ms relative to the batch's first_timestamp
//! offset_delta     varint  index in the batch
//! key              u8 presence (00 none, 01 some), then varint length + bytes
//! value            varint length + bytes
//! headers          varint count, then per header: varint key length + UTF-8 key,
//!                  varint value length + bytes
//! ```
//!
//! The official client always writes zero headers; our own producer may carry some, and
//! they decode here like everything else. The record's own version argument is ignored: the
//! layout never changed.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::varint::{read_len, read_varint, varint_len, write_varint};
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};

/// A header attached to a record: a UTF-8 key and an opaque value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct RecordHeader {
    #[cfg_attr(feature = "arbitrary", proptest(regex = "[a-z0-9-]{0,12}"))]
    pub key: String,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::record::entry::arbitrary_bytes(32)")
    )]
    pub value: Bytes,
}

impl RecordHeader {
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One record: an optional key, a value, and optional headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(default)]
pub struct Record {
    pub attributes: i8,
    /// Milliseconds after the batch's `first_timestamp`.
    pub timestamp_delta: i64,
    /// Position in the batch. Consumers number records by position, not by this field;
    /// [`Batch::push`](super::Batch::push) keeps the two equal.
    pub offset_delta: i64,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "proptest::option::of(crate::record::entry::arbitrary_bytes(32))")
    )]
    pub key: Option<Bytes>,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::record::entry::arbitrary_bytes(128)")
    )]
    pub value: Bytes,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<RecordHeader>(), 0..3)"
        )
    )]
    pub headers: Vec<RecordHeader>,
}

#[cfg(feature = "arbitrary")]
pub(crate) fn arbitrary_bytes(max: usize) -> impl proptest::strategy::Strategy<Value = Bytes> {
    use proptest::strategy::Strategy as _;
    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..max).prop_map(Bytes::from)
}

impl Record {
    /// A record with a value and no key.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }

    /// A record with a key and a value.
    pub fn with_key(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            key: Some(key.into()),
            value: value.into(),
            ..Self::default()
        }
    }

    /// Add a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(RecordHeader::new(key, value));
        self
    }

    /// Bytes after the leading length varint.
    fn body_len(&self) -> usize {
        let key = match &self.key {
            None => 1,
            Some(key) => 1 + bytes_len(key.len()),
        };
        let headers: usize = self
            .headers
            .iter()
            .map(|h| bytes_len(h.key.len()) + bytes_len(h.value.len()))
            .sum();
        1 + varint_len(self.timestamp_delta)
            + varint_len(self.offset_delta)
            + key
            + bytes_len(self.value.len())
            + varint_len(self.headers.len() as i64)
            + headers
    }

    /// The record's size on the wire, length prefix included.
    pub fn encoded_len(&self) -> usize {
        let body = self.body_len();
        varint_len(body as i64) + body
    }
}

/// Bytes of a varint length plus the bytes it announces.
fn bytes_len(len: usize) -> usize {
    varint_len(len as i64) + len
}

/// Lengths inside a record are varints the official client reads as i32-safe values.
const MAX_RECORD_FIELD_LEN: usize = i32::MAX as usize;

fn write_bytes(dst: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<(), EncodeError> {
    if bytes.len() > MAX_RECORD_FIELD_LEN {
        return Err(EncodeError::TooLong {
            what,
            len: bytes.len(),
            max: MAX_RECORD_FIELD_LEN,
        });
    }
    write_varint(dst, bytes.len() as i64);
    dst.extend_from_slice(bytes);
    Ok(())
}

impl Encode for Record {
    fn encode(&self, dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
        let body = self.body_len();
        if body > MAX_RECORD_FIELD_LEN {
            return Err(EncodeError::TooLong {
                what: "record",
                len: body,
                max: MAX_RECORD_FIELD_LEN,
            });
        }
        dst.reserve(varint_len(body as i64) + body);
        write_varint(dst, body as i64);
        dst.push(self.attributes as u8);
        write_varint(dst, self.timestamp_delta);
        write_varint(dst, self.offset_delta);
        match &self.key {
            None => dst.push(0),
            Some(key) => {
                dst.push(1);
                write_bytes(dst, key, "record key")?;
            }
        }
        write_bytes(dst, &self.value, "record value")?;
        write_varint(dst, self.headers.len() as i64);
        for header in &self.headers {
            write_bytes(dst, header.key.as_bytes(), "record header key")?;
            write_bytes(dst, &header.value, "record header value")?;
        }
        Ok(())
    }
}

/// Slices the source when the reader shares it (see [`Reader::shared`]), else copies.
fn read_bytes(src: &mut Reader<'_>, what: &'static str) -> Result<Bytes, DecodeError> {
    let len = read_len(src, what)?;
    src.take_bytes(len, what)
}

impl Decode for Record {
    /// Length, attributes, two deltas, key flag, value length, header count.
    const MIN_WIRE_SIZE: usize = 7;

    fn decode(src: &mut Reader<'_>, _version: Version) -> Result<Self, DecodeError> {
        let len = read_len(src, "record")?;
        src.decode_within(len, "record", |body| {
            let attributes = i8::decode(body, 0)?;
            let timestamp_delta = read_varint(body)?;
            let offset_delta = read_varint(body)?;
            let key = match u8::decode(body, 0)? {
                0 => None,
                1 => Some(read_bytes(body, "record key")?),
                other => {
                    return Err(DecodeError::UnknownTag {
                        kind: "record key presence",
                        tag: other.into(),
                    });
                }
            };
            let value = read_bytes(body, "record value")?;
            let count = read_varint(body)?;
            if count < 0 {
                return Err(DecodeError::Invalid {
                    what: "record header count",
                    reason: "negative count",
                });
            }
            // Each header takes at least two bytes (two empty lengths).
            let count = body.check_count(count as u64, 2, "record headers")?;
            let mut headers = Vec::with_capacity(count);
            for _ in 0..count {
                let key_len = read_len(body, "record header key")?;
                let key = std::str::from_utf8(body.take(key_len, "record header key")?)
                    .map_err(|_| DecodeError::InvalidUtf8 {
                        what: "record header key",
                    })?
                    .to_string();
                let value = read_bytes(body, "record header value")?;
                headers.push(RecordHeader { key, value });
            }
            body.finish("record")?;
            Ok(Self {
                attributes,
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_record_k1_hello() {
        let bytes = [
            0x1c, 0x00, 0x00, 0x00, 0x01, 0x04, b'k', b'1', 0x0a, b'h', b'e', b'l', b'l', b'o',
            0x00,
        ];
        let record = Record::from_bytes(&bytes, 0).unwrap();
        assert_eq!(record, Record::with_key(&b"k1"[..], &b"hello"[..]));
        assert_eq!(record.to_bytes(0).unwrap(), bytes);
        assert_eq!(record.encoded_len(), bytes.len());
    }

    #[test]
    fn empty_key_is_present_with_length_zero() {
        let record = Record::with_key(Bytes::new(), &b"v"[..]);
        let bytes = record.to_bytes(0).unwrap();
        assert_eq!(
            bytes,
            [0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, b'v', 0x00]
        );
    }

    #[test]
    fn headers_round_trip() {
        let record = Record::new(&b"value"[..])
            .header("trace", &b"abc"[..])
            .header("", Bytes::new());
        let bytes = record.to_bytes(0).unwrap();
        assert_eq!(bytes.len(), record.encoded_len());
        assert_eq!(Record::from_bytes(&bytes, 0).unwrap(), record);
    }

    #[test]
    fn malformed_records_are_errors() {
        // Length past the end.
        assert!(Record::from_bytes(&[0x10, 0, 0], 0).is_err());
        // Negative length.
        assert!(Record::from_bytes(&[0x01], 0).is_err());
        // Bad key presence byte.
        assert!(matches!(
            Record::from_bytes(&[0x0a, 0, 0, 0, 2, 0, 0], 0),
            Err(DecodeError::UnknownTag { .. })
        ));
        // Trailing bytes inside the record's length.
        assert!(matches!(
            Record::from_bytes(&[0x0e, 0, 0, 0, 0, 0, 0, 9], 0),
            Err(DecodeError::TrailingBytes { .. })
        ));
        // Huge header count.
        assert!(matches!(
            Record::from_bytes(&[0x0e, 0, 0, 0, 0, 0, 0xfe, 0x01], 0),
            Err(DecodeError::CountTooLarge { .. })
        ));
        // Header key not UTF-8.
        assert!(matches!(
            Record::from_bytes(&[0x12, 0, 0, 0, 0, 0, 0x02, 0x02, 0xff, 0x00], 0),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }
}
