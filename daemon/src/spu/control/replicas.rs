//! The SPU directory and the replicas the SC assigned to this SPU, as the control stream
//! states them (a full snapshot, then changes). The link applies each update here and
//! hands the resulting assignment to the replica store, which opens and deletes logs;
//! offset reports come from the store, which knows the logs' offsets.

use std::collections::BTreeMap;

use protocol::internal::{ControlUpdate, Replica};
use protocol::sc::{SpuId, SpuSpec};
use protocol::spu::ReplicaKey;

#[derive(Debug, Default)]
pub struct ReplicaState {
    pub spus: BTreeMap<SpuId, SpuSpec>,
    pub replicas: BTreeMap<ReplicaKey, Replica>,
    pub epoch: i64,
}

impl ReplicaState {
    /// Apply one control update; returns whether the replica set changed.
    pub fn apply(&mut self, update: ControlUpdate) -> bool {
        self.epoch = update.epoch;
        if update.spus.is_full {
            self.spus.clear();
        }
        for spu in update.spus.spus {
            self.spus.insert(spu.id, spu);
        }
        for id in update.spus.deleted {
            self.spus.remove(&id);
        }
        let before: Vec<(ReplicaKey, Replica)> = self
            .replicas
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if update.replicas.is_full {
            self.replicas.clear();
        }
        for replica in update.replicas.replicas {
            self.replicas.insert(replica.key.clone(), replica);
        }
        for key in update.replicas.removed {
            self.replicas.remove(&key);
        }
        let after: Vec<(&ReplicaKey, &Replica)> = self.replicas.iter().collect();
        before.len() != after.len()
            || before
                .iter()
                .zip(after)
                .any(|((k1, r1), (k2, r2))| k1 != k2 || r1 != r2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::internal::{ReplicaUpdates, SpuUpdates};

    fn replica(topic: &str, leader: SpuId) -> Replica {
        Replica {
            key: ReplicaKey::new(topic, 0),
            leader,
            replicas: vec![leader],
            ..Default::default()
        }
    }

    #[test]
    fn full_then_changes() {
        let mut state = ReplicaState::default();
        let full = ControlUpdate {
            epoch: 1,
            spus: SpuUpdates {
                is_full: true,
                ..Default::default()
            },
            replicas: ReplicaUpdates {
                is_full: true,
                replicas: vec![replica("a", 1), replica("b", 2)],
                removed: vec![],
            },
            offsets_leader: None,
        };
        assert!(state.apply(full.clone()));
        assert!(!state.apply(full), "same snapshot changes nothing");
        assert_eq!(state.replicas.len(), 2);
        let removal = ControlUpdate {
            epoch: 2,
            replicas: ReplicaUpdates {
                removed: vec![ReplicaKey::new("a", 0)],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(state.apply(removal));
        assert_eq!(
            state.replicas.keys().collect::<Vec<_>>(),
            [&ReplicaKey::new("b", 0)]
        );
    }
}
