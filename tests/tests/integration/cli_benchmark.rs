//! `fluvio benchmark` runs end to end against a real daemon and reports what it measured.

use serde_json::Value;
use tests::cli::fluvio;
use tests::{Daemon, Role, temp_dir};

#[test]
fn benchmark_reports_throughput_baseline_and_latency_as_json() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    // 3000 records of 256 B over 2 partitions, then 400 records/s for one second.
    let small_run = |kind: &str, extra: &[&str]| {
        let mut args = vec![
            "benchmark",
            kind,
            "--records",
            "3000",
            "--record-size",
            "256",
            "--batch-size",
            "4096",
            "--partitions",
            "2",
            "--rate",
            "400",
            "--latency-secs",
            "1",
            "-O",
            "json",
        ];
        args.extend_from_slice(extra);
        fluvio(&sc, &args)
    };
    for kind in ["produce", "consume"] {
        let run = small_run(kind, &[]);
        run.ok();
        let report: Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|err| panic!("{kind}: not one JSON object ({err}):\n{}", run.stdout));
        assert_eq!(report["kind"], kind);
        assert_eq!(report["partitions"], 2);
        assert_eq!(report["throughput"]["records"], 3000, "{report}");
        assert_eq!(report["throughput"]["bytes"], 3000 * 256, "{report}");
        assert_eq!(report["loopback_baseline"]["bytes"], 3000 * 256, "{report}");
        assert!(report["ratio_to_loopback"].as_f64().unwrap() > 0.0);
        // 400 records/s for one second: every one acknowledged and seen by the consumer.
        assert_eq!(report["ack_latency"]["samples"], 400, "{report}");
        assert_eq!(report["end_to_end_latency"]["samples"], 400, "{report}");
        let p = &report["ack_latency"];
        assert!(p["p50_ms"].as_f64() <= p["p99_ms"].as_f64());
        assert!(p["p99_ms"].as_f64() <= p["p999_ms"].as_f64());
    }
    // The benchmark cleans up its topics.
    let run = fluvio(&sc, &["topic", "list", "-O", "json"]);
    run.ok();
    assert!(!run.stdout.contains("benchmark-"), "{}", run.stdout);

    // Kept, the topics show each phase wrote to its own: the throughput topic holds its
    // 3000 records, the latency topic its 400 timed ones and one warm-up record per
    // partition (sent and acknowledged before the clock starts, so not among the samples).
    let run = small_run("produce", &["--keep-topic"]);
    run.ok();
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let topic = report["topic"].as_str().unwrap().to_string();
    // Log ends reach the SC's status within a report interval of the SPU's.
    let records_in = |partitions: &Value, topic: &str| -> Option<i64> {
        (0..2)
            .map(|p| {
                let name = format!("{topic}-{p}");
                let partition = partitions
                    .as_array()?
                    .iter()
                    .find(|p| p["name"] == name.as_str())?;
                partition["status"]["leader"]["leo"].as_i64()
            })
            .sum()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let latency_topic = format!("{topic}-latency");
    let counts = loop {
        let run = fluvio(&sc, &["partition", "list", "-O", "json"]);
        run.ok();
        let partitions: Value = serde_json::from_str(&run.stdout).unwrap();
        let counts = (
            records_in(&partitions, &topic),
            records_in(&partitions, &latency_topic),
        );
        if counts == (Some(3000), Some(402)) || std::time::Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        counts,
        (Some(3000), Some(402)),
        "records in {topic} and {latency_topic}"
    );
}

/// Concatenated `.log` segments of one replica, in offset order.
fn replica_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn replication_comparison_reports_both_runs_and_followers_store_the_leaders_bytes() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 3 }, dir.path());
    let sc = daemon.public.to_string();
    // 12 MB at replication 3: followers receive frames of up to 1 MiB.
    let run = fluvio(
        &sc,
        &[
            "benchmark",
            "produce",
            "--records",
            "12000",
            "--record-size",
            "1000",
            "--compare-replication",
            "3",
            "--isolation",
            "read_committed",
            "--latency-secs",
            "0",
            "--keep-topic",
            "-O",
            "json",
        ],
    );
    run.ok();
    let report: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|err| panic!("not one JSON object ({err}):\n{}", run.stdout));
    assert_eq!(report["replication"], 1, "{report}");
    let comparison = &report["comparison"];
    assert_eq!(comparison["report"]["replication"], 3, "{report}");
    assert_eq!(
        comparison["report"]["throughput"]["records"], 12000,
        "{report}"
    );
    assert!(
        comparison["throughput_ratio"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // No latency phase, so no latency ratio, and no latency figures rather than zeros.
    assert!(comparison["p99_ack_ratio"].is_null(), "{report}");
    assert_eq!(report["ack_latency"]["samples"], 0, "{report}");
    for figure in ["p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(report["ack_latency"][figure].is_null(), "{report}");
        assert!(report["end_to_end_latency"][figure].is_null(), "{report}");
    }

    // Every record was acknowledged once replicated (read_committed): each follower holds
    // exactly the leader's bytes.
    let topic = comparison["report"]["topic"].as_str().unwrap();
    let replicas: Vec<Vec<u8>> = (5001..=5003)
        .map(|spu| replica_bytes(&dir.path().join(format!("spu-{spu}/{topic}-0"))))
        .collect();
    assert!(replicas[0].len() > 12_000_000, "{}", replicas[0].len());
    assert!(
        replicas.iter().all(|r| r == &replicas[0]),
        "replicas differ"
    );

    let text = fluvio(
        &sc,
        &[
            "benchmark",
            "produce",
            "--records",
            "500",
            "--compare-replication",
            "3",
            "--rounds",
            "3",
            "--rate",
            "200",
            "--latency-secs",
            "1",
        ],
    );
    text.ok();
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("replication 3 vs 1: throughput "))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(line.contains(", p99 ack latency "), "{line}");
    // Three rounds: three ratios, and the one reported is their median.
    let (_, rounds) = line
        .split_once("(median of 3 rounds: ")
        .unwrap_or_else(|| panic!("{line}"));
    let mut ratios: Vec<f64> = rounds
        .split(')')
        .next()
        .unwrap()
        .split(' ')
        .map(|r| r.parse().unwrap_or_else(|_| panic!("{line}")))
        .collect();
    assert_eq!(ratios.len(), 3, "{line}");
    ratios.sort_by(f64::total_cmp);
    let reported = line
        .strip_prefix("replication 3 vs 1: throughput ")
        .and_then(|rest| rest.split('x').next())
        .unwrap();
    assert_eq!(reported, format!("{:.2}", ratios[1]), "{line}");
}
