//! The metadata objects the SC owns, each a spec (what is asked for) and a status (what is).
//! Layouts are those of the official client at object API version 19; fields that exist only
//! from some version on say so in brackets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::{wire_enum, wire_struct};

/// An SPU id, as partitions and replica maps refer to it.
pub type SpuId = i32;

/// Mirroring (edge to core) is not supported: a value of this type cannot exist, so an
/// object that carries one fails to decode with a clear error and is never encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionMirrorConfig {}

impl Encode for PartitionMirrorConfig {
    fn encode(&self, _dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
        match *self {}
    }
}

impl Decode for PartitionMirrorConfig {
    fn decode(_src: &mut Reader<'_>, _version: Version) -> Result<Self, DecodeError> {
        Err(DecodeError::Invalid {
            what: "partition mirror config",
            reason: "mirroring is not supported by this cluster",
        })
    }
}

// ---------------------------------------------------------------------------------------
// Topic

wire_struct! {
    /// One partition of an assigned replica map.
    pub struct PartitionMap {
        pub id: u32,
        pub replicas: Vec<SpuId>,
        #[cfg_attr(feature = "arbitrary", proptest(value = "None"))]
        pub mirror: Option<PartitionMirrorConfig> [14..],
    }
}

/// How a topic's replicas are placed: computed by the SC or given explicitly.
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaSpec {
    Assigned(Vec<PartitionMap>),
    Computed {
        partitions: u32,
        replication_factor: u32,
        ignore_rack_assignment: bool,
    },
}

impl Default for ReplicaSpec {
    fn default() -> Self {
        ReplicaSpec::Computed {
            partitions: 1,
            replication_factor: 1,
            ignore_rack_assignment: false,
        }
    }
}

impl ReplicaSpec {
    /// The partition count clients use for key hashing.
    pub fn partition_count(&self) -> u32 {
        match self {
            ReplicaSpec::Assigned(maps) => maps.len() as u32,
            ReplicaSpec::Computed { partitions, .. } => *partitions,
        }
    }

    /// The number of replicas per partition (for an assigned map, that of its first entry).
    pub fn replication_factor(&self) -> u32 {
        match self {
            ReplicaSpec::Assigned(maps) => maps.first().map_or(0, |m| m.replicas.len() as u32),
            ReplicaSpec::Computed {
                replication_factor, ..
            } => *replication_factor,
        }
    }
}

impl Encode for ReplicaSpec {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            ReplicaSpec::Assigned(maps) => {
                0u8.encode(dst, version)?;
                maps.encode(dst, version)
            }
            ReplicaSpec::Computed {
                partitions,
                replication_factor,
                ignore_rack_assignment,
            } => {
                1u8.encode(dst, version)?;
                partitions.encode(dst, version)?;
                replication_factor.encode(dst, version)?;
                ignore_rack_assignment.encode(dst, version)
            }
        }
    }
}

impl Decode for ReplicaSpec {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(ReplicaSpec::Assigned(Vec::decode(src, version)?)),
            1 => Ok(ReplicaSpec::Computed {
                partitions: u32::decode(src, version)?,
                replication_factor: u32::decode(src, version)?,
                ignore_rack_assignment: bool::decode(src, version)?,
            }),
            2 => Err(DecodeError::Invalid {
                what: "topic replica spec",
                reason: "mirror topics are not supported by this cluster",
            }),
            tag => Err(DecodeError::UnknownTag {
                kind: "ReplicaSpec",
                tag: tag.into(),
            }),
        }
    }
}

/// When old data is deleted. The only policy is by segment age.
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupPolicy {
    Segment { time_in_seconds: u32 },
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy::Segment {
            time_in_seconds: 7 * 24 * 3600,
        }
    }
}

impl CleanupPolicy {
    pub fn retention_secs(&self) -> u32 {
        match self {
            CleanupPolicy::Segment { time_in_seconds } => *time_in_seconds,
        }
    }
}

