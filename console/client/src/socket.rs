//! One TCP connection to an SC or SPU, shared by many requests at once.
//!
//! Requests are tagged with correlation ids; a reader task routes every response frame to
//! whoever waits for that id. A serial request waits for one frame; a stream (watch, stream
//! fetch) receives every frame on its id until it is dropped, which unregisters it. Frames
//! are written whole under a lock, so concurrent requests never interleave bytes.
//! The connection is plaintext or TLS per the cluster's [`ClientTls`].

use std::collections::HashMap;
use std::io::IoSlice;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::api::versions::{API_VERSIONS_CLIENT_VERSION, API_VERSIONS_KEY};
use protocol::api::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader, encode_request_frame};
use protocol::frame::{DEFAULT_MAX_FRAME_BYTES, take_frame};
use protocol::{Decode, Encode, EncodeError, Reader, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::error::{ClientError, Peer};
use super::tls::{ClientTls, ReadHalf, WriteHalf};

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a serial request waits for its answer (the official client's default).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Frames a stream may hold unread before the reader waits for its consumer.
const STREAM_BUFFER: usize = 64;
/// The client id sent in request headers.
pub const CLIENT_ID: &str = "fluvio";

enum Waiter {
    Once(oneshot::Sender<Bytes>),
    Stream(mpsc::Sender<Bytes>),
}

#[derive(Default)]
struct Waiters {
    by_id: HashMap<i32, Waiter>,
    /// Set when the connection is gone; no new waiter may register after that.
    closed: bool,
}

struct Shared {
    writer: tokio::sync::Mutex<WriteHalf>,
    waiters: Mutex<Waiters>,
    next_id: AtomicI32,
}

/// A connection, cheap to clone; the reader task ends when the socket closes, or when the
/// last clone is dropped, which closes the connection.
#[derive(Clone)]
pub struct Socket {
    shared: Arc<Shared>,
    _reader: Arc<StopReader>,
    peer: Peer,
    addr: String,
    versions: Arc<ApiVersionsResponse>,
    tls: ClientTls,
}

/// Frames of a streaming request, in order. Dropping it stops routing (the server is not
/// told; there is no cancel message in the protocol).
pub struct FrameStream {
    frames: mpsc::Receiver<Bytes>,
    peer: Peer,
    addr: String,
    id: i32,
    /// Weak: a stream alone does not keep the connection open.
    shared: std::sync::Weak<Shared>,
}

impl Drop for FrameStream {
    fn drop(&mut self) {
        // Otherwise the entry stays until the server sends on this id again, which for a
        // finished stream is never: one entry per stream for the connection's lifetime.
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.waiters).by_id.remove(&self.id);
        }
    }
}

impl FrameStream {
    /// The next frame's body after the correlation id; `Err(ConnectionLost)` once the
    /// connection is gone.
    pub async fn next(&mut self) -> Result<Bytes, ClientError> {
        self.frames
            .recv()
            .await
            .ok_or_else(|| ClientError::ConnectionLost {
                peer: self.peer,
                addr: self.addr.clone(),
            })
    }
}

impl Socket {
    /// Connect in plaintext and run the ApiVersions handshake.
    pub async fn connect(addr: &str, peer: Peer) -> Result<Socket, ClientError> {
        Self::connect_with(addr, peer, &ClientTls::disabled()).await
    }

