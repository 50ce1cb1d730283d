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

/// How a leader's refusal of an idempotent batch whose sequence does not follow the
/// producer's last one starts (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER). Fluvio's error codes
/// have no such code, and the official client fails on one it does not know, so the
/// refusal travels as [`ErrorCode::Other`] with this message.
pub const OUT_OF_ORDER_SEQUENCE: &str = "out of order sequence number";

/// Likewise for a batch from a fenced (older) producer epoch (INVALID_PRODUCER_EPOCH).
pub const INVALID_PRODUCER_EPOCH: &str = "invalid producer epoch";

/// Is `code` a leader's refusal of a batch out of sequence?
pub fn is_out_of_order_sequence(code: &ErrorCode) -> bool {
    matches!(code, ErrorCode::Other(message) if message.starts_with(OUT_OF_ORDER_SEQUENCE))
}

/// Is `code` a leader's refusal of a batch from a fenced producer epoch?
pub fn is_invalid_producer_epoch(code: &ErrorCode) -> bool {
    matches!(code, ErrorCode::Other(message) if message.starts_with(INVALID_PRODUCER_EPOCH))
}

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
