//! Partition status and leadership decisions: what the SC records when a leader reports
//! its offsets, and whom it elects when an SPU comes or goes. Pure functions over the
//! stores.
//!
//! Elections choose from the SC's confirmed in-sync set only (unless unclean election is
//! allowed): every record a leader acknowledged as committed is on each of those, so the
//! new leader has it. Every leader change bumps the partition's leader epoch, which
//! followers use to fence the old leader and find where their logs diverge.

use protocol::sc::{PartitionResolution, PartitionStatus, ReplicaStatus, SpuId, SpuResolution};

use crate::sc::store::{Mutation, PartitionObj, ReplicationState, Stores};

/// What a leader SPU reports about one of its partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderReport {
    pub leader: SpuId,
    pub leader_epoch: i32,
    pub hw: i64,
    pub leo: i64,
    pub log_start: i64,
    /// Bytes on disk, or -2 when unknown.
    pub size: i64,
    pub followers: Vec<ReplicaStatus>,
    /// Replicas (leader included) the leader counts as in sync.
    pub in_sync: Vec<SpuId>,
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
        lsr: report.in_sync.len() as u32,
        replicas: report.followers.clone(),
        size: report.size,
        is_being_deleted: current.is_being_deleted,
        base_offset: report.log_start,
    })
}

/// Everything a leader's report changes: the status, and the confirmed in-sync set when
/// the current leader (in the current epoch) reports another one.
pub fn apply_report(stores: &Stores, name: &str, report: &LeaderReport) -> Vec<Mutation> {
    let Some(p) = stores.partitions.get(name) else {
        return Vec::new();
    };
    let repl = stores.replication_of(p);
    if report.leader != p.spec.leader || report.leader_epoch != repl.leader_epoch {
        // A deposed leader that has not heard yet: its view is stale.
        return Vec::new();
    }
    let mut mutations = Vec::new();
    if let Some(status) = status_from_report(p.spec.leader, &p.status, report) {
        mutations.push(Mutation::SetPartitionStatus(name.to_string(), status));
    }
    let mut in_sync: Vec<SpuId> = p
        .spec
        .replicas
        .iter()
        .copied()
        .filter(|id| report.in_sync.contains(id))
        .collect();
    if !in_sync.contains(&report.leader) {
        in_sync.insert(0, report.leader);
    }
    if in_sync != repl.in_sync {
        mutations.push(Mutation::PutReplication(
            name.to_string(),
            ReplicationState {
                leader_epoch: repl.leader_epoch,
                in_sync,
            },
        ));
    }
    mutations
}

/// Whom to make leader of `p` when its leader is gone: the in-sync replica (online, not
/// `lost`) with the largest log end the old leader last reported, ties to the first in
/// the replica list; with `unclean`, any online replica if no in-sync one is left.
pub fn elect_leader(
    p: &PartitionObj,
    repl: &ReplicationState,
    online: &dyn Fn(SpuId) -> bool,
    lost: SpuId,
    unclean: bool,
) -> Option<SpuId> {
    let leo_of = |id: SpuId| {
        p.status
            .replicas
            .iter()
            .find(|r| r.spu == id)
            .map_or(-1, |r| r.leo)
    };
    let best = |candidates: Vec<SpuId>| {
        // max_by_key keeps the last maximum; iterate in reverse to prefer the first.
        candidates.into_iter().rev().max_by_key(|id| leo_of(*id))
    };
    let clean: Vec<SpuId> = p
        .spec
        .replicas
        .iter()
        .copied()
        .filter(|id| *id != lost && repl.in_sync.contains(id) && online(*id))
        .collect();
    if !clean.is_empty() {
        return best(clean);
    }
    if unclean {
        let any: Vec<SpuId> = p
            .spec
            .replicas
            .iter()
            .copied()
            .filter(|id| *id != lost && online(*id))
            .collect();
        return best(any);
    }
    None
}

fn is_online(stores: &Stores) -> impl Fn(SpuId) -> bool + '_ {
    |id| {
        stores
            .spu_by_id(id)
            .is_some_and(|s| s.status.resolution == SpuResolution::Online)
    }
}

