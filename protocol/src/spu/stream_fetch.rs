//! StreamFetch (api key 1003, served at v24 and v25), Fluvio's `StreamFetchRequest`: a consumer's
//! continuous read of one partition. Any number of response frames follow on the request's correlation id, for as
//! long as the connection lives.
//!
//! ```text
//! request   topic string, partition u32, fetch_offset i64, max_bytes i32, isolation u8,
//!           wasm_module bytes              [11..=18]  legacy
//!           smartmodule Option<SmartModuleInvocation> [16..=18]  legacy
//!           derivedstream Option<LegacyDerivedStream> [16..=18]  legacy
//!           smartmodules Vec<SmartModuleInvocation>   [v≥18]
//!           consumer_id Option<string>                [v≥23]
//! response  topic string, stream_id u32, partition_index u32, error_code,
//!           high_watermark i64, next_filter_offset i64 [v≥11], log_start_offset i64,
//!           aborted Option<Vec<{ producer_id i64, first_offset i64 }>>, records RecordSet
//! ```
//!
//! Versions 16 to 24 decode. Below 16 the legacy layout is not known precisely (some
//! releases had another SmartModule payload field from v12), so those versions are refused
//! with [`DecodeError::UnsupportedVersion`] rather than misread. The official client negotiates 24 as long as the
//! SPU advertises a maximum of at least 23; it falls back to 17 otherwise, which decodes
//! (the capture `exp_spuomit.log` has one).

use serde::{Deserialize, Serialize};

use super::common::Isolation;
use super::smartmodule::{LegacyDerivedStream, SmartModuleInvocation};
use crate::api::ErrorCode;
use crate::codec::{ByteBuf, Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::record::RecordSet;
use crate::wire_struct;

/// The oldest StreamFetch version we decode.
pub const STREAM_FETCH_MIN_VERSION: Version = 16;

/// The `max_bytes` the official consumer sends by default.
pub const DEFAULT_STREAM_FETCH_MAX_BYTES: i32 = 1_048_890;

/// A request to stream a partition from `fetch_offset` on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(default)]
pub struct StreamFetchRequest {
    pub topic: String,
    pub partition: u32,
    /// Absolute offset, already resolved by the client.
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub isolation: Isolation,
    /// Legacy, versions 11 to 18: raw wasm.
    pub wasm_module: ByteBuf,
    /// Legacy, versions 16 to 18.
    pub smartmodule: Option<SmartModuleInvocation>,
    /// Legacy, versions 16 to 18.
    pub derivedstream: Option<LegacyDerivedStream>,
    /// From version 18. Empty for a plain `stream()`.
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::spu::common::small_vec()")
    )]
    pub smartmodules: Vec<SmartModuleInvocation>,
    /// From version 23. `None` for `partition_consumer().stream()`.
    pub consumer_id: Option<String>,
}

fn legacy(version: Version) -> bool {
    (11..=18).contains(&version)
}

fn legacy_invocations(version: Version) -> bool {
    (16..=18).contains(&version)
}

impl StreamFetchRequest {
    /// A plain stream of `topic`/`partition` from `fetch_offset`.
    pub fn new(topic: impl Into<String>, partition: u32, fetch_offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            fetch_offset,
            max_bytes: DEFAULT_STREAM_FETCH_MAX_BYTES,
            ..Self::default()
        }
    }

    /// Does the request ask for any SmartModule processing (current or legacy fields)?
    pub fn has_smartmodules(&self) -> bool {
        !self.smartmodules.is_empty()
            || !self.wasm_module.0.is_empty()
            || self.smartmodule.is_some()
            || self.derivedstream.is_some()
    }
}

impl Encode for StreamFetchRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.topic.encode(dst, version)?;
        self.partition.encode(dst, version)?;
        self.fetch_offset.encode(dst, version)?;
        self.max_bytes.encode(dst, version)?;
        self.isolation.encode(dst, version)?;
        if legacy(version) {
            self.wasm_module.encode(dst, version)?;
        }
        if legacy_invocations(version) {
            self.smartmodule.encode(dst, version)?;
            self.derivedstream.encode(dst, version)?;
        }
        if version >= 18 {
            self.smartmodules.encode(dst, version)?;
        }
        if version >= 23 {
            self.consumer_id.encode(dst, version)?;
        }
        Ok(())
    }
}

