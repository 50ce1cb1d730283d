//! Authorization (`--authz-policy`): a policy that lets `reader` consume topic `a` but
//! neither produce to it nor create topics, and lets `admin` do everything, enforced on
//! the SC and SPU public ports and seen through the CLI (message and exit code); the
//! owner-only modes of the files holding secrets; `auth-token create --secret-file -`.
//!
//! Plaintext loopback connections are the principal the policy's `loopback_principal`
//! names, so one machine can play `admin` and then `reader` against the same data; over
//! mutual TLS the principals are the client certificates' common names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tests::cli::{Run, fluvio, fluvio_stdin, fluvio_stdin_with, fluvio_with};
use tests::{Daemon, Role, temp_dir};

/// What `reader` and `admin` may do; `loopback_principal` is filled in per run.
const POLICY: &str = r#"
[principals.admin]
objects = { "*" = ["*"] }
topics = { "*" = ["*"] }

[principals.reader]
objects = { topic = ["list", "watch"], partition = ["list", "watch"], spu = ["list", "watch"] }
topics = { "a" = ["consume"] }
"#;

fn policy_file(dir: &Path, principal: &str) -> String {
    let path = dir.join(format!("policy-{principal}.toml"));
    std::fs::write(
        &path,
        format!("loopback_principal = \"{principal}\"\n{POLICY}"),
    )
    .unwrap();
    path.display().to_string()
}

/// `fluvio auth-token create -n NAME -m 1 -x 9` with `source` naming the secret, and
/// `input` on stdin.
fn create_token(sc: &str, name: &str, source: &[&str], input: &[u8]) -> Run {
    let mut args = vec!["auth-token", "create", "-n", name, "-m", "1", "-x", "9"];
    args.extend_from_slice(source);
    fluvio_stdin(sc, &args, input)
}

/// The CLI run failed with exit code 1, saying `text`.
#[track_caller]
fn assert_refused(run: &Run, text: &str) {
    run.expect_code(1);
    assert!(run.stderr.contains(text), "{}", run.stderr);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn reader_consumes_but_may_neither_produce_nor_create_and_admin_may_do_everything() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let policy_dir = dir.path();

    // As admin: everything, including what reader will be refused.
    let admin_policy = policy_file(policy_dir, "admin");
    let mut daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        &data,
        &["--authz-policy", &admin_policy],
    );
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "a"]).ok();
    fluvio(&sc, &["topic", "create", "scratch"]).ok();
    fluvio(&sc, &["topic", "create", "private"]).ok();
    fluvio_stdin(&sc, &["produce", "private"], b"hidden\n").ok();
    fluvio_stdin(&sc, &["produce", "a"], b"one\ntwo\n").ok();
    let consumed = fluvio(&sc, &["consume", "a", "-B", "-d"]);
    consumed.ok();
    assert_eq!(consumed.stdout.lines().collect::<Vec<_>>(), ["one", "two"]);
    fluvio(&sc, &["topic", "delete", "scratch"]).ok();
    create_token(&sc, "ops", &["-g"], b"").ok();
    assert!(fluvio(&sc, &["auth-token", "list"]).stdout.contains("ops"));
    // The metadata store holds the auth tokens' hashes: its owner's only.
    assert_eq!(mode(&data.join("sc-metadata.redb")), 0o600);
    daemon.terminate(Duration::from_secs(20));

    // The same cluster as reader.
    let reader_policy = policy_file(policy_dir, "reader");
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        &data,
        &["--authz-policy", &reader_policy],
    );
    let sc = daemon.public.to_string();

    let consumed = fluvio(&sc, &["consume", "a", "-B", "-d"]);
    consumed.ok();
    assert_eq!(consumed.stdout.lines().collect::<Vec<_>>(), ["one", "two"]);
    let listed = fluvio(&sc, &["topic", "list"]);
    listed.ok();
    assert!(listed.stdout.contains('a'), "{}", listed.stdout);

    let create = fluvio(&sc, &["topic", "create", "b"]);
    assert_refused(&create, "principal 'reader' may not create topic 'b'");

    let produce = fluvio_stdin(&sc, &["produce", "a"], b"three\n");
    assert_refused(
        &produce,
        "cannot produce to a-0: principal 'reader' may not produce to topic 'a'",
    );
    assert!(
        produce.stderr.contains("authorization policy"),
        "{}",
        produce.stderr
    );

    let private = fluvio(&sc, &["consume", "private", "-B", "-d"]);
    assert_refused(
        &private,
        "principal 'reader' may not consume from topic 'private'",
    );
    assert!(!private.stdout.contains("hidden"), "{}", private.stdout);

    // Kinds reader may not list look empty, as in Fluvio; the SC logs the refusal.
    let tokens = fluvio(&sc, &["auth-token", "list"]);
    tokens.ok();
    assert!(!tokens.stdout.contains("ops"), "{}", tokens.stdout);
    let token = create_token(&sc, "edge", &["-g"], b"");
    assert_refused(
        &token,
        "principal 'reader' may not create auth-token 'edge'",
    );

    // Nothing reader tried got through: a holds what admin wrote, b does not exist.
    let consumed = fluvio(&sc, &["consume", "a", "-B", "-d"]);
    assert_eq!(consumed.stdout.lines().collect::<Vec<_>>(), ["one", "two"]);
    let log = daemon.log();
    for refused in [
        "principal 'reader' may not produce to topic 'a'",
        "principal 'reader' may not create topic 'b'",
        "principal 'reader' may not list auth-tokens",
    ] {
        assert!(log.contains(refused), "no '{refused}' in the log:\n{log}");
    }
}

