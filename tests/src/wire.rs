//! Blocking frame I/O shared by the tests' raw SC and SPU clients.

use std::io::{self, Read, Write};
use std::net::TcpStream;

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
