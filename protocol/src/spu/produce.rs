//! Produce (api key 0, served at v24 and v25): Fluvio's `ProduceRequest` and `ProduceResponse`.
//!
//! ```text
//! request   transactional_id Option<string>, isolation i16 (acks: 1 / -1), timeout_ms i32,
//!           topics Vec<{ name string, partitions Vec<{ partition_index u32, records RecordSet }> }>,
//!           smartmodules Vec<SmartModuleInvocation> [v≥8]
//! response  responses Vec<{ name string, partitions Vec<{ partition_index u32, error_code,
//!               base_offset i64, log_append_time_ms i64 [v≥2], log_start_offset i64 [v≥5] }> }>,
//!           throttle_time_ms i32 [v≥1]
//! ```
//!
//! The client pairs responses with its batches by position: answer one entry per request
//! entry, in order, even when a partition appears several times. Empty requests
//! (`partitions: []`, from `flush()`) get the topic with an empty list back.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::common::Isolation;
use super::smartmodule::SmartModuleInvocation;
use crate::api::{ErrorCode, RequestHeader};
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::record::RecordSet;
use crate::wire_struct;

/// The timeout the official producer sends, in milliseconds.
pub const DEFAULT_PRODUCE_TIMEOUT_MS: i32 = 1500;

/// A batch of writes to one or more partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(default)]
pub struct ProduceRequest {
    /// Always `None` from the official client.
    pub transactional_id: Option<String>,
    /// When to acknowledge (carried as acks: see [`Isolation::acks`]).
    pub isolation: Isolation,
    pub timeout_ms: i32,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::spu::common::small_vec()")
    )]
    pub topics: Vec<TopicProduceData>,
    /// Present from v8. Empty unless the producer configured SmartModules.
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::spu::common::small_vec()")
    )]
    pub smartmodules: Vec<SmartModuleInvocation>,
}

impl Default for ProduceRequest {
    fn default() -> Self {
        Self {
            transactional_id: None,
            isolation: Isolation::ReadUncommitted,
            timeout_ms: DEFAULT_PRODUCE_TIMEOUT_MS,
            topics: Vec::new(),
            smartmodules: Vec::new(),
        }
    }
}

/// From this version on, a produce request carries SmartModule invocations.
pub const PRODUCE_SMARTMODULES_VERSION: Version = 8;

impl Encode for ProduceRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.transactional_id.encode(dst, version)?;
        self.isolation.acks().encode(dst, version)?;
        self.timeout_ms.encode(dst, version)?;
        self.topics.encode(dst, version)?;
        if version >= PRODUCE_SMARTMODULES_VERSION {
            self.smartmodules.encode(dst, version)?;
        }
        Ok(())
    }
}

impl Decode for ProduceRequest {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let transactional_id = Option::<String>::decode(src, version)?;
        let acks = i16::decode(src, version)?;
        let isolation = Isolation::from_acks(acks).ok_or(DecodeError::UnknownTag {
            kind: "produce isolation (acks)",
            tag: acks.into(),
        })?;
        let timeout_ms = i32::decode(src, version)?;
        let topics = Vec::decode(src, version)?;
        let smartmodules = if version >= PRODUCE_SMARTMODULES_VERSION {
            Vec::decode(src, version)?
        } else {
            Vec::new()
        };
        Ok(Self {
            transactional_id,
            isolation,
            timeout_ms,
            topics,
            smartmodules,
        })
    }
}

wire_struct! {
    /// The writes to one topic.
    pub struct TopicProduceData {
        pub name: String,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub partitions: Vec<PartitionProduceData>,
    }
}

wire_struct! {
    /// The batches for one partition, as the producer built them (the leader assigns their
    /// base offsets).
    pub struct PartitionProduceData {
        pub partition_index: u32,
        pub records: RecordSet,
    }
}

wire_struct! {
    pub struct ProduceResponse {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub responses: Vec<TopicProduceResponse>,
        pub throttle_time_ms: i32 [1..],
    }
}

wire_struct! {
    pub struct TopicProduceResponse {
        pub name: String,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub partitions: Vec<PartitionProduceResponse>,
    }
}

wire_struct! {
    /// The outcome for one request entry. `base_offset` is the offset given to the first
    /// record of the entry's first batch.
    pub struct PartitionProduceResponse {
        pub partition_index: u32,
        pub error_code: ErrorCode,
        pub base_offset: i64,
        /// -1: the broker does not stamp append times.
        pub log_append_time_ms: i64 [2..],
        pub log_start_offset: i64 [5..],
    }
}

impl PartitionProduceResponse {
    /// A successful write at `base_offset`.
    pub fn ok(partition_index: u32, base_offset: i64, log_start_offset: i64) -> Self {
        Self {
            partition_index,
            error_code: ErrorCode::None,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset,
        }
    }

    /// A failed write.
    pub fn error(partition_index: u32, error_code: ErrorCode) -> Self {
        Self {
            partition_index,
            error_code,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        }
    }
}

impl ProduceRequest {
    /// The whole request frame (size prefix, `header`, this body at the header's version)
    /// as pieces to write in order: the encoded fields, with each record set in between as
    /// it is, not copied. The pieces joined are exactly [`encode_request_frame`]'s bytes.
    ///
    /// [`encode_request_frame`]: crate::api::encode_request_frame
    pub fn encode_frame_parts(&self, header: &RequestHeader) -> Result<Vec<Bytes>, EncodeError> {
        let version = header.api_version;
        let count = |len: usize, dst: &mut Vec<u8>| {
            i32::try_from(len)
                .map_err(|_| EncodeError::TooLong {
                    what: "vector",
                    len,
                    max: i32::MAX as usize,
                })?
                .encode(dst, version)
        };
        let mut parts = Vec::new();
        let mut fields = vec![0u8; 4];
        header.write(&mut fields)?;
        self.transactional_id.encode(&mut fields, version)?;
        self.isolation.acks().encode(&mut fields, version)?;
        self.timeout_ms.encode(&mut fields, version)?;
        count(self.topics.len(), &mut fields)?;
        for topic in &self.topics {
            topic.name.encode(&mut fields, version)?;
            count(topic.partitions.len(), &mut fields)?;
            for entry in &topic.partitions {
                entry.partition_index.encode(&mut fields, version)?;
                let records = entry.records.as_bytes();
                count(records.len(), &mut fields)?;
                parts.push(Bytes::from(std::mem::take(&mut fields)));
                parts.push(records.clone());
            }
        }
        if version >= PRODUCE_SMARTMODULES_VERSION {
            self.smartmodules.encode(&mut fields, version)?;
        }
        parts.push(Bytes::from(fields));
        let body_len: usize = parts.iter().map(Bytes::len).sum::<usize>() - 4;
        let size = i32::try_from(body_len).map_err(|_| EncodeError::TooLong {
            what: "frame",
            len: body_len,
            max: i32::MAX as usize,
        })?;
        let mut first = Vec::from(parts[0].as_ref());
        first[..4].copy_from_slice(&size.to_be_bytes());
        parts[0] = Bytes::from(first);
        Ok(parts)
    }

    /// Every (topic, partition entry) in request order: the order responses must follow.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &PartitionProduceData)> + '_ {
        self.topics.iter().flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(move |partition| (topic.name.as_str(), partition))
        })
    }
}