    /// Connect (with TLS per `tls`) and run the ApiVersions handshake (correlation id 1,
    /// before multiplexing).
    pub async fn connect_with(
        addr: &str,
        peer: Peer,
        tls: &ClientTls,
    ) -> Result<Socket, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            peer,
            addr: addr.to_string(),
            reason,
        };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(err)) => return Err(unreachable(io_reason(&err))),
            Ok(Ok(stream)) => stream,
        };
        stream.set_nodelay(true).ok();
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tls.wrap(stream, host)).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "the TLS handshake did not finish within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(err)) => return Err(unreachable(err.to_string())),
            Ok(Ok(stream)) => stream,
        };
        let (mut reader, mut writer) = stream.split();

        let header = RequestHeader {
            api_key: API_VERSIONS_KEY,
            api_version: API_VERSIONS_CLIENT_VERSION,
            correlation_id: 1,
            client_id: CLIENT_ID.to_string(),
        };
        let frame = encode_request_frame(&header, &ApiVersionsRequest::official_client())?;
        // Closed before the first answer: most often a TLS mismatch, worth naming.
        let lost = || ClientError::Unreachable {
            peer,
            addr: addr.to_string(),
            reason: tls.closed_at_handshake().to_string(),
        };
        writer.write_all(&frame).await.map_err(|_| lost())?;
        writer.flush().await.map_err(|_| lost())?;
        let mut buf = BytesMut::with_capacity(4096);
        let body = tokio::time::timeout(REQUEST_TIMEOUT, read_frame(&mut reader, &mut buf))
            .await
            .map_err(|_| ClientError::Timeout {
                peer,
                addr: addr.to_string(),
                secs: REQUEST_TIMEOUT.as_secs(),
            })?
            .ok_or_else(lost)?;
        let bad = |source| ClientError::BadResponse {
            peer,
            addr: addr.to_string(),
            source,
        };
        let mut body_reader = Reader::new(&body);
        let _correlation = i32::decode(&mut body_reader, 0).map_err(bad)?;
        let versions = ApiVersionsResponse::decode(&mut body_reader, API_VERSIONS_CLIENT_VERSION)
            .map_err(bad)?;
        if versions.error_code.is_error() {
            return Err(ClientError::Incompatible {
                peer,
                addr: addr.to_string(),
                reason: format!("ApiVersions failed: {}", versions.error_code),
            });
        }

        let shared = Arc::new(Shared {
            writer: tokio::sync::Mutex::new(writer),
            waiters: Mutex::new(Waiters::default()),
            next_id: AtomicI32::new(1),
        });
        let reader = tokio::spawn(route_frames(reader, buf, Arc::clone(&shared)));
        Ok(Socket {
            shared,
            _reader: Arc::new(StopReader(reader.abort_handle())),
            peer,
            addr: addr.to_string(),
            versions: Arc::new(versions),
            tls: tls.clone(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The TLS settings this connection was made with.
    pub fn tls(&self) -> &ClientTls {
        &self.tls
    }

    /// What the server said it serves.
    pub fn versions(&self) -> &ApiVersionsResponse {
        &self.versions
    }

    /// Is the connection still up?
    pub fn is_open(&self) -> bool {
        !lock(&self.shared.waiters).closed
    }

    /// The version to send `api_key` at: the highest both sides speak within
    /// `min..=max`.
    pub fn version_for(
        &self,
        api_key: u16,
        min: Version,
        max: Version,
    ) -> Result<Version, ClientError> {
        self.versions
            .negotiate(api_key, min, max)
            .ok_or_else(|| ClientError::Incompatible {
                peer: self.peer,
                addr: self.addr.clone(),
                reason: format!("it does not serve api {api_key} at versions {min}..={max}"),
            })
    }

    /// Send one request and wait for its answer (the body after the correlation id), at
    /// most [`REQUEST_TIMEOUT`].
    pub async fn request<B: Encode + ?Sized>(
        &self,
        api_key: u16,
        version: Version,
        body: &B,
    ) -> Result<Bytes, ClientError> {
        self.request_within(api_key, version, body, REQUEST_TIMEOUT)
            .await
    }

    /// [`Socket::request`] for answers that take the server longer to work out (a scrub of
    /// a whole log): waits at most `timeout`.
    pub async fn request_within<B: Encode + ?Sized>(
        &self,
        api_key: u16,
        version: Version,
        body: &B,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let frame =
            |header: &RequestHeader| Ok(vec![Bytes::from(encode_request_frame(header, body)?)]);
        self.request_parts_within(api_key, version, frame, timeout)
            .await
    }

    /// [`Socket::request`] with the frame built by `frame` as pieces written in order
    /// (one vectored write), so large payloads go out without being copied into a frame.
    pub async fn request_parts(
        &self,
        api_key: u16,
        version: Version,
        frame: impl FnOnce(&RequestHeader) -> Result<Vec<Bytes>, EncodeError>,
    ) -> Result<Bytes, ClientError> {
        self.request_parts_within(api_key, version, frame, REQUEST_TIMEOUT)
            .await
    }

    async fn request_parts_within(
        &self,
        api_key: u16,
        version: Version,
        frame: impl FnOnce(&RequestHeader) -> Result<Vec<Bytes>, EncodeError>,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let (tx, rx) = oneshot::channel();
        let id = self.send(api_key, version, frame, Waiter::Once(tx)).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(self.lost()),
            Err(_) => {
                lock(&self.shared.waiters).by_id.remove(&id);
                Err(ClientError::Timeout {
                    peer: self.peer,
                    addr: self.addr.clone(),
                    secs: timeout.as_secs(),
                })
            }
        }
    }

    /// Requests and streams waiting for frames.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.shared.waiters).by_id.len()
    }

    /// Send a streaming request; every frame the server sends on its id arrives on the
    /// returned stream.
    pub async fn stream<B: Encode + ?Sized>(
        &self,
        api_key: u16,
        version: Version,
        body: &B,
    ) -> Result<FrameStream, ClientError> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let frame =
            |header: &RequestHeader| Ok(vec![Bytes::from(encode_request_frame(header, body)?)]);
        let id = self
            .send(api_key, version, frame, Waiter::Stream(tx))
            .await?;
        Ok(FrameStream {
            frames: rx,
            peer: self.peer,
            addr: self.addr.clone(),
            id,
            shared: Arc::downgrade(&self.shared),
        })
    }

    async fn send(
        &self,
        api_key: u16,
        version: Version,
        frame: impl FnOnce(&RequestHeader) -> Result<Vec<Bytes>, EncodeError>,
        waiter: Waiter,
    ) -> Result<i32, ClientError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader {
            api_key,
            api_version: version,
            correlation_id: id,
            client_id: CLIENT_ID.to_string(),
        };
        let parts = frame(&header)?;
        {
            // Register before writing: the answer may arrive before write_all returns.
            let mut waiters = lock(&self.shared.waiters);
            if waiters.closed {
                return Err(self.lost());
            }
            waiters.by_id.insert(id, waiter);
        }
        let written = {
            let mut writer = self.shared.writer.lock().await;
            match write_parts(&mut writer, &parts).await {
                // TLS may hold the frame's last record until flushed; plaintext: no-op.
                Ok(()) => writer.flush().await,
                Err(err) => Err(err),
            }
        };
        if written.is_err() {
            lock(&self.shared.waiters).by_id.remove(&id);
            return Err(self.lost());
        }
        Ok(id)
    }

    fn lost(&self) -> ClientError {
        ClientError::ConnectionLost {
            peer: self.peer,
            addr: self.addr.clone(),
        }
    }
}

