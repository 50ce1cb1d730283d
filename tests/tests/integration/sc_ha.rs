//! SC high availability on etcd, with real etcd servers and real daemons:
//!
//! * the metadata store behaves the same on the local and the etcd backend, and two
//!   stores on one etcd prefix see each other's changes and never overwrite them unseen;
//! * three SCs on one etcd with a produce load: kill -9 of the leader, a topic create
//!   through `--sc A,B,C` succeeds within the lease plus a few seconds, the produce load
//!   sees no failed request and every acknowledged record is there;
//! * a leader paused past its lease, while an SPU is killed: a new SC leads and elects a
//!   new partition leader from the in-sync set; the old leader, resumed, writes nothing;
//! * a three-member etcd losing a member keeps the platform working;
//! * etcd stopped and started again while clients list topics: reads go on from the SCs'
//!   caches, writes are refused with "metadata store unavailable", and work again after;
//!   an SC started while etcd is down says so and serves once it is back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use daemon::kv::etcd::client::{Compare, TxnOp};
use daemon::kv::{EtcdBackend, EtcdTarget, LocalBackend, MetadataBackend};
use daemon::sc::store::{MetadataStore, Mutation, ReplicationState, TopicObj};
use protocol::api::ErrorCode;
use protocol::sc::{Metadata, PartitionResolution, TopicStatus};
use protocol::spu::Isolation;
use tests::cli::fluvio;
use tests::etcd::Etcd;
use tests::ha::HaCluster;
use tests::spu_client::{SpuClient, batch_of};
use tests::{Daemon, Role, free_addr, replicated, temp_dir};

fn topic(name: &str, partitions: u32) -> TopicObj {
    Metadata::new(name, tests::topic_spec(partitions), TopicStatus::default())
}

/// Write as a client's change would: any SC may, on either backend.
fn write(
    store: &MetadataStore,
    rt: &tokio::runtime::Runtime,
    mutations: Vec<Mutation>,
) -> Result<(), String> {
    rt.block_on(
        store.update_for_client(|_| Ok::<_, std::convert::Infallible>((mutations.clone(), ()))),
    )
    .map_err(|e| e.to_string())
}

fn names(store: &MetadataStore, rt: &tokio::runtime::Runtime) -> Vec<String> {
    rt.block_on(store.read(|s| s.topics.keys().cloned().collect()))
}

/// The same sequence on either backend: write, delete, reload, and what comes back.
fn store_roundtrip(backend: Arc<dyn MetadataBackend>, rt: &tokio::runtime::Runtime) {
    let store = rt.block_on(MetadataStore::open(backend.clone())).unwrap();
    write(
        &store,
        rt,
        vec![
            Mutation::PutTopic(topic("a", 1)),
            Mutation::PutTopic(topic("b", 2)),
            Mutation::PutReplication(
                "b-0".into(),
                ReplicationState {
                    leader_epoch: 3,
                    in_sync: vec![1, 2],
                },
            ),
        ],
    )
    .unwrap();
    write(&store, rt, vec![Mutation::DeleteTopic("a".into())]).unwrap();
    // Writing the same key twice in one batch keeps the last value.
    write(
        &store,
        rt,
        vec![
            Mutation::PutTopic(topic("c", 1)),
            Mutation::PutTopic(topic("c", 4)),
        ],
    )
    .unwrap();
    drop(store);
    let reopened = rt.block_on(MetadataStore::open(backend)).unwrap();
    assert_eq!(names(&reopened, rt), vec!["b", "c"]);
    let c_partitions = rt.block_on(reopened.read(|s| s.topics["c"].spec.clone()));
    assert_eq!(c_partitions, tests::topic_spec(4));
}

