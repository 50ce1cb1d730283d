//! The consumer-offset APIs (1006, 1007, 1008 at v24), Fluvio's
//! `UpdateConsumerOffsetRequest`, `DeleteConsumerOffsetRequest` and
//! `FetchConsumerOffsetsRequest`, and the records that hold committed offsets in the
//! system topic [`CONSUMER_OFFSET_TOPIC`].
//!
//! ```text
//! 1006 UpdateConsumerOffset   { offset i64, session_id u32 } -> { offset i64, error_code }
//! 1007 DeleteConsumerOffset   { replica_id ReplicaKey, consumer_id string } -> { error_code }
//! 1008 FetchConsumerOffsets   { filter_opts Option<{ replica_id Option<ReplicaKey>,
//!                               consumer_id Option<string> }> [v≥24] }
//!                          -> { error_code, consumers Vec<{ consumer_id string,
//!                               replica_id ReplicaKey, offset i64, modified_time u64 }> }
//! ```

use super::common::ReplicaKey;
use crate::api::ErrorCode;
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::wire_struct;

/// The system topic holding committed consumer offsets (one partition), as Fluvio names it.
pub const CONSUMER_OFFSET_TOPIC: &str = "consumer-offset";
/// Its only partition.
pub const CONSUMER_OFFSET_PARTITION: u32 = 0;

/// The consumer-offset APIs exist from this version on (the client's range is 23..=24).
pub const CONSUMER_OFFSET_MIN_VERSION: Version = 23;

wire_struct! {
    pub struct UpdateConsumerOffsetRequest {
        pub offset: i64,
        pub session_id: u32,
    }
}

