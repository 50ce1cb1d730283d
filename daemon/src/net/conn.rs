//! One connection: read frames, hand each request to the service, write what it answers.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use protocol::api::RequestHeader;
use protocol::frame::{FRAME_PREFIX_LEN, peek_frame_len, take_frame};
use protocol::{Decode, Reader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::sink::{Outgoing, QUEUE_FRAMES, ResponseSink};
use crate::storage::FileRange;

/// How long a closing connection waits for queued frames to be written.
const WRITER_DRAIN: std::time::Duration = std::time::Duration::from_millis(500);
use super::{RequestError, Service};

/// One request as read off the wire: the decoded header and the body that follows it,
/// still to be decoded at `header.api_version`.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: RequestHeader,
    pub body: Bytes,
}

impl Request {
    /// Decode the body as `T` at the header's version; trailing bytes are an error.
    pub fn decode<T: Decode>(&self) -> Result<T, RequestError> {
        T::from_bytes(&self.body, self.header.api_version).map_err(|source| {
            RequestError::Malformed {
                api_key: self.header.api_key,
                version: self.header.api_version,
                source,
            }
        })
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    pub fn version(&self) -> i16 {
        self.header.api_version
    }
}

/// Serve one connection until the peer closes it, it breaks the protocol, or shutdown.
pub(super) async fn run<S: Service>(
    name: &'static str,
    service: Arc<S>,
    stream: TcpStream,
    peer: SocketAddr,
    max_frame_bytes: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
    let writer_task = tokio::spawn(write_frames(writer, rx));
    let mut session = service.open(peer, ResponseSink::new(tx));
    let mut buf = BytesMut::with_capacity(4096);
    debug!(server = name, %peer, "connection accepted");

    loop {
        let frame = if big_frame_pending(&buf, max_frame_bytes) {
            let read = tokio::select! {
                read = read_own_frame(&mut reader, &mut buf) => read,
                _ = shutdown.changed() => break,
            };
            match read {
                Ok(frame) => frame,
                Err(err) => {
                    debug!(server = name, %peer, %err, "reading a frame failed");
                    break;
                }
            }
        } else {
            match take_frame(&mut buf, max_frame_bytes) {
                Ok(Some(frame)) => frame.freeze(),
                Ok(None) => {
                    // A frame's first read is small: if the frame is large, the rest goes
                    // into a buffer of its own and little is copied over.
                    let room = if buf.is_empty() {
                        FIRST_READ
                    } else {
                        usize::MAX
                    };
                    let mut limited = (&mut reader).take(room as u64);
                    tokio::select! {
                        read = limited.read_buf(&mut buf) => match read {
                            Ok(0) if buf.is_empty() => {
                                debug!(server = name, %peer, "connection closed by peer");
                                break;
                            }
                            Ok(0) => {
                                warn!(server = name, %peer, pending = buf.len(), "connection closed in the middle of a frame");
                                break;
                            }
                            Ok(_) => continue,
                            Err(err) => {
                                debug!(server = name, %peer, %err, "read failed");
                                break;
                            }
                        },
                        _ = shutdown.changed() => break,
                    }
                }
                Err(err) => {
                    warn!(server = name, %peer, %err, "bad frame; closing the connection");
                    break;
                }
            }
        };

        let mut src = Reader::new(&frame);
        let header = match RequestHeader::read(&mut src) {
            Ok(header) => header,
            Err(err) => {
                warn!(server = name, %peer, %err, "malformed request header; closing the connection");
                break;
            }
        };
        let header_len = src.position();
        // The body takes over the frame (no second reference), so a handler that ends up
        // holding its only reference may reuse its bytes in place.
        let mut body = frame;
        body.advance(header_len);
        let api_key = header.api_key;
        let request = Request { header, body };
        if let Err(err) = service.call(&mut session, request).await {
            match err {
                RequestError::Closed(_) => {
                    debug!(server = name, %peer, api_key, "connection closed while answering")
                }
                err => warn!(server = name, %peer, api_key, %err, "closing the connection"),
            }
            break;
        }
    }

    service.close(session).await;
    // Let frames already queued (a last answer) reach the peer, then drop the writer's
    // receiver, which ends every stream still writing to this connection.
    let mut writer_task = writer_task;
    if tokio::time::timeout(WRITER_DRAIN, &mut writer_task)
        .await
        .is_err()
    {
        writer_task.abort();
    }
    debug!(server = name, %peer, "connection ended");
}

/// What a frame's first read takes at most (see [`read_own_frame`]).
const FIRST_READ: usize = 8 * 1024;

/// Frames from this size on are read into a buffer of their own.
const OWN_BUFFER_MIN: usize = 64 * 1024;

/// Whether `buf` starts a large frame it does not hold whole yet.
fn big_frame_pending(buf: &[u8], max: usize) -> bool {
    matches!(peek_frame_len(buf, max), Ok(Some(size))
        if size >= OWN_BUFFER_MIN && buf.len() < FRAME_PREFIX_LEN + size)
}

/// Read the rest of the large frame `buf` starts into a buffer of exactly its size and
/// return its body. Cut from the shared read buffer, the frame would share its allocation
/// with the bytes after it, and a produce could not take its batches over to rewrite their
/// offsets in place; read on its own, the frame is never copied after the socket's copy.
/// The buffer's pages are touched only as bytes arrive, so announcing a large frame and
/// sending nothing costs address space, not memory.
async fn read_own_frame(reader: &mut OwnedReadHalf, buf: &mut BytesMut) -> std::io::Result<Bytes> {
    let size = match peek_frame_len(buf, usize::MAX) {
        Ok(Some(size)) => size,
        _ => return Err(std::io::Error::other("no frame prefix")),
    };
    buf.advance(FRAME_PREFIX_LEN);
    let mut body = BytesMut::with_capacity(size);
    body.extend_from_slice(buf);
    buf.clear();
    while body.len() < size {
        let missing = (size - body.len()) as u64;
        if (&mut *reader).take(missing).read_buf(&mut body).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed {} bytes into a frame of {size}",
                    body.len()
                ),
            ));
        }
    }
    Ok(body.freeze())
}

