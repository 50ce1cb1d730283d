//! `fluvio produce` and `fluvio consume` against a real daemon: lines, keys, raw input,
//! partitions, offsets and every record format.

use serde_json::Value;
use tests::cli::{Run, fluvio, fluvio_stdin};
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
