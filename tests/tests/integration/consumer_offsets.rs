//! Consumer offsets end to end: the official Python client's offset consumer (manual and
//! auto commit) against our daemon, across a kill -9; `fluvio consume --consumer` and
//! `fluvio consumer list/delete`; offsets surviving a failover of their leader at
//! replication 3; the system topic `consumer-offset` as clients see it (hidden from
//! lists, refused for delete and produce).

use protocol::api::ErrorCode;
use protocol::sc::{PartitionResolution, SpuId};
use protocol::spu::CONSUMER_OFFSET_TOPIC;
use tests::cli::{Run, column, fluvio, fluvio_stdin, parse_table};
use tests::client::ScClient;
use tests::cluster::{Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::{Daemon, Role, python, temp_dir};

/// The value of the line `prefix ...` of `out`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    let start = format!("{prefix} ");
    out.lines()
        .find_map(|l| l.strip_prefix(&start))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

/// Shared by both phases: `consume(cid, n, strategy, commit_after)` reads `n` records
/// from the beginning-or-committed offset of `offs-0` as consumer `cid`; with manual
/// commit it commits and flushes after `commit_after` records and reads on without
/// committing. The process ends with `os._exit`, so nothing is committed on drop.
const COMMON: &str = r#"
import sys, os, time
from fluvio import (Fluvio, FluvioConfig, FluvioAdmin, ConsumerConfigExtBuilder,
                    OffsetManagementStrategy, Offset)
cfg = FluvioConfig.new(sys.argv[1])
f = Fluvio.connect_with_config(cfg)
MANUAL, AUTO = OffsetManagementStrategy.MANUAL, OffsetManagementStrategy.AUTO

def stream(cid, strategy):
    b = ConsumerConfigExtBuilder("offs"); b.partition(0); b.offset_consumer(cid)
    b.offset_start(Offset.beginning()); b.offset_strategy(strategy); b.disable_continuous(True)
    return f.consumer_with_config(b.build())

def consume(cid, n, strategy, commit_after=None):
    s = stream(cid, strategy); got = []
    for r in s:
        got.append(r.value_string())
        if commit_after is not None and len(got) == commit_after:
            s.offset_commit(); s.offset_flush()
        if len(got) == n:
            break
    return s, got

g = lambda o, n: (lambda v: v() if callable(v) else v)(getattr(o, n))
def offsets():
    return sorted((g(o, "consumer_id"), g(o, "topic"), g(o, "partition"), g(o, "offset"))
                  for o in f.consumer_offsets())
"#;

const BEFORE_CRASH: &str = r#"
admin = FluvioAdmin.connect_with_config(cfg)
admin.create_topic("offs")
time.sleep(1)
p = f.topic_producer("offs")
for i in range(100): p.send_string("v%05d" % i)
p.flush()
s, got = consume("c1", 45, MANUAL, commit_after=40)
print("manual", got[0], got[-1], len(got))
del s
s, got = consume("c2", 10, AUTO)
print("auto", got[0], got[-1], len(got))
del s
time.sleep(1)
print("offsets", offsets())
sys.stdout.flush()
os._exit(0)
"#;

const AFTER_CRASH: &str = r#"
print("offsets", offsets())
s, got = consume("c1", 10, MANUAL, commit_after=10)
print("c1", got[0], got[-1], len(got))
del s
s, got = consume("c2", 5, AUTO)
print("c2", got[0], got[-1], len(got))
del s
time.sleep(1)
print("committed", offsets())
f.delete_consumer_offset("c2", "offs", 0)
print("deleted", offsets())
s, got = consume("c2", 3, MANUAL)
print("c2 again", got[0], got[-1], len(got))
sys.stdout.flush()
os._exit(0)
"#;

#[test]
fn python_offset_consumer_resumes_after_kill_9() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let addr = daemon.public.to_string();
    let out = python::run_ok(&format!("{COMMON}{BEFORE_CRASH}"), &[&addr]);
    assert_eq!(line(&out, "manual"), "v00000 v00044 45");
    assert_eq!(line(&out, "auto"), "v00000 v00009 10");
    // A committed offset is the offset of the last record processed.
    assert_eq!(
        line(&out, "offsets"),
        "[('c1', 'offs', 0, 39), ('c2', 'offs', 0, 9)]"
    );

    daemon.kill();
    let daemon = Daemon::spawn_on(
        Role::AllInOne { spus: 1 },
        dir.path(),
        daemon.public,
        daemon.private,
    );
    daemon.wait_ready();
    let out = python::run_ok(&format!("{COMMON}{AFTER_CRASH}"), &[&addr]);
    assert_eq!(
        line(&out, "offsets"),
        "[('c1', 'offs', 0, 39), ('c2', 'offs', 0, 9)]",
        "offsets survive kill -9"
    );
    // The 5 records read but not committed come again; nothing before them.
    assert_eq!(line(&out, "c1"), "v00040 v00049 10");
    assert_eq!(line(&out, "c2"), "v00010 v00014 5");
    assert_eq!(
        line(&out, "committed"),
        "[('c1', 'offs', 0, 49), ('c2', 'offs', 0, 14)]"
    );
    assert_eq!(line(&out, "deleted"), "[('c1', 'offs', 0, 49)]");
    assert_eq!(line(&out, "c2 again"), "v00000 v00002 3");
}