impl Encode for CleanupPolicy {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            CleanupPolicy::Segment { time_in_seconds } => {
                0u8.encode(dst, version)?;
                time_in_seconds.encode(dst, version)
            }
        }
    }
}

impl Decode for CleanupPolicy {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(CleanupPolicy::Segment {
                time_in_seconds: u32::decode(src, version)?,
            }),
            tag => Err(DecodeError::UnknownTag {
                kind: "CleanupPolicy",
                tag: tag.into(),
            }),
        }
    }
}

wire_struct! {
    /// Per-topic storage limits.
    pub struct TopicStorageConfig {
        pub segment_size: Option<u32>,
        pub max_partition_size: Option<u64>,
    }
}

wire_enum! {
    /// A topic's compression setting (topic numbering: zstd is 5 here, 4 in batches).
    pub enum CompressionAlgorithm: u8 {
        Any = 4,
        None = 0,
        Gzip = 1,
        Snappy = 2,
        Lz4 = 3,
        Zstd = 5,
    }
}

wire_struct! {
    pub struct DedupBounds {
        pub count: u64,
        pub age: Option<Duration>,
    }
}

wire_struct! {
    pub struct DedupTransform {
        pub uses: String,
        pub with: BTreeMap<String, String>,
    }
}

wire_struct! {
    pub struct DedupFilter {
        pub transform: DedupTransform,
    }
}

wire_struct! {
    /// Deduplication settings. Carried and stored; not applied by this cluster.
    pub struct Deduplication {
        pub bounds: DedupBounds,
        pub filter: DedupFilter,
    }
}

wire_struct! {
    pub struct TopicSpec {
        pub replicas: ReplicaSpec,
        pub cleanup_policy: Option<CleanupPolicy> [3..],
        pub storage: Option<TopicStorageConfig> [4..],
        pub compression_type: CompressionAlgorithm [6..],
        pub deduplication: Option<Deduplication> [12..],
        pub system: bool [13..],
    }
}

wire_enum! {
    pub enum TopicResolution: u8 {
        Init = 0,
        Pending = 1,
        InsufficientResources = 2,
        InvalidConfig = 3,
        Provisioned = 4,
        Deleting = 5,
    }
}

impl TopicResolution {
    /// The lowercase label shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            TopicResolution::Init => "init",
            TopicResolution::Pending => "pending",
            TopicResolution::InsufficientResources => "insufficient-resources",
            TopicResolution::InvalidConfig => "invalid-config",
            TopicResolution::Provisioned => "provisioned",
            TopicResolution::Deleting => "deleting",
        }
    }
}

wire_struct! {
    pub struct TopicStatus {
        pub resolution: TopicResolution,
        /// Partition number to its replicas, the leader first.
        pub replica_map: BTreeMap<u32, Vec<SpuId>>,
        #[cfg_attr(feature = "arbitrary", proptest(value = "BTreeMap::new()"))]
        pub mirror_map: BTreeMap<u32, PartitionMirrorConfig> [14..],
        pub reason: String,
    }
}

// ---------------------------------------------------------------------------------------
// Partition

wire_struct! {
    pub struct PartitionSpec {
        pub leader: SpuId,
        pub replicas: Vec<SpuId>,
        pub cleanup_policy: Option<CleanupPolicy> [4..],
        pub storage: Option<TopicStorageConfig> [4..],
        pub compression_type: CompressionAlgorithm [6..],
        pub deduplication: Option<Deduplication> [12..],
        pub system: bool [13..],
        #[cfg_attr(feature = "arbitrary", proptest(value = "None"))]
        pub mirror: Option<PartitionMirrorConfig> [14..],
    }
}

wire_enum! {
    pub enum PartitionResolution: u8 {
        Offline = 0,
        Online = 1,
        LeaderOffline = 2,
        ElectionLeaderFound = 3,
        OutOfStorage = 4,
    }
}

impl PartitionResolution {
    pub fn label(self) -> &'static str {
        match self {
            PartitionResolution::Offline => "offline",
            PartitionResolution::Online => "online",
            PartitionResolution::LeaderOffline => "leader-offline",
            PartitionResolution::ElectionLeaderFound => "election-leader-found",
            PartitionResolution::OutOfStorage => "out-of-storage",
        }
    }
}

