//! Fluvio's CLI spellings accepted by ours, with Fluvio's meaning, through the `fluvio`
//! binary: topic compression (set by `--compression-type`, followed by `fluvio produce`,
//! read back by the official Python client), `-c/--cluster`, consume `--start` and
//! `-b/--maxbytes`, produce `--linger 150ms`, `--compression` and `--delivery-semantic`,
//! `topic delete -c`, `spu list --custom`, Fluvio's replica assignment file, `-O toml`,
//! and `fluvio profile` on a config file with comments and keys we do not know.

use std::path::{Path, PathBuf};

use tests::cli::{Run, column, fluvio, fluvio_stdin, fluvio_with, parse_table};
use tests::{Daemon, Role, free_addr, python, temp_dir};

/// An address nobody listens on: where `FLUVIO_SC` points when a flag must win.
fn dead_addr() -> String {
    free_addr().to_string()
}

/// The compression bits of every batch stored for `topic` partition 0.
fn stored_codecs(data_dir: &Path, topic: &str) -> Vec<u8> {
    let dir = find_dir(data_dir, &format!("{topic}-0"))
        .unwrap_or_else(|| panic!("no replica directory for {topic}-0 under {data_dir:?}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut codecs = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).unwrap();
        let mut at = 0;
        // Batch header: base offset (8), batch length (4) counted from byte 12, leader
        // epoch (4), magic (1), CRC (4), attributes (2) whose bits 0-2 name the codec.
        while at + 23 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            let attributes = i16::from_be_bytes(bytes[at + 21..at + 23].try_into().unwrap());
            codecs.push((attributes & 0x7) as u8);
            at += 12 + len as usize;
        }
    }
    codecs
}

fn find_dir(root: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
            if let Some(found) = find_dir(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

const READ_BACK: &str = r#"
import sys, itertools
from fluvio import Fluvio, FluvioConfig, Offset

f = Fluvio.connect_with_config(FluvioConfig.new(sys.argv[1]))
count = int(sys.argv[2])
for topic in sys.argv[3:]:
    stream = f.partition_consumer(topic, 0).stream(Offset.beginning())
    values = [r.value_string() for r in itertools.islice(stream, count)]
    print(topic, ",".join(values))
"#;

#[test]
fn produce_compresses_as_the_topic_says_and_the_official_client_reads_it() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let topics = [
        ("zipped", "gzip", 1u8),
        ("zstded", "zstd", 4),
        ("lz4ed", "lz4", 3),
        ("snapped", "snappy", 2),
    ];
    for (topic, codec, _) in topics {
        fluvio(
            &sc,
            &["topic", "create", topic, "--compression-type", codec],
        )
        .ok();
    }
    fluvio(&sc, &["topic", "create", "free"]).ok();

    let (header, rows) = parse_table(&fluvio(&sc, &["topic", "list"]).ok().stdout);
    assert_eq!(column(&header, &rows, "NAME")[0], "free");
    assert_eq!(
        column(&header, &rows, "COMPRESSION"),
        ["any", "lz4", "snappy", "gzip", "zstd"]
    );
    let described = fluvio(&sc, &["topic", "describe", "zstded"])
        .ok()
        .stdout
        .clone();
    assert!(
        described
            .lines()
            .any(|l| l.starts_with("Compression:") && l.ends_with(" zstd")),
        "{described}"
    );

    let lines: Vec<String> = (0..50)
        .map(|i| format!("record-{i:02}-{}", "x".repeat(40)))
        .collect();
    let input = lines.join("\n") + "\n";
    for (topic, _, _) in topics {
        fluvio_stdin(&sc, &["produce", topic], input.as_bytes()).ok();
    }
    // Asking for the topic's own codec is fine; a topic of `any` takes whichever is asked.
    fluvio_stdin(
        &sc,
        &["produce", "zipped", "--compression", "gzip"],
        b"one-more\n",
    )
    .ok();
    fluvio_stdin(
        &sc,
        &["produce", "free", "--compression", "lz4"],
        input.as_bytes(),
    )
    .ok();

    // Another codec than the topic's is refused before anything is sent.
    let refused = fluvio_stdin(
        &sc,
        &["produce", "zipped", "--compression", "zstd"],
        b"no\n",
    );
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .contains("topic 'zipped' takes gzip batches only, and the producer asked for zstd"),
        "{}",
        refused.stderr
    );

    for (topic, _, bits) in topics {
        let codecs = stored_codecs(&daemon.data_dir, topic);
        assert!(!codecs.is_empty(), "{topic}: no batches");
        assert!(codecs.iter().all(|&c| c == bits), "{topic}: {codecs:?}");
    }
    let free = stored_codecs(&daemon.data_dir, "free");
    assert!(!free.is_empty() && free.iter().all(|&c| c == 3), "{free:?}");

    let out = python::run_ok(
        READ_BACK,
        &[&sc, "50", "zipped", "zstded", "lz4ed", "snapped", "free"],
    );
    let expected = lines.join(",");
    for topic in ["zipped", "zstded", "lz4ed", "snapped", "free"] {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{topic} ")))
            .unwrap_or_else(|| panic!("no line for {topic} in:\n{out}"));
        assert_eq!(line, expected, "{topic}");
    }
    // Our consumer decompresses them too.
    for (topic, _, _) in topics {
        let read = fluvio(&sc, &["consume", topic, "-B", "-d"]);
        let values: Vec<&str> = read.ok().stdout.lines().collect();
        assert_eq!(
            values[..50],
            lines.iter().map(String::as_str).collect::<Vec<_>>()[..],
            "{topic}"
        );
    }
    let more = python::run_ok(READ_BACK, &[&sc, "51", "zipped"]);
    assert!(more.trim_end().ends_with(",one-more"), "{more}");
}

