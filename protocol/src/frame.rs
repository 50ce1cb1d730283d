//! Size-prefixed frames: an `i32` big-endian length, then that many bytes of body.
//!
//! Every message in either direction is one frame, over plain TCP (or TLS when the profile
//! asks for it). The length does not count its own four bytes. A request's body is the
//! request header ([`crate::api::RequestHeader`]: api key, api version, correlation id,
//! client id) and then the request encoded at that api version; a response's body is the
//! request's `i32` correlation id and then the response, encoded at the version the
//! request was sent with: there is no other response header (no error code, no tagged
//! fields). Responses may come in any order, and one request may be answered by many
//! frames (a watch, a stream fetch), all on its correlation id; so a server writes whole
//! frames one at a time per connection.

use bytes::{Buf, BytesMut};

/// The largest frame body accepted unless configured otherwise (100 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// The least a pending frame may make the buffer reserve ahead of the bytes that arrived;
/// beyond it the reservation grows with what arrived (doubling), so a large frame costs
/// few reallocations while a peer that announces much and sends little gets little.
const RESERVE_STEP: usize = 1024 * 1024;

/// Bytes of the length prefix.
pub const FRAME_PREFIX_LEN: usize = 4;

/// Why a frame cannot be read. Either way the stream is out of sync and must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
}

/// Take one complete frame body off the front of `buf`, if a whole frame is buffered.
///
/// Returns `Ok(None)` when more bytes are needed. The length is checked against `max`
/// before waiting for the body, so an oversize frame is refused without buffering it.
pub fn take_frame(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, FrameError> {
    let Some(size) = peek_frame_len(buf, max)? else {
        return Ok(None);
    };
    if buf.len() < FRAME_PREFIX_LEN + size {
        // Make room for more of the body, but only a bounded step at a time: a peer that
        // announces a large frame and sends nothing must not make us reserve it all.
        let missing = FRAME_PREFIX_LEN + size - buf.len();
        buf.reserve(missing.min(RESERVE_STEP.max(buf.len())));
        return Ok(None);
    }
    buf.advance(FRAME_PREFIX_LEN);
    Ok(Some(buf.split_to(size)))
}

/// The body length announced by the prefix at the front of `buf`, validated against `max`.
pub fn peek_frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..FRAME_PREFIX_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if size < 0 {
        return Err(FrameError::NegativeLength(size));
    }
    let size = size as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    Ok(Some(size))
}

/// Write `body` as one frame.
pub fn put_frame(dst: &mut Vec<u8>, body: &[u8]) -> Result<(), FrameError> {
    let size = i32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        size: body.len(),
        max: i32::MAX as usize,
    })?;
    dst.extend_from_slice(&size.to_be_bytes());
    dst.extend_from_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_follows_the_bytes_that_arrived() {
        // A 64 MiB frame arriving 64 KiB at a time, as a reader would fill the buffer.
        let size = 64 * 1024 * 1024;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(size as i32).to_be_bytes());
        let chunk = vec![7u8; 64 * 1024];
        let mut grown = 0;
        let mut arrived = 0;
        while arrived < size {
            assert_eq!(take_frame(&mut buf, DEFAULT_MAX_FRAME_BYTES).unwrap(), None);
            // Never far ahead of what the peer actually sent.
            assert!(buf.capacity() <= 4 * buf.len() + 2 * RESERVE_STEP);
            let before = buf.capacity();
            buf.extend_from_slice(&chunk);
            arrived += chunk.len();
            grown += usize::from(buf.capacity() != before);
        }
        // Doubling: a handful of reallocations, not one per megabyte.
        assert!(grown <= 12, "{grown} reallocations");
        let frame = take_frame(&mut buf, DEFAULT_MAX_FRAME_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(frame.len(), size);
    }

    #[test]
    fn waits_for_whole_frame_then_splits() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(take_frame(&mut buf, 10).unwrap(), None);
        buf.extend_from_slice(&[3, 0, 0]);
        assert_eq!(
            take_frame(&mut buf, 10).unwrap().unwrap().as_ref(),
            &[1, 2, 3]
        );
        assert_eq!(buf.as_ref(), &[0, 0]);
        assert_eq!(take_frame(&mut buf, 10).unwrap(), None);
    }

    #[test]
    fn rejects_negative_and_oversize_before_buffering() {
        let mut neg = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xfe][..]);
        assert_eq!(
            take_frame(&mut neg, 10),
            Err(FrameError::NegativeLength(-2))
        );
        let mut big = BytesMut::from(&[0u8, 0, 0, 11][..]);
        assert_eq!(
            take_frame(&mut big, 10),
            Err(FrameError::TooLarge { size: 11, max: 10 })
        );
    }

    #[test]
    fn empty_frame_is_valid() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(take_frame(&mut buf, 10).unwrap().unwrap().len(), 0);
    }
}
