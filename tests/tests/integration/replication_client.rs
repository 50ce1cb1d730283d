//! Our client library across a leader change: the producer retries on the new leader and
//! the consumer follows the partition there, seeing every offset once, in order.

use std::time::Duration;

use bytes::Bytes;
use console::client::{ConsumerConfig, Fluvio, Offset, ProducerConfig};
use protocol::sc::PartitionResolution;
use protocol::spu::Isolation;
use tests::cluster::{Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::{replicated, runtime};

#[test]
fn producer_and_consumer_follow_a_new_leader() {
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS);
    let spec = replicated(1, 3);
    let status = cluster
        .admin()
        .create_topic("moving", spec)
        .expect("create");
    assert!(!status.error_code.is_error(), "{status:?}");
    let first = cluster.wait_partition("moving-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let sc = cluster.sc.public.to_string();
    let rt = runtime();
    let fluvio = rt.block_on(Fluvio::connect(&sc)).expect("connect");
    let consumer = rt
        .block_on(fluvio.partition_consumer("moving", 0))
        .expect("consumer");
    let mut stream = rt
        .block_on(consumer.stream(
            Offset::Beginning,
            ConsumerConfig {
                isolation: Isolation::ReadCommitted,
                ..ConsumerConfig::default()
            },
        ))
        .expect("stream");
    let producer = rt
        .block_on(fluvio.topic_producer(
            "moving",
            ProducerConfig {
                isolation: Isolation::ReadCommitted,
                linger: Duration::ZERO,
                max_attempts: 60,
                ..ProducerConfig::default()
            },
        ))
        .expect("producer");
    let send = |i: usize| {
        rt.block_on(async {
            let pending = producer
                .send(None, Bytes::from(format!("r{i}")))
                .await
                .expect("send");
            pending.wait().await
        })
    };

    for i in 0..20 {
        send(i).expect("acknowledged before the kill");
    }
    cluster.kill(first.spec.leader);
    // The producer retries until a new leader takes the records.
    for i in 20..40 {
        send(i).unwrap_or_else(|err| panic!("record {i} after the kill: {err}"));
    }
    let moved = cluster.partition("moving-0");
    assert_ne!(
        moved.spec.leader, first.spec.leader,
        "a new leader was elected"
    );

    // The stream, opened on the old leader, delivers everything: offsets 0.. in order,
    // each once, every value sent. (A retried send may have written a value twice.)
    let mut offsets = Vec::new();
    let mut values = std::collections::BTreeSet::new();
    rt.block_on(async {
        while values.len() < 40 {
            let record = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .expect("the stream keeps delivering across the leader change")
                .expect("stream open")
                .expect("record");
            offsets.push(record.offset);
            values.insert(String::from_utf8(record.value.to_vec()).unwrap());
        }
    });
    assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    assert_eq!(values, (0..40).map(|i| format!("r{i}")).collect());
}
