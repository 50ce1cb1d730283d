//! Topic decisions: is a create request valid, and what status and partitions does a topic
//! get given the SPUs the SC knows.

use std::collections::{BTreeMap, BTreeSet};

use protocol::api::ErrorCode;
use protocol::sc::Metadata;
use protocol::sc::{
    CleanupPolicy, PartitionResolution, PartitionSpec, PartitionStatus, ReplicaSpec, ReplicaStatus,
    SpuId, SpuResolution, TopicResolution, TopicSpec, TopicStatus,
};

use super::assignment::{self, SpuPlacement};
use crate::sc::store::{Mutation, PartitionObj, Stores, TopicObj, partition_name};
use crate::storage::StorageConfig;

pub const MAX_NAME_LEN: usize = 63;
/// The limits the original Fluvio's topic schema (its Kubernetes custom resource) set on
/// partitions and replication factor; beyond them a typo is more likely than intent.
pub const MAX_PARTITIONS: u32 = 5000;
pub const MAX_REPLICATION: u32 = 5000;

/// Why a topic cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicRejection {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("invalid topic name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("a topic needs at least one partition")]
    NoPartitions,
    #[error("{0} partitions is more than the limit of {MAX_PARTITIONS}")]
    TooManyPartitions(u32),
    #[error("the replication factor must be at least 1")]
    NoReplication,
    #[error("replication factor {0} is more than the limit of {MAX_REPLICATION}")]
    TooMuchReplication(u32),
    #[error(
        "replica assignment: partition ids must run from 0 without gaps; expected {expected}, found {found}"
    )]
    PartitionIdGap { expected: u32, found: u32 },
    #[error("replica assignment: partition {partition} has no replicas")]
    EmptyReplicas { partition: u32 },
    #[error(
        "replica assignment: partition {partition} has {found} replicas but partition 0 has {expected}; all need the same count"
    )]
    ReplicaCountMismatch {
        partition: u32,
        expected: usize,
        found: usize,
    },
    #[error("replica assignment: partition {partition} lists SPU {spu} twice")]
    DuplicateReplica { partition: u32, spu: SpuId },
    #[error("replica assignment: partition {partition} lists negative SPU id {spu}")]
    NegativeReplica { partition: u32, spu: SpuId },
    #[error("replica assignment: invalid spu id: {spu} (no such SPU)")]
    UnknownSpu { spu: SpuId },
    #[error(
        "segment size of {} is too small: the smallest allowed segment size is {}, so that a segment holds the largest batch a producer may send; use --segment-size {} or more",
        size_text(u64::from(*size)),
        size_text(*min),
        short_size(*min)
    )]
    SegmentTooSmall { size: u32, min: u64 },
    #[error(
        "max partition size of {} is smaller than the {}segment size of {}; retention deletes whole segments, so the max partition size must be at least one segment: raise --max-partition-size or lower --segment-size",
        size_text(*max_partition_size),
        if *default_segment { "default " } else { "" },
        size_text(*segment_size)
    )]
    PartitionSmallerThanSegment {
        max_partition_size: u64,
        segment_size: u64,
        default_segment: bool,
    },
    #[error(
        "a retention time of 0 s would delete every segment as soon as it is sealed; give a positive --retention-time"
    )]
    NoRetention,
    #[error("topic '{0}' not found")]
    NotFound(String),
    #[error("topic '{0}' is a system topic; its partitions are fixed")]
    SystemTopic(String),
    #[error(
        "topic '{0}' has an explicit replica assignment; partitions can be added only to a topic created with a partition count"
    )]
    AssignedReplicas(String),
    #[error("add at least one partition")]
    NothingToAdd,
    #[error("cannot add partitions to topic '{name}': {reason}")]
    CannotPlace { name: String, reason: String },
}

impl TopicRejection {
    /// The code the official client understands: it has its own wording for 2002 and 2006
    /// and shows our message for the rest.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            TopicRejection::AlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            TopicRejection::InvalidName { .. } => ErrorCode::TopicInvalidName,
            TopicRejection::NotFound(_) => ErrorCode::TopicNotFound,
            TopicRejection::SystemTopic(name) => ErrorCode::SystemSpecUpdatingAttempt {
                kind: "topic".into(),
                name: name.clone(),
            },
            TopicRejection::AssignedReplicas(_) => ErrorCode::TopicInvalidReplicaType,
            _ => ErrorCode::TopicInvalidConfiguration,
        }
    }
}

