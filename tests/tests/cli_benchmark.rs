//! `fluvio benchmark` runs end to end against a real daemon and reports what it measured.

use serde_json::Value;
use tests::cli::fluvio;
use tests::{Daemon, Role, temp_dir};

#[test]
fn benchmark_reports_throughput_baseline_and_latency_as_json() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    for kind in ["produce", "consume"] {
        let run = fluvio(
            &sc,
            &[
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
            ],
        );
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
    // The benchmark cleans up its topic.
    let run = fluvio(&sc, &["topic", "list", "-O", "json"]);
    run.ok();
    assert!(!run.stdout.contains("benchmark-"), "{}", run.stdout);
}
