//! Every SC message survives encode then decode at the versions we serve (19 for the
//! object APIs, 0..=2 for ApiVersions), as a body and as a whole frame, and through JSON.

use proptest::prelude::*;
use protocol::api::{
    ApiVersionKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, SC_API_VERSION,
    encode_request_frame, encode_response_frame, sc_keys,
};
use protocol::sc::*;
use protocol::{Decode, Encode};

const V: i16 = SC_API_VERSION;

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T, version: i16) {
    let bytes = value.to_bytes(version).expect("encode");
    let decoded = T::from_bytes(&bytes, version).expect("decode");
    assert_eq!(&decoded, value);
}

fn json_round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).expect("to json");
    let back: T = serde_json::from_str(&json).expect("from json");
    assert_eq!(&back, value);
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(64)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn api_versions(request in any::<ApiVersionsRequest>(), response in any::<ApiVersionsResponse>(), key in any::<ApiVersionKey>()) {
        // Version 0 carries no request fields at all.
        let v0 = request.to_bytes(0).unwrap();
        prop_assert!(v0.is_empty());
        prop_assert_eq!(ApiVersionsRequest::from_bytes(&v0, 0).unwrap(), ApiVersionsRequest::default());
        for version in 1..=2 {
            round_trip(&request, version);
        }
        for version in 0..=2 {
            round_trip(&response, version);
            round_trip(&key, version);
        }
        json_round_trip(&request);
        json_round_trip(&response);
    }

    #[test]
    fn watch_request(request in any::<WatchRequest>(), object in any::<ObjectWatchRequest>()) {
        round_trip(&request, V);
        round_trip(&object, V);
        json_round_trip(&object);
    }

    #[test]
    fn watch_response_per_kind(
        topic in any::<MetadataUpdate<TopicSpec>>(),
        partition in any::<MetadataUpdate<PartitionSpec>>(),
        spu in any::<MetadataUpdate<SpuSpec>>(),
        custom in any::<MetadataUpdate<CustomSpuSpec>>(),
        token in any::<MetadataUpdate<AuthTokenSpec>>(),
    ) {
        round_trip(&topic, V);
        round_trip(&partition, V);
        round_trip(&spu, V);
        round_trip(&custom, V);
        round_trip(&token, V);
        let wrapped = ObjectWatchResponse::of(partition.clone());
        prop_assert_eq!(wrapped.kind(), ObjectKind::Partition);
        round_trip(&wrapped, V);
        prop_assert_eq!(wrapped.into_kind::<PartitionSpec>().unwrap(), partition);
    }

    /// Ours: the partition state kind, on its own and wrapped in list and watch answers,
    /// and asked for by list and watch requests under its own label.
    #[test]
    fn partition_state(
        state in any::<Metadata<PartitionStateSpec>>(),
        update in any::<MetadataUpdate<PartitionStateSpec>>(),
        list in proptest::collection::vec(any::<Metadata<PartitionStateSpec>>(), 0..4),
        request in any::<ListRequest>(),
    ) {
        round_trip(&state, V);
        json_round_trip(&state);
        let wrapped = ObjectWatchResponse::of(update.clone());
        prop_assert_eq!(wrapped.kind(), ObjectKind::PartitionState);
        round_trip(&wrapped, V);
        prop_assert_eq!(wrapped.into_kind::<PartitionStateSpec>().unwrap(), update);
        let listed = ObjectListResponse::of(list.clone());
        prop_assert_eq!(listed.kind(), ObjectKind::PartitionState);
        round_trip(&listed, V);
        json_round_trip(&listed);
        prop_assert!(listed.clone().into_kind::<PartitionSpec>().is_err());
        prop_assert_eq!(listed.into_kind::<PartitionStateSpec>().unwrap(), list);
        let asked = ObjectListRequest::of::<PartitionStateSpec>(request);
        prop_assert_eq!(asked.kind(), ObjectKind::PartitionState);
        round_trip(&asked, V);
        let bytes = asked.to_bytes(V).unwrap();
        // The typed buffer names the kind: a 14-byte label after the i16 length.
        prop_assert_eq!(&bytes[..16], b"\x00\x0ePartitionState");
        let watch = ObjectWatchRequest::of::<PartitionStateSpec>(WatchRequest::default());
        round_trip(&watch, V);
    }

    #[test]
    fn watch_response(object in any::<ObjectWatchResponse>()) {
        round_trip(&object, V);
        json_round_trip(&object);
    }

    #[test]
    fn metadata_and_messages(
        topic in any::<Metadata<TopicSpec>>(),
        partition in any::<Message<PartitionSpec>>(),
        spu in any::<Metadata<SpuSpec>>(),
        custom in any::<Message<CustomSpuSpec>>(),
        token in any::<Metadata<AuthTokenSpec>>(),
    ) {
        round_trip(&topic, V);
        round_trip(&partition, V);
        round_trip(&spu, V);
        round_trip(&custom, V);
        round_trip(&token, V);
    }

    #[test]
    fn list(request in any::<ListRequest>(), object in any::<ObjectListRequest>(), response in any::<ObjectListResponse>()) {
        round_trip(&request, V);
        round_trip(&object, V);
        round_trip(&response, V);
        json_round_trip(&object);
        json_round_trip(&response);
    }

    #[test]
    fn create(
        topic in any::<CreateRequest<TopicSpec>>(),
        custom in any::<CreateRequest<CustomSpuSpec>>(),
        token in any::<CreateRequest<AuthTokenSpec>>(),
        object in any::<ObjectCreateRequest>(),
        status in any::<Status>(),
    ) {
        round_trip(&topic, V);
        round_trip(&custom, V);
        round_trip(&token, V);
        round_trip(&object, V);
        round_trip(&status, V);
        json_round_trip(&object);
        json_round_trip(&status);
        let wrapped = ObjectCreateRequest::of(token.clone());
        prop_assert_eq!(wrapped.kind(), ObjectKind::AuthToken);
        prop_assert_eq!(wrapped.name(), token.name.as_str());
        prop_assert_eq!(wrapped.into_kind::<AuthTokenSpec>().unwrap(), token);
    }

    #[test]
    fn delete(
        topic in any::<DeleteRequest<TopicSpec>>(),
        custom in any::<DeleteRequest<CustomSpuSpec>>(),
        token in any::<DeleteRequest<AuthTokenSpec>>(),
        object in any::<ObjectDeleteRequest>(),
    ) {
        round_trip(&topic, V);
        round_trip(&custom, V);
        round_trip(&token, V);
        round_trip(&object, V);
        json_round_trip(&object);
        let wrapped = ObjectDeleteRequest::of(custom.clone());
        prop_assert_eq!(wrapped.kind(), ObjectKind::CustomSpu);
        prop_assert!(wrapped.clone().into_kind::<TopicSpec>().is_err());
        prop_assert_eq!(wrapped.into_kind::<CustomSpuSpec>().unwrap(), custom);
    }

    /// A whole request frame: header and body, through `ScRequest::decode_frame`.
    #[test]
    fn sc_request_frame(request in any::<ScRequest>(), correlation_id in any::<i32>(), client_id in "[a-z]{0,12}") {
        let version = match request { ScRequest::ApiVersions(_) => 2, _ => V };
        let frame = request.to_frame(version, correlation_id, &client_id).unwrap();
        let size = i32::from_be_bytes(frame[..4].try_into().unwrap());
        prop_assert_eq!(size as usize, frame.len() - 4);
        let (header, decoded) = ScRequest::decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(&header, &RequestHeader {
            api_key: request.api_key(),
            api_version: version,
            correlation_id,
            client_id: client_id.clone(),
        });
        prop_assert_eq!(&decoded, &request);
        prop_assert_eq!(encode_request_frame(&header, &decoded).unwrap(), frame);
        json_round_trip(&request);
    }

    /// A whole response frame: correlation id and body, through `ScResponse::decode_frame`.
    #[test]
    fn sc_response_frame(response in any::<ScResponse>(), correlation_id in any::<i32>()) {
        let version = match response { ScResponse::ApiVersions(_) => 2, _ => V };
        let frame = encode_response_frame(correlation_id, &response, version).unwrap();
        let (corr, decoded) = ScResponse::decode_frame(&frame[4..], response.api_key(), version).unwrap();
        prop_assert_eq!(corr, correlation_id);
        prop_assert_eq!(&decoded, &response);
        prop_assert_eq!(response.to_frame(correlation_id, version).unwrap(), frame);
        json_round_trip(&response);
    }

    /// Delete is advertised from version 1: below 11 the typed buffer has no length, below
    /// 13 there is no `force`.
    #[test]
    fn delete_at_every_advertised_version(key in "[a-z0-9-]{0,20}", force in any::<bool>(), version in 1i16..=19) {
        let request = ScRequest::Delete(ObjectDeleteRequest::Topic(DeleteRequest {
            key,
            force: force && version >= 13,
        }));
        let frame = request.to_frame(version, 7, "fluvio").unwrap();
        let (header, decoded) = ScRequest::decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(header.api_key, sc_keys::DELETE);
        prop_assert_eq!(decoded, request);
    }
}
