//! Delete (api key 1002): topics, custom SPUs and auth tokens. Answered by a
//! [`Status`](crate::sc::Status).

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::metadata::{DeletableObject, ObjectKind, ObjectSpec};
use crate::sc::objects::*;
use crate::sc::typed::{decode_typed, encode_typed};

/// Delete the `S` object named by `key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct DeleteRequest<S: DeletableObject> {
    pub key: S::DeleteKey,
    /// Delete even system objects (from version 13).
    pub force: bool,
}

/// The first version with `force`.
const FORCE_VERSION: Version = 13;

impl<S: DeletableObject> DeleteRequest<S> {
    pub fn new(key: S::DeleteKey) -> Self {
        Self { key, force: false }
    }
}

impl<S: DeletableObject> Encode for DeleteRequest<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.key.encode(dst, version)?;
        if version >= FORCE_VERSION {
            self.force.encode(dst, version)?;
        }
        Ok(())
    }
}

impl<S: DeletableObject> Decode for DeleteRequest<S> {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let key = S::DeleteKey::decode(src, version)?;
        let force = if version >= FORCE_VERSION {
            bool::decode(src, version)?
        } else {
            false
        };
        Ok(Self { key, force })
    }
}

/// A delete request as a server decodes it: the kind comes from the typed buffer's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectDeleteRequest {
    Topic(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        DeleteRequest<TopicSpec>,
    ),
    CustomSpu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        DeleteRequest<CustomSpuSpec>,
    ),
    AuthToken(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        DeleteRequest<AuthTokenSpec>,
    ),
}

impl ObjectDeleteRequest {
    /// Wrap a delete of an `S` object.
    pub fn of<S: DeletableObject>(request: DeleteRequest<S>) -> Self {
        S::wrap_delete(request)
    }

    /// The request, if it deletes an `S` object.
    pub fn into_kind<S: DeletableObject>(self) -> Result<DeleteRequest<S>, Self> {
        S::unwrap_delete(self)
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Topic(_) => ObjectKind::Topic,
            Self::CustomSpu(_) => ObjectKind::CustomSpu,
            Self::AuthToken(_) => ObjectKind::AuthToken,
        }
    }

    /// The key as text: the name, or for a custom SPU given by id, the id.
    pub fn key_name(&self) -> String {
        match self {
            Self::Topic(r) => r.key.clone(),
            Self::AuthToken(r) => r.key.clone(),
            Self::CustomSpu(r) => match &r.key {
                CustomSpuKey::Name(name) => name.clone(),
                CustomSpuKey::Id(id) => id.to_string(),
            },
        }
    }
}

impl Default for ObjectDeleteRequest {
    fn default() -> Self {
        Self::Topic(DeleteRequest::default())
    }
}

impl Encode for ObjectDeleteRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            Self::Topic(r) => encode_typed(TopicSpec::LABEL, r, dst, version),
            Self::CustomSpu(r) => encode_typed(CustomSpuSpec::LABEL, r, dst, version),
            Self::AuthToken(r) => encode_typed(AuthTokenSpec::LABEL, r, dst, version),
        }
    }
}

impl Decode for ObjectDeleteRequest {
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
