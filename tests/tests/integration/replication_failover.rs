//! Replication under faults, with real processes: `fluvio-daemon sc` and three
//! `fluvio-daemon spu`, topics with replication factor 3 and `--min-in-sync 2`.
//!
//! * kill -9 of the leader, five times, under a steady stream of read_committed produces:
//!   every acknowledged record survives exactly once at its acknowledged offset, offsets
//!   only grow, and no consumer (read_committed) saw a record that was later lost.
//! * A paused follower leaves the in-sync set, then catches up and rejoins.
//! * A paused leader with a tail only it has is replaced, fenced when it resumes, and
//!   truncates the tail. The tail: records produced read_uncommitted while the leader's
//!   replication is held by its hidden `--fault-hold-replication` flag (pausing the
//!   followers instead does not work: the kernel keeps receiving for a stopped process,
//!   and the followers append what was buffered once resumed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use protocol::api::ErrorCode;
use protocol::sc::{PartitionResolution, SpuId};
use protocol::spu::{Isolation, StreamFetchRequest, UpdateOffsetsRequest};
use tests::cluster::Cluster;
use tests::spu_client::{SpuClient, batch_of};

/// The leader the SC names now.
fn leader(cluster: &Cluster, partition: &str) -> SpuId {
    cluster.partition(partition).spec.leader
}

/// Every record of the partition from its leader, read_committed, until the high
/// watermark: (offset, value).
fn read_all(cluster: &Cluster, topic: &str, until: i64) -> Vec<(i64, String)> {
    let name = format!("{topic}-0");
    let p = cluster.wait_partition(&name, "committed everything", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.leader.hw >= until
    });
    let mut client = cluster
        .spu_client(p.spec.leader)
        .expect("connect to the leader");
    client
        .consume(topic, 0, 0, until)
        .expect("read back")
        .into_iter()
        .map(|(o, v)| (o, String::from_utf8(v).unwrap()))
        .collect()
}

/// Produce one record read_committed to whoever leads; `Ok(offset)` when acknowledged.
fn produce_one(
    client: &mut Option<(SpuId, SpuClient)>,
    cluster_leader: SpuId,
    addr: std::net::SocketAddr,
    topic: &str,
    value: &str,
) -> Result<i64, String> {
    if client.as_ref().is_none_or(|(id, _)| *id != cluster_leader) {
        let c = SpuClient::connect(addr).map_err(|e| e.to_string())?;
        c.set_read_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        *client = Some((cluster_leader, c));
    }
    let (_, c) = client.as_mut().unwrap();
    let answer = c.produce(
        topic,
        0,
        batch_of(&[value.as_bytes()]),
        Isolation::ReadCommitted,
    );
    match answer {
        Ok(entry) if entry.error_code == ErrorCode::None => Ok(entry.base_offset),
        Ok(entry) => {
            *client = None;
            Err(entry.error_code.to_string())
        }
        Err(err) => {
            *client = None;
            Err(err.to_string())
        }
    }
}

