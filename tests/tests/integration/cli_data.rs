//! `fluvio produce` and `fluvio consume` against a real daemon: lines, keys, raw input,
//! partitions, offsets and every record format.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::cli::{Run, fluvio, fluvio_binary, fluvio_stdin};
use tests::{Daemon, Role, temp_dir};

fn lines(run: &Run) -> Vec<String> {
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn cli_produce_and_consume_against_a_daemon() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "one"]).ok();
    fluvio(&sc, &["topic", "create", "two", "-p", "2"]).ok();

    // Lines become records, in order, on a one-partition topic.
    let run = fluvio_stdin(&sc, &["produce", "one"], b"first\nsecond\r\n\nthird\n");
    run.ok();
    assert_eq!(run.stdout, "");
    let run = fluvio(&sc, &["consume", "one", "-B", "-d"]);
    run.ok();
    assert_eq!(lines(&run), ["first", "second", "third"]);

    // Keys, JSON records, offsets.
    fluvio_stdin(
        &sc,
        &["produce", "one", "--key-separator", "="],
        b"k1=v1\nk2=v=2\n",
    )
    .ok();
    let run = fluvio(&sc, &["consume", "one", "-o", "3", "-d", "-k"]);
    run.ok();
    assert_eq!(lines(&run), ["[k1] v1", "[k2] v=2"]);
    let run = fluvio(&sc, &["consume", "one", "-T", "1", "-d", "-O", "json"]);
    run.ok();
    let record: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        (&record["offset"], &record["key"], &record["value"]),
        (&Value::from(4), &Value::from("k2"), &Value::from("v=2"))
    );
    let run = fluvio(
        &sc,
        &[
            "consume",
            "one",
            "-B",
            "-n",
            "2",
            "-F",
            "{{offset}}:{{value}}",
        ],
    );
    run.ok();
    assert_eq!(lines(&run), ["0:first", "1:second"]);
    let run = fluvio(&sc, &["consume", "one", "-H", "1", "--end", "2"]);
    run.ok();
    assert_eq!(lines(&run), ["second", "third"]);
    let run = fluvio(&sc, &["consume", "one", "-o", "-2", "-d", "-O", "raw"]);
    run.ok();
    assert_eq!(lines(&run), ["v1", "v=2"]);

    // --raw: the whole input is one record; binary values print as a hex dump.
    fluvio_stdin(&sc, &["produce", "one", "--raw"], &[0, 1, 2, 255]).ok();
    let run = fluvio(&sc, &["consume", "one", "-T", "1", "-d"]);
    run.ok();
    assert!(
        run.stdout.starts_with("00000000  00 01 02 ff"),
        "{}",
        run.stdout
    );

    // A file, a chosen partition, and reading one partition of several.
    let file = dir.path().join("records.txt");
    std::fs::write(&file, "p1-a\np1-b\n").unwrap();
    let file = file.display().to_string();
    fluvio(
        &sc,
        &[
            "produce",
            "two",
            "-p",
            "1",
            "-f",
            &file,
            "--linger",
            "5",
            "--batch-size",
            "1KiB",
        ],
    )
    .ok();
    let run = fluvio(&sc, &["consume", "two", "-p", "1", "-B", "-d"]);
    run.ok();
    assert_eq!(lines(&run), ["p1-a", "p1-b"]);
    let run = fluvio(&sc, &["consume", "two", "-p", "0", "-B", "-d"]);
    run.ok();
    assert_eq!(run.stdout, "");
    let run = fluvio(&sc, &["consume", "two", "-A", "-B", "-d"]);
    run.ok();
    assert_eq!(lines(&run).len(), 2);

    // Failures name what is wrong.
    let run = fluvio_stdin(&sc, &["produce", "nope"], b"x\n");
    run.expect_code(1);
    assert!(run.stderr.contains("topic 'nope'"), "{}", run.stderr);
    let run = fluvio_stdin(&sc, &["produce", "two", "-p", "9"], b"x\n");
    run.expect_code(1);
    assert!(run.stderr.contains("no partition 9"), "{}", run.stderr);
    let run = fluvio_stdin(
        &sc,
        &["produce", "one", "--key-separator", ":"],
        b"a:b\nnokey\n",
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("line 2 has no key separator ':'"),
        "{}",
        run.stderr
    );
    let run = fluvio(&sc, &["consume", "nope", "-B", "-d"]);
    run.expect_code(1);
    assert!(run.stderr.contains("topic 'nope'"), "{}", run.stderr);
    fluvio(&sc, &["consume", "one", "-B", "-T", "2"]).expect_code(2);
    fluvio_stdin(&sc, &["produce", "one", "--isolation", "sometimes"], b"").expect_code(2);
}

