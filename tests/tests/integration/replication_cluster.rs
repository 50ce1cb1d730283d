//! A replicated cluster end to end through the SC: rack-aware placement of leaders and
//! replicas over racked SPUs, the official Python client producing and consuming across
//! a leader change (kill -9 of the leader), and the CLI showing the leader epoch and the
//! in-sync set across one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use protocol::sc::{PartitionResolution, ReplicaSpec, TopicSpec};
use tests::cli;
use tests::cluster::{CONVERGE, Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::python;
use tests::replicated;

#[test]
fn placement_spreads_leaders_and_replicas_over_spus_and_racks() {
    let cluster = Cluster::start(&[Some("rack-a"), Some("rack-b"), Some("rack-c")], &[], &[]);
    let spec = TopicSpec {
        replicas: ReplicaSpec::Computed {
            partitions: 6,
            replication_factor: 2,
            ignore_rack_assignment: false,
        },
        ..TopicSpec::default()
    };
    let status = cluster.admin().create_topic("placed", spec).unwrap();
    assert!(!status.error_code.is_error(), "{status:?}");
    let rack = |id: i32| ["rack-a", "rack-b", "rack-c"][(id - 1) as usize];
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    let mut hosted: BTreeMap<i32, usize> = BTreeMap::new();
    for i in 0..6 {
        let p = cluster.wait_partition(&format!("placed-{i}"), "online, both in sync", |p| {
            p.status.resolution == PartitionResolution::Online && p.status.lsr == 2
        });
        let racks: BTreeSet<&str> = p.spec.replicas.iter().map(|id| rack(*id)).collect();
        assert_eq!(
            racks.len(),
            2,
            "replicas of placed-{i} share a rack: {:?}",
            p.spec
        );
        assert_eq!(p.spec.leader, p.spec.replicas[0]);
        *leaders.entry(p.spec.leader).or_default() += 1;
        for id in &p.spec.replicas {
            *hosted.entry(*id).or_default() += 1;
        }
    }
    assert_eq!(
        leaders.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "{leaders:?}"
    );
    assert_eq!(
        hosted.values().copied().collect::<Vec<_>>(),
        [4, 4, 4],
        "{hosted:?}"
    );
}

const PRODUCE_ACROSS: &str = r#"
import sys, time
from fluvio import Fluvio, FluvioConfig, Offset, TopicProducerConfigBuilder, Isolation

cfg = FluvioConfig.new(sys.argv[1])
n = int(sys.argv[2])
f = Fluvio.connect_with_config(cfg)
config = TopicProducerConfigBuilder().isolation(Isolation.ReadCommitted).timeout(3000).build()
p = f.topic_producer_with_config("across", config)
retries = 0
for i in range(n):
    for attempt in range(100):
        try:
            p.send_string("v%d" % i).wait()
            break
        except Exception as e:
            retries += 1
            time.sleep(0.2)
    else:
        raise SystemExit("record %d never acknowledged" % i)
    print("sent", i, flush=True)
    time.sleep(0.03)
print("retries", retries, flush=True)
got = []
for attempt in range(50):
    try:
        stream = f.partition_consumer("across", 0).stream(Offset.beginning())
        got = []
        for r in stream:
            got.append(r.value_string())
            if len(set(got)) >= n:
                break
        break
    except Exception as e:
        time.sleep(0.2)
print("consumed", " ".join(got), flush=True)
"#;

#[test]
fn the_python_client_keeps_going_across_a_leader_change() {
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS);
    let spec = replicated(1, 3);
    assert!(
        !cluster
            .admin()
            .create_topic("across", spec)
            .unwrap()
            .error_code
            .is_error()
    );
    let p = cluster.wait_partition("across-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let n = 60;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("across.py");
    std::fs::write(&script, PRODUCE_ACROSS).unwrap();
    let out_path = dir.path().join("out.txt");
    let out_file = std::fs::File::create(&out_path).unwrap();
    let err_file = std::fs::File::create(dir.path().join("err.txt")).unwrap();
    let mut child = Command::new(python::python())
        .arg(&script)
        .args([cluster.sc.public.to_string(), n.to_string()])
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .unwrap();
    let read_out = || std::fs::read_to_string(&out_path).unwrap_or_default();
    // Kill the leader once the client is well under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !read_out().contains("sent 15\n") {
        assert!(
            std::time::Instant::now() < deadline,
            "the client never got going: {}",
            read_out()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "python exited: {}",
            read_out()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let old = p.spec.leader;
    cluster.kill(old);
    let p = cluster.wait_partition("across-0", "a new leader", |p| {
        p.spec.leader != old && p.status.resolution == PartitionResolution::Online
    });
    assert_ne!(p.spec.leader, old);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "python did not finish: {}",
            read_out()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = read_out();
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap_or_default();
    assert!(status.success(), "python failed:\n{out}\n{err}");
    let consumed: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("consumed "))
        .unwrap_or_else(|| panic!("no consumed line:\n{out}\n{err}"))
        .split(' ')
        .collect();
    // Every acknowledged (read_committed) record is there, in order; a retried record may
    // appear twice (at-least-once), never out of order.
    let mut expected = 0;
    for value in &consumed {
        let i: usize = value.trim_start_matches('v').parse().unwrap();
        assert!(
            i == expected || i + 1 == expected,
            "out of order at {value}: {consumed:?}"
        );
        expected = i + 1;
    }
    assert_eq!(expected, n, "{consumed:?}");
}

/// `fluvio partition list` as JSON: the one partition of `topic`.
fn listed(sc: &str, topic: &str) -> serde_json::Value {
    let run = cli::fluvio(sc, &["partition", "list", "-t", topic, "-O", "json"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout));
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
    json[0].clone()
}

/// Poll `fluvio partition list` until `done` holds for the partition; it then.
fn wait_listed(
    sc: &str,
    topic: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let p = listed(sc, topic);
        if done(&p) {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {what}; last {p}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The cells, by header, of the row whose first cell is `name` in the table `fluvio
/// <args>` prints (for `advanced metadata`, its partitions table).
fn table_row(sc: &str, args: &[&str], name: &str) -> BTreeMap<String, String> {
    let run = cli::fluvio(sc, args);
    run.ok();
    let text = run
        .stdout
        .split("partitions:\n")
        .last()
        .unwrap_or_default()
        .to_string();
    let (header, rows) = cli::parse_table(&text);
    let row = rows
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout));
    header.into_iter().zip(row.iter().cloned()).collect()
}

#[test]
fn the_cli_shows_the_leader_epoch_and_in_sync_set_across_a_leader_kill() {
    let mut cluster = Cluster::start(
        &[None, None, None],
        &["--spu-heartbeat-timeout-ms", "2000"],
        &["--replica-lag-ms", "1500"],
    );
    let spec = replicated(1, 3);
    let status = cluster.admin().create_topic("epochs", spec).unwrap();
    assert!(!status.error_code.is_error(), "{status:?}");
    cluster.wait_partition("epochs-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let sc = cluster.sc.public.to_string();

    // A new partition: epoch 0, every replica in sync, in replica order.
    let first = listed(&sc, "epochs");
    assert_eq!(first["name"], "epochs-0");
    let state = &first["state"];
    assert_eq!(state["leader_epoch"], 0, "{first}");
    assert_eq!(state["leader"], first["spec"]["leader"], "{first}");
    assert_eq!(state["in_sync"], first["spec"]["replicas"], "{first}");
    assert_eq!(state["in_sync"].as_array().unwrap().len(), 3, "{first}");
    let old = first["spec"]["leader"].as_i64().unwrap() as i32;
    let replicas = first["spec"]["replicas"].clone();

    let run = cli::fluvio(&sc, &["partition", "list"]);
    run.ok();
    let (header, _) = cli::parse_table(&run.stdout);
    let at = |name: &str| header.iter().position(|h| h == name);
    assert_eq!(at("EPOCH"), at("LEADER").map(|i| i + 1), "{header:?}");
    let row = table_row(&sc, &["partition", "list"], "epochs");
    assert_eq!(row["EPOCH"], "0");
    assert_eq!(row["LEADER"], old.to_string());
    assert_eq!(row["IN-SYNC-SET"], row["REPLICAS"]);

    // kill -9 of the leader: the SC elects another in-sync replica in epoch 1, and the
    // dead SPU leaves the in-sync set.
    cluster.kill(old);
    let moved = wait_listed(&sc, "epochs", "a new leader in a new epoch", |p| {
        p["state"]["leader_epoch"].as_i64() > Some(0)
    });
    let state = &moved["state"];
    let new = moved["spec"]["leader"].as_i64().unwrap() as i32;
    assert_ne!(new, old, "{moved}");
    assert_eq!(
        state["leader_epoch"], 1,
        "one leader change, one epoch: {moved}"
    );
    assert_eq!(state["leader"], new, "{moved}");
    let in_sync: Vec<i64> = state["in_sync"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    assert!(in_sync.contains(&i64::from(new)), "{moved}");
    assert!(!in_sync.contains(&i64::from(old)), "{moved}");

    let row = table_row(&sc, &["partition", "list", "-t", "epochs"], "epochs");
    assert_eq!(row["EPOCH"], "1");
    assert_eq!(row["LEADER"], new.to_string());
    let row = table_row(&sc, &["advanced", "metadata"], "epochs-0");
    assert_eq!(row["EPOCH"], "1");
    assert_eq!(row["LEADER"], new.to_string());
    assert!(!row["IN-SYNC-SET"].contains(&old.to_string()), "{row:?}");

    // The old leader comes back as a follower: it rejoins the in-sync set, in the same
    // epoch (no leader changed).
    cluster.restart(old);
    let back = wait_listed(&sc, "epochs", "the restarted SPU in sync again", |p| {
        p["state"]["in_sync"].as_array().map(Vec::len) == Some(3)
    });
    assert_eq!(back["state"]["in_sync"], replicas, "{back}");
    assert_eq!(back["state"]["leader_epoch"], 1, "{back}");
    assert_eq!(back["state"]["leader"], new, "{back}");
}
