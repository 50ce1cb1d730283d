//! Zig-zag + LEB128 variable-length integers, as records use them (Kafka/protobuf style).
//!
//! A signed value `n` is first mapped to an unsigned one (`(n << 1) ^ (n >> 63)`, so small
//! magnitudes of either sign stay small), then written 7 bits at a time, least significant
//! group first, with the high bit of each byte saying "more bytes follow".
//!
//! The official client's *encoder* is only correct for values that fit an `i32` (it
//! zig-zags with `>> 31` and stops on the low 32 bits); for those values its output is the
//! standard encoding written here. Its decoder is a standard 64-bit one, like ours. Our
//! encoders only ever write lengths and small deltas, which are in range.
//!
//! Decoding is strict: an encoding longer than it needs to be (a redundant final `0x00`
//! group, or more than ten bytes) is [`VarintError::Overlong`], and a tenth byte carrying
//! bits beyond the 64th is [`VarintError::Overflow`]. Every valid value therefore has
//! exactly one encoding, so decode-then-encode reproduces the input.

use crate::codec::{DecodeError, Reader};

/// The most bytes a 64-bit varint can take.
pub const MAX_VARINT_LEN: usize = 10;

/// Why bytes are not a valid varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    #[error("varint truncated: the input ends while more bytes are announced")]
    Truncated,
    #[error("varint overlong: encoded with more bytes than its value needs")]
    Overlong,
    #[error("varint overflow: the value does not fit in 64 bits")]
    Overflow,
}

impl From<VarintError> for DecodeError {
    fn from(err: VarintError) -> Self {
        match err {
            VarintError::Truncated => DecodeError::Truncated {
                what: "varint",
                needed: 1,
                remaining: 0,
            },
            VarintError::Overlong => DecodeError::Invalid {
                what: "varint",
                reason: "overlong encoding (more bytes than the value needs)",
            },
            VarintError::Overflow => DecodeError::Invalid {
                what: "varint",
                reason: "value overflows 64 bits",
            },
        }
    }
}

/// Map a signed value to its zig-zag form: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
pub const fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Invert [`zigzag_encode`].
pub const fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// How many bytes [`write_varint`] writes for `value`.
pub const fn varint_len(value: i64) -> usize {
    let mut rest = zigzag_encode(value);
    let mut len = 1;
    while rest >= 0x80 {
        rest >>= 7;
        len += 1;
    }
    len
}

/// Append the varint encoding of `value`.
pub fn write_varint(dst: &mut Vec<u8>, value: i64) {
    let mut rest = zigzag_encode(value);
    while rest >= 0x80 {
        dst.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// Decode the varint at the front of `bytes`, returning the value and how many bytes it
/// took.
pub fn decode_varint(bytes: &[u8]) -> Result<(i64, usize), VarintError> {
    let mut value: u64 = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if index == MAX_VARINT_LEN {
            return Err(VarintError::Overlong);
        }
        let group = u64::from(byte & 0x7f);
        if index == MAX_VARINT_LEN - 1 && group > 1 {
            return Err(VarintError::Overflow);
        }
        value |= group << (7 * index);
        if byte & 0x80 == 0 {
            // A final zero group after the first byte adds nothing: not minimal.
            if index > 0 && byte == 0 {
                return Err(VarintError::Overlong);
            }
            return Ok((zigzag_decode(value), index + 1));
        }
    }
    Err(VarintError::Truncated)
}

/// Read one varint from `src`.
pub fn read_varint(src: &mut Reader<'_>) -> Result<i64, DecodeError> {
    let (value, len) = decode_varint(src.rest()).map_err(|err| match err {
        VarintError::Truncated => DecodeError::Truncated {
            what: "varint",
            needed: src.remaining() + 1,
            remaining: src.remaining(),
        },
        other => other.into(),
    })?;
    src.take(len, "varint")?;
    Ok(value)
}

/// Read a varint that must be a non-negative length, no larger than what is left in `src`.
pub(crate) fn read_len(src: &mut Reader<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let len = read_varint(src)?;
    if len < 0 {
        return Err(DecodeError::Invalid {
            what,
            reason: "negative length",
        });
    }
    if len as u64 > src.remaining() as u64 {
        return Err(DecodeError::Truncated {
            what,
            needed: usize::try_from(len).unwrap_or(usize::MAX),
            remaining: src.remaining(),
        });
    }
    Ok(len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, value);
        assert_eq!(out.len(), varint_len(value));
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encode(0), [0x00]);
        assert_eq!(encode(-1), [0x01]);
        assert_eq!(encode(1), [0x02]);
        assert_eq!(encode(7), [0x0e]);
        assert_eq!(encode(14), [0x1c]);
        assert_eq!(encode(63), [0x7e]);
        assert_eq!(encode(64), [0x80, 0x01]);
        assert_eq!(encode(-65), [0x81, 0x01]);
        assert_eq!(encode(i32::MAX.into()), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(encode(i32::MIN.into()), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(encode(i64::MIN).len(), 10);
        assert_eq!(encode(i64::MAX).len(), 10);
    }

    #[test]
    fn extremes_round_trip() {
        for value in [
            0,
            1,
            -1,
            i32::MIN.into(),
            i32::MAX.into(),
            i64::MIN,
            i64::MAX,
        ] {
            let bytes = encode(value);
            assert_eq!(decode_varint(&bytes), Ok((value, bytes.len())));
        }
    }

    #[test]
    fn malformed_encodings_are_typed_errors() {
        assert_eq!(decode_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(decode_varint(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode_varint(&[0x80, 0x00]), Err(VarintError::Overlong));
        assert_eq!(
            decode_varint(&[0x81, 0x80, 0x00]),
            Err(VarintError::Overlong)
        );
        assert_eq!(decode_varint(&[0xff; 11]), Err(VarintError::Overflow));
        let mut eleven = vec![0x80; 9];
        eleven.extend([0x81, 0x00]);
        assert_eq!(decode_varint(&eleven), Err(VarintError::Overlong));
        let mut overflow = vec![0xff; 9];
        overflow.push(0x02);
        assert_eq!(decode_varint(&overflow), Err(VarintError::Overflow));
        let mut top_bit = vec![0xff; 9];
        top_bit.push(0x01);
        assert_eq!(decode_varint(&top_bit), Ok((i64::MIN, 10)));
    }

    #[test]
    fn reader_advances_past_the_varint() {
        let bytes = [0x81, 0x01, 0x7e];
        let mut reader = Reader::new(&bytes);
        assert_eq!(read_varint(&mut reader).unwrap(), -65);
        assert_eq!(read_varint(&mut reader).unwrap(), 63);
        assert!(reader.is_empty());
        assert!(matches!(
            read_varint(&mut reader),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
