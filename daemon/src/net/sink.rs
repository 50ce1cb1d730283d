//! The sending half of a connection: whole frames go through a channel to the connection's
//! writer task, so frames from several tasks never interleave on the socket.
//!
//! A frame is either bytes in memory or a head in memory followed by byte ranges of files
//! ([`Outgoing::Spliced`]): the writer sends those ranges with `sendfile(2)`, so records
//! served from a replica log never pass through user space. Queued spliced frames hold
//! open files, not data, so a slow reader costs a bounded number of small items.

use bytes::Bytes;
use protocol::{Encode, Version};
use tokio::sync::mpsc;

use super::RequestError;
use crate::storage::FileRange;

/// Frames queued per connection before senders wait. Bounded so a client that stops
/// reading cannot make the daemon buffer without limit.
pub(super) const QUEUE_FRAMES: usize = 256;

/// One whole frame for the writer task.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A complete frame, size prefix included.
    Bytes(Bytes),
    /// `head` (size prefix included), then the ranges in order; together one frame whose
    /// size prefix already counts the ranges.
    Spliced { head: Bytes, ranges: Vec<FileRange> },
}

impl Outgoing {
    /// Bytes on the wire.
    pub fn len(&self) -> u64 {
        match self {
            Outgoing::Bytes(bytes) => bytes.len() as u64,
            Outgoing::Spliced { head, ranges } => {
                head.len() as u64 + ranges.iter().map(FileRange::len).sum::<u64>()
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame in memory (reads the file ranges): for tests and for peers
    /// that are not sockets.
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Outgoing::Bytes(bytes) => Ok(bytes.to_vec()),
            Outgoing::Spliced { head, ranges } => {
                let mut out = head.to_vec();
                for range in ranges {
                    range.read_into(&mut out).map_err(std::io::Error::other)?;
                }
                Ok(out)
            }
        }
    }
}

/// The connection's writer is gone (the peer closed or the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection closed")]
pub struct SinkClosed;

/// Writes response frames to one connection. Cheap to clone; one clone per stream.
#[derive(Debug, Clone)]
pub struct ResponseSink {
    tx: mpsc::Sender<Outgoing>,
}

impl ResponseSink {
    pub(super) fn new(tx: mpsc::Sender<Outgoing>) -> Self {
        Self { tx }
    }

    /// A sink and the receiver its frames arrive at, for tests of services without sockets.
    pub fn channel() -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        (Self { tx }, rx)
    }

    /// Queue one complete frame (size prefix included).
    pub async fn send_frame(&self, frame: Bytes) -> Result<(), SinkClosed> {
        self.send(Outgoing::Bytes(frame)).await
    }

    /// Queue one frame: `head` (size prefix included, counting the ranges), then the file
    /// ranges, sent without copying them through memory where the OS allows.
    pub async fn send_spliced(
        &self,
        head: Bytes,
        ranges: Vec<FileRange>,
    ) -> Result<(), SinkClosed> {
        self.send(Outgoing::Spliced { head, ranges }).await
    }

    async fn send(&self, frame: Outgoing) -> Result<(), SinkClosed> {
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
