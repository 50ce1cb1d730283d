//! The `fluvio` CLI against a real daemon (SC + two SPUs): every admin command, its
//! success and failure paths, and every output format parsed back.
//!
//! One daemon serves the whole file, so the steps run in order inside one test; each step
//! uses its own names and leaves nothing behind that a later step could trip over.

use serde_json::Value;
use tests::cli::{Run, column, create_token, fluvio, fluvio_stdin, parse_table};
use tests::{Daemon, Role, temp_dir};

struct Cluster {
    _daemon: Daemon,
    _dir: tempfile::TempDir,
    sc: String,
}

impl Cluster {
    fn start() -> Self {
        let dir = temp_dir();
        let daemon = Daemon::start(Role::AllInOne { spus: 2 }, dir.path());
        let sc = daemon.public.to_string();
        Self {
            _daemon: daemon,
            _dir: dir,
            sc,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        fluvio(&self.sc, args)
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-O", "json"]);
        let run = self.run(&args);
        run.ok();
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{}", run.stdout))
    }

    #[track_caller]
    fn yaml(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-O", "yaml"]);
        let run = self.run(&args);
        run.ok();
        serde_norway::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not YAML ({e}):\n{}", run.stdout))
    }

    /// The table a listing prints, parsed and checked for alignment.
    #[track_caller]
    fn table(&self, args: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
        let run = self.run(args);
        run.ok();
        parse_table(&run.stdout)
    }
}

fn names(json: &Value) -> Vec<String> {
    json.as_array()
        .unwrap_or_else(|| panic!("not an array: {json}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn cli_admin_commands_against_a_daemon() {
    let cluster = Cluster::start();
    let files = temp_dir();
    version_reports_the_platform(&cluster);
    topics_create_list_describe_delete(&cluster);
    topic_settings_and_dry_run(&cluster);
    replica_assignment_files(&cluster, files.path());
    topics_grow(&cluster, files.path());
    partition_list_columns(&cluster);
    spus_register_list_unregister(&cluster);
    auth_tokens(&cluster);
    advanced_metadata(&cluster);
    advanced_generate_and_run(&cluster, files.path());
    empty_listings(&cluster);
}

fn version_reports_the_platform(c: &Cluster) {
    let run = c.run(&["version"]);
    run.ok();
    assert!(
        run.stdout.contains("Fluvio Platform:  0."),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let json = c.json(&["version"]);
    assert!(
        json["platform_version"].as_str().unwrap().starts_with("0."),
        "{json}"
    );
}

fn topics_create_list_describe_delete(c: &Cluster) {
    let run = c.run(&["topic", "create", "orders", "-p", "3", "-r", "2"]);
    run.ok();
    assert_eq!(run.stdout, "topic \"orders\" created\n");
    c.run(&["topic", "create", "events"]).ok();

    let again = c.run(&["topic", "create", "orders"]);
    again.expect_code(1);
    assert_eq!(
        again.stderr,
        "error: cannot create topic 'orders': topic 'orders' already exists\n"
    );
    let bad = c.run(&["topic", "create", "Bad_Name"]);
    bad.expect_code(1);
    assert!(
        bad.stderr.contains("invalid topic name 'Bad_Name'"),
        "{}",
        bad.stderr
    );

    let (header, rows) = c.table(&["topic", "list"]);
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "PARTITIONS",
            "REPLICAS",
            "RETENTION",
            "COMPRESSION",
            "STATUS",
            "REASON"
        ]
    );
    assert_eq!(column(&header, &rows, "NAME"), ["events", "orders"]);
    assert_eq!(column(&header, &rows, "PARTITIONS"), ["1", "3"]);
    assert_eq!(column(&header, &rows, "REPLICAS"), ["1", "2"]);
    assert_eq!(
        column(&header, &rows, "STATUS"),
        ["provisioned", "provisioned"]
    );

    let json = c.json(&["topic", "list"]);
    assert_eq!(names(&json), ["events", "orders"]);
    assert_eq!(
        json[1]["spec"]["replicas"]["computed"]["partitions"], 3,
        "{json}"
    );
    let yaml = c.yaml(&["topic", "list"]);
    assert_eq!(yaml, json, "YAML and JSON carry the same data");

    let run = c.run(&["topic", "describe", "orders"]);
    run.ok();
    for line in [
        "Name:                    orders",
        "Type:                    computed",
        "Partition Count:         3",
        "Replication Factor:      2",
        "Status:                  provisioned",
        "Partition map:",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    let map = run.stdout.split("Partition map:\n").nth(1).unwrap();
    let (header, rows) = parse_table(map);
    assert_eq!(
        header,
        [
            "ID",
            "LEADER",
            "REPLICAS",
            "RESOLUTION",
            "LIVE-REPLICAS",
            "HW",
            "LEO"
        ]
    );
    assert_eq!(column(&header, &rows, "ID"), ["0", "1", "2"]);
    for replicas in column(&header, &rows, "REPLICAS") {
        assert!(
            replicas.starts_with('[') && replicas.matches(',').count() == 1,
            "{replicas}"
        );
    }

    let json = c.json(&["topic", "describe", "orders", "events"]);
    assert_eq!(names(&json), ["orders", "events"]);
    assert_eq!(json[0]["partitions"].as_array().unwrap().len(), 3, "{json}");

    let missing = c.run(&["topic", "describe", "orders", "nope"]);
    missing.expect_code(1);
    assert!(
        missing.stdout.contains("Name:                    orders"),
        "{}",
        missing.stdout
    );
    assert_eq!(
        missing.stderr,
        "error: topic 'nope' does not exist; create it with `fluvio topic create nope`\n"
    );

    let run = c.run(&["topic", "delete", "-c", "orders", "nope", "events"]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "topic \"orders\" deleted\ntopic \"events\" deleted\n"
    );
    assert!(
        run.stderr
            .starts_with("error: topic 'nope' does not exist; create it with"),
        "{}",
        run.stderr
    );
    let json = c.json(&["topic", "list"]);
    assert_eq!(names(&json), Vec::<String>::new());
}

fn topic_settings_and_dry_run(c: &Cluster) {
    let run = c.run(&["topic", "create", "checked", "--dry-run"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "topic \"checked\" is valid; nothing was created (dry run)\n"
    );
    assert!(
        names(&c.json(&["topic", "list"])).is_empty(),
        "dry run created nothing"
    );
    let dry_dup = c.run(&["topic", "create", "Bad", "-d"]);
    dry_dup.expect_code(1);

    c.run(&[
        "topic",
        "create",
        "tuned",
        "-i",
        "--retention-time",
        "1h",
        "--segment-size",
        "4MiB",
        "--max-partition-size",
        "10MiB",
    ])
    .ok();
    let run = c.run(&["topic", "describe", "tuned"]);
    run.ok();
    for line in [
        "Ignore Rack Assignment:  yes",
        "Retention Time:          1h",
        "Segment Size:            4 MiB",
        "Max Partition Size:      10 MiB",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    let json = c.json(&["topic", "describe", "tuned"]);
    let spec = &json[0]["spec"];
    assert_eq!(
        spec["cleanup_policy"]["segment"]["time_in_seconds"], 3600,
        "{json}"
    );
    assert_eq!(spec["storage"]["segment_size"], 4 << 20, "{json}");
    assert_eq!(spec["storage"]["max_partition_size"], 10 << 20, "{json}");
    let (header, rows) = c.table(&["topic", "list"]);
    assert_eq!(column(&header, &rows, "RETENTION"), ["1h"]);
    assert_eq!(column(&header, &rows, "COMPRESSION"), ["any"]);
    c.run(&["topic", "delete", "tuned"]).ok();
}

fn replica_assignment_files(c: &Cluster, dir: &std::path::Path) {
    let good = write(
        dir,
        "good.json",
        r#"{"partitions":[{"id":0,"replicas":[5001,5002]},{"id":1,"replicas":[5002,5001]}]}"#,
    );
    c.run(&["topic", "create", "placed", "-f", &good]).ok();
    let (header, rows) = c.table(&["partition", "list", "--topic", "placed"]);
    assert_eq!(column(&header, &rows, "LEADER"), ["5001", "5002"]);
    assert_eq!(
        column(&header, &rows, "REPLICAS"),
        ["[5001,5002]", "[5002,5001]"]
    );
    let (header, rows) = c.table(&["topic", "list"]);
    assert_eq!(column(&header, &rows, "TYPE"), ["assigned"]);

    for (name, text, expect) in [
        ("broken.json", "{\"partitions\": [", "EOF while parsing"),
        (
            "shape.json",
            r#"{"partitions":[{"id":0,"leader":1}]}"#,
            "unknown field `leader`",
        ),
        (
            "gap.json",
            r#"{"partitions":[{"id":1,"replicas":[5001]}]}"#,
            "expected 0, found 1",
        ),
        (
            "dup.json",
            r#"{"partitions":[{"id":0,"replicas":[5001,5001]}]}"#,
            "lists SPU 5001 twice",
        ),
    ] {
        let path = write(dir, name, text);
        let run = c.run(&["topic", "create", "misplaced", "-f", &path]);
        run.expect_code(1);
        assert!(
            run.stderr
                .starts_with(&format!("error: replica assignment file {path}: ")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(expect), "{expect:?} in {}", run.stderr);
    }
    let unknown_spu = write(
        dir,
        "spu.json",
        r#"{"partitions":[{"id":0,"replicas":[9999]}]}"#,
    );
    let run = c.run(&["topic", "create", "misplaced", "-f", &unknown_spu]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("9999"),
        "the SC's refusal is shown: {}",
        run.stderr
    );
    let missing = dir.join("missing.json").display().to_string();
    let run = c.run(&["topic", "create", "misplaced", "-f", &missing]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot read {missing}: ")),
        "{}",
        run.stderr
    );
    c.run(&["topic", "delete", "placed"]).ok();
}

/// `topic add-partition` (the SC's Update API): new partitions after the old ones, placed
/// on the SPUs and served at once; topics that cannot grow say why.
fn topics_grow(c: &Cluster, dir: &std::path::Path) {
    c.run(&["topic", "create", "grow", "-p", "1", "-r", "2"])
        .ok();
    // read_committed: acknowledged once both replicas have it, so that a consume to the
    // end (-d, which stops at the high watermark) sees it.
    let produce = ["produce", "grow", "--isolation", "read_committed"];
    fluvio_stdin(&c.sc, &produce, b"before\n").ok();
    let run = c.run(&["topic", "add-partition", "grow", "--count", "2"]);
    run.ok();
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("added new partitions to topic: \"grow\""),
        "{}",
        run.stdout
    );
    let (header, rows) = parse_table(&lines.collect::<Vec<_>>().join("\n"));
    assert_eq!(header, ["PARTITION", "LEADER", "REPLICAS"]);
    assert_eq!(column(&header, &rows, "PARTITION"), ["1", "2"]);
    for row in &rows {
        assert!(["5001", "5002"].contains(&row[1].as_str()), "{row:?}");
    }
    // -c is Fluvio's short spelling; JSON lists what was added.
    let added = c.json(&["topic", "add-partition", "grow", "-c", "1"]);
    assert_eq!(added[0]["partition"], 3);
    assert_eq!(added[0]["replicas"].as_array().unwrap().len(), 2);

    let (header, rows) = c.table(&["partition", "list", "--topic", "grow"]);
    assert_eq!(column(&header, &rows, "PARTITION"), ["0", "1", "2", "3"]);
    let topics = c.json(&["topic", "describe", "grow"]);
    assert_eq!(
        topics[0]["partitions"].as_array().unwrap().len(),
        4,
        "{topics}"
    );
    // The new partitions take records at once, and partition 0 kept its own.
    fluvio_stdin(&c.sc, &[&produce[..], &["-p", "3"]].concat(), b"after\n").ok();
    let run = c.run(&["consume", "grow", "-p", "3", "-B", "-d"]);
    run.ok();
    assert_eq!(run.stdout, "after\n");
    let run = c.run(&["consume", "grow", "-p", "0", "-B", "-d"]);
    assert_eq!(run.stdout, "before\n");

    let run = c.run(&["topic", "add-partition", "nosuch"]);
    run.expect_code(1);
    assert!(run.stderr.contains("nosuch"), "{}", run.stderr);
    let fixed = write(
        dir,
        "fixed.json",
        r#"{"partitions":[{"id":0,"replicas":[5001]}]}"#,
    );
    c.run(&["topic", "create", "fixed", "-f", &fixed]).ok();
    let run = c.run(&["topic", "add-partition", "fixed"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("explicit replica assignment"),
        "{}",
        run.stderr
    );
    // Adding nothing is a usage error.
    let run = c.run(&["topic", "add-partition", "grow", "-c", "0"]);
    run.expect_code(2);
    c.run(&["topic", "delete", "grow", "fixed"]).ok();
}

fn partition_list_columns(c: &Cluster) {
    c.run(&["topic", "create", "p-one", "-p", "2", "-r", "2"])
        .ok();
    c.run(&["topic", "create", "p-two"]).ok();
    let (header, rows) = c.table(&["partition", "list"]);
    assert_eq!(
        header,
        [
            "TOPIC",
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "RESOLUTION",
            "SIZE",
            "HW",
            "LEO",
            "LOG-START",
            "IN-SYNC",
            "IN-SYNC-SET",
            "FOLLOWER-OFFSETS"
        ]
    );
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{row:?}");
    }
    assert_eq!(column(&header, &rows, "TOPIC"), ["p-one", "p-one", "p-two"]);
    assert_eq!(column(&header, &rows, "PARTITION"), ["0", "1", "0"]);
    // New partitions: epoch 0, every replica in sync (in replica order).
    assert_eq!(column(&header, &rows, "EPOCH"), ["0", "0", "0"]);
    assert_eq!(
        column(&header, &rows, "IN-SYNC-SET"),
        column(&header, &rows, "REPLICAS")
    );
    let json = c.json(&["partition", "list", "-t", "p-one"]);
    for p in json.as_array().unwrap() {
        let state = &p["state"];
        assert_eq!(state["leader"], p["spec"]["leader"], "{p}");
        assert_eq!(state["leader_epoch"], 0, "{p}");
        assert_eq!(state["in_sync"], p["spec"]["replicas"], "{p}");
        assert_eq!(state["in_sync"].as_array().unwrap().len(), 2, "{p}");
    }

    let (_, rows) = c.table(&["partition", "list", "--topic", "p-one"]);
    assert_eq!(rows.len(), 2, "exact topic, not a substring: {rows:?}");
    // The status moves on its own (offline until the SPU reports, then online): compare
    // JSON and YAML once it has settled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let json = loop {
        let json = c.json(&["partition", "list", "-t", "p-two"]);
        if json[0]["status"]["resolution"] == "Online" || std::time::Instant::now() > deadline {
            break json;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(names(&json), ["p-two-0"]);
    assert_eq!(json[0]["status"]["resolution"], "Online", "{json}");
    assert_eq!(c.yaml(&["partition", "list", "-t", "p-two"]), json);

    // `p` only matches the others' names as a substring: a topic that does not exist.
    let none = c.run(&["partition", "list", "--topic", "p"]);
    none.expect_code(1);
    assert_eq!(none.stdout, "");
    assert_eq!(
        none.stderr,
        "error: topic 'p' does not exist; create it with `fluvio topic create p`\n"
    );
    c.run(&["topic", "delete", "p-one", "p-two"]).ok();
}

fn spus_register_list_unregister(c: &Cluster) {
    let (header, rows) = c.table(&["spu", "list"]);
    assert_eq!(
        header,
        ["ID", "NAME", "TYPE", "STATUS", "PUBLIC", "PRIVATE", "RACK"]
    );
    assert_eq!(column(&header, &rows, "ID"), ["5001", "5002"]);
    assert_eq!(column(&header, &rows, "TYPE"), ["managed", "managed"]);
    assert_eq!(column(&header, &rows, "STATUS"), ["online", "online"]);

    let run = c.run(&[
        "spu",
        "register",
        "--id",
        "7001",
        "--public-server",
        "127.0.0.1:17001",
        "--private-server",
        "127.0.0.1:17002",
        "--rack",
        "rack-a",
    ]);
    run.ok();
    assert_eq!(
        run.stdout,
        "custom SPU \"custom-spu-7001\" (id 7001) registered\n"
    );
    // The whole command to start it, once, with the flags the SPU cannot join without.
    let start = "fluvio-daemon spu --id 7001 --public-addr 127.0.0.1:17001 \
                 --private-addr 127.0.0.1:17002 --sc-private-addr SC_PRIVATE_ADDR \
                 --token-name NAME --token-secret-file FILE";
    assert_eq!(run.stderr.matches(start).count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("--min-spu 7001 --max-spu 7001"),
        "{}",
        run.stderr
    );
    let again = c.run(&[
        "spu",
        "register",
        "--id",
        "7001",
        "--public-server",
        "h:1",
        "--private-server",
        "h:2",
    ]);
    again.expect_code(1);
    assert!(
        again.stderr.contains("already registered"),
        "{}",
        again.stderr
    );

    let (header, rows) = c.table(&["spu", "list"]);
    let custom = rows
        .iter()
        .find(|r| r[0] == "7001")
        .expect("custom SPU listed");
    assert_eq!(
        custom,
        &[
            "7001",
            "custom-spu-7001",
            "custom",
            "offline",
            "127.0.0.1:17001",
            "127.0.0.1:17002",
            "rack-a"
        ]
    );
    assert_eq!(header.len(), custom.len());
    let json = c.json(&["spu", "list"]);
    assert_eq!(json.as_array().unwrap().len(), 3, "{json}");
    assert_eq!(c.yaml(&["spu", "list"]), json);

    let run = c.run(&["spu", "unregister", "--id", "7001"]);
    run.ok();
    assert_eq!(run.stdout, "custom SPU 7001 unregistered\n");
    let again = c.run(&["spu", "unregister", "--id", "7001"]);
    again.expect_code(1);
    assert!(again.stderr.contains("not found"), "{}", again.stderr);
    let managed = c.run(&["spu", "unregister", "--id", "5001"]);
    managed.expect_code(1);
    assert!(managed.stderr.contains("managed"), "{}", managed.stderr);

    c.run(&[
        "spu",
        "register",
        "--id",
        "7002",
        "--name",
        "edge",
        "--public-server",
        "h:1",
        "--private-server",
        "h:2",
    ])
    .ok();
    c.run(&["spu", "unregister", "--name", "edge"]).ok();
}

fn auth_tokens(c: &Cluster) {
    let run = c.run(&[
        "auth-token",
        "create",
        "-n",
        "fleet",
        "-g",
        "-m",
        "6000",
        "-x",
        "6010",
        "-t",
        "custom",
    ]);
    run.ok();
    let secret = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret in {}", run.stdout))
        .to_string();
    assert_eq!(secret.len(), 16);
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{secret}"
    );
    assert!(
        run.stdout.starts_with("auth token \"fleet\" created\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("will not be shown again"),
        "{}",
        run.stderr
    );

    c.run(&[
        "auth-token",
        "create",
        "-n",
        "edge",
        "-s",
        "abcdefgh12345678",
        "-m",
        "1",
        "-x",
        "2",
    ])
    .ok();
    let dup = c.run(&[
        "auth-token",
        "create",
        "-n",
        "edge",
        "-g",
        "-m",
        "1",
        "-x",
        "2",
    ]);
    dup.expect_code(1);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let empty_range = c.run(&[
        "auth-token",
        "create",
        "-n",
        "x",
        "-g",
        "-m",
        "9",
        "-x",
        "2",
    ]);
    empty_range.expect_code(1);
    assert!(
        empty_range.stderr.contains("is empty"),
        "{}",
        empty_range.stderr
    );

    let list = c.run(&["auth-token", "list"]);
    list.ok();
    assert!(!list.stdout.contains(&secret) && !list.stdout.contains("abcdefgh12345678"));
    let (header, rows) = parse_table(&list.stdout);
    assert_eq!(
        header,
        [
            "TOKEN-NAME",
            "STATUS",
            "SPU-MIN",
            "SPU-MAX",
            "TYPE",
            "REASON"
        ]
    );
    assert_eq!(
        rows,
        [
            ["edge", "ok", "1", "2", "any", "-"],
            ["fleet", "ok", "6000", "6010", "custom", "-"]
        ]
    );
    let (_, rows) = c.table(&["auth-token", "list", "-n", "fleet"]);
    assert_eq!(rows.len(), 1);
    let json = c.json(&["auth-token", "list"]);
    assert_eq!(names(&json), ["edge", "fleet"]);
    assert!(!json.to_string().contains(&secret));
    assert_eq!(c.yaml(&["auth-token", "list"]), json);

    let run = c.run(&["auth-token", "delete", "-n", "fleet"]);
    run.ok();
    assert_eq!(run.stdout, "auth token \"fleet\" deleted\n");
    let again = c.run(&["auth-token", "delete", "-n", "fleet"]);
    again.expect_code(1);
    assert!(
        again.stderr.contains("auth token 'fleet' not found"),
        "{}",
        again.stderr
    );
    c.run(&["auth-token", "delete", "-n", "edge"]).ok();
}

/// Split `advanced metadata` output at its table titles.
fn sections(text: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.ends_with(':') && !line.contains(' ') || line == "auth tokens:" {
            sections.push((line.trim_end_matches(':').to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
}

fn advanced_metadata(c: &Cluster) {
    c.run(&["topic", "create", "meta", "-p", "2"]).ok();
    create_token(&c.sc, "meta-token");
    let run = c.run(&["advanced", "metadata"]);
    run.ok();
    let sections = sections(&run.stdout);
    let titles: Vec<&str> = sections.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        ["auth tokens", "SPUs", "topics", "partitions"],
        "{}",
        run.stdout
    );
    let expected_headers: [&[&str]; 4] = [
        &[
            "TOKEN-NAME",
            "STATUS",
            "SPU-MIN",
            "SPU-MAX",
            "TYPE",
            "REASON",
        ],
        &[
            "SPU", "SPU-ID", "STATUS", "TYPE", "PUBLIC", "PRIVATE", "RACK",
        ],
        &[
            "TOPIC",
            "TYPE",
            "PART",
            "FACT",
            "IGN-RACK",
            "RESOLUTION",
            "R-MAP-ROWS",
            "REASON",
        ],
        &[
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "IN-SYNC-SET",
            "RESOLUTION",
            "HW",
            "LEO",
            "FOLLOWER-OFFSETS",
        ],
    ];
    let mut row_counts = Vec::new();
    for ((title, body), expected) in sections.iter().zip(expected_headers) {
        let (header, rows) = parse_table(body);
        assert_eq!(header, expected, "{title}");
        row_counts.push(rows.len());
        if title == "partitions" {
            assert_eq!(column(&header, &rows, "EPOCH"), ["0", "0"], "{body}");
            assert_eq!(
                column(&header, &rows, "IN-SYNC-SET"),
                column(&header, &rows, "REPLICAS"),
                "{body}"
            );
        }
    }
    assert_eq!(row_counts, [1, 2, 1, 2]);
    let json = c.json(&["advanced", "metadata"]);
    for (key, count) in [
        ("auth_tokens", 1),
        ("spus", 2),
        ("topics", 1),
        ("partitions", 2),
    ] {
        assert_eq!(json[key].as_array().unwrap().len(), count, "{key}: {json}");
    }
    assert_eq!(json["partitions"][0]["name"], "meta-0", "{json}");
    assert_eq!(json["partitions"][0]["state"]["leader_epoch"], 0, "{json}");
    c.run(&["topic", "delete", "meta"]).ok();
    c.run(&["auth-token", "delete", "-n", "meta-token"]).ok();
}

fn advanced_generate_and_run(c: &Cluster, dir: &std::path::Path) {
    let template = c.run(&["advanced", "generate", "--api", "CreateTopic"]);
    template.ok();
    let mut request: Value = serde_json::from_str(&template.stdout).unwrap();
    request["name"] = "raw-topic".into();
    request["spec"]["replicas"]["computed"]["partitions"] = 2.into();
    let file = write(dir, "create.json", &request.to_string());
    let run = c.run(&["advanced", "run", "--api", "CreateTopic", "--json", &file]);
    run.ok();
    let response: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(response["Create"]["name"], "raw-topic", "{response}");

    let list = c.run(&["advanced", "generate", "--api", "ListTopic"]);
    let file = write(dir, "list.json", &list.stdout);
    let run = c.run(&["advanced", "run", "-r", "ListTopic", "-j", &file]);
    run.ok();
    let response: Value = serde_json::from_str(&run.stdout).unwrap();
    let topics = &response["List"]["Topic"];
    assert_eq!(names(topics), ["raw-topic"], "{response}");

    let run = c.run(&[
        "advanced",
        "run",
        "--api",
        "ListTopic",
        "--json",
        &write(dir, "bad.json", "{\"filters\": 3}"),
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("is not a valid ListTopic request"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("advanced generate --api ListTopic"),
        "{}",
        run.stderr
    );

    let offsets = c.run(&["advanced", "generate", "--api", "FetchOffsets"]);
    let file = write(dir, "offsets.json", &offsets.stdout);
    let run = c.run(&["advanced", "run", "--api", "FetchOffsets", "--json", &file]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("pass --spu HOST:PORT"),
        "{}",
        run.stderr
    );

    let (header, rows) = c.table(&["spu", "list"]);
    let spu = column(&header, &rows, "PUBLIC")[0].clone();
    let versions = c.run(&["advanced", "generate", "--api", "ApiVersions"]);
    let file = write(dir, "versions.json", &versions.stdout);
    let run = c.run(&[
        "advanced",
        "run",
        "--api",
        "ApiVersions",
        "--json",
        &file,
        "--spu",
        &spu,
    ]);
    run.ok();
    let response: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        response["ApiVersions"]["api_keys"]
            .as_array()
            .is_some_and(|k| !k.is_empty()),
        "{response}"
    );
    let run = c.run(&["advanced", "run", "--api", "ApiVersions", "--json", &file]);
    run.ok();
    assert!(run.stdout.contains("platform_version"), "{}", run.stdout);

    c.run(&["topic", "delete", "raw-topic"]).ok();
}

fn empty_listings(c: &Cluster) {
    for (args, remark) in [
        (&["topic", "list"][..], "No topics found\n"),
        (&["auth-token", "list"], "No auth tokens found\n"),
        (&["partition", "list"], "No partitions found\n"),
    ] {
        let run = c.run(args);
        run.ok();
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(run.stderr, remark, "{args:?}");
        assert_eq!(c.json(args), serde_json::json!([]), "{args:?}");
    }
}
