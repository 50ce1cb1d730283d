//! VerifyReplica (api key 1090, v0): ours, not Fluvio's. The official protocol has no way
//! to ask an SPU to scrub a log, so this key sits in the SPU's 10xx range well clear of
//! the keys Fluvio uses (1002-1008) and is not advertised in ApiVersions (the official
//! client never sends it). The partition's leader reads every batch of every segment of
//! its replica and answers what it checked and each range that does not read back.
//!
//! ```text
//! request   topic string, partition u32
//! response  error_code, segments u32, batches u64, records u64, bytes u64,
//!           problems Vec<{ segment string, position u64, length u64,
//!               first_offset i64, last_offset i64, kind u8, detail string }>
//! ```
//!
//! `kind`: 1 CRC mismatch, 2 bad batch header (length or magic), 3 batch cut short by the
//! end of the segment, 4 offsets not continuing. `detail` says the same for people, with
//! the numbers. `length` 0 with `position` at the end of the segment marks offsets missing
//! between a segment's end and the next segment's start.

use crate::api::ErrorCode;
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::wire_struct;

wire_struct! {
    pub struct VerifyReplicaRequest {
        pub topic: String,
        pub partition: u32,
    }
}

wire_struct! {
    /// What the leader checked; `problems` empty means every batch read back.
    pub struct VerifyReplicaResponse {
        pub error_code: ErrorCode,
        pub segments: u32,
        pub batches: u64,
        pub records: u64,
        pub bytes: u64,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub problems: Vec<VerifyProblem>,
    }
}

wire_struct! {
    /// One range of a segment file that does not read back.
    pub struct VerifyProblem {
        /// The segment file's path on the SPU (`.../t-0/00000000000000000000.log`).
        pub segment: String,
        /// Byte position in the segment where the range starts.
        pub position: u64,
        pub length: u64,
        pub first_offset: i64,
        pub last_offset: i64,
        pub kind: ProblemKind,
        pub detail: String,
    }
}

/// What is wrong with a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    #[default]
    CrcMismatch,
    BadHeader,
    Truncated,
    OffsetGap,
}

impl ProblemKind {
    fn code(self) -> u8 {
        match self {
            ProblemKind::CrcMismatch => 1,
            ProblemKind::BadHeader => 2,
            ProblemKind::Truncated => 3,
            ProblemKind::OffsetGap => 4,
        }
    }

    /// Short words for a table cell.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::CrcMismatch => "CRC mismatch",
            ProblemKind::BadHeader => "bad batch header",
            ProblemKind::Truncated => "batch cut short",
            ProblemKind::OffsetGap => "offsets not continuing",
        }
    }
}

impl Encode for ProblemKind {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.code().encode(dst, version)
    }
}

impl Decode for ProblemKind {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(match u8::decode(src, version)? {
            1 => ProblemKind::CrcMismatch,
            2 => ProblemKind::BadHeader,
            3 => ProblemKind::Truncated,
            4 => ProblemKind::OffsetGap,
            _ => {
                return Err(DecodeError::Invalid {
                    what: "verify problem kind",
                    reason: "not 1-4",
                });
            }
        })
    }
}

impl VerifyReplicaRequest {
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_are_topic_then_partition() {
        let request = VerifyReplicaRequest::new("ab", 3);
        assert_eq!(request.to_bytes(0).unwrap(), [0, 2, b'a', b'b', 0, 0, 0, 3]);
    }

    #[test]
    fn response_round_trips_and_rejects_unknown_kinds() {
        let response = VerifyReplicaResponse {
            error_code: ErrorCode::None,
            segments: 2,
            batches: 10,
            records: 40,
            bytes: 4096,
            problems: vec![VerifyProblem {
                segment: "00000000000000000000.log".into(),
                position: 570,
                length: 114,
                first_offset: 10,
                last_offset: 13,
                kind: ProblemKind::OffsetGap,
                detail: "batch base offset 20, expected 10".into(),
            }],
        };
        let bytes = response.to_bytes(0).unwrap();
        assert_eq!(
            VerifyReplicaResponse::from_bytes(&bytes, 0).unwrap(),
            response
        );
        // The kind byte sits just before the detail string (u16 length + 33 bytes).
        let kind_at = bytes.len() - 2 - 33 - 1;
        assert_eq!(bytes[kind_at], 4);
        let mut bad = bytes.clone();
        bad[kind_at] = 9;
        assert!(VerifyReplicaResponse::from_bytes(&bad, 0).is_err());
    }
}
