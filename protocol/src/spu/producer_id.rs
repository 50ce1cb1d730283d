//! InitProducerId (api key 1091, v0): ours, not Fluvio's, the counterpart of Kafka's
//! InitProducerId for our own producer. The SPU answers with a producer id no other
//! producer in the cluster got (from a block the SC granted it) and epoch 0; the producer
//! then stamps `producer_id`, `producer_epoch` and per-partition sequence numbers into its
//! batch headers, and partition leaders store a retried batch only once. Like 1090 it sits
//! clear of Fluvio's keys and is not advertised in ApiVersions.
//!
//! ```text
//! request   (empty)
//! response  error_code, producer_id i64, producer_epoch i16
//! ```

use crate::api::ErrorCode;
use crate::wire_struct;

wire_struct! {
    pub struct InitProducerIdRequest {}
}

wire_struct! {
    pub struct InitProducerIdResponse {
        pub error_code: ErrorCode,
        pub producer_id: i64,
        pub producer_epoch: i16,
    }
}
