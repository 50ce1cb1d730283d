//! The Kafka listener with real Kafka clients: kcat (librdkafka) producing and consuming
//! with keys and headers and listing metadata, `kafka-python` administering topics,
//! `confluent-kafka` producing with acks=all and consuming, records crossing between the
//! Kafka and Fluvio protocols (our CLI and the official Python client) with every
//! compression codec, an acks=all producer across a leader's kill -9, and a request the
//! listener does not serve answered with UNSUPPORTED_VERSION on a connection that stays
//! open.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use tests::cli::{fluvio, fluvio_stdin};
use tests::cluster::{CONVERGE, Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::{Daemon, Role, free_addr, python, temp_dir};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// kcat with `args`, `input` on stdin; its stdout. Panics with stderr when it fails.
fn kcat(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is needed for the Kafka tests: apt-get install kcat (.ci/run does)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to kcat");
    let out = child.wait_with_output().expect("wait for kcat");
    assert!(
        out.status.success(),
        "kcat {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An all-in-one daemon with one SPU serving Kafka at the returned address.
fn daemon_with_kafka(dir: &std::path::Path) -> (Daemon, String) {
    let kafka = free_addr().to_string();
    let daemon =
        Daemon::start_with_args(Role::AllInOne { spus: 1 }, dir, &["--kafka-addr", &kafka]);
    (daemon, kafka)
}

/// The value after `prefix ` on the line that starts with it.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    let start = format!("{prefix} ");
    out.lines()
        .find_map(|l| l.strip_prefix(&start))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

/// The official client reads every record: offset, key, value, timestamp.
const OFFICIAL_CONSUME: &str = r#"
import sys, itertools
from fluvio import Fluvio, FluvioConfig, Offset
f = Fluvio.connect_with_config(FluvioConfig.new(sys.argv[1]))
for topic in sys.argv[2:]:
    stream = f.partition_consumer(topic, 0).stream(Offset.beginning())
    for r in itertools.islice(stream, 2):
        print("record", topic, r.offset(), bytes(r.key()).decode(), r.value_string(), r.timestamp())
"#;

#[test]
fn kcat_and_fluvio_clients_share_records_with_every_codec() {
    let dir = temp_dir();
    let (daemon, kafka) = daemon_with_kafka(dir.path());
    let sc = daemon.public.to_string();
    let topics: Vec<String> = CODECS.iter().map(|c| format!("x-{c}")).collect();
    for topic in &topics {
        fluvio(&sc, &["topic", "create", topic]).ok();
    }

    // kcat -L: this SPU is the broker and the controller, the topics are ours.
    let listing = kcat(&["-b", &kafka, "-L"], b"");
    assert!(
        listing.contains(&format!("broker 5001 at {kafka} (controller)")),
        "{listing}"
    );
    for topic in &topics {
        assert!(
            listing.contains(&format!("topic \"{topic}\" with 1 partitions")),
            "{listing}"
        );
    }
    assert!(listing.contains("partition 0, leader 5001, replicas: 5001, isrs: 5001"));

    for (codec, topic) in CODECS.iter().zip(&topics) {
        // Kafka in: a key, a header, the codec.
        kcat(
            &[
                "-b",
                &kafka,
                "-P",
                "-t",
                topic,
                "-K:",
                "-H",
                "origin=kcat",
                "-z",
                codec,
            ],
            format!("kk-{codec}:from-kcat-{codec}\n").as_bytes(),
        );
        // Fluvio in: our producer with the same codec, a header too.
        let json = format!(
            r#"{{"key":"fk-{codec}","value":"from-fluvio-{codec}","headers":[{{"key":"origin","value":"fluvio"}}]}}"#
        );
        fluvio_stdin(
            &sc,
            &["produce", topic, "--json", "--compression", codec],
            format!("{json}\n").as_bytes(),
        )
        .ok();
    }

    let mut kafka_timestamps = Vec::new();
    for (codec, topic) in CODECS.iter().zip(&topics) {
        // Kafka out: both records with key, value, headers.
        let out = kcat(
            &[
                "-b",
                &kafka,
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%o|%k|%s|%h|%T\n",
            ],
            b"",
        );
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
        assert_eq!(rows.len(), 2, "{codec}: {out}");
        assert_eq!(
            rows[0][..4],
            [
                "0",
                &format!("kk-{codec}"),
                &format!("from-kcat-{codec}"),
                "origin=kcat"
            ],
            "{codec}"
        );
        assert_eq!(
            rows[1][..4],
            [
                "1",
                &format!("fk-{codec}"),
                &format!("from-fluvio-{codec}"),
                "origin=fluvio"
            ],
            "{codec}"
        );
        kafka_timestamps.push((rows[0][4].to_string(), rows[1][4].to_string()));

        // Fluvio out: the Kafka record with its key, value, header and timestamp.
        let json = fluvio(&sc, &["consume", topic, "-B", "-d", "-O", "json"]);
        json.ok();
        let first = json.stdout.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                r#"{{"partition":0,"offset":0,"timestamp":{},"key":"kk-{codec}","value":"from-kcat-{codec}","headers":[{{"key":"origin","value":"kcat"}}]}}"#,
                rows[0][4]
            ),
            "{codec}"
        );
    }

    // The official client reads the same records, timestamps included.
    let mut args = vec![sc.as_str()];
    args.extend(topics.iter().map(String::as_str));
    let out = python::run_ok(OFFICIAL_CONSUME, &args);
    for ((codec, topic), (kcat_ts, fluvio_ts)) in CODECS.iter().zip(&topics).zip(&kafka_timestamps)
    {
        let records: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(&format!("record {topic} ")))
            .collect();
        assert_eq!(
            records,
            [
                format!("record {topic} 0 kk-{codec} from-kcat-{codec} {kcat_ts}"),
                format!("record {topic} 1 fk-{codec} from-fluvio-{codec} {fluvio_ts}"),
            ],
            "{out}"
        );
    }
}

