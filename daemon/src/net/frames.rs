//! Reading size-prefixed frames off a socket, for the servers' connections and for the
//! SPU's own links (to the SC, to a leader).
//!
//! Small frames are cut from one shared read buffer. A large frame gets a buffer of exactly
//! its size instead: cut from the shared buffer it would share its allocation with the
//! bytes after it, so a produce could not take its batches over to rewrite their offsets
//! in place, and growing the shared buffer under a partial frame copies that frame again
//! (a follower reading megabyte frames spent a few percent of its time in those copies).
//! Read on its own, a large frame's bytes are copied once, by the socket.
//!
//! A server's reader also enforces [`ReadLimits`]: deadlines for a frame that has started
//! and for a new connection's first frame, and the shared budget of frame memory. Time
//! between frames is never limited: a consumer waiting on its stream sends nothing for
//! as long as it likes. The SPU's links read from peers they chose and use no limits.

use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use protocol::frame::{FRAME_PREFIX_LEN, FrameError, peek_frame_len, take_frame};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::limits::{FrameMemory, MemoryPermit};

/// What a frame's first read takes at most, so that little of a large frame lands in the
/// shared buffer and has to be moved to its own.
pub(super) const FIRST_READ: usize = 8 * 1024;

/// Frames from this size on are read into a buffer of their own.
const OWN_BUFFER_MIN: usize = 64 * 1024;

/// Which deadline a connection missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// A new connection did not send a whole first frame in time.
    FirstFrame,
    /// A frame that had started did not arrive whole in time.
    Frame,
}

/// Why no further frame can be read. The stream is done either way.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    #[error("the connection closed {read} bytes into a frame{}", size.map(|s| format!(" of {s}")).unwrap_or_default())]
    Truncated { read: usize, size: Option<usize> },
    #[error("{}", timed_out(*.deadline, *.after, *.read, *.size))]
    TimedOut {
        deadline: Deadline,
        after: Duration,
        read: usize,
        size: Option<usize>,
    },
    #[error(transparent)]
    Bad(#[from] FrameError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn timed_out(deadline: Deadline, after: Duration, read: usize, size: Option<usize>) -> String {
    let arrived = match size {
        Some(size) => format!("{read} of its {size} bytes arrived"),
        None => format!("{read} bytes arrived"),
    };
    match deadline {
        Deadline::FirstFrame if read == 0 => {
            format!("no request within {after:?} of connecting (--first-frame-timeout)")
        }
        Deadline::FirstFrame => format!(
            "the first request did not arrive whole within {after:?} of connecting; {arrived} (--first-frame-timeout)"
        ),
        Deadline::Frame => format!(
            "a frame did not arrive whole within {after:?} of its first byte; {arrived} (--frame-timeout)"
        ),
    }
}

impl From<FrameReadError> for io::Error {
    fn from(err: FrameReadError) -> io::Error {
        match err {
            FrameReadError::Io(err) => err,
            err @ FrameReadError::Truncated { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err)
            }
            err @ FrameReadError::TimedOut { .. } => io::Error::new(io::ErrorKind::TimedOut, err),
            err @ FrameReadError::Bad(_) => io::Error::new(io::ErrorKind::InvalidData, err),
        }
    }
}

