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
        // The baseline: the median of five samples, each at least the run's bytes and at
        // least half a second long.
        let baseline = &report["loopback_baseline"];
        assert!(
            baseline["bytes"].as_u64().unwrap() >= 3000 * 256,
            "{report}"
        );
        assert!(baseline["seconds"].as_f64().unwrap() >= 0.5, "{report}");
        let mut samples: Vec<f64> = report["loopback_samples_mb_per_s"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(samples.len(), 5, "{report}");
        samples.sort_by(f64::total_cmp);
        assert_eq!(
            baseline["mb_per_s"].as_f64().unwrap(),
            samples[2],
            "{report}"
        );
        assert!(report["ratio_to_loopback"].as_f64().unwrap() > 0.0);
        // One client, and it did all the work.
        assert_eq!(
            (report["producers"].as_u64(), report["consumers"].as_u64()),
            (Some(1), Some(1))
        );
        let clients = report["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 1, "{report}");
        assert_eq!(clients[0]["throughput"]["records"], 3000, "{report}");
        // Every record written in the throughput phase had its acknowledgement timed.
        assert_eq!(report["load_ack_latency"]["samples"], 3000, "{report}");
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

/// The `records` of each client in a report, in client order.
fn client_records(report: &Value) -> Vec<u64> {
    report["clients"]
        .as_array()
        .unwrap_or_else(|| panic!("no clients: {report}"))
        .iter()
        .map(|c| c["throughput"]["records"].as_u64().unwrap())
        .collect()
}

#[test]
fn concurrent_clients_split_the_records_and_sweeps_report_each_setting() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let common = [
        "--records",
        "3001",
        "--record-size",
        "200",
        "--batch-size",
        "4096",
        "--partitions",
        "2",
    ];
    let bench = |kind: &str, extra: &[&str]| {
        let mut args = vec!["benchmark", kind];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        fluvio(&sc, &args)
    };
    let json = |run: &tests::cli::Run| -> Value {
        run.ok();
        serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|err| panic!("not one JSON object ({err}):\n{}", run.stdout))
    };

    // Three producers, each its own connection: 3001 records split 1001/1000/1000, each
    // acknowledgement timed for its producer.
    let report = json(&bench(
        "produce",
        &["--producers", "3", "--latency-secs", "0", "-O", "json"],
    ));
    assert_eq!(report["producers"], 3, "{report}");
    assert_eq!(client_records(&report), [1001, 1000, 1000], "{report}");
    for (i, client) in report["clients"].as_array().unwrap().iter().enumerate() {
        assert_eq!(client["client"], i + 1, "{report}");
        assert_eq!(
            client["ack_latency"]["samples"], client["throughput"]["records"],
            "{report}"
        );
        assert_eq!(
            client["throughput"]["bytes"],
            client["throughput"]["records"].as_u64().unwrap() * 200
        );
        assert!(client["end_to_end_latency"]["p99_ms"].is_null(), "{report}");
    }
    assert_eq!(report["throughput"]["records"], 3001, "{report}");
    assert_eq!(report["throughput"]["bytes"], 3001 * 200, "{report}");
    assert_eq!(report["load_ack_latency"]["samples"], 3001, "{report}");

    // Three consumers over two partitions: each partition's offsets sliced between its
    // readers, every record read once. In the latency phase each consumer follows the
    // whole topic, so each times all 200 records.
    let report = json(&bench(
        "consume",
        &[
            "--consumers",
            "3",
            "--rate",
            "200",
            "--latency-secs",
            "1",
            "-O",
            "json",
        ],
    ));
    assert_eq!(report["consumers"], 3, "{report}");
    let records = client_records(&report);
    assert_eq!(records.len(), 3, "{report}");
    assert_eq!(records.iter().sum::<u64>(), 3001, "{report}");
    assert!(records.iter().all(|&r| r > 0), "{report}");
    assert_eq!(report["throughput"]["records"], 3001, "{report}");
    assert_eq!(report["throughput"]["bytes"], 3001 * 200, "{report}");
    assert_eq!(report["end_to_end_latency"]["samples"], 600, "{report}");
    for client in report["clients"].as_array().unwrap() {
        assert_eq!(client["end_to_end_latency"]["samples"], 200, "{report}");
        assert!(client["ack_latency"]["p50_ms"].is_null(), "{report}");
    }

    // A matrix: two sweeps, every combination, the first flag changing slowest; each
    // setting a full report of its own shape.
    let report = json(&bench(
        "produce",
        &[
            "--sweep",
            "partitions=1,3",
            "--sweep",
            "producers=1,2",
            "--latency-secs",
            "0",
            "-O",
            "json",
        ],
    ));
    assert_eq!(report["kind"], "produce", "{report}");
    assert_eq!(
        report["sweep"],
        serde_json::json!(["partitions=1,3", "producers=1,2"]),
        "{report}"
    );
    let settings = report["settings"].as_array().unwrap();
    let shapes: Vec<(u64, u64)> = settings
        .iter()
        .map(|s| {
            let (p, n) = (
                s["setting"]["partitions"].as_u64().unwrap(),
                s["setting"]["producers"].as_u64().unwrap(),
            );
            assert_eq!(s["report"]["partitions"], p, "{s}");
            assert_eq!(s["report"]["producers"], n, "{s}");
            assert_eq!(client_records(&s["report"]).len() as u64, n, "{s}");
            assert_eq!(s["report"]["throughput"]["records"], 3001, "{s}");
            s["ratio_to_first"].as_f64().unwrap();
            (p, n)
        })
        .collect();
    assert_eq!(shapes, [(1, 1), (1, 2), (3, 1), (3, 2)], "{report}");
    assert_eq!(settings[0]["ratio_to_first"], 1.0, "{report}");
    let first = settings[0]["report"]["throughput"]["mb_per_s"]
        .as_f64()
        .unwrap();
    for s in settings {
        let mb = s["report"]["throughput"]["mb_per_s"].as_f64().unwrap();
        let ratio = s["ratio_to_first"].as_f64().unwrap();
        assert!((ratio - mb / first).abs() < 1e-9, "{s}");
    }

    // As text: the header names the sweep, then one line per setting with its ratio to
    // the first; consume sweeps its consumers.
    let run = bench(
        "consume",
        &["--sweep", "consumers=1,2,3", "--latency-secs", "0"],
    );
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("consume benchmark: 2 partition(s)")
            && lines[0].ends_with("; sweep consumers=1,2,3"),
        "{}",
        run.stdout
    );
    // The swept setting shows its values in the header.
    assert!(
        lines[0].contains(", 1,2,3 consumers on connections of their own"),
        "{}",
        run.stdout
    );
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for (line, n) in lines[1..].iter().zip(1..) {
        assert!(line.starts_with(&format!("consumers={n} ")), "{line}");
        assert!(
            line.contains(" MB/s ") && line.contains("x loopback"),
            "{line}"
        );
    }
    assert!(lines[1].contains(" 1.00x first"), "{}", lines[1]);

    // Settings that cannot be swept, or swept twice, are refused with what to do.
    let run = bench("consume", &["--sweep", "producers=1,2"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot sweep 'producers' here"),
        "{}",
        run.stderr
    );
    let run = bench(
        "produce",
        &["--sweep", "partitions=1,2", "--sweep", "partitions=4"],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("--sweep partitions is given twice"),
        "{}",
        run.stderr
    );
    // Every topic is gone again.
    let run = fluvio(&sc, &["topic", "list", "-O", "json"]);
    run.ok();
    assert!(!run.stdout.contains("benchmark-"), "{}", run.stdout);
}
