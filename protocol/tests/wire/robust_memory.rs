//! Decoding any request a server reads (SC public, SPU public, SC private, SPU private)
//! never holds more than `DECODE_MEMORY_RATIO` times the frame in memory, plus
//! `DECODE_MEMORY_SLACK`: whatever count a field claims and however small the elements
//! behind it. A tracking allocator measures the peak of live bytes while each decoder runs.

use crate::{alloc, common};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use protocol::api::{ApiVersionsRequest, RequestHeader, encode_request_frame, sc_keys};
use protocol::codec::{DECODE_MEMORY_RATIO, DECODE_MEMORY_SLACK};
use protocol::internal::{
    EpochEndOffsetRequest, FollowerFetchRequest, FollowerOffsetUpdateRequest, HeartbeatRequest,
    RegisterSpuRequest, ReplicaOffsetReport, ReportOffsetsRequest, ScPrivateRequest,
    SpuPrivateRequest, WatchControlRequest,
};
use protocol::sc::{ListFilter, ListRequest, ObjectListRequest, ReplicaStatus, ScRequest};
use protocol::spu::{
    ApiRequest, DeleteConsumerOffsetRequest, FetchConsumerOffsetsRequest, FetchOffsetsRequest,
    ProduceRequest, ReplicaKey, SpuRequest, StreamFetchRequest, UpdateConsumerOffsetRequest,
    UpdateOffsetsRequest,
};
use protocol::{DecodeError, Encode};

/// Run `f`; what it returns and the most memory it held at once.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let (result, measured) = alloc::measure(f);
    (result, measured.peak)
}

/// The most a request frame body of `len` bytes may cost to decode.
fn bound(len: usize) -> usize {
    DECODE_MEMORY_RATIO * len + DECODE_MEMORY_SLACK
}

/// A request decoder of one server, on a whole frame body.
type FrameDecoder = fn(&[u8]) -> Result<(), DecodeError>;

/// Every request decoder a server runs on a frame body, each measured on its own.
/// Returns the results and peaks; fails if any decoder's peak exceeds the bound.
fn decode_bounded(body: &[u8]) -> [(Result<(), DecodeError>, usize); 4] {
    let decoders: [FrameDecoder; 4] = [
        |b| ScRequest::decode_frame(b).map(drop),
        |b| SpuRequest::decode_frame(b).map(drop),
        |b| ScPrivateRequest::decode_frame(b).map(drop),
        |b| SpuPrivateRequest::decode_frame(b).map(drop),
    ];
    decoders.map(|decode| {
        let (result, peak) = peak_of(|| decode(body));
        assert!(
            peak <= bound(body.len()),
            "decoding a {}-byte body held {peak} bytes ({:.1}x): {result:?}",
            body.len(),
            peak as f64 / body.len() as f64
        );
        (result, peak)
    })
}

/// A frame body (no size prefix) for `request` under its own key and version.
fn body_of<T: ApiRequest + Encode>(request: &T) -> Vec<u8> {
    encode_request_frame(&T::header(1, "memory"), request).unwrap()[4..].to_vec()
}

fn sc_body(request: &ScRequest) -> Vec<u8> {
    let header = request.header(protocol::api::SC_API_VERSION, 1, "memory");
    encode_request_frame(&header, request).unwrap()[4..].to_vec()
}

