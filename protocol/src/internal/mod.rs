//! Our internal APIs: SPU → SC (the SC's private port) and follower SPU → leader SPU (each
//! SPU's private port). Not part of Fluvio's protocol; the official client never sees them.
//!
//! They use the same framing, request header and codec as the public APIs: a frame is an
//! `i32` size, then a [`RequestHeader`](crate::api::RequestHeader) (api key, version,
//! correlation id, client id), then the body; a response frame is an `i32` size, the
//! request's correlation id, then the body. Every message is at version
//! [`INTERNAL_API_VERSION`] (0), and api keys are in the 2000s so they can never be
//! mistaken for a public request. There is no ApiVersions handshake on the private ports:
//! both sides are built from this crate.
//!
//! # SC private port (SPU → SC)
//!
//! | key | request | response |
//! |---|---|---|
//! | 2001 | [`RegisterSpuRequest`] | [`RegisterSpuResponse`] |
//! | 2002 | [`WatchControlRequest`] | a stream of [`ControlUpdate`] |
//! | 2003 | [`ReportOffsetsRequest`] | [`ReportOffsetsResponse`] |
//! | 2004 | [`HeartbeatRequest`] | [`HeartbeatResponse`] |
//! | 2005 | [`AllocateProducerIdsRequest`] | [`AllocateProducerIdsResponse`] |
//!
//! * **RegisterSpu** `{ spu_id i32, spu_type u8, public_endpoint IngressPort,
//!   private_endpoint Endpoint, rack Option<string>, token_name Option<string>,
//!   token_secret Option<string> }` → `{ error_code, message Option<string> }`. The first
//!   request on the connection. An SPU the SC does not manage authenticates with an auth
//!   token; `SpuRegisterationFailed` (1001), `SpuAlreadyExists` (1004) or `PermissionDenied`
//!   (13) refuse it, with a human-readable `message`. Version 1 adds `kafka_endpoint
//!   Option<Endpoint>` to the request (where the SPU serves Kafka clients) and
//!   `sc_public_addr Option<string>, leader_sc Option<string>` to the answer: the SC's
//!   public address (where the SPU's Kafka listener forwards admin requests) and, from an
//!   SC that does not lead, the leading SC's private address, where the SPU registers
//!   instead.
//! * **WatchControl** `{ spu_id i32 }` → any number of [`ControlUpdate`] frames on the
//!   request's correlation id, for as long as the connection lives (like the public Watch).
//!   `ControlUpdate = { epoch i64, spus SpuUpdates, replicas ReplicaUpdates }`:
//!   * `SpuUpdates = { is_full bool, spus Vec<SpuSpec>, deleted Vec<i32> }`: the SPU
//!     directory (every SPU's endpoints, so followers can find leaders). `is_full`: `spus`
//!     replaces everything known; otherwise upserts by id plus deletions.
//!   * `ReplicaUpdates = { is_full bool, replicas Vec<Replica>, removed Vec<ReplicaKey> }`:
//!     the replicas this SPU hosts, as leader or follower, same full/delta rule.
//!   * [`Replica`] `= { key { topic string, partition u32 }, leader i32, replicas Vec<i32>,
//!     leader_epoch i32, in_sync Vec<i32>, retention_secs Option<u32>,
//!     segment_size Option<u32>, max_partition_size Option<u64>, compression u8 (topic
//!     codes), min_in_sync u32, is_being_deleted bool }`.
//!
//!   The first frame is a full snapshot of both; later frames carry changes (either part
//!   may be an empty delta). `epoch` increases with every frame.
//! * **ReportOffsets** `{ spu_id i32, reports Vec<ReplicaOffsetReport> }` → `{ error_code }`.
//!   A leader reports its replicas: `ReplicaOffsetReport = { key, leader_epoch i32, hw i64,
//!   leo i64, log_start i64, size i64, followers Vec<{ spu i32, hw i64, leo i64 }>,
//!   in_sync Vec<i32> }`. The SC turns these into partition statuses.
//! * **Heartbeat** `{ spu_id i32, time_ms i64 }` → `{ error_code }`. Sent periodically; an
//!   SPU whose connection drops (or stays silent) is marked offline.
//! * **AllocateProducerIds** `{ spu_id i32, count i32 }` → `{ error_code, first_id i64,
//!   count i32 }`. A block of producer ids for idempotent producers, unique in the cluster
//!   and across restarts: the SC stores the next free id in its metadata backend before
//!   answering. `StorageError` when it cannot.
//!
//! # SPU private port (follower → leader)
//!
//! | key | request | response |
//! |---|---|---|
//! | 2101 | [`FollowerFetchRequest`] | a stream of [`FollowerFetchResponse`] |
//! | 2102 | [`FollowerOffsetUpdateRequest`] | [`FollowerOffsetUpdateResponse`] |
//! | 2103 | [`EpochEndOffsetRequest`] | [`EpochEndOffsetResponse`] |
//! | 2104 | [`CommitConsumerOffsetRequest`] | [`CommitConsumerOffsetResponse`] |
//!
//! * **FollowerFetch** `{ follower_id i32, key ReplicaKey, fetch_offset i64,
//!   leader_epoch i32, max_bytes i32 }` → frames `{ key, error_code, leader_epoch i32,
//!   hw i64, leo i64, log_start i64, records RecordSet }` on the request's correlation id.
//!   The leader sends stored batches from `fetch_offset` on, byte for byte, then pushes new
//!   ones as they are written, and frames with no records whenever its high watermark moves.
//!   `NotLeaderForPartition` if it does not lead the replica or the epochs differ;
//!   `OffsetOutOfRange` if `fetch_offset` is outside its log (the follower then asks
//!   EpochEndOffset or restarts from `log_start`).
//! * **FollowerOffsetUpdate** `{ follower_id i32, key, leo i64, hw i64, leader_epoch i32 }` →
//!   `{ error_code }`. After appending, the follower reports its log end; the leader
//!   advances the high watermark to what the in-sync replicas have.
//! * **EpochEndOffset** `{ key, leader_epoch i32 }` → `{ error_code, leader_epoch i32,
//!   end_offset i64 }`. After a leader change, a follower asks where its last epoch ends in
//!   the new leader's log and truncates any divergent suffix from `end_offset` on.
//! * **CommitConsumerOffset** `{ key { replica_id ReplicaKey, consumer_id string },
//!   offset i64 }` → `{ error_code }`. The SPU serving a consumer's stream hands the
//!   offset the consumer committed (UpdateConsumerOffset, 1006) to the leader of
//!   `consumer-offset-0`, which stores it; `NotLeaderForPartition` if it does not lead it.
//!
//! The control stream also tells every SPU which SPU leads `consumer-offset-0`
//! (`ControlUpdate.offsets_leader`), since most SPUs host no replica of it.

