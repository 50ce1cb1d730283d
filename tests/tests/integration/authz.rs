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
use tests::{Daemon, Role, python, temp_dir};

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

/// kcat with `args` over TLS as `who`, `input` on stdin.
fn kcat_as(who: &[String], args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    // A refusal must end kcat, not leave it retrying: bounded, in case it does not.
    let mut child = std::process::Command::new("timeout")
        .args(["60", "kcat", "-X", "message.timeout.ms=20000"])
        .args(who)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kcat is needed for the Kafka tests: apt-get install kcat (.ci/run does)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().expect("wait for kcat")
}

/// librdkafka's TLS settings for a client presenting `client`, trusting `ca`.
fn kcat_tls(ca: &Path, client: &crate::tls::Issued) -> Vec<String> {
    [
        "security.protocol=ssl".to_string(),
        format!("ssl.ca.location={}", ca.display()),
        format!("ssl.certificate.location={}", client.cert.display()),
        format!("ssl.key.location={}", client.key.display()),
    ]
    .into_iter()
    .flat_map(|x| ["-X".to_string(), x])
    .collect()
}

/// For the Kafka listener: `reader` consumes topic `a` and may list no other topic;
/// `admin` does everything. The SPU reads topics from the SC and forwards admin requests
/// as itself once it checked the Kafka client's principal: the node's CN has the grants.
const KAFKA_POLICY: &str = r#"
[principals.admin]
objects = { "*" = ["*"] }
topics = { "*" = ["*"] }

[principals.reader]
topics = { "a" = ["consume"] }

[principals.fluvio-node]
objects = { "*" = ["*"] }
topics = { "*" = ["*"] }
"#;

/// kafka-python over TLS as the certificate given: produce one record to topic `a`,
/// print `sent` or the error's class name.
const PY_PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
b, ca, cert, key = sys.argv[1:5]
p = KafkaProducer(bootstrap_servers=b, security_protocol="SSL", ssl_cafile=ca,
                  ssl_certfile=cert, ssl_keyfile=key, retries=0, max_block_ms=20000)
try:
    p.send("a", value=b"py").get(timeout=20)
    print("sent")
except Exception as e:
    print("refused", type(e).__name__, e)
"#;

/// The Kafka listener applies the policy to the certificate's common name, over TLS with
/// the daemon's `--tls-*` flags: `reader` lists and consumes topic `a` but may not
/// produce to it and does not see topic `private`; `admin` does everything.
#[test]
fn kafka_clients_get_the_policy_by_certificate() {
    use crate::tls::{Pki, client_flags, daemon_flags};
    let dir = temp_dir();
    let pki = Pki::new(dir.path(), "kafka-ca");
    let node = pki.issue("node", "fluvio-node", &[], 1);
    let admin_cert = pki.issue("admin", "admin", &[], 2);
    let reader_cert = pki.issue("reader", "reader", &[], 3);
    let admin = client_flags(&pki.ca_file(), &admin_cert);
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, KAFKA_POLICY).unwrap();
    let kafka = tests::free_addr().to_string();
    let mut flags = daemon_flags(&pki, &node);
    flags.extend([
        "--authz-policy".to_string(),
        policy.display().to_string(),
        "--kafka-addr".to_string(),
        kafka.clone(),
    ]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start_with_args(Role::AllInOne { spus: 1 }, &dir.path().join("d"), &flags);
    let sc = daemon.public.to_string();
    as_identity(&sc, &["topic", "create", "a"], &admin, b"").ok();
    as_identity(&sc, &["topic", "create", "private"], &admin, b"").ok();

    let kadmin = kcat_tls(&pki.ca_file(), &admin_cert);
    let kreader = kcat_tls(&pki.ca_file(), &reader_cert);
    let b = ["-b", kafka.as_str()];
    // admin produces to both topics and reads them back.
    for topic in ["a", "private"] {
        let out = kcat_as(
            &kadmin,
            &[&b[..], &["-P", "-t", topic]].concat(),
            b"by-admin\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = |who: &[String], topic: &str| {
        kcat_as(
            who,
            &[&b[..], &["-C", "-t", topic, "-o", "beginning", "-e", "-q"]].concat(),
            b"",
        )
    };
    let out = read(&kadmin, "private");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "by-admin\n");

    // reader consumes a, and sees only a.
    let out = read(&kreader, "a");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "by-admin\n");
    let listing = kcat_as(&kreader, &[&b[..], &["-L"]].concat(), b"");
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(listing.contains("topic \"a\""), "{listing}");
    assert!(!listing.contains("private"), "{listing}");
    let admin_listing = kcat_as(&kadmin, &[&b[..], &["-L"]].concat(), b"");
    assert!(
        String::from_utf8_lossy(&admin_listing.stdout).contains("topic \"private\""),
        "{}",
        String::from_utf8_lossy(&admin_listing.stdout)
    );
    // Named, a hidden topic is refused, not reported missing.
    let out = read(&kreader, "private");
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("authorization failed"), "{said}");

    // reader may not produce: kcat and kafka-python say so.
    let out = kcat_as(
        &kreader,
        &[&b[..], &["-P", "-t", "a"]].concat(),
        b"by-reader\n",
    );
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("Topic authorization failed"), "{said}");
    let py = python::run_ok(
        PY_PRODUCE,
        &[
            &kafka,
            &pki.ca_file().display().to_string(),
            &reader_cert.cert.display().to_string(),
            &reader_cert.key.display().to_string(),
        ],
    );
    assert!(py.contains("refused TopicAuthorizationFailedError"), "{py}");
    let py = python::run_ok(
        PY_PRODUCE,
        &[
            &kafka,
            &pki.ca_file().display().to_string(),
            &admin_cert.cert.display().to_string(),
            &admin_cert.key.display().to_string(),
        ],
    );
    assert_eq!(py.trim(), "sent");
    // Nothing of reader's reached the topic; admin's two records did.
    let out = read(&kadmin, "a");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "by-admin\npy\n");
    // Refusals are logged as on the other listeners.
    let log = daemon.log();
    assert!(
        log.contains("authorization refused: principal 'reader' may not produce to topic 'a'"),
        "{log}"
    );
}
