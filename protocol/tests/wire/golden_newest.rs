//! The newest official Rust client, the `fluvio` crate 0.50.1, against our daemon: a proxy
//! capture (`tests/data/newest-client/`, made with `tools/newest-client`) of it creating,
//! listing, growing (Update) and deleting a topic, producing keyed and unkeyed records,
//! streaming them back, asking for a named SmartModule, and committing, listing and
//! deleting a consumer offset. Every frame, ours and the client's, decodes and
//! re-encodes byte for byte, and the client negotiated the versions we mean it to: object
//! APIs v19 on the SC, v25 on the SPU.

use std::collections::BTreeSet;

use crate::common::{self, CapturedFrame, Role};
use protocol::api::{ErrorCode, SPU_API_NEWEST, encode_request_frame, encode_response_frame};
use protocol::sc::{ObjectUpdateRequest, ScRequest, ScResponse, TopicUpdate};
use protocol::spu::{ReplicaKey, SmartModuleKind, SmartModuleWasm, SpuRequest, SpuResponse};

const CAPTURE: &str = "newest-client/fluvio-rust-0.50.1.log";

fn frames() -> Vec<CapturedFrame> {
    common::load(CAPTURE)
}

fn sc_request(frame: &CapturedFrame) -> ScRequest {
    let (header, request) = ScRequest::decode_frame(frame.body())
        .unwrap_or_else(|e| panic!("line {}: SC request: {e}", frame.line));
    assert_eq!(header.api_version, frame.api_version, "line {}", frame.line);
    let again = encode_request_frame(&header, &request).unwrap();
    assert_eq!(again, frame.bytes, "line {}: re-encoded", frame.line);
    request
}

fn sc_response(frame: &CapturedFrame) -> ScResponse {
    let (id, response) = ScResponse::decode_frame(frame.body(), frame.api_key, frame.api_version)
        .unwrap_or_else(|e| panic!("line {}: SC response: {e}", frame.line));
    let again = encode_response_frame(id, &response, frame.api_version).unwrap();
    assert_eq!(again, frame.bytes, "line {}: re-encoded", frame.line);
    response
}

fn spu_request(frame: &CapturedFrame) -> SpuRequest {
    let (header, request) = SpuRequest::decode_frame(frame.body())
        .unwrap_or_else(|e| panic!("line {}: SPU request: {e}", frame.line));
    assert_eq!(header.api_version, frame.api_version, "line {}", frame.line);
    let again = request
        .to_frame(header.api_version, header.correlation_id, &header.client_id)
        .unwrap();
    assert_eq!(again, frame.bytes, "line {}: re-encoded", frame.line);
    request
}

fn spu_response(frame: &CapturedFrame) -> SpuResponse {
    let (id, response) = SpuResponse::decode_frame(frame.body(), frame.api_key, frame.api_version)
        .unwrap_or_else(|e| panic!("line {}: SPU response: {e}", frame.line));
    let again = response.to_frame(id, frame.api_version).unwrap();
    assert_eq!(again, frame.bytes, "line {}: re-encoded", frame.line);
    response
}

#[test]
fn every_frame_round_trips_at_the_versions_negotiated() {
    let mut versions = BTreeSet::new();
    let (mut sc, mut spu) = (0, 0);
    for frame in frames() {
        match (frame.role, frame.is_request) {
            (Role::Sc, true) => drop(sc_request(&frame)),
            (Role::Sc, false) => drop(sc_response(&frame)),
            (Role::Spu, true) => drop(spu_request(&frame)),
            (Role::Spu, false) => drop(spu_response(&frame)),
        }
        match frame.role {
            Role::Sc => sc += 1,
            Role::Spu => spu += 1,
        }
        if frame.is_request {
            versions.insert((frame.role == Role::Sc, frame.api_key, frame.api_version));
        }
    }
    assert!(sc >= 20 && spu >= 20, "{sc} SC frames, {spu} SPU frames");
    // (is SC, api key, version) of every request the client sent.
    let expected = BTreeSet::from([
        (true, 18, 2),
        (true, 1001, 19),
        (true, 1002, 19),
        (true, 1003, 19),
        (true, 1004, 19),
        (true, 1006, 19),
        (false, 18, 2),
        (false, 0, SPU_API_NEWEST),
        (false, 1002, SPU_API_NEWEST),
        (false, 1003, SPU_API_NEWEST),
        (false, 1005, 0),
        (false, 1006, SPU_API_NEWEST),
        (false, 1007, SPU_API_NEWEST),
        (false, 1008, SPU_API_NEWEST),
    ]);
    assert_eq!(versions, expected);
}

