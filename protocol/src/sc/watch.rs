//! Watch (api key 1004): a stream of metadata updates for one object kind. Every response
//! frame carries the request's correlation id; the first should be the full snapshot
//! (`all`), later ones the `changes`.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::kind_enum::kind_enum;
use crate::sc::metadata::{Metadata, ObjectSpec};
use crate::{wire_enum, wire_struct};

wire_struct! {
    /// What a watch asks for. The official client always sends epoch 0; `summary` is false
    /// for its internal stores.
    pub struct WatchRequest {
        pub epoch: i64,
        pub summary: bool [10..],
    }
}

wire_enum! {
    /// What a change does to the client's store.
    pub enum MessageType: u8 {
        /// Insert or replace the object with this name.
        Update = 0,
        /// Remove the object with this name (the content must still be complete).
        Delete = 1,
    }
}

/// One change in a [`MetadataUpdate`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Message<S: ObjectSpec> {
    pub header: MessageType,
    pub content: Metadata<S>,
}

impl<S: ObjectSpec> Message<S> {
    pub fn update(content: Metadata<S>) -> Self {
        Self {
            header: MessageType::Update,
            content,
        }
    }

    pub fn delete(content: Metadata<S>) -> Self {
        Self {
            header: MessageType::Delete,
            content,
        }
    }
}

impl<S: ObjectSpec> Encode for Message<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.header.encode(dst, version)?;
        self.content.encode(dst, version)
    }
}

impl<S: ObjectSpec> Decode for Message<S> {
    const MIN_WIRE_SIZE: usize = 3;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            header: MessageType::decode(src, version)?,
            content: Metadata::decode(src, version)?,
        })
    }
}

/// One watch response frame's payload. A non-empty `all` replaces the client's whole
/// store; otherwise the `changes` are applied in order; both empty changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct MetadataUpdate<S: ObjectSpec> {
    /// Any increasing number; the client only logs it.
    pub epoch: i64,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<Message<S>>(), 0..4)"
        )
    )]
    pub changes: Vec<Message<S>>,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<Metadata<S>>(), 0..4)"
        )
    )]
    pub all: Vec<Metadata<S>>,
}

/// The payload of a watch response for objects of kind `S`.
pub type WatchResponse<S> = MetadataUpdate<S>;

impl<S: ObjectSpec> MetadataUpdate<S> {
    /// The full state: replaces whatever the client holds (if non-empty).
    pub fn snapshot(epoch: i64, all: Vec<Metadata<S>>) -> Self {
        Self {
            epoch,
            changes: Vec::new(),
            all,
        }
    }

    /// Changes to apply on top of what the client holds.
    pub fn changes(epoch: i64, changes: Vec<Message<S>>) -> Self {
        Self {
            epoch,
            changes,
            all: Vec::new(),
        }
    }
}

impl<S: ObjectSpec> Encode for MetadataUpdate<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.epoch.encode(dst, version)?;
        self.changes.encode(dst, version)?;
        self.all.encode(dst, version)
    }
}

impl<S: ObjectSpec> Decode for MetadataUpdate<S> {
    const MIN_WIRE_SIZE: usize = 16;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            epoch: i64::decode(src, version)?,
            changes: Vec::decode(src, version)?,
            all: Vec::decode(src, version)?,
        })
    }
}

kind_enum! {
    /// A watch request as a server decodes it: the kind comes from the typed buffer's label.
    pub enum ObjectWatchRequest(WatchRequest);
}

kind_enum! {
    /// One watch response frame as a client decodes it (or a server builds it).
    pub enum ObjectWatchResponse: MetadataUpdate<S: ObjectSpec> by wrap_watch / unwrap_watch,
        strategy = "crate::sc::metadata::arb::boxed()";
}
