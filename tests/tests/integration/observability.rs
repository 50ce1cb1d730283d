//! The admin endpoint of real daemons, read as an operator's tools read it: `/metrics`
//! over HTTP, parsed by the Prometheus client library's parsers; `/healthz` and `/readyz`
//! as a load balancer or an orchestrator probes them; `--log-format json` lines as a log
//! shipper reads them.

use std::time::Duration;

use protocol::spu::{Isolation, StreamFetchRequest};
use tests::client::ScClient;
use tests::cluster::{CONVERGE, Cluster, FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS};
use tests::metrics::{get, scrape, scrape_until};
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::{Daemon, Role, free_addr, replicated, temp_dir};

/// `count` records of `size` bytes each, numbered so that none is like another.
fn records(from: usize, count: usize, size: usize) -> Vec<Vec<u8>> {
    (from..from + count)
        .map(|i| {
            let mut v = format!("record-{i:08}-").into_bytes();
            v.resize(size, b'x');
            v
        })
        .collect()
}

/// Produce `values` as batches of `per_batch`; the total bytes of the batches sent.
fn produce(spu: &mut SpuClient, topic: &str, values: &[Vec<u8>], per_batch: usize) -> u64 {
    let mut bytes = 0;
    for chunk in values.chunks(per_batch) {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let batch = batch_of(&refs);
        bytes += batch.len() as u64;
        let answer = spu
            .produce(topic, 0, batch, Isolation::ReadUncommitted)
            .expect("produce");
        assert!(answer.error_code.is_ok(), "{:?}", answer.error_code);
    }
    bytes
}

/// An all-in-one daemon started with `extra` flags, a topic of `partitions` partitions
/// (one replica each) on it, and a client of its SPU.
fn daemon_with_topic(
    extra: &[&str],
    topic: &str,
    partitions: u32,
) -> (tempfile::TempDir, Daemon, SpuClient) {
    let dir = temp_dir();
    let daemon = Daemon::start_with_args(Role::AllInOne { spus: 1 }, dir.path(), extra);
    let mut sc = ScClient::connect(daemon.public).unwrap();
    let created = sc.create_topic(topic, replicated(partitions, 1)).unwrap();
    assert!(created.error_code.is_ok(), "{created:?}");
    let spu = SpuClient::connect(spu_addr(daemon.public, 5001)).unwrap();
    (dir, daemon, spu)
}

