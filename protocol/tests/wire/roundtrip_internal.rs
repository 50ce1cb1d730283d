//! Every internal message (SC private port, SPU private port) survives encode then decode
//! at version 0, alone and inside request/response frames.

use proptest::prelude::*;
use protocol::api::RequestHeader;
use protocol::internal::*;
use protocol::{Decode, Encode, Reader};

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = value.to_bytes(INTERNAL_API_VERSION).expect("encode");
    let decoded = T::from_bytes(&bytes, INTERNAL_API_VERSION).expect("decode");
    assert_eq!(&decoded, value);
}

/// `SpuSpec::public_endpoint_local` exists from v1 only, so it is not carried at v0.
fn at_v0(mut update: ControlUpdate) -> ControlUpdate {
    for spu in &mut update.spus.spus {
        spu.public_endpoint_local = None;
    }
    update
}

fn any_sc_request() -> impl Strategy<Value = ScPrivateRequest> {
    prop_oneof![
        any::<RegisterSpuRequest>()
            .prop_map(ScPrivateRequest::from)
            .boxed(),
        any::<WatchControlRequest>()
            .prop_map(ScPrivateRequest::from)
            .boxed(),
        any::<ReportOffsetsRequest>()
            .prop_map(ScPrivateRequest::from)
            .boxed(),
        any::<HeartbeatRequest>()
            .prop_map(ScPrivateRequest::from)
            .boxed(),
    ]
}

fn any_sc_response() -> impl Strategy<Value = ScPrivateResponse> {
    prop_oneof![
        any::<RegisterSpuResponse>()
            .prop_map(ScPrivateResponse::RegisterSpu)
            .boxed(),
        any::<ControlUpdate>()
            .prop_map(|u| ScPrivateResponse::WatchControl(at_v0(u)))
            .boxed(),
        any::<ReportOffsetsResponse>()
            .prop_map(ScPrivateResponse::ReportOffsets)
            .boxed(),
        any::<HeartbeatResponse>()
            .prop_map(ScPrivateResponse::Heartbeat)
            .boxed(),
    ]
}

fn any_spu_request() -> impl Strategy<Value = SpuPrivateRequest> {
    prop_oneof![
        any::<FollowerFetchRequest>()
            .prop_map(SpuPrivateRequest::from)
            .boxed(),
        any::<FollowerOffsetUpdateRequest>()
            .prop_map(SpuPrivateRequest::from)
            .boxed(),
        any::<EpochEndOffsetRequest>()
            .prop_map(SpuPrivateRequest::from)
            .boxed(),
    ]
}

fn any_spu_response() -> impl Strategy<Value = SpuPrivateResponse> {
    prop_oneof![
        any::<FollowerFetchResponse>()
            .prop_map(SpuPrivateResponse::FollowerFetch)
            .boxed(),
        any::<FollowerOffsetUpdateResponse>()
            .prop_map(SpuPrivateResponse::FollowerOffsetUpdate)
            .boxed(),
        any::<EpochEndOffsetResponse>()
            .prop_map(SpuPrivateResponse::EpochEndOffset)
            .boxed(),
    ]
}

