//! Decoders facing hostile bytes: SPU public requests and responses, the internal private
//! requests, record batches and compressed records. Whatever the input, decoding returns
//! a value or a typed error; it never panics, and never allocates much more than the input
//! (decompression included: it is capped by the caller's limit).

use crate::{alloc, common};

use std::sync::OnceLock;

use proptest::prelude::*;
use protocol::api::RequestHeader;
use protocol::internal::{
    ScPrivateRequest, ScPrivateResponse, SpuPrivateRequest, SpuPrivateResponse,
};
use protocol::record::{
    Batch, BatchError, Compression, CompressionError, Record, RecordError, RecordSet, batches,
    decode_records_section,
};
use protocol::spu::{SpuRequest, SpuResponse};
use protocol::{Decode, DecodeError, Encode, Reader};

/// The decompression limit the fuzzing uses.
const LIMIT: usize = 64 * 1024;

/// Message decoding (inputs of at most a few KiB) stays far below this in one piece.
const MESSAGE_BOUND: usize = 1024 * 1024;

/// Record decoding may also reserve a declared zstd window, which we cap at 8 MiB.
const RECORDS_BOUND: usize = 9 * 1024 * 1024;

/// Run `f`, failing if it asked for more than `bound` bytes in one allocation.
fn bounded<R>(bound: usize, f: impl FnOnce() -> R) -> R {
    let (result, measured) = alloc::measure(f);
    let largest = measured.largest;
    assert!(largest <= bound, "largest allocation {largest} bytes");
    result
}

/// A captured frame body: is it a request, the api key and version it is decoded at.
type Captured = (bool, u16, i16, Vec<u8>);

/// Every captured SPU frame body.
fn captured() -> &'static [Captured] {
    static FRAMES: OnceLock<Vec<Captured>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        common::all_logs()
            .iter()
            .flat_map(|name| common::load(name))
            .filter(|f| f.role == common::Role::Spu)
            .map(|f| (f.is_request, f.api_key, f.api_version, f.body().to_vec()))
            .collect()
    })
}

/// A few valid batches, one per codec, with keys, values and headers.
fn valid_batches() -> &'static [Vec<u8>] {
    static BATCHES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BATCHES.get_or_init(|| {
        Compression::ALL
            .iter()
            .map(|codec| {
                let mut batch = Batch::new().with_compression(*codec).with_timestamp(1_000);
                batch.push(Record::with_key(&b"key"[..], vec![b'v'; 300]));
                batch.push(Record::new(&b"second"[..]).header("h", &b"x"[..]));
                batch.encode().unwrap()
            })
            .collect()
    })
}

fn decode_any_request(body: &[u8]) {
    bounded(MESSAGE_BOUND, || decode_any_request_unchecked(body));
}

fn decode_any_request_unchecked(body: &[u8]) {
    let mut reader = Reader::new(body);
    if let Ok(header) = RequestHeader::read(&mut reader) {
        let rest = reader.clone();
        let _ = SpuRequest::decode(&header, &mut reader);
        let _ = ScPrivateRequest::decode(&header, &mut rest.clone());
        let _ = SpuPrivateRequest::decode(&header, &mut rest.clone());
    }
}

fn decode_any_response(api_key: u16, version: i16, body: &[u8]) {
    bounded(MESSAGE_BOUND, || {
        let _ = SpuResponse::decode_frame(body, api_key, version);
        let _ = ScPrivateResponse::decode_frame(body, api_key, 0);
        let _ = SpuPrivateResponse::decode_frame(body, api_key, 0);
    });
}

