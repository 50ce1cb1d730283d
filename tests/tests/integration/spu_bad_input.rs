//! Bad input on the SPU's public port: frames that cannot be read close only their own
//! connection; batches that are not valid are refused with an error code on a connection
//! that stays open. The SPU keeps serving the official client.

use protocol::api::ErrorCode;
use protocol::spu::Isolation;
use tests::client::ScClient;
use tests::inproc::InProcess;
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::wire::{abandon_frame, closes_after, frame, header, unreadable_frames};
use tests::{Role, python, temp_dir};

#[test]
fn bad_frames_and_bad_batches_leave_the_spu_serving() {
    let dir = temp_dir();
    let daemon = InProcess::start(Role::AllInOne { spus: 1 }, dir.path());
    let mut sc = ScClient::connect(daemon.public).unwrap();
    assert!(
        sc.create_topic("target", Default::default())
            .unwrap()
            .error_code
            .is_ok()
    );
    let addr = spu_addr(daemon.public, 5001);

    let mut cases = unreadable_frames();
    cases.extend([
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
    ]);
    for (name, bytes) in &cases {
        assert!(closes_after(addr, bytes), "{name}: connection stays open");
    }
    abandon_frame(addr);

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