/// A few arbitrary (valid) requests of every kind the four servers read, encoded.
fn generated_bodies() -> Vec<Vec<u8>> {
    fn some<T: Arbitrary + std::fmt::Debug>(runner: &mut TestRunner, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| any::<T>().new_tree(runner).unwrap().current())
            .collect()
    }
    let mut runner = TestRunner::deterministic();
    let runner = &mut runner;
    let mut out = Vec::new();
    out.extend(some::<ScRequest>(runner, 24).iter().map(sc_body));
    out.extend(some::<ApiVersionsRequest>(runner, 2).iter().map(body_of));
    out.extend(some::<ProduceRequest>(runner, 4).iter().map(body_of));
    out.extend(some::<FetchOffsetsRequest>(runner, 4).iter().map(body_of));
    out.extend(some::<StreamFetchRequest>(runner, 4).iter().map(body_of));
    out.extend(some::<UpdateOffsetsRequest>(runner, 4).iter().map(body_of));
    out.extend(
        some::<UpdateConsumerOffsetRequest>(runner, 2)
            .iter()
            .map(body_of),
    );
    out.extend(
        some::<DeleteConsumerOffsetRequest>(runner, 2)
            .iter()
            .map(body_of),
    );
    out.extend(
        some::<FetchConsumerOffsetsRequest>(runner, 2)
            .iter()
            .map(body_of),
    );
    out.extend(some::<RegisterSpuRequest>(runner, 2).iter().map(body_of));
    out.extend(some::<WatchControlRequest>(runner, 2).iter().map(body_of));
    out.extend(some::<ReportOffsetsRequest>(runner, 4).iter().map(body_of));
    out.extend(some::<HeartbeatRequest>(runner, 2).iter().map(body_of));
    out.extend(some::<FollowerFetchRequest>(runner, 2).iter().map(body_of));
    out.extend(
        some::<FollowerOffsetUpdateRequest>(runner, 4)
            .iter()
            .map(body_of),
    );
    out.extend(some::<EpochEndOffsetRequest>(runner, 2).iter().map(body_of));
    out
}

/// One captured request of every api key and version the official client sent.
fn captured_bodies() -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for name in common::all_logs() {
        for frame in common::load(&name) {
            let kind = (frame.api_key, frame.api_version);
            if frame.is_request && !seen.contains(&kind) {
                seen.push(kind);
                out.push(frame.body().to_vec());
            }
        }
    }
    out
}

/// Bytes of zeros put behind a hostile count: zeros are the cheapest elements on the wire
/// (empty strings, empty vectors, zero numbers, `false`), so they cost the most in
/// memory per byte.
const FLOOD: usize = 24 * 1024;

/// `body` with the 2- or 4-byte big-endian field at `at` set to `count` and [`FLOOD`]
/// zeros inserted behind it.
fn flooded(body: &[u8], at: usize, width: usize, count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + FLOOD);
    out.extend_from_slice(&body[..at]);
    match width {
        2 => out.extend_from_slice(&(count.min(u16::MAX as u32) as u16).to_be_bytes()),
        _ => out.extend_from_slice(&count.to_be_bytes()),
    }
    out.extend(std::iter::repeat_n(0u8, FLOOD));
    out.extend_from_slice(&body[at + width..]);
    out
}

#[test]
fn captured_requests_decode_within_the_budget() {
    let bodies = captured_bodies();
    assert!(bodies.len() >= 8, "{} captured request kinds", bodies.len());
    for body in &bodies {
        let results = decode_bounded(body);
        assert!(
            results.iter().any(|(result, _)| result.is_ok()),
            "a request of the official client no longer decodes: {results:?}"
        );
    }
}

/// Every 2- and 4-byte position of every request kind is tried as a count field, with
/// counts from "one zero byte each" to "more than fit", each followed by a flood of zeros.
/// Where the position is a list, map, string or bytes length this is the attack; where it
/// is not, it is garbage, which must be bounded too.
#[test]
fn hostile_counts_in_every_field_stay_within_the_budget() {
    let mut bodies = captured_bodies();
    bodies.extend(generated_bodies());
    let (mut tried, mut refused_for_memory) = (0usize, 0usize);
    let (mut worst_accepted, mut worst) = (0f64, 0f64);
    for body in &bodies {
        let header_len = {
            let mut reader = protocol::Reader::new(body);
            RequestHeader::read(&mut reader).unwrap();
            reader.position()
        };
        // Past the first 96 bytes of a body the fields repeat the same shapes.
        let end = body.len().min(header_len + 96);
        for at in header_len..end {
            for width in [2usize, 4] {
                if at + width > body.len() {
                    continue;
                }
                for divisor in [1u32, 2, 3, 4, 8, 12] {
                    let frame = flooded(body, at, width, FLOOD as u32 / divisor);
                    tried += 1;
                    for (result, peak) in decode_bounded(&frame) {
                        let ratio = peak as f64 / frame.len() as f64;
                        worst = worst.max(ratio);
                        match result {
                            Err(DecodeError::OverBudget { .. }) => refused_for_memory += 1,
                            Ok(()) => worst_accepted = worst_accepted.max(ratio),
                            Err(_) => {}
                        }
                    }
                }
                let frame = flooded(body, at, width, i32::MAX as u32);
                let _ = decode_bounded(&frame);
            }
        }
    }
    eprintln!(
        "{tried} hostile frames; {refused_for_memory} decodes refused for memory; peak \
         memory at most {worst:.2}x the frame, {worst_accepted:.2}x for decodes that succeeded"
    );
    // The floods do reach the budget: without it some of them cost 12x the frame.
    assert!(refused_for_memory >= 50, "{refused_for_memory}");
}

