//! Topic decisions: is a create request valid, and what status and partitions does a topic
//! get given the SPUs the SC knows.

use std::collections::{BTreeMap, BTreeSet};

use protocol::api::ErrorCode;
use protocol::sc::Metadata;
use protocol::sc::{
    PartitionResolution, PartitionSpec, PartitionStatus, ReplicaSpec, ReplicaStatus, SpuId,
    TopicResolution, TopicSpec, TopicStatus,
};

use super::assignment::{self, AssignmentError, SpuPlacement};
use crate::sc::store::{Mutation, PartitionObj, Stores, TopicObj, partition_name};

pub const MAX_NAME_LEN: usize = 63;
/// Limits of the seed-era schema; beyond them a typo is more likely than intent.
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
}

impl TopicRejection {
    /// The code the official client understands: it has its own wording for 2002 and 2006
    /// and shows our message for the rest.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            TopicRejection::AlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            TopicRejection::InvalidName { .. } => ErrorCode::TopicInvalidName,
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

/// Check a spec on its own and, for an assigned map, against the SPUs that exist.
pub fn validate_spec(spec: &TopicSpec, known_spus: &BTreeSet<SpuId>) -> Result<(), TopicRejection> {
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

/// Place a topic on `spus`. Too few SPUs gives `insufficient-resources` with a reason
/// and no partitions; an assigned map naming a missing SPU gives `invalid-config`.
pub fn plan(name: &str, spec: &TopicSpec, spus: &[SpuPlacement], start: usize) -> TopicPlan {
    let replica_map: Result<Vec<Vec<SpuId>>, String> = match &spec.replicas {
        ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ignore_rack_assignment,
        } => assignment::assign(
            spus,
            *partitions,
            *replication_factor,
            start,
            *ignore_rack_assignment,
        )
        .map_err(|AssignmentError::NotEnoughSpus { missing }| {
            AssignmentError::NotEnoughSpus { missing }.to_string()
        }),
        ReplicaSpec::Assigned(maps) => {
            let known: BTreeSet<SpuId> = spus.iter().map(|s| s.id).collect();
            let mut maps = maps.clone();
            maps.sort_by_key(|m| m.id);
            match maps
                .iter()
                .flat_map(|m| &m.replicas)
                .find(|id| !known.contains(id))
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

/// The SPUs the SC may place replicas on: every SPU it knows, online or not (a registered
/// SPU counts as soon as it is registered, as in seed-era Fluvio).
pub fn placements(stores: &Stores) -> Vec<SpuPlacement> {
    stores
        .spus
        .values()
        .map(|s| SpuPlacement {
            id: s.spec.id,
            rack: s.spec.rack.clone(),
        })
        .collect()
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
    let known: BTreeSet<SpuId> = stores.spus.values().map(|s| s.spec.id).collect();
    validate_spec(spec, &known)?;
    let plan = plan(name, spec, &placements(stores), start);
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

/// Topics waiting for SPUs, re-planned against the current SPUs: the mutations that
/// provision those that now fit (or update their reason).
pub fn reconcile_waiting(stores: &Stores, start: usize) -> Vec<Mutation> {
    let spus = placements(stores);
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
    use protocol::sc::{PartitionMap, SpuSpec, SpuStatus};

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

    fn stores_with_spus(ids: &[SpuId]) -> Stores {
        let mut stores = Stores::default();
        for &id in ids {
            stores.spus.insert(
                id.to_string(),
                Metadata::new(
                    id.to_string(),
                    SpuSpec {
                        id,
                        ..Default::default()
                    },
                    SpuStatus::default(),
                ),
            );
        }
        stores
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
        assert_eq!(topic.status.reason, "need 2 more SPUs");
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