#[test]
fn fluvios_spellings_work_with_fluvios_meaning() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let dead = dead_addr();

    // -c before the command, --cluster anywhere: both beat FLUVIO_SC.
    fluvio(&dead, &["-c", &sc, "topic", "create", "spelled"]).ok();
    let listed = fluvio(&dead, &["topic", "list", "--cluster", &sc]);
    listed.ok();
    assert!(listed.stdout.contains("spelled"), "{}", listed.stdout);

    // Produce with a linger in units and both delivery semantics.
    fluvio_stdin(
        &sc,
        &[
            "produce",
            "spelled",
            "--linger",
            "150ms",
            "--delivery-semantic",
            "at-most-once",
        ],
        b"a0\na1\na2\n",
    )
    .ok();
    fluvio_stdin(
        &sc,
        &[
            "produce",
            "spelled",
            "--linger",
            "20",
            "--delivery-semantic",
            "at_least_once",
        ],
        b"b3\nb4\n",
    )
    .ok();
    let bad = fluvio_stdin(
        &sc,
        &["produce", "spelled", "--linger", "5 parsecs"],
        b"x\n",
    );
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("unknown unit 'parsecs'"),
        "{}",
        bad.stderr
    );

    // consume --start is an absolute offset; -b/--maxbytes bounds each fetch.
    let from = fluvio(&sc, &["consume", "spelled", "--start", "2", "-d"]);
    assert_eq!(from.ok().stdout, "a2\nb3\nb4\n");
    let all = fluvio(&sc, &["consume", "spelled", "-B", "-d", "-b", "4096"]);
    assert_eq!(all.ok().stdout, "a0\na1\na2\nb3\nb4\n");
    let all = fluvio(
        &sc,
        &["consume", "spelled", "-B", "-d", "--maxbytes", "4096"],
    );
    assert_eq!(all.ok().stdout, "a0\na1\na2\nb3\nb4\n");

    // Fluvio's replica assignment file: a bare array.
    let file = dir.path().join("assign.json");
    std::fs::write(
        &file,
        r#"[{"id": 0, "replicas": [5001]}, {"id": 1, "replicas": [5001]}]"#,
    )
    .unwrap();
    fluvio(
        &sc,
        &["topic", "create", "assigned", "-f", file.to_str().unwrap()],
    )
    .ok();
    let (header, rows) = parse_table(
        &fluvio(&sc, &["partition", "list", "--topic", "assigned"])
            .ok()
            .stdout,
    );
    assert_eq!(column(&header, &rows, "LEADER"), ["5001", "5001"]);

    // -O toml wherever -O yaml works.
    let toml = fluvio(&sc, &["topic", "describe", "assigned", "-O", "toml"]);
    assert!(
        toml.ok()
            .stdout
            .starts_with("[[items]]\nname = \"assigned\"\n"),
        "{}",
        toml.stdout
    );
    let toml = fluvio(&sc, &["spu", "list", "-O", "toml"]);
    assert!(toml.ok().stdout.contains("[[items]]"), "{}", toml.stdout);
    assert!(toml.stdout.contains("id = 5001"), "{}", toml.stdout);

    // spu list --custom: only registered custom SPUs.
    let none = fluvio(&sc, &["spu", "list", "--custom"]);
    none.ok();
    assert_eq!(
        (none.stdout.as_str(), none.stderr.as_str()),
        ("", "No custom SPUs found\n")
    );
    fluvio(
        &sc,
        &[
            "spu",
            "register",
            "--id",
            "7001",
            "--public-server",
            "127.0.0.1:19105",
            "--private-server",
            "127.0.0.1:19106",
        ],
    )
    .ok();
    let (header, rows) = parse_table(&fluvio(&sc, &["spu", "list", "--custom"]).ok().stdout);
    assert_eq!(column(&header, &rows, "ID"), ["7001"]);
    assert_eq!(column(&header, &rows, "TYPE"), ["custom"]);
    let (header, rows) = parse_table(&fluvio(&sc, &["spu", "list"]).ok().stdout);
    assert_eq!(column(&header, &rows, "ID"), ["5001", "7001"]);

    // topic delete stops at the first failure unless -c says go on; either way the exit
    // status says a topic could not be deleted.
    for topic in ["d1", "d2", "d3"] {
        fluvio(&sc, &["topic", "create", topic]).ok();
    }
    let stopped = fluvio(&sc, &["topic", "delete", "d1", "nope", "d2"]);
    stopped.expect_code(1);
    assert_eq!(stopped.stdout, "topic \"d1\" deleted\n");
    assert!(
        stopped.stderr.contains("not deleted: d2")
            && stopped
                .stderr
                .contains("error: topic 'nope' does not exist"),
        "{}",
        stopped.stderr
    );
    let went_on = fluvio(
        &sc,
        &["topic", "delete", "-c", "nope", "d2", "missing", "d3"],
    );
    went_on.expect_code(1);
    assert_eq!(
        went_on.stdout,
        "topic \"d2\" deleted\ntopic \"d3\" deleted\n"
    );
    assert_eq!(
        went_on.stderr.matches("does not exist").count(),
        2,
        "{}",
        went_on.stderr
    );
    fluvio(&sc, &["topic", "delete", "--continue-on-error", "spelled"]).ok();
    let left = fluvio(&sc, &["topic", "list", "-O", "json"]);
    let left: serde_json::Value = serde_json::from_str(&left.ok().stdout).unwrap();
    let names: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["assigned"]);
}