#[test]
fn the_client_says_who_it_is_and_gets_our_tables() {
    let frames = frames();
    for role in [Role::Sc, Role::Spu] {
        let request = frames
            .iter()
            .find(|f| f.role == role && f.is_request && f.api_key == 18)
            .unwrap();
        let response = frames
            .iter()
            .find(|f| f.role == role && !f.is_request && f.api_key == 18)
            .unwrap();
        let ours = match role {
            Role::Sc => {
                let ScRequest::ApiVersions(request) = sc_request(request) else {
                    panic!("ApiVersions")
                };
                assert_eq!(request.client_version, "0.50.1");
                assert_eq!(request.client_os, "linux");
                sc_response(response)
            }
            Role::Spu => {
                let SpuRequest::ApiVersions(request) = spu_request(request) else {
                    panic!("ApiVersions")
                };
                assert_eq!(request.client_version, "0.50.1");
                let SpuResponse::ApiVersions(versions) = spu_response(response) else {
                    panic!("ApiVersions")
                };
                assert_eq!(versions, protocol::api::ApiVersionsResponse::spu());
                continue;
            }
        };
        let ScResponse::ApiVersions(versions) = ours else {
            panic!("ApiVersions")
        };
        assert_eq!(versions, protocol::api::ApiVersionsResponse::sc());
    }
}

#[test]
fn the_topic_grows_by_one_partition() {
    let frames = frames();
    let request = frames
        .iter()
        .find(|f| f.role == Role::Sc && f.is_request && f.api_key == 1006)
        .expect("an update");
    let ScRequest::Update(ObjectUpdateRequest::Topic(update)) = sc_request(request) else {
        panic!("a topic update")
    };
    assert_eq!(update.key, "newest");
    assert_eq!(update.action, TopicUpdate::AddPartition { count: 1 });
    let answer = answer_to(&frames, request);
    let ScResponse::Update(status) = sc_response(answer) else {
        panic!("a status")
    };
    assert!(status.is_ok(), "{status:?}");
    assert_eq!(status.name, "newest");
}

/// Every record of a set as (key, value).
fn key_values(set: &protocol::record::RecordSet) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    set.decode_batches(1 << 20)
        .unwrap()
        .iter()
        .flat_map(|batch| batch.iter())
        .map(|entry| {
            let key = entry.record.key.as_ref().map(|k| k.to_vec());
            (key, entry.record.value.to_vec())
        })
        .collect()
}

#[test]
fn keyed_and_unkeyed_records_go_out_and_come_back() {
    let frames = frames();
    let mut produced = BTreeSet::new();
    let mut streamed = BTreeSet::new();
    for frame in frames.iter().filter(|f| f.role == Role::Spu) {
        if frame.is_request {
            if let SpuRequest::Produce(produce) = spu_request(frame) {
                assert!(produce.smartmodules.is_empty());
                for (topic, partition) in produce.entries() {
                    assert_eq!(topic, "newest");
                    produced.extend(key_values(&partition.records));
                }
            }
        } else if let SpuResponse::StreamFetch(frame) = spu_response(frame) {
            streamed.extend(key_values(&frame.records));
        }
    }
    let mut expected = BTreeSet::new();
    for i in 0..10 {
        expected.insert((
            Some(format!("k{i}").into_bytes()),
            format!("v{i}").into_bytes(),
        ));
    }
    for i in 10..14 {
        expected.insert((None, format!("v{i}").into_bytes()));
    }
    assert_eq!(produced, expected);
    assert_eq!(streamed, expected);
}

