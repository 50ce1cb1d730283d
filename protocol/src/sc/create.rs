//! Create (api key 1001): topics, custom SPUs and auth tokens. Answered by a
//! [`Status`](crate::sc::Status).

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::metadata::{CreatableObject, ObjectKind, ObjectSpec};
use crate::sc::objects::*;
use crate::sc::typed::{decode_typed, encode_typed};

/// Create the object `name` of kind `S`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct CreateRequest<S: CreatableObject> {
    pub name: String,
    /// Validate only; create nothing.
    pub dry_run: bool,
    /// Milliseconds the client is willing to wait (from version 7).
    pub timeout: Option<u32>,
    pub spec: S::Create,
}

/// The first version with `timeout`.
const TIMEOUT_VERSION: Version = 7;

impl<S: CreatableObject> CreateRequest<S> {
    pub fn new(name: impl Into<String>, spec: S::Create) -> Self {
        Self {
            name: name.into(),
            dry_run: false,
            timeout: None,
            spec,
        }
    }
}

impl<S: CreatableObject> Encode for CreateRequest<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.name.encode(dst, version)?;
        self.dry_run.encode(dst, version)?;
        if version >= TIMEOUT_VERSION {
            self.timeout.encode(dst, version)?;
        }
        self.spec.encode(dst, version)
    }
}

impl<S: CreatableObject> Decode for CreateRequest<S> {
    const MIN_WIRE_SIZE: usize = 3;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let name = String::decode(src, version)?;
        let dry_run = bool::decode(src, version)?;
        let timeout = if version >= TIMEOUT_VERSION {
            Option::decode(src, version)?
        } else {
            None
        };
        Ok(Self {
            name,
            dry_run,
            timeout,
            spec: S::Create::decode(src, version)?,
        })
    }
}

/// A create request as a server decodes it: the kind comes from the typed buffer's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectCreateRequest {
    Topic(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        CreateRequest<TopicSpec>,
    ),
    CustomSpu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        CreateRequest<CustomSpuSpec>,
    ),
    AuthToken(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        CreateRequest<AuthTokenSpec>,
    ),
}

impl ObjectCreateRequest {
    /// Wrap a create of an `S` object.
    pub fn of<S: CreatableObject>(request: CreateRequest<S>) -> Self {
        S::wrap_create(request)
    }

    /// The request, if it creates an `S` object; otherwise the request back.
    #[allow(clippy::result_large_err)]
    pub fn into_kind<S: CreatableObject>(self) -> Result<CreateRequest<S>, Self> {
        S::unwrap_create(self)
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Topic(_) => ObjectKind::Topic,
            Self::CustomSpu(_) => ObjectKind::CustomSpu,
            Self::AuthToken(_) => ObjectKind::AuthToken,
        }
    }

    /// The name of the object to create.
    pub fn name(&self) -> &str {
        match self {
            Self::Topic(r) => &r.name,
            Self::CustomSpu(r) => &r.name,
            Self::AuthToken(r) => &r.name,
        }
    }
}

impl Default for ObjectCreateRequest {
    fn default() -> Self {
        Self::Topic(CreateRequest::default())
    }
}

impl Encode for ObjectCreateRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            Self::Topic(r) => encode_typed(TopicSpec::LABEL, r, dst, version),
            Self::CustomSpu(r) => encode_typed(CustomSpuSpec::LABEL, r, dst, version),
            Self::AuthToken(r) => encode_typed(AuthTokenSpec::LABEL, r, dst, version),
        }
    }
}

impl Decode for ObjectCreateRequest {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        decode_typed(src, version, |label, p| {
            Ok(match ObjectKind::parse(label)? {
                ObjectKind::Topic => Self::Topic(Decode::decode(p, version)?),
                ObjectKind::CustomSpu => Self::CustomSpu(Decode::decode(p, version)?),
                ObjectKind::AuthToken => Self::AuthToken(Decode::decode(p, version)?),
                ObjectKind::Partition | ObjectKind::Spu | ObjectKind::PartitionState => {
                    return Err(DecodeError::UnknownObjectType(label.to_string()));
                }
            })
        })
    }
}