#[test]
fn the_offsets_topic_is_a_hidden_system_topic() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let mut sc = ScClient::connect(daemon.public).unwrap();
    let status = sc
        .create_topic("mine", tests::topic_spec(1))
        .expect("create topic");
    assert!(!status.error_code.is_error(), "{status:?}");
    let names = |system: bool, sc: &mut ScClient| -> Vec<String> {
        sc.list_topics_system(system)
            .expect("list topics")
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    assert_eq!(names(false, &mut sc), ["mine"]);
    assert_eq!(names(true, &mut sc), [CONSUMER_OFFSET_TOPIC, "mine"]);
    let system = sc
        .list_topics_system(true)
        .unwrap()
        .into_iter()
        .find(|t| t.name == CONSUMER_OFFSET_TOPIC)
        .unwrap();
    assert!(system.spec.system);
    assert_eq!(system.spec.replicas.partition_count(), 1);
    assert_eq!(system.spec.replicas.replication_factor(), 1);

    let status = sc.delete_topic(CONSUMER_OFFSET_TOPIC).unwrap();
    assert!(
        matches!(status.error_code, ErrorCode::SystemSpecDeletion { .. }),
        "{status:?}"
    );
    assert!(
        status
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("system topic")),
        "{status:?}"
    );
    let status = sc
        .create_topic(CONSUMER_OFFSET_TOPIC, tests::topic_spec(1))
        .unwrap();
    assert!(
        status
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("reserved")),
        "{status:?}"
    );
}

fn lines(run: &Run) -> Vec<String> {
    run.stdout.lines().map(str::to_string).collect()
}

/// `consumer list` as (consumer, topic, partition, offset, lag) rows.
fn consumer_rows(sc: &str) -> Vec<(String, String, String, String, String)> {
    let run = fluvio(sc, &["consumer", "list"]);
    run.ok();
    if run.stdout.trim().is_empty() {
        return Vec::new();
    }
    let (header, rows) = parse_table(&run.stdout);
    assert_eq!(
        header,
        [
            "CONSUMER",
            "TOPIC",
            "PARTITION",
            "OFFSET",
            "LAG",
            "LAST-SEEN"
        ]
    );
    let get = |name| column(&header, &rows, name);
    let (c, t, p, o, l) = (
        get("CONSUMER"),
        get("TOPIC"),
        get("PARTITION"),
        get("OFFSET"),
        get("LAG"),
    );
    (0..rows.len())
        .map(|i| {
            (
                c[i].clone(),
                t[i].clone(),
                p[i].clone(),
                o[i].clone(),
                l[i].clone(),
            )
        })
        .collect()
}

fn row(c: &str, t: &str, p: u32, o: i64, lag: i64) -> (String, String, String, String, String) {
    (
        c.into(),
        t.into(),
        p.to_string(),
        o.to_string(),
        lag.to_string(),
    )
}

