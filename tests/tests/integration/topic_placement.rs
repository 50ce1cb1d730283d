//! Topics the cluster cannot serve: storage settings an SPU could not hold a batch with are
//! refused at create (and dry run), and computed topics land on online SPUs only. A topic
//! short of online SPUs waits in insufficient-resources, produce and consume on it fail at
//! once with the SC's reason, and SPUs coming online get it placed.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::cli::{Run, column, fluvio, fluvio_stdin, parse_table};
use tests::client::ScClient;
use tests::cluster::Cluster;
use tests::{Daemon, Role, free_addr, temp_dir};

/// The smallest segment the SC accepts: the largest batch an SPU takes, 2 MiB.
const SMALLEST_SEGMENT: &str = "the smallest allowed segment size is 2097152 bytes (2MiB)";
/// How long a topic may take to be placed once its SPUs are online.
const PLACED_WITHIN: Duration = Duration::from_secs(30);

fn topic_names(sc: &str) -> Vec<String> {
    let run = fluvio(sc, &["topic", "list", "-O", "json"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("topic list is not JSON ({e}):\n{}", run.stdout));
    json.as_array()
        .unwrap_or_else(|| panic!("not an array: {json}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// `topic list` as (STATUS, REASON) of `topic`.
fn topic_status(sc: &str, topic: &str) -> (String, String) {
    let run = fluvio(sc, &["topic", "list"]);
    run.ok();
    let (header, rows) = parse_table(&run.stdout);
    let names = column(&header, &rows, "NAME");
    let row = names
        .iter()
        .position(|n| n == topic)
        .unwrap_or_else(|| panic!("no topic {topic} in\n{}", run.stdout));
    (
        column(&header, &rows, "STATUS")[row].clone(),
        column(&header, &rows, "REASON")[row].clone(),
    )
}

/// The LEADER column of `partition list` for `topic`.
fn leaders(sc: &str, topic: &str) -> Vec<String> {
    let run = fluvio(sc, &["partition", "list", "--topic", topic]);
    run.ok();
    let (header, rows) = parse_table(&run.stdout);
    column(&header, &rows, "LEADER")
}

fn consumed(sc: &str, topic: &str) -> Run {
    fluvio(sc, &["consume", topic, "-B", "-d"])
}

#[track_caller]
fn assert_refused_with(run: &Run, fragments: &[&str]) {
    run.expect_code(1);
    for fragment in fragments {
        assert!(
            run.stderr.contains(fragment),
            "{fragment:?} missing from stderr:\n{}",
            run.stderr
        );
    }
}

#[test]
fn impossible_storage_settings_are_refused_at_create_and_dry_run() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();

    for dry_run in [true, false] {
        let mut args = vec!["topic", "create", "x", "--segment-size", "1"];
        if dry_run {
            args.push("--dry-run");
        }
        let run = fluvio(&sc, &args);
        assert_refused_with(
            &run,
            &[
                "cannot create topic 'x'",
                "segment size of 1 byte is too small",
                SMALLEST_SEGMENT,
                "--segment-size 2MiB",
            ],
        );
        assert!(run.stdout.is_empty(), "{dry_run}: {}", run.stdout);
    }
    let run = fluvio(&sc, &["topic", "create", "x", "--segment-size", "2097151"]);
    assert_refused_with(&run, &[SMALLEST_SEGMENT]);

    let run = fluvio(
        &sc,
        &[
            "topic",
            "create",
            "y",
            "--segment-size",
            "4MiB",
            "--max-partition-size",
            "3MiB",
        ],
    );
    assert_refused_with(
        &run,
        &[
            "max partition size of 3145728 bytes (3MiB) is smaller than the segment size of 4194304 bytes (4MiB)",
        ],
    );
    let run = fluvio(
        &sc,
        &[
            "topic",
            "create",
            "y",
            "--max-partition-size",
            "10MiB",
            "-d",
        ],
    );
    assert_refused_with(
        &run,
        &["smaller than the default segment size of 1073741824 bytes (1GiB)"],
    );
    assert!(
        topic_names(&sc).is_empty(),
        "refused topics were created: {:?}",
        topic_names(&sc)
    );

    // The smallest allowed segment holds a record close to the largest batch; each such
    // record fills a segment of its own and both come back whole.
    let run = fluvio(
        &sc,
        &["topic", "create", "smallest", "--segment-size", "2MiB"],
    );
    run.ok();
    assert_eq!(run.stdout, "topic \"smallest\" created\n");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let big_a = "a".repeat(2_000_000);
    let big_b = "b".repeat(2_000_000);
    fluvio_stdin(
        &sc,
        &["produce", "smallest"],
        format!("{big_a}\n{big_b}\n").as_bytes(),
    )
    .ok();
    let run = consumed(&sc, "smallest");
    run.ok();
    assert!(
        run.stdout == format!("{big_a}\n{big_b}\n"),
        "records differ"
    );
    let partition = daemon.data_dir.join("spu-5001").join("smallest-0");
    let segments: BTreeSet<String> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".log"))
        .collect();
    assert_eq!(
        segments,
        BTreeSet::from([
            "00000000000000000000.log".to_string(),
            "00000000000000000001.log".to_string()
        ]),
        "one segment per record"
    );
}

/// Start `fluvio-daemon spu` for SPU `id` on `public`/`private`, and wait until the SC
/// admitted it.
fn start_spu(cluster: &Cluster, dir: &Path, id: i32, public: std::net::SocketAddr) -> Daemon {
    let private = free_addr();
    let spu = Daemon::spawn_on(
        Role::Spu {
            id,
            sc_private: cluster.sc.private,
            token: None,
            rack: None,
        },
        &dir.join(format!("spu-{id}")),
        public,
        private,
    );
    spu.wait_ready();
    spu
}

#[test]
fn topics_land_on_online_spus_and_wait_for_enough_of_them() {
    let cluster = Cluster::start(&[None], &[], &[]);
    let sc = cluster.sc.public.to_string();
    let dir = temp_dir();
    let mut admin = ScClient::connect(cluster.sc.public).expect("connect to the SC");

    // SPU 2 is registered but not running.
    let spu2_public = free_addr();
    let status = admin
        .register_custom_spu("spu-2", 2, spu2_public, free_addr())
        .unwrap();
    assert!(status.is_ok(), "{status:?}");

    let run = fluvio(&sc, &["topic", "create", "place", "-p", "4"]);
    run.ok();
    assert_eq!(run.stdout, "topic \"place\" created\n");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(topic_status(&sc, "place").0, "provisioned");
    assert_eq!(leaders(&sc, "place"), ["1", "1", "1", "1"]);
    let values: Vec<String> = (0..12).map(|i| format!("value-{i}")).collect();
    fluvio_stdin(
        &sc,
        &["produce", "place"],
        format!("{}\n", values.join("\n")).as_bytes(),
    )
    .ok();
    let run = consumed(&sc, "place");
    run.ok();
    let got: BTreeSet<&str> = run.stdout.lines().collect();
    let want: BTreeSet<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(got, want);

    // Three replicas on one online SPU: created, but waiting, and everyone is told why.
    let reason = "insufficient resources: replication factor 3 needs 3 online SPUs, 1 online (need 2 more SPUs)";
    let run = fluvio(&sc, &["topic", "create", "wide", "-r", "3"]);
    run.ok();
    assert_eq!(run.stdout, "topic \"wide\" created\n");
    assert!(
        run.stderr
            .starts_with("warning: topic 'wide' is not provisioned (insufficient-resources)")
            && run.stderr.contains(reason),
        "{}",
        run.stderr
    );
    assert_eq!(
        topic_status(&sc, "wide"),
        ("insufficient-resources".to_string(), reason.to_string())
    );
    let produce = fluvio_stdin(&sc, &["produce", "wide"], b"early\n");
    assert_refused_with(
        &produce,
        &[
            "topic 'wide' is not provisioned (insufficient-resources)",
            reason,
        ],
    );
    let consume = consumed(&sc, "wide");
    assert_refused_with(&consume, &["need 2 more SPUs"]);
    let one = fluvio(&sc, &["consume", "wide", "-p", "0", "-B", "-d"]);
    assert_refused_with(&one, &["need 2 more SPUs"]);

    // SPU 2 comes up where it was registered: still one short, and the reason says so.
    let _spu2 = start_spu(&cluster, dir.path(), 2, spu2_public);
    let deadline = Instant::now() + PLACED_WITHIN;
    loop {
        let (status, why) = topic_status(&sc, "wide");
        assert_eq!(status, "insufficient-resources");
        if why.ends_with("2 online (need 1 more SPU)") {
            break;
        }
        assert!(Instant::now() < deadline, "reason never updated: {why}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let produce = fluvio_stdin(&sc, &["produce", "wide"], b"early\n");
    assert_refused_with(&produce, &["need 1 more SPU"]);

    // A third SPU, registered and started: the topic is placed and works.
    let spu3_public = free_addr();
    let status = admin
        .register_custom_spu("spu-3", 3, spu3_public, free_addr())
        .unwrap();
    assert!(status.is_ok(), "{status:?}");
    let _spu3 = start_spu(&cluster, dir.path(), 3, spu3_public);
    let deadline = Instant::now() + PLACED_WITHIN;
    while topic_status(&sc, "wide").0 != "provisioned" {
        assert!(
            Instant::now() < deadline,
            "wide was never placed: {:?}",
            topic_status(&sc, "wide")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = fluvio(&sc, &["partition", "list", "--topic", "wide"]);
    run.ok();
    let (header, rows) = parse_table(&run.stdout);
    let replicas = column(&header, &rows, "REPLICAS");
    assert_eq!(replicas.len(), 1, "{}", run.stdout);
    let mut ids: Vec<&str> = replicas[0].trim_matches(['[', ']']).split(',').collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2", "3"], "{}", run.stdout);

    // The leader reports in once it has the replica; produce after that.
    let deadline = Instant::now() + PLACED_WITHIN;
    loop {
        let run = fluvio(&sc, &["partition", "list", "--topic", "wide"]);
        run.ok();
        let (header, rows) = parse_table(&run.stdout);
        if column(&header, &rows, "RESOLUTION") == ["online"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "wide-0 never online:\n{}",
            run.stdout
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    fluvio_stdin(&sc, &["produce", "wide"], b"placed\n").ok();
    // Consumers read up to the high watermark, which moves once the followers have it.
    let deadline = Instant::now() + PLACED_WITHIN;
    loop {
        let run = consumed(&sc, "wide");
        run.ok();
        if !run.stdout.is_empty() {
            assert_eq!(run.stdout, "placed\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the record never became readable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Topics already placed stay where they were.
    assert_eq!(leaders(&sc, "place"), ["1", "1", "1", "1"]);
}
