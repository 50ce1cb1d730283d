//! Client-side framing, for the daemon's own outgoing connections: the SPU's link to the
//! SC and a follower's connection to its leader. Requests go out as whole frames with a
//! correlation id; responses come back through a [`FrameReader`] with theirs, so the caller
//! can tell a stream's frames from the answers to its other requests. (The server side of
//! a connection is the accept loop, reader and writer task of this module's parent.)
//!
//! [`connect`] opens the connection, with TLS when the daemon has it on; callers see the
//! same boxed halves either way.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use protocol::api::{RequestHeader, encode_request_frame};
use protocol::internal::ApiRequest;
use protocol::{Decode, Reader};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::FrameReader;
use super::tls::{Tls, host_of};

/// The reading half of an outgoing connection, plaintext or TLS.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of an outgoing connection, plaintext or TLS.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Connect to `addr` (`HOST:PORT`) within `timeout`, with TLS when `tls` is given (the
/// peer verified against `--tls-ca`, this node's certificate presented as its identity).
pub async fn connect(
    addr: &str,
    tls: Option<&Arc<Tls>>,
    timeout: Duration,
) -> io::Result<(ReadHalf, WriteHalf)> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    match tls {
        None => {
            let (reader, writer) = stream.into_split();
            Ok((Box::new(reader), Box::new(writer)))
        }
        Some(tls) => {
            let stream = tls
                .connect(stream, host_of(addr), timeout)
                .await
                .map_err(io::Error::other)?;
            let (reader, writer) = tokio::io::split(stream);
            Ok((Box::new(reader), Box::new(writer)))
        }
    }
}

/// `request` as one frame, with the SPU's client id.
fn request_frame<R: ApiRequest>(request: &R, corr: i32) -> io::Result<Vec<u8>> {
    let header: RequestHeader = R::header(corr, "fluvio-spu");
    encode_request_frame(&header, request).map_err(io::Error::other)
}

/// Response frames read from one outgoing connection.
pub struct Frames {
    frames: FrameReader<ReadHalf>,
    /// Names the peer in errors.
    peer: &'static str,
}

impl Frames {
    pub fn new(reader: ReadHalf, max: usize, peer: &'static str) -> Self {
        Self {
            frames: FrameReader::new(reader, max),
            peer,
        }
    }

    /// The next response: its correlation id and body. Cancel safe.
    pub async fn next(&mut self) -> io::Result<(i32, bytes::Bytes)> {
        let Some(frame) = self.frames.next().await? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the {} closed the connection", self.peer),
            ));
        };
        let mut src = Reader::new(&frame);
        let corr = i32::decode(&mut src, 0).map_err(io::Error::other)?;
        let at = src.position();
        Ok((corr, frame.slice(at..)))
    }
}

/// Write `request` as one frame.
pub async fn send<R: ApiRequest>(writer: &mut WriteHalf, request: &R, corr: i32) -> io::Result<()> {
    writer.write_all(&request_frame(request, corr)?).await?;
    // A TLS stream may hold the frame's last record until flushed; plaintext: no-op.
    writer.flush().await
}

/// Decode a whole response body (version 0 of our internal messages).
pub fn decode<T: Decode>(body: &[u8]) -> io::Result<T> {
    T::from_bytes(body, 0).map_err(io::Error::other)
}

/// A whole response body in `version`.
pub fn decode_versioned<T: Decode>(body: &[u8], version: protocol::Version) -> io::Result<T> {
    T::from_bytes(body, version).map_err(io::Error::other)
}

/// [`decode`] whose record sets are slices of `body`, not copies. The whole body must be
/// one message.
pub fn decode_shared<T: Decode>(body: &bytes::Bytes) -> io::Result<T> {
    let mut src = Reader::shared(body);
    let value = T::decode(&mut src, 0).map_err(io::Error::other)?;
    src.finish("frame").map_err(io::Error::other)?;
    Ok(value)
}
