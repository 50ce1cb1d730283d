//! Bad input on the SPU's public port: frames that cannot be read close only their own
//! connection; batches that are not valid are refused with an error code on a connection
//! that stays open. The SPU keeps serving the official client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::Encode;
use protocol::api::{ErrorCode, RequestHeader};
use protocol::spu::Isolation;
use tests::client::ScClient;
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::{Daemon, Role, python, temp_dir};

/// Send `bytes` and report whether the server closed the connection without answering.
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

fn header(api_key: u16, version: i16) -> Vec<u8> {
    RequestHeader {
        api_key,
        api_version: version,
        correlation_id: 1,
        client_id: "bad".into(),
    }
    .to_bytes(0)
    .unwrap()
}

#[test]
fn bad_frames_and_bad_batches_leave_the_spu_serving() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let mut sc = ScClient::connect(daemon.public).unwrap();
    assert!(
        sc.create_topic("target", Default::default())
            .unwrap()
            .error_code
            .is_ok()
    );
    let addr = spu_addr(daemon.public, 5001);

    let mut oversize = (200 * 1024 * 1024i32).to_be_bytes().to_vec();
    oversize.extend_from_slice(&[0; 16]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage header", frame(b"\xff\xff\xff")),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("oversize frame", oversize),
        ("unknown api key", frame(&header(4242, 0))),
        (
            "truncated produce body",
            frame(&[header(0, 24), vec![0, 0, 1, 0, 0]].concat()),
        ),
        (
            "record set longer than the frame",
            frame(
                &[
                    header(0, 24),
                    vec![0, 0, 1, 0, 0, 5, 0xdc, 0, 0, 0, 1, 0, 6],
                    b"target".to_vec(),
                    vec![0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0, 0, 0],
                ]
                .concat(),
            ),
        ),
        ("truncated header", frame(&header(18, 2)[..3])),
    ];
    for (name, bytes) in &cases {
        assert!(closes_after(addr, bytes), "{name}: connection stays open");
    }
    // A frame cut off mid-way, then the client goes away.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
    drop(stream);

    // Batches that are not valid get an error code; the connection goes on.
    let mut spu = SpuClient::connect(addr).unwrap();
    let mut bad_crc = batch_of(&[b"one", b"two"]);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    let mut bad_length = batch_of(&[b"one"]);
    bad_length[8..12].copy_from_slice(&1000i32.to_be_bytes());
    let mut short_length = batch_of(&[b"one"]);
    short_length[8..12].copy_from_slice(&3i32.to_be_bytes());
    for (name, batch) in [
        ("bad crc", bad_crc),
        ("length past the end", bad_length),
        ("length below a header", short_length),
        ("junk", b"not a batch at all".to_vec()),
    ] {
        let r = spu
            .produce("target", 0, batch, Isolation::ReadUncommitted)
            .unwrap();
        assert!(
            matches!(&r.error_code, ErrorCode::Other(m) if m.contains("invalid batch")),
            "{name}: {:?}",
            r.error_code
        );
    }
    let good = spu
        .produce(
            "target",
            0,
            batch_of(&[b"good"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    assert_eq!((good.error_code, good.base_offset), (ErrorCode::None, 0));

    let log = daemon.log();
    assert!(log.contains("unknown api key 4242"), "{log}");
    assert!(log.contains("exceeds the limit"), "{log}");

    let out = python::run_ok(
        r#"
import sys, itertools
from fluvio import Fluvio, FluvioConfig, Offset
f = Fluvio.connect_with_config(FluvioConfig.new(sys.argv[1]))
p = f.topic_producer("target")
print("offset", p.send(b"k", b"after-the-garbage").wait().offset())
s = f.partition_consumer("target", 0).stream(Offset.beginning())
print("read", [r.value_string() for r in itertools.islice(s, 2)])
"#,
        &[&daemon.public.to_string()],
    );
    assert!(out.contains("offset 1\n"), "{out}");
    assert!(out.contains("read ['good', 'after-the-garbage']"), "{out}");
}
