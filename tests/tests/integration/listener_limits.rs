//! Listener limits against a real daemon: a flood of connections from one address leaves
//! every port usable from another, frames that dribble in and connections that never
//! speak are closed while quiet consumers stay, and frames being received cannot grow
//! the daemon past its frame-memory budget.
//!
//! Floods come from 127.0.0.2 (loopback answers any 127.x.y.z source); the admin, the
//! producer, the consumer and the SPUs that must keep working come from 127.0.0.1.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use protocol::api::ApiVersionsRequest;
use protocol::sc::{SpuResolution, TokenType};
use tests::cli::{fluvio, fluvio_lines, fluvio_stdin};
use tests::client::ScClient;
use tests::{Daemon, Role, free_addr, temp_dir};

const FLOOD_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The issue's flood: just over the 1024 connections a server used to allow.
const FLOOD: usize = 1030;
const SECRET: &str = "abcdefgh12345678";

/// Connections to `target` from `source`, non-blocking; each says hello (an ApiVersions
/// request) first when `hello`, so it counts as a quiet client, not a silent one.
fn flood(target: SocketAddr, source: IpAddr, count: usize, hello: bool) -> Vec<TcpStream> {
    let runtime = tests::runtime();
    let mut streams: Vec<TcpStream> = runtime.block_on(async {
        let mut streams = Vec::with_capacity(count);
        for i in 0..count {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(SocketAddr::new(source, 0))
                .unwrap_or_else(|e| panic!("bind {source}: {e}"));
            let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(target))
                .await
                .unwrap_or_else(|_| panic!("connection {i} to {target} timed out"))
                .unwrap_or_else(|e| panic!("connection {i} to {target}: {e}"));
            streams.push(stream.into_std().expect("std stream"));
        }
        streams
    });
    if hello {
        let request = ApiVersionsRequest {
            client_version: "0.15.2".into(),
            client_os: "linux".into(),
            client_arch: "x86_64".into(),
        };
        for stream in &mut streams {
            // A connection closed at once may refuse the write; it shows as closed below.
            let _ = tests::wire::write_request(stream, 1, 18, 2, &request);
        }
    }
    streams
}

/// How many of `streams` the daemon still holds open, once it has had time to close the
/// ones over its limits.
fn still_open(streams: &[TcpStream]) -> usize {
    std::thread::sleep(Duration::from_secs(2));
    streams.iter().filter(|s| is_open(s)).count()
}

/// Open: the peer has not closed or reset it (an answer waiting to be read is fine).
fn is_open(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
        Err(_) => {
            // Reset; a read says so for sure.
            !matches!(stream.read(&mut byte), Ok(0) | Err(_))
        }
    }
}

fn secret_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("edge-secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    file
}

/// Register custom SPU `id` on the daemon's SC and start it with the `edge` token.
fn start_custom_spu(sc: &Daemon, admin: &mut ScClient, dir: &Path, id: i32) -> Daemon {
    let (public, private) = (free_addr(), free_addr());
    let status = admin
        .register_custom_spu(&format!("edge-{id}"), id, public, private)
        .expect("register the SPU");
    assert!(status.is_ok(), "{status:?}");
    Daemon::spawn_on(
        Role::Spu {
            id,
            sc_private: sc.private,
            token: Some(("edge".into(), secret_file(dir))),
            rack: None,
        },
        &dir.join(format!("spu-{id}")),
        public,
        private,
    )
}

fn spu_online(sc: SocketAddr, id: i32) -> bool {
    ScClient::connect(sc)
        .and_then(|mut c| c.watch_spus_snapshot())
        .map(|spus| {
            spus.iter()
                .any(|s| s.spec.id == id && s.status.resolution == SpuResolution::Online)
        })
        .unwrap_or(false)
}

/// The SPU public address of an all-in-one daemon's first managed SPU, from its log.
fn managed_spu_public(daemon: &Daemon) -> SocketAddr {
    daemon.wait_ready();
    let log = daemon.log();
    let at = log.find("SPU 5001 ready: public ").expect("SPU ready line") + 23;
    let addr = log[at..].split(',').next().expect("address");
    addr.parse()
        .unwrap_or_else(|e| panic!("SPU address {addr:?}: {e}"))
}