proptest! {
    #[test]
    fn register_spu(request in any::<RegisterSpuRequest>(), response in any::<RegisterSpuResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn watch_control(request in any::<WatchControlRequest>(), update in any::<ControlUpdate>()) {
        round_trip(&request);
        round_trip(&at_v0(update));
    }

    #[test]
    fn replica(replica in any::<Replica>(), key in any::<ReplicaKey>()) {
        round_trip(&replica);
        round_trip(&key);
    }

    #[test]
    fn report_offsets(request in any::<ReportOffsetsRequest>(), response in any::<ReportOffsetsResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn heartbeat(request in any::<HeartbeatRequest>(), response in any::<HeartbeatResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn follower_fetch(request in any::<FollowerFetchRequest>(), response in any::<FollowerFetchResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn follower_offset_update(request in any::<FollowerOffsetUpdateRequest>(), response in any::<FollowerOffsetUpdateResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn epoch_end_offset(request in any::<EpochEndOffsetRequest>(), response in any::<EpochEndOffsetResponse>()) {
        round_trip(&request);
        round_trip(&response);
    }

    #[test]
    fn sc_private_frames(request in any_sc_request(), response in any_sc_response(), correlation_id in any::<i32>()) {
        let frame = request.to_frame(INTERNAL_API_VERSION, correlation_id, "spu-5001").unwrap();
        let (header, decoded) = ScPrivateRequest::decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(header.api_key, request.api_key());
        prop_assert_eq!(header.correlation_id, correlation_id);
        prop_assert_eq!(decoded, request);
        let frame = response.to_frame(correlation_id, INTERNAL_API_VERSION).unwrap();
        let (id, decoded) = ScPrivateResponse::decode_frame(&frame[4..], response.api_key(), 0).unwrap();
        prop_assert_eq!(id, correlation_id);
        prop_assert_eq!(decoded, response);
    }

    #[test]
    fn spu_private_frames(request in any_spu_request(), response in any_spu_response(), correlation_id in any::<i32>()) {
        let frame = request.to_frame(INTERNAL_API_VERSION, correlation_id, "spu-5002").unwrap();
        let (header, decoded) = SpuPrivateRequest::decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(header.api_key, request.api_key());
        prop_assert_eq!(decoded, request);
        let frame = response.to_frame(correlation_id, INTERNAL_API_VERSION).unwrap();
        let (id, decoded) = SpuPrivateResponse::decode_frame(&frame[4..], response.api_key(), 0).unwrap();
        prop_assert_eq!(id, correlation_id);
        prop_assert_eq!(decoded, response);
    }
}

#[test]
fn keys_are_in_the_private_ranges_and_dispatch_is_strict() {
    assert_eq!(
        ScPrivateRequest::from(HeartbeatRequest::default()).api_key(),
        keys::HEARTBEAT
    );
    assert_eq!(
        SpuPrivateRequest::from(EpochEndOffsetRequest::default()).api_key(),
        2103
    );
    let header = |api_key, api_version| RequestHeader {
        api_key,
        api_version,
        correlation_id: 7,
        client_id: "spu".into(),
    };
    let body = HeartbeatRequest::default().to_bytes(0).unwrap();
    // A public key on the private port, or a private key on the other private port.
    assert_eq!(
        ScPrivateRequest::decode(&header(0, 0), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnknownApiKey(0))
    );
    assert_eq!(
        SpuPrivateRequest::decode(&header(keys::HEARTBEAT, 0), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnknownApiKey(keys::HEARTBEAT))
    );
    assert_eq!(
        ScPrivateRequest::decode(&header(keys::HEARTBEAT, 1), &mut Reader::new(&body)),
        Err(protocol::DecodeError::UnsupportedVersion {
            api_key: keys::HEARTBEAT,
            version: 1
        })
    );
    assert!(matches!(
        ScPrivateRequest::decode(&header(keys::HEARTBEAT, 0), &mut Reader::new(&body)),
        Ok(ScPrivateRequest::Heartbeat(_))
    ));
}

#[test]
fn typed_responses_follow_the_request() {
    let update = ControlUpdate {
        epoch: 3,
        ..ControlUpdate::default()
    };
    let bytes = update.to_bytes(0).unwrap();
    assert_eq!(
        WatchControlRequest::decode_response(&bytes, 0).unwrap(),
        update
    );
    let header = EpochEndOffsetRequest::header(9, "spu-1");
    assert_eq!((header.api_key, header.api_version), (2103, 0));
}

#[test]
fn replica_helpers() {
    let replica = Replica {
        key: ReplicaKey::new("t", 0),
        leader: 2,
        replicas: vec![2, 1, 3],
        ..Replica::default()
    };
    assert!(replica.has_replica(3));
    assert!(!replica.has_replica(4));
    assert_eq!(replica.followers().collect::<Vec<_>>(), [1, 3]);
}

proptest! {
    /// The enums' own strategies (boxed per variant) generate without blowing the stack.
    #[test]
    fn enum_strategies(request in any::<SpuPrivateRequest>(), response in any::<ScPrivateResponse>()) {
        let _ = request.to_frame(0, 1, "x").unwrap();
        let _ = response.to_frame(1, 0).unwrap();
    }
}

/// An SPU's Kafka address travels at the internal version (v0) only: SPUs learn every
/// broker from the SC, and the official client's List/Watch bytes (v15+) stay as they were.
#[test]
fn the_kafka_endpoint_is_carried_internally_only() {
    use protocol::sc::{Endpoint, SpuSpec};
    let spec = SpuSpec {
        id: 5001,
        kafka_endpoint: Some(Endpoint::from_host_port("127.0.0.1", 9092)),
        ..SpuSpec::default()
    };
    round_trip(&spec);
    let public = spec.to_bytes(19).expect("encode");
    let plain = SpuSpec {
        kafka_endpoint: None,
        ..spec.clone()
    };
    assert_eq!(public, plain.to_bytes(19).expect("encode"));
    assert_eq!(
        SpuSpec::from_bytes(&public, 19).expect("decode"),
        plain,
        "not at the public versions"
    );
}
