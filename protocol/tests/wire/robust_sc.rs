//! The SC decoders never panic: arbitrary bytes and mutated captured frames give either a
//! message (which then re-encodes and decodes to itself) or a typed error. Each error kind
//! is also shown on a hand-made frame.

use crate::common;

use common::Role;
use proptest::prelude::*;
use protocol::DecodeError;
use protocol::api::{RequestHeader, encode_request_frame, sc_keys};
use protocol::sc::*;
use protocol::{Encode, Reader};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect::<String>().replace('|', "");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decode a request frame body; on success check that it re-encodes into bytes that
/// decode to the same request.
fn decode_request_checked(body: &[u8]) -> Result<ScRequest, DecodeError> {
    let (header, request) = ScRequest::decode_frame(body)?;
    let frame = encode_request_frame(&header, &request).expect("a decoded request re-encodes");
    let (header2, request2) = ScRequest::decode_frame(&frame[4..]).expect("re-encoded decodes");
    assert_eq!(header2, header);
    assert_eq!(request2, request);
    Ok(request)
}

/// Decode a response body to a request of `api_key`/`version`; on success check that it
/// re-encodes into bytes that decode to the same response.
fn decode_response_checked(
    body: &[u8],
    api_key: u16,
    version: i16,
) -> Result<ScResponse, DecodeError> {
    let (corr, response) = ScResponse::decode_frame(body, api_key, version)?;
    let frame = response.to_frame(corr, version).expect("re-encodes");
    let (corr2, response2) =
        ScResponse::decode_frame(&frame[4..], api_key, version).expect("re-encoded decodes");
    assert_eq!(corr2, corr);
    assert_eq!(response2, response);
    Ok(response)
}

/// A captured frame: is it a request, the api key and version (of its request), its body.
type Captured = (bool, u16, i16, Vec<u8>);

