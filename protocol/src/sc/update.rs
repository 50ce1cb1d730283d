//! Update (api key 1006): change an existing object in place. Topics only: add partitions
//! to a topic (`fluvio topic add-partition`), or make it a mirror (which this cluster does
//! not do). Answered by a [`Status`](crate::sc::Status).
//!
//! ```text
//! UpdateRequest<Topic> = key string, action TopicUpdate
//! TopicUpdate u8 tag: 0 AddPartition { count u32 }
//!                   | 1 AddMirror { remote_cluster string, home_to_mirror bool }
//! ```
//!
//! The layout does not depend on the version; like the reference server we accept 0..=19.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::kind_enum::kind_enum;
use crate::sc::metadata::{ObjectSpec, WireValue};
use crate::sc::objects::TopicSpec;

/// A kind that Update (1006) accepts.
#[allow(clippy::result_large_err)] // the error is the request handed back, not an error
pub trait UpdatableObject: ObjectSpec {
    /// How an update names the object.
    type UpdateKey: WireValue;
    /// What to change.
    type UpdateAction: WireValue;

    fn wrap_update(request: UpdateRequest<Self>) -> ObjectUpdateRequest;
    fn unwrap_update(
        request: ObjectUpdateRequest,
    ) -> Result<UpdateRequest<Self>, ObjectUpdateRequest>;
}

/// Change the `S` object named by `key` as `action` says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct UpdateRequest<S: UpdatableObject> {
    pub key: S::UpdateKey,
    pub action: S::UpdateAction,
}

impl<S: UpdatableObject> UpdateRequest<S> {
    pub fn new(key: S::UpdateKey, action: S::UpdateAction) -> Self {
        Self { key, action }
    }
}

impl<S: UpdatableObject> Encode for UpdateRequest<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.key.encode(dst, version)?;
        self.action.encode(dst, version)
    }
}

impl<S: UpdatableObject> Decode for UpdateRequest<S> {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            key: S::UpdateKey::decode(src, version)?,
            action: S::UpdateAction::decode(src, version)?,
        })
    }
}

/// What an update does to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum TopicUpdate {
    /// Add `count` partitions after the existing ones.
    AddPartition { count: u32 },
    /// Mirror the topic to or from another cluster.
    AddMirror {
        remote_cluster: String,
        home_to_mirror: bool,
    },
}

impl Default for TopicUpdate {
    fn default() -> Self {
        TopicUpdate::AddPartition { count: 0 }
    }
}

impl Encode for TopicUpdate {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            TopicUpdate::AddPartition { count } => {
                0u8.encode(dst, version)?;
                count.encode(dst, version)
            }
            TopicUpdate::AddMirror {
                remote_cluster,
                home_to_mirror,
            } => {
                1u8.encode(dst, version)?;
                remote_cluster.encode(dst, version)?;
                home_to_mirror.encode(dst, version)
            }
        }
    }
}

impl Decode for TopicUpdate {
    const MIN_WIRE_SIZE: usize = 1;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(TopicUpdate::AddPartition {
                count: u32::decode(src, version)?,
            }),
            1 => Ok(TopicUpdate::AddMirror {
                remote_cluster: String::decode(src, version)?,
                home_to_mirror: bool::decode(src, version)?,
            }),
            tag => Err(DecodeError::UnknownTag {
                kind: "TopicUpdate",
                tag: tag.into(),
            }),
        }
    }
}

#[allow(clippy::result_large_err)]
impl UpdatableObject for TopicSpec {
    type UpdateKey = String;
    type UpdateAction = TopicUpdate;

    fn wrap_update(request: UpdateRequest<Self>) -> ObjectUpdateRequest {
        ObjectUpdateRequest::Topic(request)
    }

    fn unwrap_update(
        request: ObjectUpdateRequest,
    ) -> Result<UpdateRequest<Self>, ObjectUpdateRequest> {
        match request {
            ObjectUpdateRequest::Topic(request) => Ok(request),
        }
    }
}

kind_enum! {
    /// An update request as a server decodes it: the kind comes from the typed buffer's
    /// label. Other kinds (Fluvio's custom SPUs, SmartModules, SPU groups, table formats)
    /// are `UnknownObjectType`.
    pub enum ObjectUpdateRequest: UpdateRequest<S: UpdatableObject> by wrap_update / unwrap_update,
        strategy = "crate::sc::metadata::arb::boxed()" {
        Topic(TopicSpec),
    }
}

impl ObjectUpdateRequest {
    /// The name of the object to change.
    pub fn key_name(&self) -> &str {
        match self {
            Self::Topic(r) => &r.key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_partition_layout() {
        let request = ObjectUpdateRequest::of(UpdateRequest::<TopicSpec>::new(
            "t".into(),
            TopicUpdate::AddPartition { count: 3 },
        ));
        let bytes = request.to_bytes(19).unwrap();
        // "Topic", payload length 8: key "t", tag 0, count 3.
        let mut expected = vec![0, 5];
        expected.extend_from_slice(b"Topic");
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 1, b't', 0, 0, 0, 0, 3]);
        assert_eq!(bytes, expected);
        assert_eq!(
            ObjectUpdateRequest::from_bytes(&bytes, 19).unwrap(),
            request
        );
    }

    #[test]
    fn add_mirror_and_unknown_tags() {
        let update = TopicUpdate::AddMirror {
            remote_cluster: "edge".into(),
            home_to_mirror: true,
        };
        let bytes = update.to_bytes(19).unwrap();
        assert_eq!(bytes, [1, 0, 4, b'e', b'd', b'g', b'e', 1]);
        assert_eq!(TopicUpdate::from_bytes(&bytes, 19).unwrap(), update);
        assert!(matches!(
            TopicUpdate::from_bytes(&[2, 0, 0, 0, 1], 19),
            Err(DecodeError::UnknownTag { .. })
        ));
    }

    #[test]
    fn other_kinds_are_unknown_object_types() {
        let mut bytes = vec![0, 3];
        bytes.extend_from_slice(b"SPU");
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            ObjectUpdateRequest::from_bytes(&bytes, 19),
            Err(DecodeError::UnknownObjectType(label)) if label == "SPU"
        ));
    }
}
