//! List (api key 1003): the objects of one kind whose names match the filters.

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::metadata::{Metadata, ObjectKind, ObjectSpec};
use crate::sc::objects::*;
use crate::sc::typed::{decode_typed, encode_typed};
use crate::wire_struct;

wire_struct! {
    /// Matches objects whose name contains `name`.
    pub struct ListFilter {
        pub name: String,
    }
}

wire_struct! {
    pub struct ListRequest {
        /// Any one filter matching admits an object; no filters admit every object.
        pub filters: Vec<ListFilter>,
        pub summary: bool [10..],
        pub system: bool [13..],
    }
}

/// Does an object named `name` pass `filters`? It does when any filter's string is
/// contained in the name, or when there are no filters.
pub fn filters_match(filters: &[ListFilter], name: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.name.as_str()))
}

impl ListRequest {
    /// A request with one filter per name.
    pub fn with_names<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        Self {
            filters: names
                .into_iter()
                .map(|n| ListFilter { name: n.into() })
                .collect(),
            ..Self::default()
        }
    }

    /// See [`filters_match`].
    pub fn matches(&self, name: &str) -> bool {
        filters_match(&self.filters, name)
    }
}

/// The payload of a list response for objects of kind `S`.
pub type ListResponse<S> = Vec<Metadata<S>>;

/// A list request as a server decodes it: the kind comes from the typed buffer's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectListRequest {
    Topic(ListRequest),
    Partition(ListRequest),
    Spu(ListRequest),
    CustomSpu(ListRequest),
    AuthToken(ListRequest),
    PartitionState(ListRequest),
}

impl ObjectListRequest {
    pub fn new(kind: ObjectKind, request: ListRequest) -> Self {
        match kind {
            ObjectKind::Topic => Self::Topic(request),
            ObjectKind::Partition => Self::Partition(request),
            ObjectKind::Spu => Self::Spu(request),
            ObjectKind::CustomSpu => Self::CustomSpu(request),
            ObjectKind::AuthToken => Self::AuthToken(request),
            ObjectKind::PartitionState => Self::PartitionState(request),
        }
    }

    /// A list of `S` objects.
    pub fn of<S: ObjectSpec>(request: ListRequest) -> Self {
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

    pub fn request(&self) -> &ListRequest {
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

impl Default for ObjectListRequest {
    fn default() -> Self {
        Self::Topic(ListRequest::default())
    }
}

impl Encode for ObjectListRequest {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        encode_typed(self.kind().label(), self.request(), dst, version)
    }
}

impl Decode for ObjectListRequest {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        decode_typed(src, version, |label, payload| {
            let kind = ObjectKind::parse(label)?;
            Ok(Self::new(kind, ListRequest::decode(payload, version)?))
        })
    }
}

/// A list response as a client decodes it (or a server builds it). The client fails if
/// the label differs from the one it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectListResponse {
    Topic(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<TopicSpec>,
    ),
    Partition(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<PartitionSpec>,
    ),
    Spu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<SpuSpec>,
    ),
    CustomSpu(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<CustomSpuSpec>,
    ),
    AuthToken(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<AuthTokenSpec>,
    ),
    PartitionState(
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::sc::metadata::arb::small_vec()")
        )]
        ListResponse<PartitionStateSpec>,
    ),
}

impl ObjectListResponse {
    /// Wrap a list of `S` objects.
    pub fn of<S: ObjectSpec>(items: ListResponse<S>) -> Self {
        S::wrap_list(items)
    }

    /// The objects, if they are `S` objects.
    pub fn into_kind<S: ObjectSpec>(self) -> Result<ListResponse<S>, Self> {
        S::unwrap_list(self)
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

    /// How many objects are listed.
    pub fn len(&self) -> usize {
        match self {
            Self::Topic(v) => v.len(),
            Self::Partition(v) => v.len(),
            Self::Spu(v) => v.len(),
            Self::CustomSpu(v) => v.len(),
            Self::AuthToken(v) => v.len(),
            Self::PartitionState(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ObjectListResponse {
    fn default() -> Self {
        Self::Topic(Vec::new())
    }
}

impl Encode for ObjectListResponse {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        let label = self.kind().label();
        match self {
            Self::Topic(v) => encode_typed(label, v, dst, version),
            Self::Partition(v) => encode_typed(label, v, dst, version),
            Self::Spu(v) => encode_typed(label, v, dst, version),
            Self::CustomSpu(v) => encode_typed(label, v, dst, version),
            Self::AuthToken(v) => encode_typed(label, v, dst, version),
            Self::PartitionState(v) => encode_typed(label, v, dst, version),
        }
    }
}

impl Decode for ObjectListResponse {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_contains_filters() {
        assert!(filters_match(&[], "anything"));
        let request = ListRequest::with_names(["dem", "xyz"]);
        assert!(request.matches("demo"));
        assert!(request.matches("a-xyz-b"));
        assert!(!request.matches("other"));
        assert!(ListRequest::with_names([""]).matches("x"));
    }
}
