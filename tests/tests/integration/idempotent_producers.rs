//! Idempotent producers against real processes (`fluvio-daemon sc` and three `spu`s,
//! replication 3, `--min-in-sync 2`):
//!
//! * InitProducerId (ours, 1091) hands out ids unique across SPUs and across a restart of
//!   the SC and the SPU; the leader stores a retried batch once and answers it with its
//!   original offset, refuses a gap, and still recognises the retry on the new leader after
//!   kill -9 of the old one.
//! * Our producer, idempotent with five read_committed requests in flight, produces across
//!   kill -9 of the leader: every record is stored exactly once, in the order sent.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use console::client::{Fluvio, ProducerConfig};
use protocol::api::ErrorCode;
use protocol::record::{Batch, Record};
use protocol::sc::{PartitionResolution, SpuId};
use protocol::spu::{InitProducerIdRequest, Isolation, is_out_of_order_sequence};
use tests::cluster::Cluster;
use tests::runtime;

/// A producer id from SPU `id`.
fn producer_id(cluster: &Cluster, id: SpuId) -> i64 {
    let mut client = cluster.spu_client(id).expect("connect");
    client
        .set_read_timeout(Duration::from_secs(30))
        .expect("timeout");
    let answer = client
        .call(&InitProducerIdRequest {})
        .expect("InitProducerId");
    assert_eq!(answer.error_code, ErrorCode::None, "{answer:?}");
    assert_eq!(answer.producer_epoch, 0);
    assert!(answer.producer_id >= 0);
    answer.producer_id
}

/// A batch of `values` from producer `pid` (epoch 0), its first record numbered `seq`.
fn batch(pid: i64, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut batch = Batch::from_records(values.iter().map(|v| Record::new(v.as_bytes().to_vec())));
    batch.producer_id = pid;
    batch.producer_epoch = 0;
    batch.first_sequence = seq;
    batch.encode().expect("encode")
}

/// Produce read_committed to SPU `id`: the base offset, or the refusal. An SPU the SC has
/// just named leader may not have heard so yet: "not leader" is retried for a while, as
/// every client does.
fn produce(cluster: &Cluster, id: SpuId, topic: &str, bytes: Vec<u8>) -> Result<i64, ErrorCode> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut client = cluster.spu_client(id).expect("connect");
        let entry = client
            .produce(topic, 0, bytes.clone(), Isolation::ReadCommitted)
            .expect("produce answered");
        if entry.error_code == ErrorCode::NotLeaderForPartition
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        return if entry.error_code.is_error() {
            Err(entry.error_code)
        } else {
            Ok(entry.base_offset)
        };
    }
}

/// Every value of `topic-0` read from its leader up to its high watermark.
fn values(cluster: &Cluster, topic: &str) -> Vec<(i64, String)> {
    let p = cluster.partition(&format!("{topic}-0"));
    let mut client = cluster.spu_client(p.spec.leader).expect("connect");
    let hw = client
        .fetch_offsets(topic, 0)
        .expect("offsets")
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| p.last_stable_offset)
        .next()
        .expect("partition offsets");
    client
        .consume(topic, 0, 0, hw)
        .expect("read back")
        .into_iter()
        .map(|(o, v)| (o, String::from_utf8(v).unwrap()))
        .collect()
}

#[test]
fn retries_are_stored_once_across_a_leader_kill_and_ids_stay_unique() {
    let topic = "exactly";
    let name = format!("{topic}-0");
    let mut cluster = Cluster::failover_with_topic(topic);
    let spus: Vec<SpuId> = cluster.spus.keys().copied().collect();
    let mut ids = BTreeSet::new();
    for &spu in &spus {
        assert!(
            ids.insert(producer_id(&cluster, spu)),
            "ids repeat: {ids:?}"
        );
    }
    let pid = *ids.first().unwrap();

    let first = cluster.partition(&name).spec.leader;
    let ab = batch(pid, 0, &["a", "b"]);
    assert_eq!(produce(&cluster, first, topic, ab.clone()), Ok(0));
    assert_eq!(
        produce(&cluster, first, topic, ab.clone()),
        Ok(0),
        "a retry"
    );
    let c = batch(pid, 2, &["c"]);
    assert_eq!(produce(&cluster, first, topic, c.clone()), Ok(2));
    let gap = produce(&cluster, first, topic, batch(pid, 9, &["lost"])).unwrap_err();
    assert!(is_out_of_order_sequence(&gap), "{gap}");

    // The leader dies; its followers have every acknowledged batch, headers included.
    cluster.kill(first);
    let moved = cluster.wait_partition(&name, "a new leader", |p| {
        p.spec.leader != first && p.status.resolution == PartitionResolution::Online
    });
    let leader = moved.spec.leader;
    assert_eq!(
        produce(&cluster, leader, topic, c),
        Ok(2),
        "a retry after failover"
    );
    assert_eq!(produce(&cluster, leader, topic, ab), Ok(0));
    assert_eq!(
        produce(&cluster, leader, topic, batch(pid, 3, &["d"])),
        Ok(3)
    );
    let stored = values(&cluster, topic);
    let expected: Vec<(i64, String)> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.to_string()))
        .collect();
    assert_eq!(stored, expected);

    // Ids stay unique across a restart of the SC (the counter is in its metadata) and of
    // an SPU (which then takes a new block).
    cluster.kill_sc();
    cluster.restart_sc();
    cluster.restart(first);
    let again = producer_id(&cluster, first);
    assert!(again > *ids.last().unwrap(), "{again} after {ids:?}");
}

#[test]
fn pipelined_idempotent_producer_stores_every_record_once_across_a_leader_kill() {
    let topic = "pipelined";
    let name = format!("{topic}-0");
    let mut cluster = Cluster::failover_with_topic(topic);
    let first = cluster.partition(&name).spec.leader;
    let rt = runtime();
    let fluvio = rt
        .block_on(Fluvio::connect(&cluster.sc.public.to_string()))
        .expect("connect");
    let producer = rt
        .block_on(fluvio.topic_producer(
            topic,
            ProducerConfig {
                isolation: Isolation::ReadCommitted,
                // Small batches and no linger: many requests in flight at once.
                batch_size: 512,
                linger: Duration::ZERO,
                max_attempts: 60,
                ..ProducerConfig::default()
            },
        ))
        .expect("producer");
    const RECORDS: usize = 4000;
    let pending = rt.block_on(async {
        let mut pending = Vec::with_capacity(RECORDS);
        for i in 0..RECORDS {
            pending.push(
                producer
                    .send(None, Bytes::from(format!("r{i:05}")))
                    .await
                    .expect("send"),
            );
            if i == RECORDS / 2 {
                // Let some requests be in flight before the leader dies.
                tokio::task::yield_now().await;
                cluster.kill(first);
            }
        }
        let mut offsets = Vec::with_capacity(RECORDS);
        for p in pending {
            offsets.push(p.wait().await.expect("acknowledged").offset);
        }
        offsets
    });
    assert_ne!(
        cluster.partition(&name).spec.leader,
        first,
        "the leader moved"
    );
    // Acknowledged offsets are the record numbers: nothing stored twice, nothing skipped.
    assert_eq!(pending, (0..RECORDS as i64).collect::<Vec<_>>());
    let stored = values(&cluster, topic);
    let expected: Vec<(i64, String)> = (0..RECORDS)
        .map(|i| (i as i64, format!("r{i:05}")))
        .collect();
    assert_eq!(stored.len(), RECORDS, "exactly the records sent");
    assert_eq!(stored, expected);
}