#[test]
fn the_metadata_store_behaves_the_same_on_local_and_etcd() {
    let rt = tests::runtime();
    let dir = temp_dir();
    let local = LocalBackend::open(dir.path()).unwrap();
    store_roundtrip(Arc::new(local), &rt);

    let etcd = Etcd::start();
    let target: EtcdTarget = etcd.url("store-test").parse().unwrap();
    let backend = rt.block_on(async { Arc::new(EtcdBackend::new(target.clone())) });
    store_roundtrip(backend, &rt);

    // Two SCs' stores on one prefix: each sees the other's writes.
    let (one, two) = rt.block_on(async {
        let one = MetadataStore::open(Arc::new(EtcdBackend::new(target.clone())))
            .await
            .unwrap();
        let two = MetadataStore::open(Arc::new(EtcdBackend::new(target.clone())))
            .await
            .unwrap();
        (one, two)
    });
    write(&one, &rt, vec![Mutation::PutTopic(topic("from-one", 1))]).unwrap();
    // A controller's write from an SC that does not lead is refused by the store.
    let err = rt
        .block_on(one.apply(vec![Mutation::PutTopic(topic("by-a-follower", 1))]))
        .unwrap_err();
    assert!(err.to_string().contains("no longer the leader"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !names(&two, &rt).contains(&"from-one".to_string()) {
        assert!(
            Instant::now() < deadline,
            "the second store never saw the write"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // A write resting on a stale view is refused, then decided again on the fresh one:
    // two creates of one name, one wins and the other sees it exists.
    let created = AtomicUsize::new(0);
    rt.block_on(async {
        let create = |store: Arc<MetadataStore>| {
            let created = &created;
            async move {
                let out = store
                    .update_for_client(|s| {
                        if s.topics.contains_key("race") {
                            return Err("exists");
                        }
                        Ok((vec![Mutation::PutTopic(topic("race", 1))], ()))
                    })
                    .await;
                if out.is_ok() {
                    created.fetch_add(1, Ordering::SeqCst);
                }
            }
        };
        tokio::join!(create(one.clone()), create(two.clone()));
    });
    assert_eq!(created.load(Ordering::SeqCst), 1, "exactly one create wins");

    // Fencing: the leader's writes hold only while its leader key is the one it created.
    let client = daemon::kv::etcd::EtcdClient::new(target.endpoints.clone());
    let leader_key = format!("{}sc/leader", target.prefix);
    let take_lead = |lease: i64| {
        rt.block_on(client.txn(
            &[Compare::CreateRevision(leader_key.clone(), 0)],
            &[TxnOp::Put {
                key: leader_key.clone(),
                value: b"{}".to_vec(),
                lease,
            }],
            &[],
        ))
        .unwrap()
    };
    let (backend_one, backend_two) = rt.block_on(async {
        (
            Arc::new(EtcdBackend::new(target.clone())),
            Arc::new(EtcdBackend::new(target.clone())),
        )
    });
    let lease_one = rt.block_on(client.lease_grant(30)).unwrap();
    let won = take_lead(lease_one);
    assert!(won.succeeded);
    backend_one.set_leader_guard(Some(won.revision));
    let put = |name: &str| {
        vec![daemon::kv::KvOp::Put {
            kind: daemon::kv::Kind::Topic,
            key: name.to_string(),
            value: b"{}".to_vec(),
        }]
    };
    // The backend blocks on the runtime: called from this thread, outside it.
    backend_one.commit_as_leader(&put("fenced-ok")).unwrap();
    // Its lease ends (as when it is paused past it); another takes the lead.
    rt.block_on(client.lease_revoke(lease_one)).unwrap();
    let lease_two = rt.block_on(client.lease_grant(30)).unwrap();
    let won = take_lead(lease_two);
    assert!(won.succeeded, "the lead is free once the lease is gone");
    backend_two.set_leader_guard(Some(won.revision));
    let refused = backend_one
        .commit_as_leader(&put("fenced-late"))
        .unwrap_err();
    assert!(
        refused.to_string().contains("no longer the leader"),
        "{refused}"
    );
    backend_two.commit_as_leader(&put("fenced-new")).unwrap();
    let (kvs, _) = rt
        .block_on(client.range_prefix(&format!("{}data/topics/fenced-", target.prefix)))
        .unwrap();
    let written: Vec<&str> = kvs
        .iter()
        .map(|kv| kv.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(written, vec!["fenced-new", "fenced-ok"]);

    // etcd gone: the store says so, in words a user can act on.
    drop(etcd);
    let err = write(&one, &rt, vec![Mutation::PutTopic(topic("late", 1))]).unwrap_err();
    assert!(err.contains("metadata store unavailable"), "{err}");
}

/// Produce read_committed to `topic`-0 at `leader` until `stop`: (acknowledged, failed).
fn produce_load(
    leader: std::net::SocketAddr,
    topic: &'static str,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(i64, String)>>>,
) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut client = SpuClient::connect(leader).expect("connect to the partition leader");
        client.set_read_timeout(Duration::from_secs(10)).unwrap();
        let mut failures = Vec::new();
        for seq in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let value = format!("r{seq}");
            match client.produce(
                topic,
                0,
                batch_of(&[value.as_bytes()]),
                Isolation::ReadCommitted,
            ) {
                Ok(entry) if entry.error_code == ErrorCode::None => {
                    acked.lock().unwrap().push((entry.base_offset, value))
                }
                Ok(entry) => failures.push(format!("{value}: {}", entry.error_code)),
                Err(e) => {
                    failures.push(format!("{value}: {e}"));
                    client = SpuClient::connect(leader).expect("reconnect");
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
        failures
    })
}

fn wait_acked(acked: &Mutex<Vec<(i64, String)>>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "produces stalled");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Poll until partition `name` satisfies `done`, through any SC.
fn wait_partition(
    cluster: &HaCluster,
    name: &str,
    what: &str,
    done: impl Fn(&Metadata<protocol::sc::PartitionSpec>) -> bool,
) -> Metadata<protocol::sc::PartitionSpec> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = cluster
            .admin()
            .list_partitions()
            .ok()
            .and_then(|ps| ps.into_iter().find(|p| p.name == name));
        if let Some(p) = found.filter(|p| done(p)) {
            return p;
        }
        assert!(Instant::now() < deadline, "partition {name} never {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

const LEASE: u64 = 2;

/// Poll the SC at `sc` until it lists `topic`.
fn wait_topic(sc: std::net::SocketAddr, topic: &str) {
    let mut admin = tests::client::ScClient::connect(sc).expect("connect to the SC");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let topics = admin.list_topics().unwrap();
        if topics.iter().any(|t| t == topic) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "SC {sc} never listed {topic}: {topics:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_the_leader_sc_under_load_loses_nothing_and_creates_go_on() {
    let mut cluster = HaCluster::start(1, 3, 3, LEASE, &[]);
    let status = cluster
        .admin()
        .create_topic("load", replicated(1, 3))
        .unwrap();
    assert!(!status.error_code.is_error(), "{status:?}");
    let p = wait_partition(&cluster, "load-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let leader_spu = cluster.spus[&p.spec.leader].public;

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let load = produce_load(leader_spu, "load", stop.clone(), acked.clone());
    wait_acked(&acked, 20);

    let old = cluster.leader().expect("a leader");
    let killed = Instant::now();
    cluster.kill_sc(old);
    // Through the list, as a user would: the dead SC is skipped.
    let list = cluster.public_list();
    let created = loop {
        let run = fluvio(&list, &["topic", "create", "after-failover"]);
        if run.code == 0 {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE + 5),
            "no create within the lease plus 5 s: {}",
            run.stderr
        );
        thread::sleep(Duration::from_millis(100));
    };
    let new = cluster.wait_leader(Some(old));
    eprintln!("create succeeded {created:?} after the leader was killed; SC {new} leads");
    assert!(created < Duration::from_secs(LEASE + 5));
    // The new leader has the SPUs: the new topic gets a live partition.
    wait_partition(&cluster, "after-failover-0", "online", |p| {
        p.status.resolution == PartitionResolution::Online
    });

    let before = acked.lock().unwrap().len();
    wait_acked(&acked, before + 20);
    stop.store(true, Ordering::Relaxed);
    let failures = load.join().unwrap();
    assert!(failures.is_empty(), "produce requests failed: {failures:?}");

    let acked = acked.lock().unwrap().clone();
    let until = acked.iter().map(|(o, _)| o + 1).max().unwrap();
    let mut client = SpuClient::connect(leader_spu).unwrap();
    client.set_read_timeout(Duration::from_secs(10)).unwrap();
    let log: BTreeMap<i64, String> = client
        .consume("load", 0, 0, until)
        .unwrap()
        .into_iter()
        .map(|(o, v)| (o, String::from_utf8(v).unwrap()))
        .collect();
    for (offset, value) in &acked {
        assert_eq!(
            log.get(offset),
            Some(value),
            "acknowledged {value} at {offset} lost"
        );
    }
    // Every SC, the restarted one included, serves the same topics.
    cluster.restart_sc(old);
    cluster.sc(old).wait_ready();
    wait_topic(cluster.sc_addrs[old].0, "after-failover");
    // `fluvio cluster status` shows every SC, who leads and since when, and the store.
    let new_addr = cluster.sc_addrs[new].0.to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = fluvio(&list, &["cluster", "status"]);
        let out = &status.stdout;
        let complete = out.contains(&format!("SCs: 3 running, leader {new_addr}"))
            && cluster
                .sc_addrs
                .iter()
                .all(|(public, _)| out.contains(&format!("  {public}  ")));
        if complete {
            assert!(out.contains("metadata store: etcd://"), "{out}");
            assert!(
                out.contains(&format!("  {new_addr}  leader since ")),
                "{out}"
            );
            assert_eq!(out.matches("  standby  ").count(), 2, "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cluster status never complete:\n{out}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_paused_leader_writes_nothing_after_waking_and_an_spu_lost_meanwhile_is_replaced() {
    let mut cluster = HaCluster::start(1, 3, 3, LEASE, &["--spu-heartbeat-timeout-ms", "2000"]);
    let status = cluster
        .admin()
        .create_topic("fence", replicated(1, 3))
        .unwrap();
    assert!(!status.error_code.is_error(), "{status:?}");
    let before = wait_partition(&cluster, "fence-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let old_spu = before.spec.leader;

    let old = cluster.leader().expect("a leader");
    cluster.signal_sc(old, "-STOP");
    // During the failover: the partition's leader SPU dies.
    cluster.spus.get_mut(&old_spu).unwrap().kill();
    let new = cluster.wait_leader(Some(old));
    let moved = wait_partition(&cluster, "fence-0", "moved to another in-sync SPU", |p| {
        p.spec.leader != old_spu && p.spec.leader > 0
    });
    assert!(
        before.spec.replicas.contains(&moved.spec.leader),
        "new leader {} outside the replicas {:?}",
        moved.spec.leader,
        before.spec.replicas
    );
    eprintln!(
        "SC {new} leads; partition leader {old_spu} -> {}",
        moved.spec.leader
    );

    // The old leader wakes up believing it leads, its SPU connections gone: whatever it
    // decides is refused by etcd.
    let before_waking = cluster.sc(old).log().len();
    cluster.signal_sc(old, "-CONT");
    cluster
        .sc(old)
        .wait_for_log("steps down", Duration::from_secs(15));
    // Its watchdogs found every SPU silent and decided to take them offline and elect
    // leaders; etcd refused those writes.
    // Had they gone through, the two live SPUs would be offline for every SC.
    let spus = fluvio(&cluster.public_list(), &["spu", "list"]);
    let (header, rows) = tests::cli::parse_table(&spus.stdout);
    let status = tests::cli::column(&header, &rows, "STATUS");
    assert_eq!(
        status.iter().filter(|s| *s == "online").count(),
        2,
        "{}",
        spus.stdout
    );
    let after = wait_partition(&cluster, "fence-0", "readable", |_| true);
    assert_eq!(
        after.spec.leader, moved.spec.leader,
        "the woken SC moved the leader"
    );
    assert_eq!(
        cluster.leader(),
        Some(new),
        "the woken SC took the lead back"
    );
    // A leader elected is logged once it is stored: the woken SC stored none.
    let log = cluster.sc(old).log();
    let woke = before_waking;
    assert!(
        !log[woke..].contains("new leader elected"),
        "the woken SC elected a leader:\n{log}"
    );
    // Records still go in through the new partition leader (once it has heard it leads).
    let mut client = SpuClient::connect(cluster.spus[&moved.spec.leader].public).unwrap();
    client.set_read_timeout(Duration::from_secs(10)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entry = client
            .produce("fence", 0, batch_of(&[b"after"]), Isolation::ReadCommitted)
            .unwrap();
        if entry.error_code == ErrorCode::None {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "produce refused: {}",
            entry.error_code
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_three_member_etcd_losing_one_member_keeps_working() {
    let mut cluster = HaCluster::start(3, 2, 1, LEASE, &[]);
    cluster.etcd[0].stop();
    let list = cluster.public_list();
    fluvio(&list, &["topic", "create", "with-two-members"]).ok();
    wait_topic(cluster.sc_addrs[1].0, "with-two-members");
    wait_partition(&cluster, "with-two-members-0", "online", |p| {
        p.status.resolution == PartitionResolution::Online
    });
    // The SCs keep their leases on the remaining members: one leader throughout.
    assert!(cluster.leader().is_some());
}

#[test]
fn etcd_down_reads_go_on_writes_are_refused_and_both_resume() {
    let mut cluster = HaCluster::start(1, 2, 1, LEASE, &[]);
    let list = cluster.public_list();
    fluvio(&list, &["topic", "create", "before"]).ok();
    wait_partition(&cluster, "before-0", "online", |p| {
        p.status.resolution == PartitionResolution::Online
    });

    // Clients list topics throughout, on both SCs.
    let stop = Arc::new(AtomicBool::new(false));
    let listers: Vec<_> = (0..2)
        .map(|i| {
            let addr = cluster.sc_addrs[i].0;
            let stop = stop.clone();
            thread::spawn(move || {
                let mut admin = tests::client::ScClient::connect(addr).unwrap();
                let mut lists = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let topics = admin.list_topics().expect("list topics");
                    assert!(topics.contains(&"before".to_string()), "{topics:?}");
                    lists += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                lists
            })
        })
        .collect();

    cluster.etcd[0].stop();
    let refused = fluvio(&list, &["topic", "create", "during"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("metadata store unavailable"),
        "{}",
        refused.stderr
    );
    // An SC started now says why it cannot serve yet, and keeps trying.
    let late_dir = temp_dir();
    let late = Daemon::spawn_with_args(
        Role::Sc {
            allow_unauthenticated_spus: true,
        },
        late_dir.path(),
        free_addr(),
        free_addr(),
        &["--metadata", &cluster.metadata_url()],
    );
    late.wait_for_log("metadata store unavailable", Duration::from_secs(10));

    cluster.etcd[0].restart();
    cluster.etcd[0].wait_ready();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = fluvio(&list, &["topic", "create", "after"]);
        if run.code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never resumed: {}",
            run.stderr
        );
        thread::sleep(Duration::from_millis(200));
    }
    late.wait_ready();
    wait_topic(late.public, "after");
    stop.store(true, Ordering::Relaxed);
    for lister in listers {
        assert!(lister.join().expect("lists never failed") > 0);
    }
}
