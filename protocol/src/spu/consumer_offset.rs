//! The consumer-offset APIs (1006, 1007, 1008 at v24), Fluvio's
//! `UpdateConsumerOffsetRequest`, `DeleteConsumerOffsetRequest` and
//! `FetchConsumerOffsetsRequest`. Types only: this cluster keeps
//! no consumer offsets, and an SPU answers them with `OffsetManagementDisabled`.
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
use crate::codec::Version;
use crate::wire_struct;

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