/// What a server asks of the frames it reads beyond their size. `None` is no limit.
#[derive(Debug, Clone, Default)]
pub struct ReadLimits {
    /// A frame must arrive whole this long after its first byte.
    pub frame_timeout: Option<Duration>,
    /// The first frame must arrive whole this long after the reader was made.
    pub first_frame_timeout: Option<Duration>,
    /// Frames reserve their size here before their body is read; frames bigger than the
    /// whole budget are refused as too large.
    pub memory: Option<FrameMemory>,
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
    limits: ReadLimits,
    opened: Instant,
    /// A whole frame has been read: the first-frame deadline no longer applies.
    had_frame: bool,
    /// When the frame being read started: its first byte came, or (for bytes that came
    /// with the previous frame) when reading it began.
    started: Option<Instant>,
    /// Time the current frame spent waiting for memory; deadlines move back by it, since
    /// the wait is the server's doing, not the peer's.
    held_up: Duration,
    waiting_since: Option<Instant>,
    /// The current frame's share of the memory budget.
    reserved: Option<MemoryPermit>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self::with_limits(reader, max, ReadLimits::default())
    }

    /// A reader enforcing `limits`; the first-frame deadline counts from now.
    pub fn with_limits(reader: R, max: usize, limits: ReadLimits) -> Self {
        let max = match &limits.memory {
            Some(memory) => max.min(memory.budget()),
            None => max,
        };
        Self {
            reader,
            buf: BytesMut::with_capacity(FIRST_READ),
            large: None,
            max,
            limits,
            opened: Instant::now(),
            had_frame: false,
            started: None,
            held_up: Duration::ZERO,
            waiting_since: None,
            reserved: None,
        }
    }

    /// The next frame's body (without its size prefix), or `None` when the peer closed the
    /// stream between frames.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameReadError> {
        Ok(self.next_reserved().await?.map(|(body, _)| body))
    }

    /// The next frame's body with its share of the memory budget, to be held until the
    /// frame has been dealt with; `None` when the peer closed the stream between frames.
    pub async fn next_reserved(&mut self) -> Result<Option<(Bytes, MemoryPermit)>, FrameReadError> {
        if self.started.is_none() && (!self.buf.is_empty() || self.large.is_some()) {
            self.started = Some(Instant::now());
        }
        loop {
            let deadline = self.deadline();
            if let Some((size, body)) = &mut self.large {
                let size = *size;
                if body.len() == size {
                    let (_, body) = self.large.take().expect("checked above");
                    return Ok(Some(self.finish(body.freeze())));
                }
                let missing = (size - body.len()) as u64;
                let read = within(deadline, (&mut self.reader).take(missing).read_buf(body)).await;
                let arrived = body.len();
                let Some(read) = read else {
                    return Err(self.timed_out(arrived, Some(size)));
                };
                if read? == 0 {
                    return Err(FrameReadError::Truncated {
                        read: arrived,
                        size: Some(size),
                    });
                }
                continue;
            }
            let announced = peek_frame_len(&self.buf, self.max)?;
            if let Some(size) = announced {
                self.reserve(size).await;
            }
            if let Some(size) = announced
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
                return Ok(Some(self.finish(frame.freeze())));
            }
            let room = if self.buf.is_empty() {
                FIRST_READ
            } else {
                usize::MAX
            };
            let read = within(
                deadline,
                (&mut self.reader).take(room as u64).read_buf(&mut self.buf),
            )
            .await;
            let Some(read) = read else {
                let size = peek_frame_len(&self.buf, usize::MAX).ok().flatten();
                return Err(self.timed_out(self.buf.len(), size));
            };
            if read? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameReadError::Truncated {
                    read: self.buf.len(),
                    size: peek_frame_len(&self.buf, usize::MAX).ok().flatten(),
                });
            }
            self.started.get_or_insert_with(Instant::now);
        }
    }

    /// Reserve the current frame's size from the budget, once, waiting if it is spent.
    async fn reserve(&mut self, size: usize) {
        let Some(memory) = &self.limits.memory else {
            return;
        };
        if self.reserved.is_some() {
            return;
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let permit = memory.reserve(size).await;
        self.held_up += since.elapsed();
        self.waiting_since = None;
        self.reserved = Some(permit);
    }

    /// Hand out a whole frame and reset the per-frame state.
    fn finish(&mut self, body: Bytes) -> (Bytes, MemoryPermit) {
        self.had_frame = true;
        self.started = None;
        self.held_up = Duration::ZERO;
        (body, self.reserved.take().unwrap_or_default())
    }

    /// The earliest deadline in force: the current frame's, and the first frame's.
    fn deadline(&self) -> Option<Instant> {
        self.deadlines()
            .into_iter()
            .flatten()
            .map(|(at, _)| at)
            .min()
    }

    fn deadlines(&self) -> [Option<(Instant, Deadline)>; 2] {
        let frame = self
            .started
            .zip(self.limits.frame_timeout)
            .map(|(start, limit)| (start + limit + self.held_up, Deadline::Frame));
        let first = self
            .limits
            .first_frame_timeout
            .filter(|_| !self.had_frame)
            .map(|limit| (self.opened + limit + self.held_up, Deadline::FirstFrame));
        [frame, first]
    }

    fn timed_out(&self, read: usize, size: Option<usize>) -> FrameReadError {
        let (deadline, after) = self
            .deadlines()
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
            .map(|(_, which)| match which {
                Deadline::Frame => (which, self.limits.frame_timeout.unwrap_or_default()),
                Deadline::FirstFrame => {
                    (which, self.limits.first_frame_timeout.unwrap_or_default())
                }
            })
            .unwrap_or((Deadline::Frame, Duration::ZERO));
        FrameReadError::TimedOut {
            deadline,
            after,
            read,
            size,
        }
    }
}

