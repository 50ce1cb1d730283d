//! Every request the SC serves and every response it sends, with dispatch on the request
//! header's api key and version.

use crate::api::versions::SC_API_KEYS;
use crate::api::{ApiVersionsRequest, SC_API_VERSION, api_enums, impl_api_request, sc_keys};
use crate::codec::Version;
use crate::sc::create::ObjectCreateRequest;
use crate::sc::delete::ObjectDeleteRequest;
use crate::sc::list::{ObjectListRequest, ObjectListResponse};
use crate::sc::status::Status;
use crate::sc::update::ObjectUpdateRequest;
use crate::sc::watch::{ObjectWatchRequest, ObjectWatchResponse};

/// Can the SC decode `api_key` at `version`? ApiVersions at any version (0..=2 are known);
/// the object APIs within the ranges our SC advertises ([`SC_API_KEYS`]).
pub fn sc_supports(api_key: u16, version: Version) -> bool {
    ScRequest::supports(api_key, version)
}

/// The version range our SC advertises for `api_key` in [`SC_API_KEYS`], so that what it
/// decodes and what it advertises are one table.
const fn advertised(api_key: u16) -> (Version, Version) {
    let mut i = 0;
    while i < SC_API_KEYS.len() {
        let key = &SC_API_KEYS[i];
        if key.api_key as u16 == api_key {
            return (key.min_version, key.max_version);
        }
        i += 1;
    }
    panic!("an object API the SC does not advertise")
}

impl_api_request! {
    ObjectWatchRequest => ObjectWatchResponse, sc_keys::WATCH, SC_API_VERSION,
        versions advertised(sc_keys::WATCH);
    ObjectListRequest => ObjectListResponse, sc_keys::LIST, SC_API_VERSION,
        versions advertised(sc_keys::LIST);
    ObjectCreateRequest => Status, sc_keys::CREATE, SC_API_VERSION,
        versions advertised(sc_keys::CREATE);
    ObjectDeleteRequest => Status, sc_keys::DELETE, SC_API_VERSION,
        versions advertised(sc_keys::DELETE);
    ObjectUpdateRequest => Status, sc_keys::UPDATE, SC_API_VERSION,
        versions advertised(sc_keys::UPDATE);
}

api_enums! {
    /// A request to the SC. An api key the SC does not serve is
    /// [`DecodeError::UnknownApiKey`](crate::codec::DecodeError::UnknownApiKey) (that
    /// includes Mirroring 1005, which this SC neither serves nor advertises); a version outside what the SC advertises is
    /// [`DecodeError::UnsupportedVersion`](crate::codec::DecodeError::UnsupportedVersion); a
    /// label that names no object kind the api accepts is
    /// [`DecodeError::UnknownObjectType`](crate::codec::DecodeError::UnknownObjectType).
    pub enum ScRequest / ScResponse, bodies("SC request body", "SC response body") {
        ApiVersions(ApiVersionsRequest),
        /// One watch; the SC answers with a stream of frames.
        Watch(ObjectWatchRequest),
        List(ObjectListRequest),
        Create(ObjectCreateRequest),
        Delete(ObjectDeleteRequest),
        Update(ObjectUpdateRequest),
    }
}