#[test]
fn cli_consumers_resume_and_are_listed_and_deleted() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "cli"]).ok();
    let input: String = (0..10).map(|i| format!("a{i}\n")).collect();
    fluvio_stdin(&sc, &["produce", "cli"], input.as_bytes()).ok();
    let values =
        |range: std::ops::Range<i32>| -> Vec<String> { range.map(|i| format!("a{i}")).collect() };

    // auto (the default): what was printed is committed; the next run resumes after it,
    // whatever the start flags say.
    let run = fluvio(
        &sc,
        &["consume", "cli", "--consumer", "g1", "-B", "-n", "4"],
    );
    assert_eq!(lines(run.ok()), values(0..4));
    let run = fluvio(
        &sc,
        &["consume", "cli", "--consumer", "g1", "-B", "-n", "3"],
    );
    assert_eq!(lines(run.ok()), values(4..7));
    // manual: one commit, on exit.
    let run = fluvio(
        &sc,
        &[
            "consume",
            "cli",
            "--consumer",
            "g1",
            "--offset-strategy",
            "manual",
            "-d",
        ],
    );
    assert_eq!(lines(run.ok()), values(7..10));
    // none: the start flags rule, nothing is committed.
    let run = fluvio(
        &sc,
        &[
            "consume",
            "cli",
            "--consumer",
            "g2",
            "--offset-strategy",
            "none",
            "-B",
            "-n",
            "2",
        ],
    );
    assert_eq!(lines(run.ok()), values(0..2));
    assert_eq!(consumer_rows(&sc), [row("g1", "cli", 0, 9, 0)]);

    // Lag counts the records written after the committed one.
    fluvio_stdin(&sc, &["produce", "cli"], b"a10\na11\n").ok();
    let run = fluvio(&sc, &["consume", "cli", "--consumer", "g3", "-B", "-d"]);
    assert_eq!(lines(run.ok()), values(0..12));
    assert_eq!(
        consumer_rows(&sc),
        [row("g1", "cli", 0, 9, 2), row("g3", "cli", 0, 11, 0)]
    );
    let run = fluvio(&sc, &["consumer", "list", "-O", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.ok().stdout).unwrap();
    assert_eq!(json[0]["consumer"], "g1");
    assert_eq!(json[0]["offset"], 9);
    assert_eq!(json[0]["lag"], 2);

    // Delete: all of a consumer's offsets, or one partition's.
    let run = fluvio(&sc, &["consumer", "delete", "g1"]);
    assert!(run.ok().stdout.contains("cli-0"), "{}", run.stdout);
    assert_eq!(consumer_rows(&sc), [row("g3", "cli", 0, 11, 0)]);
    let run = fluvio(&sc, &["consumer", "delete", "g1"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("consumer 'g1' has no committed offsets"),
        "{}",
        run.stderr
    );
    fluvio(&sc, &["consumer", "delete", "g3", "-p", "0"]).expect_code(2);
    fluvio(&sc, &["consumer", "delete", "g3", "-t", "cli", "-p", "0"]).ok();
    assert_eq!(consumer_rows(&sc), []);
    // A deleted consumer starts where its flags say.
    let run = fluvio(
        &sc,
        &["consume", "cli", "--consumer", "g1", "-B", "-n", "1"],
    );
    assert_eq!(lines(run.ok()), values(0..1));

    // The system topic: hidden unless --system, not deletable, not writable.
    let run = fluvio(&sc, &["topic", "list"]);
    assert!(
        !run.ok().stdout.contains(CONSUMER_OFFSET_TOPIC),
        "{}",
        run.stdout
    );
    let run = fluvio(&sc, &["topic", "list", "--system"]);
    let (header, rows) = parse_table(&run.ok().stdout);
    assert_eq!(
        column(&header, &rows, "NAME"),
        ["cli", CONSUMER_OFFSET_TOPIC]
    );
    // Named, it is described and its partition listed.
    fluvio(&sc, &["topic", "describe", CONSUMER_OFFSET_TOPIC]).ok();
    let run = fluvio(&sc, &["partition", "list", "-t", CONSUMER_OFFSET_TOPIC]);
    let (header, rows) = parse_table(&run.ok().stdout);
    assert_eq!(column(&header, &rows, "TOPIC"), [CONSUMER_OFFSET_TOPIC]);
    let run = fluvio(&sc, &["partition", "list"]);
    assert!(
        !run.ok().stdout.contains(CONSUMER_OFFSET_TOPIC),
        "{}",
        run.stdout
    );
    let run = fluvio(&sc, &["topic", "delete", CONSUMER_OFFSET_TOPIC]);
    run.expect_code(1);
    assert!(run.stderr.contains("is a system topic"), "{}", run.stderr);
    let run = fluvio_stdin(&sc, &["produce", CONSUMER_OFFSET_TOPIC], b"x\n");
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("system topic 'consumer-offset' cannot be updated"),
        "{}",
        run.stderr
    );
}

/// The leader of partition `name`, once it is online with 3 replicas in sync.
fn in_sync_leader(cluster: &Cluster, name: &str) -> SpuId {
    cluster
        .wait_partition(name, "online with 3 in sync", |p| {
            p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
        })
        .spec
        .leader
}