pub mod sc;
pub mod spu;

pub use sc::*;
pub use spu::*;

pub use crate::spu::{ApiRequest, ReplicaKey};

use crate::api::{api_enums, impl_api_request};
use crate::codec::Version;

/// The version of every internal message.
pub const INTERNAL_API_VERSION: Version = 0;

/// RegisterSpu is at version 1: its answer may name the leading SC. An SC answers each
/// SPU in the version it asked in, so SPUs of version 0 keep working.
pub const REGISTER_SPU_VERSION: Version = 1;

/// Api keys of the internal APIs.
pub mod keys {
    /// SC private port.
    pub const REGISTER_SPU: u16 = 2001;
    pub const WATCH_CONTROL: u16 = 2002;
    pub const REPORT_OFFSETS: u16 = 2003;
    pub const HEARTBEAT: u16 = 2004;
    pub const ALLOCATE_PRODUCER_IDS: u16 = 2005;
    /// SPU private port.
    pub const FOLLOWER_FETCH: u16 = 2101;
    pub const FOLLOWER_OFFSET_UPDATE: u16 = 2102;
    pub const EPOCH_END_OFFSET: u16 = 2103;
    pub const COMMIT_CONSUMER_OFFSET: u16 = 2104;
}

impl_api_request! {
    RegisterSpuRequest => RegisterSpuResponse, keys::REGISTER_SPU, REGISTER_SPU_VERSION, versions (0, REGISTER_SPU_VERSION);
    WatchControlRequest => ControlUpdate, keys::WATCH_CONTROL, INTERNAL_API_VERSION;
    ReportOffsetsRequest => ReportOffsetsResponse, keys::REPORT_OFFSETS, INTERNAL_API_VERSION;
    HeartbeatRequest => HeartbeatResponse, keys::HEARTBEAT, INTERNAL_API_VERSION;
    AllocateProducerIdsRequest => AllocateProducerIdsResponse, keys::ALLOCATE_PRODUCER_IDS, INTERNAL_API_VERSION;
    FollowerFetchRequest => FollowerFetchResponse, keys::FOLLOWER_FETCH, INTERNAL_API_VERSION;
    FollowerOffsetUpdateRequest => FollowerOffsetUpdateResponse, keys::FOLLOWER_OFFSET_UPDATE, INTERNAL_API_VERSION;
    EpochEndOffsetRequest => EpochEndOffsetResponse, keys::EPOCH_END_OFFSET, INTERNAL_API_VERSION;
    CommitConsumerOffsetRequest => CommitConsumerOffsetResponse, keys::COMMIT_CONSUMER_OFFSET, INTERNAL_API_VERSION;
}

api_enums! {
    /// Every request the SC's private port serves.
    pub enum ScPrivateRequest / ScPrivateResponse {
        RegisterSpu(RegisterSpuRequest),
        WatchControl(WatchControlRequest),
        ReportOffsets(ReportOffsetsRequest),
        Heartbeat(HeartbeatRequest),
        AllocateProducerIds(AllocateProducerIdsRequest),
    }
}

api_enums! {
    /// Every request an SPU's private port serves.
    pub enum SpuPrivateRequest / SpuPrivateResponse {
        FollowerFetch(FollowerFetchRequest),
        FollowerOffsetUpdate(FollowerOffsetUpdateRequest),
        EpochEndOffset(EpochEndOffsetRequest),
        CommitConsumerOffset(CommitConsumerOffsetRequest),
    }
}