wire_struct! {
    /// Where one replica of a partition stands.
    pub struct ReplicaStatus {
        pub spu: SpuId,
        /// High watermark: offsets below it are committed.
        pub hw: i64,
        /// Log end offset: the next offset this replica will write.
        pub leo: i64,
    }
}

wire_struct! {
    pub struct PartitionStatus {
        pub resolution: PartitionResolution,
        pub leader: ReplicaStatus,
        /// Live replicas: how many replicas are in sync with the leader.
        pub lsr: u32,
        /// The followers' offsets.
        pub replicas: Vec<ReplicaStatus>,
        /// Bytes on disk; -2 means not known, -1 an error.
        pub size: i64 [5..],
        pub is_being_deleted: bool,
        pub base_offset: i64 [16..],
    }
}

// ---------------------------------------------------------------------------------------
// Partition state (ours): the SC's replication decisions about a partition, which the
// official Partition object has no field for. A kind of its own, so the official client,
// which never asks for it, sees the Partition bytes it always did.

wire_struct! {
    /// A partition's replication state as the SC decided it, named like its partition
    /// (`<topic>-<n>`).
    pub struct PartitionStateSpec {
        /// The leader the epoch belongs to.
        pub leader: SpuId,
        /// Bumped on every leader change; followers fence older leaders with it.
        pub leader_epoch: i32,
        /// The replicas (leader included) the SC confirmed in sync, in replica order:
        /// whom an election may choose.
        pub in_sync: Vec<SpuId>,
    }
}

wire_struct! {
    /// Empty: every object carries a status, and this one has nothing to report yet.
    pub struct PartitionStateStatus {}
}

// ---------------------------------------------------------------------------------------
// SPU

wire_enum! {
    pub enum SpuType: u8 {
        Managed = 0,
        Custom = 1,
    }
}

impl SpuType {
    /// The lowercase label shown in tables and messages.
    pub fn label(self) -> &'static str {
        match self {
            SpuType::Managed => "managed",
            SpuType::Custom => "custom",
        }
    }
}

wire_enum! {
    pub enum EncryptionType: u8 {
        Plaintext = 0,
        Ssl = 1,
    }
}

wire_struct! {
    pub struct IngressAddr {
        pub hostname: Option<String>,
        pub ip: Option<String>,
    }
}

wire_struct! {
    /// The address clients reach an SPU at. The client dials `ingress[0]` (hostname, else
    /// ip) at `port`.
    pub struct IngressPort {
        pub port: u16,
        pub ingress: Vec<IngressAddr>,
        pub encryption: EncryptionType,
    }
}

wire_struct! {
    pub struct Endpoint {
        pub port: u16,
        pub host: String,
        pub encryption: EncryptionType,
    }
}

impl IngressPort {
    /// The `host:port` a client dials.
    pub fn addr(&self) -> String {
        let host = self
            .ingress
            .first()
            .and_then(|a| a.hostname.clone().or_else(|| a.ip.clone()))
            .unwrap_or_else(|| "localhost".to_string());
        format!("{host}:{}", self.port)
    }

    pub fn from_host_port(host: &str, port: u16) -> Self {
        Self {
            port,
            ingress: vec![IngressAddr {
                hostname: Some(host.to_string()),
                ip: None,
            }],
            encryption: EncryptionType::Plaintext,
        }
    }
}

impl Endpoint {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn from_host_port(host: &str, port: u16) -> Self {
        Self {
            port,
            host: host.to_string(),
            encryption: EncryptionType::Plaintext,
        }
    }
}

