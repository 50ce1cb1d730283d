//! `fluvio repl` without a terminal against a real daemon: scripts on stdin and with
//! `-f`, `-c`, exit codes, line numbers in errors, `--continue-on-error`, the session
//! commands, and no history written.

use serde_json::Value;
use tests::cli::{Run, fluvio, fluvio_stdin, fluvio_stdin_with};
use tests::{Daemon, Role, temp_dir};

fn topics(sc: &str) -> Vec<String> {
    let run = fluvio(sc, &["topic", "list", "-O", "json"]);
    run.ok();
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn script(sc: &str, text: &str) -> Run {
    fluvio_stdin(sc, &["repl"], text.as_bytes())
}

#[test]
fn scripts_run_line_by_line_and_stop_at_the_first_failure() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let records = dir.path().join("records.txt");
    std::fs::write(&records, "first\nsecond\n").unwrap();
    let history = dir.path().join("history");
    let history_env = history.display().to_string();

    // Comments, blank lines, a statement continued over two lines, output, records.
    let text = format!(
        "# set up\n\
         topic create orders   # one partition\n\
         \n\
         topic create \\\n  payments -p 2\n\
         produce orders -f '{}'\n\
         consume orders -B -d\n\
         topic describe orders -O json\n",
        records.display()
    );
    let run = fluvio_stdin_with(
        &sc,
        &["repl"],
        text.as_bytes(),
        &[("FLUVIO_HISTORY", &history_env)],
    );
    run.ok();
    assert!(
        run.stdout
            .starts_with("topic \"orders\" created\ntopic \"payments\" created\nfirst\nsecond\n"),
        "{}",
        run.stdout
    );
    let json_start = run.stdout.find('[').expect("the describe output");
    let described: Value = serde_json::from_str(&run.stdout[json_start..]).unwrap();
    assert_eq!(described[0]["name"], "orders");
    assert_eq!(run.stderr, "");
    assert_eq!(topics(&sc), ["orders", "payments"]);
    assert!(!history.exists(), "scripts write no history");

    // The first failing line stops the script, with its number; nothing after it runs.
    let run = script(
        &sc,
        "topic list\n# the next one fails\ntopic describe nope\ntopic create after-failure\n",
    );
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: line 3: topic 'nope' does not exist"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("orders"), "{}", run.stdout);
    assert_eq!(topics(&sc), ["orders", "payments"]);

    // A line that is not a valid command is a failure too, with its line number.
    let file = dir.path().join("bad.flv");
    std::fs::write(
        &file,
        "topic list\n\ntopic bogus\ntopic create after-bogus\n",
    )
    .unwrap();
    let run = fluvio(&sc, &["repl", "-f", &file.display().to_string()]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: line 3: unrecognized subcommand 'bogus'"),
        "{}",
        run.stderr
    );
    assert_eq!(topics(&sc), ["orders", "payments"]);

    // --continue-on-error runs everything and still fails; a statement over two lines
    // counts from where it starts.
    let file = dir.path().join("continue.flv");
    std::fs::write(
        &file,
        "topic describe 'no\nsuch'\ntopic describe nope\ntopic create kept-going\n",
    )
    .unwrap();
    let run = fluvio(
        &sc,
        &[
            "repl",
            "--continue-on-error",
            "-f",
            &file.display().to_string(),
        ],
    );
    run.expect_code(1);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors[0].starts_with("error: line 1: topic 'no"),
        "{}",
        run.stderr
    );
    assert!(
        errors[1].starts_with("error: line 3: topic 'nope'"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "topic \"kept-going\" created\n");
    assert_eq!(topics(&sc), ["kept-going", "orders", "payments"]);

    // An unreadable script.
    let run = fluvio(&sc, &["repl", "-f", "/nonexistent/script.flv"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot read the script /nonexistent/script.flv"),
        "{}",
        run.stderr
    );
}

#[test]
fn one_line_with_c_exits_with_its_status() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();

    let run = fluvio(&sc, &["repl", "-c", "topic create one-liner # a comment"]);
    run.ok();
    assert_eq!(run.stdout, "topic \"one-liner\" created\n");
    let run = fluvio(&sc, &["repl", "-c", "topic describe one-liner -O json"]);
    run.ok();
    let described: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(described[0]["name"], "one-liner");
    let run = fluvio(&sc, &["repl", "-c", "topic describe nope"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with("error: topic 'nope' does not exist"),
        "{}",
        run.stderr
    );
    let run = fluvio(&sc, &["repl", "-c", "topic bogus"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("error: unrecognized subcommand 'bogus'"),
        "{}",
        run.stderr
    );
    // With -c, stdin is free: produce reads it as the CLI does.
    let run = fluvio_stdin(&sc, &["repl", "-c", "produce one-liner"], b"from-stdin\n");
    run.ok();
    let run = fluvio(&sc, &["consume", "one-liner", "-B", "-d"]);
    assert_eq!(run.stdout, "from-stdin\n");
}

#[test]
fn session_commands_in_a_script() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "fmt"]).ok();

    // `output json` applies to commands given no -O; an explicit -O still wins.
    let run = script(
        &sc,
        "output json\ntopic describe fmt\noutput table\ntopic describe fmt -O yaml\n",
    );
    run.ok();
    let (json, yaml) = run.stdout.split_once("\n]\n").expect("JSON, then YAML");
    let described: Value = serde_json::from_str(&format!("{json}]")).unwrap();
    assert_eq!(described[0]["name"], "fmt");
    assert!(yaml.starts_with("- name: fmt\n"), "{yaml}");

    // `timing on` reports each command's time on stderr; `help` prints clap's help.
    let run = script(&sc, "timing on\ntopic list\nhelp topic create\n");
    run.ok();
    assert!(run.stderr.starts_with("time: "), "{}", run.stderr);
    assert!(
        run.stdout.contains("Usage: fluvio topic create"),
        "{}",
        run.stdout
    );

    // `connect` switches the cluster, and refuses one that does not answer.
    let other_dir = temp_dir();
    let other = Daemon::start(Role::AllInOne { spus: 1 }, other_dir.path());
    let other_sc = other.public.to_string();
    let dead = tests::free_addr().to_string();
    let run = script(
        &sc,
        &format!("connect {other_sc}\ntopic create elsewhere\nconnect\nconnect {dead}\nconnect\n"),
    );
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        format!("topic \"elsewhere\" created\nconnected to {other_sc} (plaintext)\n"),
        "the failed connect stopped the script"
    );
    assert!(
        run.stderr
            .starts_with(&format!("error: line 4: cannot reach the SC at {dead}")),
        "{}",
        run.stderr
    );
    assert_eq!(topics(&other_sc), ["elsewhere"]);
    assert_eq!(topics(&sc), ["fmt"]);

    // `exit` ends a script early with success; produce cannot read a piped script.
    let run = script(&sc, "topic list\nexit\ntopic bogus\n");
    run.ok();
    let run = script(&sc, "produce fmt\n");
    run.expect_code(1);
    assert!(run.stderr.contains("produce fmt -f FILE"), "{}", run.stderr);
}
