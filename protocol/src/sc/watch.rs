//! Watch (api key 1004): a stream of metadata updates for one object kind. Every response
//! frame carries the request's correlation id; the first should be the full snapshot
//! (`all`), later ones the `changes`.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::metadata::{Metadata, ObjectKind, ObjectSpec};
use crate::sc::objects::*;
use crate::sc::typed::{decode_typed, encode_typed};
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

/// A watch request as a server decodes it: the kind comes from the typed buffer's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectWatchRequest {
    Topic(WatchRequest),
    Partition(WatchRequest),
    Spu(WatchRequest),
    CustomSpu(WatchRequest),
    AuthToken(WatchRequest),
    PartitionState(WatchRequest),
}

impl ObjectWatchRequest {
    pub fn new(kind: ObjectKind, request: WatchRequest) -> Self {
        match kind {
            ObjectKind::Topic => Self::Topic(request),
            ObjectKind::Partition => Self::Partition(request),
            ObjectKind::Spu => Self::Spu(request),
            ObjectKind::CustomSpu => Self::CustomSpu(request),
            ObjectKind::AuthToken => Self::AuthToken(request),
            ObjectKind::PartitionState => Self::PartitionState(request),
        }
    }

    /// A watch of `S` objects.
    pub fn of<S: ObjectSpec>(request: WatchRequest) -> Self {
        Self::new(S::KIND, request)
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Topic(_) => ObjectKind::Topic,
            Self::Partition(_) => ObjectKind::Partition,
            Self::Spu(_) => ObjectKind::Spu,
            Self::CustomSpu(_) => ObjectKind::CustomSpu,
            Self::AuthToken(_) => ObjectKind::AuthToken,
            Self::PartitionState(_) => ObjectKind::PartitionState,
        }
    }

    pub fn request(&self) -> &WatchRequest {
        match self {
            Self::Topic(r)
            | Self::Partition(r)
            | Self::Spu(r)
            | Self::CustomSpu(r)
            | Self::AuthToken(r)
            | Self::PartitionState(r) => r,
        }
    }
}

impl Default for ObjectWatchRequest {
    fn default() -> Self {
        Self::Topic(WatchRequest::default())
    }
}

impl Encode for ObjectWatchRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        encode_typed(self.kind().label(), self.request(), dst, version)
    }
}

impl Decode for ObjectWatchRequest {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        decode_typed(src, version, |label, payload| {
            let kind = ObjectKind::parse(label)?;
            Ok(Self::new(kind, WatchRequest::decode(payload, version)?))
        })
    }
}

/// One watch response frame as a client decodes it (or a server builds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectWatchResponse {
    Topic(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<TopicSpec>,
    ),
    Partition(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<PartitionSpec>,
    ),
    Spu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<SpuSpec>,
    ),
    CustomSpu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<CustomSpuSpec>,
    ),
    AuthToken(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<AuthTokenSpec>,
    ),
    PartitionState(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::boxed()")
        )]
        MetadataUpdate<PartitionStateSpec>,
    ),
}

impl ObjectWatchResponse {
    /// Wrap an update of `S` objects.
    pub fn of<S: ObjectSpec>(update: MetadataUpdate<S>) -> Self {
        S::wrap_watch(update)
    }

    /// The update, if it is about `S` objects.
    pub fn into_kind<S: ObjectSpec>(self) -> Result<MetadataUpdate<S>, Self> {
        S::unwrap_watch(self)
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Topic(_) => ObjectKind::Topic,
            Self::Partition(_) => ObjectKind::Partition,
            Self::Spu(_) => ObjectKind::Spu,
            Self::CustomSpu(_) => ObjectKind::CustomSpu,
            Self::AuthToken(_) => ObjectKind::AuthToken,
            Self::PartitionState(_) => ObjectKind::PartitionState,
        }
    }
}

impl Default for ObjectWatchResponse {
    fn default() -> Self {
        Self::Topic(MetadataUpdate::default())
    }
}

impl Encode for ObjectWatchResponse {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        let label = self.kind().label();
        match self {
            Self::Topic(u) => encode_typed(label, u, dst, version),
            Self::Partition(u) => encode_typed(label, u, dst, version),
            Self::Spu(u) => encode_typed(label, u, dst, version),
            Self::CustomSpu(u) => encode_typed(label, u, dst, version),
            Self::AuthToken(u) => encode_typed(label, u, dst, version),
            Self::PartitionState(u) => encode_typed(label, u, dst, version),
        }
    }
}

impl Decode for ObjectWatchResponse {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        decode_typed(src, version, |label, p| {
            Ok(match ObjectKind::parse(label)? {
                ObjectKind::Topic => Self::Topic(Decode::decode(p, version)?),
                ObjectKind::Partition => Self::Partition(Decode::decode(p, version)?),
                ObjectKind::Spu => Self::Spu(Decode::decode(p, version)?),
                ObjectKind::CustomSpu => Self::CustomSpu(Decode::decode(p, version)?),
                ObjectKind::AuthToken => Self::AuthToken(Decode::decode(p, version)?),
                ObjectKind::PartitionState => Self::PartitionState(Decode::decode(p, version)?),
            })
        })
    }
}
