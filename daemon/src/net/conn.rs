//! One connection: read frames, hand each request to the service, write what it answers.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use protocol::api::RequestHeader;
use protocol::{Decode, Reader};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::frames::{FrameReadError, FrameReader, ReadLimits};
use super::limits::LogThrottle;
use super::sink::{Outgoing, QUEUE_FRAMES, ResponseSink};
use crate::storage::FileRange;

/// How long a closing connection waits for queued frames to be written.
const WRITER_DRAIN: std::time::Duration = std::time::Duration::from_millis(500);
use super::{Peer, RequestError, Service};

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

/// What every connection of one server reads under, and where it reports missed deadlines.
pub(super) struct ConnLimits {
    pub max_frame_bytes: usize,
    pub read: ReadLimits,
    /// Missed deadlines come in floods when someone is attacking the port.
    pub timeouts_log: LogThrottle,
}

/// Serve one connection until the peer closes it, it breaks the protocol, misses a
/// deadline, or shutdown.
pub(super) async fn run<S: Service>(
    name: &'static str,
    service: Arc<S>,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Arc<ConnLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let _open = crate::metrics::connection_opened(name);
    let (reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
    let writer_task = tokio::spawn(write_frames(writer, rx));
    let mut session = service.open(&Peer::plain(peer), ResponseSink::new(tx));
    let mut frames = FrameReader::with_limits(reader, limits.max_frame_bytes, limits.read.clone());
    debug!(server = name, %peer, "connection accepted");

    loop {
        let read = tokio::select! {
            read = frames.next_reserved() => read,
            _ = shutdown.changed() => break,
        };
        // The frame's share of the memory budget is held until its request was handled.
        let (frame, _memory) = match read {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                debug!(server = name, %peer, "connection closed by peer");
                break;
            }
            Err(err @ (FrameReadError::Bad(_) | FrameReadError::Truncated { .. })) => {
                warn!(server = name, %peer, %err, "bad frame; closing the connection");
                break;
            }
            Err(err @ FrameReadError::TimedOut { .. }) => {
                if let Some(left_out) = limits.timeouts_log.allow() {
                    warn!(server = name, %peer, %err, left_out, "deadline missed; closing the connection");
                }
                break;
            }
            Err(FrameReadError::Io(err)) => {
                debug!(server = name, %peer, %err, "read failed");
                break;
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
        let started = std::time::Instant::now();
        let handled = service.call(&mut session, request).await;
        crate::metrics::request_done(name, api_key, started);
        if let Err(err) = handled {
            match &err {
                RequestError::Malformed { .. } | RequestError::MalformedKafka { .. } => {
                    crate::metrics::request_failed(name, api_key, "malformed")
                }
                RequestError::UnknownApiKey { .. } => {
                    crate::metrics::request_failed(name, api_key, "unknown_api_key")
                }
                RequestError::UnsupportedVersion { .. } => {
                    crate::metrics::request_failed(name, api_key, "unsupported_version")
                }
                RequestError::Refused(_) => {
                    crate::metrics::request_failed(name, api_key, "refused")
                }
                RequestError::Encode(_)
                | RequestError::EncodeKafka(_)
                | RequestError::Closed(_) => {}
            }
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
