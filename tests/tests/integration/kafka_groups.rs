//! Kafka consumer groups with a real client: three `kafka-python` consumers in one group
//! over a topic of six partitions share the partitions; one is killed with kill -9 while
//! consuming; after its session times out the coordinator gives its partitions to the
//! other two, which resume from its committed offsets. No record is lost, and a record is
//! consumed twice only if the killed member had consumed it without committing it. The
//! group and its committed offsets are then read back with kafka-python's admin client,
//! and with `fluvio consumer-group`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use tests::{Daemon, Role, free_addr, python, temp_dir};

/// One group member: logs `assigned P,P,..` on each assignment, `got P O VALUE` for each
/// record processed and `committed P O` after each commit, a line at a time.
const MEMBER: &str = r#"
import sys
from kafka import KafkaConsumer, ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata
b, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
log = open(out, "w", buffering=1)
def mark(offset):
    try:
        return OffsetAndMetadata(offset, "", -1)
    except TypeError:
        return OffsetAndMetadata(offset, "")
class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        pass
    def on_partitions_assigned(self, assigned):
        log.write("assigned %s\n" % ",".join(str(tp.partition) for tp in sorted(assigned)))
c = KafkaConsumer(bootstrap_servers=b, group_id="g1", client_id=name,
                  enable_auto_commit=False, auto_offset_reset="earliest",
                  session_timeout_ms=6000, heartbeat_interval_ms=500, max_poll_records=5)
c.subscribe(["cg"], listener=Listener())
while True:
    batch = c.poll(timeout_ms=200)
    for tp, records in batch.items():
        for r in records:
            log.write("got %d %d %s\n" % (tp.partition, r.offset, r.value.decode()))
        last = records[-1].offset
        c.commit({tp: mark(last + 1)})
        log.write("committed %d %d\n" % (tp.partition, last + 1))
"#;

