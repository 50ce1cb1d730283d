//! The official Python client administers topics on our SC: alone on its embedded store,
//! and as one of two SCs on etcd (through the SC that does not lead).

use tests::{Daemon, Role, python, temp_dir};

const ADMIN: &str = r#"
import sys
from fluvio import FluvioAdmin, FluvioConfig
from fluvio._fluvio_python import TopicSpec

admin = FluvioAdmin.connect_with_config(FluvioConfig.new(sys.argv[1]))
admin.create_topic("one")
admin.create_topic("three", TopicSpec.new_computed(3, 1, True))
print("topics", sorted(t.name() for t in admin.all_topics()))
print("filtered", sorted(t.name() for t in admin.list_topics(["thr"])))
print("partitions", sorted(p.name() for p in admin.list_partitions([])))
print("three-partitions", sorted(p.name() for p in admin.list_partitions(["three"])))
try:
    admin.create_topic("one")
    print("duplicate accepted")
except Exception as e:
    print("duplicate", e)
try:
    admin.create_topic("Bad_Name")
    print("bad name accepted")
except Exception as e:
    print("badname", e)
admin.delete_topic("one")
print("after-delete", sorted(t.name() for t in admin.all_topics()))
print("after-delete-partitions", sorted(p.name() for p in admin.list_partitions([])))
try:
    admin.delete_topic("one")
    print("missing delete accepted")
except Exception as e:
    print("missing", e)
"#;

#[test]
fn python_admin_creates_lists_and_deletes_topics() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    python_admin(&daemon.public.to_string());
}

#[test]
fn python_admin_on_etcd_through_a_standby_sc() {
    let cluster = tests::ha::HaCluster::start(1, 2, 1, 2, &[]);
    let leader = cluster.leader().expect("a leader");
    let standby = cluster.sc_addrs[1 - leader].0;
    python_admin(&standby.to_string());
    // The leader's view is the same.
    let mut topics = cluster.admin_of(leader).list_topics().unwrap();
    topics.sort();
    assert_eq!(topics, vec!["three".to_string()]);
}

fn python_admin(sc: &str) {
    let out = python::run_ok(ADMIN, &[sc]);
    let line = |prefix: &str| -> String {
        out.lines()
            .find(|l| l.starts_with(&format!("{prefix} ")))
            .unwrap_or_else(|| panic!("no {prefix} line in:\n{out}"))
            .to_string()
    };
    assert_eq!(line("topics"), "topics ['one', 'three']");
    assert_eq!(line("filtered"), "filtered ['three']");
    assert_eq!(
        line("partitions"),
        "partitions ['one-0', 'three-0', 'three-1', 'three-2']"
    );
    assert_eq!(
        line("three-partitions"),
        "three-partitions ['three-0', 'three-1', 'three-2']"
    );
    assert!(line("duplicate").contains("Topic already exists"), "{out}");
    assert!(line("badname").to_lowercase().contains("invalid"), "{out}");
    assert_eq!(line("after-delete"), "after-delete ['three']");
    assert_eq!(
        line("after-delete-partitions"),
        "after-delete-partitions ['three-0', 'three-1', 'three-2']"
    );
    assert!(line("missing").contains("Topic not found"), "{out}");
}

const CONNECT: &str = r#"
import sys
from fluvio import Fluvio, FluvioAdmin, FluvioConfig
cfg = FluvioConfig.new(sys.argv[1])
admin = FluvioAdmin.connect_with_config(cfg)
admin.create_topic("events")
fluvio = Fluvio.connect_with_config(cfg)
print("connected")
"#;

#[test]
fn python_client_connects_and_survives_restart_of_metadata() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 2 }, dir.path());
    let out = python::run_ok(CONNECT, &[&daemon.public.to_string()]);
    assert!(out.contains("connected"), "{out}");
    let status = daemon.terminate(std::time::Duration::from_secs(10));
    assert!(
        status.success(),
        "graceful stop: {status}; log:\n{}",
        daemon.log()
    );
    let (public, private) = (daemon.public, daemon.private);
    drop(daemon);

    let restarted = Daemon::spawn_on(Role::AllInOne { spus: 2 }, dir.path(), public, private);
    restarted.wait_ready();
    let out = python::run_ok(
        r#"
import sys
from fluvio import FluvioAdmin, FluvioConfig
admin = FluvioAdmin.connect_with_config(FluvioConfig.new(sys.argv[1]))
print(sorted(t.name() for t in admin.all_topics()))
"#,
        &[&restarted.public.to_string()],
    );
    assert_eq!(out.trim(), "['events']");
}