const CONFIG: &str = r#"# my profiles, edited by hand
version = "2.0"
current_profile = "local" # the laptop
client_id = "kept"

# the daemon on this machine
[profile.local]
cluster = "local"
topic = "events" # a key only the official CLI reads

[profile.far]
cluster = "far"

[cluster.local]
endpoint = "DAEMON"
use_spu_local_address = false

[cluster.local.tls]
tls_policy = "disabled"

[cluster.local.metadata.installation]
type = "local"

[cluster.far]
endpoint = "10.255.0.1:9003"
use_spu_local_address = false
"#;

/// `fluvio` with the config file at `path` and no `FLUVIO_SC`, so profiles decide.
fn with_config(path: &Path, args: &[&str]) -> Run {
    fluvio_with(
        "",
        args,
        &[
            ("FLV_PROFILE_PATH", path.to_str().unwrap()),
            ("FLUVIO_SC", ""),
        ],
    )
}

#[test]
fn fluvio_profile_edits_the_config_file_and_keeps_the_rest() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let path = dir.path().join("fluvio-config");
    let original = CONFIG.replace("DAEMON", &sc);
    std::fs::write(&path, &original).unwrap();

    // Reading changes nothing.
    let current = with_config(&path, &["profile", "current"]);
    assert_eq!(current.ok().stdout, "local\n");
    assert_eq!(with_config(&path, &["profile"]).ok().stdout, "local\n");
    let (header, rows) = parse_table(&with_config(&path, &["profile", "list"]).ok().stdout);
    assert_eq!(
        header,
        [
            "CURRENT",
            "PROFILE",
            "CLUSTER",
            "ADDRESS",
            "TLS",
            "INSTALLATION"
        ]
    );
    assert_eq!(column(&header, &rows, "PROFILE"), ["far", "local"]);
    assert_eq!(column(&header, &rows, "CURRENT"), ["-", "*"]);
    assert_eq!(
        column(&header, &rows, "ADDRESS"),
        ["10.255.0.1:9003", sc.as_str()]
    );
    let json = with_config(&path, &["profile", "list", "-O", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.ok().stdout).unwrap();
    assert_eq!(json["client_id"], "kept");
    assert_eq!(json["profile"]["local"]["topic"], "events");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);

    // The current profile's cluster is the one commands use.
    with_config(&path, &["topic", "create", "via-profile"]).ok();

    // switch: only current_profile changes, its comment stays.
    let switched = with_config(&path, &["profile", "switch", "far"]);
    assert_eq!(switched.ok().stdout, "switched to profile \"far\"\n");
    let expected = original.replace(
        "current_profile = \"local\" # the laptop",
        "current_profile = \"far\" # the laptop",
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    let missing = with_config(&path, &["profile", "switch", "nope"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("profile 'nope' is not in")
            && missing.stderr.contains("far, local"),
        "{}",
        missing.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    // rename: the table keeps its place and comments; the current profile follows.
    with_config(&path, &["profile", "rename", "far", "remote"]).ok();
    let expected = expected
        .replace("current_profile = \"far\"", "current_profile = \"remote\"")
        .replace("[profile.far]", "[profile.remote]");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    assert_eq!(
        with_config(&path, &["profile", "current"]).ok().stdout,
        "remote\n"
    );

    // add: a profile and cluster in Fluvio's layout, made current; it reaches the daemon.
    let added = with_config(&path, &["profile", "add", "mine", &sc, "local"]);
    added.ok();
    let text = std::fs::read_to_string(&path).unwrap();
    // New tables go after their siblings: the profile after the last profile, the
    // cluster after the last cluster.
    let expected = expected
        .replace("current_profile = \"remote\"", "current_profile = \"mine\"")
        .replace(
            "[profile.remote]\ncluster = \"far\"\n",
            "[profile.remote]\ncluster = \"far\"\n\n[profile.mine]\ncluster = \"mine\"\n",
        )
        + &format!(
            "\n[cluster.mine]\nendpoint = \"{sc}\"\nuse_spu_local_address = false\n\n\
             [cluster.mine.tls]\ntls_policy = \"disabled\"\n\n\
             [cluster.mine.metadata]\ninstallation = \"local\"\n"
        );
    assert_eq!(text, expected);
    let listed = with_config(&path, &["topic", "list"]);
    assert!(
        listed.ok().stdout.contains("via-profile"),
        "{}",
        listed.stdout
    );

    // The REPL runs the same command.
    let repl = with_config(&path, &["repl", "-c", "profile switch local"]);
    repl.ok();
    let expected = expected.replace("current_profile = \"mine\"", "current_profile = \"local\"");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    // delete: another profile quietly; the current one with Fluvio's warning.
    let deleted = with_config(&path, &["profile", "delete", "remote"]);
    assert_eq!(deleted.ok().stdout, "profile \"remote\" deleted\n");
    assert_eq!(deleted.stderr, "");
    let deleted = with_config(&path, &["profile", "delete", "local"]);
    deleted.ok();
    assert!(
        deleted
            .stderr
            .contains("warning: this removed your current profile"),
        "{}",
        deleted.stderr
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("current_profile"), "{text}");
    assert!(
        !text.contains("[profile.local]") && !text.contains("[profile.remote]"),
        "{text}"
    );
    assert!(
        text.starts_with("# my profiles, edited by hand\n"),
        "{text}"
    );
    assert!(
        text.contains("[cluster.local.metadata.installation]\ntype = \"local\""),
        "{text}"
    );
    assert!(text.contains("client_id = \"kept\""), "{text}");
    let none = with_config(&path, &["profile", "current"]);
    none.expect_code(1);
    assert!(
        none.stderr.contains("fluvio profile switch"),
        "{}",
        none.stderr
    );

    // A fresh file: `profile add` makes it.
    let fresh = dir.path().join("new-dir").join("config");
    with_config(&fresh, &["profile", "add", "first", "127.0.0.1:9003"]).ok();
    assert_eq!(
        with_config(&fresh, &["profile", "current"]).ok().stdout,
        "first\n"
    );
    let bad = with_config(&fresh, &["profile", "add", "broken", "no-port"]);
    bad.expect_code(2);
}