/// kafka-python administers topics (create, describe, add partitions, delete) and
/// produces with acks=all; confluent-kafka produces with acks=all and consumes.
const KAFKA_CLIENTS: &str = r#"
import sys, time
from kafka import KafkaAdminClient, KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic, NewPartitions
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from confluent_kafka import Producer, Consumer, TopicPartition as CkPartition, OFFSET_BEGINNING

b = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=b, client_id="test-admin")
admin.create_topics([NewTopic("kp-admin", num_partitions=2, replication_factor=1,
                              topic_configs={"retention.ms": "3600000"})])
print("listed", sorted(t for t in admin.list_topics() if t.startswith("kp-")))
try:
    admin.create_topics([NewTopic("kp-admin", num_partitions=1, replication_factor=1)])
    print("again created")
except TopicAlreadyExistsError:
    print("again TopicAlreadyExistsError")
described = admin.describe_topics(["kp-admin"])[0]
print("partitions", len(described["partitions"]))
admin.create_partitions({"kp-admin": NewPartitions(total_count=3)})
print("partitions-after", len(admin.describe_topics(["kp-admin"])[0]["partitions"]))

# Idempotence is the InitProducerId part's: this producer does without it.
p = KafkaProducer(bootstrap_servers=b, acks="all", enable_idempotence=False, compression_type="gzip")
for i in range(30):
    p.send("kp-admin", key=b"k%d" % i, value=b"v%d" % i, headers=[("n", b"%d" % i)], partition=i % 3)
p.flush()
c = KafkaConsumer(bootstrap_servers=b, auto_offset_reset="earliest", enable_auto_commit=False,
                  group_id=None)
c.assign([TopicPartition("kp-admin", i) for i in range(3)])
got, deadline = [], time.time() + 60
while len(got) < 30 and time.time() < deadline:
    for msgs in c.poll(timeout_ms=1000).values():
        got += [(m.partition, m.key.decode(), m.value.decode(), dict(m.headers)["n"].decode()) for m in msgs]
got.sort()
print("kafka-python", len(got), got == sorted((i % 3, "k%d" % i, "v%d" % i, str(i)) for i in range(30)))
ends = c.end_offsets([TopicPartition("kp-admin", i) for i in range(3)])
print("end-offsets", sorted(v for v in ends.values()))

# ListOffsets by timestamp, earliest and latest.
admin.create_topics([NewTopic("kp-times", num_partitions=1, replication_factor=1)])
for i in range(5):
    p.send("kp-times", value=b"t%d" % i, timestamp_ms=1_000_000 * (i + 1), partition=0)
p.flush()
tp = TopicPartition("kp-times", 0)
found = c.offsets_for_times({tp: 2_500_000})[tp]
print("by-time", found.offset, found.timestamp)
print("by-time-exact", c.offsets_for_times({tp: 4_000_000})[tp].offset)
print("by-time-after-all", c.offsets_for_times({tp: 9_000_000})[tp])
print("earliest-latest", c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp])

ck = Producer({"bootstrap.servers": b, "acks": "all", "compression.type": "lz4"})
for i in range(100):
    ck.produce("kp-admin", key=b"ck%d" % i, value=b"cv%d" % i, partition=0)
print("ck-unflushed", ck.flush(30))
cc = Consumer({"bootstrap.servers": b, "group.id": "unused", "enable.auto.commit": False})
cc.assign([CkPartition("kp-admin", 0, OFFSET_BEGINNING)])
seen = []
while len(seen) < 110:
    msgs = cc.consume(110 - len(seen), 10)
    if not msgs:
        break
    for m in msgs:
        if m.error():
            print("consume-error", m.error())
        else:
            seen.append((m.key().decode(), m.value().decode()))