#[test]
fn a_named_smartmodule_at_v25_is_read_whole_and_refused() {
    let frames = frames();
    let (request, response) = frames
        .iter()
        .filter(|f| f.role == Role::Spu && f.is_request && f.api_key == 1003)
        .find_map(|f| match spu_request(f) {
            SpuRequest::StreamFetch(r) if !r.smartmodules.is_empty() => {
                let answer = answer_to(&frames, f);
                Some((r, spu_response(answer)))
            }
            _ => None,
        })
        .expect("a stream fetch with a SmartModule");
    let invocation = &request.smartmodules[0];
    assert_eq!(invocation.name.as_deref(), Some("my-filter"));
    assert_eq!(
        invocation.wasm,
        SmartModuleWasm::Predefined("my-filter".into())
    );
    assert_eq!(invocation.kind, SmartModuleKind::Filter);
    assert_eq!(
        invocation.params.params.get("k").map(String::as_str),
        Some("v")
    );
    let SpuResponse::StreamFetch(answer) = response else {
        panic!("a stream frame")
    };
    assert_eq!(answer.error_code, ErrorCode::SmartModuleError);
    assert!(answer.records.is_empty());
}

/// The answer to a request frame: same role, connection and correlation id.
fn answer_to<'a>(frames: &'a [CapturedFrame], request: &CapturedFrame) -> &'a CapturedFrame {
    frames
        .iter()
        .find(|a| {
            !a.is_request
                && a.role == request.role
                && a.peer == request.peer
                && a.correlation_id == request.correlation_id
        })
        .unwrap_or_else(|| panic!("line {}: no answer", request.line))
}

#[test]
fn an_offset_consumer_commits_lists_and_deletes() {
    let frames = frames();
    let spu: Vec<&CapturedFrame> = frames
        .iter()
        .filter(|f| f.role == Role::Spu && f.is_request)
        .collect();
    // The stream carries the consumer id; the commit names the stream's session.
    let stream = spu
        .iter()
        .find_map(|f| match spu_request(f) {
            SpuRequest::StreamFetch(r) if r.consumer_id.is_some() => Some((*f, r)),
            _ => None,
        })
        .expect("a stream fetch with a consumer id");
    assert_eq!(stream.1.consumer_id.as_deref(), Some("rust-c1"));
    let SpuResponse::StreamFetch(first) = spu_response(answer_to(&frames, stream.0)) else {
        panic!("a stream frame")
    };
    let commit = spu
        .iter()
        .find(|f| f.api_key == 1006)
        .expect("an UpdateConsumerOffset");
    let SpuRequest::UpdateConsumerOffset(update) = spu_request(commit) else {
        panic!("UpdateConsumerOffset")
    };
    assert_eq!(update.session_id, first.stream_id);
    // Three records read (offsets 0, 1, 2): the client commits the last one it read.
    assert_eq!(update.offset, 2);
    let SpuResponse::UpdateConsumerOffset(answer) = spu_response(answer_to(&frames, commit)) else {
        panic!("UpdateConsumerOffset")
    };
    assert!(answer.error_code.is_ok(), "{:?}", answer.error_code);
    assert_eq!(answer.offset, 2);

    // Listing before the delete shows the commit; after it, nothing.
    let fetches: Vec<_> = spu.iter().filter(|f| f.api_key == 1008).collect();
    let listed: Vec<Vec<(String, ReplicaKey, i64)>> = fetches
        .iter()
        .map(|f| {
            let SpuResponse::FetchConsumerOffsets(r) = spu_response(answer_to(&frames, f)) else {
                panic!("FetchConsumerOffsets")
            };
            assert!(r.error_code.is_ok(), "{:?}", r.error_code);
            r.consumers
                .into_iter()
                .map(|c| (c.consumer_id, c.replica_id, c.offset))
                .collect()
        })
        .collect();
    let key = ReplicaKey {
        topic: "newest".into(),
        partition: 0,
    };
    assert!(
        listed.contains(&vec![("rust-c1".to_string(), key.clone(), 2)]),
        "{listed:?}"
    );
    assert_eq!(listed.last(), Some(&vec![]));
    let delete = spu.iter().find(|f| f.api_key == 1007).expect("a delete");
    let SpuRequest::DeleteConsumerOffset(request) = spu_request(delete) else {
        panic!("DeleteConsumerOffset")
    };
    assert_eq!(request.consumer_id, "rust-c1");
    assert_eq!(request.replica_id, key);
    let SpuResponse::DeleteConsumerOffset(answer) = spu_response(answer_to(&frames, delete)) else {
        panic!("DeleteConsumerOffset")
    };
    assert!(answer.error_code.is_ok(), "{:?}", answer.error_code);
}