/// Decode everything a consumer would from a record set: batches, records, decompression.
fn decode_records(bytes: &[u8]) {
    let set = RecordSet::new(bytes.to_vec());
    bounded(RECORDS_BOUND, || {
        for raw in batches(bytes) {
            let Ok(raw) = raw else { break };
            let _ = raw.verify_crc();
            let _ = Batch::from_raw_with_limit(&raw, LIMIT);
        }
        let _ = set.decode_batches(LIMIT);
    });
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate(usize),
    Insert { at: usize, byte: u8 },
    Remove(usize),
    Overwrite { at: usize, bytes: [u8; 4] },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), any::<[u8; 4]>())
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip { at, xor } => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= xor;
                }
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::Remove(at) => {
                if !bytes.is_empty() {
                    bytes.remove(at % len);
                }
            }
            Mutation::Overwrite { at, bytes: four } => {
                for (i, b) in four.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut((at + i) % len) {
                        *slot = *b;
                    }
                }
            }
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_request_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_any_request(&body);
    }

    /// A valid header for every api key we serve, then garbage: reaches the body decoders.
    #[test]
    fn arbitrary_bodies_behind_valid_headers(
        key in prop_oneof![
            Just(0u16), Just(18), Just(1002), Just(1003), Just(1005), Just(1006), Just(1007),
            Just(1008), Just(2001), Just(2002), Just(2003), Just(2004), Just(2101), Just(2102),
            Just(2103), any::<u16>()
        ],
        version in prop_oneof![Just(0i16), Just(17), Just(23), Just(24), any::<i16>()],
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let header = RequestHeader { api_key: key, api_version: version, correlation_id: 1, client_id: "f".into() };
        let mut frame = Vec::new();
        header.write(&mut frame).unwrap();
        frame.extend_from_slice(&body);
        decode_any_request(&frame);
        decode_any_response(key, version, &body);
    }

    #[test]
    fn mutated_captured_frames(index in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let frames = captured();
        let (is_request, key, version, body) = &frames[index % frames.len()];
        let mut body = body.clone();
        mutate(&mut body, &mutations);
        if *is_request {
            decode_any_request(&body);
        } else {
            decode_any_response(*key, *version, &body);
        }
    }

    #[test]
    fn mutated_internal_frames(
        request in any::<SpuPrivateRequest>(),
        response in any::<ScPrivateResponse>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut frame = request.to_frame(0, 1, "spu").unwrap()[4..].to_vec();
        mutate(&mut frame, &mutations);
        decode_any_request(&frame);
        let mut frame = response.to_frame(1, 0).unwrap()[4..].to_vec();
        mutate(&mut frame, &mutations);
        decode_any_response(response.api_key(), 0, &frame);
    }

    #[test]
    fn arbitrary_batch_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_records(&bytes);
    }

    /// Valid headers (lengths consistent) over garbage records sections, for every codec:
    /// the decompressors see garbage.
    #[test]
    fn garbage_records_sections(codec in any::<Compression>(), section in proptest::collection::vec(any::<u8>(), 0..512)) {
        bounded(RECORDS_BOUND, || decode_records_section(codec, &section, LIMIT).map(|_| ()).ok());
        // The same garbage inside a well-formed batch header.
        let mut bytes = valid_batches()[0][..57].to_vec();
        bytes[21..23].copy_from_slice(&i16::from(codec.tag()).to_be_bytes());
        bytes.extend_from_slice(&section);
        let batch_len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&batch_len.to_be_bytes());
        decode_records(&bytes);
    }

    #[test]
    fn mutated_valid_batches(index in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..4), skip_len_check in any::<bool>()) {
        let all = valid_batches();
        let mut bytes = all[index % all.len()].clone();
        mutate(&mut bytes, &mutations);
        if skip_len_check && bytes.len() >= 12 {
            // Keep batch_len consistent so the mutation reaches the records.
            let batch_len = (bytes.len() - 12) as i32;
            bytes[8..12].copy_from_slice(&batch_len.to_be_bytes());
        }
        decode_records(&bytes);
    }

    #[test]
    fn arbitrary_record_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        bounded(MESSAGE_BOUND, || {
            let _ = Record::from_bytes(&bytes, 0);
            let _ = Vec::<Record>::from_bytes(&bytes, 0);
        });
    }
}

// ---------------------------------------------------------------------------------------
// One hand-written case per error kind.

fn header(api_key: u16, api_version: i16) -> RequestHeader {
    RequestHeader {
        api_key,
        api_version,
        correlation_id: 1,
        client_id: "fluvio".into(),
    }
}

fn decode(api_key: u16, version: i16, body: &[u8]) -> Result<SpuRequest, DecodeError> {
    SpuRequest::decode(&header(api_key, version), &mut Reader::new(body))
}

