//! TLS on every port: daemons started with `--tls-cert/--tls-key/--tls-client-ca`,
//! certificates made fresh in each test with rcgen (never checked in). Every listener
//! closes plaintext clients and says why in its log; mutual TLS refuses a client
//! certificate from an unknown CA; the CLI connects through flags and through profiles in
//! the official layout (`tls_source = "files"` and `"inline"`), the official Python client
//! through a profile; a replicated topic survives a leader's kill -9 over mutual TLS; and
//! SIGHUP swaps the certificate and the client CA for new connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use console::client::{Admin, ClientTls, Fluvio, Pem, ProducerConfig};
use protocol::sc::{Metadata, PartitionResolution, PartitionSpec};
use protocol::spu::Isolation;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use tests::cli::{Run, fluvio_with};
use tests::{Daemon, Role, free_addr, python, runtime, temp_dir};

/// A CA and the certificates it signs, as PEM files in a temporary directory.
pub(crate) struct Pki {
    dir: PathBuf,
    name: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, as files.
#[derive(Clone)]
pub(crate) struct Issued {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl Pki {
    pub(crate) fn new(dir: &Path, name: &str) -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        std::fs::write(dir.join(format!("{name}.crt")), ca.pem()).expect("write CA");
        Pki {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            ca,
            ca_key,
        }
    }

    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.join(format!("{}.crt", self.name))
    }

    /// A certificate for `cn` (with `ous`), valid for 127.0.0.1, localhost, fluvio.local
    /// and *.fluvio.local, usable as server and client certificate, with serial number
    /// `serial`.
    pub(crate) fn issue(&self, stem: &str, cn: &str, ous: &[&str], serial: u64) -> Issued {
        let key = KeyPair::generate().expect("key");
        // The official client checks an SPU as `<spu name>.<profile domain>` (SNI): node
        // certificates name the domain and its subdomains.
        let names = ["localhost", "fluvio.local", "*.fluvio.local"].map(String::from);
        let mut params = CertificateParams::new(names.to_vec()).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.distinguished_name.push(DnType::CommonName, cn);
        for ou in ous {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, *ou);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.serial_number = Some(SerialNumber::from(serial));
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        let issued = Issued {
            cert: self.dir.join(format!("{stem}.crt")),
            key: self.dir.join(format!("{stem}.key")),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write cert");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write key");
        issued
    }
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// The daemon flags for TLS with `node`'s certificate, client certificates required
/// from `pki`'s CA.
pub(crate) fn daemon_flags(pki: &Pki, node: &Issued) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        text(&node.cert),
        "--tls-key".into(),
        text(&node.key),
        "--tls-client-ca".into(),
        text(&pki.ca_file()),
    ]
}

/// The CLI's flags to verify the cluster against `ca` and present `client`.
pub(crate) fn client_flags(ca: &Path, client: &Issued) -> Vec<String> {
    vec![
        "--tls-ca-cert".into(),
        text(ca),
        "--tls-client-cert".into(),
        text(&client.cert),
        "--tls-client-key".into(),
        text(&client.key),
    ]
}

/// `fluvio` with `args` then `flags`, against `sc`.
fn cli(sc: &str, args: &[&str], flags: &[String]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    fluvio_with(sc, &all, &[])
}

/// `fluvio` through the profile file at `config` (no `FLUVIO_SC`).
fn cli_profile(config: &Path, args: &[&str]) -> Run {
    fluvio_with("", args, &[("FLV_PROFILE_PATH", &text(config))])
}

/// Connect in plaintext, send a request frame and read what comes back: a TLS listener
/// closes the connection (after at most a TLS alert record), never answering the frame.
fn assert_refuses_plaintext(addr: SocketAddr, what: &str) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // ApiVersions, version 0, correlation id 1, client id "test".
    let frame = [
        0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, 1, 0, 4, b't', b'e', b's', b't',
    ];
    let _ = stream.write_all(&frame);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("{what} at {addr} kept a plaintext connection open: {err}"),
        }
    }
    // 21 = a TLS alert record; an answer to the frame would start with its size.
    assert!(
        got.is_empty() || got[0] == 21,
        "{what} at {addr} answered plaintext with {got:?}"
    );
}