wire_struct! {
    pub struct UpdateConsumerOffsetResponse {
        pub offset: i64,
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    pub struct DeleteConsumerOffsetRequest {
        pub replica_id: ReplicaKey,
        pub consumer_id: String,
    }
}

wire_struct! {
    pub struct DeleteConsumerOffsetResponse {
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    pub struct FetchConsumerOffsetsRequest {
        pub filter_opts: Option<ConsumerOffsetFilter> [24..],
    }
}

wire_struct! {
    pub struct ConsumerOffsetFilter {
        pub replica_id: Option<ReplicaKey>,
        pub consumer_id: Option<String>,
    }
}

wire_struct! {
    pub struct FetchConsumerOffsetsResponse {
        pub error_code: ErrorCode,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub consumers: Vec<ConsumerOffset>,
    }
}

wire_struct! {
    pub struct ConsumerOffset {
        pub consumer_id: String,
        pub replica_id: ReplicaKey,
        pub offset: i64,
        pub modified_time: u64,
    }
}

wire_struct! {
    /// Whose offset a record in [`CONSUMER_OFFSET_TOPIC`] holds: a consumer of a partition.
    #[derive(Eq, Hash, PartialOrd, Ord)]
    pub struct OffsetKey {
        pub replica_id: ReplicaKey,
        pub consumer_id: String,
    }
}

wire_struct! {
    /// A committed offset: the offset of the last record the consumer processed, and when
    /// it was committed (seconds since the Unix epoch, as Fluvio keeps it).
    pub struct OffsetValue {
        pub offset: i64,
        pub modified_time: u64,
    }
}

/// One record of [`CONSUMER_OFFSET_TOPIC`], Fluvio's log-based key-value entry: the record
/// value is a `u8` tag, then for `Updated` the encoded [`OffsetKey`] and [`OffsetValue`]
/// each as `bytes` (`i32` length + bytes), for `Deleted` the encoded key, for
/// `Checkpoint` nothing. A checkpoint is followed by every live entry, so a reader may
/// forget everything before it (and retention may delete it).
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetEntry {
    Updated { key: OffsetKey, value: OffsetValue },
    Deleted { key: OffsetKey },
    Checkpoint,
}

const ENTRY_UPDATED: u8 = 0;
const ENTRY_DELETED: u8 = 1;
const ENTRY_CHECKPOINT: u8 = 2;

fn encode_nested<T: Encode>(value: &T, dst: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut inner = Vec::new();
    value.encode(&mut inner, 0)?;
    let len = i32::try_from(inner.len()).map_err(|_| EncodeError::TooLong {
        what: "consumer offset entry",
        len: inner.len(),
        max: i32::MAX as usize,
    })?;
    dst.extend_from_slice(&len.to_be_bytes());
    dst.extend_from_slice(&inner);
    Ok(())
}

fn decode_nested<T: Decode>(src: &mut Reader<'_>, what: &'static str) -> Result<T, DecodeError> {
    let len = i32::decode(src, 0)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::Invalid {
        what,
        reason: "negative length",
    })?;
    let bytes = src.take(len, what)?;
    let mut inner = Reader::new(bytes);
    let value = T::decode(&mut inner, 0)?;
    inner.finish(what)?;
    Ok(value)
}

impl OffsetEntry {
    /// The record value.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            OffsetEntry::Updated { key, value } => {
                out.push(ENTRY_UPDATED);
                encode_nested(key, &mut out)?;
                encode_nested(value, &mut out)?;
            }
            OffsetEntry::Deleted { key } => {
                out.push(ENTRY_DELETED);
                encode_nested(key, &mut out)?;
            }
            OffsetEntry::Checkpoint => out.push(ENTRY_CHECKPOINT),
        }
        Ok(out)
    }

    /// Read a record value; anything but exactly one entry is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut src = Reader::new(bytes);
        let entry = match u8::decode(&mut src, 0)? {
            ENTRY_UPDATED => OffsetEntry::Updated {
                key: decode_nested(&mut src, "consumer offset key")?,
                value: decode_nested(&mut src, "consumer offset value")?,
            },
            ENTRY_DELETED => OffsetEntry::Deleted {
                key: decode_nested(&mut src, "consumer offset key")?,
            },
            ENTRY_CHECKPOINT => OffsetEntry::Checkpoint,
            tag => {
                return Err(DecodeError::UnknownTag {
                    kind: "consumer offset entry",
                    tag: i64::from(tag),
                });
            }
        };
        src.finish("consumer offset entry")?;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(consumer: &str) -> OffsetKey {
        OffsetKey {
            replica_id: ReplicaKey::new("offs", 0),
            consumer_id: consumer.to_string(),
        }
    }

    #[test]
    fn entries_have_fluvio_layout() {
        let entry = OffsetEntry::Updated {
            key: key("c1"),
            value: OffsetValue {
                offset: 39,
                modified_time: 0x6b14_1bbe,
            },
        };
        let bytes = entry.encode().unwrap();
        let expected: Vec<u8> = [
            &[0u8][..],
            &[0, 0, 0, 14],
            &[0, 4],
            b"offs",
            &[0, 0, 0, 0],
            &[0, 2],
            b"c1",
            &[0, 0, 0, 16],
            &39i64.to_be_bytes(),
            &0x6b14_1bbeu64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(OffsetEntry::decode(&bytes).unwrap(), entry);
        let deleted = OffsetEntry::Deleted { key: key("c2") };
        assert_eq!(
            OffsetEntry::decode(&deleted.encode().unwrap()).unwrap(),
            deleted
        );
        assert_eq!(OffsetEntry::Checkpoint.encode().unwrap(), [2]);
        assert_eq!(OffsetEntry::decode(&[2]).unwrap(), OffsetEntry::Checkpoint);
    }

    #[test]
    fn bad_entries_are_errors_not_panics() {
        assert!(OffsetEntry::decode(&[]).is_err());
        assert!(OffsetEntry::decode(&[7]).is_err());
        assert!(OffsetEntry::decode(&[0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(OffsetEntry::decode(&[0, 0, 0, 0, 200, 1]).is_err());
        assert!(OffsetEntry::decode(&[2, 0]).is_err(), "trailing bytes");
        let mut good = OffsetEntry::Deleted { key: key("c") }.encode().unwrap();
        good.pop();
        assert!(OffsetEntry::decode(&good).is_err(), "truncated");
    }
}