/// `[a-z0-9-]`, at most 63 characters, starting and ending with a letter or digit (the
/// name becomes part of partition names and directory names).
pub fn validate_name(name: &str) -> Result<(), TopicRejection> {
    let reject = |reason| {
        Err(TopicRejection::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return reject("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return reject("at most 63 characters are allowed");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return reject("only lowercase a-z, 0-9 and '-' are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return reject("it must start and end with a letter or digit");
    }
    Ok(())
}

/// `2097152 bytes (2MiB)`: exact, and readable when the size is a round number.
fn size_text(bytes: u64) -> String {
    match short_size(bytes) {
        short if short.ends_with("iB") => format!("{bytes} bytes ({short})"),
        _ if bytes == 1 => "1 byte".to_string(),
        _ => format!("{bytes} bytes"),
    }
}

/// The size as `--segment-size` takes it: `2MiB` when it is a whole number of a binary
/// unit, plain bytes otherwise.
fn short_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Check the storage settings against each other and against the limits of the SPUs'
/// logs (the storage defaults are the one definition of them): settings an SPU could not
/// open a log with, or that would refuse the batches producers send, are refused here
/// rather than leaving a partition offline for good.
pub fn validate_storage(spec: &TopicSpec) -> Result<(), TopicRejection> {
    let limits = StorageConfig::default();
    let storage = spec.storage.as_ref();
    let segment = storage.and_then(|s| s.segment_size);
    if let Some(size) = segment
        && u64::from(size) < limits.max_batch_bytes
    {
        return Err(TopicRejection::SegmentTooSmall {
            size,
            min: limits.max_batch_bytes,
        });
    }
    let segment_size = segment.map_or(limits.segment_max_bytes, u64::from);
    if let Some(max_partition_size) = storage.and_then(|s| s.max_partition_size)
        && max_partition_size < segment_size
    {
        return Err(TopicRejection::PartitionSmallerThanSegment {
            max_partition_size,
            segment_size,
            default_segment: segment.is_none(),
        });
    }
    match spec.cleanup_policy {
        Some(CleanupPolicy::Segment { time_in_seconds: 0 }) => Err(TopicRejection::NoRetention),
        _ => Ok(()),
    }
}

/// Check a spec on its own and, for an assigned map, against the SPUs that exist.
pub fn validate_spec(spec: &TopicSpec, known_spus: &BTreeSet<SpuId>) -> Result<(), TopicRejection> {
    validate_storage(spec)?;
    match &spec.replicas {
        ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ..
        } => {
            check_counts(*partitions, *replication_factor)?;
        }
        ReplicaSpec::Assigned(maps) => {
            let expected = maps.first().map_or(0, |m| m.replicas.len());
            check_counts(maps.len() as u32, expected as u32)?;
            let mut ids: Vec<u32> = maps.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            for (expected, found) in (0u32..).zip(ids) {
                if expected != found {
                    return Err(TopicRejection::PartitionIdGap { expected, found });
                }
            }
            for map in maps {
                if map.replicas.is_empty() {
                    return Err(TopicRejection::EmptyReplicas { partition: map.id });
                }
                if map.replicas.len() != expected {
                    return Err(TopicRejection::ReplicaCountMismatch {
                        partition: map.id,
                        expected,
                        found: map.replicas.len(),
                    });
                }
                let mut seen = BTreeSet::new();
                for &spu in &map.replicas {
                    if spu < 0 {
                        return Err(TopicRejection::NegativeReplica {
                            partition: map.id,
                            spu,
                        });
                    }
                    if !seen.insert(spu) {
                        return Err(TopicRejection::DuplicateReplica {
                            partition: map.id,
                            spu,
                        });
                    }
                    if !known_spus.contains(&spu) {
                        return Err(TopicRejection::UnknownSpu { spu });
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_counts(partitions: u32, replication: u32) -> Result<(), TopicRejection> {
    if partitions == 0 {
        return Err(TopicRejection::NoPartitions);
    }
    if partitions > MAX_PARTITIONS {
        return Err(TopicRejection::TooManyPartitions(partitions));
    }
    if replication == 0 {
        return Err(TopicRejection::NoReplication);
    }
    if replication > MAX_REPLICATION {
        return Err(TopicRejection::TooMuchReplication(replication));
    }
    Ok(())
}

/// A topic's status and the partitions it should have, decided from its spec and SPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicPlan {
    pub status: TopicStatus,
    pub partitions: Vec<PartitionObj>,
}

/// The SPUs as placement sees them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpuSet {
    /// Online SPUs: a computed topic is placed on these only, because a replica on an SPU
    /// that is down serves nobody until it comes back.
    pub online: Vec<SpuPlacement>,
    /// Every registered SPU, online or not: an assigned map may name any of them, as the
    /// user chose it.
    pub registered: BTreeSet<SpuId>,
}

/// Place a topic. Too few online SPUs gives `insufficient-resources` with a reason and no
/// partitions; an assigned map naming an SPU that is not registered gives `invalid-config`.
pub fn plan(name: &str, spec: &TopicSpec, spus: &SpuSet, start: usize) -> TopicPlan {
    let replica_map: Result<Vec<Vec<SpuId>>, String> = match &spec.replicas {
        ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ignore_rack_assignment,
        } => assignment::assign(
            &spus.online,
            *partitions,
            *replication_factor,
            start,
            *ignore_rack_assignment,
        )
        .map_err(|err| err.to_string()),
        ReplicaSpec::Assigned(maps) => {
            let mut maps = maps.clone();
            maps.sort_by_key(|m| m.id);
            match maps
                .iter()
                .flat_map(|m| &m.replicas)
                .find(|id| !spus.registered.contains(id))
            {
                Some(missing) => Err(format!("invalid spu id: {missing}")),
                None => Ok(maps.into_iter().map(|m| m.replicas).collect()),
            }
        }
    };
    match replica_map {
        Ok(map) => TopicPlan {
            status: TopicStatus {
                resolution: TopicResolution::Provisioned,
                replica_map: (0u32..).zip(map.iter().cloned()).collect(),
                mirror_map: BTreeMap::new(),
                reason: String::new(),
            },
            partitions: (0u32..)
                .zip(map)
                .map(|(index, replicas)| new_partition(name, index, spec, replicas))
                .collect(),
        },
        Err(reason) => {
            let resolution = match spec.replicas {
                ReplicaSpec::Computed { .. } => TopicResolution::InsufficientResources,
                ReplicaSpec::Assigned(_) => TopicResolution::InvalidConfig,
            };
            TopicPlan {
                status: TopicStatus {
                    resolution,
                    reason,
                    ..Default::default()
                },
                partitions: Vec::new(),
            }
        }
    }
}

fn new_partition(topic: &str, index: u32, spec: &TopicSpec, replicas: Vec<SpuId>) -> PartitionObj {
    let leader = replicas.first().copied().unwrap_or(-1);
    Metadata::new(
        partition_name(topic, index),
        PartitionSpec {
            leader,
            replicas,
            cleanup_policy: spec.cleanup_policy,
            storage: spec.storage.clone(),
            compression_type: spec.compression_type,
            deduplication: spec.deduplication.clone(),
            system: spec.system,
            mirror: None,
        },
        PartitionStatus {
            resolution: PartitionResolution::Offline,
            leader: ReplicaStatus {
                spu: leader,
                hw: 0,
                leo: 0,
            },
            size: -2,
            ..Default::default()
        },
    )
}

/// The SPUs the SC may place replicas on now. Seed-era Fluvio counted every registered
/// SPU, so a topic could land on one that never started and report provisioned while no
/// one could write to it.
pub fn spu_set(stores: &Stores) -> SpuSet {
    SpuSet {
        online: stores
            .spus
            .values()
            .filter(|s| s.status.resolution == SpuResolution::Online)
            .map(|s| SpuPlacement {
                id: s.spec.id,
                rack: s.spec.rack.clone(),
            })
            .collect(),
        registered: stores.spus.values().map(|s| s.spec.id).collect(),
    }
}

/// Validate and plan a new topic: the mutations that create it.
pub fn create(
    stores: &Stores,
    name: &str,
    spec: &TopicSpec,
    start: usize,
) -> Result<Vec<Mutation>, TopicRejection> {
    validate_name(name)?;
    if stores.topics.contains_key(name) {
        return Err(TopicRejection::AlreadyExists(name.to_string()));
    }
    let spus = spu_set(stores);
    validate_spec(spec, &spus.registered)?;
    let plan = plan(name, spec, &spus, start);
    let mut mutations = vec![Mutation::PutTopic(Metadata::new(
        name,
        spec.clone(),
        plan.status,
    ))];
    mutations.extend(plan.partitions.into_iter().map(Mutation::PutPartition));
    Ok(mutations)
}

/// The mutations that delete a topic and its partitions, or `None` if it does not exist.
pub fn delete(stores: &Stores, name: &str) -> Option<Vec<Mutation>> {
    stores.topics.get(name)?;
    let mut mutations: Vec<Mutation> = stores
        .partitions_of(name)
        .map(|p| Mutation::DeletePartition(p.name.clone()))
        .collect();
    mutations.push(Mutation::DeleteTopic(name.to_string()));
    Some(mutations)
}

/// The mutations that add `count` partitions to topic `name`, after its existing ones.
///
/// Only a topic created with a partition count grows (an explicit assignment is the
/// user's to rewrite); a system topic never does. A provisioned topic's new partitions are
/// placed on the online SPUs now, or the request is refused and nothing changes; a topic
/// still waiting for SPUs just asks for more partitions when it is placed.
pub fn add_partitions(
    stores: &Stores,
    name: &str,
    count: u32,
    start: usize,
) -> Result<Vec<Mutation>, TopicRejection> {
    let topic = stores
        .topics
        .get(name)
        .ok_or_else(|| TopicRejection::NotFound(name.to_string()))?;
    if topic.spec.system {
        return Err(TopicRejection::SystemTopic(name.to_string()));
    }
    let ReplicaSpec::Computed {
        partitions,
        replication_factor,
        ignore_rack_assignment,
    } = topic.spec.replicas
    else {
        return Err(TopicRejection::AssignedReplicas(name.to_string()));
    };
    if count == 0 {
        return Err(TopicRejection::NothingToAdd);
    }
    let total = partitions.saturating_add(count);
    check_counts(total, replication_factor)?;
    let mut spec = topic.spec.clone();
    spec.replicas = ReplicaSpec::Computed {
        partitions: total,
        replication_factor,
        ignore_rack_assignment,
    };
    if waiting(topic) {
        return Ok(vec![Mutation::PutTopic(Metadata::new(
            name,
            spec,
            topic.status.clone(),
        ))]);
    }
    let spus = spu_set(stores);
    let added = assignment::assign(
        &spus.online,
        count,
        replication_factor,
        start,
        ignore_rack_assignment,
    )
    .map_err(|err| TopicRejection::CannotPlace {
        name: name.to_string(),
        reason: err.to_string(),
    })?;
    let existing = topic.status.replica_map.len() as u32;
    let mut status = topic.status.clone();
    let mut mutations = Vec::new();
    for (index, replicas) in (existing..).zip(added) {
        status.replica_map.insert(index, replicas.clone());
        mutations.push(Mutation::PutPartition(new_partition(
            name, index, &spec, replicas,
        )));
    }
    mutations.insert(0, Mutation::PutTopic(Metadata::new(name, spec, status)));
    Ok(mutations)
}

/// Topics waiting for SPUs, re-planned against the current SPUs: the mutations that
/// provision those that now fit (or update their reason).
pub fn reconcile_waiting(stores: &Stores, start: usize) -> Vec<Mutation> {
    let spus = spu_set(stores);
    let mut mutations = Vec::new();
    for (offset, topic) in stores.topics.values().filter(|t| waiting(t)).enumerate() {
        let plan = plan(&topic.name, &topic.spec, &spus, start + offset);
        if plan.status != topic.status {
            mutations.push(Mutation::PutTopic(Metadata::new(
                topic.name.clone(),
                topic.spec.clone(),
                plan.status,
            )));
            mutations.extend(plan.partitions.into_iter().map(Mutation::PutPartition));
        }
    }
    mutations
}

fn waiting(topic: &TopicObj) -> bool {
    matches!(
        topic.status.resolution,
        TopicResolution::Init
            | TopicResolution::Pending
            | TopicResolution::InsufficientResources
            | TopicResolution::InvalidConfig
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::{PartitionMap, SpuSpec, SpuStatus, TopicStorageConfig};

    fn computed(partitions: u32, replication_factor: u32) -> TopicSpec {
        TopicSpec {
            replicas: ReplicaSpec::Computed {
                partitions,
                replication_factor,
                ignore_rack_assignment: false,
            },
            ..Default::default()
        }
    }

    fn assigned(maps: &[(u32, &[SpuId])]) -> TopicSpec {
        TopicSpec {
            replicas: ReplicaSpec::Assigned(
                maps.iter()
                    .map(|(id, r)| PartitionMap {
                        id: *id,
                        replicas: r.to_vec(),
                        mirror: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn add_spu(stores: &mut Stores, id: SpuId, rack: Option<&str>, resolution: SpuResolution) {
        stores.spus.insert(
            id.to_string(),
            Metadata::new(
                id.to_string(),
                SpuSpec {
                    id,
                    rack: rack.map(str::to_string),
                    ..Default::default()
                },
                SpuStatus { resolution },
            ),
        );
    }

    /// Online SPUs.
    fn stores_with_spus(ids: &[SpuId]) -> Stores {
        let mut stores = Stores::default();
        for &id in ids {
            add_spu(&mut stores, id, None, SpuResolution::Online);
        }
        stores
    }

    fn topic_of(mutations: &[Mutation]) -> &TopicObj {
        match mutations.first() {
            Some(Mutation::PutTopic(topic)) => topic,
            other => panic!("expected the topic first, got {other:?}"),
        }
    }

    fn partitions_of(mutations: &[Mutation]) -> Vec<&PartitionObj> {
        mutations
            .iter()
            .filter_map(|m| match m {
                Mutation::PutPartition(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn with_storage(
        segment_size: Option<u32>,
        max_partition_size: Option<u64>,
        retention_secs: Option<u32>,
    ) -> TopicSpec {
        TopicSpec {
            storage: Some(TopicStorageConfig {
                segment_size,
                max_partition_size,
            }),
            cleanup_policy: retention_secs
                .map(|time_in_seconds| CleanupPolicy::Segment { time_in_seconds }),
            ..computed(1, 1)
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("my-topic-1").is_ok());
        assert!(validate_name(&"a".repeat(63)).is_ok());
        for bad in [
            "",
            "Upper",
            "under_score",
            "dot.ted",
            "-lead",
            "trail-",
            &"a".repeat(64),
        ] {
            let err = validate_name(bad).unwrap_err();
            assert_eq!(err.error_code(), ErrorCode::TopicInvalidName, "{bad}");
        }
    }

    #[test]
    fn counts() {
        let none = BTreeSet::new();
        assert_eq!(
            validate_spec(&computed(0, 1), &none),
            Err(TopicRejection::NoPartitions)
        );
        assert_eq!(
            validate_spec(&computed(1, 0), &none),
            Err(TopicRejection::NoReplication)
        );
        assert!(matches!(
            validate_spec(&computed(5001, 1), &none),
            Err(TopicRejection::TooManyPartitions(5001))
        ));
        assert!(validate_spec(&computed(3, 2), &none).is_ok());
    }

    #[test]
    fn assigned_maps() {
        let known: BTreeSet<SpuId> = [1, 2, 3].into();
        assert!(validate_spec(&assigned(&[(1, &[1, 2]), (0, &[2, 3])]), &known).is_ok());
        assert_eq!(
            validate_spec(&assigned(&[(0, &[1]), (2, &[2])]), &known),
            Err(TopicRejection::PartitionIdGap {
                expected: 1,
                found: 2
            })
        );
        assert!(matches!(
            validate_spec(&assigned(&[(0, &[1, 2]), (1, &[2])]), &known),
            Err(TopicRejection::ReplicaCountMismatch { partition: 1, .. })
        ));
        assert_eq!(
            validate_spec(&assigned(&[(0, &[1, 1])]), &known),
            Err(TopicRejection::DuplicateReplica {
                partition: 0,
                spu: 1
            })
        );
        assert_eq!(
            validate_spec(&assigned(&[(0, &[-1])]), &known),
            Err(TopicRejection::NegativeReplica {
                partition: 0,
                spu: -1
            })
        );
        assert_eq!(
            validate_spec(&assigned(&[(0, &[9])]), &known),
            Err(TopicRejection::UnknownSpu { spu: 9 })
        );
        assert_eq!(
            validate_spec(&assigned(&[]), &known),
            Err(TopicRejection::NoPartitions)
        );
    }

    #[test]
    fn create_provisions_partitions() {
        let stores = stores_with_spus(&[5001, 5002]);
        let mutations = create(&stores, "t", &computed(3, 2), 0).unwrap();
        let Mutation::PutTopic(topic) = &mutations[0] else {
            panic!("{mutations:?}")
        };
        assert_eq!(topic.status.resolution, TopicResolution::Provisioned);
        assert_eq!(topic.status.replica_map.len(), 3);
        let partitions: Vec<&PartitionObj> = mutations
            .iter()
            .filter_map(|m| match m {
                Mutation::PutPartition(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(
            partitions
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["t-0", "t-1", "t-2"]
        );
        assert_eq!(partitions[0].spec.leader, partitions[0].spec.replicas[0]);
        assert_eq!(partitions[1].spec.replicas.len(), 2);
    }

    #[test]
    fn create_rejects_duplicates_and_bad_names() {
        let mut stores = stores_with_spus(&[1]);
        for m in create(&stores, "t", &computed(1, 1), 0).unwrap() {
            if let Mutation::PutTopic(t) = m {
                stores.topics.insert(t.name.clone(), t);
            }
        }
        let dup = create(&stores, "t", &computed(1, 1), 0).unwrap_err();
        assert_eq!(dup.error_code(), ErrorCode::TopicAlreadyExists);
        let bad = create(&stores, "Bad", &computed(1, 1), 0).unwrap_err();
        assert_eq!(bad.error_code(), ErrorCode::TopicInvalidName);
    }

    #[test]
    fn insufficient_resources_until_spus_join() {
        let mut stores = stores_with_spus(&[1]);
        let mutations = create(&stores, "t", &computed(2, 3), 0).unwrap();
        assert_eq!(mutations.len(), 1, "no partitions without SPUs");
        let Mutation::PutTopic(topic) = &mutations[0] else {
            panic!()
        };
        assert_eq!(
            topic.status.resolution,
            TopicResolution::InsufficientResources
        );
        assert_eq!(
            topic.status.reason,
            "insufficient resources: replication factor 3 needs 3 online SPUs, 1 online (need 2 more SPUs)"
        );
        stores.topics.insert("t".into(), topic.clone());

        assert!(
            reconcile_waiting(&stores, 0).is_empty(),
            "still short, nothing changes"
        );
        let more = stores_with_spus(&[2, 3]);
        stores.spus.extend(more.spus);
        let mutations = reconcile_waiting(&stores, 0);
        let Mutation::PutTopic(topic) = &mutations[0] else {
            panic!()
        };
        assert_eq!(topic.status.resolution, TopicResolution::Provisioned);
        assert_eq!(mutations.len(), 3, "topic and two partitions");
    }

    #[test]
    fn computed_topics_land_on_online_spus_only() {
        let mut stores = stores_with_spus(&[5001]);
        add_spu(&mut stores, 7001, None, SpuResolution::Offline);
        add_spu(&mut stores, 7002, None, SpuResolution::Init);
        let mutations = create(&stores, "place", &computed(4, 1), 0).unwrap();
        assert_eq!(
            topic_of(&mutations).status.resolution,
            TopicResolution::Provisioned
        );
        let partitions = partitions_of(&mutations);
        assert_eq!(partitions.len(), 4);
        for p in partitions {
            assert_eq!(p.spec.replicas, vec![5001], "{}", p.name);
            assert_eq!(p.spec.leader, 5001, "{}", p.name);
        }
    }

    #[test]
    fn offline_spus_do_not_count_towards_the_replication_factor() {
        let mut stores = stores_with_spus(&[1]);
        add_spu(&mut stores, 2, None, SpuResolution::Offline);
        add_spu(&mut stores, 3, None, SpuResolution::Offline);
        let mutations = create(&stores, "t", &computed(1, 3), 0).unwrap();
        assert_eq!(mutations.len(), 1, "no partitions: {mutations:?}");
        let topic = topic_of(&mutations);
        assert_eq!(
            topic.status.resolution,
            TopicResolution::InsufficientResources
        );
        assert!(
            topic.status.reason.ends_with("1 online (need 2 more SPUs)"),
            "{}",
            topic.status.reason
        );
    }

    #[test]
    fn racks_are_kept_among_online_spus() {
        let mut stores = Stores::default();
        add_spu(&mut stores, 1, Some("a"), SpuResolution::Online);
        add_spu(&mut stores, 2, Some("a"), SpuResolution::Online);
        add_spu(&mut stores, 3, Some("b"), SpuResolution::Offline);
        add_spu(&mut stores, 4, Some("b"), SpuResolution::Online);
        add_spu(&mut stores, 5, Some("b"), SpuResolution::Online);
        let mutations = create(&stores, "t", &computed(6, 2), 0).unwrap();
        assert_eq!(partitions_of(&mutations).len(), 6);
        let rack = |id: SpuId| stores.spus[&id.to_string()].spec.rack.clone();
        for p in partitions_of(&mutations) {
            assert!(!p.spec.replicas.contains(&3), "{:?}", p.spec.replicas);
            assert_ne!(
                rack(p.spec.replicas[0]),
                rack(p.spec.replicas[1]),
                "{:?} spans both racks",
                p.spec.replicas
            );
        }
    }

    #[test]
    fn an_assigned_map_may_name_an_offline_spu() {
        let mut stores = stores_with_spus(&[1]);
        add_spu(&mut stores, 2, None, SpuResolution::Offline);
        let mutations = create(&stores, "t", &assigned(&[(0, &[2, 1])]), 0).unwrap();
        assert_eq!(
            topic_of(&mutations).status.resolution,
            TopicResolution::Provisioned
        );
        assert_eq!(partitions_of(&mutations)[0].spec.leader, 2);
    }

    #[test]
    fn an_spu_coming_online_places_a_waiting_topic() {
        let mut stores = stores_with_spus(&[1]);
        add_spu(&mut stores, 2, None, SpuResolution::Offline);
        let mutations = create(&stores, "t", &computed(2, 2), 0).unwrap();
        let topic = topic_of(&mutations).clone();
        assert_eq!(
            topic.status.resolution,
            TopicResolution::InsufficientResources
        );
        stores.topics.insert("t".into(), topic);
        assert!(reconcile_waiting(&stores, 0).is_empty());

        stores.spus.get_mut("2").unwrap().status.resolution = SpuResolution::Online;
        let mutations = reconcile_waiting(&stores, 0);
        assert_eq!(
            topic_of(&mutations).status.resolution,
            TopicResolution::Provisioned
        );
        let partitions = partitions_of(&mutations);
        assert_eq!(partitions.len(), 2);
        for p in partitions {
            let mut replicas = p.spec.replicas.clone();
            replicas.sort_unstable();
            assert_eq!(replicas, vec![1, 2], "{}", p.name);
        }
    }

    #[test]
    fn storage_settings_are_checked_against_the_log_limits() {
        let limits = StorageConfig::default();
        let none = BTreeSet::new();
        let tiny = validate_spec(&with_storage(Some(1), None, None), &none).unwrap_err();
        assert_eq!(
            tiny,
            TopicRejection::SegmentTooSmall {
                size: 1,
                min: limits.max_batch_bytes
            }
        );
        assert_eq!(tiny.error_code(), ErrorCode::TopicInvalidConfiguration);
        assert!(
            tiny.to_string().contains(
                "segment size of 1 byte is too small: the smallest allowed segment size is 2097152 bytes (2MiB)"
            ),
            "{tiny}"
        );
        assert!(tiny.to_string().contains("--segment-size 2MiB"), "{tiny}");

        let smallest = limits.max_batch_bytes as u32;
        assert!(validate_storage(&with_storage(Some(smallest), None, None)).is_ok());
        assert!(matches!(
            validate_storage(&with_storage(Some(smallest - 1), None, None)),
            Err(TopicRejection::SegmentTooSmall { .. })
        ));

        let below =
            validate_storage(&with_storage(Some(4 << 20), Some(3 << 20), None)).unwrap_err();
        assert_eq!(
            below.to_string(),
            "max partition size of 3145728 bytes (3MiB) is smaller than the segment size of 4194304 bytes (4MiB); retention deletes whole segments, so the max partition size must be at least one segment: raise --max-partition-size or lower --segment-size"
        );
        let below_default =
            validate_storage(&with_storage(None, Some(10 << 20), None)).unwrap_err();
        assert!(
            below_default
                .to_string()
                .contains("smaller than the default segment size of 1073741824 bytes (1GiB)"),
            "{below_default}"
        );
        assert!(validate_storage(&with_storage(Some(4 << 20), Some(4 << 20), Some(60))).is_ok());
        assert!(
            validate_storage(&with_storage(None, Some(limits.segment_max_bytes), None)).is_ok()
        );

        assert_eq!(
            validate_storage(&with_storage(None, None, Some(0))),
            Err(TopicRejection::NoRetention)
        );
    }

    #[test]
    fn a_refused_config_creates_nothing() {
        let stores = stores_with_spus(&[1]);
        let err = create(&stores, "x", &with_storage(Some(1), None, None), 0).unwrap_err();
        assert!(matches!(err, TopicRejection::SegmentTooSmall { .. }));
    }

    fn apply_all(stores: &mut Stores, mutations: Vec<Mutation>) {
        for m in mutations {
            match m {
                Mutation::PutTopic(t) => drop(stores.topics.insert(t.name.clone(), t)),
                Mutation::PutPartition(p) => drop(stores.partitions.insert(p.name.clone(), p)),
                _ => {}
            }
        }
    }

    #[test]
    fn partitions_are_added_after_the_existing_ones() {
        let mut stores = stores_with_spus(&[5001, 5002, 5003]);
        let created = create(&stores, "t", &computed(2, 2), 0).unwrap();
        apply_all(&mut stores, created);
        let before = stores.topics["t"].status.replica_map.clone();
        let mutations = add_partitions(&stores, "t", 3, 1).unwrap();
        let topic = topic_of(&mutations);
        assert_eq!(
            topic.spec.replicas,
            ReplicaSpec::Computed {
                partitions: 5,
                replication_factor: 2,
                ignore_rack_assignment: false
            }
        );
        assert_eq!(topic.status.resolution, TopicResolution::Provisioned);
        // The existing partitions keep their replicas; three new ones follow them.
        assert_eq!(topic.status.replica_map.len(), 5);
        for (index, replicas) in &before {
            assert_eq!(&topic.status.replica_map[index], replicas);
        }
        let added = partitions_of(&mutations);
        assert_eq!(
            added.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["t-2", "t-3", "t-4"]
        );
        for p in &added {
            assert_eq!(p.spec.replicas.len(), 2);
            assert_eq!(p.spec.leader, p.spec.replicas[0]);
            let index: u32 = p.name.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(topic.status.replica_map[&index], p.spec.replicas);
        }
        // Leaders of the new partitions spread over the SPUs.
        let leaders: BTreeSet<SpuId> = added.iter().map(|p| p.spec.leader).collect();
        assert_eq!(leaders.len(), 3);
        apply_all(&mut stores, mutations);
        assert_eq!(stores.partitions_of("t").count(), 5);
    }

    #[test]
    fn adding_partitions_is_refused_with_a_reason() {
        let mut stores = stores_with_spus(&[5001]);
        let created = create(&stores, "t", &computed(1, 1), 0).unwrap();
        apply_all(&mut stores, created);
        let created = create(&stores, "fixed", &assigned(&[(0, &[5001])]), 0).unwrap();
        apply_all(&mut stores, created);
        let missing = add_partitions(&stores, "nope", 1, 0).unwrap_err();
        assert_eq!(missing.error_code(), ErrorCode::TopicNotFound);
        let fixed = add_partitions(&stores, "fixed", 1, 0).unwrap_err();
        assert_eq!(fixed.error_code(), ErrorCode::TopicInvalidReplicaType);
        assert!(matches!(
            add_partitions(&stores, "t", 0, 0),
            Err(TopicRejection::NothingToAdd)
        ));
        assert!(matches!(
            add_partitions(&stores, "t", MAX_PARTITIONS, 0),
            Err(TopicRejection::TooManyPartitions(_))
        ));
        let mut system = stores.topics["t"].clone();
        system.spec.system = true;
        stores.topics.insert("t".into(), system);
        let err = add_partitions(&stores, "t", 1, 0).unwrap_err();
        assert_eq!(
            err.error_code(),
            ErrorCode::SystemSpecUpdatingAttempt {
                kind: "topic".into(),
                name: "t".into()
            }
        );
    }

    #[test]
    fn partitions_that_cannot_be_placed_change_nothing() {
        let mut stores = stores_with_spus(&[5001, 5002]);
        let created = create(&stores, "t", &computed(1, 2), 0).unwrap();
        apply_all(&mut stores, created);
        // One SPU goes offline: a new partition cannot get two replicas.
        stores
            .spus
            .values_mut()
            .find(|s| s.spec.id == 5002)
            .unwrap()
            .status
            .resolution = SpuResolution::Offline;
        let err = add_partitions(&stores, "t", 1, 0).unwrap_err();
        assert!(
            matches!(&err, TopicRejection::CannotPlace { reason, .. } if reason.contains("replication factor 2")),
            "{err}"
        );
    }

    #[test]
    fn a_waiting_topic_just_asks_for_more() {
        let mut stores = stores_with_spus(&[1]);
        let created = create(&stores, "t", &computed(2, 3), 0).unwrap();
        apply_all(&mut stores, created);
        let mutations = add_partitions(&stores, "t", 2, 0).unwrap();
        assert_eq!(mutations.len(), 1);
        let topic = topic_of(&mutations);
        assert_eq!(
            topic.status.resolution,
            TopicResolution::InsufficientResources
        );
        apply_all(&mut stores, mutations);
        stores.spus.extend(stores_with_spus(&[2, 3]).spus);
        let placed = reconcile_waiting(&stores, 0);
        assert_eq!(partitions_of(&placed).len(), 4);
    }

    #[test]
    fn delete_takes_partitions_along() {
        let mut stores = stores_with_spus(&[1]);
        for m in create(&stores, "t", &computed(2, 1), 0).unwrap() {
            match m {
                Mutation::PutTopic(t) => drop(stores.topics.insert(t.name.clone(), t)),
                Mutation::PutPartition(p) => drop(stores.partitions.insert(p.name.clone(), p)),
                _ => {}
            }
        }
        let mutations = delete(&stores, "t").unwrap();
        assert_eq!(mutations.len(), 3);
        assert!(delete(&stores, "missing").is_none());
    }
}
