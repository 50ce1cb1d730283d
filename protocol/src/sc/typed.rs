//! The typed buffer every object API message travels in (except the Create/Delete
//! responses): the object label, from version 11 a u32 byte length, then the payload
//! encoded at the request's version.

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};

/// The first version whose typed buffer carries the payload length.
pub const TYPED_BUFFER_LEN_VERSION: Version = 11;

/// Write `label`, the length (from version 11) and `payload`.
pub fn encode_typed<P: Encode + ?Sized>(
    label: &str,
    payload: &P,
    dst: &mut Vec<u8>,
    version: Version,
) -> Result<(), EncodeError> {
    label.encode(dst, version)?;
    if version < TYPED_BUFFER_LEN_VERSION {
        return payload.encode(dst, version);
    }
    let len_at = dst.len();
    dst.extend_from_slice(&[0; 4]);
    payload.encode(dst, version)?;
    let len = dst.len() - len_at - 4;
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "typed buffer payload",
        len,
        max: u32::MAX as usize,
    })?;
    dst[len_at..len_at + 4].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// Read a typed buffer: its label, then hand the payload to `read`, which is given the
/// label. From version 11 the payload is bounded by its length and must be consumed
/// exactly.
pub fn decode_typed<T>(
    src: &mut Reader<'_>,
    version: Version,
    read: impl FnOnce(&str, &mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let label = String::decode(src, version)?;
    if version < TYPED_BUFFER_LEN_VERSION {
        return read(&label, src);
    }
    let len = u32::decode(src, version)?;
    src.decode_within(len as usize, "typed buffer payload", |payload| {
        let value = read(&label, payload)?;
        payload.finish("typed buffer payload")?;
        Ok(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_only_from_v11() {
        let mut v19 = Vec::new();
        encode_typed("SPU", &7u8, &mut v19, 19).unwrap();
        assert_eq!(v19, [0, 3, b'S', b'P', b'U', 0, 0, 0, 1, 7]);
        let mut v10 = Vec::new();
        encode_typed("SPU", &7u8, &mut v10, 10).unwrap();
        assert_eq!(v10, [0, 3, b'S', b'P', b'U', 7]);
        for (bytes, version) in [(&v19, 19), (&v10, 10)] {
            let mut reader = Reader::new(bytes);
            let got = decode_typed(&mut reader, version, |label, r| {
                assert_eq!(label, "SPU");
                u8::decode(r, version)
            })
            .unwrap();
            assert_eq!(got, 7);
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn payload_must_fill_its_length() {
        let bytes = [0, 1, b'T', 0, 0, 0, 2, 7, 8];
        let err = decode_typed(&mut Reader::new(&bytes), 19, |_, r| u8::decode(r, 19));
        assert!(matches!(err, Err(DecodeError::TrailingBytes { .. })));
        let bytes = [0, 1, b'T', 0, 0, 0, 9, 7];
        let err = decode_typed(&mut Reader::new(&bytes), 19, |_, r| u8::decode(r, 19));
        assert!(matches!(err, Err(DecodeError::Truncated { .. })));
    }
}
