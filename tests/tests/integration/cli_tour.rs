//! The newcomer's tour (issue #22) through the binaries: a following `consume` through a
//! daemon restart, sizes as given, and `fluvio cluster start|status|stop|delete`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tests::cli::{fluvio, fluvio_binary, fluvio_stdin};
use tests::{Daemon, Role, temp_dir};

/// Lines of a child's stdout and stderr, tagged, as they come.
enum Line {
    Out(String),
    Err(String),
}

fn spawn_lines(sc: &str, args: &[&str]) -> (Child, mpsc::Receiver<Line>) {
    let mut child = Command::new(fluvio_binary())
        .args(args)
        .env("FLUVIO_SC", sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fluvio");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(Line::Out(line));
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(Line::Err(line));
        }
    });
    (child, rx)
}

/// Collect lines until one satisfies `done`; panic with what came when none does in time.
#[track_caller]
fn wait_for(rx: &mpsc::Receiver<Line>, seen: &mut Vec<String>, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let text = match line {
                Line::Out(text) => format!("out: {text}"),
                Line::Err(text) => format!("err: {text}"),
            };
            let found = done(&text);
            seen.push(text);
            if found {
                return;
            }
        }
    }
    panic!("no such line; got:\n{}", seen.join("\n"));
}

/// Bug 2: a following consume says on stderr, once, that it lost the cluster and retries,
/// and once that it is back; stdout carries only records, before and after.
#[test]
fn tour_following_consume_says_when_the_daemon_is_lost_and_back() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "tour", "-p", "2"]).ok();
    fluvio_stdin(&sc, &["produce", "tour"], b"before\n").ok();

    let (mut child, rx) = spawn_lines(&sc, &["consume", "tour", "-B", "-O", "json"]);
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, |l| {
        l.starts_with("out:") && l.contains("before")
    });

    daemon.kill();
    wait_for(&rx, &mut seen, |l| l.starts_with("err: connection lost"));
    // Longer than a stream used to retry for before giving up.
    std::thread::sleep(Duration::from_secs(3));
    let (public, private) = (daemon.public, daemon.private);
    let restarted = Daemon::spawn_on(Role::AllInOne { spus: 1 }, dir.path(), public, private);
    restarted.wait_ready();
    wait_for(&rx, &mut seen, |l| l.starts_with("err: connection back"));
    fluvio_stdin(&sc, &["produce", "tour"], b"after\n").ok();
    wait_for(&rx, &mut seen, |l| {
        l.starts_with("out:") && l.contains("after")
    });
    let _ = child.kill();
    let _ = child.wait();

    let errs: Vec<&String> = seen.iter().filter(|l| l.starts_with("err:")).collect();
    assert_eq!(errs.len(), 2, "one line lost, one back: {seen:#?}");
    assert!(errs[0].contains("retrying"), "{seen:#?}");
    for line in seen.iter().filter(|l| l.starts_with("out:")) {
        let json: serde_json::Value =
            serde_json::from_str(&line["out: ".len()..]).expect("stdout is only JSON records");
        assert!(
            json["value"] == "before" || json["value"] == "after",
            "{line}"
        );
    }
}

/// Item 6: sizes read back as given; a missing key is `[null]`; followers that have not
/// reported show no raw `-1`.
#[test]
fn tour_sizes_and_keys_read_back_as_given() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(
        &sc,
        &[
            "topic",
            "create",
            "sized",
            "--segment-size",
            "10MB",
            "--max-partition-size",
            "1GiB",
        ],
    )
    .ok();
    let described = fluvio(&sc, &["topic", "describe", "sized"]);
    described.ok();
    let field = |name: &str| {
        described
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{}", described.stdout))
            .to_string()
    };
    assert!(
        field("Segment Size").ends_with(" 10 MB"),
        "{}",
        described.stdout
    );
    assert!(
        field("Max Partition Size").ends_with(" 1 GiB"),
        "{}",
        described.stdout
    );

    fluvio_stdin(&sc, &["produce", "sized"], b"keyless\n").ok();
    fluvio_stdin(&sc, &["produce", "sized", "--key", ""], b"empty-key\n").ok();
    let consumed = fluvio(&sc, &["consume", "sized", "-B", "-d", "-k"]);
    consumed.ok();
    assert_eq!(consumed.stdout, "[null] keyless\n[] empty-key\n");

    let partitions = fluvio(&sc, &["partition", "list"]);
    partitions.ok();
    assert!(!partitions.stdout.contains("-1"), "{}", partitions.stdout);
}

/// Item 8: the header comes before the figures, a progress bar runs on stderr only when
/// stderr is a terminal, and `benchmark consume` has a help of its own.
#[test]
fn tour_benchmark_header_progress_and_help() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();

    let produce_help = fluvio(&sc, &["benchmark", "produce", "--help"]);
    let consume_help = fluvio(&sc, &["benchmark", "consume", "--help"]);
    produce_help.ok();
    consume_help.ok();
    assert_ne!(produce_help.stdout, consume_help.stdout);
    assert!(
        consume_help
            .stdout
            .contains("Records written to the topic first, then read back and timed"),
        "{}",
        consume_help.stdout
    );

    // Piped: header first, figures after, nothing drawn on stderr.
    let args = [
        "benchmark",
        "consume",
        "--records",
        "2000",
        "--record-size",
        "128",
        "--latency-secs",
        "0",
    ];
    let piped = fluvio(&sc, &args);
    piped.ok();
    let lines: Vec<&str> = piped.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "consume benchmark: 1 partition(s), replication 1, 2000 records of 128 B, batches of 16384 B",
        "{}",
        piped.stdout
    );
    assert!(lines[1].starts_with("topic:"), "{}", piped.stdout);
    assert!(lines[2].starts_with("throughput:"), "{}", piped.stdout);
    assert_eq!(piped.stderr, "", "no progress bar into a pipe");

    // On a terminal: the bar shows while it runs, and is gone when the figures come.
    let command = format!(
        "env FLV_PROFILE_PATH=/nonexistent NO_COLOR=1 {} --sc {sc} benchmark produce \
         --records 300000 --record-size 64 --latency-secs 0; echo \"exit=$?\"; sleep 30",
        tests::tmux::shell_quote(fluvio_binary()),
    );
    let tmux = tests::tmux::Tmux::start("bench-tour", 100, 24, &command);
    let running = tmux.wait_for("the progress bar", |s| {
        s.contains("producing (replication 1) [") && s.contains("/300000 records")
    });
    assert!(
        running.starts_with("produce benchmark: 1 partition(s), replication 1, 300000 records"),
        "{running}"
    );
    let done = tmux.wait_for("the figures", |s| s.contains("exit="));
    assert!(done.contains("exit=0"), "{done}");
    assert!(done.contains("throughput:"), "{done}");
    assert!(!done.contains("/300000 records"), "{done}");
}

