//! Corrupt bytes on disk are never served as data: one flipped byte inside a record's
//! value, in a sealed segment or in the active one after a clean stop, makes `fluvio
//! consume` fail naming the topic, partition and offsets of the damaged batch, and
//! `fluvio partition verify` list the range; a healthy topic verifies `ok`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::record::batch::batches;
use serde_json::Value;
use tests::cli::{column, fluvio, fluvio_stdin, parse_table};
use tests::{Daemon, Role, temp_dir};

/// Records per topic: with 1 KiB values and 2 MiB segments (the smallest size the SC
/// accepts once it checks segments against the largest batch) that is two sealed
/// segments and an active one.
const RECORDS: usize = 5000;

fn value(n: usize) -> String {
    let head = format!("value-{n:05}-");
    format!("{head}{}", "x".repeat(1000 - head.len()))
}

fn produce(sc: &str, topic: &str) {
    fluvio(sc, &["topic", "create", topic, "--segment-size", "2MiB"]).ok();
    let input: String = (0..RECORDS).map(|n| value(n) + "\n").collect();
    fluvio_stdin(sc, &["produce", topic], input.as_bytes()).ok();
}

/// The segment files of the only replica of `topic` partition 0, oldest first.
fn segments(data: &Path, topic: &str) -> Vec<PathBuf> {
    let name = format!("{topic}-0");
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == name.as_str()) {
                let mut logs: Vec<PathBuf> = std::fs::read_dir(&path)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect();
                logs.sort();
                return logs;
            }
            stack.push(path);
        }
    }
    panic!("no replica directory {name} under {}", data.display());
}

/// Flip one byte inside record `n`'s value in `segment`; returns the offsets of the batch
/// holding it as `first..=last`.
fn flip_value_byte(segment: &Path, n: usize) -> String {
    let mut bytes = std::fs::read(segment).unwrap();
    let needle = format!("value-{n:05}-");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("record {n} not in {}", segment.display()))
        + needle.len()
        + 100;
    let mut start = 0;
    let mut range = None;
    for batch in batches(&bytes) {
        let batch = batch.unwrap();
        let end = start + batch.bytes.len();
        if (start..end).contains(&at) {
            let h = batch.header;
            range = Some(format!("{}..={}", h.base_offset, h.next_offset() - 1));
            // Not the segment's last batch: recovery's cheap check covers the tail.
            assert!(end < bytes.len(), "record {n} is in the last batch");
        }
        start = end;
    }
    assert_eq!(bytes[at], b'x');
    bytes[at] = b'y';
    std::fs::write(segment, bytes).unwrap();
    range.unwrap()
}

fn restart_cleanly(daemon: &mut Daemon, dir: &Path) -> Daemon {
    let status = daemon.terminate(Duration::from_secs(60));
    assert!(status.success(), "clean stop: {status}\n{}", daemon.log());
    let again = Daemon::spawn_on(
        Role::AllInOne { spus: 1 },
        dir,
        daemon.public,
        daemon.private,
    );
    again.wait_ready();
    again
}

/// What `consume -B -d` printed before failing, and its error.
fn consume_until_failure(sc: &str, topic: &str) -> (Vec<String>, String) {
    let run = fluvio(sc, &["consume", topic, "-B", "-d"]);
    run.expect_code(1);
    (run.stdout.lines().map(str::to_string).collect(), run.stderr)
}

#[test]
fn a_flipped_byte_fails_consume_and_verify_naming_segment_and_offsets() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    produce(&sc, "healthy");
    produce(&sc, "sealed");
    produce(&sc, "active");

    let sealed = segments(dir.path(), "sealed");
    assert!(sealed.len() >= 3, "{sealed:?}");
    let sealed_range = flip_value_byte(&sealed[0], 40);
    let active = segments(dir.path(), "active");
    let active_segment = active.last().unwrap();
    let active_base: usize = active_segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let active_range = flip_value_byte(active_segment, active_base + 40);
    let mut daemon = restart_cleanly(&mut daemon, dir.path());
    let sc = daemon.public.to_string();

    // Consume delivers the records before the damaged batch, then fails naming it.
    for (topic, range) in [("sealed", &sealed_range), ("active", &active_range)] {
        let (printed, stderr) = consume_until_failure(&sc, topic);
        let first: usize = range.split("..=").next().unwrap().parse().unwrap();
        assert_eq!(printed.len(), first, "{topic}: {stderr}");
        assert_eq!(printed.last().unwrap(), &value(first - 1));
        for fragment in [
            format!("topic '{topic}' partition 0 at offsets {range}"),
            "CRC mismatch".to_string(),
        ] {
            assert!(
                stderr.contains(&fragment),
                "{topic}: {fragment:?} not in {stderr}"
            );
        }
    }
    // Verify names the segment file and the offsets, and exits 1.
    for (topic, segment, range) in [
        ("sealed", &sealed[0], &sealed_range),
        ("active", active_segment, &active_range),
    ] {
        let run = fluvio(&sc, &["partition", "verify", topic]);
        run.expect_code(1);
        let file = segment.file_name().unwrap().to_str().unwrap();
        for fragment in [file, range.as_str(), "CRC mismatch", "corrupt (1 range)"] {
            assert!(
                run.stdout.contains(fragment),
                "{topic}: {fragment:?} not in\n{}",
                run.stdout
            );
        }
        assert!(
            run.stderr
                .contains(&format!("topic '{topic}' partition 0: 1 corrupt range")),
            "{}",
            run.stderr
        );
    }

    // A healthy topic: every record checked, ok, exit 0; the same as JSON.
    let run = fluvio(&sc, &["partition", "verify", "healthy", "-p", "0"]);
    run.ok();
    let (header, rows) = parse_table(&run.stdout);
    assert_eq!(column(&header, &rows, "STATUS"), ["ok"]);
    assert_eq!(column(&header, &rows, "RECORDS"), [RECORDS.to_string()]);
    let run = fluvio(&sc, &["partition", "verify", "sealed", "-O", "json"]);
    run.expect_code(1);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let problem = &json[0]["problems"][0];
    assert_eq!(problem["kind"], "crc-mismatch");
    let first: i64 = sealed_range.split("..=").next().unwrap().parse().unwrap();
    assert_eq!(problem["first_offset"], first);
    assert!(
        problem["segment"]
            .as_str()
            .unwrap()
            .ends_with("00000000000000000000.log")
    );
    daemon.kill();
}
