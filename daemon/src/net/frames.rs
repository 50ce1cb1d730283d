//! Reading size-prefixed frames off a socket, for the servers' connections and for the
//! SPU's own links (to the SC, to a leader).
//!
//! Small frames are cut from one shared read buffer. A large frame gets a buffer of exactly
//! its size instead: cut from the shared buffer it would share its allocation with the
//! bytes after it, so a produce could not take its batches over to rewrite their offsets
//! in place, and growing the shared buffer under a partial frame copies that frame again
//! (a follower reading megabyte frames spent a few percent of its time in those copies).
//! Read on its own, a large frame's bytes are copied once, by the socket.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use protocol::frame::{FRAME_PREFIX_LEN, FrameError, peek_frame_len, take_frame};
use tokio::io::{AsyncRead, AsyncReadExt};

/// What a frame's first read takes at most, so that little of a large frame lands in the
/// shared buffer and has to be moved to its own.
const FIRST_READ: usize = 8 * 1024;

/// Frames from this size on are read into a buffer of their own.
const OWN_BUFFER_MIN: usize = 64 * 1024;

/// Why no further frame can be read. The stream is done either way.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    #[error("the connection closed {read} bytes into a frame{}", size.map(|s| format!(" of {s}")).unwrap_or_default())]
    Truncated { read: usize, size: Option<usize> },
    #[error(transparent)]
    Bad(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<FrameReadError> for io::Error {
    fn from(err: FrameReadError) -> io::Error {
        match err {
            FrameReadError::Io(err) => err,
            err @ FrameReadError::Truncated { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err)
            }
            err @ FrameReadError::Bad(_) => io::Error::new(io::ErrorKind::InvalidData, err),
        }
    }
}

/// Frames read from one stream, each at most `max` bytes.
///
/// [`next`](Self::next) is cancel safe: a frame read in part stays here, so it can race a
/// timer in `select!` and be called again.
pub struct FrameReader<R> {
    reader: R,
    /// Bytes read but not yet handed out as frames.
    buf: BytesMut,
    /// A large frame being read into its own buffer: its size and what arrived.
    large: Option<(usize, BytesMut)>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            buf: BytesMut::with_capacity(FIRST_READ),
            large: None,
            max,
        }
    }

    /// The next frame's body (without its size prefix), or `None` when the peer closed the
    /// stream between frames.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameReadError> {
        loop {
            if let Some((size, body)) = &mut self.large {
                let size = *size;
                if body.len() == size {
                    let (_, body) = self.large.take().expect("checked above");
                    return Ok(Some(body.freeze()));
                }
                let missing = (size - body.len()) as u64;
                if (&mut self.reader).take(missing).read_buf(body).await? == 0 {
                    return Err(FrameReadError::Truncated {
                        read: body.len(),
                        size: Some(size),
                    });
                }
                continue;
            }
            if let Some(size) = peek_frame_len(&self.buf, self.max)?
                && size >= OWN_BUFFER_MIN
                && self.buf.len() < FRAME_PREFIX_LEN + size
            {
                // Every buffered byte belongs to this frame (it is not whole yet).
                self.buf.advance(FRAME_PREFIX_LEN);
                // Pages are touched only as bytes arrive: a peer announcing a large frame
                // and sending nothing costs address space, not memory.
                let mut body = BytesMut::with_capacity(size);
                body.extend_from_slice(&self.buf);
                self.buf.clear();
                self.large = Some((size, body));
                continue;
            }
            if let Some(frame) = take_frame(&mut self.buf, self.max)? {
                return Ok(Some(frame.freeze()));
            }
            let room = if self.buf.is_empty() {
                FIRST_READ
            } else {
                usize::MAX
            };
            if (&mut self.reader)
                .take(room as u64)
                .read_buf(&mut self.buf)
                .await?
                == 0
            {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameReadError::Truncated {
                    read: self.buf.len(),
                    size: peek_frame_len(&self.buf, usize::MAX).ok().flatten(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_and_large_frames_come_out_whole_and_in_order() {
        let (mut client, server) = tokio::io::duplex(32 * 1024);
        let bodies = vec![
            b"first".to_vec(),
            pattern(300_000),
            Vec::new(),
            pattern(65_535),
            pattern(64 * 1024),
            b"last".to_vec(),
        ];
        let sent: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(70_001) {
                client.write_all(piece).await.unwrap();
            }
        });
        let mut frames = FrameReader::new(server, 1 << 20);
        for body in &bodies {
            let got = frames.next().await.unwrap().expect("a frame");
            assert_eq!(&got[..], &body[..]);
        }
        writer.await.unwrap();
        assert!(
            frames.next().await.unwrap().is_none(),
            "closed between frames"
        );
    }

    #[tokio::test]
    async fn a_large_frame_owns_its_bytes() {
        let (mut client, server) = tokio::io::duplex(16 * 1024);
        let big = pattern(200_000);
        let sent = [frame(&big), frame(b"next")].concat();
        tokio::spawn(async move { client.write_all(&sent).await.unwrap() });
        let mut frames = FrameReader::new(server, 1 << 20);
        let body = frames.next().await.unwrap().unwrap();
        assert_eq!(&body[..], &big[..]);
        // Nobody else holds the allocation: a handler can take the bytes over.
        assert!(body.try_into_mut().is_ok());
        assert_eq!(&frames.next().await.unwrap().unwrap()[..], b"next");
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error_naming_its_size() {
        for (size, cut) in [(100_000, 50_000), (1000, 10), (100, 2)] {
            let (mut client, server) = tokio::io::duplex(256 * 1024);
            client
                .write_all(&frame(&vec![1u8; size])[..cut])
                .await
                .unwrap();
            drop(client);
            let mut frames = FrameReader::new(server, 1 << 20);
            let err = frames.next().await.unwrap_err();
            assert!(matches!(err, FrameReadError::Truncated { .. }), "{err}");
            if cut >= FRAME_PREFIX_LEN {
                assert!(err.to_string().contains(&format!("of {size}")), "{err}");
            }
            assert_eq!(io::Error::from(err).kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[tokio::test]
    async fn an_oversize_or_negative_frame_is_refused_before_its_body() {
        let (mut client, server) = tokio::io::duplex(1024);
        client
            .write_all(&(2_000_000i32).to_be_bytes())
            .await
            .unwrap();
        let mut frames = FrameReader::new(server, 1 << 20);
        assert!(matches!(
            frames.next().await,
            Err(FrameReadError::Bad(FrameError::TooLarge {
                size: 2_000_000,
                ..
            }))
        ));
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(&(-5i32).to_be_bytes()).await.unwrap();
        let mut frames = FrameReader::new(server, 1 << 20);
        assert!(matches!(
            frames.next().await,
            Err(FrameReadError::Bad(FrameError::NegativeLength(-5)))
        ));
    }

    #[tokio::test]
    async fn a_partly_read_large_frame_survives_a_cancelled_read() {
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let big = pattern(150_000);
        let sent = frame(&big);
        client.write_all(&sent[..100_000]).await.unwrap();
        let mut frames = FrameReader::new(server, 1 << 20);
        // Read what arrived, then give up waiting for the rest, as a select! with a timer
        // that fires would.
        tokio::select! {
            biased;
            read = frames.next() => panic!("a frame from 100000 of its bytes: {read:?}"),
            () = std::future::ready(()) => {}
        }
        assert!(
            matches!(&frames.large, Some((size, body)) if *size == 150_000 && body.len() > 90_000)
        );
        client.write_all(&sent[100_000..]).await.unwrap();
        let body = frames.next().await.unwrap().unwrap();
        assert_eq!(&body[..], &big[..]);
    }
}
