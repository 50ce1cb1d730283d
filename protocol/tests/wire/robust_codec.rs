//! The frame splitter and the primitive codec never panic on arbitrary bytes, never reserve
//! more than the input allows, and round-trip every value.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use proptest::prelude::*;
use protocol::frame::{DEFAULT_MAX_FRAME_BYTES, FrameError, put_frame, take_frame};
use protocol::{ByteBuf, Decode, Encode, Reader};

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = value.to_bytes(0).expect("encode");
    assert_eq!(&T::from_bytes(&bytes, 0).expect("decode"), value);
}

proptest! {
    #[test]
    fn frames_split_back_into_their_bodies(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8), cut in 0usize..4096) {
        let mut wire = Vec::new();
        for body in &bodies {
            put_frame(&mut wire, body).unwrap();
        }
        // Deliver the stream in two pieces split at an arbitrary point.
        let cut = cut.min(wire.len());
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = Vec::new();
        while let Some(frame) = take_frame(&mut buf, 1024).unwrap() {
            got.push(frame.to_vec());
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(frame) = take_frame(&mut buf, 1024).unwrap() {
            got.push(frame.to_vec());
        }
        prop_assert_eq!(got, bodies);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn frame_splitter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match take_frame(&mut buf, DEFAULT_MAX_FRAME_BYTES) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(FrameError::NegativeLength(n)) => { prop_assert!(n < 0); break }
                Err(FrameError::TooLarge { size, max }) => { prop_assert!(size > max); break }
            }
        }
        // Whatever size was announced, the buffer reserved at most a bounded step ahead.
        prop_assert!(buf.capacity() <= 2 * 1024 * 1024 + bytes.len());
    }

    #[test]
    fn primitives_round_trip(
        a in any::<i64>(), b in any::<u16>(), c in any::<bool>(), s in ".{0,40}",
        v in proptest::collection::vec(any::<i32>(), 0..20),
        o in proptest::option::of(".{0,10}"),
        m in proptest::collection::btree_map(any::<u32>(), proptest::collection::vec(any::<i32>(), 0..4), 0..6),
        d in any::<Duration>(),
        raw in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        round_trip(&a);
        round_trip(&b);
        round_trip(&c);
        round_trip(&s.to_string());
        round_trip(&v);
        round_trip(&o.map(|x| x.to_string()));
        round_trip(&m);
        round_trip(&d);
        round_trip(&ByteBuf::from(raw));
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Vec::<String>::decode(&mut Reader::new(&bytes), 0);
        let _ = BTreeMap::<String, Vec<Option<i64>>>::decode(&mut Reader::new(&bytes), 0);
        let _ = Vec::<ByteBuf>::decode(&mut Reader::new(&bytes), 0);
        let _ = Option::<Duration>::decode(&mut Reader::new(&bytes), 0);
    }
}

#[test]
fn a_hostile_count_allocates_nothing() {
    // 2^31 - 1 strings promised in 4 bytes: refused before any allocation.
    let bytes = [0x7f, 0xff, 0xff, 0xff];
    let err = Vec::<String>::from_bytes(&bytes, 0).unwrap_err();
    assert!(
        err.to_string().contains("claims 2147483647 elements"),
        "{err}"
    );
    // A map count beyond the bytes left.
    let err = BTreeMap::<u32, u32>::from_bytes(&[0xff, 0xff, 0, 0], 0).unwrap_err();
    assert!(matches!(err, protocol::DecodeError::CountTooLarge { .. }));
}
