//! The sending half of a connection: whole frames go through a channel to the connection's
//! writer task, so frames from several tasks never interleave on the socket.

use bytes::Bytes;
use protocol::{Encode, Version};
use tokio::sync::mpsc;

use super::RequestError;

/// Frames queued per connection before senders wait. Bounded so a client that stops
/// reading cannot make the daemon buffer without limit.
pub(super) const QUEUE_FRAMES: usize = 256;

/// The connection's writer is gone (the peer closed or the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection closed")]
pub struct SinkClosed;

/// Writes response frames to one connection. Cheap to clone; one clone per stream.
#[derive(Debug, Clone)]
pub struct ResponseSink {
    tx: mpsc::Sender<Bytes>,
}

impl ResponseSink {
    pub(super) fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self { tx }
    }

    /// A sink and the receiver its frames arrive at, for tests of services without sockets.
    pub fn channel() -> (Self, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        (Self { tx }, rx)
    }

    /// Queue one complete frame (size prefix included).
    pub async fn send_frame(&self, frame: Bytes) -> Result<(), SinkClosed> {
        self.tx.send(frame).await.map_err(|_| SinkClosed)
    }

    /// Encode `body` at `version` as the response to `correlation_id` and queue it.
    pub async fn respond<B: Encode + ?Sized>(
        &self,
        correlation_id: i32,
        version: Version,
        body: &B,
    ) -> Result<(), RequestError> {
        let mut frame = vec![0u8; 4];
        frame.extend_from_slice(&correlation_id.to_be_bytes());
        body.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4).map_err(|_| protocol::EncodeError::TooLong {
            what: "response frame",
            len: frame.len() - 4,
            max: i32::MAX as usize,
        })?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.send_frame(Bytes::from(frame)).await?;
        Ok(())
    }

    /// Resolves once the connection is gone; streams select on it to stop.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
