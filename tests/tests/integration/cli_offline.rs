//! The `fluvio` CLI where no cluster is needed or none answers: usage errors, a dead SC,
//! help, version, completions, request templates.

use tests::cli::{fluvio, fluvio_with};
use tests::free_addr;

/// An address nothing listens on.
fn dead_sc() -> String {
    free_addr().to_string()
}

#[test]
fn a_dead_sc_exits_1_and_says_what_to_do() {
    let sc = dead_sc();
    for args in [
        &["topic", "list"][..],
        &["topic", "create", "t"],
        &["topic", "describe", "t"],
        &["topic", "delete", "t"],
        &["partition", "list"],
        &["spu", "list"],
        &["auth-token", "list"],
        &["advanced", "metadata"],
    ] {
        let run = fluvio(&sc, args);
        run.expect_code(1);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "error: cannot reach the SC at {sc}: connection refused. Is fluvio-daemon running? \
                 Start it with fluvio-daemon, or point --sc at your SC."
            ),
            "{args:?}"
        );
        assert!(
            run.stderr
                .contains(&format!("note: {sc} is from FLUVIO_SC")),
            "where the address came from: {}",
            run.stderr
        );
    }
}

#[test]
fn the_sc_flag_wins_over_the_environment() {
    let flag = dead_sc();
    let run = fluvio("127.0.0.1:1", &["topic", "list", "--sc", &flag]);
    run.expect_code(1);
    assert!(run.stderr.contains(&flag), "{}", run.stderr);
    assert!(!run.stderr.contains("note:"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let sc = dead_sc();
    for (args, expect) in [
        (&["topic", "create"][..], "<NAME>"),
        (
            &["topic", "create", "t", "-f", "a.json", "-p", "2"],
            "cannot be used with",
        ),
        (
            &["topic", "create", "t", "-p", "0"],
            "'--partitions <PARTITIONS>'",
        ),
        (
            &["topic", "create", "t", "--retention-time", "7x"],
            "unknown unit 'x'",
        ),
        (
            &["topic", "create", "t", "--retention-time", "soon"],
            "is not a duration",
        ),
        (
            &["topic", "create", "t", "--segment-size", "1XB"],
            "unknown unit 'xb'",
        ),
        (
            &["topic", "create", "t", "--segment-size", "8GiB"],
            "largest segment size",
        ),
        (
            &["topic", "create", "t", "--max-partition-size", "big"],
            "is not a size",
        ),
        (
            &["topic", "list", "-O", "xml"],
            "[possible values: table, json, yaml, toml]",
        ),
        (&["topic", "delete"], "<NAME>"),
        (
            &[
                "spu",
                "register",
                "--id",
                "1",
                "--public-server",
                "nohost",
                "--private-server",
                "h:2",
            ],
            "is not HOST:PORT",
        ),
        (&["spu", "unregister"], "--id"),
        (
            &[
                "auth-token",
                "create",
                "-n",
                "a",
                "-s",
                "short",
                "-m",
                "1",
                "-x",
                "2",
            ],
            "exactly 16",
        ),
        (
            &[
                "auth-token",
                "create",
                "-n",
                "a",
                "-s",
                "ABCDEFGH12345678",
                "-m",
                "1",
                "-x",
                "2",
            ],
            "contains 'A'",
        ),
        (
            &[
                "auth-token",
                "create",
                "-n",
                "a",
                "-s",
                "abcdefgh12345678",
                "-g",
                "-m",
                "1",
                "-x",
                "2",
            ],
            "cannot be used with",
        ),
        (
            &["auth-token", "create", "-n", "a", "-m", "1", "-x", "2"],
            "--secret",
        ),
        (
            &[
                "auth-token",
                "create",
                "-n",
                "a",
                "-g",
                "-m",
                "1",
                "-x",
                "2",
                "-t",
                "other",
            ],
            "possible values: any, custom, managed",
        ),
        (&["advanced", "run", "--api", "ListTopic"], "--json"),
        (&["nonsense"], "unrecognized subcommand"),
    ] {
        let run = fluvio(&sc, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(expect),
            "{args:?}: expected {expect:?} in\n{}",
            run.stderr
        );
    }
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let sc = dead_sc();
    let run = fluvio(&sc, &["--help"]);
    run.ok();
    for command in [
        "topic",
        "partition",
        "spu",
        "auth-token",
        "advanced",
        "version",
        "completions",
    ] {
        assert!(run.stdout.contains(command), "{command}: {}", run.stdout);
    }
    let run = fluvio(&sc, &["--version"]);
    run.ok();
    assert!(run.stdout.starts_with("fluvio "), "{}", run.stdout);
    let run = fluvio(&sc, &["topic", "create", "--help"]);
    run.ok();
    for flag in [
        "--partitions",
        "--replication",
        "--replica-assignment",
        "--ignore-rack",
        "--retention-time",
        "--segment-size",
        "--max-partition-size",
        "--dry-run",
    ] {
        assert!(run.stdout.contains(flag), "{flag}: {}", run.stdout);
    }
}

#[test]
fn version_without_a_cluster_reports_the_cli_and_why_the_platform_is_missing() {
    let run = fluvio(&dead_sc(), &["version"]);
    run.ok();
    assert!(run.stdout.contains("Fluvio CLI:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("unknown (SC not reachable)"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("cannot reach the SC"), "{}", run.stderr);
    let run = fluvio(&dead_sc(), &["version", "-O", "json"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(json["cli_version"].is_string(), "{json}");
    assert!(json["platform_version"].is_null(), "{json}");
}

#[test]
fn completions_for_each_shell() {
    // A broken SC setting must not matter: completions never talk to a cluster.
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef fluvio"),
        ("fish", "complete -c fluvio"),
        ("elvish", "fluvio"),
        ("powershell", "fluvio"),
    ] {
        let run = fluvio("not an address", &["completions", shell]);
        run.ok();
        assert!(run.stdout.contains(marker), "{shell}");
        assert!(run.stdout.contains("auth-token"), "{shell}");
    }
    fluvio("x", &["completions", "tcsh"]).expect_code(2);
}

#[test]
fn no_colour_when_piped_or_asked_not_to() {
    let sc = dead_sc();
    for env in [
        &[("TERM", "xterm-256color")][..],
        &[("NO_COLOR", "1")],
        &[("TERM", "dumb")],
    ] {
        let run = fluvio_with(&sc, &["topic", "list"], env);
        assert!(!run.stderr.contains('\x1b'), "{env:?}: {:?}", run.stderr);
        let run = fluvio_with(&sc, &["topic", "create"], env);
        assert!(!run.stderr.contains('\x1b'), "{env:?}: {:?}", run.stderr);
    }
}

#[test]
fn a_bad_profile_or_address_is_a_failure_naming_it() {
    let run = fluvio_with("", &["topic", "list", "-P", "nope"], &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("profile 'nope'"), "{}", run.stderr);
    let run = fluvio("nonsense", &["topic", "list"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("'nonsense' is not a HOST:PORT address (from FLUVIO_SC)"),
        "{}",
        run.stderr
    );
}

#[test]
fn request_templates_are_json_and_bad_names_list_the_valid_ones() {
    let sc = dead_sc();
    let run = fluvio(&sc, &["advanced", "generate", "--api", "CreateTopic"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["spec"]["replicas"]["computed"]["partitions"], 1,
        "{json}"
    );
    for api in [
        "ApiVersions",
        "ListPartition",
        "CreateAuthToken",
        "Produce",
        "StreamFetch",
    ] {
        let run = fluvio(&sc, &["advanced", "generate", "--api", api]);
        run.ok();
        serde_json::from_str::<serde_json::Value>(&run.stdout).expect(api);
    }
    let run = fluvio(&sc, &["advanced", "generate", "--api", "Frobnicate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("unknown api 'Frobnicate'; valid names: ApiVersions, CreateTopic"),
        "{}",
        run.stderr
    );
}