/// Poll the SC (through `admin`) until partition `name` satisfies `done`.
fn wait_partition(
    rt: &tokio::runtime::Runtime,
    admin: &Admin,
    name: &str,
    what: &str,
    done: impl Fn(&Metadata<PartitionSpec>) -> bool,
) -> Metadata<PartitionSpec> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = rt
            .block_on(admin.list::<PartitionSpec>(&[]))
            .ok()
            .and_then(|all| all.into_iter().find(|p| p.name == name));
        if let Some(p) = &found
            && done(p)
        {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "partition {name} never reached: {what}; last {found:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SPU public addresses from `fluvio spu list -O json`.
fn spu_endpoints(sc: &str, flags: &[String]) -> Vec<String> {
    let run = cli(sc, &["spu", "list", "-O", "json"], flags);
    run.ok();
    let spus: serde_json::Value = serde_json::from_str(&run.stdout).expect("spu list json");
    let list = spus.as_array().expect("array of SPUs");
    let endpoint = |spu: &serde_json::Value, which: &str| {
        let e = &spu["spec"][which];
        let host = e["host"].as_str().or(e["ingress"][0]["ip"].as_str());
        format!(
            "{}:{}",
            host.unwrap_or("127.0.0.1"),
            e["port"].as_u64().expect("port")
        )
    };
    list.iter()
        .flat_map(|spu| {
            [
                endpoint(spu, "public_endpoint"),
                endpoint(spu, "private_endpoint"),
            ]
        })
        .collect()
}

#[test]
fn every_listener_refuses_plaintext_and_clients_connect_through_flags_and_profiles() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path(), "cluster-ca");
    let node = pki.issue("node", "fluvio-node", &[], 1);
    let alice = pki.issue("alice", "alice", &["admins"], 2);
    let rogue_ca = Pki::new(dir.path(), "rogue-ca");
    let mallory = rogue_ca.issue("mallory", "mallory", &[], 3);

    let flags = daemon_flags(&pki, &node);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // The managed SPU joins its SC over mutual TLS before the daemon says it is ready.
    let daemon = Daemon::start_with_args(Role::AllInOne { spus: 1 }, &dir.path().join("d"), &flags);
    let sc = daemon.public.to_string();
    let alice_flags = client_flags(&pki.ca_file(), &alice);

    // The CLI over TLS, with flags.
    cli(&sc, &["topic", "create", "secure"], &alice_flags).ok();
    let spus = spu_endpoints(&sc, &alice_flags);
    assert_eq!(spus.len(), 2, "{spus:?}");

    // Every listener: SC public, SC private, SPU public, SPU private.
    let listeners = [
        (daemon.public, "SC public"),
        (daemon.private, "SC private"),
        (spus[0].parse().unwrap(), "SPU public"),
        (spus[1].parse().unwrap(), "SPU private"),
    ];
    for (addr, what) in listeners {
        assert_refuses_plaintext(addr, what);
    }
    let plaintext_cli = fluvio_with(&sc, &["topic", "list"], &[]);
    assert_eq!(plaintext_cli.code, 1, "{plaintext_cli:?}");
    // Each listener says why it closed them (floods are throttled to a line per period).
    let refused = |server: &str| {
        daemon.log().lines().any(|line| {
            line.contains(&format!("server=\"{server}\"")) && line.contains("not speaking TLS")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    for server in ["SC public", "SC private", "SPU public", "SPU private"] {
        while !refused(server) {
            assert!(
                Instant::now() < deadline,
                "{server} does not log why it closed a plaintext client:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // The REPL's `connect` takes the same flags and says how it is connected.
    let line = format!(
        "connect {sc} {}\nconnect\ntopic list\n",
        alice_flags.join(" ")
    );
    let repl = tests::cli::fluvio_stdin("127.0.0.1:1", &["repl"], line.as_bytes());
    repl.ok();
    assert!(
        repl.stdout
            .contains(&format!("connected to {sc} (TLS as alice)"))
            && repl.stdout.contains("secure"),
        "{repl:?}"
    );

    // Mutual TLS: a certificate from another CA, and none at all, are refused.
    let rogue = cli(
        &sc,
        &["topic", "list"],
        &client_flags(&pki.ca_file(), &mallory),
    );
    assert_eq!(rogue.code, 1, "{rogue:?}");
    assert!(rogue.stderr.contains("TLS"), "{}", rogue.stderr);
    let anonymous = cli(
        &sc,
        &["topic", "list"],
        &["--tls-ca-cert".to_string(), text(&pki.ca_file())],
    );
    assert_eq!(anonymous.code, 1, "{anonymous:?}");
    // A server certificate from an unknown CA is refused by the client too.
    let wrong_ca = cli(
        &sc,
        &["topic", "list"],
        &client_flags(&rogue_ca.ca_file(), &alice),
    );
    assert_eq!(wrong_ca.code, 1, "{wrong_ca:?}");
    assert!(
        wrong_ca.stderr.contains("UnknownIssuer") || wrong_ca.stderr.contains("certificate"),
        "{}",
        wrong_ca.stderr
    );

    // Profiles in the official layout: files...
    let config = dir.path().join("config");
    let files_profile = format!(
        r#"version = "2.0"
current_profile = "files"

[profile.files]
cluster = "files"

[profile.inline]
cluster = "inline"

[cluster.files]
endpoint = "{sc}"
use_spu_local_address = false

[cluster.files.tls]
tls_policy = "verified"
tls_source = "files"

[cluster.files.tls.certs]
domain = "fluvio.local"
key = "{key}"
cert = "{cert}"
ca_cert = "{ca}"

[cluster.inline]
endpoint = "{sc}"

[cluster.inline.tls]
tls_policy = "verified"
tls_source = "inline"

[cluster.inline.tls.certs]
domain = "127.0.0.1"
key = """
{key_pem}"""
cert = """
{cert_pem}"""
ca_cert = """
{ca_pem}"""
"#,
        key = text(&alice.key),
        cert = text(&alice.cert),
        ca = text(&pki.ca_file()),
        key_pem = std::fs::read_to_string(&alice.key).unwrap(),
        cert_pem = std::fs::read_to_string(&alice.cert).unwrap(),
        ca_pem = std::fs::read_to_string(pki.ca_file()).unwrap(),
    );
    std::fs::write(&config, files_profile).unwrap();
    let produced = tests::cli::fluvio_stdin_with(
        "",
        &["produce", "secure"],
        b"one\ntwo\n",
        &[("FLV_PROFILE_PATH", &text(&config))],
    );
    produced.ok();
    // ... and inline PEM text.
    let inline = tests::cli::fluvio_stdin_with(
        "",
        &["-P", "inline", "produce", "secure"],
        b"three\n",
        &[("FLV_PROFILE_PATH", &text(&config))],
    );
    inline.ok();
    let consumed = cli_profile(&config, &["-P", "inline", "consume", "secure", "-B", "-d"]);
    consumed.ok();
    assert_eq!(consumed.stdout, "one\ntwo\nthree\n");

    // `fluvio profile add` writes such a profile, which then works as it is.
    let added = dir.path().join("added");
    let mut add = vec!["profile", "add", "mine", &sc];
    let add_flags = client_flags(&pki.ca_file(), &alice);
    add.extend(add_flags.iter().map(String::as_str));
    fluvio_with("", &add, &[("FLV_PROFILE_PATH", &text(&added))]).ok();
    let written = std::fs::read_to_string(&added).unwrap();
    assert!(
        written.contains("tls_policy = \"verified\"") && written.contains("tls_source = \"files\""),
        "{written}"
    );
    let listed = cli_profile(&added, &["topic", "list"]);
    listed.ok();
    assert!(listed.stdout.contains("secure"), "{}", listed.stdout);

    // The official Python client through the same profile.
    let script = r#"
import os, sys, itertools
os.environ["FLV_PROFILE_PATH"] = sys.argv[1]
from fluvio import Fluvio, Offset
f = Fluvio.connect()
p = f.topic_producer("secure")
p.send_string("from-python").wait()
p.flush()
s = f.partition_consumer("secure", 0).stream(Offset.beginning())
print([r.value_string() for r in itertools.islice(s, 4)])
"#;
    let out = python::run(script, &[&text(&config)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "official client over TLS failed:\n{stdout}\n{stderr}\ndaemon log:\n{}",
        daemon.log()
    );
    assert_eq!(
        stdout.trim(),
        "['one', 'two', 'three', 'from-python']",
        "{stderr}"
    );
}

#[test]
fn a_replicated_topic_keeps_every_acknowledged_record_across_a_leader_kill_over_mutual_tls() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let pki = Pki::new(dir.path(), "ca");
    let admin_cert = pki.issue("admin", "admin", &[], 1);
    let mut sc_flags = daemon_flags(&pki, &pki.issue("sc", "sc", &[], 2));
    sc_flags.extend(
        tests::cluster::FAILOVER_SC_FLAGS
            .iter()
            .map(|s| s.to_string()),
    );
    let sc_flags: Vec<&str> = sc_flags.iter().map(String::as_str).collect();
    let sc = Daemon::spawn_with_args(
        Role::Sc {
            allow_unauthenticated_spus: true,
        },
        &dir.path().join("sc"),
        free_addr(),
        free_addr(),
        &sc_flags,
    );
    sc.wait_ready();
    let sc_addr = sc.public.to_string();
    let admin_flags = client_flags(&pki.ca_file(), &admin_cert);
    let mut spus = std::collections::BTreeMap::new();
    for id in 1..=3 {
        let (public, private) = (free_addr(), free_addr());
        let (public_text, private_text) = (public.to_string(), private.to_string());
        cli(
            &sc_addr,
            &[
                "spu",
                "register",
                "--id",
                &id.to_string(),
                "--public-server",
                &public_text,
                "--private-server",
                &private_text,
            ],
            &admin_flags,
        )
        .ok();
        let mut flags = daemon_flags(
            &pki,
            &pki.issue(
                &format!("spu{id}"),
                &format!("spu-{id}"),
                &[],
                10 + id as u64,
            ),
        );
        flags.extend(
            tests::cluster::FAILOVER_SPU_FLAGS
                .iter()
                .map(|s| s.to_string()),
        );
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let spu = Daemon::spawn_with_args(
            Role::Spu {
                id,
                sc_private: sc.private,
                token: None,
                rack: None,
            },
            &dir.path().join(format!("spu{id}")),
            public,
            private,
            &flags,
        );
        spu.wait_ready();
        spus.insert(id, spu);
    }
    cli(
        &sc_addr,
        &["topic", "create", "moving", "--replication", "3"],
        &admin_flags,
    )
    .ok();

    let rt = runtime();
    let tls = ClientTls::verified(
        None,
        &Pem::file(&pki.ca_file()).unwrap(),
        Some((
            &Pem::file(&admin_cert.cert).unwrap(),
            &Pem::file(&admin_cert.key).unwrap(),
        )),
    )
    .expect("client TLS");
    assert_eq!(tls.describe(), "TLS as admin");
    let admin = rt
        .block_on(Admin::connect_with(&sc_addr, &tls))
        .expect("admin over TLS");
    // Three in sync means the followers fetch from the leader over mutual TLS.
    let first = wait_partition(&rt, &admin, "moving-0", "online with 3 in sync", |p| {
        p.status.resolution == PartitionResolution::Online && p.status.lsr == 3
    });
    let fluvio = rt
        .block_on(Fluvio::connect_with(&sc_addr, &tls))
        .expect("connect over TLS");
    let producer = rt
        .block_on(fluvio.topic_producer(
            "moving",
            ProducerConfig {
                isolation: Isolation::ReadCommitted,
                linger: Duration::ZERO,
                max_attempts: 60,
                ..ProducerConfig::default()
            },
        ))
        .expect("producer");
    let send = |i: usize| {
        rt.block_on(async {
            let pending = producer
                .send(None, Bytes::from(format!("r{i}")))
                .await
                .expect("send");
            pending.wait().await
        })
    };
    for i in 0..20 {
        send(i).expect("acknowledged before the kill");
    }
    spus.get_mut(&first.spec.leader).expect("leader").kill();
    for i in 20..40 {
        send(i).unwrap_or_else(|err| panic!("record {i} after the kill: {err}"));
    }
    let moved = wait_partition(&rt, &admin, "moving-0", "a new leader", |p| {
        p.spec.leader != first.spec.leader && p.status.resolution == PartitionResolution::Online
    });
    assert_ne!(moved.spec.leader, first.spec.leader);

    // Everything acknowledged is there, read from the new leader over TLS.
    let consumed = cli(&sc_addr, &["consume", "moving", "-B", "-d"], &admin_flags);
    consumed.ok();
    let values: std::collections::BTreeSet<&str> = consumed.stdout.lines().collect();
    for i in 0..40 {
        assert!(
            values.contains(format!("r{i}").as_str()),
            "acknowledged record r{i} lost; got {values:?}"
        );
    }
}

#[test]
fn sighup_rotates_the_certificate_and_the_client_ca_for_new_connections() {
    let dir = temp_dir();
    let old_ca = Pki::new(dir.path(), "old-ca");
    let new_ca = Pki::new(dir.path(), "new-ca");
    let old_client = old_ca.issue("old-client", "old-client", &[], 7);
    let new_client = new_ca.issue("new-client", "new-client", &[], 8);
    // The daemon reads these paths; rotation overwrites them.
    let node = old_ca.issue("node", "node", &[], 100);
    let client_ca = dir.path().join("client-ca.crt");
    std::fs::copy(old_ca.ca_file(), &client_ca).unwrap();
    let flags = [
        "--tls-cert".to_string(),
        text(&node.cert),
        "--tls-key".into(),
        text(&node.key),
        "--tls-client-ca".into(),
        text(&client_ca),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start_with_args(Role::AllInOne { spus: 1 }, &dir.path().join("d"), &flags);
    let sc = daemon.public.to_string();
    cli(
        &sc,
        &["topic", "list"],
        &client_flags(&old_ca.ca_file(), &old_client),
    )
    .ok();
    cli(
        &sc,
        &["topic", "list"],
        &client_flags(&new_ca.ca_file(), &new_client),
    )
    .expect_code(1);

    // A broken file on SIGHUP: the error is logged, the old certificates stay.
    std::fs::write(&node.cert, "not a certificate").unwrap();
    let hup = |daemon: &Daemon| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &daemon.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    hup(&daemon);
    daemon.wait_for_log("TLS reload failed", Duration::from_secs(10));
    cli(
        &sc,
        &["topic", "list"],
        &client_flags(&old_ca.ca_file(), &old_client),
    )
    .ok();

    // The new CA's certificate (serial 200) and client CA in place, then SIGHUP.
    let rotated = new_ca.issue("rotated", "node", &[], 200);
    std::fs::copy(&rotated.cert, &node.cert).unwrap();
    std::fs::copy(&rotated.key, &node.key).unwrap();
    std::fs::copy(new_ca.ca_file(), &client_ca).unwrap();
    hup(&daemon);
    daemon.wait_for_log("reloaded for new connections", Duration::from_secs(10));
    // New connections: the new certificate (only the new CA verifies it), the new client
    // CA (the old client is refused).
    cli(
        &sc,
        &["topic", "list"],
        &client_flags(&new_ca.ca_file(), &new_client),
    )
    .ok();
    let old = cli(
        &sc,
        &["topic", "list"],
        &client_flags(&old_ca.ca_file(), &old_client),
    );
    assert_eq!(old.code, 1, "{old:?}");
    let old_client_new_ca = cli(
        &sc,
        &["topic", "list"],
        &client_flags(&new_ca.ca_file(), &old_client),
    );
    assert_eq!(old_client_new_ca.code, 1, "{old_client_new_ca:?}");
    // The old client's certificate presented with the new CA to check the server: the
    // client CA refuses it. The new client checking the server with the old CA: the
    // server's certificate is the new one, which that CA did not sign.
    let new_client_old_ca = cli(
        &sc,
        &["topic", "list"],
        &client_flags(&old_ca.ca_file(), &new_client),
    );
    assert_eq!(new_client_old_ca.code, 1, "{new_client_old_ca:?}");
    assert!(
        new_client_old_ca.stderr.contains("UnknownIssuer")
            || new_client_old_ca.stderr.contains("certificate"),
        "{}",
        new_client_old_ca.stderr
    );
}
