//! Create (api key 1001): topics, custom SPUs and auth tokens. Answered by a
//! [`Status`](crate::sc::Status).

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::kind_enum::kind_enum;
use crate::sc::metadata::CreatableObject;
use crate::sc::objects::*;

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

kind_enum! {
    /// A create request as a server decodes it: the kind comes from the typed buffer's label.
    pub enum ObjectCreateRequest: CreateRequest<S: CreatableObject> by wrap_create / unwrap_create,
        strategy = "crate::sc::metadata::arb::boxed()" {
        Topic(TopicSpec),
        CustomSpu(CustomSpuSpec),
        AuthToken(AuthTokenSpec),
    }
}

impl ObjectCreateRequest {
    /// The name of the object to create.
    pub fn name(&self) -> &str {
        match self {
            Self::Topic(r) => &r.name,
            Self::CustomSpu(r) => &r.name,
            Self::AuthToken(r) => &r.name,
        }
    }
}