wire_struct! {
    pub struct SpuSpec {
        pub id: SpuId,
        pub spu_type: SpuType,
        pub public_endpoint: IngressPort,
        pub private_endpoint: Endpoint,
        pub rack: Option<String>,
        pub public_endpoint_local: Option<Endpoint> [1..],
        /// Where Kafka clients reach the SPU, if it serves Kafka. Carried only at version
        /// 0, the internal SC→SPU version (the public List and Watch start at 15), so
        /// every SPU can name all brokers in a Kafka Metadata answer while the official
        /// client's bytes stay as they are. (Arbitrary specs leave it out: the public
        /// round trips would lose it by design; a test of its own covers it.)
        #[cfg_attr(feature = "arbitrary", proptest(value = "None"))]
        pub kafka_endpoint: Option<Endpoint> [0..=0],
    }
}

wire_enum! {
    pub enum SpuResolution: u8 {
        Online = 0,
        Offline = 1,
        Init = 2,
    }
}

impl SpuResolution {
    pub fn label(self) -> &'static str {
        match self {
            SpuResolution::Online => "online",
            SpuResolution::Offline => "offline",
            SpuResolution::Init => "init",
        }
    }
}

wire_struct! {
    pub struct SpuStatus {
        pub resolution: SpuResolution,
    }
}

// ---------------------------------------------------------------------------------------
// Custom SPU: an SPU registered by an operator and run elsewhere. Its status is an SPU
// status.

wire_struct! {
    pub struct CustomSpuSpec {
        pub id: SpuId,
        pub public_endpoint: IngressPort,
        pub private_endpoint: Endpoint,
        pub rack: Option<String>,
        pub public_endpoint_local: Option<Endpoint> [1..],
    }
}

/// How a custom SPU is named in a delete request.
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomSpuKey {
    Name(String),
    Id(SpuId),
}

impl Default for CustomSpuKey {
    fn default() -> Self {
        CustomSpuKey::Name(String::new())
    }
}

impl Encode for CustomSpuKey {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            CustomSpuKey::Name(name) => {
                0u8.encode(dst, version)?;
                name.encode(dst, version)
            }
            CustomSpuKey::Id(id) => {
                1u8.encode(dst, version)?;
                id.encode(dst, version)
            }
        }
    }
}

