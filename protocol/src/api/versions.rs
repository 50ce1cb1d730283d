//! The ApiVersions handshake (api key 18): the first exchange on every connection, SC and
//! SPU alike. The client says who it is; the server lists the api keys it serves with their
//! version ranges and its platform version.

use crate::api::ErrorCode;
use crate::api::{PLATFORM_VERSION, SPU_API_NEWEST, sc_keys, spu_keys};
use crate::codec::Version;
use crate::wire_struct;

/// The api key of ApiVersions, on both the SC and the SPU.
pub const API_VERSIONS_KEY: u16 = 18;

/// The version the official client sends ApiVersions at.
pub const API_VERSIONS_CLIENT_VERSION: Version = 2;

wire_struct! {
    /// Who the client is. Every field exists from version 1 on; the official client sends
    /// version 2 with `"0.15.2"`, `"linux"`, `"x86_64"`.
    pub struct ApiVersionsRequest {
        pub client_version: String [1..],
        pub client_os: String [1..],
        pub client_arch: String [1..],
    }
}

wire_struct! {
    /// One api key a server serves, with the versions it accepts.
    pub struct ApiVersionKey {
        pub api_key: i16,
        pub min_version: i16,
        pub max_version: i16,
    }
}

wire_struct! {
    /// The server's answer. Its layout does not depend on the version.
    pub struct ApiVersionsResponse {
        pub error_code: ErrorCode,
        pub api_keys: Vec<ApiVersionKey>,
        /// Must parse as semver; the official client refuses an SC below 0.9.0.
        pub platform_version: String,
    }
}

impl ApiVersionKey {
    pub const fn new(api_key: u16, min_version: i16, max_version: i16) -> Self {
        Self {
            api_key: api_key as i16,
            min_version,
            max_version,
        }
    }
}

/// What our SC advertises, byte for byte the reference server's table in the captures:
/// every object API pinned to a maximum of 19, so the official client sends version 19 for
/// all of them. ApiVersions itself is not listed, exactly like the reference server.
/// Update (1006) adds partitions to a topic. Mirroring (1005) is not listed: this cluster
/// has no mirroring, and a client that wants it fails at once with "no version found"
/// instead of losing its connection.
pub const SC_API_KEYS: &[ApiVersionKey] = &[
    ApiVersionKey::new(sc_keys::CREATE, 9, 19),
    ApiVersionKey::new(sc_keys::DELETE, 1, 19),
    ApiVersionKey::new(sc_keys::LIST, 15, 19),
    ApiVersionKey::new(sc_keys::WATCH, 15, 19),
    ApiVersionKey::new(sc_keys::UPDATE, 0, 19),
];

/// What our SPUs advertise (the real SPU's tuples, without Fetch), up to v25: the newest
/// official clients (the `fluvio` crate 0.50) send v25, where a SmartModule invocation
/// carries its name; the Python client 0.21.0 sends v24. FetchOffsets is the same at both.
pub const SPU_API_KEYS: &[ApiVersionKey] = &[
    ApiVersionKey::new(spu_keys::PRODUCE, 0, SPU_API_NEWEST),
    ApiVersionKey::new(spu_keys::FETCH_OFFSETS, 24, SPU_API_NEWEST),
    ApiVersionKey::new(spu_keys::STREAM_FETCH, 0, SPU_API_NEWEST),
    ApiVersionKey::new(spu_keys::UPDATE_OFFSETS, 0, 0),
];

/// The SPU table of the reference server in the captures (Fluvio 0.17.3, SPU API v24).
pub const REFERENCE_SPU_API_KEYS: &[ApiVersionKey] = &[
    ApiVersionKey::new(spu_keys::PRODUCE, 0, 24),
    ApiVersionKey::new(spu_keys::FETCH_OFFSETS, 24, 24),
    ApiVersionKey::new(spu_keys::STREAM_FETCH, 0, 24),
    ApiVersionKey::new(spu_keys::UPDATE_OFFSETS, 0, 0),
];

impl ApiVersionsRequest {
    /// The request the official client 0.21.0 sends (at version 2).
    pub fn official_client() -> Self {
        Self {
            client_version: "0.15.2".into(),
            client_os: "linux".into(),
            client_arch: "x86_64".into(),
        }
    }
}

impl ApiVersionsResponse {
    /// A successful response listing `api_keys`.
    pub fn new(api_keys: &[ApiVersionKey], platform_version: &str) -> Self {
        Self {
            error_code: ErrorCode::None,
            api_keys: api_keys.to_vec(),
            platform_version: platform_version.to_string(),
        }
    }

    /// Our SC's answer: [`SC_API_KEYS`] and platform [`PLATFORM_VERSION`].
    pub fn sc() -> Self {
        Self::new(SC_API_KEYS, PLATFORM_VERSION)
    }

    /// Our SPU's answer: [`SPU_API_KEYS`] and platform [`PLATFORM_VERSION`].
    pub fn spu() -> Self {
        Self::new(SPU_API_KEYS, PLATFORM_VERSION)
    }

    /// The reference server's SPU answer, byte for byte the response in the captures.
    pub fn reference_spu() -> Self {
        Self::new(REFERENCE_SPU_API_KEYS, PLATFORM_VERSION)
    }

    /// The entry for `api_key`, if the server lists it.
    pub fn lookup(&self, api_key: u16) -> Option<&ApiVersionKey> {
        self.api_keys.iter().find(|k| k.api_key as u16 == api_key)
    }