#[test]
fn secrets_come_from_stdin_and_profiles_are_the_owners_only() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, &dir.path().join("data"));
    let sc = daemon.public.to_string();

    let from_stdin = create_token(&sc, "piped", &["--secret-file", "-"], b"abcdefgh12345678\n");
    from_stdin.ok();
    assert!(!from_stdin.stderr.contains("ps"), "{}", from_stdin.stderr);
    let on_the_line = create_token(&sc, "typed", &["--secret", "abcdefgh12345678"], b"");
    on_the_line.ok();
    assert!(
        on_the_line.stderr.contains("shows in `ps`"),
        "{}",
        on_the_line.stderr
    );
    let bad = create_token(&sc, "bad", &["--secret-file", "-"], b"short\n");
    bad.expect_code(1);
    assert!(bad.stderr.contains("the secret in -"), "{}", bad.stderr);
    let listed = fluvio(&sc, &["auth-token", "list"]);
    assert!(listed.stdout.contains("piped") && listed.stdout.contains("typed"));
    assert!(!listed.stdout.contains("bad"));

    let config = dir.path().join("fluvio-config");
    let config_text = config.display().to_string();
    fluvio_with(
        &sc,
        &["profile", "add", "local", &sc],
        &[("FLV_PROFILE_PATH", &config_text)],
    )
    .ok();
    assert_eq!(mode(&config), 0o600);
}

/// `fluvio args... flags...` against `sc`, with `input` on stdin.
fn as_identity(sc: &str, args: &[&str], flags: &[String], input: &[u8]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    fluvio_stdin_with(sc, &all, input, &[])
}

#[test]
fn certificate_identities_reader_and_admin_over_mutual_tls() {
    use crate::tls::{Pki, client_flags, daemon_flags};
    let dir = temp_dir();
    let pki = Pki::new(dir.path(), "authz-ca");
    let node = pki.issue("node", "fluvio-node", &[], 1);
    let admin = client_flags(&pki.ca_file(), &pki.issue("admin", "admin", &[], 2));
    let reader = client_flags(
        &pki.ca_file(),
        &pki.issue("reader", "reader", &["staff"], 3),
    );
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let mut flags = daemon_flags(&pki, &node);
    flags.extend(["--authz-policy".to_string(), policy.display().to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start_with_args(Role::AllInOne { spus: 1 }, &dir.path().join("d"), &flags);
    let sc = daemon.public.to_string();

    as_identity(&sc, &["topic", "create", "a"], &admin, b"").ok();
    as_identity(&sc, &["produce", "a"], &admin, b"signed\n").ok();

    let consumed = as_identity(&sc, &["consume", "a", "-B", "-d"], &reader, b"");
    consumed.ok();
    assert_eq!(consumed.stdout.lines().collect::<Vec<_>>(), ["signed"]);
    let produce = as_identity(&sc, &["produce", "a"], &reader, b"forged\n");
    assert_refused(&produce, "principal 'reader' may not produce to topic 'a'");
    let create = as_identity(&sc, &["topic", "create", "b"], &reader, b"");
    assert_refused(&create, "principal 'reader' may not create topic 'b'");
    let consumed = as_identity(&sc, &["consume", "a", "-B", "-d"], &admin, b"");
    assert_eq!(consumed.stdout.lines().collect::<Vec<_>>(), ["signed"]);
    // The refusal names the roles the certificate's OUs gave.
    assert!(
        daemon.log().contains("roles=[\"staff\"]"),
        "{}",
        daemon.log()
    );
}

/// The Kafka listener does not apply the policy yet, so with a policy it must not open: an
/// SPU asked for one explicitly refuses to start and says why.
#[test]
fn a_policy_keeps_the_kafka_listener_closed() {
    let dir = temp_dir();
    let policy = policy_file(dir.path(), "admin");
    let role = Role::Spu {
        id: 7,
        sc_private: tests::free_addr(),
        token: None,
        rack: None,
    };
    let args = [
        "--authz-policy",
        policy.as_str(),
        "--kafka-addr",
        "127.0.0.1:0",
    ];
    let mut spu = Daemon::spawn_with_args(
        role,
        dir.path(),
        tests::free_addr(),
        tests::free_addr(),
        &args,
    );
    let (status, log) = spu.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("does not apply --authz-policy yet") && log.contains("--no-kafka"),
        "{log}"
    );
}
