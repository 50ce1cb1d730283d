//! The SC's private port: what SPUs send to the SC. See the [module docs](super) for the
//! protocol.

use crate::api::ErrorCode;
use crate::sc::{
    CompressionAlgorithm, Endpoint, IngressPort, ReplicaStatus, SpuId, SpuSpec, SpuType,
};
use crate::spu::ReplicaKey;
use crate::wire_struct;

wire_struct! {
    /// 2001: an SPU announces itself. The SC checks the token (for SPUs it did not start)
    /// and records the endpoints.
    pub struct RegisterSpuRequest {
        pub spu_id: SpuId,
        pub spu_type: SpuType,
        /// Where clients reach the SPU.
        pub public_endpoint: IngressPort,
        /// Where other SPUs reach it (follower fetch).
        pub private_endpoint: Endpoint,
        pub rack: Option<String>,
        pub token_name: Option<String>,
        pub token_secret: Option<String>,
        /// Where Kafka clients reach the SPU (its `--kafka-addr`), if it serves Kafka.
        pub kafka_endpoint: Option<Endpoint> [1..],
    }
}

wire_struct! {
    pub struct RegisterSpuResponse {
        pub error_code: ErrorCode,
        /// Why registration failed, for the SPU's log.
        pub message: Option<String>,
        /// Where clients reach the SC (`host:port` of its public port): the SPU's Kafka
        /// listener forwards admin requests (create topics, ...) there.
        pub sc_public_addr: Option<String> [1..],
        /// Version 1: set by an SC that does not lead (several SCs share one metadata
        /// store): the leading SC's private address, where the SPU registers instead.
        pub leader_sc: Option<String> [1..],
    }
}

wire_struct! {
    /// 2002: subscribe to the SC's control stream for `spu_id`. The answer is a stream of
    /// [`ControlUpdate`] frames on this request's correlation id, the first a full
    /// snapshot.
    pub struct WatchControlRequest {
        pub spu_id: SpuId,
    }
}

wire_struct! {
    /// Changes to the SPU directory. With `is_full`, `spus` is the whole directory and
    /// replaces what the SPU knew (and `deleted` is empty); otherwise `spus` are upserts
    /// by id and `deleted` the ids removed.
    ///
    /// `SpuSpec` is encoded at the internal version (0), so its `public_endpoint_local`
    /// (a v≥1 field that only clients use) is not carried.
    pub struct SpuUpdates {
        pub is_full: bool,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub spus: Vec<SpuSpec>,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub deleted: Vec<SpuId>,
    }
}

wire_struct! {
    /// One partition replica as the SC assigns it, with the topic settings the SPU
    /// enforces.
    pub struct Replica {
        pub key: ReplicaKey,
        pub leader: SpuId,
        /// All replicas, the leader first.
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub replicas: Vec<SpuId>,
        /// Increases on every leader change.
        pub leader_epoch: i32,
        /// The replicas the SC counts as in sync.
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub in_sync: Vec<SpuId>,
        /// Segment retention (cleanup policy), if the topic sets one.
        pub retention_secs: Option<u32>,
        pub segment_size: Option<u32>,
        pub max_partition_size: Option<u64>,
        /// The topic's compression setting: unless `Any`, produced batches must use exactly
        /// that codec (the SPU answers `CompressionError` otherwise).
        pub compression: CompressionAlgorithm,
        /// Writes are acknowledged with ReadCommitted only once this many replicas have them.
        pub min_in_sync: u32,
        pub is_being_deleted: bool,
    }
}

impl Replica {
    /// Is `spu` one of this partition's replicas?
    pub fn has_replica(&self, spu: SpuId) -> bool {
        self.replicas.contains(&spu)
    }

    /// The replicas other than the leader.
    pub fn followers(&self) -> impl Iterator<Item = SpuId> + '_ {
        self.replicas
            .iter()
            .copied()
            .filter(|id| *id != self.leader)
    }
}

wire_struct! {
    /// Changes to the replicas an SPU hosts. With `is_full`, `replicas` is every replica
    /// the SPU hosts (and `removed` is empty); otherwise upserts by key, and `removed` the
    /// replicas it no longer hosts.
    pub struct ReplicaUpdates {
        pub is_full: bool,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub replicas: Vec<Replica>,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub removed: Vec<ReplicaKey>,
    }
}

wire_struct! {
    /// One frame of the control stream. `epoch` increases with every change the SC makes.
    pub struct ControlUpdate {
        pub epoch: i64,
        pub spus: SpuUpdates,
        pub replicas: ReplicaUpdates,
        /// The leader of `consumer-offset-0`: in a full snapshot, the current one (`None`
        /// before the SC created it); in a change, `Some` when it changed.
        pub offsets_leader: Option<i32>,
    }
}

wire_struct! {
    /// Where one replica the SPU leads stands.
    pub struct ReplicaOffsetReport {
        pub key: ReplicaKey,
        pub leader_epoch: i32,
        pub hw: i64,
        pub leo: i64,
        pub log_start: i64,
        /// Bytes on disk.
        pub size: i64,
        /// The followers' offsets as the leader last heard them.
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub followers: Vec<ReplicaStatus>,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub in_sync: Vec<SpuId>,
    }
}

wire_struct! {
    /// 2003: the SPU's offsets for the replicas it leads, for partition status.
    pub struct ReportOffsetsRequest {
        pub spu_id: SpuId,
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_vec()"))]
        pub reports: Vec<ReplicaOffsetReport>,
    }
}

wire_struct! {
    pub struct ReportOffsetsResponse {
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// 2004: the SPU is alive. `time_ms` is its clock, for the SC's log.
    pub struct HeartbeatRequest {
        pub spu_id: SpuId,
        pub time_ms: i64,
    }
}

wire_struct! {
    pub struct HeartbeatResponse {
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// 2005: a block of `count` producer ids for the SPU to hand out to idempotent
    /// producers (Kafka's InitProducerId, and ours).
    pub struct AllocateProducerIdsRequest {
        pub spu_id: SpuId,
        pub count: i32,
    }
}

wire_struct! {
    /// The block is `first_id .. first_id + count`, never handed out before in this
    /// cluster: the SC persists the next free id before answering.
    pub struct AllocateProducerIdsResponse {
        pub error_code: ErrorCode,
        pub first_id: i64,
        pub count: i32,
    }
}
