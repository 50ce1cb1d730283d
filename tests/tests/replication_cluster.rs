//! A replicated cluster end to end through the SC: rack-aware placement of leaders and
//! replicas over racked SPUs, and the official Python client producing and consuming
//! across a leader change (kill -9 of the leader).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use protocol::sc::{PartitionResolution, ReplicaSpec, TopicSpec};
use tests::cluster::Cluster;
use tests::python;

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
    let mut cluster = Cluster::start(
        &[None, None, None],
        &["--min-in-sync", "2", "--spu-heartbeat-timeout-ms", "2000"],
        &["--replica-lag-ms", "1500"],
    );
    let spec = TopicSpec {
        replicas: ReplicaSpec::Computed {
            partitions: 1,
            replication_factor: 3,
            ignore_rack_assignment: true,
        },
        ..TopicSpec::default()
    };
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