/// `read` unless `deadline` passes first (`None`).
async fn within<F: Future>(deadline: Option<Instant>, read: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read).await.ok(),
        None => Some(read.await),
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

    fn limited(
        frame_timeout: u64,
        first_frame_timeout: u64,
        memory: Option<&FrameMemory>,
    ) -> ReadLimits {
        ReadLimits {
            frame_timeout: Some(Duration::from_secs(frame_timeout)),
            first_frame_timeout: Some(Duration::from_secs(first_frame_timeout)),
            memory: memory.cloned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_large_frame_waits_until_the_first_is_dropped() {
        let memory = FrameMemory::new(100_000);
        let (first, second) = (pattern(70_000), pattern(60_000));
        let (mut client_a, server_a) = tokio::io::duplex(256 * 1024);
        let (mut client_b, server_b) = tokio::io::duplex(256 * 1024);
        client_a.write_all(&frame(&first)).await.unwrap();
        client_b.write_all(&frame(&second)).await.unwrap();
        let mut a = FrameReader::with_limits(server_a, 1 << 20, limited(30, 10, Some(&memory)));
        let mut b = FrameReader::with_limits(server_b, 1 << 20, limited(30, 10, Some(&memory)));

        let (body_a, held_a) = a.next_reserved().await.unwrap().unwrap();
        assert_eq!(&body_a[..], &first[..]);
        assert_eq!((held_a.bytes(), memory.available()), (70_000, 30_000));
        // 60000 bytes are not free: the second frame waits, whatever time passes, with
        // no more than its first read taken off the socket.
        let mut waiting = Box::pin(b.next_reserved());
        let early = tokio::time::timeout(Duration::from_secs(120), &mut waiting).await;
        assert!(early.is_err(), "read while the budget was spent: {early:?}");

        drop(held_a);
        let (body_b, held_b) = waiting.await.unwrap().unwrap();
        assert_eq!(&body_b[..], &second[..]);
        assert_eq!((held_b.bytes(), memory.available()), (60_000, 40_000));
        drop(held_b);
        assert_eq!(memory.available(), 100_000);
    }

    #[tokio::test]
    async fn a_frame_bigger_than_the_whole_budget_is_refused_as_too_large() {
        let memory = FrameMemory::new(50_000);
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(&(60_000i32).to_be_bytes()).await.unwrap();
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(30, 10, Some(&memory)));
        let err = frames.next_reserved().await.unwrap_err();
        assert!(
            matches!(
                err,
                FrameReadError::Bad(FrameError::TooLarge { size: 60_000, .. })
            ),
            "{err}"
        );
        assert_eq!(
            memory.available(),
            50_000,
            "nothing reserved for a refused frame"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_sent_a_byte_a_second_misses_its_deadline() {
        let (mut client, server) = tokio::io::duplex(1024);
        let dribble = tokio::spawn(async move {
            let sent = frame(&pattern(100_000));
            for byte in sent.chunks(1) {
                if client.write_all(byte).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(2, 600, None));
        let err = frames.next_reserved().await.unwrap_err();
        let FrameReadError::TimedOut {
            deadline,
            after,
            read,
            ..
        } = &err
        else {
            panic!("not a timeout: {err}");
        };
        assert_eq!(
            (*deadline, *after),
            (Deadline::Frame, Duration::from_secs(2))
        );
        assert!((1..=4).contains(read), "{read} bytes");
        assert!(
            err.to_string().contains("within 2s of its first byte"),
            "{err}"
        );
        assert!(err.to_string().contains("--frame-timeout"), "{err}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
        dribble.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_frame_that_stops_halfway_misses_its_deadline() {
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        client
            .write_all(&frame(&pattern(200_000))[..100_000])
            .await
            .unwrap();
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(2, 600, None));
        let err = frames.next_reserved().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("99996 of its 200000 bytes arrived"),
            "{err}"
        );
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_misses_the_first_frame_deadline() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(30, 10, None));
        let err = frames.next_reserved().await.unwrap_err();
        assert!(
            matches!(
                err,
                FrameReadError::TimedOut {
                    deadline: Deadline::FirstFrame,
                    read: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "no request within 10s of connecting (--first-frame-timeout)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_time_between_frames_is_not_limited() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(2, 10, None));
        client.write_all(&frame(b"hello")).await.unwrap();
        assert_eq!(
            &frames.next_reserved().await.unwrap().unwrap().0[..],
            b"hello"
        );
        // A consumer waiting on its stream: silent for far longer than either deadline.
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            client.write_all(&frame(b"an hour later")).await.unwrap();
            client
        });
        let (body, _) = frames.next_reserved().await.unwrap().unwrap();
        assert_eq!(&body[..], b"an hour later");
        drop(later.await.unwrap());
        assert!(frames.next_reserved().await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_memory_does_not_count_against_the_deadline() {
        let memory = FrameMemory::new(100_000);
        let held = memory.reserve(50_000).await;
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let sent = frame(&pattern(80_000));
        client.write_all(&sent[..40_000]).await.unwrap();
        let mut frames = FrameReader::with_limits(server, 1 << 20, limited(2, 2, Some(&memory)));
        // The budget comes free after a minute; the rest of the frame a second later,
        // well past both deadlines counted from the first byte, but within them once the
        // minute spent waiting on the server is left out.
        let peer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(held);
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.write_all(&sent[40_000..]).await.unwrap();
            client
        });
        let (got, permit) = frames.next_reserved().await.unwrap().unwrap();
        assert_eq!(&got[..], &pattern(80_000)[..]);
        assert_eq!(permit.bytes(), 80_000);
        drop(peer.await.unwrap());
    }
}
