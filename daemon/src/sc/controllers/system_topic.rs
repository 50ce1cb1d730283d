//! The system topic `consumer-offset`, as Fluvio's SC keeps it: one partition, the system
//! flag set, created by the SC rather than by a user. Decisions only (when to create it,
//! with how many replicas); [`crate::sc::actions`] applies them.
//!
//! The replication factor is what the cluster can hold: as many online SPUs as there
//! are, up to 3. SPUs of a cluster come online one after another, so the topic is created
//! at once only when the cluster cannot give it more replicas later (3 SPUs online, or
//! every SPU this process runs itself); otherwise once the SPU set has been quiet for a
//! settling time, so a cluster that is still starting is not pinned at one replica.

use protocol::sc::{CleanupPolicy, ReplicaSpec, SpuResolution, TopicSpec, TopicStorageConfig};
use protocol::spu::CONSUMER_OFFSET_TOPIC;

use super::topic::{self, TopicRejection};
use crate::sc::store::{Mutation, Stores};

/// How long the SPU set must stay unchanged before the topic is created with fewer than
/// [`MAX_REPLICATION`] replicas.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);
/// The most replicas the system topic gets.
pub const MAX_REPLICATION: u32 = 3;
/// Fluvio's settings for the offsets topic: 7 days of retention, 512 MB segments, 2 GB.
const RETENTION_SECS: u32 = 7 * 24 * 3600;
const SEGMENT_SIZE: u32 = 512_000_000;
const MAX_PARTITION_SIZE: u64 = SEGMENT_SIZE as u64 * 4;

/// Whether to create the offsets topic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It exists (or is being created): nothing to do.
    Exists,
    /// No SPU is online yet.
    NoSpus,
    /// Create it once the SPU set has settled (more SPUs may be coming).
    AfterSettling,
    /// Create it with this replication factor.
    Create(u32),
}

/// `managed`: the SPU ids this process runs itself (all-in-one mode), known to be all
/// the SPUs it will have.
pub fn decide(stores: &Stores, managed: &[i32], settled: bool) -> Decision {
    if stores.topics.contains_key(CONSUMER_OFFSET_TOPIC) {
        return Decision::Exists;
    }
    let online: Vec<i32> = stores
        .spus
        .values()
        .filter(|s| s.status.resolution == SpuResolution::Online)
        .map(|s| s.spec.id)
        .collect();
    let count = u32::try_from(online.len()).unwrap_or(u32::MAX);
    if count == 0 {
        return Decision::NoSpus;
    }
    let rf = count.min(MAX_REPLICATION);
    let all_managed_online = !managed.is_empty()
        && stores.spus.len() == managed.len()
        && managed.iter().all(|id| online.contains(id));
    if count >= MAX_REPLICATION || all_managed_online || settled {
        Decision::Create(rf)
    } else {
        Decision::AfterSettling
    }
}

/// The spec the SC gives `consumer-offset`.
pub fn spec(replication_factor: u32) -> TopicSpec {
    TopicSpec {
        replicas: ReplicaSpec::Computed {
            partitions: 1,
            replication_factor,
            ignore_rack_assignment: false,
        },
        cleanup_policy: Some(CleanupPolicy::Segment {
            time_in_seconds: RETENTION_SECS,
        }),
        storage: Some(TopicStorageConfig {
            segment_size: Some(SEGMENT_SIZE),
            max_partition_size: Some(MAX_PARTITION_SIZE),
        }),
        system: true,
        ..TopicSpec::default()
    }
}

/// The mutations creating the topic with `replication_factor` replicas (leaders placed
/// from the first online SPU).
pub fn create(stores: &Stores, replication_factor: u32) -> Result<Vec<Mutation>, TopicRejection> {
    topic::create(stores, CONSUMER_OFFSET_TOPIC, &spec(replication_factor), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::{Metadata, SpuSpec, SpuStatus};

    fn stores(spus: &[(i32, bool)]) -> Stores {
        let mut stores = Stores::default();
        for &(id, online) in spus {
            let spec = SpuSpec {
                id,
                ..SpuSpec::default()
            };
            let status = SpuStatus {
                resolution: if online {
                    SpuResolution::Online
                } else {
                    SpuResolution::Offline
                },
            };
            stores
                .spus
                .insert(id.to_string(), Metadata::new(id.to_string(), spec, status));
        }
        stores
    }

    #[test]
    fn waits_for_spus_and_settling() {
        assert_eq!(decide(&stores(&[]), &[], true), Decision::NoSpus);
        assert_eq!(decide(&stores(&[(1, false)]), &[], true), Decision::NoSpus);
        let one = stores(&[(1, true)]);
        assert_eq!(decide(&one, &[], false), Decision::AfterSettling);
        assert_eq!(decide(&one, &[], true), Decision::Create(1));
        let two = stores(&[(1, true), (2, true), (3, false)]);
        assert_eq!(decide(&two, &[], true), Decision::Create(2));
    }

    #[test]
    fn three_online_or_all_managed_is_at_once() {
        let four = stores(&[(1, true), (2, true), (3, true), (4, true)]);
        assert_eq!(decide(&four, &[], false), Decision::Create(3));
        let managed = stores(&[(5001, true)]);
        assert_eq!(decide(&managed, &[5001], false), Decision::Create(1));
        let partly = stores(&[(5001, true), (5002, false)]);
        assert_eq!(
            decide(&partly, &[5001, 5002], false),
            Decision::AfterSettling
        );
    }

    #[test]
    fn created_once_with_system_flag() {
        let mut s = stores(&[(1, true), (2, true)]);
        let mutations = create(&s, 2).unwrap();
        let Some(Mutation::PutTopic(topic)) = mutations.first() else {
            panic!("no topic in {mutations:?}");
        };
        assert!(topic.spec.system);
        assert_eq!(topic.spec.replicas.replication_factor(), 2);
        s.topics.insert(topic.name.clone(), topic.clone());
        assert_eq!(decide(&s, &[], true), Decision::Exists);
    }
}
