//! UpdateOffsets (api key 1005, v0), Fluvio's `UpdateOffsetsRequest`: the consumer reports, per stream session, the
//! next offset it expects. The real SPU uses it for flow control and answers 3002
//! `FetchSessionNotFoud` for unknown sessions.
//!
//! ```text
//! request   offsets Vec<{ offset i64, session_id u32 }>
//! response  status Vec<{ session_id u32, error ErrorCode }>
//! ```

use crate::api::ErrorCode;
use crate::wire_struct;

wire_struct! {
    pub struct UpdateOffsetsRequest {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub offsets: Vec<OffsetUpdate>,
    }
}

wire_struct! {
    /// `session_id` is the `stream_id` of a StreamFetch response.
    pub struct OffsetUpdate {
        pub offset: i64,
        pub session_id: u32,
    }
}

wire_struct! {
    pub struct UpdateOffsetsResponse {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub status: Vec<OffsetUpdateStatus>,
    }
}

wire_struct! {
    pub struct OffsetUpdateStatus {
        pub session_id: u32,
        pub error: ErrorCode,
    }
}
