//! Every SPU public message survives encode then decode at the versions we serve (v24 and
//! v25; UpdateOffsets v0), alone and inside `SpuRequest` / `SpuResponse` frames.

use proptest::prelude::*;
use protocol::api::RequestHeader;
use protocol::spu::*;
use protocol::{Decode, Encode, Reader};

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T, version: i16) {
    let bytes = value.to_bytes(version).expect("encode");
    let decoded = T::from_bytes(&bytes, version).expect("decode");
    assert_eq!(&decoded, value);
}

/// For values with fields absent at `version`: what decodes re-encodes to the same bytes.
fn stable_encoding<T: Encode + Decode>(value: &T, version: i16) {
    let bytes = value.to_bytes(version).expect("encode");
    let decoded = T::from_bytes(&bytes, version).expect("decode");
    assert!(decoded.to_bytes(version).expect("re-encode") == bytes);
}

fn any_request() -> impl Strategy<Value = SpuRequest> {
    prop_oneof![
        any::<protocol::api::ApiVersionsRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
        any::<ProduceRequest>()
            .prop_map(|r| SpuRequest::from(produce_at_v24(r)))
            .boxed(),
        any::<FetchOffsetsRequest>()
            .prop_map(|r| SpuRequest::from(FetchOffsetsRequest {
                consumer_id: None,
                ..r
            }))
            .boxed(),
        any::<StreamFetchRequest>()
            .prop_map(|r| SpuRequest::from(at_v24(r)))
            .boxed(),
        any::<UpdateOffsetsRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
        any::<UpdateConsumerOffsetRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
        any::<DeleteConsumerOffsetRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
        any::<FetchConsumerOffsetsRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
        any::<VerifyReplicaRequest>()
            .prop_map(SpuRequest::from)
            .boxed(),
    ]
}

fn any_response() -> impl Strategy<Value = (SpuResponse, i16)> {
    prop_oneof![
        any::<protocol::api::ApiVersionsResponse>()
            .prop_map(|r| (SpuResponse::ApiVersions(r), 2))
            .boxed(),
        any::<ProduceResponse>()
            .prop_map(|r| (SpuResponse::Produce(r), 24))
            .boxed(),
        any::<FetchOffsetsResponse>()
            .prop_map(|r| (SpuResponse::FetchOffsets(r), 24))
            .boxed(),
        any::<StreamFetchResponse>()
            .prop_map(|r| (SpuResponse::StreamFetch(r), 24))
            .boxed(),
        any::<UpdateOffsetsResponse>()
            .prop_map(|r| (SpuResponse::UpdateOffsets(r), 0))
            .boxed(),
        any::<UpdateConsumerOffsetResponse>()
            .prop_map(|r| (SpuResponse::UpdateConsumerOffset(r), 24))
            .boxed(),
        any::<DeleteConsumerOffsetResponse>()
            .prop_map(|r| (SpuResponse::DeleteConsumerOffset(r), 24))
            .boxed(),
        any::<FetchConsumerOffsetsResponse>()
            .prop_map(|r| (SpuResponse::FetchConsumerOffsets(r), 24))
            .boxed(),
        any::<VerifyReplicaResponse>()
            .prop_map(|r| (SpuResponse::VerifyReplica(r), 0))
            .boxed(),
    ]
}

/// Clear the fields that do not exist at v24, so a round trip must reproduce the rest.
fn at_v24(mut request: StreamFetchRequest) -> StreamFetchRequest {
    request.wasm_module = Default::default();
    request.smartmodule = None;
    request.derivedstream = None;
    request.smartmodules = unnamed(request.smartmodules);
    request
}

/// SmartModule invocations have names from v25 on.
fn unnamed(invocations: Vec<SmartModuleInvocation>) -> Vec<SmartModuleInvocation> {
    invocations
        .into_iter()
        .map(|i| SmartModuleInvocation { name: None, ..i })
        .collect()
}