/// Write queued frames in order; each is one whole frame, so streams never interleave.
async fn write_frames(mut writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(frame) = rx.recv().await {
        let written = match frame {
            Outgoing::Bytes(bytes) => writer.write_all(&bytes).await,
            Outgoing::Spliced { head, ranges } => write_spliced(&mut writer, &head, &ranges).await,
        };
        if let Err(err) = written {
            // A spliced frame cut short leaves the peer mid-frame: the connection is done.
            debug!(%err, "write failed; closing the connection");
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// The head from memory, then each file range with `sendfile(2)` straight to the socket.
async fn write_spliced(
    writer: &mut OwnedWriteHalf,
    head: &[u8],
    ranges: &[FileRange],
) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    use tokio::io::Interest;

    writer.write_all(head).await?;
    writer.flush().await?;
    let stream = writer.as_ref();
    for range in ranges {
        let mut sent = 0u64;
        while sent < range.len() {
            stream.writable().await?;
            match stream.try_io(Interest::WRITABLE, || range.send_once(stream.as_fd(), sent)) {
                Ok(n) => sent += n as u64,
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// What the connection loop reads first when its buffer is empty.
    async fn first_read(reader: &mut OwnedReadHalf) -> BytesMut {
        let mut buf = BytesMut::new();
        reader
            .take(FIRST_READ as u64)
            .read_buf(&mut buf)
            .await
            .unwrap();
        buf
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn a_large_frame_is_read_alone_into_a_buffer_it_owns() {
        let (mut client, server) = pair().await;
        let (mut reader, _writer) = server.into_split();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let small = b"next frame".to_vec();
        let sent = [frame(&big), frame(&small)].concat();
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(70_000) {
                client.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let mut buf = first_read(&mut reader).await;
        assert!(big_frame_pending(&buf, 1 << 20));
        assert!(
            !big_frame_pending(&buf, 1000),
            "over the limit is take_frame's to refuse"
        );
        let body = read_own_frame(&mut reader, &mut buf).await.unwrap();
        assert_eq!(&body[..], &big[..]);
        assert!(buf.is_empty());
        // Nobody else holds the allocation: a handler can take the bytes over.
        assert!(body.try_into_mut().is_ok());
        // The next frame was left on the socket, whole.
        let _client = writer.await.unwrap();
        let mut rest = vec![0u8; 4 + small.len()];
        reader.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, frame(&small));
    }

    #[tokio::test]
    async fn a_large_frame_cut_short_is_an_error() {
        let (mut client, server) = pair().await;
        let (mut reader, _writer) = server.into_split();
        client
            .write_all(&frame(&vec![1u8; 100_000])[..50_000])
            .await
            .unwrap();
        drop(client);
        let mut buf = first_read(&mut reader).await;
        let err = read_own_frame(&mut reader, &mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("of 100000"), "{err}");
    }
}