    /// The version a client supporting `client_min..=client_max` of `api_key` would use,
    /// the way the official client chooses it: `min(client_max, server_max)` when the
    /// ranges overlap, otherwise none.
    pub fn negotiate(
        &self,
        api_key: u16,
        client_min: Version,
        client_max: Version,
    ) -> Option<Version> {
        let entry = self.lookup(api_key)?;
        if entry.max_version >= client_min && entry.min_version <= client_max {
            Some(client_max.min(entry.max_version))
        } else {
            None
        }
    }

    /// Is `version` of `api_key` within what this response advertises?
    pub fn supports(&self, api_key: u16, version: Version) -> bool {
        self.lookup(api_key)
            .is_some_and(|k| (k.min_version..=k.max_version).contains(&version))
    }

    /// The platform version as `(major, minor, patch)`, if it is valid semver.
    pub fn platform_semver(&self) -> Option<(u64, u64, u64)> {
        parse_semver(&self.platform_version)
    }
}

/// Parse `MAJOR.MINOR.PATCH` with an optional `-pre-release` and `+build` suffix, as the
/// client's semver check does. Returns `None` for anything else.
pub fn parse_semver(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split_once('+').map_or(
        text,
        |(core, build)| {
            if build.is_empty() { "" } else { core }
        },
    );
    let core = match core.split_once('-') {
        Some((_, "")) => return None,
        Some((core, _)) => core,
        None => core,
    };
    let mut parts = core.split('.');
    let mut number = || -> Option<u64> {
        let part = parts.next()?;
        let valid = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        if valid { part.parse().ok() } else { None }
    };
    let version = (number()?, number()?, number()?);
    if parts.next().is_some() {
        return None;
    }
    Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Decode, Encode};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sc_table_matches_capture() {
        let body = hex(
            "0000 00000005 03e9 0009 0013 03ea 0001 0013 03eb 000f 0013 03ec 000f 0013 03ee 0000 0013 0006 302e31372e33",
        );
        for version in 0..=2 {
            assert_eq!(ApiVersionsResponse::sc().to_bytes(version).unwrap(), body);
            assert_eq!(
                ApiVersionsResponse::from_bytes(&body, version).unwrap(),
                ApiVersionsResponse::sc()
            );
        }
    }

    #[test]
    fn spu_table_matches_capture() {
        let body = hex(
            "0000 00000004 0000 0000 0018 03ea 0018 0018 03eb 0000 0018 03ed 0000 0000 0006 302e31372e33",
        );
        assert_eq!(
            ApiVersionsResponse::reference_spu().to_bytes(2).unwrap(),
            body
        );
        // Ours lists the same keys, each up to the newest client's v25 where the
        // reference stops at v24.
        let ours = ApiVersionsResponse::spu();
        assert_eq!(ours.api_keys.len(), REFERENCE_SPU_API_KEYS.len());
        for (ours, reference) in ours.api_keys.iter().zip(REFERENCE_SPU_API_KEYS) {
            assert_eq!(ours.api_key, reference.api_key);
            assert_eq!(ours.min_version, reference.min_version);
            let newest = if reference.max_version == 24 { 25 } else { 0 };
            assert_eq!(ours.max_version, newest);
        }
    }

    #[test]
    fn request_fields_exist_from_v1() {
        let request = ApiVersionsRequest::official_client();
        assert!(request.to_bytes(0).unwrap().is_empty());
        let bytes = request.to_bytes(2).unwrap();
        assert_eq!(
            bytes,
            hex("0006 302e31352e32 0005 6c696e7578 0006 7838365f3634")
        );
        assert_eq!(ApiVersionsRequest::from_bytes(&bytes, 1).unwrap(), request);
    }

    #[test]
    fn negotiation_follows_the_client_rule() {
        let sc = ApiVersionsResponse::sc();
        assert_eq!(sc.negotiate(sc_keys::WATCH, 15, 19), Some(19));
        assert_eq!(sc.negotiate(sc_keys::WATCH, 15, 25), Some(19));
        assert_eq!(sc.negotiate(sc_keys::WATCH, 20, 25), None);
        assert_eq!(sc.negotiate(sc_keys::MIRRORING, 14, 19), None);
        assert!(sc.supports(sc_keys::CREATE, 9));
        assert!(!sc.supports(sc_keys::CREATE, 8));
        let spu = ApiVersionsResponse::spu();
        assert_eq!(spu.negotiate(spu_keys::STREAM_FETCH, 23, 24), Some(24));
        assert_eq!(spu.negotiate(spu_keys::STREAM_FETCH, 23, 25), Some(25));
        assert_eq!(spu.negotiate(spu_keys::PRODUCE, 23, 25), Some(25));
        assert_eq!(spu.negotiate(spu_keys::UPDATE_OFFSETS, 0, 0), Some(0));
    }

    #[test]
    fn semver() {
        assert_eq!(parse_semver("0.17.3"), Some((0, 17, 3)));
        assert_eq!(parse_semver("1.2.3-alpha.1+build"), Some((1, 2, 3)));
        assert_eq!(parse_semver("foo"), None);
        assert_eq!(parse_semver("1.2"), None);
        assert_eq!(parse_semver("1.2.3.4"), None);
        assert_eq!(parse_semver("01.2.3"), None);
        assert_eq!(parse_semver("1.2.3-"), None);
        assert_eq!(parse_semver("1.2.3+"), None);
        assert_eq!(parse_semver(""), None);
    }
}
