//! `fluvio benchmark soak` against a real daemon: clients produce and consume for a few
//! seconds, and the report accounts for every acknowledged record.

use serde_json::Value;
use tests::cli::fluvio;
use tests::{Daemon, Role, temp_dir};

#[test]
fn a_small_soak_consumes_every_acknowledged_record_once_and_samples_the_daemon() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();

    // 4 clients on 2 partitions: each partition is read by two of the consumers.
    let run = fluvio(
        &sc,
        &[
            "benchmark",
            "soak",
            "--clients",
            "4",
            "--secs",
            "3",
            "--partitions",
            "2",
            "--rate",
            "20",
            "--record-size",
            "100",
            "-O",
            "json",
        ],
    );
    run.ok();
    let report: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|err| panic!("not one JSON object ({err}):\n{}", run.stdout));
    assert_eq!(report["kind"], "soak", "{report}");
    assert_eq!(report["clients"], 4, "{report}");
    assert_eq!(report["connections"], 4, "{report}");
    assert_eq!(report["partitions"], 2, "{report}");
    assert_eq!(report["consumer_streams"], 4, "{report}");

    let check = &report["check"];
    let acknowledged = check["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "{report}");
    assert_eq!(check["passed"], true, "{report}");
    assert_eq!(report["produced"]["records"], acknowledged, "{report}");
    assert_eq!(report["produced"]["bytes"], acknowledged * 100, "{report}");
    assert_eq!(report["ack_latency"]["samples"], acknowledged, "{report}");
    let failures = report["send_failures"].as_u64().unwrap();
    assert_eq!(report["sent"], acknowledged + failures, "{report}");
    // Two consumers per partition: each acknowledged record delivered twice, once to each.
    assert_eq!(check["expected"], 2 * acknowledged, "{report}");
    assert_eq!(check["consumed"], 2 * acknowledged, "{report}");
    for problem in ["missing", "duplicates", "reordered", "consumers_incomplete"] {
        assert_eq!(check[problem], 0, "{problem}: {report}");
    }
    assert_eq!(
        report["consumed"]["records"],
        2 * acknowledged + check["unacknowledged_consumed"].as_u64().unwrap(),
        "{report}"
    );
    // Every delivery was timed from the send time in its stamp.
    let e2e = &report["end_to_end_latency"];
    assert_eq!(e2e["samples"], report["consumed"]["records"], "{report}");
    assert!(
        e2e["p999_ms"].as_f64() >= e2e["p50_ms"].as_f64(),
        "{report}"
    );

    // The daemon was found by the SC's port and its memory sampled.
    let rss = &report["rss"];
    assert_eq!(rss["pid"], daemon.id(), "{report}");
    let samples = rss["samples"].as_array().unwrap();
    assert!(!samples.is_empty(), "{report}");
    assert!(
        samples.iter().all(|s| s["kib"].as_u64() > Some(0)),
        "{report}"
    );
    assert!(
        rss["peak_kib"].as_u64() >= rss["start_kib"].as_u64(),
        "{report}"
    );
    // The daemon's CPU time is read with its memory: it only grows, and serving the
    // soak took some.
    let cpu: Vec<f64> = samples
        .iter()
        .map(|s| s["cpu_secs"].as_f64().unwrap())
        .collect();
    assert!(cpu.windows(2).all(|w| w[0] <= w[1]), "{report}");
    assert!(cpu[cpu.len() - 1] > 0.0, "{report}");

    // Its topic is deleted afterwards.
    let topics = fluvio(&sc, &["topic", "list", "-O", "json"]);
    topics.ok();
    assert!(!topics.stdout.contains("soak-"), "{}", topics.stdout);
}

#[test]
fn soak_clients_share_connections_and_the_text_report_says_what_was_used() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let pid = daemon.id().to_string();
    let run = fluvio(
        &sc,
        &[
            "benchmark",
            "soak",
            "--clients",
            "5",
            "--connections",
            "2",
            "--secs",
            "2",
            "--partitions",
            "3",
            "--topic",
            "held",
            "--keep-topic",
            "--daemon-pid",
            &pid,
        ],
    );
    run.ok();
    let text = &run.stdout;
    assert!(
        text.starts_with(
            "soak benchmark: topic held, 3 partition(s), 5 clients (each a producer and a consumer) on 2 Fluvio connections (shared, up to 3 clients each), 10 records/s per client, records of 256 B, 2 s\n"
        ),
        "{text}"
    );
    assert!(text.contains(" sends failed\n"), "{text}");
    assert!(text.contains("\nack latency ("), "{text}");
    assert!(text.contains("\nend-to-end latency ("), "{text}");
    assert!(text.contains("\ndaemon CPU while producing: "), "{text}");
    assert!(
        text.contains(&format!(
            "\ndaemon RSS (--daemon-pid, fluvio-daemon, pid {pid}): start "
        )),
        "{text}"
    );
    let check = text
        .lines()
        .find(|l| l.starts_with("check: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        check.starts_with("check: passed: every one of ")
            && check.contains(" acknowledged records was consumed exactly once and in order"),
        "{check}"
    );
    // Asked to keep it, the soak leaves its topic.
    let topics = fluvio(&sc, &["topic", "list"]);
    topics.ok();
    assert!(topics.stdout.contains("held"), "{}", topics.stdout);

    // The clients in two worker processes: one report, every consumer checked against
    // both workers' producers (each partition is read by clients of both workers).
    let run = fluvio(
        &sc,
        &[
            "benchmark",
            "soak",
            "--clients",
            "4",
            "--workers",
            "2",
            "--secs",
            "2",
            "--partitions",
            "2",
            "--rate",
            "20",
            "--record-size",
            "64",
            "-O",
            "json",
        ],
    );
    run.ok();
    let report: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|err| panic!("not one JSON object ({err}):\n{}", run.stdout));
    assert_eq!(report["workers"], 2, "{report}");
    assert_eq!(report["clients"], 4, "{report}");
    assert_eq!(report["connections"], 4, "{report}");
    assert_eq!(report["consumer_streams"], 4, "{report}");
    let check = &report["check"];
    let acknowledged = check["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "{report}");
    assert_eq!(check["passed"], true, "{report}");
    assert_eq!(report["ack_latency"]["samples"], acknowledged, "{report}");
    assert_eq!(check["consumed"], 2 * acknowledged, "{report}");
    assert_eq!(
        report["end_to_end_latency"]["samples"], report["consumed"]["records"],
        "{report}"
    );
    assert_eq!(report["rss"]["pid"], daemon.id(), "{report}");
    // More workers than clients is refused up front.
    let over = fluvio(
        &sc,
        &[
            "benchmark",
            "soak",
            "--clients",
            "1",
            "--workers",
            "2",
            "--secs",
            "1",
        ],
    );
    over.expect_code(1);
    assert!(
        over.stderr
            .contains("--workers 2 is more than --clients 1: every worker needs a client"),
        "{}",
        over.stderr
    );

    // A record too small for the stamp the check reads is refused up front.
    let small = fluvio(
        &sc,
        &[
            "benchmark",
            "soak",
            "--clients",
            "1",
            "--secs",
            "1",
            "--record-size",
            "8",
        ],
    );
    small.expect_code(1);
    assert!(
        small
            .stderr
            .contains("--record-size 8 is too small: each soak record carries a 28-byte stamp"),
        "{}",
        small.stderr
    );
}