#[test]
fn acknowledged_records_survive_five_leader_kills() {
    let topic = "kills";
    let name = format!("{topic}-0");
    let mut cluster = Cluster::failover_with_topic(topic);
    let addrs: HashMap<SpuId, std::net::SocketAddr> =
        cluster.spus.iter().map(|(id, d)| (*id, d.public)).collect();
    let sc = cluster.sc.public;
    let stop = Arc::new(AtomicBool::new(false));

    // Producer: one record per request, a fresh value per attempt; the SC names the leader.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let producer = {
        let (stop, acked, addrs) = (stop.clone(), acked.clone(), addrs.clone());
        thread::spawn(move || {
            let mut admin = tests::client::ScClient::connect(sc).unwrap();
            let mut client = None;
            let mut errors = 0usize;
            for seq in 0.. {
                if stop.load(Ordering::Relaxed) {
                    return errors;
                }
                let leader = admin
                    .list_partitions()
                    .ok()
                    .and_then(|ps| ps.into_iter().find(|p| p.name == "kills-0"))
                    .map(|p| p.spec.leader);
                let Some(leader) = leader else {
                    admin = tests::client::ScClient::connect(sc).unwrap();
                    continue;
                };
                let value = format!("r{seq}");
                match produce_one(&mut client, leader, addrs[&leader], "kills", &value) {
                    Ok(offset) => acked.lock().unwrap().push((offset, value)),
                    Err(_) => {
                        errors += 1;
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            errors
        })
    };

    // Consumer: read_committed from whoever leads, resuming where it stopped.
    let seen: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let consumer = {
        let (stop, seen, addrs) = (stop.clone(), seen.clone(), addrs.clone());
        thread::spawn(move || {
            let mut admin = tests::client::ScClient::connect(sc).unwrap();
            let mut next = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let Some(leader) = admin
                    .list_partitions()
                    .ok()
                    .and_then(|ps| ps.into_iter().find(|p| p.name == "kills-0"))
                    .map(|p| p.spec.leader)
                else {
                    admin = tests::client::ScClient::connect(sc).unwrap();
                    continue;
                };
                let Ok(mut c) = SpuClient::connect(addrs[&leader]) else {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let _ = c.set_read_timeout(Duration::from_secs(2));
                let mut request = StreamFetchRequest::new("kills", 0, next);
                request.isolation = Isolation::ReadCommitted;
                let Ok(corr) = c.stream_fetch(&request) else {
                    continue;
                };
                while !stop.load(Ordering::Relaxed) {
                    let Ok(frame) = c.stream_frame(corr) else {
                        break;
                    };
                    if frame.error_code.is_error() {
                        thread::sleep(Duration::from_millis(50));
                        break;
                    }
                    let Ok(batches) = frame.records.decode_batches(64 << 20) else {
                        break;
                    };
                    for batch in batches {
                        for (i, record) in batch.records.iter().enumerate() {
                            let at = batch.base_offset + i as i64;
                            if at >= next {
                                let value = String::from_utf8_lossy(&record.value).to_string();
                                seen.lock().unwrap().push((at, value));
                                next = at + 1;
                            }
                        }
                    }
                    let ack = UpdateOffsetsRequest {
                        offsets: vec![protocol::spu::OffsetUpdate {
                            offset: next,
                            session_id: frame.stream_id,
                        }],
                    };
                    let _ = c.update_offsets(&ack);
                }
            }
        })
    };

    for round in 0..5 {
        // Let some records through with every replica in sync.
        let before = acked.lock().unwrap().len();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < before + 30 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: produces stalled"
            );
            thread::sleep(Duration::from_millis(20));
        }
        let old = leader(&cluster, &name);
        cluster.kill(old);
        let p = cluster.wait_partition(&name, "a new leader", |p| {
            p.spec.leader != old && p.status.resolution == PartitionResolution::Online
        });
        assert!(p.spec.replicas.contains(&p.spec.leader));
        cluster.restart(old);
        // The restarted SPU catches up and rejoins before the next kill.
        cluster.wait_partition(&name, "3 in sync again", |p| p.status.lsr == 3);
    }
    let before = acked.lock().unwrap().len();
    while acked.lock().unwrap().len() < before + 30 {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let errors = producer.join().unwrap();
    consumer.join().unwrap();

    let acked = acked.lock().unwrap().clone();
    let seen = seen.lock().unwrap().clone();
    let until = acked.iter().map(|(o, _)| o + 1).max().unwrap();
    let log = read_all(&cluster, topic, until);
    // No gaps: offsets 0.. in order.
    for (i, (offset, _)) in log.iter().enumerate() {
        assert_eq!(*offset, i as i64, "gap or disorder in the log");
    }
    let at: BTreeMap<i64, &str> = log.iter().map(|(o, v)| (*o, v.as_str())).collect();
    // Every acknowledged record, exactly where it was acknowledged, exactly once.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, v) in &log {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    for (offset, value) in &acked {
        assert_eq!(
            at.get(offset).copied(),
            Some(value.as_str()),
            "acknowledged {value} at {offset} lost"
        );
        assert_eq!(counts[value.as_str()], 1, "{value} duplicated");
    }
    // Offsets only grow in acknowledgement order.
    assert!(
        acked.windows(2).all(|w| w[0].0 < w[1].0),
        "offsets went backwards"
    );
    // Consumers never saw what was later lost.
    assert!(!seen.is_empty());
    for (offset, value) in &seen {
        assert_eq!(
            at.get(offset).copied(),
            Some(value.as_str()),
            "consumer saw {value} at {offset}, later lost"
        );
    }
    eprintln!(
        "acked {} records, {} produce errors retried, consumer saw {}",
        acked.len(),
        errors,
        seen.len()
    );
}

