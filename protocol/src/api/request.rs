//! What every request type of every API shares: the [`ApiRequest`] trait (api key, the
//! versions whose layout we decode, the response type) and the [`api_enums!`] macro that
//! turns a list of request types into a server's request enum and its response enum,
//! decoded by api key and version. The SC's public API, the SPU's public API and the
//! internal APIs are all written with them.

use crate::api::RequestHeader;
use crate::codec::{Decode, DecodeError, Encode, Version};

/// A request type: its api key, the versions we decode it at, the version this cluster
/// speaks it at, and the type that answers it.
pub trait ApiRequest: Encode + Decode {
    const API_KEY: u16;
    /// The version our servers expect and our clients send.
    const VERSION: Version;
    /// The oldest version whose layout we know and decode.
    const MIN_VERSION: Version = 0;
    /// The newest version whose layout we know and decode.
    const MAX_VERSION: Version = Self::VERSION;
    type Response: Encode + Decode;

    /// Is `version` one we decode?
    fn supports(version: Version) -> bool {
        (Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version)
    }

    /// A header for this request at [`ApiRequest::VERSION`].
    fn header(correlation_id: i32, client_id: &str) -> RequestHeader {
        RequestHeader {
            api_key: Self::API_KEY,
            api_version: Self::VERSION,
            correlation_id,
            client_id: client_id.to_string(),
        }
    }

    /// Decode a whole response body (after the correlation id) at `version`, the version
    /// the request was sent with. Trailing bytes are an error.
    fn decode_response(body: &[u8], version: Version) -> Result<Self::Response, DecodeError> {
        Self::Response::from_bytes(body, version)
    }
}

/// Implement [`ApiRequest`] for request types: `Request => Response, api key, version`,
/// then, unless it is `0..=version`, the versions decoded: `versions (min, max)`.
macro_rules! impl_api_request {
    ($(
        $request:ty => $response:ty, $key:expr, $version:expr $(, versions $range:expr)?;
    )+) => {$(
        impl $crate::api::ApiRequest for $request {
            const API_KEY: u16 = $key;
            const VERSION: $crate::codec::Version = $version;
            $(
                const MIN_VERSION: $crate::codec::Version = $range.0;
                const MAX_VERSION: $crate::codec::Version = $range.1;
            )?
            type Response = $response;
        }
    )+};
}
pub(crate) use impl_api_request;

