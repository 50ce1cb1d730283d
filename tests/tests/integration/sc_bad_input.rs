//! Garbage on the SC ports closes only the offending connection; the SC keeps serving the
//! official client.

use tests::inproc::InProcess;
use tests::wire::{abandon_frame, closes_after, frame, header, unreadable_frames};
use tests::{Role, python, temp_dir};

#[test]
fn bad_frames_on_both_ports_leave_the_sc_serving() {
    let dir = temp_dir();
    let daemon = InProcess::start(
        Role::Sc {
            allow_unauthenticated_spus: false,
        },
        dir.path(),
    );
    let mut cases = unreadable_frames();
    cases.extend([
        (
            "malformed body",
            frame(&[header(1001, 0), vec![0, 0, 0, 9]].concat()),
        ),
        ("truncated header", frame(&header(18, 0)[..3])),
    ]);
    for addr in [daemon.public, daemon.private] {
        for (name, bytes) in &cases {
            assert!(
                closes_after(addr, bytes),
                "{name} on {addr}: connection stays open"
            );
        }
        abandon_frame(addr);
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