/// Distinct SC-side frames from every capture.
fn captured_bodies() -> Vec<Captured> {
    let mut out: Vec<Captured> = Vec::new();
    for name in common::all_logs() {
        for frame in common::load(&name) {
            if frame.role == Role::Sc || frame.api_key == 18 {
                let entry = (
                    frame.is_request,
                    frame.api_key,
                    frame.api_version,
                    frame.body().to_vec(),
                );
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Truncate { len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
    Overwrite { at: usize, value: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..6).prop_map(|(at, len)| Mutation::Remove { at, len }),
        // Values that tend to matter: 0, 1, 2, 0x7f, 0x80, 0xff.
        (
            any::<usize>(),
            prop::sample::select(vec![0u8, 1, 2, 0x7f, 0x80, 0xff])
        )
            .prop_map(|(at, value)| Mutation::Overwrite { at, value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    if len == 0 {
        return;
    }
    match mutation {
        Mutation::Flip { at, mask } => bytes[at % len] ^= mask,
        Mutation::Truncate { len: keep } => bytes.truncate(keep % len),
        Mutation::Insert { at, bytes: extra } => {
            let at = at % (len + 1);
            bytes.splice(at..at, extra.iter().copied());
        }
        Mutation::Remove { at, len: n } => {
            let at = at % len;
            let end = (at + n).min(len);
            bytes.drain(at..end);
        }
        Mutation::Overwrite { at, value } => bytes[at % len] = *value,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request_checked(&bytes);
        for (key, version) in [(18u16, 2i16), (1001, 19), (1002, 19), (1003, 19), (1004, 19)] {
            let _ = decode_response_checked(&bytes, key, version);
        }
    }

    /// Random bodies behind a valid header, so the body decoders are reached.
    #[test]
    fn arbitrary_bodies_never_panic(
        api_key in prop::sample::select(vec![18u16, 1001, 1002, 1003, 1004, 1005, 1006, 0]),
        version in prop_oneof![Just(19i16), Just(2i16), any::<i16>()],
        label in prop::sample::select(vec!["Topic", "Partition", "SPU", "CustomSpu", "AuthToken", "X", ""]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let header = RequestHeader { api_key, api_version: version, correlation_id: 1, client_id: "fluvio".into() };
        let mut frame = Vec::new();
        header.write(&mut frame).unwrap();
        // Half the time, a well-formed typed buffer around the random payload.
        let mut typed = frame.clone();
        label.encode(&mut typed, version).unwrap();
        typed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        typed.extend_from_slice(&body);
        frame.extend_from_slice(&body);
        let _ = decode_request_checked(&frame);
        let _ = decode_request_checked(&typed);
    }

    #[test]
    fn mutated_captured_frames_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let frames = captured();
        let (is_request, api_key, version, body) = pick.get(frames);
        let mut bytes = body.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if *is_request {
            let _ = decode_request_checked(&bytes);
        } else {
            let _ = decode_response_checked(&bytes, *api_key, *version);
        }
    }
}

fn captured() -> &'static [Captured] {
    static FRAMES: std::sync::OnceLock<Vec<Captured>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(captured_bodies)
}

#[test]
fn every_captured_frame_decodes_before_mutation() {
    let frames = captured();
    assert!(frames.len() > 30, "{}", frames.len());
    for (is_request, api_key, version, body) in frames {
        if *is_request {
            decode_request_checked(body).unwrap();
        } else {
            decode_response_checked(body, *api_key, *version).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// One hand-made case per error kind.

/// The captured Create "demo" request body (without the size prefix).
fn create_demo() -> Vec<u8> {
    hex("03e9 0013 00000004 0006 666c7576696f
         0005 546f706963 00000017
         0004 64656d6f 00 00 | 01 00000001 00000001 01 | 00 00 04 00 00")
}

/// A Watch request body for `label` (epoch 0, summary false).
fn watch(label: &str, version: i16) -> Vec<u8> {
    let mut body = Vec::new();
    RequestHeader {
        api_key: sc_keys::WATCH,
        api_version: version,
        correlation_id: 1,
        client_id: "dummy".into(),
    }
    .write(&mut body)
    .unwrap();
    label.encode(&mut body, version).unwrap();
    body.extend_from_slice(&hex("00000009 0000000000000000 00"));
    body
}

/// A List request body with a raw payload.
fn list_with_payload(payload: &[u8]) -> Vec<u8> {
    let mut body = hex("03eb 0013 00000005 0006 666c7576696f 0005 546f706963");
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    body
}

fn decode(body: &[u8]) -> Result<ScRequest, DecodeError> {
    let mut reader = Reader::new(body);
    let header = RequestHeader::read(&mut reader)?;
    ScRequest::decode(&header, &mut reader)
}

#[test]
fn the_hand_made_frames_are_valid_as_built() {
    let ScRequest::Create(ObjectCreateRequest::Topic(create)) = decode(&create_demo()).unwrap()
    else {
        panic!("create");
    };
    assert_eq!(create.name, "demo");
    assert!(matches!(
        decode(&watch("SPU", 19)).unwrap(),
        ScRequest::Watch(ObjectWatchRequest::Spu(_))
    ));
    let ScRequest::List(list) = decode(&list_with_payload(&hex("00000000 00 00"))).unwrap() else {
        panic!("list");
    };
    assert_eq!(list.kind(), ObjectKind::Topic);
}

#[test]
fn truncated_anywhere_is_truncated() {
    let body = create_demo();
    for len in 0..body.len() {
        let err = decode(&body[..len]).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "prefix {len}: {err:?}"
        );
    }
}

#[test]
fn negative_lengths_and_counts() {
    // A negative string length reads as the empty string: here the label, which then
    // names no object kind.
    let body = hex("03ec 0013 00000001 0005 64756d6d79 ffff 00000009 0000000000000000 00");
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::UnknownObjectType(String::new())
    );
    // A negative vector count reads as empty, like the official decoder.
    let list = decode(&list_with_payload(&hex("ffffffff 00 00"))).unwrap();
    let ScRequest::List(list) = list else {
        panic!()
    };
    assert!(list.request().filters.is_empty());
    // The typed buffer length is unsigned: 0xffffffff is a truncation.
    let body = hex("03ec 0013 00000001 0005 64756d6d79 0003 535055 ffffffff 0000000000000000 00");
    assert!(matches!(
        decode(&body).unwrap_err(),
        DecodeError::Truncated { .. }
    ));
}

#[test]
fn huge_count_is_refused() {
    let err = decode(&list_with_payload(&hex("7fffffff 0001 61 00 00"))).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::CountTooLarge {
                claimed: 0x7fff_ffff,
                ..
            }
        ),
        "{err:?}"
    );
    // In a response: a watch update claiming 2^31-1 changes.
    let body = hex("00000001 0005 546f706963 00000010 0000000000000001 7fffffff 00000000");
    let err = ScResponse::decode_frame(&body, sc_keys::WATCH, 19).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err:?}");
}

#[test]
fn invalid_bool() {
    let mut body = watch("Topic", 19);
    *body.last_mut().unwrap() = 2;
    assert_eq!(decode(&body).unwrap_err(), DecodeError::InvalidBool(2));
    // dry_run of the create.
    let mut body = create_demo();
    body[33] = 7;
    assert_eq!(decode(&body).unwrap_err(), DecodeError::InvalidBool(7));
}

#[test]
fn unknown_enum_tags() {
    // ReplicaSpec tag 7.
    let mut body = create_demo();
    body[35] = 7;
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::UnknownTag {
            kind: "ReplicaSpec",
            tag: 7
        }
    );
    // ReplicaSpec 2 is a mirror topic: known, refused.
    body[35] = 2;
    assert!(matches!(
        decode(&body).unwrap_err(),
        DecodeError::Invalid { .. }
    ));
    // Topic compression type 9.
    let mut body = create_demo();
    let at = body.len() - 3;
    assert_eq!(body[at], 4);
    body[at] = 9;
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::UnknownTag {
            kind: "CompressionAlgorithm",
            tag: 9
        }
    );
    // A status with an error code the client does not know.
    let body = hex("00000004 0004 64656d6f 7f00 00");
    assert_eq!(
        ScResponse::decode_frame(&body, sc_keys::CREATE, 19).unwrap_err(),
        DecodeError::UnknownTag {
            kind: "ErrorCode",
            tag: 0x7f00
        }
    );
    // A watch message header other than UPDATE (0) / DELETE (1).
    let body = hex(
        "00000002 0005 546f706963 0000002a 0000000000000002 00000001 02 0001 61
         01 00000001 00000001 00 00 00 04 00 00 | 04 0000 0000 0000 | 00000000",
    );
    assert_eq!(
        ScResponse::decode_frame(&body, sc_keys::WATCH, 19).unwrap_err(),
        DecodeError::UnknownTag {
            kind: "MessageType",
            tag: 2
        }
    );
}

#[test]
fn unknown_api_key_and_unsupported_version() {
    let mut body = watch("Topic", 19);
    for key in [0u16, 1005, 1007, 17, 0xffff] {
        body[..2].copy_from_slice(&key.to_be_bytes());
        assert_eq!(decode(&body).unwrap_err(), DecodeError::UnknownApiKey(key));
    }
    // Watch is advertised for 15..=19 only.
    for version in [14i16, 20, -1] {
        assert_eq!(
            decode(&watch("Topic", version)).unwrap_err(),
            DecodeError::UnsupportedVersion {
                api_key: sc_keys::WATCH,
                version
            }
        );
    }
    assert!(decode(&watch("Topic", 15)).is_ok());
    assert!(!sc_supports(sc_keys::CREATE, 8));
    assert!(sc_supports(18, 0));
    // Responses to api keys the SC does not serve.
    assert_eq!(
        ScResponse::decode_frame(&hex("00000001"), 1005, 19).unwrap_err(),
        DecodeError::UnknownApiKey(1005)
    );
}

#[test]
fn unknown_object_labels() {
    for label in ["SmartModule", "topic", "Mirror", "TableFormat", ""] {
        assert_eq!(
            decode(&watch(label, 19)).unwrap_err(),
            DecodeError::UnknownObjectType(label.to_string())
        );
    }
    // Partitions and SPUs exist but cannot be created.
    let mut body = create_demo();
    body.splice(16..23, [0, 3, b'S', b'P', b'U']);
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::UnknownObjectType("SPU".into())
    );
    // Nor can partition states (ours), which are only listed and watched.
    let mut body = create_demo();
    let label: Vec<u8> = [0, 14].into_iter().chain(*b"PartitionState").collect();
    body.splice(16..23, label);
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::UnknownObjectType("PartitionState".into())
    );
    // A label that is not UTF-8.
    let mut body = watch("Topic", 19);
    body[17] = 0xff;
    assert!(matches!(
        decode(&body).unwrap_err(),
        DecodeError::InvalidUtf8 { .. }
    ));
}

#[test]
fn trailing_bytes() {
    // After the typed buffer.
    let mut body = watch("Topic", 19);
    body.push(0);
    assert_eq!(
        decode(&body).unwrap_err(),
        DecodeError::TrailingBytes {
            what: "SC request body",
            count: 1
        }
    );
    // Inside the typed buffer: its length claims more than the payload uses.
    let err = decode(&list_with_payload(&hex("00000000 00 00 00 00"))).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TrailingBytes {
            what: "typed buffer payload",
            count: 2
        }
    );
    // After a response.
    let body = hex("00000004 0004 64656d6f 0000 00 ff");
    assert_eq!(
        ScResponse::decode_frame(&body, sc_keys::CREATE, 19).unwrap_err(),
        DecodeError::TrailingBytes {
            what: "SC response body",
            count: 1
        }
    );
}
