//! Decoding a hostile request costs the daemon at most a small multiple of the frame:
//! a List request (api 1003, v19) of millions of one-byte name filters used to cost about
//! 20x its size in memory. Each such request is refused with a clear log line, and the SC
//! goes on serving another client; a large request within the budget is served.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use protocol::api::sc_keys;
use protocol::sc::ObjectListResponse;
use protocol::{Decode, Encode, EncodeError};
use tests::client::{ScClient, VERSION};
use tests::{Daemon, Role, temp_dir, wire};

const MIB: u64 = 1024 * 1024;

/// An already encoded request body, written as it is.
struct RawBody(Vec<u8>);

impl Encode for RawBody {
    fn encode(&self, dst: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        dst.extend_from_slice(&self.0);
        Ok(())
    }
}

/// A Topic list request whose typed payload holds `count` copies of the name filter
/// `name`, then `last`: the label, the payload length, the filter count, the filters,
/// then the summary and system flags.
fn name_filters(name: &str, count: usize, last: &str) -> RawBody {
    let mut filters = Vec::with_capacity((2 + name.len()) * count + 2 + last.len());
    for _ in 0..count {
        name.encode(&mut filters, VERSION).unwrap();
    }
    last.encode(&mut filters, VERSION).unwrap();
    let payload_len = 4 + filters.len() + 2;
    let mut body = Vec::with_capacity(2 + 5 + 4 + payload_len);
    "Topic".encode(&mut body, VERSION).unwrap();
    body.extend_from_slice(&(payload_len as u32).to_be_bytes());
    body.extend_from_slice(&(count as u32 + 1).to_be_bytes());
    body.append(&mut filters);
    body.extend_from_slice(&[0, 0]);
    RawBody(body)
}

fn peak_rss(pid: u32) -> u64 {
    tests::proc_memory(pid, "VmHWM")
}

/// Send the request on a fresh connection; the answer's body, or `None` when the SC
/// closed the connection instead.
fn send_and_see(daemon: &Daemon, body: &RawBody) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(daemon.public).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    // The SC may close the connection before it has read everything; that is an answer too.
    let _ = wire::write_request(&mut stream, 7, sc_keys::LIST, VERSION, body);
    match wire::read_response(&mut stream) {
        Ok((corr, answer)) => {
            assert_eq!(corr, 7);
            Some(answer)
        }
        Err(err) => {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ),
                "the SC neither answered nor closed the connection: {err}"
            );
            let mut rest = [0u8; 1];
            assert!(matches!(stream.read(&mut rest), Ok(0) | Err(_)));
            None
        }
    }
}

/// Send `body` and measure how much the SC's peak RSS grew; fails past 5x the frame plus
/// 64 MiB.
fn send_bounded(daemon: &Daemon, body: RawBody) -> Option<Vec<u8>> {
    let frame = body.0.len() as u64;
    let before = peak_rss(daemon.id());
    let answer = send_and_see(daemon, &body);
    drop(body);
    let growth = peak_rss(daemon.id()).saturating_sub(before);
    eprintln!(
        "a {frame}-byte list request raised the SC's peak RSS by {growth} bytes ({:.2}x)",
        growth as f64 / frame as f64
    );
    assert!(
        growth <= 5 * frame + 64 * MIB,
        "a {frame}-byte list request raised the SC's peak RSS by {growth} bytes ({:.1}x)",
        growth as f64 / frame as f64
    );
    answer
}

fn topic_names(answer: &[u8]) -> Vec<String> {
    match ObjectListResponse::from_bytes(answer, VERSION).unwrap() {
        ObjectListResponse::Topic(items) => items.into_iter().map(|m| m.name).collect(),
        other => panic!("not a topic list: {other:?}"),
    }
}

#[test]
fn one_byte_name_filters_cost_a_bounded_multiple_of_the_frame() {
    let _heavy = tests::cpu_heavy();
    let dir = temp_dir();
    let daemon = Daemon::start(
        Role::Sc {
            allow_unauthenticated_spus: false,
        },
        dir.path(),
    );
    let mut admin = ScClient::connect(daemon.public).unwrap();
    admin.create_topic("kept", tests::topic_spec(1)).unwrap();
    assert_eq!(admin.list_topics().unwrap(), vec!["kept".to_string()]);

    // Sixteen-byte names cost 56 bytes each decoded for 18 on the wire: within the budget,
    // so an 11 MiB request of them is served (first, while the peak is still low), and its
    // last filter finds the topic.
    let answer = send_bounded(&daemon, name_filters("zzzzzzzzzzzzzzzz", 640_000, "kep"))
        .expect("the SC answers a list request within the budget");
    assert_eq!(topic_names(&answer), vec!["kept".to_string()]);

    // About 11 MiB and 94 MiB, the two frames of the original report: refused.
    for count in [3_850_000usize, 32_850_000] {
        let answer = send_bounded(&daemon, name_filters("a", count, "a"));
        assert!(answer.is_none(), "the SC decoded {count} one-byte filters");
        daemon.wait_for_log("too much memory to decode", Duration::from_secs(30));
        // Another client is still served, and sees what it saw before.
        let mut other = ScClient::connect(daemon.public).unwrap();
        assert_eq!(other.list_topics().unwrap(), vec!["kept".to_string()]);
    }
    assert_eq!(admin.list_topics().unwrap(), vec!["kept".to_string()]);
    let log = daemon.log();
    assert!(
        log.contains("malformed request (api key 1003, version 19)"),
        "{log}"
    );
    assert!(
        log.contains("ListFilter"),
        "the log names what was refused: {log}"
    );
}
