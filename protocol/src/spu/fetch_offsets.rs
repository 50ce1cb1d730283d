//! FetchOffsets (api key 1002, served at v24 and v25), Fluvio's `FetchOffsetsRequest`: a
//! partition's log start and high watermark, asked by a consumer before it streams.
//!
//! ```text
//! request   topics Vec<{ name string, partitions Vec<{ partition_index u32 }> }>,
//!           consumer_id Option<string> [v23 only]
//! response  topics Vec<{ name string, partitions Vec<{ error_code, partition_index u32,
//!               start_offset i64, last_stable_offset i64 }> }>
//! ```

use crate::api::ErrorCode;
use crate::wire_struct;

wire_struct! {
    pub struct FetchOffsetsRequest {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub topics: Vec<FetchOffsetTopic>,
        /// Only at version 23 (advertising 24..=24 avoids it).
        pub consumer_id: Option<String> [23..=23],
    }
}

wire_struct! {
    pub struct FetchOffsetTopic {
        pub name: String,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub partitions: Vec<FetchOffsetPartition>,
    }
}

wire_struct! {
    pub struct FetchOffsetPartition {
        pub partition_index: u32,
    }
}

wire_struct! {
    pub struct FetchOffsetsResponse {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub topics: Vec<FetchOffsetTopicResponse>,
    }
}

wire_struct! {
    pub struct FetchOffsetTopicResponse {
        pub name: String,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub partitions: Vec<FetchOffsetPartitionResponse>,
    }
}

wire_struct! {
    /// `start_offset` is the log start; `last_stable_offset` the high watermark (the next
    /// offset to be committed). The client clamps its start position to that range.
    pub struct FetchOffsetPartitionResponse {
        pub error_code: ErrorCode,
        pub partition_index: u32,
        pub start_offset: i64,
        pub last_stable_offset: i64,
    }
}

impl FetchOffsetsRequest {
    /// A request for one partition.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topics: vec![FetchOffsetTopic {
                name: topic.into(),
                partitions: vec![FetchOffsetPartition {
                    partition_index: partition,
                }],
            }],
            consumer_id: None,
        }
    }
}

impl FetchOffsetsResponse {
    /// The entry for `topic`/`partition`, if present.
    pub fn find(&self, topic: &str, partition: u32) -> Option<&FetchOffsetPartitionResponse> {
        self.topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
    }
}
