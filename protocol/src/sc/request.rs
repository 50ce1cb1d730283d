//! Every request the SC serves and every response it sends, with dispatch on the request
//! header's api key and version.

use serde::{Deserialize, Serialize};

use crate::api::versions::{API_VERSIONS_KEY, SC_API_KEYS};
use crate::api::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, encode_request_frame,
    encode_response_frame, read_response_header, sc_keys,
};
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::create::ObjectCreateRequest;
use crate::sc::delete::ObjectDeleteRequest;
use crate::sc::list::{ObjectListRequest, ObjectListResponse};
use crate::sc::status::Status;
use crate::sc::watch::{ObjectWatchRequest, ObjectWatchResponse};

/// Can the SC decode `api_key` at `version`? ApiVersions at any version (0..=2 are known);
/// the object APIs within the ranges our SC advertises ([`SC_API_KEYS`]).
pub fn sc_supports(api_key: u16, version: Version) -> bool {
    if api_key == API_VERSIONS_KEY {
        return version >= 0;
    }
    SC_API_KEYS
        .iter()
        .any(|k| k.api_key as u16 == api_key && (k.min_version..=k.max_version).contains(&version))
}

fn check_version(api_key: u16, version: Version) -> Result<(), DecodeError> {
    if sc_supports(api_key, version) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion { api_key, version })
    }
}

/// A request to the SC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ScRequest {
    ApiVersions(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ApiVersionsRequest,
    ),
    Watch(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectWatchRequest,
    ),
    List(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectListRequest,
    ),
    Create(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectCreateRequest,
    ),
    Delete(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectDeleteRequest,
    ),
}

impl ScRequest {
    /// Decode the body that follows `header`, at the header's version. The whole body must
    /// be consumed. An api key the SC does not serve is [`DecodeError::UnknownApiKey`]
    /// (that includes Mirroring 1005 and Update 1006, which this SC neither serves nor advertises); a
    /// version outside what the SC advertises is [`DecodeError::UnsupportedVersion`]; a
    /// label that names no object kind the api accepts is
    /// [`DecodeError::UnknownObjectType`].
    /// What it decodes is held to the reader's memory budget ([`Reader::limit_memory`]).
    pub fn decode(header: &RequestHeader, body: &mut Reader<'_>) -> Result<ScRequest, DecodeError> {
        body.limit_memory();
        let version = header.api_version;
        let request = match header.api_key {
            API_VERSIONS_KEY => {
                check_version(header.api_key, version)?;
                ScRequest::ApiVersions(ApiVersionsRequest::decode(body, version)?)
            }
            sc_keys::WATCH => {
                check_version(header.api_key, version)?;
                ScRequest::Watch(ObjectWatchRequest::decode(body, version)?)
            }
            sc_keys::LIST => {
                check_version(header.api_key, version)?;
                ScRequest::List(ObjectListRequest::decode(body, version)?)
            }
            sc_keys::CREATE => {
                check_version(header.api_key, version)?;
                ScRequest::Create(ObjectCreateRequest::decode(body, version)?)
            }
            sc_keys::DELETE => {
                check_version(header.api_key, version)?;
                ScRequest::Delete(ObjectDeleteRequest::decode(body, version)?)
            }
            other => return Err(DecodeError::UnknownApiKey(other)),
        };
        body.finish("SC request body")?;
        Ok(request)
    }

    /// Decode a whole request frame body (without the size prefix): header, then request.
    pub fn decode_frame(frame_body: &[u8]) -> Result<(RequestHeader, ScRequest), DecodeError> {
        let mut reader = Reader::new(frame_body);
        let header = RequestHeader::read(&mut reader)?;
        let request = Self::decode(&header, &mut reader)?;
        Ok((header, request))
    }

    /// The api key this request is sent under.
    pub fn api_key(&self) -> u16 {
        match self {
            ScRequest::ApiVersions(_) => API_VERSIONS_KEY,
            ScRequest::Watch(_) => sc_keys::WATCH,
            ScRequest::List(_) => sc_keys::LIST,
            ScRequest::Create(_) => sc_keys::CREATE,
            ScRequest::Delete(_) => sc_keys::DELETE,
        }
    }