fn produce_at_v24(request: ProduceRequest) -> ProduceRequest {
    ProduceRequest {
        smartmodules: unnamed(request.smartmodules.clone()),
        ..request
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn produce(request in any::<ProduceRequest>(), response in any::<ProduceResponse>()) {
        round_trip(&request, 25);
        round_trip(&response, 25);
        round_trip(&produce_at_v24(request), 24);
        round_trip(&response, 24);
    }

    #[test]
    fn produce_frame_parts_join_to_the_frame(request in any::<ProduceRequest>(), version in 0i16..=25, correlation_id in any::<i32>()) {
        let header = RequestHeader {
            api_key: 0,
            api_version: version,
            correlation_id,
            client_id: "fluvio".to_string(),
        };
        let parts = request.encode_frame_parts(&header).unwrap();
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        prop_assert_eq!(joined, protocol::api::encode_request_frame(&header, &request).unwrap());
        // Record sets travel as they are, not copied into the frame.
        for entry in request.topics.iter().flat_map(|t| &t.partitions) {
            if !entry.records.is_empty() {
                prop_assert!(parts.iter().any(|p| p.as_ptr() == entry.records.as_bytes().as_ptr()));
            }
        }
    }

    #[test]
    fn verify_replica(request in any::<VerifyReplicaRequest>(), response in any::<VerifyReplicaResponse>()) {
        round_trip(&request, 0);
        round_trip(&response, 0);
    }

    #[test]
    fn fetch_offsets(request in any::<FetchOffsetsRequest>(), response in any::<FetchOffsetsResponse>()) {
        let request = FetchOffsetsRequest { consumer_id: None, ..request };
        round_trip(&request, 24);
        round_trip(&response, 24);
    }

    #[test]
    fn fetch_offsets_v23_carries_consumer_id(request in any::<FetchOffsetsRequest>()) {
        round_trip(&request, 23);
    }

    #[test]
    fn stream_fetch(request in any::<StreamFetchRequest>(), response in any::<StreamFetchResponse>()) {
        round_trip(&at_v24(request.clone()), 24);
        round_trip(&response, 24);
        let v25 = StreamFetchRequest { smartmodules: request.smartmodules.clone(), ..at_v24(request.clone()) };
        round_trip(&v25, 25);
        round_trip(&response, 25);
        // The legacy layout (v17: wasm_module and the legacy invocations, no smartmodules
        // vec, no consumer id; nested lookbacks do not exist before v20).
        stable_encoding(&request, 17);
        let legacy = StreamFetchRequest { smartmodules: vec![], consumer_id: None, smartmodule: None, derivedstream: None, ..request };
        round_trip(&legacy, 17);
    }

    #[test]
    fn update_offsets(request in any::<UpdateOffsetsRequest>(), response in any::<UpdateOffsetsResponse>()) {
        round_trip(&request, 0);
        round_trip(&response, 0);
    }

    #[test]
    fn consumer_offsets(
        update in any::<UpdateConsumerOffsetRequest>(),
        update_response in any::<UpdateConsumerOffsetResponse>(),
        delete in any::<DeleteConsumerOffsetRequest>(),
        delete_response in any::<DeleteConsumerOffsetResponse>(),
        fetch in any::<FetchConsumerOffsetsRequest>(),
        fetch_response in any::<FetchConsumerOffsetsResponse>(),
    ) {
        round_trip(&update, 24);
        round_trip(&update_response, 24);
        round_trip(&delete, 24);
        round_trip(&delete_response, 24);
        round_trip(&fetch, 24);
        round_trip(&fetch_response, 24);
    }

    #[test]
    fn smartmodule_invocation(invocation in any::<SmartModuleInvocation>()) {
        round_trip(&invocation, 25);
        round_trip(&SmartModuleInvocation { name: None, ..invocation }, 24);
    }

    #[test]
    fn isolation_and_replica_key(isolation in any::<Isolation>(), key in any::<ReplicaKey>()) {
        round_trip(&isolation, 24);
        round_trip(&key, 24);
        prop_assert_eq!(Isolation::from_acks(isolation.acks()), Some(isolation));
    }

    /// A request frame at the request's default version decodes back to itself, header
    /// included; its response does too.
    #[test]
    fn request_and_response_frames(request in any_request(), (response, response_version) in any_response(), correlation_id in any::<i32>()) {
        let version = request.default_version();
        let frame = request.to_frame(version, correlation_id, "fluvio").unwrap();
        let size = i32::from_be_bytes(frame[..4].try_into().unwrap());
        prop_assert_eq!(size as usize, frame.len() - 4);
        let (header, decoded) = SpuRequest::decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(header, RequestHeader {
            api_key: request.api_key(),
            api_version: version,
            correlation_id,
            client_id: "fluvio".into(),
        });
        prop_assert_eq!(&decoded, &request);

        let api_key = response.api_key();
        let version = response_version;
        let frame = response.to_frame(correlation_id, version).unwrap();
        let (id, decoded) = SpuResponse::decode_frame(&frame[4..], api_key, version).unwrap();
        prop_assert_eq!(id, correlation_id);
        prop_assert_eq!(decoded, response);
    }
}

#[test]
fn unknown_api_key_and_unsupported_versions() {
    let header = |api_key, api_version| RequestHeader {
        api_key,
        api_version,
        correlation_id: 1,
        client_id: "c".into(),
    };
    let body = UpdateOffsetsRequest::default().to_bytes(0).unwrap();
    assert_eq!(
        SpuRequest::decode(&header(1001, 0), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnknownApiKey(1001))
    );
    assert_eq!(
        SpuRequest::decode(&header(1005, 1), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnsupportedVersion {
            api_key: 1005,
            version: 1
        })
    );
    assert_eq!(
        SpuRequest::decode(&header(1003, 15), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnsupportedVersion {
            api_key: 1003,
            version: 15
        })
    );
    assert_eq!(
        SpuRequest::decode(&header(0, 26), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnsupportedVersion {
            api_key: 0,
            version: 26
        })
    );
    assert!(SpuRequest::supports(0, 25));
    assert!(SpuRequest::supports(1003, 25));
    assert!(SpuRequest::supports(1003, 24));
    assert!(SpuRequest::supports(1003, 17));
    assert!(!SpuRequest::supports(1003, 12));
    assert!(SpuRequest::supports(18, 2));
    assert!(!SpuRequest::supports(1004, 19));
    // Trailing bytes after a body are refused.
    let mut long = body.clone();
    long.push(0);
    assert!(matches!(
        SpuRequest::decode(&header(1005, 0), &mut Reader::new(&long)),
        Err(protocol::DecodeError::TrailingBytes { .. })
    ));
}

#[test]
fn produce_isolation_is_acks_on_the_wire() {
    let request = ProduceRequest {
        isolation: Isolation::ReadCommitted,
        ..ProduceRequest::default()
    };
    let bytes = request.to_bytes(24).unwrap();
    assert_eq!(
        bytes,
        [0, 0xff, 0xff, 0, 0, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // acks 0 is not a value the client sends.
    let mut zero = bytes.clone();
    zero[1..3].copy_from_slice(&[0, 0]);
    assert!(matches!(
        ProduceRequest::from_bytes(&zero, 24),
        Err(protocol::DecodeError::UnknownTag { .. })
    ));
    // Before v8 there is no smartmodules vector.
    assert_eq!(request.to_bytes(7).unwrap().len(), bytes.len() - 4);
}