#[test]
fn offsets_survive_a_failover_of_their_leader_at_replication_3() {
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS);
    let sc = cluster.sc.public.to_string();
    let system = format!("{CONSUMER_OFFSET_TOPIC}-0");
    let p = cluster.wait_partition(&system, "created with 3 replicas", |p| {
        p.spec.replicas.len() == 3
    });
    assert!(p.spec.system);
    // One topic led by each SPU, so commits reach the offsets' leader both directly and
    // forwarded by another SPU.
    let topics = ["fa", "fb", "fc"];
    for topic in topics {
        fluvio(&sc, &["topic", "create", topic, "-r", "3"]).ok();
        in_sync_leader(&cluster, &format!("{topic}-0"));
    }
    let input: String = (0..30).map(|i| format!("v{i}\n")).collect();
    for topic in topics {
        fluvio_stdin(
            &sc,
            &["produce", topic, "--isolation", "read-committed"],
            input.as_bytes(),
        )
        .ok();
    }
    let leaders: Vec<SpuId> = topics
        .iter()
        .map(|t| in_sync_leader(&cluster, &format!("{t}-0")))
        .collect();
    let offsets_leader = in_sync_leader(&cluster, &system);
    assert!(
        leaders.iter().any(|l| *l != offsets_leader),
        "some topic is led elsewhere than the offsets: {leaders:?} vs {offsets_leader}"
    );
    let values =
        |range: std::ops::Range<i32>| -> Vec<String> { range.map(|i| format!("v{i}")).collect() };
    for topic in topics {
        let run = fluvio(
            &sc,
            &["consume", topic, "--consumer", "f1", "-B", "-n", "10"],
        );
        assert_eq!(lines(run.ok()), values(0..10), "{topic}");
    }
    let expected = |offset: i64| -> Vec<(String, String, String, String, String)> {
        topics
            .iter()
            .map(|t| row("f1", t, 0, offset, 29 - offset))
            .collect()
    };
    assert_eq!(consumer_rows(&sc), expected(9));

    // kill -9 the leader of the offsets: a follower takes over and rebuilds them from its
    // copy of the log.
    cluster.kill(offsets_leader);
    let new_leader = cluster
        .wait_partition(&system, "a new leader", |p| {
            p.spec.leader != offsets_leader && p.status.resolution == PartitionResolution::Online
        })
        .spec
        .leader;
    assert_ne!(new_leader, offsets_leader);
    // The lag needs each topic's leader; one of them was on the killed SPU too.
    for topic in topics {
        cluster.wait_partition(&format!("{topic}-0"), "a live leader", |p| {
            p.spec.leader != offsets_leader && p.status.resolution == PartitionResolution::Online
        });
    }
    // A new leader answers offset requests once it has taken the partition over; until
    // then the lag shows as `-`. The committed offsets must be there from the start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rows = loop {
        let rows = consumer_rows(&sc);
        let lag_known = rows.iter().all(|r| r.4 != "-");
        if lag_known || std::time::Instant::now() >= deadline {
            break rows;
        }
        let offsets: Vec<_> = rows.iter().map(|r| (&r.1, &r.3)).collect();
        assert!(
            offsets.iter().all(|(_, o)| o.as_str() == "9"),
            "offsets after the failover: {rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(rows, expected(9), "offsets after the failover");
    for topic in topics {
        let run = fluvio(&sc, &["consume", topic, "--consumer", "f1", "-n", "10"]);
        assert_eq!(
            lines(run.ok()),
            values(10..20),
            "{topic} resumes after the failover"
        );
    }
    assert_eq!(consumer_rows(&sc), expected(19));

    // The old leader comes back as a follower and catches up; the offsets stay.
    cluster.restart(offsets_leader);
    in_sync_leader(&cluster, &system);
    assert_eq!(consumer_rows(&sc), expected(19));
}

#[test]
fn the_repl_completes_consumer_names_after_each_line() {
    use console::command::Context;
    use console::config::{AddrOrigin, ScTarget};
    use console::repl::complete::Completer;
    use console::repl::names::LiveNames;

    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "names"]).ok();
    fluvio_stdin(&sc, &["produce", "names"], b"x\n").ok();
    for consumer in ["reader", "report"] {
        let run = fluvio(
            &sc,
            &["consume", "names", "--consumer", consumer, "-B", "-d"],
        );
        assert_eq!(lines(run.ok()), ["x"]);
    }
    tests::runtime().block_on(async {
        let ctx = Context::new(ScTarget {
            addr: sc.clone(),
            origin: AddrOrigin::Flag,
            tls: Default::default(),
        });
        let names = LiveNames::new();
        // What a session does after every line.
        names.refresh(&ctx).await;
        let completer = Completer::new();
        let complete = |line: &str| completer.complete(line, line.len(), names.as_ref()).words;
        assert_eq!(complete("consumer delete re"), ["reader", "report"]);
        assert_eq!(complete("consume names --consumer rea"), ["reader"]);
        // The system topic is not offered where topics are.
        assert_eq!(complete("topic describe "), ["names"]);

        fluvio(&sc, &["consumer", "delete", "reader"]).ok();
        names.refresh(&ctx).await;
        assert_eq!(complete("consumer delete re"), ["report"]);
    });
}