fn stream_fetch_body(isolation: u8) -> Vec<u8> {
    let mut body = vec![0, 4, b'd', b'e', b'm', b'o', 0, 0, 0, 0];
    body.extend([0; 8]);
    body.extend([0x00, 0x10, 0x01, 0x3a, isolation, 0, 0, 0, 0, 0]);
    body
}

#[test]
fn request_error_kinds() {
    assert_eq!(decode(999, 0, &[]), Err(DecodeError::UnknownApiKey(999)));
    assert_eq!(
        decode(1005, 3, &[0, 0, 0, 0]),
        Err(DecodeError::UnsupportedVersion {
            api_key: 1005,
            version: 3
        })
    );
    assert!(decode(1003, 24, &stream_fetch_body(0)).is_ok());
    // Truncated: the body stops inside max_bytes.
    assert!(matches!(
        decode(1003, 24, &stream_fetch_body(0)[..20]),
        Err(DecodeError::Truncated { .. })
    ));
    // Trailing bytes after a complete body.
    let mut long = stream_fetch_body(0);
    long.push(0);
    assert!(matches!(
        decode(1003, 24, &long),
        Err(DecodeError::TrailingBytes { .. })
    ));
    // Unknown enum tag: isolation 7.
    assert!(matches!(
        decode(1003, 24, &stream_fetch_body(7)),
        Err(DecodeError::UnknownTag {
            kind: "Isolation",
            ..
        })
    ));
    // Invalid bool: consumer_id option tag 2.
    let mut bad_option = stream_fetch_body(0);
    *bad_option.last_mut().unwrap() = 2;
    assert_eq!(
        decode(1003, 24, &bad_option),
        Err(DecodeError::InvalidBool(2))
    );
    // Count too large: a smartmodules vector claiming 2^30 entries.
    let mut huge = stream_fetch_body(0);
    let at = huge.len() - 5;
    huge[at..at + 4].copy_from_slice(&0x4000_0000u32.to_be_bytes());
    assert!(matches!(
        decode(1003, 24, &huge),
        Err(DecodeError::CountTooLarge { .. })
    ));
    // Invalid UTF-8 in the topic name.
    let mut utf8 = stream_fetch_body(0);
    utf8[2] = 0xff;
    assert!(matches!(
        decode(1003, 24, &utf8),
        Err(DecodeError::InvalidUtf8 { .. })
    ));
    // Unknown SmartModule kind inside an otherwise valid produce request.
    let mut produce = vec![0, 0, 1, 0, 0, 0x05, 0xdc, 0, 0, 0, 0];
    produce.extend([0, 0, 0, 1, 0, 0, 2, b's', b'm', 9]);
    assert!(matches!(
        decode(0, 24, &produce),
        Err(DecodeError::UnknownTag {
            kind: "SmartModuleKind",
            ..
        })
    ));
    // A negative record set length.
    let mut produce = vec![0, 0, 1, 0, 0, 0x05, 0xdc];
    produce.extend([0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0]);
    produce.extend([0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0]);
    assert!(matches!(
        decode(0, 24, &produce),
        Err(DecodeError::Invalid {
            what: "record set",
            ..
        })
    ));
}

#[test]
fn response_error_kinds() {
    // An error code the client would not know.
    let mut body = vec![0, 0, 0, 1];
    body.extend([0x7f, 0x7f]);
    body.extend([0, 0, 0, 0]);
    assert!(matches!(
        SpuResponse::decode(
            1005,
            0,
            &mut Reader::new(&[0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0x7f])
        ),
        Err(DecodeError::UnknownTag {
            kind: "ErrorCode",
            ..
        })
    ));
    assert_eq!(
        SpuResponse::decode(4242, 0, &mut Reader::new(&body)),
        Err(DecodeError::UnknownApiKey(4242))
    );
}

