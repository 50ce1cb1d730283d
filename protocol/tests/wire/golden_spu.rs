//! Every SPU frame the official client exchanged in the captures decodes and re-encodes to
//! the same bytes, and the main sessions decode to what the client sent.

use crate::common;

use common::{CapturedFrame, Role};
use protocol::api::{ErrorCode, spu_keys};
use protocol::record::{Batch, Compression, Record, RecordSet};
use protocol::spu::{ApiRequest, Isolation, ProduceRequest, SpuRequest, SpuResponse};

fn spu_frames(name: &str) -> Vec<CapturedFrame> {
    common::load(name)
        .into_iter()
        .filter(|f| f.role == Role::Spu)
        .collect()
}

fn decode_request(frame: &CapturedFrame) -> SpuRequest {
    let (header, request) = SpuRequest::decode_frame(frame.body())
        .unwrap_or_else(|err| panic!("line {}: request: {err}", frame.line));
    assert_eq!(header.api_key, frame.api_key, "line {}", frame.line);
    assert_eq!(header.api_version, frame.api_version, "line {}", frame.line);
    assert_eq!(header.correlation_id, frame.correlation_id);
    let again = request
        .to_frame(header.api_version, header.correlation_id, &header.client_id)
        .unwrap();
    assert_eq!(
        again, frame.bytes,
        "line {}: re-encoded request",
        frame.line
    );
    request
}

fn decode_response(frame: &CapturedFrame) -> SpuResponse {
    let (correlation_id, response) =
        SpuResponse::decode_frame(frame.body(), frame.api_key, frame.api_version)
            .unwrap_or_else(|err| panic!("line {}: response: {err}", frame.line));
    assert_eq!(correlation_id, frame.correlation_id);
    assert_eq!(response.api_key(), frame.api_key);
    let again = response
        .to_frame(correlation_id, frame.api_version)
        .unwrap();
    assert_eq!(
        again, frame.bytes,
        "line {}: re-encoded response",
        frame.line
    );
    response
}

/// Every batch of a record set: well-formed, records decodable. Batches the client built
/// also have a correct CRC (one experiment's server zeroed the CRCs it sent back, which
/// the client accepts).
fn decode_set_checked(set: &RecordSet, check_crc: bool) -> Vec<Batch> {
    for raw in set.batches() {
        let raw = raw.expect("well-formed batch");
        if check_crc {
            raw.verify_crc()
                .expect("client batches carry a correct CRC");
        }
    }
    set.decode_batches(1 << 20).expect("records decode")
}

fn decode_set(set: &RecordSet) -> Vec<Batch> {
    decode_set_checked(set, false)
}

fn values(batches: &[Batch]) -> Vec<(i64, Option<String>, String)> {
    batches
        .iter()
        .flat_map(|b| b.iter())
        .map(|r| {
            (
                r.offset,
                r.record
                    .key
                    .as_ref()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                String::from_utf8_lossy(&r.record.value).into_owned(),
            )
        })
        .collect()
}

