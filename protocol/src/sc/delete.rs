//! Delete (api key 1002): topics, custom SPUs and auth tokens. Answered by a
//! [`Status`](crate::sc::Status).

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::kind_enum::kind_enum;
use crate::sc::metadata::DeletableObject;
use crate::sc::objects::*;

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

kind_enum! {
    /// A delete request as a server decodes it: the kind comes from the typed buffer's label.
    pub enum ObjectDeleteRequest: DeleteRequest<S: DeletableObject> by wrap_delete / unwrap_delete,
        strategy = "crate::sc::metadata::arb::boxed()" {
        Topic(TopicSpec),
        CustomSpu(CustomSpuSpec),
        AuthToken(AuthTokenSpec),
    }
}

impl ObjectDeleteRequest {
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