#[test]
fn a_paused_follower_leaves_the_in_sync_set_and_rejoins() {
    let topic = "lagging";
    let name = format!("{topic}-0");
    let cluster = Cluster::failover_with_topic(topic);
    let p = cluster.partition(&name);
    let leader = p.spec.leader;
    let follower = *p.spec.replicas.iter().find(|id| **id != leader).unwrap();
    let mut client = cluster.spu_client(leader).unwrap();
    for i in 0..10 {
        let v = format!("before-{i}");
        let entry = client
            .produce(
                topic,
                0,
                batch_of(&[v.as_bytes()]),
                Isolation::ReadCommitted,
            )
            .unwrap();
        assert_eq!(entry.error_code, ErrorCode::None);
    }
    cluster.pause(follower);
    cluster.wait_partition(&name, "the paused follower out of sync", |p| {
        p.status.lsr == 2
    });
    // Two of three in sync satisfies --min-in-sync 2: committed produces go on.
    for i in 0..20 {
        let v = format!("during-{i}");
        let entry = client
            .produce(
                topic,
                0,
                batch_of(&[v.as_bytes()]),
                Isolation::ReadCommitted,
            )
            .unwrap();
        assert_eq!(entry.error_code, ErrorCode::None, "{i}");
    }
    cluster.resume(follower);
    let p = cluster.wait_partition(&name, "the follower caught up and in sync", |p| {
        p.status.lsr == 3
            && p.status.leader.leo == 30
            && p.status
                .replicas
                .iter()
                .any(|r| r.spu == follower && r.leo == 30)
    });
    assert_eq!(
        p.spec.leader, leader,
        "a paused follower moves no leadership"
    );
    assert!(
        p.status.replicas.iter().all(|r| r.leo == 30),
        "{:?}",
        p.status
    );
}

#[test]
fn a_paused_leader_is_fenced_and_its_divergent_tail_truncated() {
    let topic = "zombie";
    let name = format!("{topic}-0");
    let cluster = Cluster::failover_with_topic(topic);
    let p = cluster.partition(&name);
    let old = p.spec.leader;
    let mut client = cluster.spu_client(old).unwrap();
    for i in 0..5 {
        let v = format!("committed-{i}");
        let entry = client
            .produce(
                topic,
                0,
                batch_of(&[v.as_bytes()]),
                Isolation::ReadCommitted,
            )
            .unwrap();
        assert_eq!(entry.error_code, ErrorCode::None);
    }
    cluster.wait_partition(&name, "followers have everything", |p| {
        p.status.replicas.iter().filter(|r| r.leo == 5).count() == 2
    });
    // Divergence: the leader's replication held, only it gets a read_uncommitted tail;
    // then it freezes before it could drop the followers from the in-sync set.
    cluster.hold_replication(old, true);
    for i in 0..3 {
        let v = format!("lost-{i}");
        let entry = client
            .produce(
                topic,
                0,
                batch_of(&[v.as_bytes()]),
                Isolation::ReadUncommitted,
            )
            .unwrap();
        assert_eq!(entry.error_code, ErrorCode::None);
        assert_eq!(entry.base_offset, 5 + i);
    }
    cluster.pause(old);
    cluster.hold_replication(old, false);
    // The SC notices the silent leader and elects an in-sync follower.
    let p = cluster.wait_partition(&name, "a new leader", |p| {
        p.spec.leader != old && p.status.resolution == PartitionResolution::Online
    });
    let new = p.spec.leader;
    let mut new_client = cluster.spu_client(new).unwrap();
    // The SC names the new leader before that SPU has heard it leads: "not leader" is
    // retried for a while, as clients do.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for i in 0..4 {
        let v = format!("new-{i}");
        let entry = loop {
            let entry = new_client
                .produce(
                    topic,
                    0,
                    batch_of(&[v.as_bytes()]),
                    Isolation::ReadCommitted,
                )
                .unwrap();
            if entry.error_code != ErrorCode::NotLeaderForPartition
                || std::time::Instant::now() > deadline
            {
                break entry;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(entry.error_code, ErrorCode::None, "{i}");
        assert_eq!(entry.base_offset, 5 + i);
    }
    cluster.resume(old);
    // Fenced: once it hears of the new epoch, the old leader refuses produces...
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = cluster.spu_client(old).and_then(|mut c| {
            c.produce(topic, 0, batch_of(&[b"late"]), Isolation::ReadUncommitted)
        });
        if let Ok(entry) = &answer
            && entry.error_code == ErrorCode::NotLeaderForPartition
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old leader was never fenced: {answer:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    // ...truncates what only it had, and follows the new leader to the end.
    let p = cluster.wait_partition(&name, "the old leader caught up with the new log", |p| {
        p.status.lsr == 3 && p.status.replicas.iter().any(|r| r.spu == old && r.leo == 9)
    });
    assert_eq!(p.status.leader.leo, 9);
    cluster.spu(old).wait_for_log(
        "truncating records the new leader does not have",
        Duration::from_secs(5),
    );
    let log = read_all(&cluster, topic, 9);
    let values: Vec<&str> = log.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values,
        [
            "committed-0",
            "committed-1",
            "committed-2",
            "committed-3",
            "committed-4",
            "new-0",
            "new-1",
            "new-2",
            "new-3"
        ]
    );
}