cc.close()
print("confluent", len(seen), seen[10:] == [("ck%d" % i, "cv%d" % i) for i in range(100)])
c.close()

admin.delete_topics(["kp-admin", "kp-times"])
print("after-delete", sorted(t for t in admin.list_topics() if t.startswith("kp-")))
try:
    admin.delete_topics(["kp-admin"])
    print("delete-again ok")
except UnknownTopicOrPartitionError:
    print("delete-again UnknownTopicOrPartitionError")
"#;

#[test]
fn kafka_python_and_confluent_kafka_administer_produce_and_consume() {
    let dir = temp_dir();
    let (daemon, kafka) = daemon_with_kafka(dir.path());
    let out = python::run_ok(KAFKA_CLIENTS, &[&kafka]);
    assert_eq!(line(&out, "listed"), "['kp-admin']", "{out}");
    assert_eq!(line(&out, "again"), "TopicAlreadyExistsError");
    assert_eq!(line(&out, "partitions"), "2");
    assert_eq!(line(&out, "partitions-after"), "3");
    assert_eq!(line(&out, "kafka-python"), "30 True", "{out}");
    assert_eq!(line(&out, "end-offsets"), "[10, 10, 10]");
    assert_eq!(line(&out, "by-time"), "2 3000000", "{out}");
    assert_eq!(line(&out, "by-time-exact"), "3");
    assert_eq!(line(&out, "by-time-after-all"), "None");
    assert_eq!(line(&out, "earliest-latest"), "0 5");
    assert_eq!(line(&out, "ck-unflushed"), "0");
    assert_eq!(line(&out, "confluent"), "110 True", "{out}");
    assert_eq!(line(&out, "after-delete"), "[]");
    assert_eq!(line(&out, "delete-again"), "UnknownTopicOrPartitionError");
    // The topic's setting reached our topic (retention in seconds).
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "list"]).ok();
}

/// Produce with acks=all while the test kills the leader; then read everything back and
/// report acknowledged values missing from the log.
const ACKS_ALL_FAILOVER: &str = r#"
import sys, os, time
from kafka import KafkaAdminClient, KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
b, marker, killed = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
admin = KafkaAdminClient(bootstrap_servers=b)
admin.create_topics([NewTopic("failover", num_partitions=1, replication_factor=3)])
p = KafkaProducer(bootstrap_servers=b, acks="all", enable_idempotence=False, retries=1000,
                  retry_backoff_ms=200, request_timeout_ms=5000, delivery_timeout_ms=60000,
                  max_in_flight_requests_per_connection=1, linger_ms=2)
acked, failed = set(), 0
def send(i):
    global failed
    try:
        p.send("failover", value=b"r%d" % i).get(timeout=60)
        acked.add("r%d" % i)
    except Exception as e:
        failed += 1
for i in range(100):
    send(i)
open(marker, "w").write("ok")
deadline = time.time() + 60
while not os.path.exists(killed) and time.time() < deadline:
    time.sleep(0.05)
for i in range(100, 250):
    send(i)
p.close()
print("acked", len(acked), "failed", failed)
c = KafkaConsumer(bootstrap_servers=b, auto_offset_reset="earliest", enable_auto_commit=False,
                  group_id=None)
tp = TopicPartition("failover", 0)
c.assign([tp])
end = c.end_offsets([tp])[tp]
stored, deadline = set(), time.time() + 60
while c.position(tp) < end and time.time() < deadline:
    for msgs in c.poll(timeout_ms=1000).values():
        stored.update(m.value.decode() for m in msgs)
print("missing", sorted(acked - stored))
"#;