#[test]
fn produced_records_and_their_bytes_show_in_the_partition_metrics() {
    let (_dir, daemon, mut spu) = daemon_with_topic(&[], "observed", 1);
    let metrics = daemon
        .metrics
        .expect("the harness gives every daemon an endpoint");

    // 250 records of 300 bytes in batches of 20: 13 produce requests.
    let values = records(0, 250, 300);
    let sent_bytes = produce(&mut spu, "observed", &values, 20);
    let consumed = spu.consume("observed", 0, 0, 250).unwrap();
    assert_eq!(consumed.len(), 250);

    let part = [("topic", "observed"), ("partition", "0"), ("spu", "5001")];
    let m = scrape(metrics);
    assert_eq!(
        m.value("fluvio_partition_records_appended_total", &part),
        Some(250.0)
    );
    assert_eq!(
        m.value("fluvio_partition_appended_bytes_total", &part),
        Some(sent_bytes as f64),
        "appended bytes are the batches as sent"
    );
    assert_eq!(
        m.value("fluvio_partition_consumer_served_bytes_total", &part),
        Some(sent_bytes as f64),
        "one consumer read every batch once"
    );
    assert_eq!(
        m.value("fluvio_partition_high_watermark", &part),
        Some(250.0)
    );
    assert_eq!(
        m.value("fluvio_partition_log_end_offset", &part),
        Some(250.0)
    );
    assert_eq!(
        m.value("fluvio_partition_log_start_offset", &part),
        Some(0.0)
    );
    assert_eq!(m.value("fluvio_partition_is_leader", &part), Some(1.0));
    assert_eq!(m.value("fluvio_partition_replicas", &part), Some(1.0));
    assert_eq!(
        m.value("fluvio_partition_in_sync_replicas", &part),
        Some(1.0)
    );
    assert_eq!(m.value("fluvio_partition_segments", &part), Some(1.0));
    let size = m.value("fluvio_partition_size_bytes", &part).unwrap();
    assert!(
        size >= sent_bytes as f64,
        "size on disk {size} < {sent_bytes}"
    );

    let produce_api = [("listener", "SPU public"), ("api", "produce")];
    assert_eq!(m.value("fluvio_requests_total", &produce_api), Some(13.0));
    assert_eq!(
        m.value("fluvio_request_duration_seconds_count", &produce_api),
        Some(13.0)
    );
    assert_eq!(
        m.value(
            "fluvio_request_duration_seconds_bucket",
            &[
                ("listener", "SPU public"),
                ("api", "produce"),
                ("le", "+Inf")
            ]
        ),
        Some(13.0)
    );
    // SC state, read from its stores at scrape time: our topic and the system topic
    // `consumer-offset` that every cluster has.
    assert_eq!(
        m.value("fluvio_sc_objects", &[("kind", "topic")]),
        Some(2.0)
    );
    assert_eq!(
        m.value("fluvio_sc_objects", &[("kind", "partition")]),
        Some(2.0)
    );
    assert_eq!(m.value("fluvio_sc_spus", &[("state", "online")]), Some(1.0));
    // Connections: ours to the SPU's public port is open; the process figures are there.
    let open = m
        .value("fluvio_connections_open", &[("listener", "SPU public")])
        .unwrap();
    assert!(open >= 1.0, "{open}");
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(m.has(name), "{name} missing");
    }

    // A bad produce is counted by its error code.
    let refused = spu
        .produce(
            "no-such-topic",
            0,
            batch_of(&[b"x"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    assert!(refused.error_code.is_error());
    // So is a stream fetch from beyond the log end.
    let corr = spu
        .stream_fetch(&StreamFetchRequest::new("observed", 0, 10_000))
        .unwrap();
    let frame = spu.stream_frame(corr).unwrap();
    assert!(frame.error_code.is_error(), "{frame:?}");
    let m = scrape(metrics);
    assert_eq!(
        m.value(
            "fluvio_request_errors_total",
            &[("api", "stream_fetch"), ("error", "offset_out_of_range")]
        ),
        Some(1.0)
    );
    let errors: f64 = m
        .samples
        .iter()
        .filter(|s| {
            s.name == "fluvio_request_errors_total"
                && s.labels.contains(&("api".into(), "produce".into()))
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(errors, 1.0);
}

/// The metric families a text (PromQL in a dashboard) names: `fluvio_*` and `process_*`
/// words, without the suffixes of counter and histogram samples.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = (text[i..].starts_with("fluvio_") || text[i..].starts_with("process_"))
            && (i == 0 || !word(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let end = (i..bytes.len())
            .find(|&j| !word(bytes[j]))
            .unwrap_or(bytes.len());
        let mut name = &text[i..end];
        for suffix in ["_total", "_bucket", "_sum", "_count"] {
            name = name.strip_suffix(suffix).unwrap_or(name);
        }
        names.insert(name.to_string());
        i = end;
    }
    names
}

#[test]
fn health_answers_at_once_and_readiness_waits_for_registration() {
    let dir = temp_dir();
    // The SC knows SPU 7 (an SPU it has never heard of is refused for good), then goes
    // away, so that the SPU starts with no SC to register with.
    let (spu_public, spu_private) = (free_addr(), free_addr());
    let sc_role = Role::Sc {
        allow_unauthenticated_spus: true,
    };
    let mut sc = Daemon::start(sc_role.clone(), &dir.path().join("sc"));
    let registered = ScClient::connect(sc.public)
        .unwrap()
        .register_custom_spu("spu-7", 7, spu_public, spu_private)
        .unwrap();
    assert!(registered.error_code.is_ok(), "{registered:?}");
    let (sc_public, sc_private) = (sc.public, sc.private);
    sc.kill();

    let spu = Daemon::spawn_on(
        Role::Spu {
            id: 7,
            sc_private,
            token: None,
            rack: None,
        },
        &dir.path().join("spu"),
        spu_public,
        spu_private,
    );
    let spu_metrics = spu.metrics.unwrap();
    spu.wait_for_log("cannot reach the SC", Duration::from_secs(30));
    assert_eq!(get(spu_metrics, "/healthz"), (200, "ok\n".to_string()));
    let (status, body) = get(spu_metrics, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("SPU 7: not registered with the SC yet"),
        "{body}"
    );
    let (status, body) = get(spu_metrics, "/nowhere");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");

    let sc = Daemon::spawn_on(sc_role, &dir.path().join("sc"), sc_public, sc_private);
    sc.wait_ready();
    let (status, body) = get(sc.metrics.unwrap(), "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SC: metadata stores loaded"), "{body}");
    spu.wait_ready();
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let (status, body) = get(spu_metrics, "/readyz");
        if status == 200 {
            assert!(body.contains("SPU 7: registered, replicas open"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_follower_shows_in_the_in_sync_count_and_its_lag() {
    let mut cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS);
    let created = cluster
        .admin()
        .create_topic("watched", replicated(1, 3))
        .unwrap();
    assert!(created.error_code.is_ok(), "{created:?}");
    let p = cluster.wait_partition("watched-0", "3 in sync", |p| p.status.lsr == 3);
    let leader = p.spec.leader;
    let leader_metrics = cluster.spu(leader).metrics.unwrap();
    let follower = *p.spec.replicas.iter().find(|r| **r != leader).unwrap();
    let mut client = cluster.spu_client(leader).unwrap();
    produce(&mut client, "watched", &records(0, 40, 100), 10);

    let part = [("topic", "watched"), ("partition", "0")];
    let follower_label = follower.to_string();
    let lag_of = [
        ("topic", "watched"),
        ("partition", "0"),
        ("follower", follower_label.as_str()),
    ];
    scrape_until(leader_metrics, "3 in sync, no lag", CONVERGE, |m| {
        m.value("fluvio_partition_in_sync_replicas", &part) == Some(3.0)
            && m.value("fluvio_partition_follower_lag_records", &lag_of) == Some(0.0)
    });
    // The follower replicated everything too: its own counters say so.
    let follower_metrics = cluster.spu(follower).metrics.unwrap();
    scrape_until(follower_metrics, "the follower's copy", CONVERGE, |m| {
        m.value("fluvio_partition_records_appended_total", &part) == Some(40.0)
            && m.value("fluvio_partition_is_leader", &part) == Some(0.0)
    });

    cluster.kill(follower);
    produce(&mut client, "watched", &records(40, 25, 100), 5);
    let refused = client
        .produce(
            "no-such-topic",
            0,
            batch_of(&[b"x"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    assert!(refused.error_code.is_error());
    let m = scrape_until(
        leader_metrics,
        "the killed follower out of sync, 25 behind",
        CONVERGE,
        |m| {
            m.value("fluvio_partition_in_sync_replicas", &part) == Some(2.0)
                && m.value("fluvio_partition_follower_lag_records", &lag_of) == Some(25.0)
        },
    );
    assert_eq!(
        m.value("fluvio_partition_log_end_offset", &part),
        Some(65.0)
    );
    assert_eq!(
        m.value("fluvio_partition_replicas", &part),
        Some(3.0),
        "under-replicated: 2 of 3 in sync"
    );
    // The leader served the 40 first records to both followers, the rest to one.
    let served = m
        .value("fluvio_partition_follower_served_bytes_total", &part)
        .unwrap();
    assert!(served > 0.0);
    // The SC saw the SPU go.
    let sc = scrape_until(
        cluster.sc.metrics.unwrap(),
        "one SPU offline",
        CONVERGE,
        |m| m.value("fluvio_sc_spus", &[("state", "offline")]) == Some(1.0),
    );
    assert_eq!(
        sc.value("fluvio_sc_spus", &[("state", "online")]),
        Some(2.0)
    );

    // The Grafana dashboard asks only for metrics the daemons describe: an SPU leading a
    // partition with followers, and the SC.
    let dashboard = std::fs::read_to_string(
        tests::workspace_root().join("deploy/grafana/fluvio-dashboard.json"),
    )
    .expect("the dashboard is in the repository");
    let wanted = metric_names(&dashboard);
    assert!(wanted.len() > 20, "{wanted:?}");
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| !m.families.contains(name) && !sc.families.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses unknown metrics {missing:?}"
    );
}

#[test]
fn json_log_lines_parse_and_carry_the_partition() {
    let (_dir, daemon, mut spu) = daemon_with_topic(&["--log-format", "json"], "logged", 2);
    // A produce waits for its partition's log to be open: both are logged by then.
    for partition in [0, 1] {
        let answer = spu
            .produce(
                "logged",
                partition,
                batch_of(&[b"a", b"b"]),
                Isolation::ReadUncommitted,
            )
            .unwrap();
        assert!(answer.error_code.is_ok(), "{:?}", answer.error_code);
    }

    let log = daemon.log();
    let mut replica_lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(v.get(field).is_some(), "no {field}: {line}");
        }
        let message = v["message"].as_str().unwrap_or_default();
        if message == "replica log opened" || message == "replica log open" {
            // Written by the storage engine and the SPU: both inside the replica's span.
            let span = v["spans"]
                .as_array()
                .and_then(|spans| spans.iter().find(|s| s["name"] == "replica"))
                .unwrap_or_else(|| panic!("no replica span: {line}"));
            if span["topic"] == "consumer-offset" {
                continue;
            }
            assert_eq!(span["topic"], "logged", "{line}");
            assert!(span["partition"] == 0 || span["partition"] == 1, "{line}");
            replica_lines += 1;
        }
    }
    assert_eq!(replica_lines, 4, "two partitions, two lines each:\n{log}");
}

#[test]
fn fsyncs_group_commits_and_recovery_are_counted() {
    let (dir, mut daemon, mut spu) = daemon_with_topic(&["--flush", "always"], "synced", 1);
    produce(&mut spu, "synced", &records(0, 100, 50), 10);

    let m = scrape(daemon.metrics.unwrap());
    let fsyncs = m.value("fluvio_storage_fsyncs_total", &[]).unwrap();
    assert!(fsyncs >= 1.0, "{fsyncs}");
    assert_eq!(
        m.value("fluvio_storage_fsync_duration_seconds_count", &[]),
        Some(fsyncs)
    );
    // Every acknowledged record was made durable by exactly one sync.
    assert_eq!(
        m.value("fluvio_storage_group_commit_records_sum", &[]),
        Some(100.0)
    );

    daemon.kill();
    let daemon = Daemon::spawn_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        daemon.public,
        daemon.private,
        &["--flush", "always"],
    );
    daemon.wait_ready();
    let m = scrape_until(
        daemon.metrics.unwrap(),
        "the replica reopened",
        CONVERGE,
        |m| {
            m.value(
                "fluvio_partition_log_end_offset",
                &[("topic", "synced"), ("partition", "0")],
            ) == Some(100.0)
                && m.value(
                    "fluvio_partition_log_end_offset",
                    &[("topic", "consumer-offset"), ("partition", "0")],
                )
                .is_some()
        },
    );
    assert_eq!(
        m.value("fluvio_storage_recovery_duration_seconds_count", &[]),
        Some(2.0),
        "two replica logs opened: ours and the system topic consumer-offset's"
    );
    for source in ["recovery", "append", "read"] {
        assert_eq!(
            m.value(
                "fluvio_storage_corrupt_batches_total",
                &[("source", source)]
            ),
            Some(0.0),
            "nothing torn: every batch was synced"
        );
    }
}

#[test]
fn an_explicit_metrics_address_that_is_taken_stops_the_daemon() {
    let dir = temp_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut daemon = Daemon::spawn_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        free_addr(),
        free_addr(),
        &["--metrics-addr", &addr],
    );
    let (status, log) = daemon.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        log.contains(&format!("address {addr} is already in use"))
            && log.contains("--metrics-addr"),
        "{log}"
    );
}
