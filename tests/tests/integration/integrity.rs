//! Corrupt bytes on disk are never served as data: one flipped byte inside a record's
//! value, in a sealed segment or in the active one after a clean stop, makes `fluvio
//! consume` fail naming the topic, partition and offsets of the damaged batch, and
//! `fluvio partition verify` list the range; a healthy topic verifies `ok`. A follower
//! refuses a corrupt batch from its leader rather than store it. Damage that recovery
//! finds on open (the last batch of a segment, the active one included) is marked, never
//! cut: consumers fail naming the offsets, and appends go on after it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::record::batch::batches;
use protocol::sc::PartitionResolution;
use serde_json::Value;
use tests::cli::{column, fluvio, fluvio_stdin, parse_table};
use tests::cluster::{CONVERGE, Cluster};
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

/// Where a flipped byte landed.
struct Flipped {
    /// The offsets of the batch holding it, `first..=last`.
    range: String,
    /// The batch is the segment's last.
    last_batch: bool,
}

/// Flip one byte inside record `n`'s value in `segment`, in place (a running SPU may have
/// the file open).
fn flip_value_byte(segment: &Path, n: usize) -> Flipped {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(segment).unwrap();
    let needle = format!("value-{n:05}-");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("record {n} not in {}", segment.display()))
        + needle.len()
        + 100;
    let mut start = 0;
    let mut flipped = None;
    for batch in batches(&bytes) {
        let batch = batch.unwrap();
        let end = start + batch.bytes.len();
        if (start..end).contains(&at) {
            let h = batch.header;
            flipped = Some(Flipped {
                range: format!("{}..={}", h.base_offset, h.next_offset() - 1),
                last_batch: end == bytes.len(),
            });
        }
        start = end;
    }
    assert_eq!(bytes[at], b'x');
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment)
        .unwrap();
    file.write_all_at(b"y", at as u64).unwrap();
    flipped.unwrap()
}

