//! Garbage on the SC ports closes only the offending connection; the SC keeps serving the
//! official client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::Encode;
use protocol::api::RequestHeader;
use tests::{Daemon, Role, python, temp_dir};

/// Send `bytes` and report whether the server closed the connection (EOF or reset)
/// within a few seconds without answering.
fn closes_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
        && !matches!(stream.read(&mut buf), Ok(n) if n > 0)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn header(api_key: u16) -> Vec<u8> {
    RequestHeader {
        api_key,
        api_version: 0,
        correlation_id: 1,
        client_id: "bad".into(),
    }
    .to_bytes(0)
    .unwrap()
}

#[test]
fn bad_frames_on_both_ports_leave_the_sc_serving() {
    let dir = temp_dir();
    let daemon = Daemon::spawn(
        Role::Sc {
            allow_unauthenticated_spus: false,
        },
        dir.path(),
    );
    daemon.wait_ready();
    let mut oversize = (200 * 1024 * 1024i32).to_be_bytes().to_vec();
    oversize.extend_from_slice(&[0; 16]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage header", frame(b"\xff\xff\xff")),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("oversize frame", oversize),
        ("unknown api key", frame(&header(4242))),
        (
            "malformed body",
            frame(&[header(1001), vec![0, 0, 0, 9]].concat()),
        ),
        ("truncated header", frame(&header(18)[..3])),
    ];
    for addr in [daemon.public, daemon.private] {
        for (name, bytes) in &cases {
            assert!(
                closes_after(addr, bytes),
                "{name} on {addr}: connection stays open"
            );
        }
        // A frame cut off mid-way, then the client goes away.
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
        drop(stream);
    }
    let log = daemon.log();
    assert!(log.contains("unknown api key 4242"), "{log}");
    assert!(log.contains("exceeds the limit"), "{log}");

    let out = python::run_ok(
        r#"
import sys
from fluvio import FluvioAdmin, FluvioConfig
admin = FluvioAdmin.connect_with_config(FluvioConfig.new(sys.argv[1]))
admin.create_topic("still-here")
print(sorted(t.name() for t in admin.all_topics()))
"#,
        &[&daemon.public.to_string()],
    );
    assert_eq!(out.trim(), "['still-here']");
}