/// From 127.0.0.1: the admin creates and lists a topic, a producer writes a record and a
/// consumer reads it back.
fn admin_and_producer_are_served(sc: &str, topic: &str) {
    fluvio(sc, &["topic", "create", topic]).ok();
    let listed = fluvio(sc, &["topic", "list"]);
    listed.ok();
    assert!(listed.stdout.contains(topic), "{}", listed.stdout);
    let value = format!("{topic} survives the flood");
    fluvio_stdin(sc, &["produce", topic], format!("{value}\n").as_bytes()).ok();
    let consumed = fluvio(sc, &["consume", topic, "-B", "-d"]);
    consumed.ok();
    assert_eq!(consumed.stdout.trim(), value);
}

#[test]
fn a_flood_from_one_address_leaves_every_port_to_the_others() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    // A long first-frame deadline keeps the silent flood connections open: what keeps the
    // ports usable here is the per-peer limit alone.
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &[
            "--max-connections-per-peer",
            "50",
            "--first-frame-timeout",
            "10m",
        ],
    );
    let spu_public = managed_spu_public(&daemon);
    let sc = daemon.public.to_string();
    let mut admin = ScClient::connect(daemon.public).unwrap();
    let created = admin
        .create_token("edge", TokenType::Custom, 6000, 6010, SECRET)
        .unwrap();
    assert!(created.is_ok(), "{created:?}");

    let sc_public = flood(daemon.public, FLOOD_SOURCE, FLOOD, true);
    let spu = flood(spu_public, FLOOD_SOURCE, FLOOD, true);
    let sc_private = flood(daemon.private, FLOOD_SOURCE, FLOOD, false);
    assert_eq!(
        still_open(&sc_public),
        50,
        "SC public keeps 50 from the flood"
    );
    assert_eq!(still_open(&spu), 50, "SPU public keeps 50 from the flood");
    assert_eq!(
        still_open(&sc_private),
        50,
        "SC private keeps 50 from the flood"
    );

    admin_and_producer_are_served(&sc, "flooded");
    // An external SPU with a valid token still gets through the SC private port.
    let edge = start_custom_spu(&daemon, &mut admin, dir.path(), 6001);
    edge.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spu_online(daemon.public, 6001) {
        assert!(Instant::now() < deadline, "SPU 6001 never came online");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = daemon.log();
    assert!(
        log.contains("127.0.0.2 already has 50 connections open (--max-connections-per-peer)"),
        "{log}"
    );
    drop((sc_public, spu, sc_private));
}

#[test]
fn the_issues_flood_of_1030_connections_is_held_off_by_the_default_limits() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let spu_public = managed_spu_public(&daemon);
    let sc = daemon.public.to_string();
    let sc_public = flood(daemon.public, FLOOD_SOURCE, FLOOD, true);
    let spu = flood(spu_public, FLOOD_SOURCE, FLOOD, true);
    // The default per-peer limit is 1024 (room for 1000 clients on one machine).
    assert_eq!(still_open(&sc_public), 1024);
    assert_eq!(still_open(&spu), 1024);
    admin_and_producer_are_served(&sc, "defaults");
    drop((sc_public, spu));
}

/// Send `head`, then `bytes` one a second until the daemon closes the connection; how
/// many of `bytes` it took.
fn dribble_until_closed(
    mut stream: TcpStream,
    head: &[u8],
    bytes: &[u8],
    limit: Duration,
) -> Option<usize> {
    stream.write_all(head).expect("send the frame's head");
    let start = Instant::now();
    for (sent, byte) in bytes.iter().enumerate() {
        if start.elapsed() > limit {
            return None;
        }
        if stream.write_all(std::slice::from_ref(byte)).is_err() || !is_open(&stream) {
            return Some(sent);
        }
        stream.set_nonblocking(false).unwrap();
        std::thread::sleep(Duration::from_secs(1));
    }
    None
}