/// The offset after the last batch stored in `segments`.
fn stored_end(segments: &[PathBuf]) -> i64 {
    let mut end = 0;
    for segment in segments {
        for batch in batches(&std::fs::read(segment).unwrap()) {
            end = batch.unwrap().header.next_offset();
        }
    }
    end
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
    // Not a segment's last batch: recovery's cheap check covers the tail.
    let sealed_flip = flip_value_byte(&sealed[0], 40);
    assert!(!sealed_flip.last_batch);
    let sealed_range = sealed_flip.range;
    let active = segments(dir.path(), "active");
    let active_segment = active.last().unwrap();
    let active_base: usize = active_segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let active_flip = flip_value_byte(active_segment, active_base + 40);
    assert!(!active_flip.last_batch);
    let active_range = active_flip.range;
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

fn first_offset(range: &str) -> usize {
    range.split("..=").next().unwrap().parse().unwrap()
}

fn base_of(segment: &Path) -> usize {
    segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `printed` is exactly the values of `range`, in order (reported briefly: they are long).
#[track_caller]
fn assert_records(
    printed: &[String],
    range: std::ops::Range<usize>,
    stderr: &str,
    daemon: &Daemon,
) {
    let expected: Vec<String> = range.clone().map(value).collect();
    if printed != expected {
        let log = daemon.log();
        let tail = &log[log.len().saturating_sub(4000)..];
        panic!(
            "expected the records {range:?}, got {} records (first {:?}, last {:?})\nstderr: {stderr}\ndaemon log tail:\n{tail}",
            printed.len(),
            printed.first().map(|v| &v[..12.min(v.len())]),
            printed.last().map(|v| &v[..12.min(v.len())]),
        );
    }
}

/// `fluvio consume topic -B` without `-d`, which only ends on an error. Killed (and the
/// test failed) if it is still running after two minutes: it would wait forever.
fn continuous_consume(sc: &str, topic: &str, dir: &Path) -> (Option<i32>, String, String) {
    use std::process::{Command, Stdio};
    let (out, err) = (dir.join("consume.out"), dir.join("consume.err"));
    let mut child = Command::new(tests::cli::fluvio_binary())
        .args(["consume", topic, "-B"])
        .env("FLUVIO_SC", sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    let (stdout, stderr) = (read(&out), read(&err));
    let Some(status) = status else {
        panic!("the consumer was still waiting after 2 minutes\n{stderr}");
    };
    (status.code(), stdout, stderr)
}

/// `fluvio consume topic -o offset -d`.
fn consume_from(sc: &str, topic: &str, offset: usize) -> tests::cli::Run {
    let offset = offset.to_string();
    fluvio(sc, &["consume", topic, "-o", &offset, "-d"])
}

fn assert_names(stderr: &str, topic: &str, range: &str) {
    for fragment in [
        format!("topic '{topic}' partition 0 at offsets {range}"),
        "CRC mismatch".to_string(),
        format!("fluvio partition verify {topic} -p 0"),
    ] {
        assert!(
            stderr.contains(&fragment),
            "{topic}: {fragment:?} not in {stderr}"
        );
    }
}

/// After a clean stop, one flipped byte in the LAST batch of the active segment (past its
/// last index entry, where recovery used to cut the batch and consume then ended early
/// with success): consume fails naming the batch, verify finds it, every record before it
/// is there, and a record produced after the restart lands at the next offset.
#[test]
fn a_flipped_byte_in_the_active_segments_last_batch_is_kept_named_and_appended_after() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    produce(&sc, "tail");
    let logs = segments(dir.path(), "tail");
    let active = logs.last().unwrap();
    let flip = flip_value_byte(active, RECORDS - 1);
    assert!(flip.last_batch, "{}", flip.range);
    let first = first_offset(&flip.range);
    assert_eq!(flip.range, format!("{first}..={}", RECORDS - 1));
    let mut daemon = restart_cleanly(&mut daemon, dir.path());
    let sc = daemon.public.to_string();

    let (printed, stderr) = consume_until_failure(&sc, "tail");
    assert_records(&printed, 0..first, &stderr, &daemon);
    assert_names(&stderr, "tail", &flip.range);

    let run = fluvio(&sc, &["partition", "verify", "tail"]);
    run.expect_code(1);
    let file = active.file_name().unwrap().to_str().unwrap();
    for fragment in [
        file,
        flip.range.as_str(),
        "CRC mismatch",
        "corrupt (1 range)",
    ] {
        assert!(
            run.stdout.contains(fragment),
            "{fragment:?} not in\n{}",
            run.stdout
        );
    }

    // The same scrub, sent raw to the SPU with `advanced run`.
    let (header, rows) = parse_table(&fluvio(&sc, &["spu", "list"]).ok().stdout);
    let spu = column(&header, &rows, "PUBLIC")[0].clone();
    let template = fluvio(&sc, &["advanced", "generate", "--api", "VerifyReplica"]);
    template.ok();
    let mut request: Value = serde_json::from_str(&template.stdout).unwrap();
    request["topic"] = "tail".into();
    let json = dir.path().join("verify.json");
    std::fs::write(&json, request.to_string()).unwrap();
    let run = fluvio(
        &sc,
        &[
            "advanced",
            "run",
            "-r",
            "VerifyReplica",
            "-j",
            json.to_str().unwrap(),
            "--spu",
            &spu,
        ],
    );
    run.ok();
    let response: Value = serde_json::from_str(&run.stdout).unwrap();
    let problems = &response["VerifyReplica"]["problems"];
    assert_eq!(problems.as_array().map(Vec::len), Some(1), "{response}");
    assert_eq!(problems[0]["first_offset"], first, "{response}");
    assert_eq!(problems[0]["last_offset"], RECORDS - 1, "{response}");
    assert_eq!(problems[0]["kind"], "crc-mismatch", "{response}");

    // Appends go on at the next offset and read back from there.
    fluvio_stdin(&sc, &["produce", "tail"], b"after-the-restart\n").ok();
    let run = consume_from(&sc, "tail", RECORDS);
    run.ok();
    assert_eq!(run.stdout, "after-the-restart\n");
    // Reading into the damaged batch from inside it fails too, naming it.
    let run = consume_from(&sc, "tail", first + 1);
    run.expect_code(1);
    assert_names(&run.stderr, "tail", &flip.range);
    daemon.kill();
}

/// A sealed segment that recovery marks corrupt (a flipped byte in its last batch, which
/// the open-time check reads): a consumer gets every record before the damage, then an
/// error naming the unreadable offsets, and exits; reading from inside the damaged batch
/// fails the same way; the next segment reads normally.
#[test]
fn a_sealed_segment_marked_corrupt_by_recovery_fails_consumers_naming_offsets() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    produce(&sc, "marked");
    let logs = segments(dir.path(), "marked");
    assert!(logs.len() >= 3, "{logs:?}");
    let next_base = base_of(&logs[1]);
    let flip = flip_value_byte(&logs[0], next_base - 1);
    assert!(flip.last_batch, "{}", flip.range);
    let first = first_offset(&flip.range);
    assert_eq!(flip.range, format!("{first}..={}", next_base - 1));
    let mut daemon = restart_cleanly(&mut daemon, dir.path());
    let sc = daemon.public.to_string();
    daemon.wait_for_log(
        "sealed segment is corrupt; reads from this point will fail",
        CONVERGE,
    );

    let (printed, stderr) = consume_until_failure(&sc, "marked");
    assert_records(&printed, 0..first, &stderr, &daemon);
    assert_names(&stderr, "marked", &flip.range);
    // A continuous consumer (no -d) ends at the error too instead of waiting.
    let (code, stdout, stderr) = continuous_consume(&sc, "marked", dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), first, "{stderr}");
    assert_names(&stderr, "marked", &flip.range);

    let run = consume_from(&sc, "marked", first + 1);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_names(&run.stderr, "marked", &flip.range);

    let run = consume_from(&sc, "marked", next_base);
    run.ok();
    let after: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    assert_records(&after, next_base..RECORDS, &run.stderr, &daemon);
    daemon.kill();
}