impl Decode for CustomSpuKey {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(CustomSpuKey::Name(String::decode(src, version)?)),
            1 => Ok(CustomSpuKey::Id(SpuId::decode(src, version)?)),
            tag => Err(DecodeError::UnknownTag {
                kind: "CustomSpuKey",
                tag: tag.into(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Auth token (ours): admits external SPUs whose id is in range.

wire_enum! {
    /// Which kinds of SPU a token admits.
    pub enum TokenType: u8 {
        Any = 0,
        Custom = 1,
        Managed = 2,
    }
}

impl TokenType {
    pub fn label(self) -> &'static str {
        match self {
            TokenType::Any => "any",
            TokenType::Custom => "custom",
            TokenType::Managed => "managed",
        }
    }

    /// Does a token of this type admit an SPU of `spu_type`?
    pub fn admits(self, spu_type: SpuType) -> bool {
        matches!(
            (self, spu_type),
            (TokenType::Any, _)
                | (TokenType::Custom, SpuType::Custom)
                | (TokenType::Managed, SpuType::Managed)
        )
    }
}

wire_struct! {
    /// An auth token as listed: never the secret.
    pub struct AuthTokenSpec {
        pub token_type: TokenType,
        pub min_spu: SpuId,
        pub max_spu: SpuId,
    }
}

wire_struct! {
    /// What a create request for an auth token carries: the spec and, only here, the
    /// 16-character secret.
    pub struct AuthTokenCreate {
        pub spec: AuthTokenSpec,
        pub secret: String,
    }
}

wire_enum! {
    pub enum AuthTokenResolution: u8 {
        Ok = 0,
        Invalid = 1,
    }
}

impl AuthTokenResolution {
    /// The lowercase label shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            AuthTokenResolution::Ok => "ok",
            AuthTokenResolution::Invalid => "invalid",
        }
    }
}

wire_struct! {
    pub struct AuthTokenStatus {
        pub resolution: AuthTokenResolution,
        pub reason: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn captured_topic_spec_and_status() {
        let spec = hex("01 00000001 00000001 01 00 00 04 00 00");
        let decoded = TopicSpec::from_bytes(&spec, 19).unwrap();
        assert_eq!(decoded.replicas.partition_count(), 1);
        assert_eq!(decoded.compression_type, CompressionAlgorithm::Any);
        assert_eq!(decoded.to_bytes(19).unwrap(), spec);

        let status = hex("04 0001 00000000 00000001 00001389 0000 0000");
        let decoded = TopicStatus::from_bytes(&status, 19).unwrap();
        assert_eq!(decoded.resolution, TopicResolution::Provisioned);
        assert_eq!(decoded.replica_map[&0], vec![5001]);
        assert_eq!(decoded.to_bytes(19).unwrap(), status);
    }

    #[test]
    fn captured_topic_spec_with_retention_storage_gzip() {
        let spec = hex("01 00000002 00000001 01 | 01 00 00000e10 | 01 01 00100000 01 0000000000a00000 | 01 | 00 | 00".replace('|', "").as_str());
        let decoded = TopicSpec::from_bytes(&spec, 19).unwrap();
        assert_eq!(decoded.cleanup_policy.unwrap().retention_secs(), 3600);
        let storage = decoded.storage.clone().unwrap();
        assert_eq!(storage.segment_size, Some(1 << 20));
        assert_eq!(storage.max_partition_size, Some(10 << 20));
        assert_eq!(decoded.compression_type, CompressionAlgorithm::Gzip);
        assert_eq!(decoded.to_bytes(19).unwrap(), spec);
    }

    #[test]
    fn captured_partition_spec_and_status() {
        let spec = hex("00001389 00000001 00001389 00 00 04 00 00 00");
        let decoded = PartitionSpec::from_bytes(&spec, 19).unwrap();
        assert_eq!(decoded.leader, 5001);
        assert_eq!(decoded.to_bytes(19).unwrap(), spec);
        let status = hex(
            "01 00001389 0000000000000000 0000000000000000 00000000 00000000 fffffffffffffffe 00 0000000000000000",
        );
        let decoded = PartitionStatus::from_bytes(&status, 19).unwrap();
        assert_eq!(decoded.resolution, PartitionResolution::Online);
        assert_eq!(decoded.size, -2);
        assert_eq!(decoded.to_bytes(19).unwrap(), status);
    }

    #[test]
    fn partition_state_layout() {
        let state = PartitionStateSpec {
            leader: 5002,
            leader_epoch: 3,
            in_sync: vec![5002, 5003],
        };
        let bytes = hex("0000138a 00000003 00000002 0000138a 0000138b");
        assert_eq!(state.to_bytes(19).unwrap(), bytes);
        assert_eq!(PartitionStateSpec::from_bytes(&bytes, 19).unwrap(), state);
        assert!(
            PartitionStateStatus::default()
                .to_bytes(19)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn captured_spu_spec() {
        let spec = hex(
            "00001389 01 4a3d 00000001 01 0009 3132372e302e302e31 00 00 4a3e 0009 3132372e302e302e31 00 00 00",
        );
        let decoded = SpuSpec::from_bytes(&spec, 19).unwrap();
        assert_eq!(decoded.id, 5001);
        assert_eq!(decoded.spu_type, SpuType::Custom);
        assert_eq!(decoded.public_endpoint.addr(), "127.0.0.1:19005");
        assert_eq!(decoded.private_endpoint.addr(), "127.0.0.1:19006");
        assert_eq!(decoded.to_bytes(19).unwrap(), spec);
    }

    #[test]
    fn mirror_configs_are_refused() {
        // An assigned map whose partition claims a mirror config.
        let bytes = hex("00 00000001 00000000 00000001 00001389 01");
        assert!(matches!(
            TopicSpec::from_bytes(&bytes, 19),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            TopicSpec::from_bytes(&[2], 19),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn token_types_admit() {
        assert!(TokenType::Any.admits(SpuType::Managed));
        assert!(TokenType::Custom.admits(SpuType::Custom));
        assert!(!TokenType::Custom.admits(SpuType::Managed));
    }
}
