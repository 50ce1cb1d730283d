//! What every request and response shares: the request header, the api keys, the error
//! codes and the ApiVersions handshake.

pub mod error_code;
pub mod message;
pub mod request;
pub mod versions;

pub use error_code::ErrorCode;
pub use message::{encode_request_frame, encode_response_frame};
pub use request::ApiRequest;
pub(crate) use request::{api_enums, impl_api_request};
pub use versions::{ApiVersionKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};

crate::wire_struct! {
    /// The header in front of every request body. The body is encoded at `api_version`,
    /// and the response is decoded by the client at that same version.
    pub struct RequestHeader {
        pub api_key: u16,
        pub api_version: i16,
        pub correlation_id: i32,
        pub client_id: String,
    }
}

impl RequestHeader {
    /// Read the header at the front of a request body. The header's own layout does not
    /// depend on any version.
    pub fn read(src: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode(src, 0)
    }

    /// Append the header to `dst`.
    pub fn write(&self, dst: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode(dst, 0)
    }
}

/// A response frame body starts with the request's correlation id and nothing else.
pub fn write_response_header(dst: &mut Vec<u8>, correlation_id: i32) {
    dst.extend_from_slice(&correlation_id.to_be_bytes());
}

/// Read the correlation id at the front of a response body.
pub fn read_response_header(src: &mut Reader<'_>) -> Result<i32, DecodeError> {
    i32::decode(src, 0)
}

/// Api keys of the SC public (object) API.
pub mod sc_keys {
    pub const API_VERSIONS: u16 = 18;
    pub const CREATE: u16 = 1001;
    pub const DELETE: u16 = 1002;
    pub const LIST: u16 = 1003;
    pub const WATCH: u16 = 1004;
    pub const MIRRORING: u16 = 1005;
    pub const UPDATE: u16 = 1006;
}

/// Api keys of the SPU public API.
pub mod spu_keys {
    pub const PRODUCE: u16 = 0;
    pub const FETCH: u16 = 1;
    pub const API_VERSIONS: u16 = 18;
    pub const FETCH_OFFSETS: u16 = 1002;
    pub const STREAM_FETCH: u16 = 1003;
    pub const UPDATE_OFFSETS: u16 = 1005;
    pub const UPDATE_CONSUMER_OFFSET: u16 = 1006;
    pub const DELETE_CONSUMER_OFFSET: u16 = 1007;
    pub const FETCH_CONSUMER_OFFSETS: u16 = 1008;
    /// Ours, not Fluvio's: scrub a replica's log ([`crate::spu::VerifyReplicaRequest`]).
    pub const VERIFY_REPLICA: u16 = 1090;
    /// Ours: the principal the SPU takes the connection for ([`crate::spu::WhoAmIRequest`]).
    pub const WHO_AM_I: u16 = 1092;
    /// Ours, not Fluvio's: an idempotent producer's id ([`crate::spu::InitProducerIdRequest`]).
    pub const INIT_PRODUCER_ID: u16 = 1091;
}

/// The object API version the official client negotiates with our SC.
pub const SC_API_VERSION: Version = 19;
/// The SPU API version our client sends, and the one the official Python client 0.21.0
/// negotiates with our SPUs.
pub const SPU_API_VERSION: Version = 24;
/// The newest SPU API version we decode and advertise: v25 (the `fluvio` crate 0.50) adds a
/// name to each SmartModule invocation. Our client keeps sending [`SPU_API_VERSION`], which
/// every Fluvio SPU since 0.17 serves.
pub const SPU_API_NEWEST: Version = 25;
/// The platform version our SC reports; the official client requires at least 0.9.0.
pub const PLATFORM_VERSION: &str = "0.17.3";
