//! The SPU's private port: what a follower sends to the leader of a partition. See the
//! [module docs](super) for the protocol.

use crate::api::ErrorCode;
use crate::record::RecordSet;
use crate::sc::SpuId;
use crate::spu::ReplicaKey;
use crate::wire_struct;

wire_struct! {
    /// 2101: stream a replica from `fetch_offset` on. The answer is a stream of
    /// [`FollowerFetchResponse`] frames on this request's correlation id.
    pub struct FollowerFetchRequest {
        pub follower_id: SpuId,
        pub key: ReplicaKey,
        pub fetch_offset: i64,
        /// The follower's view of the leader epoch; a mismatch is refused.
        pub leader_epoch: i32,
        /// Per frame.
        pub max_bytes: i32,
    }
}

wire_struct! {
    /// One frame of a follower stream: batches to append (with their assigned base
    /// offsets, byte for byte as the leader stored them) and the leader's offsets.
    pub struct FollowerFetchResponse {
        pub key: ReplicaKey,
        pub error_code: ErrorCode,
        pub leader_epoch: i32,
        pub hw: i64,
        pub leo: i64,
        pub log_start: i64,
        pub records: RecordSet,
    }
}

wire_struct! {
    /// 2102: the follower's offsets after appending, so the leader can advance the high
    /// watermark and pace the stream.
    pub struct FollowerOffsetUpdateRequest {
        pub follower_id: SpuId,
        pub key: ReplicaKey,
        pub leo: i64,
        pub hw: i64,
        /// The epoch of the leader the follower follows; a stale one is refused.
        pub leader_epoch: i32,
    }
}

wire_struct! {
    pub struct FollowerOffsetUpdateResponse {
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// 2103: where does `leader_epoch` end in the leader's log? A follower asks after a
    /// leader change and truncates everything it has from `end_offset` on (Kafka's
    /// OffsetForLeaderEpoch).
    pub struct EpochEndOffsetRequest {
        pub key: ReplicaKey,
        pub leader_epoch: i32,
    }
}

wire_struct! {
    /// `leader_epoch` is the largest epoch the leader knows that is ≤ the one asked for,
    /// and `end_offset` the offset after its last record (the log end offset if that epoch
    /// is the current one).
    pub struct EpochEndOffsetResponse {
        pub error_code: ErrorCode,
        pub leader_epoch: i32,
        pub end_offset: i64,
    }
}

wire_struct! {
    /// A consumer's committed offset, from the SPU serving its stream to the leader of
    /// `consumer-offset-0`.
    pub struct CommitConsumerOffsetRequest {
        pub key: crate::spu::OffsetKey,
        pub offset: i64,
    }
}

wire_struct! {
    pub struct CommitConsumerOffsetResponse {
        pub error_code: ErrorCode,
    }
}