/// Make `leader` lead `p` in a new epoch, with `in_sync` as the confirmed set.
fn change_leader(
    p: &PartitionObj,
    repl: &ReplicationState,
    leader: SpuId,
    in_sync: Vec<SpuId>,
) -> Vec<Mutation> {
    let mut obj = p.clone();
    obj.spec.leader = leader;
    obj.status.resolution = PartitionResolution::Online;
    obj.status.leader = ReplicaStatus {
        spu: leader,
        hw: p.status.leader.hw,
        leo: p
            .status
            .replicas
            .iter()
            .find(|r| r.spu == leader)
            .map_or(-1, |r| r.leo),
    };
    obj.status.replicas = Vec::new();
    obj.status.lsr = in_sync.len() as u32;
    vec![
        Mutation::PutReplication(
            p.name.clone(),
            ReplicationState {
                leader_epoch: repl.leader_epoch + 1,
                in_sync,
            },
        ),
        Mutation::PutPartition(obj),
    ]
}

/// The SPU `id` went offline (`stores` still shows it online or not, either way it is
/// excluded): partitions it leads get a new leader from their in-sync set, or become
/// `LeaderOffline` when there is none; it leaves the in-sync set of the others.
pub fn on_spu_offline(stores: &Stores, id: SpuId, unclean: bool) -> Vec<Mutation> {
    let online = is_online(stores);
    let online = |spu: SpuId| spu != id && online(spu);
    let mut mutations = Vec::new();
    for p in stores.partitions.values() {
        if !p.spec.replicas.contains(&id) {
            continue;
        }
        let repl = stores.replication_of(p);
        let in_sync: Vec<SpuId> = repl.in_sync.iter().copied().filter(|s| *s != id).collect();
        if p.spec.leader == id {
            match elect_leader(p, &repl, &online, id, unclean) {
                Some(leader) => {
                    let in_sync = if in_sync.contains(&leader) {
                        in_sync
                    } else {
                        vec![leader]
                    };
                    mutations.extend(change_leader(p, &repl, leader, in_sync));
                }
                None if p.status.resolution != PartitionResolution::LeaderOffline => {
                    let mut status = p.status.clone();
                    status.resolution = PartitionResolution::LeaderOffline;
                    mutations.push(Mutation::SetPartitionStatus(p.name.clone(), status));
                }
                None => {}
            }
        } else if in_sync.len() != repl.in_sync.len() && !in_sync.is_empty() {
            mutations.push(Mutation::PutReplication(
                p.name.clone(),
                ReplicationState {
                    leader_epoch: repl.leader_epoch,
                    in_sync,
                },
            ));
        }
    }
    mutations
}

