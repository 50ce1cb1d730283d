//! `consume -O json | produce --json` copies records with keys and headers; `produce -v`
//! reports offsets; `produce` sends each stdin line as it arrives, not at end of input.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::cli::{fluvio, fluvio_binary, fluvio_lines, fluvio_stdin};
use tests::{Daemon, Role, temp_dir};

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The fields a copy must keep: key, value and headers (offsets and times are the
/// target's own).
fn content(record: &Value) -> (Value, Value, Value, Value, Value) {
    (
        record["key"].clone(),
        record["key_base64"].clone(),
        record["value"].clone(),
        record["value_base64"].clone(),
        record["headers"].clone(),
    )
}

#[test]
fn consume_json_feeds_produce_json() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "source"]).ok();
    fluvio(&sc, &["topic", "create", "copy"]).ok();

    let input = concat!(
        r#"{"key":"user-1","value":"{\"total\":3}","headers":[{"key":"type","value":"order"}]}"#,
        "\n",
        r#"{"key_base64":"/wA=","value_base64":"AAECgA==","headers":[{"key":"bin","value_base64":"gA=="}]}"#,
        "\n",
        r#"{"value":"no key, no headers"}"#,
        "\n"
    );
    let run = fluvio_stdin(
        &sc,
        &["produce", "source", "--json", "-v"],
        input.as_bytes(),
    );
    run.ok();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "partition 0 offset 0",
            "partition 0 offset 1",
            "partition 0 offset 2"
        ]
    );

    let first = fluvio(&sc, &["consume", "source", "-B", "-d", "-O", "json"]);
    first.ok();
    let originals = json_lines(&first.stdout);
    assert_eq!(originals.len(), 3);
    assert_eq!(originals[0]["key"], "user-1");
    assert_eq!(originals[0]["headers"][0]["value"], "order");
    assert_eq!(originals[1]["key_base64"], "/wA=");
    assert_eq!(originals[1]["value_base64"], "AAECgA==");
    assert_eq!(originals[2]["key"], Value::Null);

    // Pipe the consumed lines into another topic, then compare what both hold.
    fluvio_stdin(&sc, &["produce", "copy", "--json"], first.stdout.as_bytes()).ok();
    let second = fluvio(&sc, &["consume", "copy", "-B", "-d", "-O", "json"]);
    second.ok();
    let copies = json_lines(&second.stdout);
    assert_eq!(
        copies.iter().map(content).collect::<Vec<_>>(),
        originals.iter().map(content).collect::<Vec<_>>()
    );

    // A line that is not a record names its line number.
    let run = fluvio_stdin(
        &sc,
        &["produce", "copy", "--json"],
        b"{\"value\":\"ok\"}\nnot json\n",
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("line 2: not a JSON record object"),
        "{}",
        run.stderr
    );
}

#[test]
fn produce_sends_each_line_as_it_arrives() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "typed"]).ok();
    let mut producer = Command::new(fluvio_binary())
        .args(["produce", "typed"])
        .env("FLUVIO_SC", &sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fluvio produce");
    let mut stdin = producer.stdin.take().expect("stdin");
    stdin.write_all(b"first line\n").expect("write");
    stdin.flush().expect("flush");
    // stdin stays open: the record must arrive anyway.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = fluvio(&sc, &["consume", "typed", "-B", "-d"]);
        if run.stdout.lines().any(|l| l == "first line") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first line never arrived while stdin was open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stdin.write_all(b"second line\n").expect("write");
    drop(stdin);
    let out = producer.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = fluvio(&sc, &["consume", "typed", "-B", "-d"]);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        ["first line", "second line"]
    );
}

#[test]
fn a_live_tail_prints_records_produced_after_it_started() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "tail"]).ok();
    fluvio_stdin(&sc, &["produce", "tail"], b"old record\n").ok();
    let (mut tail, rx) = fluvio_lines(&sc, &["consume", "tail"]);
    // The tail starts at the end, so the old record never shows. Records produced after
    // it started do; keep producing until one arrives (the tail may take a moment to
    // open its stream).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let line = loop {
        fluvio_stdin(&sc, &["produce", "tail"], format!("live {n}\n").as_bytes()).ok();
        n += 1;
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
        assert!(Instant::now() < deadline, "the tail printed nothing");
    };
    assert!(line.starts_with("live "), "{line}");
    // It keeps following: the next record produced shows too.
    fluvio_stdin(&sc, &["produce", "tail"], b"one more\n").ok();
    let mut rest = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let done = line == "one more";
        rest.push(line);
        if done {
            break;
        }
    }
    assert_eq!(
        rest.last().map(String::as_str),
        Some("one more"),
        "{rest:?}"
    );
    assert!(!rest.iter().any(|l| l == "old record"));
    tail.kill().ok();
    tail.wait().ok();
}