#[test]
fn acks_all_loses_nothing_acknowledged_across_a_leader_kill() {
    let _cpu = tests::cpu_heavy();
    let mut spu_flags = FAILOVER_SPU_FLAGS.to_vec();
    spu_flags.extend(["--kafka-addr", "127.0.0.1:0"]);
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, &spu_flags);
    // Every broker, so that clients started after the kill still find one.
    let bootstrap = (1..=3)
        .map(|id| kafka_addr(cluster.spu(id)))
        .collect::<Vec<_>>()
        .join(",");
    // One partition on each SPU, without replicas: the killed SPU's stays without leader.
    fluvio(
        &cluster.sc.public.to_string(),
        &["topic", "create", "lonely", "-p", "3", "-r", "1"],
    )
    .ok();
    let (stdout, killed) =
        python::produce_across(ACKS_ALL_FAILOVER, &bootstrap, CONVERGE * 2, || {
            let leader = cluster.partition("failover-0").spec.leader;
            cluster.kill(leader);
            leader
        });
    assert_eq!(line(&stdout, "missing"), "[]", "{stdout}");
    let acked: usize = line(&stdout, "acked")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("acked count");
    // Every send before the kill was acknowledged, and the producer carried on after it.
    assert!(acked > 100, "{stdout}");

    // Metadata: the dead SPU is no broker any more, and the partition only it held has
    // no leader (LEADER_NOT_AVAILABLE, leader -1) rather than a dead one.
    let live = (1..=3).find(|id| *id != killed).unwrap();
    let live = kafka_addr(cluster.spu(live));
    let dead_broker = format!("broker {killed} at");
    let deadline = std::time::Instant::now() + CONVERGE;
    let listing = loop {
        let listing = kcat(&["-b", &live, "-L", "-t", "lonely"], b"");
        let settled = !listing.contains(&dead_broker)
            && listing.contains("leader -1")
            && listing.contains("Leader not available");
        if settled || std::time::Instant::now() > deadline {
            break listing;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(listing.contains(" 2 brokers:"), "{listing}");
    assert!(!listing.contains(&dead_broker), "{listing}");
    // Placement spreads the three partitions over the three SPUs: one was the dead one's.
    let partitions: Vec<&str> = listing
        .lines()
        .filter(|l| l.trim_start().starts_with("partition "))
        .collect();
    assert_eq!(partitions.len(), 3, "{listing}");
    for p in partitions {
        let orphan = p.contains(&format!("replicas: {killed},"));
        assert_eq!(p.contains("leader -1"), orphan, "{listing}");
        assert_eq!(p.contains("Leader not available"), orphan, "{listing}");
    }
}

/// The Kafka address an SPU logged when it started.
fn kafka_addr(spu: &Daemon) -> String {
    let log = spu.log();
    log.lines()
        .find_map(|l| l.split(", kafka ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no Kafka address in the SPU's log:\n{log}"))
        .to_string()
}

/// A request frame: size, api key, version, correlation id, client id, body.
fn frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&api_key.to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&correlation_id.to_be_bytes());
    payload.extend_from_slice(&4i16.to_be_bytes());
    payload.extend_from_slice(b"test");
    payload.extend_from_slice(body);
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("a response");
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).expect("the response body");
    body
}

#[test]
fn requests_the_listener_does_not_serve_get_unsupported_version_and_the_connection_stays() {
    let dir = temp_dir();
    let (_daemon, kafka) = daemon_with_kafka(dir.path());
    let addr: SocketAddr = kafka.parse().expect("address");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // DescribeAcls (29), not served.
    stream.write_all(&frame(29, 1, 7, &[])).expect("send");
    let answer = read_frame(&mut stream);
    assert_eq!(
        answer,
        [0, 0, 0, 7, 0, 35],
        "correlation id 7, UNSUPPORTED_VERSION"
    );
    // Produce at version 99: the same.
    stream.write_all(&frame(0, 99, 8, &[])).expect("send");
    assert_eq!(read_frame(&mut stream), [0, 0, 0, 8, 0, 35]);
    // ApiVersions newer than ours: answered at version 0 with the error and our ranges.
    stream.write_all(&frame(18, 9, 9, &[])).expect("send");
    let answer = read_frame(&mut stream);
    assert_eq!(answer[..6], [0, 0, 0, 9, 0, 35]);
    let count = i32::from_be_bytes(answer[6..10].try_into().unwrap()) as usize;
    let ranges: BTreeSet<(i16, i16, i16)> = answer[10..]
        .chunks(6)
        .take(count)
        .map(|c| {
            let v = |i: usize| i16::from_be_bytes([c[i], c[i + 1]]);
            (v(0), v(2), v(4))
        })
        .collect();
    assert!(ranges.contains(&(18, 0, 4)), "{ranges:?}");
    assert!(ranges.contains(&(0, 3, 11)), "{ranges:?}");
    // Still the same connection: ApiVersions v0 succeeds on it.
    stream.write_all(&frame(18, 0, 10, &[])).expect("send");
    assert_eq!(read_frame(&mut stream)[..6], [0, 0, 0, 10, 0, 0]);
}

/// The split `spu` role serves Kafka only when asked, and an address it was given that
/// it cannot bind stops it before it registers.
#[test]
fn an_spu_given_a_taken_kafka_address_stops() {
    let dir = temp_dir();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let role = Role::Spu {
        id: 7,
        sc_private: free_addr(),
        token: None,
        rack: None,
    };
    let args = ["--kafka-addr", taken.as_str()];
    let mut spu = Daemon::spawn_with_args(role, dir.path(), free_addr(), free_addr(), &args);
    let (status, log) = spu.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{log}");
    let named = format!("address {taken} is already in use");
    assert!(
        log.contains(&named) && log.contains("--kafka-addr"),
        "{log}"
    );
}
