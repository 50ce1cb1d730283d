//! Blocking frame I/O shared by the tests' raw SC and SPU clients, and hand-made frames
//! for the bad-input tests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::Encode;
use protocol::api::{RequestHeader, encode_request_frame};

/// Write one request frame with correlation id `corr`.
pub fn write_request<B: Encode>(
    stream: &mut TcpStream,
    corr: i32,
    api_key: u16,
    version: i16,
    body: &B,
) -> io::Result<()> {
    let header = RequestHeader {
        api_key,
        api_version: version,
        correlation_id: corr,
        client_id: "tests".into(),
    };
    let frame = encode_request_frame(&header, body).map_err(io::Error::other)?;
    stream.write_all(&frame)
}

/// Read one response frame: its correlation id and the body after it.
pub fn read_response(stream: &mut TcpStream) -> io::Result<(i32, Vec<u8>)> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if len < 4 {
        return Err(io::Error::other(format!("bad response length {len}")));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body)?;
    let corr = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    Ok((corr, body.split_off(4)))
}

/// `body` behind its 4-byte size prefix, as a client would frame it, whatever it holds.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The encoded request header of `api_key` at `version`, to build frames by hand.
pub fn header(api_key: u16, version: i16) -> Vec<u8> {
    RequestHeader {
        api_key,
        api_version: version,
        correlation_id: 1,
        client_id: "bad".into(),
    }
    .to_bytes(0)
    .expect("a request header encodes")
}

/// Send `bytes` and report whether the server closed the connection (EOF or reset)
/// within a few seconds without answering.
pub fn closes_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
        && !matches!(stream.read(&mut buf), Ok(n) if n > 0)
}

/// Frames no server can read, each with its name: every listener must close the
/// connection they come on (and only that one). Callers add their own port's cases.
pub fn unreadable_frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut oversize = (200 * 1024 * 1024i32).to_be_bytes().to_vec();
    oversize.extend_from_slice(&[0; 16]);
    vec![
        ("garbage header", frame(b"\xff\xff\xff")),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("oversize frame", oversize),
        ("unknown api key", frame(&header(4242, 0))),
    ]
}

/// Start a frame, send a few of its bytes and go away.
pub fn abandon_frame(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(&[0, 0, 0, 100, 1, 2, 3])
        .expect("write part of a frame");
}