/// Kills the daemon a `cluster start` left running if the test ends early.
struct PidGuard(std::path::PathBuf);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(&self.0)
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// `fluvio cluster start|status|stop|delete` with HOME in a temporary directory.
#[test]
fn tour_cluster_start_status_stop_delete() {
    let home = temp_dir();
    let fluvio_dir = home.path().join(".fluvio");
    let _guard = PidGuard(fluvio_dir.join("fluvio-daemon.pid"));
    let (public, private) = (tests::free_addr(), tests::free_addr());
    let spu = tests::free_ports(2);
    let spu_private = std::net::SocketAddr::new(spu.ip(), spu.port() + 1);
    let sc = public.to_string();
    let home_env = home.path().display().to_string();
    let cluster = |args: &[&str]| tests::cli::fluvio_with(&sc, args, &[("HOME", &home_env)]);
    let start_args = [
        "cluster",
        "start",
        "--sc-public-addr",
        &sc,
        "--sc-private-addr",
        &private.to_string(),
        "--spu-public-addr",
        &spu.to_string(),
        "--spu-private-addr",
        &spu_private.to_string(),
    ];

    let status = cluster(&["cluster", "status"]);
    status.expect_code(1);
    assert!(
        status.stdout.contains("local cluster: not running"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("SC not reachable"),
        "{}",
        status.stdout
    );
    assert!(
        status.stderr.contains("cannot reach the SC"),
        "{}",
        status.stderr
    );

    let started = cluster(&start_args);
    started.ok();
    assert!(
        started
            .stdout
            .starts_with("local cluster started: fluvio-daemon pid "),
        "{}",
        started.stdout
    );
    assert!(
        started
            .stdout
            .contains(&format!("SC:       {sc} (clients), {private} (SPUs)")),
        "{}",
        started.stdout
    );
    assert!(
        started.stdout.contains(&format!(
            "SPU 5001: {spu} (clients), {spu_private} (followers)"
        )),
        "{}",
        started.stdout
    );
    let pid: u32 = std::fs::read_to_string(fluvio_dir.join("fluvio-daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(fluvio_dir.join("data").is_dir());
    assert!(
        std::fs::read_to_string(fluvio_dir.join("fluvio-daemon.log"))
            .unwrap()
            .contains("fluvio-daemon ready")
    );

    // Ready means usable at once.
    fluvio(&sc, &["topic", "create", "kept"]).ok();
    fluvio_stdin(&sc, &["produce", "kept"], b"survives\n").ok();

    let again = cluster(&start_args);
    again.expect_code(1);
    assert!(
        again
            .stderr
            .contains(&format!("already runs: fluvio-daemon pid {pid}")),
        "{}",
        again.stderr
    );

    let status = cluster(&["cluster", "status"]);
    status.ok();
    assert!(
        status
            .stdout
            .contains(&format!("local cluster: running, fluvio-daemon pid {pid}")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&format!(
            "cluster at {sc} (from FLUVIO_SC): SC reachable; SPUs: 1 online, 0 not online"
        )),
        "{}",
        status.stdout
    );

    let stopped = cluster(&["cluster", "stop"]);
    stopped.ok();
    assert_eq!(
        stopped.stdout,
        format!("local cluster stopped (fluvio-daemon pid {pid})\n")
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );
    let log = std::fs::read_to_string(fluvio_dir.join("fluvio-daemon.log")).unwrap();
    assert!(log.contains("stopped"), "a clean stop: {log}");
    assert!(
        cluster(&["cluster", "stop"])
            .stdout
            .contains("no local cluster is running")
    );

    // The data outlives a stop.
    cluster(&start_args).ok();
    let consumed = fluvio(&sc, &["consume", "kept", "-B", "-d"]);
    consumed.ok();
    assert_eq!(consumed.stdout, "survives\n");

    // No terminal to confirm on: refused, nothing deleted.
    let refused = cluster(&["cluster", "delete"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("pass --force (-y)"),
        "{}",
        refused.stderr
    );
    assert!(fluvio_dir.join("data").is_dir());

    let deleted = cluster(&["cluster", "delete", "-y"]);
    deleted.ok();
    assert!(
        deleted.stdout.starts_with("local cluster stopped"),
        "{}",
        deleted.stdout
    );
    assert!(!fluvio_dir.join("data").exists());
    assert!(!fluvio_dir.join("fluvio-daemon.log").exists());
    assert!(!fluvio_dir.join("fluvio-daemon.pid").exists());
    cluster(&["cluster", "status"]).expect_code(1);
}
