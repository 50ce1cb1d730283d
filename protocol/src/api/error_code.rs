//! Error codes: an i16 tag, followed by a payload for the variants that carry one.
//!
//! Only tags the official client knows may be sent: an unknown tag fails its whole decode.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};

/// Why a request (or one part of it) failed. `None` means success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ErrorCode {
    #[error("unknown server error")]
    UnknownServerError,
    #[default]
    #[error("no error")]
    None,
    #[error("offset out of range")]
    OffsetOutOfRange,
    #[error("{0}")]
    Other(String),
    #[error("not leader for partition")]
    NotLeaderForPartition,
    #[error("request timed out after {timeout_ms} ms")]
    RequestTimedOut { timeout_ms: u64, kind: u8 },
    #[error("message too large")]
    MessageTooLarge,
    #[error("permission denied")]
    PermissionDenied,
    #[error("storage error")]
    StorageError,
    #[error("invalid create request")]
    InvalidCreateRequest,
    #[error("invalid delete request")]
    InvalidDeleteRequest,
    #[error("offset {offset} evicted; next available is {next_available}")]
    OffsetEvicted { offset: i64, next_available: i64 },
    #[error("partition {topic}-{partition} is full")]
    PartitionFull { topic: String, partition: u32 },
    #[error("SPU error")]
    SpuError,
    #[error("SPU registration failed")]
    SpuRegisterationFailed,
    #[error("SPU is offline")]
    SpuOffline,
    #[error("SPU not found")]
    SpuNotFound,
    #[error("SPU already exists")]
    SpuAlreadyExists,
    #[error("topic error")]
    TopicError,
    #[error("Topic not found")]
    TopicNotFound,
    #[error("Topic already exists")]
    TopicAlreadyExists,
    #[error("topic pending initialization")]
    TopicPendingInitialization,
    #[error("topic has an invalid configuration")]
    TopicInvalidConfiguration,
    #[error("topic not provisioned")]
    TopicNotProvisioned,
    #[error("invalid topic name: only lowercase a-z, 0-9 and '-' are allowed")]
    TopicInvalidName,
    #[error("topic is being deleted")]
    TopicDeleted,
    #[error("invalid topic replica type")]
    TopicInvalidReplicaType,
    #[error("partition pending initialization")]
    PartitionPendingInitialization,
    #[error("partition is not leader")]
    PartitionNotLeader,
    #[error("fetch session not found")]
    FetchSessionNotFoud,
    #[error("offset flush request failed: {0}")]
    OffsetFlushRequestError(String),
    #[error("offset management is disabled")]
    OffsetManagementDisabled,
    #[error("maximum retries reached")]
    MaxRetryReached,
    #[error("an error occurred while managing a SmartModule")]
    SmartModuleError,
    #[error("SmartModule {name} not found")]
    SmartModuleNotFound { name: String },
    #[error("compression error")]
    CompressionError,
    #[error("system {kind} '{name}' cannot be deleted")]
    SystemSpecDeletion { kind: String, name: String },
    #[error("system {kind} '{name}' cannot be updated")]
    SystemSpecUpdatingAttempt { kind: String, name: String },
}

impl ErrorCode {
    pub fn is_ok(&self) -> bool {
        matches!(self, ErrorCode::None)
    }

    pub fn is_error(&self) -> bool {
        !self.is_ok()
    }

    /// The i16 tag on the wire.
    pub fn tag(&self) -> i16 {
        use ErrorCode::*;
        match self {
            UnknownServerError => -1,
            None => 0,
            OffsetOutOfRange => 1,
            Other(_) => 2,
            NotLeaderForPartition => 6,
            RequestTimedOut { .. } => 7,
            MessageTooLarge => 10,
            PermissionDenied => 13,
            StorageError => 56,
            InvalidCreateRequest => 60,
            InvalidDeleteRequest => 61,
            OffsetEvicted { .. } => 71,
            PartitionFull { .. } => 72,
            SpuError => 1000,
            SpuRegisterationFailed => 1001,
            SpuOffline => 1002,
            SpuNotFound => 1003,
            SpuAlreadyExists => 1004,
            TopicError => 2000,
            TopicNotFound => 2001,
            TopicAlreadyExists => 2002,
            TopicPendingInitialization => 2003,
            TopicInvalidConfiguration => 2004,
            TopicNotProvisioned => 2005,
            TopicInvalidName => 2006,
            TopicDeleted => 2007,
            TopicInvalidReplicaType => 2008,
            PartitionPendingInitialization => 3000,
            PartitionNotLeader => 3001,
            FetchSessionNotFoud => 3002,
            OffsetFlushRequestError(_) => 3003,
            OffsetManagementDisabled => 3004,
            MaxRetryReached => 3005,
            SmartModuleError => 6000,
            SmartModuleNotFound { .. } => 6001,
            CompressionError => 9000,
            SystemSpecDeletion { .. } => 12001,
            SystemSpecUpdatingAttempt { .. } => 12002,
        }
    }
}