/// `fluvio consume T -B | head -1`: once the reader of its stdout is gone, a following
/// consume ends quietly with exit 0, as `cat` would, even with nothing more to write.
#[test]
fn cli_following_consume_ends_when_its_reader_is_gone() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "piped"]).ok();
    fluvio_stdin(&sc, &["produce", "piped"], b"first\nsecond\nthird\n").ok();

    // `| head -1`: the reader goes while records may still be coming (the next write
    // fails); `| head -3`: it goes once all are read (nothing more to write, only a
    // following consume idle on a closed pipe).
    consume_until_the_reader_goes(&sc, &["first"]);
    consume_until_the_reader_goes(&sc, &["first", "second", "third"]);

    // Output of other commands into a closed pipe is not an error either.
    let mut child = Command::new(fluvio_binary())
        .args(["topic", "list"])
        .env("FLUVIO_SC", &sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fluvio");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for fluvio");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Starting past the end says so, per partition, on stderr; an unknown `-F` placeholder
/// is a usage error that lists the known ones.
#[test]
fn cli_consume_says_what_it_cannot_do() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "pair", "-p", "2"]).ok();
    fluvio_stdin(&sc, &["produce", "pair", "-p", "0"], b"a\nb\nc\n").ok();
    fluvio_stdin(&sc, &["produce", "pair", "-p", "1"], b"d\n").ok();

    let run = fluvio(&sc, &["consume", "pair", "-o", "1000000", "-d"]);
    run.ok();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "offset 1000000 is past the end of topic 'pair' partition 0: its end is 3 \
         (the next record written gets offset 3)\n\
         offset 1000000 is past the end of topic 'pair' partition 1: its end is 1 \
         (the next record written gets offset 1)\n"
    );
    // Only the partitions that end before the offset are named; the others print.
    let run = fluvio(&sc, &["consume", "pair", "-o", "2", "-d"]);
    run.ok();
    assert_eq!(lines(&run), ["c"]);
    assert!(
        run.stderr.contains("partition 1: its end is 1") && !run.stderr.contains("partition 0"),
        "{}",
        run.stderr
    );

    let run = fluvio(
        &sc,
        &["consume", "pair", "-B", "-d", "-F", "{{offset}} {{vaule}}"],
    );
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("unknown placeholder {{vaule}}")
            && run.stderr.contains("{{value}}")
            && run.stderr.contains("{{timestamp}}"),
        "{}",
        run.stderr
    );
    let run = fluvio(
        &sc,
        &[
            "consume",
            "pair",
            "-p",
            "0",
            "-B",
            "-d",
            "-F",
            "{{offset}}={{value}}",
        ],
    );
    run.ok();
    assert_eq!(lines(&run), ["0=a", "1=b", "2=c"]);
}

/// Every command that takes a topic name fails the same way for one that does not exist.
#[test]
fn cli_a_missing_topic_is_an_error_everywhere() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "here"]).ok();
    let expected =
        "error: topic 'nosuch' does not exist; create it with `fluvio topic create nosuch`\n";
    for line in [
        &["partition", "list", "-t", "nosuch"][..],
        &["partition", "verify", "nosuch"],
        &["partition", "verify", "nosuch", "-p", "0"],
        &["consume", "nosuch", "-B", "-d"],
        &["consume", "nosuch", "-p", "0", "-B", "-d"],
        &["topic", "describe", "nosuch"],
        &["topic", "delete", "nosuch"],
    ] {
        let run = fluvio(&sc, line);
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{line:?}");
        assert_eq!(run.stderr, expected, "{line:?}");
    }
    for line in [
        &["produce", "nosuch"][..],
        &["produce", "nosuch", "-p", "0"],
    ] {
        let run = fluvio_stdin(&sc, line, b"x\n");
        run.expect_code(1);
        assert_eq!(run.stderr, expected, "{line:?}");
    }
    // The REPL shares the command layer, so it says the same, in its own words: the
    // command it suggests is one to type at its prompt, without `fluvio `.
    let run = fluvio(&sc, &["repl", "-c", "partition list -t nosuch"]);
    run.expect_code(1);
    assert_eq!(run.stderr, expected.replace("`fluvio ", "`"));
    // A topic that exists still lists.
    let run = fluvio(&sc, &["partition", "list", "-t", "here"]);
    run.ok();
    assert!(run.stdout.contains("here"), "{}", run.stdout);
}

/// `fluvio consume piped -B` reading `expected` lines before closing its stdout: it must
/// then exit 0 with nothing on stderr.
fn consume_until_the_reader_goes(sc: &str, expected: &[&str]) {
    let mut child = Command::new(fluvio_binary())
        .args(["consume", "piped", "-B"])
        .env("FLUVIO_SC", sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fluvio");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for want in expected {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read a record");
        assert_eq!(line, format!("{want}\n"));
    }
    // What `head` does next: close its end of the pipe.
    drop(stdout);

    // The bound is generous: the assertion is that it ends, not how fast.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll fluvio") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("consume went on following after its stdout was closed ({expected:?} read)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}