#[test]
fn a_frame_sent_a_byte_a_second_is_cut_off_while_an_idle_consumer_stays() {
    let dir = temp_dir();
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &["--frame-timeout", "2s"],
    );
    let spu_public = managed_spu_public(&daemon);
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "quiet"]).ok();
    let (mut consumer, lines) = fluvio_lines(&sc, &["consume", "quiet", "-B"]);
    fluvio_stdin(&sc, &["produce", "quiet"], b"before the wait\n").ok();
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(30)).as_deref(),
        Ok("before the wait")
    );

    // A frame announcing 64 MiB, then a byte a second: on the SPU port, then the SC port.
    let announce = (64i32 << 20).to_be_bytes();
    for (port, addr) in [("SPU public", spu_public), ("SC public", daemon.public)] {
        let stream = TcpStream::connect(addr).unwrap();
        let sent = dribble_until_closed(stream, &announce, &[7u8; 60], Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{port}: the slow frame was never cut off"));
        // Two seconds' worth of bytes, give or take scheduling; never the whole minute.
        assert!(sent < 30, "{port}: closed only after {sent} bytes");
    }
    let log = daemon.log();
    assert!(
        log.contains("a frame did not arrive whole within 2s of its first byte")
            && log.contains("of its 67108864 bytes arrived (--frame-timeout)"),
        "{log}"
    );

    // The consumer sent nothing for several frame timeouts, and still follows.
    std::thread::sleep(Duration::from_secs(7));
    fluvio_stdin(&sc, &["produce", "quiet"], b"after the wait\n").ok();
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(30)).as_deref(),
        Ok("after the wait")
    );
    assert!(consumer.try_wait().unwrap().is_none(), "the consumer ended");
    consumer.kill().ok();
    consumer.wait().ok();
}

#[test]
fn a_connection_that_never_speaks_is_closed_and_a_quiet_admin_is_not() {
    let dir = temp_dir();
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &["--first-frame-timeout", "2s", "--frame-timeout", "2s"],
    );
    let mut admin = ScClient::connect(daemon.public).unwrap();
    let mut silent = TcpStream::connect(daemon.public).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("a silent connection was not closed: {other:?}"),
    }
    let log = daemon.log();
    assert!(
        log.contains("no request within 2s of connecting (--first-frame-timeout)"),
        "{log}"
    );
    // The admin said hello and then nothing for longer than both deadlines: still served.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(admin.list_topics().unwrap(), Vec::<String>::new());
}

fn rss_bytes(pid: u32) -> u64 {
    tests::proc_memory(pid, "VmRSS")
}

#[test]
fn half_sent_frames_cannot_grow_the_daemon_past_its_frame_memory() {
    let _heavy = tests::cpu_heavy();
    const MIB: usize = 1 << 20;
    const FRAME: usize = 8 * MIB;
    const BUDGET: usize = 32 * MIB;
    const CONNECTIONS: usize = 40;
    let dir = temp_dir();
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &[
            "--max-frame-bytes",
            &FRAME.to_string(),
            "--frame-memory",
            "32MiB",
            "--frame-timeout",
            "10m",
            "--first-frame-timeout",
            "10m",
        ],
    );
    let spu_public = managed_spu_public(&daemon);
    let sc = daemon.public.to_string();
    // Warm the daemon up so the baseline includes what a normal client costs.
    admin_and_producer_are_served(&sc, "warm");
    let before = rss_bytes(daemon.id());

    // Each connection announces a frame of the largest size and sends half of it.
    let streams = flood(spu_public, FLOOD_SOURCE, CONNECTIONS, false);
    let mut half = (FRAME as i32).to_be_bytes().to_vec();
    half.extend(std::iter::repeat_n(0x5a, FRAME / 2));
    let mut sent = vec![0usize; CONNECTIONS];
    let mut peak = before;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && sent.iter().any(|&n| n < half.len()) {
        for (mut stream, sent) in streams.iter().zip(&mut sent) {
            match stream.write(&half[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("the daemon closed a half-sent frame: {e}"),
            }
        }
        peak = peak.max(rss_bytes(daemon.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the daemon time to read whatever it is going to read.
    for _ in 0..20 {
        peak = peak.max(rss_bytes(daemon.id()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let grown = peak.saturating_sub(before);
    let sent_total: usize = sent.iter().sum();
    assert!(
        sent_total > BUDGET * 2,
        "the test sent only {sent_total} bytes, not enough to exceed the budget"
    );
    assert!(
        grown < (BUDGET + 16 * MIB) as u64,
        "the daemon grew by {} MiB with {} MiB of half frames sent; budget {} MiB",
        grown / MIB as u64,
        sent_total / MIB,
        BUDGET / MIB
    );
    // Small requests do not wait for the budget: a normal client is served meanwhile.
    admin_and_producer_are_served(&sc, "served");
    drop(streams);
}