/// Create the topic (name, partitions) when `start` is 0, then produce `count` records to
/// each of its partitions, values `P-N`, from `start`.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
b, topic, parts, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if start == 0:
    KafkaAdminClient(bootstrap_servers=b).create_topics([NewTopic(topic, num_partitions=parts, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=b, acks="all", linger_ms=5)
for n in range(start, start + count):
    for part in range(parts):
        p.send(topic, value=b"%d-%d" % (part, n), partition=part)
p.flush()
print("produced")
"#;

/// What the admin client sees of the group: its members and committed offsets.
const DESCRIBE: &str = r#"
import sys
from kafka import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
print("groups", sorted(g["group_id"] for g in a.list_groups()))
d = a.describe_groups(["g1"])["g1"]
print("state", d["group_state"], "members", len(d["members"]))
offsets = a.list_group_offsets({"g1": None})["g1"]
print("offsets", sorted((tp.partition, o.offset) for tp, o in offsets.items()))
"#;

/// The lines of a member's log.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The partitions of the member's newest assignment.
fn assignment(log: &[String]) -> Option<BTreeSet<u32>> {
    log.iter().rev().find_map(|l| {
        l.strip_prefix("assigned ").map(|rest| {
            rest.split(',')
                .filter(|s| !s.is_empty())
                .map(|p| p.parse().unwrap())
                .collect()
        })
    })
}

/// Values a member processed: (partition, offset, value).
fn got(log: &[String]) -> Vec<(u32, i64, String)> {
    log.iter()
        .filter_map(|l| l.strip_prefix("got "))
        .map(|rest| {
            let mut w = rest.split(' ');
            (
                w.next().unwrap().parse().unwrap(),
                w.next().unwrap().parse().unwrap(),
                w.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// The last offset committed per partition (Kafka's meaning: the next to read).
fn committed(log: &[String]) -> BTreeMap<u32, i64> {
    let mut out = BTreeMap::new();
    for l in log {
        if let Some(rest) = l.strip_prefix("committed ") {
            let mut w = rest.split(' ');
            let p: u32 = w.next().unwrap().parse().unwrap();
            out.insert(p, w.next().unwrap().parse().unwrap());
        }
    }
    out
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// An all-in-one daemon with one SPU serving Kafka on a free port, and that address.
fn kafka_daemon(dir: &Path) -> (Daemon, String) {
    let kafka = free_addr().to_string();
    let daemon =
        Daemon::start_with_args(Role::AllInOne { spus: 1 }, dir, &["--kafka-addr", &kafka]);
    (daemon, kafka)
}

#[test]
fn three_kafka_python_members_share_six_partitions_and_survive_a_kill() {
    let _cpu = tests::cpu_heavy();
    let dir = temp_dir();
    let (daemon, kafka) = kafka_daemon(dir.path());
    python::run_ok(PRODUCE, &[&kafka, "cg", "6", "0", "20"]);

    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("member-{i}.log")))
        .collect();
    let mut members: Vec<Option<(Child, tempfile::TempDir)>> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            Some(python::spawn(
                MEMBER,
                &[&kafka, &format!("member-{i}"), &log.display().to_string()],
            ))
        })
        .collect();
    // One generation with everyone: each member holds two partitions.
    wait_until(
        "three members with two partitions each",
        Duration::from_secs(60),
        || {
            let assigned: Vec<_> = logs.iter().map(|l| assignment(&lines(l))).collect();
            assigned
                .iter()
                .all(|a| a.as_ref().is_some_and(|a| a.len() == 2))
                && assigned
                    .iter()
                    .flatten()
                    .flatten()
                    .collect::<BTreeSet<_>>()
                    .len()
                    == 6
        },
    );
    wait_until(
        "the first 120 records consumed",
        Duration::from_secs(60),
        || logs.iter().map(|l| got(&lines(l)).len()).sum::<usize>() >= 120,
    );

    // kill -9 of member 0 while records keep coming.
    let victim = assignment(&lines(&logs[0])).unwrap();
    let (child, _script) = members[0].take().unwrap();
    stop(child);
    python::run_ok(PRODUCE, &[&kafka, "cg", "6", "20", "20"]);

    let everything: BTreeSet<String> = (0..40)
        .flat_map(|n| (0..6).map(move |p| format!("{p}-{n}")))
        .collect();
    wait_until(
        "the two survivors take over and consume everything",
        Duration::from_secs(90),
        || {
            let seen: BTreeSet<String> = logs
                .iter()
                .flat_map(|l| got(&lines(l)))
                .map(|(_, _, v)| v)
                .collect();
            let mut last = BTreeMap::new();
            for l in &logs[1..] {
                last.extend(committed(&lines(l)));
            }
            seen.is_superset(&everything) && (0..6).all(|p| last.get(&p) == Some(&40))
        },
    );
    let survivors: BTreeSet<u32> = logs[1..]
        .iter()
        .flat_map(|l| assignment(&lines(l)).unwrap())
        .collect();
    assert_eq!(
        survivors,
        (0..6).collect(),
        "the victim's partitions {victim:?} were reassigned"
    );

    // Duplicates: only records the victim processed past its last commit.
    let victim_log = lines(&logs[0]);
    let victim_committed = committed(&victim_log);
    let uncommitted: BTreeSet<String> = got(&victim_log)
        .into_iter()
        .filter(|(p, o, _)| *o >= victim_committed.get(p).copied().unwrap_or(0))
        .map(|(_, _, v)| v)
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, v) in logs.iter().flat_map(|l| got(&lines(l))) {
        *counts.entry(v).or_default() += 1;
    }
    for (value, n) in &counts {
        assert!(
            *n == 1 || uncommitted.contains(value),
            "{value} consumed {n} times though committed"
        );
    }

    let seen = python::run_ok(DESCRIBE, &[&kafka]);
    assert!(seen.contains("groups ['g1']"), "{seen}");
    assert!(seen.contains("state Stable members 2"), "{seen}");
    let offsets: Vec<String> = (0..6).map(|p| format!("({p}, 40)")).collect();
    assert!(
        seen.contains(&format!("offsets [{}]", offsets.join(", "))),
        "every partition committed up to its end:\n{seen}"
    );
    for m in members.into_iter().flatten() {
        stop(m.0);
    }
    drop(daemon);
}

/// The row of a `fluvio` table whose first cells are `key`, by column name.
fn row_of(table: &str, key: &[&str]) -> BTreeMap<String, String> {
    let (header, _) = tests::cli::parse_table(table);
    row_where(table, |r| {
        header.iter().zip(key).all(|(name, k)| r[name] == *k)
    })
}

/// The row of a `fluvio` table that `pick` chooses, by column name.
fn row_where(
    table: &str,
    pick: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let (header, rows) = tests::cli::parse_table(table);
    rows.iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .find(|r: &BTreeMap<String, String>| pick(r))
        .unwrap_or_else(|| panic!("no such row in:\n{table}"))
}

/// The table that follows the line `title` in a `consumer-group describe` output, up to
/// the next title (a line ending in ':').
fn section(stdout: &str, title: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| *l != title);
    assert!(lines.next().is_some(), "no {title} in:\n{stdout}");
    lines
        .take_while(|l| !l.trim().is_empty() && !l.ends_with(':'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn consumer_group_list_and_describe_show_a_kafka_python_group() {
    use tests::cli::fluvio;

    let _cpu = tests::cpu_heavy();
    let dir = temp_dir();
    let (daemon, kafka) = kafka_daemon(dir.path());
    let sc = daemon.public.to_string();
    python::run_ok(PRODUCE, &[&kafka, "cg2", "2", "0", "3"]);
    let member = MEMBER
        .replace("group_id=\"g1\"", "group_id=\"g2\"")
        .replace("[\"cg\"]", "[\"cg2\"]");
    let logs: Vec<_> = (0..2)
        .map(|i| dir.path().join(format!("two-{i}.log")))
        .collect();
    let children: Vec<(Child, tempfile::TempDir)> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            python::spawn(
                &member,
                &[&kafka, &format!("member-{i}"), &log.display().to_string()],
            )
        })
        .collect();
    wait_until(
        "each member holds one partition and both partitions are committed to 3",
        Duration::from_secs(60),
        || {
            let logs: Vec<_> = logs.iter().map(|l| lines(l)).collect();
            let mut last = BTreeMap::new();
            for l in &logs {
                last.extend(committed(l));
            }
            logs.iter()
                .all(|l| assignment(l).is_some_and(|a| a.len() == 1))
                && (0..2).all(|p| last.get(&p) == Some(&3))
        },
    );
    let owner: BTreeMap<u32, String> = logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = *assignment(&lines(l)).unwrap().first().unwrap();
            (p, format!("member-{i}"))
        })
        .collect();

    // While both run: a stable group of two, each member with its partition.
    let list = fluvio(&sc, &["consumer-group", "list", "--kafka-addr", &kafka]);
    list.ok();
    let g2 = row_of(&list.stdout, &["g2"]);
    assert_eq!(g2["STATE"], "Stable", "{}", list.stdout);
    assert_eq!(g2["MEMBERS"], "2", "{}", list.stdout);
    assert_eq!(g2["PROTOCOL"], "range", "kafka-python's first assignor");
    // Without --kafka-addr the SC names an online SPU's listener.
    let found = fluvio(&sc, &["consumer-group", "list"]);
    found.ok();
    assert_eq!(
        row_of(&found.stdout, &["g2"])["MEMBERS"],
        "2",
        "{}",
        found.stdout
    );
    let json = fluvio(
        &sc,
        &[
            "consumer-group",
            "list",
            "--kafka-addr",
            &kafka,
            "-O",
            "json",
        ],
    );
    let groups: serde_json::Value = serde_json::from_str(&json.ok().stdout).unwrap();
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == "g2" && g["members"] == 2),
        "{groups}"
    );

    let describe = fluvio(
        &sc,
        &["consumer-group", "describe", "g2", "--kafka-addr", &kafka],
    );
    describe.ok();
    assert!(describe.stdout.contains("State:"), "{}", describe.stdout);
    let members = section(&describe.stdout, "Members:");
    for (p, client) in &owner {
        let row = row_where(&members, |r| r["CLIENT-ID"] == *client);
        assert_eq!(row["ASSIGNMENT"], format!("cg2-{p}"), "{members}");
    }
    let offsets = section(&describe.stdout, "Offsets:");
    for (p, client) in &owner {
        let row = row_of(&offsets, &["cg2", &p.to_string()]);
        assert_eq!(
            (
                row["COMMITTED"].as_str(),
                row["LOG-END"].as_str(),
                row["LAG"].as_str()
            ),
            ("3", "3", "0"),
            "{offsets}"
        );
        assert_eq!(row["CLIENT-ID"], *client, "{offsets}");
    }

    // The members stop; two more records per partition make a lag of two each.
    for (child, _script) in children {
        stop(child);
    }
    python::run_ok(PRODUCE, &[&kafka, "cg2", "2", "3", "2"]);
    let repl = fluvio(
        &sc,
        &[
            "repl",
            "-c",
            &format!("consumer-group describe g2 --kafka-addr {kafka}"),
        ],
    );
    repl.ok();
    let offsets = section(&repl.stdout, "Offsets:");
    for p in 0..2 {
        let row = row_of(&offsets, &["cg2", &p.to_string()]);
        assert_eq!(
            (
                row["COMMITTED"].as_str(),
                row["LOG-END"].as_str(),
                row["LAG"].as_str()
            ),
            ("3", "5", "2"),
            "{}",
            repl.stdout
        );
    }

    // Clear errors: an unknown group, no Kafka listener at the address.
    let unknown = fluvio(
        &sc,
        &[
            "consumer-group",
            "describe",
            "nosuch",
            "--kafka-addr",
            &kafka,
        ],
    );
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("consumer group \"nosuch\" does not exist")
            && unknown.stderr.contains("fluvio consumer-group list"),
        "{}",
        unknown.stderr
    );
    let nowhere = free_addr().to_string();
    let unreachable = fluvio(&sc, &["consumer-group", "list", "--kafka-addr", &nowhere]);
    assert_ne!(unreachable.code, 0);
    assert!(
        unreachable
            .stderr
            .contains(&format!("cannot reach a Kafka listener at {nowhere}"))
            && unreachable.stderr.contains("--kafka-addr"),
        "{}",
        unreachable.stderr
    );
    drop(daemon);
}
