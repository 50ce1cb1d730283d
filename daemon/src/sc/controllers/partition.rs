//! Partition status decisions: what the SC records when a leader reports its offsets and
//! when an SPU comes or goes.

use protocol::sc::{PartitionResolution, PartitionStatus, ReplicaStatus, SpuId};

use crate::sc::store::{Mutation, Stores};

/// What a leader SPU reports about one of its partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderReport {
    pub leader: SpuId,
    pub hw: i64,
    pub leo: i64,
    pub log_start: i64,
    /// Bytes on disk, or -2 when unknown.
    pub size: i64,
    pub followers: Vec<ReplicaStatus>,
    /// Replicas (leader included) in sync.
    pub in_sync: u32,
}

/// The status a partition gets from its leader's report. Reports from an SPU that is not
/// the partition's leader are ignored (`None`).
pub fn status_from_report(
    spec_leader: SpuId,
    current: &PartitionStatus,
    report: &LeaderReport,
) -> Option<PartitionStatus> {
    if report.leader != spec_leader {
        return None;
    }
    Some(PartitionStatus {
        resolution: PartitionResolution::Online,
        leader: ReplicaStatus {
            spu: report.leader,
            hw: report.hw,
            leo: report.leo,
        },
        lsr: report.in_sync,
        replicas: report.followers.clone(),
        size: report.size,
        is_being_deleted: current.is_being_deleted,
        base_offset: report.log_start,
    })
}

/// The SPU `id` went offline: partitions it leads lose their leader. (Electing a new one
/// is the replication controller's job.)
pub fn on_spu_offline(stores: &Stores, id: SpuId) -> Vec<Mutation> {
    stores
        .partitions
        .values()
        .filter(|p| {
            p.spec.leader == id && p.status.resolution != PartitionResolution::LeaderOffline
        })
        .map(|p| {
            let mut status = p.status.clone();
            status.resolution = PartitionResolution::LeaderOffline;
            Mutation::SetPartitionStatus(p.name.clone(), status)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::Metadata;
    use protocol::sc::PartitionSpec;

    fn report(leader: SpuId) -> LeaderReport {
        LeaderReport {
            leader,
            hw: 5,
            leo: 7,
            log_start: 1,
            size: 100,
            followers: vec![ReplicaStatus {
                spu: 2,
                hw: 5,
                leo: 6,
            }],
            in_sync: 2,
        }
    }

    #[test]
    fn leader_reports_set_offsets() {
        let status = status_from_report(1, &PartitionStatus::default(), &report(1)).unwrap();
        assert_eq!(status.resolution, PartitionResolution::Online);
        assert_eq!((status.leader.hw, status.leader.leo), (5, 7));
        assert_eq!(status.lsr, 2);
        assert_eq!(status.base_offset, 1);
        assert_eq!(
            status_from_report(2, &PartitionStatus::default(), &report(1)),
            None
        );
    }

    #[test]
    fn offline_leader_marks_its_partitions() {
        let mut stores = Stores::default();
        for (name, leader) in [("a-0", 1), ("a-1", 2)] {
            stores.partitions.insert(
                name.into(),
                Metadata::new(
                    name,
                    PartitionSpec {
                        leader,
                        replicas: vec![leader],
                        ..Default::default()
                    },
                    PartitionStatus::default(),
                ),
            );
        }
        let mutations = on_spu_offline(&stores, 1);
        assert_eq!(mutations.len(), 1);
        assert!(matches!(&mutations[0], Mutation::SetPartitionStatus(n, s)
            if n == "a-0" && s.resolution == PartitionResolution::LeaderOffline));
    }
}