impl Decode for StreamFetchRequest {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        if version < STREAM_FETCH_MIN_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                api_key: crate::api::spu_keys::STREAM_FETCH,
                version,
            });
        }
        let mut value = Self {
            topic: String::decode(src, version)?,
            partition: u32::decode(src, version)?,
            fetch_offset: i64::decode(src, version)?,
            max_bytes: i32::decode(src, version)?,
            isolation: Isolation::decode(src, version)?,
            ..Self::default()
        };
        if legacy(version) {
            value.wasm_module = ByteBuf::decode(src, version)?;
        }
        if legacy_invocations(version) {
            value.smartmodule = Option::decode(src, version)?;
            value.derivedstream = Option::decode(src, version)?;
        }
        if version >= 18 {
            value.smartmodules = Vec::decode(src, version)?;
        }
        if version >= 23 {
            value.consumer_id = Option::decode(src, version)?;
        }
        Ok(value)
    }
}

wire_struct! {
    /// A transaction whose records a ReadCommitted consumer must skip. Never sent by this
    /// cluster (no transactions).
    pub struct AbortedTransaction {
        pub producer_id: i64,
        pub first_offset: i64,
    }
}

wire_struct! {
    /// One frame of a stream: some batches, or an error, or both.
    ///
    /// With `error_code` ≠ 0 the client first yields the frame's records, then the error;
    /// `OffsetOutOfRange` ends a Python iterator quietly, any other code raises.
    pub struct StreamFetchResponse {
        pub topic: String,
        /// The session id the client echoes in UpdateOffsets.
        pub stream_id: u32,
        pub partition_index: u32,
        pub error_code: ErrorCode,
        pub high_watermark: i64,
        /// 0 unless SmartModules filtered records out.
        pub next_filter_offset: i64 [11..],
        pub log_start_offset: i64,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "proptest::option::of(crate::spu::common::small_vec())"))]
        pub aborted: Option<Vec<AbortedTransaction>>,
        /// Stored batches, byte for byte, with their assigned base offsets.
        pub records: RecordSet,
    }
}

impl StreamFetchResponse {
    /// An error frame with no records.
    pub fn error(
        topic: impl Into<String>,
        stream_id: u32,
        partition_index: u32,
        error_code: ErrorCode,
    ) -> Self {
        Self {
            topic: topic.into(),
            stream_id,
            partition_index,
            error_code,
            high_watermark: -1,
            log_start_offset: -1,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_v24_request() {
        // 0004 "demo" 00000000 0000000000000000 0010013a 00 00000000 00
        let mut bytes = vec![0, 4, b'd', b'e', b'm', b'o', 0, 0, 0, 0];
        bytes.extend([0; 8]);
        bytes.extend([0x00, 0x10, 0x01, 0x3a, 0, 0, 0, 0, 0, 0]);
        let request = StreamFetchRequest::from_bytes(&bytes, 24).unwrap();
        assert_eq!(request, StreamFetchRequest::new("demo", 0, 0));
        assert!(!request.has_smartmodules());
        assert_eq!(request.to_bytes(24).unwrap(), bytes);
    }

    #[test]
    fn legacy_v17_layout_and_old_versions() {
        let mut request = StreamFetchRequest::new("demo", 0, 0);
        let v17 = request.to_bytes(17).unwrap();
        // isolation, wasm_module length, two None options; no smartmodules vec.
        assert_eq!(&v17[v17.len() - 7..], [0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(v17.len(), 10 + 8 + 4 + 7);
        assert_eq!(StreamFetchRequest::from_bytes(&v17, 17).unwrap(), request);
        request.wasm_module = ByteBuf::from(vec![1, 2]);
        let v17 = request.to_bytes(17).unwrap();
        let decoded = StreamFetchRequest::from_bytes(&v17, 17).unwrap();
        assert!(decoded.has_smartmodules());
        assert!(matches!(
            StreamFetchRequest::from_bytes(&v17, 15),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
    }
}