/// The SPU `id` came online: partitions left without a leader that it can lead (it is in
/// their in-sync set, or unclean election is allowed) get it as leader. Its own
/// partitions whose leader it still is resume in a new epoch.
pub fn on_spu_online(stores: &Stores, id: SpuId, unclean: bool) -> Vec<Mutation> {
    let mut mutations = Vec::new();
    for p in stores.partitions.values() {
        if p.status.resolution != PartitionResolution::LeaderOffline
            || !p.spec.replicas.contains(&id)
        {
            continue;
        }
        let repl = stores.replication_of(p);
        if p.spec.leader == id || repl.in_sync.contains(&id) || unclean {
            let in_sync = if repl.in_sync.contains(&id) {
                repl.in_sync.clone()
            } else {
                vec![id]
            };
            mutations.extend(change_leader(p, &repl, id, in_sync));
        }
    }
    mutations
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::{Metadata, PartitionSpec, SpuSpec, SpuStatus};

    fn report(leader: SpuId) -> LeaderReport {
        LeaderReport {
            leader,
            leader_epoch: 0,
            hw: 5,
            leo: 7,
            log_start: 1,
            size: 100,
            followers: vec![ReplicaStatus {
                spu: 2,
                hw: 5,
                leo: 6,
            }],
            in_sync: vec![1, 2],
        }
    }

    fn partition(name: &str, replicas: &[SpuId], leos: &[(SpuId, i64)]) -> PartitionObj {
        Metadata::new(
            name,
            PartitionSpec {
                leader: replicas[0],
                replicas: replicas.to_vec(),
                ..Default::default()
            },
            PartitionStatus {
                resolution: PartitionResolution::Online,
                replicas: leos
                    .iter()
                    .map(|(spu, leo)| ReplicaStatus {
                        spu: *spu,
                        hw: 0,
                        leo: *leo,
                    })
                    .collect(),
                ..Default::default()
            },
        )
    }

    fn stores_with(partitions: Vec<PartitionObj>, online: &[SpuId]) -> Stores {
        let mut stores = Stores::default();
        for id in [1, 2, 3] {
            let resolution = if online.contains(&id) {
                SpuResolution::Online
            } else {
                SpuResolution::Offline
            };
            stores.spus.insert(
                format!("spu-{id}"),
                Metadata::new(
                    format!("spu-{id}"),
                    SpuSpec {
                        id,
                        ..Default::default()
                    },
                    SpuStatus { resolution },
                ),
            );
        }
        for p in partitions {
            stores.partitions.insert(p.name.clone(), p);
        }
        stores
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
    fn reports_confirm_the_in_sync_set_only_from_the_current_epoch() {
        let stores = stores_with(vec![partition("a-0", &[1, 2, 3], &[])], &[1, 2, 3]);
        let m = apply_report(&stores, "a-0", &report(1));
        assert!(
            m.iter()
                .any(|m| matches!(m, Mutation::PutReplication(_, r) if r.in_sync == vec![1, 2]))
        );
        let mut stale = report(1);
        stale.leader_epoch = 4;
        assert!(apply_report(&stores, "a-0", &stale).is_empty());
        assert!(apply_report(&stores, "a-0", &report(2)).is_empty());
    }

    #[test]
    fn election_picks_an_online_in_sync_replica_with_the_longest_log() {
        let p = partition("a-0", &[1, 2, 3], &[(2, 10), (3, 12)]);
        let all = |_| true;
        let repl = ReplicationState {
            leader_epoch: 3,
            in_sync: vec![1, 2, 3],
        };
        assert_eq!(elect_leader(&p, &repl, &all, 1, false), Some(3));
        let not3 = |id| id != 3;
        assert_eq!(elect_leader(&p, &repl, &not3, 1, false), Some(2));
        // Never an out-of-sync replica, however long its log, unless unclean is allowed.
        let lagging = ReplicationState {
            leader_epoch: 3,
            in_sync: vec![1],
        };
        assert_eq!(elect_leader(&p, &lagging, &all, 1, false), None);
        assert_eq!(elect_leader(&p, &lagging, &all, 1, true), Some(3));
        // Ties go to the first in the replica list.
        let tie = partition("a-0", &[1, 3, 2], &[]);
        assert_eq!(elect_leader(&tie, &repl, &all, 1, false), Some(3));
    }

    #[test]
    fn a_lost_leader_is_replaced_in_a_new_epoch() {
        let stores = stores_with(
            vec![partition("a-0", &[1, 2, 3], &[(2, 5), (3, 5)])],
            &[1, 2, 3],
        );
        let m = on_spu_offline(&stores, 1, false);
        let repl = m.iter().find_map(|m| match m {
            Mutation::PutReplication(_, r) => Some(r.clone()),
            _ => None,
        });
        assert_eq!(
            repl,
            Some(ReplicationState {
                leader_epoch: 1,
                in_sync: vec![2, 3]
            })
        );
        assert!(
            m.iter()
                .any(|m| matches!(m, Mutation::PutPartition(p) if p.spec.leader == 2))
        );
    }

    #[test]
    fn without_an_in_sync_candidate_the_partition_waits_for_its_leader() {
        let mut stores = stores_with(vec![partition("a-0", &[1, 2], &[(2, 3)])], &[1, 2]);
        stores.replication.insert(
            "a-0".into(),
            ReplicationState {
                leader_epoch: 2,
                in_sync: vec![1],
            },
        );
        let m = on_spu_offline(&stores, 1, false);
        assert!(matches!(&m[..], [Mutation::SetPartitionStatus(n, s)]
            if n == "a-0" && s.resolution == PartitionResolution::LeaderOffline));
        // Apply and bring the old leader back: it leads again, in a new epoch.
        if let Mutation::SetPartitionStatus(_, s) = &m[0] {
            stores.partitions.get_mut("a-0").unwrap().status = s.clone();
        }
        assert!(
            on_spu_online(&stores, 2, false).is_empty(),
            "2 is not in sync"
        );
        let back = on_spu_online(&stores, 1, false);
        assert!(
            back.iter()
                .any(|m| matches!(m, Mutation::PutReplication(_, r) if r.leader_epoch == 3))
        );
    }

    #[test]
    fn a_lost_follower_leaves_the_in_sync_set() {
        let stores = stores_with(vec![partition("a-0", &[1, 2, 3], &[])], &[1, 2, 3]);
        let m = on_spu_offline(&stores, 3, false);
        assert!(
            matches!(&m[..], [Mutation::PutReplication(_, r)] if r.in_sync == vec![1, 2] && r.leader_epoch == 0)
        );
    }
}