fn record_sets(message: &SpuRequest) -> Vec<&RecordSet> {
    match message {
        SpuRequest::Produce(p) => p.entries().map(|(_, p)| &p.records).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_spu_frame_round_trips_byte_for_byte() {
    let (mut requests, mut responses, mut batches) = (0, 0, 0);
    for name in common::all_logs() {
        for frame in spu_frames(&name) {
            if frame.is_request {
                let request = decode_request(&frame);
                for set in record_sets(&request) {
                    batches += decode_set_checked(set, true).len();
                }
                requests += 1;
            } else {
                if let SpuResponse::StreamFetch(r) = decode_response(&frame) {
                    batches += decode_set(&r.records).len();
                }
                responses += 1;
            }
        }
    }
    assert!(requests >= 80, "{requests} requests");
    assert!(responses >= 80, "{responses} responses");
    assert!(batches >= 40, "{batches} batches");
}

#[test]
fn main_session_produce_fetch_and_stream() {
    let frames = spu_frames("official-client-session.log");
    let requests: Vec<_> = frames.iter().filter(|f| f.is_request).collect();

    // ApiVersions first, then a produce of ("k1", "hello") to demo-0.
    assert!(matches!(
        decode_request(requests[0]),
        SpuRequest::ApiVersions(_)
    ));
    let SpuRequest::Produce(produce) = decode_request(requests[1]) else {
        panic!("expected a produce");
    };
    assert_eq!(produce.transactional_id, None);
    assert_eq!(produce.isolation, Isolation::ReadUncommitted);
    assert_eq!(produce.timeout_ms, 1500);
    assert!(produce.smartmodules.is_empty());
    let entries: Vec<_> = produce.entries().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "demo");
    assert_eq!(entries[0].1.partition_index, 0);
    let batches = decode_set(&entries[0].1.records);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].compression, Compression::None);
    assert_eq!(
        batches[0].records,
        vec![Record::with_key(&b"k1"[..], &b"hello"[..])]
    );
    assert!(batches[0].first_timestamp > 0);

    // Its response: offset 0, no error.
    let response = frames
        .iter()
        .find(|f| !f.is_request && f.api_key == spu_keys::PRODUCE)
        .unwrap();
    let SpuResponse::Produce(response) = decode_response(response) else {
        panic!("expected a produce response");
    };
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None);
    assert_eq!(partition.base_offset, 0);
    assert_eq!(partition.log_append_time_ms, -1);

    // The empty produce from flush().
    let SpuRequest::Produce(empty) = decode_request(requests[3]) else {
        panic!("expected the empty produce");
    };
    assert_eq!(empty.topics.len(), 1);
    assert!(empty.topics[0].partitions.is_empty());

    // FetchOffsets answers start 0, high watermark 2.
    let offsets = frames
        .iter()
        .find(|f| !f.is_request && f.api_key == spu_keys::FETCH_OFFSETS)
        .unwrap();
    let SpuResponse::FetchOffsets(offsets) = decode_response(offsets) else {
        panic!("expected fetch offsets");
    };
    let entry = offsets.find("demo", 0).unwrap();
    assert_eq!((entry.start_offset, entry.last_stable_offset), (0, 2));

    // The StreamFetch request, then the first frame: two batches at offsets 0 and 1.
    let fetch = requests
        .iter()
        .find(|f| f.api_key == spu_keys::STREAM_FETCH)
        .unwrap();
    let SpuRequest::StreamFetch(fetch) = decode_request(fetch) else {
        panic!("expected a stream fetch");
    };
    assert_eq!((fetch.topic.as_str(), fetch.partition), ("demo", 0));
    assert_eq!(fetch.fetch_offset, 0);
    assert_eq!(fetch.max_bytes, 1_048_890);
    assert!(!fetch.has_smartmodules());
    assert_eq!(fetch.consumer_id, None);

    let streams: Vec<_> = frames
        .iter()
        .filter(|f| !f.is_request && f.api_key == spu_keys::STREAM_FETCH)
        .map(|f| match decode_response(f) {
            SpuResponse::StreamFetch(r) => r,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(streams.len(), 2);
    let first = &streams[0];
    assert_eq!((first.stream_id, first.high_watermark), (1, 2));
    assert_eq!(first.error_code, ErrorCode::None);
    assert_eq!(first.aborted, None);
    let batches = decode_set(&first.records);
    assert_eq!(batches.len(), 2);
    assert_eq!(
        batches.iter().map(|b| b.base_offset).collect::<Vec<_>>(),
        [0, 1]
    );
    let got = values(&batches);
    assert_eq!(got[0], (0, Some("k1".into()), "hello".into()));
    // send_string: an empty key is present, with length 0.
    assert_eq!(got[1], (1, Some(String::new()), "second".into()));
    assert_eq!(first.records.next_offset(), Some(2));
    // The live push: one more batch at offset 2.
    let live = decode_set(&streams[1].records);
    assert_eq!(values(&live), [(2, Some("k3".into()), "live".into())]);
    assert_eq!(streams[1].high_watermark, 3);

    // UpdateOffsets after each frame: (2, session 1), then (3, session 1).
    let updates: Vec<_> = requests
        .iter()
        .filter(|f| f.api_key == spu_keys::UPDATE_OFFSETS)
        .map(|f| match decode_request(f) {
            SpuRequest::UpdateOffsets(u) => (u.offsets[0].offset, u.offsets[0].session_id),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(updates, [(2, 1), (3, 1)]);
}

#[test]
fn gzip_capture_decompresses_to_its_records() {
    let frames = spu_frames("exp_gzip.log");
    let mut produced = Vec::new();
    for frame in frames.iter().filter(|f| f.is_request) {
        for set in record_sets(&decode_request(frame)) {
            for batch in decode_set(set) {
                assert_eq!(batch.compression, Compression::Gzip);
                produced.extend(values(&[batch]).into_iter().map(|(_, k, v)| (k, v)));
            }
        }
    }
    let expected: Vec<_> = (0..3)
        .map(|i| (Some(format!("k{i}")), format!("value-{i}")))
        .collect();
    assert_eq!(produced, expected);
    let mut streamed = Vec::new();
    for frame in frames.iter().filter(|f| !f.is_request) {
        if let SpuResponse::StreamFetch(r) = decode_response(frame) {
            for batch in decode_set(&r.records) {
                assert_eq!(batch.compression, Compression::Gzip);
                streamed.extend(values(&[batch]).into_iter().map(|(_, k, v)| (k, v)));
            }
        }
    }
    // What was streamed back is what was produced, decompressed.
    assert_eq!(streamed, expected);
}

#[test]
fn multibatch_capture() {
    let frames = spu_frames("exp_multibatch.log");
    // The first produce carries several entries for the same partition.
    let first = frames
        .iter()
        .find(|f| f.is_request && f.api_key == spu_keys::PRODUCE)
        .unwrap();
    let SpuRequest::Produce(produce) = decode_request(first) else {
        panic!("expected produce");
    };
    let entries: Vec<_> = produce.entries().collect();
    assert!(entries.len() > 1, "{} entries", entries.len());
    assert!(
        entries
            .iter()
            .all(|(t, p)| *t == entries[0].0 && p.partition_index == 0)
    );
    // Its response answers every entry, in order, with increasing base offsets.
    let response = frames
        .iter()
        .find(|f| !f.is_request && f.api_key == spu_keys::PRODUCE)
        .unwrap();
    let SpuResponse::Produce(response) = decode_response(response) else {
        panic!("expected produce response");
    };
    let offsets: Vec<_> = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.base_offset))
        .collect();
    assert_eq!(offsets.len(), entries.len());
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");

    // The consumer started at offset 3 (`from_beginning(3)`).
    let fetch = frames
        .iter()
        .find(|f| f.is_request && f.api_key == spu_keys::STREAM_FETCH)
        .unwrap();
    let SpuRequest::StreamFetch(fetch) = decode_request(fetch) else {
        panic!("expected stream fetch");
    };
    assert_eq!(fetch.fetch_offset, 3);

    // The stream frame carries five batches with consecutive offsets from there.
    let stream = frames
        .iter()
        .find(|f| !f.is_request && f.api_key == spu_keys::STREAM_FETCH)
        .unwrap();
    let SpuResponse::StreamFetch(stream) = decode_response(stream) else {
        panic!("expected stream fetch");
    };
    let batches = decode_set(&stream.records);
    assert_eq!(batches.len(), 5);
    let offsets: Vec<_> = values(&batches).iter().map(|v| v.0).collect();
    assert_eq!(offsets, [3, 4, 5, 6, 7]);
    assert_eq!(stream.high_watermark, 8);
    for (offset, key, value) in values(&batches) {
        assert_eq!(key, Some(format!("key{offset}")));
        assert_eq!(value, format!("value-{offset:02}-xxxxxxxxxxxx"));
    }
}

#[test]
fn legacy_stream_fetch_v17_and_error_frames() {
    // The client fell back to StreamFetch v17 when the SPU did not list 1003.
    let frames = spu_frames("exp_spuomit.log");
    let v17 = frames
        .iter()
        .find(|f| f.is_request && f.api_key == spu_keys::STREAM_FETCH && f.api_version == 17)
        .unwrap();
    let SpuRequest::StreamFetch(fetch) = decode_request(v17) else {
        panic!("expected stream fetch");
    };
    assert!(!fetch.has_smartmodules());

    // Error frames: 6000 (SmartModule), 2 (Other with a message), 1 (OffsetOutOfRange).
    for (log, expected) in [
        ("exp_streamerr6000.log", 6000),
        ("exp_streamerr2.log", 2),
        ("exp_streamerr1.log", 1),
    ] {
        let errors: Vec<_> = spu_frames(log)
            .iter()
            .filter(|f| !f.is_request && f.api_key == spu_keys::STREAM_FETCH)
            .map(|f| match decode_response(f) {
                SpuResponse::StreamFetch(r) => r.error_code,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert!(
            errors.iter().any(|e| e.tag() == expected),
            "{log}: {errors:?}"
        );
    }
}

#[test]
fn typed_response_decoding() {
    let frames = spu_frames("official-client-session.log");
    let response = frames
        .iter()
        .find(|f| !f.is_request && f.api_key == spu_keys::PRODUCE)
        .unwrap();
    let decoded = ProduceRequest::decode_response(&response.body()[4..], 24).unwrap();
    assert_eq!(decoded.responses[0].name, "demo");
}