/// The reported attack: a List request of one-byte name filters. Its 3 wire bytes per
/// filter would become a 24-byte `String` and a 32-byte heap block (19x); the SC refuses
/// it before allocating the filters, and says why.
#[test]
fn one_byte_name_filters_are_refused_before_allocation() {
    let filters = vec![
        ListFilter {
            name: "a".to_string()
        };
        200_000
    ];
    let request = ScRequest::List(ObjectListRequest::Topic(ListRequest {
        filters,
        ..ListRequest::default()
    }));
    let body = sc_body(&request);
    drop(request);
    let [(sc, _), ..] = decode_bounded(&body);
    let err = sc.unwrap_err();
    assert!(
        matches!(err, DecodeError::OverBudget { .. }),
        "{err:?} is not a memory refusal"
    );
    let text = err.to_string();
    assert!(text.contains("too much memory to decode"), "{text}");
    assert!(text.contains("ListFilter"), "{text}");
    assert!(text.contains("4 times its size"), "{text}");
    // Nothing was reserved for the 200,000 filters (4.8 MB): only the label string.
    let (_, peak) = peak_of(|| ScRequest::decode_frame(&body));
    assert!(peak < 4096, "{peak}");
}

/// Legitimate requests with many short names still decode: four-letter topic names
/// cost 24 + 32 bytes each for 6 on the wire, under the bound with the slack.
#[test]
fn a_list_request_with_a_thousand_names_decodes() {
    let request = ScRequest::List(ObjectListRequest::Topic(ListRequest::with_names(
        (0..1000).map(|i| format!("t{i:03}")),
    )));
    let body = sc_body(&request);
    let [(sc, peak), ..] = decode_bounded(&body);
    sc.unwrap();
    eprintln!(
        "1000 four-letter names: {} bytes, {peak} bytes decoded ({:.2}x)",
        body.len(),
        peak as f64 / body.len() as f64
    );
    let (decoded, _) = peak_of(|| ScRequest::decode_frame(&body));
    assert_eq!(decoded.unwrap().1, request);
    assert_eq!(sc_keys::LIST, request.api_key());
}

/// An SPU leading ten thousand replicas reports them all in one request (about 80 bytes
/// on the wire and 150 in memory each): it decodes.
#[test]
fn an_offset_report_of_ten_thousand_replicas_decodes() {
    let reports = (0..10_000)
        .map(|i| ReplicaOffsetReport {
            key: ReplicaKey::new(format!("t-{}", i / 10), i % 10),
            leader_epoch: 1,
            hw: 10,
            leo: 12,
            followers: vec![ReplicaStatus {
                spu: 2,
                hw: 10,
                leo: 11,
            }],
            in_sync: vec![1],
            ..ReplicaOffsetReport::default()
        })
        .collect();
    let request = ReportOffsetsRequest { spu_id: 1, reports };
    let body = body_of(&request);
    let [_, _, (result, peak), _] = decode_bounded(&body);
    result.unwrap();
    eprintln!(
        "10,000 replica reports: {} bytes, {peak} bytes decoded ({:.2}x)",
        body.len(),
        peak as f64 / body.len() as f64
    );
    let (_, decoded) = ScPrivateRequest::decode_frame(&body).unwrap();
    assert_eq!(decoded, ScPrivateRequest::ReportOffsets(request));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_requests_decode_within_the_budget(request in any::<ScRequest>()) {
        let body = sc_body(&request);
        let [(sc, _), ..] = decode_bounded(&body);
        prop_assert!(sc.is_ok(), "{sc:?}");
    }

    #[test]
    fn garbage_decodes_within_the_budget(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = decode_bounded(&bytes);
    }
}