/// Stops the reader task when the last handle to its connection goes. Without it the
/// reader would keep the connection open (and the server sending, on a watch) for nobody.
/// With the reader gone, the writer half is dropped with the last handle too, and the
/// connection closes; a stream still held ends as if the server had hung up.
struct StopReader(tokio::task::AbortHandle);

impl Drop for StopReader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Write `parts` in order, as few vectored writes as the socket allows.
async fn write_parts(writer: &mut WriteHalf, parts: &[Bytes]) -> std::io::Result<()> {
    /// Slices per write; far below any system's IOV_MAX.
    const MAX_SLICES: usize = 64;
    let (mut index, mut offset) = (0, 0);
    loop {
        // Skip what is written, and empty parts.
        while index < parts.len() && offset == parts[index].len() {
            index += 1;
            offset = 0;
        }
        if index == parts.len() {
            return Ok(());
        }
        let slices: Vec<IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().map(|part| &part[..]))
            .take(MAX_SLICES)
            .map(IoSlice::new)
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = parts[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked mid-update of a plain map.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => err.to_string(),
    }
}

/// Read one frame body; `None` at end of stream or on a broken frame.
async fn read_frame(reader: &mut ReadHalf, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        match take_frame(buf, DEFAULT_MAX_FRAME_BYTES) {
            Ok(Some(frame)) => return Some(frame.freeze()),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!("closing connection: {err}");
                return None;
            }
        }
        match reader.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn route_frames(mut reader: ReadHalf, mut buf: BytesMut, shared: Arc<Shared>) {
    while let Some(mut frame) = read_frame(&mut reader, &mut buf).await {
        if frame.len() < 4 {
            tracing::warn!(
                "response frame of {} bytes has no correlation id",
                frame.len()
            );
            break;
        }
        let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let body = frame.split_off(4);
        let stream = {
            let mut waiters = lock(&shared.waiters);
            match waiters.by_id.remove(&id) {
                Some(Waiter::Once(tx)) => {
                    let _ = tx.send(body);
                    continue;
                }
                Some(Waiter::Stream(tx)) => {
                    waiters.by_id.insert(id, Waiter::Stream(tx.clone()));
                    tx
                }
                // Nobody waits for it any more (a dropped stream or a timed-out request).
                None => continue,
            }
        };
        if stream.send(body).await.is_err() {
            lock(&shared.waiters).by_id.remove(&id);
        }
    }
    let mut waiters = lock(&shared.waiters);
    waiters.closed = true;
    waiters.by_id.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_sc_is_reported_by_its_address() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let err = Socket::connect(&addr, Peer::Sc)
            .await
            .err()
            .expect("no server");
        let text = err.to_string();
        assert_eq!(
            text,
            format!("cannot reach the SC at {addr}: connection refused")
        );
    }

    #[tokio::test]
    async fn dropping_the_last_handle_closes_the_connection() {
        use protocol::api::ApiVersionsResponse;
        use protocol::sc::{ScRequest, ScResponse};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let size = conn.read_i32().await.unwrap();
            let mut frame = vec![0; size as usize];
            conn.read_exact(&mut frame).await.unwrap();
            let (header, _) = ScRequest::decode_frame(&frame).unwrap();
            let answer = ScResponse::ApiVersions(ApiVersionsResponse::sc())
                .to_frame(header.correlation_id, header.api_version)
                .unwrap();
            conn.write_all(&answer).await.unwrap();
            // Reads end (0 bytes) once the client has closed its side.
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).await.unwrap();
        });
        let socket = Socket::connect(&addr, Peer::Sc).await.unwrap();
        let clone = socket.clone();
        drop(socket);
        assert!(clone.is_open());
        drop(clone);
        tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("the connection closed")
            .unwrap();
    }

    /// A server that answers the handshake, then every request with api key 1090 with one
    /// frame `ok` on its correlation id, and ignores the rest.
    async fn answer_once_server() -> String {
        use protocol::api::ApiVersionsResponse;
        use protocol::sc::{ScRequest, ScResponse};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut handshake = true;
            while let Ok(size) = conn.read_i32().await {
                let mut frame = vec![0; size as usize];
                conn.read_exact(&mut frame).await.unwrap();
                if handshake {
                    handshake = false;
                    let (header, _) = ScRequest::decode_frame(&frame).unwrap();
                    let answer = ScResponse::ApiVersions(ApiVersionsResponse::sc())
                        .to_frame(header.correlation_id, header.api_version)
                        .unwrap();
                    conn.write_all(&answer).await.unwrap();
                    continue;
                }
                let api_key = u16::from_be_bytes([frame[0], frame[1]]);
                if api_key == 1090 {
                    let mut answer = 6i32.to_be_bytes().to_vec();
                    answer.extend_from_slice(&frame[4..8]);
                    answer.extend_from_slice(b"ok");
                    conn.write_all(&answer).await.unwrap();
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn answered_requests_and_dropped_streams_leave_no_waiter_behind() {
        let addr = answer_once_server().await;
        let socket = Socket::connect(&addr, Peer::Spu).await.unwrap();
        for _ in 0..3 {
            let answer = socket
                .request_within(1090, 0, &7u32, Duration::from_secs(3600))
                .await
                .unwrap();
            assert_eq!(&answer[..], b"ok");
        }
        assert_eq!(socket.waiting(), 0);
        // A stream that got the one frame it will ever get, then was dropped.
        for _ in 0..3 {
            let mut stream = socket.stream(1090, 0, &7u32).await.unwrap();
            assert_eq!(&stream.next().await.unwrap()[..], b"ok");
            drop(stream);
        }
        assert_eq!(socket.waiting(), 0);
        assert!(socket.is_open());
    }

    #[tokio::test]
    async fn a_request_gives_up_after_its_own_timeout_and_unregisters() {
        let addr = answer_once_server().await;
        let socket = Socket::connect(&addr, Peer::Spu).await.unwrap();
        // Never answered.
        let err = socket
            .request_within(1091, 0, &7u32, Duration::from_secs(1))
            .await
            .expect_err("no answer");
        assert!(matches!(err, ClientError::Timeout { secs: 1, .. }), "{err}");
        assert_eq!(socket.waiting(), 0);
        // The connection still serves other requests.
        let answer = socket.request(1090, 0, &7u32).await.unwrap();
        assert_eq!(&answer[..], b"ok");
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_mid_handshake_is_unreachable_with_a_tls_hint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let _ = socket.read(&mut buf).await;
            // Hang up without answering ApiVersions.
        });
        let err = Socket::connect(&addr, Peer::Spu)
            .await
            .err()
            .expect("hung up");
        assert!(
            matches!(
                err,
                ClientError::Unreachable {
                    peer: Peer::Spu,
                    ref reason,
                    ..
                } if reason.contains("without answering") && reason.contains("--tls-ca-cert")
            ),
            "{err}"
        );
    }
}
