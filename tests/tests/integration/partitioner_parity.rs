//! Keyed records land on the same partition whether the official Python client or our
//! client produced them: the two partitioners must agree, or a topic written by both loses
//! its per-key order.

use bytes::Bytes;
use console::client::{ProducerConfig, partition_for_key};
use tests::{Daemon, Role, python, runtime, temp_dir};

const COUNTS: [u32; 3] = [2, 3, 7];

/// Keys of many lengths (SipHash takes 8-byte words, so lengths around 8 and 16 matter),
/// as Python and Rust both spell them.
fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key-{i}").into_bytes()).collect();
    keys.extend((1..=20).map(|n| vec![b'x'; n]));
    keys.push("ключ-ü".as_bytes().to_vec());
    keys
}

const PRODUCE: &str = r#"
import sys
from fluvio import Fluvio, FluvioAdmin, FluvioConfig
from fluvio._fluvio_python import TopicSpec

cfg = FluvioConfig.new(sys.argv[1])
keys = [bytes.fromhex(k) for k in sys.argv[3].split(",")]
counts = [int(c) for c in sys.argv[2].split(",")]
admin = FluvioAdmin.connect_with_config(cfg)
for count in counts:
    admin.create_topic("parity-%d" % count, TopicSpec.new_computed(count, 1, True))
# Connected after the topics exist, so its metadata has them all.
f = Fluvio.connect_with_config(cfg)
for count in counts:
    p = f.topic_producer("parity-%d" % count)
    outs = [p.send(k, b"py") for k in keys]
    p.flush()
    print("placed", count, ",".join(str(o.wait().partition_id()) for o in outs))
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn python_and_our_producer_put_each_key_on_the_same_partition() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let keys = keys();
    let counts = COUNTS.map(|c| c.to_string()).join(",");
    let encoded: Vec<String> = keys.iter().map(|k| hex(k)).collect();
    let out = python::run_ok(
        PRODUCE,
        &[&daemon.public.to_string(), &counts, &encoded.join(",")],
    );
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        for count in COUNTS {
            let prefix = format!("placed {count} ");
            let python: Vec<u32> = out
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
                .split(',')
                .map(|p| p.parse().expect("partition id"))
                .collect();
            assert_eq!(python.len(), keys.len(), "{out}");
            let topic = format!("parity-{count}");
            let producer = fluvio
                .topic_producer(&topic, ProducerConfig::default())
                .await
                .expect("producer");
            let mut ours = Vec::new();
            for key in &keys {
                let pending = producer
                    .send(Some(Bytes::from(key.clone())), "rust")
                    .await
                    .expect("send");
                ours.push(pending);
            }
            producer.flush().await.expect("flush");
            for ((key, pending), theirs) in keys.iter().zip(ours).zip(&python) {
                let meta = pending.wait().await.expect("ack");
                assert_eq!(
                    meta.partition,
                    *theirs,
                    "key {:?} with {count} partitions",
                    String::from_utf8_lossy(key)
                );
                assert_eq!(partition_for_key(key, count), *theirs);
            }
            // The keys spread: a partitioner sending everything to one place would agree
            // trivially.
            let used: std::collections::BTreeSet<&u32> = python.iter().collect();
            assert_eq!(used.len(), count as usize, "{count} partitions: {python:?}");
        }
    });
}