    /// The header to send this request with.
    pub fn header(&self, version: Version, correlation_id: i32, client_id: &str) -> RequestHeader {
        RequestHeader {
            api_key: self.api_key(),
            api_version: version,
            correlation_id,
            client_id: client_id.to_string(),
        }
    }

    /// One frame, size prefix included: the header for this request, then the body at
    /// `version`.
    pub fn to_frame(
        &self,
        version: Version,
        correlation_id: i32,
        client_id: &str,
    ) -> Result<Vec<u8>, EncodeError> {
        encode_request_frame(&self.header(version, correlation_id, client_id), self)
    }
}

/// The body alone, at `version`.
impl Encode for ScRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            ScRequest::ApiVersions(r) => r.encode(dst, version),
            ScRequest::Watch(r) => r.encode(dst, version),
            ScRequest::List(r) => r.encode(dst, version),
            ScRequest::Create(r) => r.encode(dst, version),
            ScRequest::Delete(r) => r.encode(dst, version),
        }
    }
}

/// A response from the SC. Its shape follows from the request it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ScResponse {
    ApiVersions(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ApiVersionsResponse,
    ),
    /// One frame of a watch stream.
    Watch(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectWatchResponse,
    ),
    List(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        ObjectListResponse,
    ),
    Create(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        Status,
    ),
    Delete(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        Status,
    ),
}

impl ScResponse {
    /// Decode a response body (after the correlation id) to a request of `api_key` sent
    /// at `version`. The whole body must be consumed.
    pub fn decode(
        api_key: u16,
        version: Version,
        body: &mut Reader<'_>,
    ) -> Result<ScResponse, DecodeError> {
        let response = match api_key {
            API_VERSIONS_KEY => {
                ScResponse::ApiVersions(ApiVersionsResponse::decode(body, version)?)
            }
            sc_keys::WATCH => ScResponse::Watch(ObjectWatchResponse::decode(body, version)?),
            sc_keys::LIST => ScResponse::List(ObjectListResponse::decode(body, version)?),
            sc_keys::CREATE => ScResponse::Create(Status::decode(body, version)?),
            sc_keys::DELETE => ScResponse::Delete(Status::decode(body, version)?),
            other => return Err(DecodeError::UnknownApiKey(other)),
        };
        body.finish("SC response body")?;
        Ok(response)
    }

    /// Decode a whole response frame body (without the size prefix): the correlation id,
    /// then the response to a request of `api_key` sent at `version`.
    pub fn decode_frame(
        frame_body: &[u8],
        api_key: u16,
        version: Version,
    ) -> Result<(i32, ScResponse), DecodeError> {
        let mut reader = Reader::new(frame_body);
        let correlation_id = read_response_header(&mut reader)?;
        let response = Self::decode(api_key, version, &mut reader)?;
        Ok((correlation_id, response))
    }

    /// The api key of the request this answers.
    pub fn api_key(&self) -> u16 {
        match self {
            ScResponse::ApiVersions(_) => API_VERSIONS_KEY,
            ScResponse::Watch(_) => sc_keys::WATCH,
            ScResponse::List(_) => sc_keys::LIST,
            ScResponse::Create(_) => sc_keys::CREATE,
            ScResponse::Delete(_) => sc_keys::DELETE,
        }
    }

    /// One frame, size prefix included: `correlation_id`, then the body at `version` (the
    /// version of the request it answers).
    pub fn to_frame(&self, correlation_id: i32, version: Version) -> Result<Vec<u8>, EncodeError> {
        encode_response_frame(correlation_id, self, version)
    }
}

/// The body alone, at `version`.
impl Encode for ScResponse {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            ScResponse::ApiVersions(r) => r.encode(dst, version),
            ScResponse::Watch(r) => r.encode(dst, version),
            ScResponse::List(r) => r.encode(dst, version),
            ScResponse::Create(r) | ScResponse::Delete(r) => r.encode(dst, version),
        }
    }
}