#[test]
fn batch_error_kinds() {
    let valid = valid_batches()[0].clone();
    Batch::decode(&valid).unwrap();
    // Truncated header and truncated body.
    assert!(matches!(
        Batch::decode(&valid[..30]),
        Err(RecordError::Batch(BatchError::Truncated { .. }))
    ));
    assert!(matches!(
        Batch::decode(&valid[..valid.len() - 1]),
        Err(RecordError::Batch(BatchError::Truncated { .. }))
    ));
    // Bad length and bad magic.
    let mut short_len = valid.clone();
    short_len[8..12].copy_from_slice(&3i32.to_be_bytes());
    assert!(matches!(
        Batch::decode(&short_len),
        Err(RecordError::Batch(BatchError::BadLength(3)))
    ));
    let mut magic = valid.clone();
    magic[16] = 0;
    assert!(matches!(
        Batch::decode(&magic),
        Err(RecordError::Batch(BatchError::BadMagic(0)))
    ));
    // CRC mismatch (detected by verify_crc; decoding itself does not check).
    let mut crc = valid.clone();
    let last = crc.len() - 1;
    crc[last] ^= 1;
    let raw = batches(&crc).next().unwrap().unwrap();
    assert!(matches!(
        raw.verify_crc(),
        Err(BatchError::CrcMismatch { .. })
    ));
    // Unknown codec bits.
    let mut codec = valid.clone();
    codec[22] = 6;
    assert!(matches!(
        Batch::decode(&codec),
        Err(RecordError::Compression(CompressionError::UnknownCodec(6)))
    ));
    // Record count disagreeing with the header.
    let mut count = valid.clone();
    count[23..27].copy_from_slice(&5i32.to_be_bytes());
    assert!(matches!(
        Batch::decode(&count),
        Err(RecordError::CountMismatch { .. })
    ));
    // A malformed varint inside a record: overlong.
    let mut overlong = Batch::from_records([Record::new(&b"x"[..])])
        .encode()
        .unwrap();
    // records section: count (4 bytes) then the record's length varint at offset 61.
    overlong.splice(61..62, [0x8c, 0x00]);
    let batch_len = (overlong.len() - 12) as i32;
    overlong[8..12].copy_from_slice(&batch_len.to_be_bytes());
    assert!(matches!(
        Batch::decode(&overlong),
        Err(RecordError::Decode(DecodeError::Invalid {
            what: "varint",
            ..
        }))
    ));
}

#[test]
fn compression_error_kinds() {
    for codec in &Compression::ALL[1..] {
        let valid = valid_batches()[codec.tag() as usize].clone();
        let decoded = Batch::decode(&valid).unwrap();
        assert_eq!(decoded.compression, *codec);
        // Over the limit: the 300-byte value does not fit in 100 bytes.
        let raw = batches(&valid).next().unwrap().unwrap();
        assert!(
            matches!(
                Batch::from_raw_with_limit(&raw, 100),
                Err(RecordError::Compression(CompressionError::TooLarge { .. }))
            ),
            "{codec:?}"
        );
        // Corrupt: the compressed bytes cut in half.
        let section = raw.records_section();
        assert!(
            matches!(
                decode_records_section(*codec, &section[..section.len() / 2], LIMIT),
                Err(RecordError::Compression(CompressionError::Corrupt { .. }))
            ),
            "{codec:?}"
        );
    }
}

/// A compression bomb: 16 MiB of zeros compress to a few KiB; decoding with a 64 KiB limit
/// stops early, without allocating the whole output.
#[test]
fn compression_bombs_are_cut_off() {
    let zeros = vec![0u8; 16 * 1024 * 1024];
    for codec in &Compression::ALL[1..] {
        let bomb = codec.compress(&zeros).unwrap();
        assert!(bomb.len() < zeros.len() / 10, "{codec:?}: {}", bomb.len());
        let result = bounded(RECORDS_BOUND, || codec.decompress(&bomb, LIMIT));
        assert!(
            matches!(result, Err(CompressionError::TooLarge { .. })),
            "{codec:?}"
        );
    }
}

#[test]
fn captured_frames_still_decode() {
    // The fuzzing above starts from these; make sure they are the real thing.
    let frames = captured();
    assert!(frames.len() > 150);
    for (is_request, key, version, body) in frames {
        if *is_request {
            SpuRequest::decode_frame(body).unwrap();
        } else {
            SpuResponse::decode_frame(body, *key, *version).unwrap();
        }
    }
    let _ = RecordSet::default().to_bytes(0).unwrap();
}

#[test]
fn the_allocation_check_catches_large_reservations() {
    let caught = std::panic::catch_unwind(|| bounded(1024, || vec![0u8; 4096]));
    assert!(caught.is_err());
    assert_eq!(bounded(1024, || vec![0u8; 16]).len(), 16);
}
