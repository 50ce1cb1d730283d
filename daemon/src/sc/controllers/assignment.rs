//! Replica assignment: which SPUs hold each partition of a computed topic.
//!
//! The Kafka/Fluvio scheme: SPUs sorted by id, a start index that rotates from topic to
//! topic, each partition's leader one SPU further, and followers spread with a gap that
//! grows every time the leaders wrap around, so replica sets differ between partitions.
//! When SPUs carry racks, the SPUs are first interleaved rack by rack so consecutive
//! replicas land on different racks. The first replica of each list leads.

use std::collections::BTreeMap;

use protocol::sc::SpuId;

/// What assignment needs to know about an SPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpuPlacement {
    pub id: SpuId,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// Fewer SPUs to place on (online ones, as the SC calls it) than replicas per partition.
    #[error(
        "insufficient resources: replication factor {replication} needs {replication} online SPU{}, {online} online (need {} more SPU{})",
        plural(*replication),
        replication - online,
        plural(replication - online)
    )]
    NotEnoughSpus { replication: u32, online: u32 },
}

impl AssignmentError {
    /// How many more SPUs must come online before the topic can be placed.
    pub fn missing(&self) -> u32 {
        match self {
            AssignmentError::NotEnoughSpus {
                replication,
                online,
            } => replication - online,
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Assign `partitions` partitions of `replication` replicas each over `spus` (the SPUs that
/// may take replicas now: the caller leaves out offline ones), starting at
/// `start` (any number; taken modulo the SPU count). Rack-aware unless `ignore_rack` or no
/// SPU has a rack.
pub fn assign(
    spus: &[SpuPlacement],
    partitions: u32,
    replication: u32,
    start: usize,
    ignore_rack: bool,
) -> Result<Vec<Vec<SpuId>>, AssignmentError> {
    let mut sorted = spus.to_vec();
    sorted.sort_by_key(|s| s.id);
    sorted.dedup_by_key(|s| s.id);
    let count = sorted.len() as u32;
    if count < replication {
        return Err(AssignmentError::NotEnoughSpus {
            replication,
            online: count,
        });
    }
    let racked = !ignore_rack && sorted.iter().any(|s| s.rack.is_some());
    Ok(if racked {
        assign_with_racks(&sorted, partitions, replication, start)
    } else {
        let ids: Vec<SpuId> = sorted.iter().map(|s| s.id).collect();
        assign_without_racks(&ids, partitions, replication, start)
    })
}

/// Round robin with an increasing follower gap over `ids` (sorted).
pub fn assign_without_racks(
    ids: &[SpuId],
    partitions: u32,
    replication: u32,
    start: usize,
) -> Vec<Vec<SpuId>> {
    let count = ids.len();
    if count == 0 {
        return Vec::new();
    }
    let replication = replication as usize;
    let start = start % count;
    let gap_max = count - replication.min(count) + 1;
    (0..partitions as usize)
        .map(|p| {
            let gap = ((start + p) / count) % gap_max;
            (0..replication)
                .map(|r| {
                    let shift = if r > 0 { gap } else { 0 };
                    ids[(start + p + r + shift) % count]
                })
                .collect()
        })
        .collect()
}

/// Interleave SPUs across racks, then assign consecutive runs of that sequence.
pub fn assign_with_racks(
    spus: &[SpuPlacement],
    partitions: u32,
    replication: u32,
    start: usize,
) -> Vec<Vec<SpuId>> {
    let sequence = rack_sequence(spus);
    let count = sequence.len();
    if count == 0 {
        return Vec::new();
    }
    (0..partitions as usize)
        .map(|p| {
            (0..replication as usize)
                .map(|r| sequence[(start + p + r) % count])
                .collect()
        })
        .collect()
}

/// SPUs read diagonally from a rack-by-SPU matrix whose racks are ordered by size (largest
/// first, then by name): at step `k`, rack `r` contributes its SPU at `(k + r) % len`,
/// skipping SPUs already taken. Neighbours in the sequence sit on different racks as long
/// as the racks allow it. SPUs without a rack form one rack of their own.
pub fn rack_sequence(spus: &[SpuPlacement]) -> Vec<SpuId> {
    let mut racks: BTreeMap<&str, Vec<SpuId>> = BTreeMap::new();
    for spu in spus {
        racks
            .entry(spu.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(spu.id);
    }
    let mut racks: Vec<(&str, Vec<SpuId>)> = racks.into_iter().collect();
    for (_, ids) in &mut racks {
        ids.sort_unstable();
    }
    racks.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let longest = racks.first().map_or(0, |r| r.1.len());
    let mut out: Vec<SpuId> = Vec::with_capacity(spus.len());
    for k in 0..longest {
        for (r, (_, ids)) in racks.iter().enumerate() {
            let id = ids[(k + r) % ids.len()];
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(ids: &[SpuId]) -> Vec<SpuPlacement> {
        ids.iter()
            .map(|&id| SpuPlacement { id, rack: None })
            .collect()
    }

    fn racked(pairs: &[(SpuId, &str)]) -> Vec<SpuPlacement> {
        pairs
            .iter()
            .map(|&(id, rack)| SpuPlacement {
                id,
                rack: Some(rack.to_string()),
            })
            .collect()
    }

    #[test]
    fn round_robin_with_growing_gap() {
        let map = assign(&plain(&[0, 1, 2, 3, 4]), 11, 3, 0, false).unwrap();
        assert_eq!(map[0], vec![0, 1, 2]);
        assert_eq!(map[1], vec![1, 2, 3]);
        assert_eq!(map[4], vec![4, 0, 1]);
        assert_eq!(map[5], vec![0, 2, 3]);
        assert_eq!(map[10], vec![0, 3, 4]);
        for replicas in &map {
            let mut unique = replicas.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 3, "no SPU twice in {replicas:?}");
        }
    }

    #[test]
    fn leaders_rotate_and_start_index_shifts() {
        let map = assign(&plain(&[5003, 5001, 5002]), 3, 1, 1, false).unwrap();
        assert_eq!(map, vec![vec![5002], vec![5003], vec![5001]]);
    }

    #[test]
    fn racks_alternate() {
        let spus = racked(&[
            (0, "r1"),
            (1, "r2"),
            (2, "r2"),
            (3, "r3"),
            (4, "r3"),
            (5, "r3"),
        ]);
        assert_eq!(rack_sequence(&spus), vec![3, 2, 0, 4, 1, 5]);
        let map = assign(&spus, 6, 3, 0, false).unwrap();
        assert_eq!(
            map,
            vec![
                vec![3, 2, 0],
                vec![2, 0, 4],
                vec![0, 4, 1],
                vec![4, 1, 5],
                vec![1, 5, 3],
                vec![5, 3, 2]
            ]
        );
    }

    #[test]
    fn two_racks_put_leader_and_follower_apart() {
        let spus = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        for replicas in assign(&spus, 4, 2, 0, false).unwrap() {
            let rack = |id| spus.iter().find(|s| s.id == id).unwrap().rack.clone();
            assert_ne!(rack(replicas[0]), rack(replicas[1]), "{replicas:?}");
        }
    }

    #[test]
    fn ignore_rack_uses_plain_round_robin() {
        let spus = racked(&[(1, "a"), (2, "a"), (3, "b")]);
        assert_eq!(
            assign(&spus, 2, 2, 0, true).unwrap(),
            assign(&plain(&[1, 2, 3]), 2, 2, 0, false).unwrap()
        );
    }

    #[test]
    fn too_few_spus() {
        let err = assign(&plain(&[1]), 1, 3, 0, false).unwrap_err();
        assert_eq!(
            err,
            AssignmentError::NotEnoughSpus {
                replication: 3,
                online: 1
            }
        );
        assert_eq!(err.missing(), 2);
        assert_eq!(
            err.to_string(),
            "insufficient resources: replication factor 3 needs 3 online SPUs, 1 online (need 2 more SPUs)"
        );
        let one_short = assign(&plain(&[1, 2]), 1, 3, 0, false).unwrap_err();
        assert!(
            one_short.to_string().ends_with("(need 1 more SPU)"),
            "{one_short}"
        );
        assert_eq!(
            assign(&[], 1, 1, 0, false).unwrap_err().to_string(),
            "insufficient resources: replication factor 1 needs 1 online SPU, 0 online (need 1 more SPU)"
        );
    }

    #[test]
    fn duplicate_entries_do_not_count_twice() {
        let spus = plain(&[1, 1, 2]);
        assert_eq!(
            assign(&spus, 1, 3, 0, false),
            Err(AssignmentError::NotEnoughSpus {
                replication: 3,
                online: 2
            })
        );
    }
}