impl Encode for ErrorCode {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        use ErrorCode::*;
        self.tag().encode(dst, version)?;
        match self {
            Other(message) | OffsetFlushRequestError(message) => message.encode(dst, version),
            RequestTimedOut { timeout_ms, kind } => {
                timeout_ms.encode(dst, version)?;
                kind.encode(dst, version)
            }
            OffsetEvicted {
                offset,
                next_available,
            } => {
                offset.encode(dst, version)?;
                next_available.encode(dst, version)
            }
            PartitionFull { topic, partition } => {
                topic.encode(dst, version)?;
                partition.encode(dst, version)
            }
            SmartModuleNotFound { name } => name.encode(dst, version),
            SystemSpecDeletion { kind, name } | SystemSpecUpdatingAttempt { kind, name } => {
                kind.encode(dst, version)?;
                name.encode(dst, version)
            }
            _ => Ok(()),
        }
    }
}

impl Decode for ErrorCode {
    const MIN_WIRE_SIZE: usize = 2;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        use ErrorCode::*;
        let tag = i16::decode(src, version)?;
        Ok(match tag {
            -1 => UnknownServerError,
            0 => None,
            1 => OffsetOutOfRange,
            2 => Other(String::decode(src, version)?),
            6 => NotLeaderForPartition,
            7 => RequestTimedOut {
                timeout_ms: u64::decode(src, version)?,
                kind: u8::decode(src, version)?,
            },
            10 => MessageTooLarge,
            13 => PermissionDenied,
            56 => StorageError,
            60 => InvalidCreateRequest,
            61 => InvalidDeleteRequest,
            71 => OffsetEvicted {
                offset: i64::decode(src, version)?,
                next_available: i64::decode(src, version)?,
            },
            72 => PartitionFull {
                topic: String::decode(src, version)?,
                partition: u32::decode(src, version)?,
            },
            1000 => SpuError,
            1001 => SpuRegisterationFailed,
            1002 => SpuOffline,
            1003 => SpuNotFound,
            1004 => SpuAlreadyExists,
            2000 => TopicError,
            2001 => TopicNotFound,
            2002 => TopicAlreadyExists,
            2003 => TopicPendingInitialization,
            2004 => TopicInvalidConfiguration,
            2005 => TopicNotProvisioned,
            2006 => TopicInvalidName,
            2007 => TopicDeleted,
            2008 => TopicInvalidReplicaType,
            3000 => PartitionPendingInitialization,
            3001 => PartitionNotLeader,
            3002 => FetchSessionNotFoud,
            3003 => OffsetFlushRequestError(String::decode(src, version)?),
            3004 => OffsetManagementDisabled,
            3005 => MaxRetryReached,
            6000 => SmartModuleError,
            6001 => SmartModuleNotFound {
                name: String::decode(src, version)?,
            },
            9000 => CompressionError,
            12001 => SystemSpecDeletion {
                kind: String::decode(src, version)?,
                name: String::decode(src, version)?,
            },
            12002 => SystemSpecUpdatingAttempt {
                kind: String::decode(src, version)?,
                name: String::decode(src, version)?,
            },
            other => {
                return Err(DecodeError::UnknownTag {
                    kind: "ErrorCode",
                    tag: other.into(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_carrying_codes_round_trip() {
        let codes = [
            ErrorCode::None,
            ErrorCode::Other("boom".into()),
            ErrorCode::RequestTimedOut {
                timeout_ms: 1500,
                kind: 0,
            },
            ErrorCode::OffsetEvicted {
                offset: 3,
                next_available: 9,
            },
            ErrorCode::PartitionFull {
                topic: "t".into(),
                partition: 2,
            },
            ErrorCode::SystemSpecDeletion {
                kind: "topic".into(),
                name: "x".into(),
            },
        ];
        for code in codes {
            let bytes = code.to_bytes(0).unwrap();
            assert_eq!(ErrorCode::from_bytes(&bytes, 0).unwrap(), code);
        }
    }

    #[test]
    fn known_wire_bytes() {
        assert_eq!(
            ErrorCode::TopicAlreadyExists.to_bytes(0).unwrap(),
            [0x07, 0xd2]
        );
        assert_eq!(
            ErrorCode::Other("x".into()).to_bytes(0).unwrap(),
            [0, 2, 0, 1, b'x']
        );
        assert!(matches!(
            ErrorCode::from_bytes(&[0x7f, 0x00], 0),
            Err(DecodeError::UnknownTag { .. })
        ));
    }
}