fn lines(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .map(|n| value(n) + "\n")
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_follower_refuses_a_corrupt_batch_and_keeps_the_good_ones_before_it() {
    let cluster = Cluster::start(&[None, None], &[], &[]);
    let sc = cluster.sc.public.to_string();
    fluvio(&sc, &["topic", "create", "mirror", "-r", "2"]).ok();
    let p = cluster.wait_partition("mirror-0", "online, both in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 2
    });
    let leader = p.spec.leader;
    let follower = *p.spec.replicas.iter().find(|&&id| id != leader).unwrap();
    let follower_leo = |p: &protocol::sc::Metadata<protocol::sc::PartitionSpec>| {
        p.status
            .replicas
            .iter()
            .find(|r| r.spu == follower)
            .map(|r| r.leo)
    };

    // Offsets 0..10 reach the follower; 10..20 stay on the leader, where one byte of
    // record 15 then goes bad.
    fluvio_stdin(&sc, &["produce", "mirror"], &lines(0..10)).ok();
    cluster.wait_partition("mirror-0", "follower at 10", |p| {
        follower_leo(p) == Some(10)
    });
    cluster.hold_replication(leader, true);
    fluvio_stdin(&sc, &["produce", "mirror"], &lines(10..20)).ok();
    fluvio_stdin(&sc, &["produce", "mirror"], &lines(20..30)).ok();
    let leader_segments = segments(&cluster.spu(leader).data_dir, "mirror");
    let flipped = flip_value_byte(leader_segments.last().unwrap(), 15);
    assert_eq!(flipped.range, "10..=19");
    cluster.hold_replication(leader, false);

    // Refused, named, and asked for again: the follower never runs past it.
    let refusal = "refusing a corrupt batch from the leader";
    let log = &cluster.spu(follower);
    log.wait_for_log(refusal, CONVERGE);
    let deadline = std::time::Instant::now() + CONVERGE;
    while log.log().matches(refusal).count() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no retry:\n{}",
            log.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = log
        .log()
        .lines()
        .find(|l| l.contains(refusal))
        .unwrap()
        .to_string();
    for fragment in [
        "replica=mirror-0".to_string(),
        format!("leader={leader}"),
        "first_offset=10".to_string(),
        "last_offset=19".to_string(),
        "CRC mismatch".to_string(),
    ] {
        assert!(line.contains(&fragment), "{fragment:?} not in {line}");
    }
    let follower_segments = segments(&cluster.spu(follower).data_dir, "mirror");
    assert_eq!(stored_end(&follower_segments), 10);
    assert_eq!(follower_leo(&cluster.partition("mirror-0")), Some(10));
}
