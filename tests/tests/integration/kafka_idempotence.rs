//! Idempotent Kafka producers with a real client: confluent-kafka (librdkafka) with
//! `enable.idempotence=true` and five requests in flight produces to a partition with
//! replication 3 while the test kills its leader with kill -9. Every record it sent is
//! stored exactly once, in the order sent: librdkafka retries what the dead leader never
//! answered, and the new leader recognises the batches the old one had stored (their
//! producer id and sequences travelled with them to the followers).

use tests::cluster::{CONVERGE, Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::{Daemon, python};

/// Produce idempotently while the test kills the leader, then read the partition back.
const IDEMPOTENT_FAILOVER: &str = r#"
import sys, os, time
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
b, marker, killed = sys.argv[1], sys.argv[2], sys.argv[3]
admin = AdminClient({"bootstrap.servers": b})
for f in admin.create_topics([NewTopic("idem", num_partitions=1, replication_factor=3)]).values():
    f.result(30)
p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "acks": "all",
              "max.in.flight.requests.per.connection": 5, "linger.ms": 2,
              "batch.num.messages": 20, "message.timeout.ms": 120000,
              "retry.backoff.ms": 100, "request.timeout.ms": 5000})
acked, errors = [], []
def report(err, msg):
    if err is None:
        acked.append(msg.value().decode())
    else:
        errors.append(str(err))
def send(i):
    while True:
        try:
            p.produce("idem", value=b"r%04d" % i, partition=0, on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    p.poll(0)
for i in range(200):
    send(i)
p.flush(60)
open(marker, "w").write("ok")
# Keep requests in flight until the leader is gone, and after.
i = 200
deadline = time.time() + 60
while not os.path.exists(killed) and time.time() < deadline:
    send(i)
    i += 1
    if i % 50 == 0:
        time.sleep(0.01)
for j in range(i, i + 300):
    send(j)
left = p.flush(120)
sent = i + 300
print("sent", sent, "acked", len(acked), "unflushed", left, "errors", errors[:3])
c = Consumer({"bootstrap.servers": b, "group.id": "unused", "enable.auto.commit": False})
c.assign([TopicPartition("idem", 0, OFFSET_BEGINNING)])
stored = []
while True:
    msgs = c.consume(500, 10)
    if not msgs:
        break
    for m in msgs:
        if not m.error():
            stored.append(m.value().decode())
c.close()
expected = ["r%04d" % k for k in range(sent)]
dups = len(stored) - len(set(stored))
print("stored", len(stored), "duplicates", dups, "in-order", stored == expected)
print("acked-order", acked == expected)
"#;

/// The Kafka address an SPU logged when it started (`..., kafka ADDR ...`).
fn logged_kafka_addr(spu: &Daemon) -> String {
    spu.log()
        .lines()
        .find_map(|l| l.split(", kafka ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .expect("the SPU logs its Kafka address")
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.split_whitespace()
        .skip_while(|w| *w != key)
        .nth(1)
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
fn confluent_kafka_idempotent_producer_stores_each_record_once_across_a_leader_kill() {
    let _cpu = tests::cpu_heavy();
    let mut spu_flags = FAILOVER_SPU_FLAGS.to_vec();
    spu_flags.extend(["--kafka-addr", "127.0.0.1:0"]);
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, &spu_flags);
    let bootstrap = cluster
        .spus
        .values()
        .map(logged_kafka_addr)
        .collect::<Vec<_>>()
        .join(",");
    let (stdout, leader) =
        python::produce_across(IDEMPOTENT_FAILOVER, &bootstrap, CONVERGE * 2, || {
            let leader = cluster.partition("idem-0").spec.leader;
            cluster.kill(leader);
            leader
        });
    assert_ne!(cluster.partition("idem-0").spec.leader, leader);
    assert_eq!(value(&stdout, "unflushed"), "0", "{stdout}");
    assert_eq!(value(&stdout, "duplicates"), "0", "{stdout}");
    assert_eq!(
        value(&stdout, "in-order"),
        "True",
        "no gap, no reordering:\n{stdout}"
    );
    assert_eq!(value(&stdout, "sent"), value(&stdout, "stored"), "{stdout}");
    assert_eq!(value(&stdout, "acked-order"), "True", "{stdout}");
}
