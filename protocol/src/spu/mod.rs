//! The SPU public API, at the versions the official client negotiates with our SPUs
//! (v24 and v25; UpdateOffsets v0). Each request's module shows its layout.
//!
//! | key | request | response | notes |
//! |---|---|---|---|
//! | 18 | [`ApiVersionsRequest`] | [`ApiVersionsResponse`] | first on every connection |
//! | 0 | [`ProduceRequest`] | [`ProduceResponse`] | positional answers |
//! | 1002 | [`FetchOffsetsRequest`] | [`FetchOffsetsResponse`] | |
//! | 1003 | [`StreamFetchRequest`] | [`StreamFetchResponse`] | a stream of frames |
//! | 1005 | [`UpdateOffsetsRequest`] | [`UpdateOffsetsResponse`] | v0 |
//! | 1006 | [`UpdateConsumerOffsetRequest`] | [`UpdateConsumerOffsetResponse`] | v23-25 |
//! | 1007 | [`DeleteConsumerOffsetRequest`] | [`DeleteConsumerOffsetResponse`] | v23-25 |
//! | 1008 | [`FetchConsumerOffsetsRequest`] | [`FetchConsumerOffsetsResponse`] | v23-25 |
//! | 1090 | [`VerifyReplicaRequest`] | [`VerifyReplicaResponse`] | ours: scrub a replica, v0 |
//! | 1092 | [`WhoAmIRequest`] | [`WhoAmIResponse`] | ours: the connection's principal, v0 |
//! | 1091 | [`InitProducerIdRequest`] | [`InitProducerIdResponse`] | ours: an idempotent producer's id, v0 |
//!
//! A server reads the [`RequestHeader`], then [`SpuRequest::decode`] (or both at once with
//! [`SpuRequest::decode_frame`]); it answers with [`SpuResponse::to_frame`] at the
//! request's version. A client builds a [`SpuRequest`] (or any [`ApiRequest`]) and decodes
//! what comes back with [`SpuResponse::decode`] or [`ApiRequest::decode_response`], at the
//! version it sent.
//!
//! Each request type knows the versions whose layout we decode ([`ApiRequest::MIN_VERSION`]
//! ..= [`ApiRequest::MAX_VERSION`]); anything else is
//! [`DecodeError::UnsupportedVersion`]. Records travel as opaque [`RecordSet`](crate::record::RecordSet)s.

pub mod common;
pub mod consumer_offset;
pub mod fetch_offsets;
pub mod produce;
pub mod producer_id;
pub mod smartmodule;
pub mod stream_fetch;
pub mod update_offsets;
pub mod verify;
pub mod whoami;

pub use common::{Isolation, ReplicaKey};
pub use consumer_offset::*;
pub use fetch_offsets::*;
pub use produce::*;
pub use producer_id::*;
pub use smartmodule::*;
pub use stream_fetch::*;
pub use update_offsets::*;
pub use verify::*;
pub use whoami::*;

pub use crate::api::ApiRequest;

use crate::api::versions::{API_VERSIONS_CLIENT_VERSION, API_VERSIONS_KEY};
use crate::api::{
    ApiVersionsRequest, ApiVersionsResponse, SPU_API_NEWEST, SPU_API_VERSION, spu_keys,
};
use crate::api::{api_enums, impl_api_request};

impl_api_request! {
    // The handshake's layout does not depend on the version (fields exist from v1 on), so
    // every version is accepted, as on the SC.
    ApiVersionsRequest => ApiVersionsResponse,
        API_VERSIONS_KEY, API_VERSIONS_CLIENT_VERSION, versions (0, i16::MAX);
    ProduceRequest => ProduceResponse,
        spu_keys::PRODUCE, SPU_API_VERSION, versions (0, SPU_API_NEWEST);
    FetchOffsetsRequest => FetchOffsetsResponse,
        spu_keys::FETCH_OFFSETS, SPU_API_VERSION, versions (0, SPU_API_NEWEST);
    StreamFetchRequest => StreamFetchResponse,
        spu_keys::STREAM_FETCH, SPU_API_VERSION, versions (STREAM_FETCH_MIN_VERSION, SPU_API_NEWEST);
    UpdateOffsetsRequest => UpdateOffsetsResponse, spu_keys::UPDATE_OFFSETS, 0;
    UpdateConsumerOffsetRequest => UpdateConsumerOffsetResponse,
        spu_keys::UPDATE_CONSUMER_OFFSET, SPU_API_VERSION, versions (CONSUMER_OFFSET_MIN_VERSION, SPU_API_NEWEST);
    DeleteConsumerOffsetRequest => DeleteConsumerOffsetResponse,
        spu_keys::DELETE_CONSUMER_OFFSET, SPU_API_VERSION, versions (CONSUMER_OFFSET_MIN_VERSION, SPU_API_NEWEST);
    FetchConsumerOffsetsRequest => FetchConsumerOffsetsResponse,
        spu_keys::FETCH_CONSUMER_OFFSETS, SPU_API_VERSION, versions (CONSUMER_OFFSET_MIN_VERSION, SPU_API_NEWEST);
    VerifyReplicaRequest => VerifyReplicaResponse, spu_keys::VERIFY_REPLICA, 0;
    WhoAmIRequest => WhoAmIResponse, spu_keys::WHO_AM_I, 0;
    InitProducerIdRequest => InitProducerIdResponse, spu_keys::INIT_PRODUCER_ID, 0;
}

api_enums! {
    /// Every request an SPU's public port serves, decoded by api key and version.
    pub enum SpuRequest / SpuResponse {
        ApiVersions(ApiVersionsRequest),
        Produce(ProduceRequest),
        FetchOffsets(FetchOffsetsRequest),
        StreamFetch(StreamFetchRequest),
        UpdateOffsets(UpdateOffsetsRequest),
        UpdateConsumerOffset(UpdateConsumerOffsetRequest),
        DeleteConsumerOffset(DeleteConsumerOffsetRequest),
        FetchConsumerOffsets(FetchConsumerOffsetsRequest),
        VerifyReplica(VerifyReplicaRequest),
        WhoAmI(WhoAmIRequest),
        InitProducerId(InitProducerIdRequest),
    }
}