/// Define a request enum and its response enum over [`ApiRequest`] types: decoding by api
/// key (checking the version is one we know), encoding, frames. What a decoding error
/// calls the bodies is `"<enum name> body"`, or the names given after `bodies`
/// (`bodies("SC request body", "SC response body")`).
macro_rules! api_enums {
    // Hand-written rather than derived: a derived strategy over this many large variants
    // is one deeply nested type whose construction overflows a test thread's stack in debug
    // builds. Boxing each variant keeps it flat.
    (@arbitrary $name:ident { $($variant:ident($ty:ty)),+ }) => {
        #[cfg(feature = "arbitrary")]
        impl ::proptest::arbitrary::Arbitrary for $name {
            type Parameters = ();
            type Strategy = ::proptest::strategy::BoxedStrategy<Self>;

            fn arbitrary_with(_: ()) -> Self::Strategy {
                use ::proptest::strategy::Strategy as _;
                ::proptest::strategy::Union::new(vec![
                    $(::proptest::arbitrary::any::<$ty>().prop_map($name::$variant).boxed(),)+
                ])
                .boxed()
            }
        }
    };
    // The body alone, at `version`: what the variant holds.
    (@encode $name:ident { $($variant:ident),+ }) => {
        /// The body alone, at `version`.
        impl $crate::codec::Encode for $name {
            fn encode(
                &self,
                dst: &mut ::std::vec::Vec<u8>,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<(), $crate::codec::EncodeError> {
                match self {
                    $( $name::$variant(body) => $crate::codec::Encode::encode(body, dst, version), )+
                }
            }
        }
    };
    (
        $(#[$rmeta:meta])*
        pub enum $req:ident / $resp:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident($rq:ty)
            ),+ $(,)?
        }
    ) => {
        $crate::api::api_enums! {
            $(#[$rmeta])*
            pub enum $req / $resp,
                bodies(concat!(stringify!($req), " body"), concat!(stringify!($resp), " body")) {
                $(
                    $(#[$vmeta])*
                    $variant($rq)
                ),+
            }
        }
    };
    (
        $(#[$rmeta:meta])*
        pub enum $req:ident / $resp:ident, bodies($req_body:expr, $resp_body:expr) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident($rq:ty)
            ),+ $(,)?
        }
    ) => {
        $(#[$rmeta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[allow(clippy::large_enum_variant)] // one per frame; boxing buys nothing
        pub enum $req {
            $(
                $(#[$vmeta])*
                $variant($rq),
            )+
        }

        #[doc = concat!("A response to a [`", stringify!($req), "`]: its shape follows from the request it answers.")]
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[allow(clippy::large_enum_variant)]
        pub enum $resp {
            $(
                $variant(<$rq as $crate::api::ApiRequest>::Response),
            )+
        }

        impl $req {
            /// Is `api_key` served, and `version` one whose layout we know?
            pub fn supports(api_key: u16, version: $crate::codec::Version) -> bool {
                match api_key {
                    $(
                        key if key == <$rq as $crate::api::ApiRequest>::API_KEY => {
                            <$rq as $crate::api::ApiRequest>::supports(version)
                        }
                    )+
                    _ => false,
                }
            }

            /// Decode the body that follows `header`, at the header's version. The whole
            /// body must be consumed. An api key not served here is
            /// [`DecodeError::UnknownApiKey`](crate::codec::DecodeError::UnknownApiKey); a
            /// version whose layout we do not know is
            /// [`DecodeError::UnsupportedVersion`](crate::codec::DecodeError::UnsupportedVersion).
            /// What it decodes is held to the reader's memory budget
            /// ([`Reader::limit_memory`](crate::codec::Reader::limit_memory)).
            pub fn decode(
                header: &$crate::api::RequestHeader,
                body: &mut $crate::codec::Reader<'_>,
            ) -> ::std::result::Result<Self, $crate::codec::DecodeError> {
                body.limit_memory();
                let version = header.api_version;
                let request = match header.api_key {
                    $(
                        key if key == <$rq as $crate::api::ApiRequest>::API_KEY => {
                            if !<$rq as $crate::api::ApiRequest>::supports(version) {
                                return Err($crate::codec::DecodeError::UnsupportedVersion {
                                    api_key: key,
                                    version,
                                });
                            }
                            $req::$variant(<$rq as $crate::codec::Decode>::decode(body, version)?)
                        }
                    )+
                    other => return Err($crate::codec::DecodeError::UnknownApiKey(other)),
                };
                body.finish($req_body)?;
                Ok(request)
            }

            /// Decode a whole request frame body (without the size prefix): header, then
            /// request.
            pub fn decode_frame(
                frame_body: &[u8],
            ) -> ::std::result::Result<($crate::api::RequestHeader, Self), $crate::codec::DecodeError> {
                let mut reader = $crate::codec::Reader::new(frame_body);
                let header = $crate::api::RequestHeader::read(&mut reader)?;
                let request = Self::decode(&header, &mut reader)?;
                Ok((header, request))
            }

            /// The api key this request is sent under.
            pub fn api_key(&self) -> u16 {
                match self {
                    $( $req::$variant(_) => <$rq as $crate::api::ApiRequest>::API_KEY, )+
                }
            }

            /// The version this cluster speaks this request at.
            pub fn default_version(&self) -> $crate::codec::Version {
                match self {
                    $( $req::$variant(_) => <$rq as $crate::api::ApiRequest>::VERSION, )+
                }
            }

            /// The header to send this request with.
            pub fn header(
                &self,
                version: $crate::codec::Version,
                correlation_id: i32,
                client_id: &str,
            ) -> $crate::api::RequestHeader {
                $crate::api::RequestHeader {
                    api_key: self.api_key(),
                    api_version: version,
                    correlation_id,
                    client_id: client_id.to_string(),
                }
            }

            /// One frame, size prefix included: the header for this request, then the body
            /// at `version`.
            pub fn to_frame(
                &self,
                version: $crate::codec::Version,
                correlation_id: i32,
                client_id: &str,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::codec::EncodeError> {
                $crate::api::encode_request_frame(
                    &self.header(version, correlation_id, client_id),
                    self,
                )
            }
        }

        $crate::api::api_enums!(@encode $req { $($variant),+ });

        $crate::api::api_enums!(@arbitrary $req { $($variant($rq)),+ });
        $crate::api::api_enums!(@arbitrary $resp {
            $($variant(<$rq as $crate::api::ApiRequest>::Response)),+
        });

        $(
            impl From<$rq> for $req {
                fn from(request: $rq) -> Self {
                    $req::$variant(request)
                }
            }
        )+

        impl $resp {
            /// Decode a response body (after the correlation id) to a request of `api_key`
            /// sent at `version`. The whole body must be consumed.
            pub fn decode(
                api_key: u16,
                version: $crate::codec::Version,
                body: &mut $crate::codec::Reader<'_>,
            ) -> ::std::result::Result<Self, $crate::codec::DecodeError> {
                let response = match api_key {
                    $(
                        key if key == <$rq as $crate::api::ApiRequest>::API_KEY => {
                            if !<$rq as $crate::api::ApiRequest>::supports(version) {
                                return Err($crate::codec::DecodeError::UnsupportedVersion {
                                    api_key: key,
                                    version,
                                });
                            }
                            $resp::$variant(
                                <<$rq as $crate::api::ApiRequest>::Response as $crate::codec::Decode>::decode(body, version)?,
                            )
                        }
                    )+
                    other => return Err($crate::codec::DecodeError::UnknownApiKey(other)),
                };
                body.finish($resp_body)?;
                Ok(response)
            }

            /// Decode a whole response frame body (without the size prefix): the
            /// correlation id, then the response to a request of `api_key` sent at
            /// `version`.
            pub fn decode_frame(
                frame_body: &[u8],
                api_key: u16,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<(i32, Self), $crate::codec::DecodeError> {
                let mut reader = $crate::codec::Reader::new(frame_body);
                let correlation_id = $crate::api::read_response_header(&mut reader)?;
                let response = Self::decode(api_key, version, &mut reader)?;
                Ok((correlation_id, response))
            }

            /// The api key of the request this answers.
            pub fn api_key(&self) -> u16 {
                match self {
                    $( $resp::$variant(_) => <$rq as $crate::api::ApiRequest>::API_KEY, )+
                }
            }

            /// One frame, size prefix included: `correlation_id`, then the body at
            /// `version` (the version of the request it answers).
            pub fn to_frame(
                &self,
                correlation_id: i32,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::codec::EncodeError> {
                $crate::api::encode_response_frame(correlation_id, self, version)
            }
        }

        $crate::api::api_enums!(@encode $resp { $($variant),+ });
    };
}
pub(crate) use api_enums;
