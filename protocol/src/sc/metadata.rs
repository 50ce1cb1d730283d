//! The object kinds of the object API and what every message about them shares: the
//! [`ObjectSpec`] trait, its create/delete extensions and [`Metadata`].

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::sc::create::{CreateRequest, ObjectCreateRequest};
use crate::sc::delete::{DeleteRequest, ObjectDeleteRequest};
use crate::sc::list::{ListResponse, ObjectListResponse};
use crate::sc::objects::*;
use crate::sc::watch::{MetadataUpdate, ObjectWatchResponse};

/// Declares [`WireValue`] with the bounds every wire value has, plus `$extra`.
macro_rules! wire_value {
    (@bounds $($bounds:tt)*) => {
        /// What every value carried inside an object message can do. Implemented for every
        /// type that satisfies the bounds (with the `arbitrary` feature, that includes
        /// `Arbitrary`).
        pub trait WireValue: $($bounds)* {}

        impl<T> WireValue for T where T: $($bounds)* {}
    };
    ($($extra:tt)*) => {
        wire_value! {
            @bounds Encode + Decode + Clone + Debug + PartialEq + Default + Serialize
                + DeserializeOwned + Send + Sync + 'static $($extra)*
        }
    };
}

#[cfg(not(feature = "arbitrary"))]
wire_value!();
#[cfg(feature = "arbitrary")]
wire_value!(+ proptest::arbitrary::Arbitrary);

/// Strategies that keep generated values' trees small: the derived strategies of the
/// nested message enums are large enough to overflow a 2 MiB stack in debug builds when
/// kept inline, so the enums box their variants' strategies.
#[cfg(feature = "arbitrary")]
pub(crate) mod arb {
    use proptest::prelude::*;

    pub fn boxed<T: Arbitrary + 'static>() -> BoxedStrategy<T>
    where
        T::Strategy: 'static,
    {
        any::<T>().boxed()
    }

    /// A vector of up to three values.
    pub fn small_vec<T: Arbitrary + 'static>() -> BoxedStrategy<Vec<T>>
    where
        T::Strategy: 'static,
    {
        proptest::collection::vec(any::<T>(), 0..4).boxed()
    }
}

/// The object kinds this cluster serves, by the label (`ty`) that names them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ObjectKind {
    Topic,
    Partition,
    Spu,
    CustomSpu,
    AuthToken,
    /// Ours: a partition's leader epoch and confirmed in-sync set. List and watch only.
    PartitionState,
}

impl ObjectKind {
    pub const ALL: &'static [ObjectKind] = &[
        ObjectKind::Topic,
        ObjectKind::Partition,
        ObjectKind::Spu,
        ObjectKind::CustomSpu,
        ObjectKind::AuthToken,
        ObjectKind::PartitionState,
    ];

    /// The label in the typed buffer.
    pub const fn label(self) -> &'static str {
        match self {
            ObjectKind::Topic => "Topic",
            ObjectKind::Partition => "Partition",
            ObjectKind::Spu => "SPU",
            ObjectKind::CustomSpu => "CustomSpu",
            ObjectKind::AuthToken => "AuthToken",
            ObjectKind::PartitionState => "PartitionState",
        }
    }

    /// The kind a label names; labels are case-sensitive, as in the official client.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.label() == label)
    }

    /// Like [`ObjectKind::from_label`], failing with [`DecodeError::UnknownObjectType`].
    pub fn parse(label: &str) -> Result<Self, DecodeError> {
        Self::from_label(label).ok_or_else(|| DecodeError::UnknownObjectType(label.to_string()))
    }

    /// Can objects of this kind be created and deleted through the object API?
    pub fn is_creatable(self) -> bool {
        matches!(
            self,
            ObjectKind::Topic | ObjectKind::CustomSpu | ObjectKind::AuthToken
        )
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// An object kind: the spec type, with its status type and wire label. The `wrap_*` and
/// `unwrap_*` functions move between the generic messages and the per-kind enums a server
/// decodes into, so handlers can be written once, generically.
pub trait ObjectSpec: WireValue {
    const KIND: ObjectKind;
    /// The label in the typed buffer (`"Topic"`, `"SPU"`, ...).
    const LABEL: &'static str = Self::KIND.label();
    type Status: WireValue;

    fn wrap_watch(update: MetadataUpdate<Self>) -> ObjectWatchResponse;
    /// The update, if `response` is about this kind; otherwise `response` back.
    fn unwrap_watch(
        response: ObjectWatchResponse,
    ) -> Result<MetadataUpdate<Self>, ObjectWatchResponse>;
    fn wrap_list(items: ListResponse<Self>) -> ObjectListResponse;
    /// The objects, if `response` is about this kind; otherwise `response` back.
    fn unwrap_list(response: ObjectListResponse) -> Result<ListResponse<Self>, ObjectListResponse>;
}

/// A kind that Create (1001) accepts.
#[allow(clippy::result_large_err)] // the error is the request handed back, not an error
pub trait CreatableObject: ObjectSpec {
    /// What a create request carries: the spec itself, or for auth tokens the spec plus
    /// the secret.
    type Create: WireValue;

    fn wrap_create(request: CreateRequest<Self>) -> ObjectCreateRequest;
    fn unwrap_create(
        request: ObjectCreateRequest,
    ) -> Result<CreateRequest<Self>, ObjectCreateRequest>;
}

/// A kind that Delete (1002) accepts.
pub trait DeletableObject: ObjectSpec {
    /// How a delete request names the object.
    type DeleteKey: WireValue;

    fn wrap_delete(request: DeleteRequest<Self>) -> ObjectDeleteRequest;
    fn unwrap_delete(
        request: ObjectDeleteRequest,
    ) -> Result<DeleteRequest<Self>, ObjectDeleteRequest>;
}

macro_rules! object_spec {
    ($spec:ty, $status:ty, $kind:ident) => {
        impl ObjectSpec for $spec {
            const KIND: ObjectKind = ObjectKind::$kind;
            type Status = $status;

            fn wrap_watch(update: MetadataUpdate<Self>) -> ObjectWatchResponse {
                ObjectWatchResponse::$kind(update)
            }

            fn unwrap_watch(
                response: ObjectWatchResponse,
            ) -> Result<MetadataUpdate<Self>, ObjectWatchResponse> {
                match response {
                    ObjectWatchResponse::$kind(update) => Ok(update),
                    other => Err(other),
                }
            }

            fn wrap_list(items: ListResponse<Self>) -> ObjectListResponse {
                ObjectListResponse::$kind(items)
            }

            fn unwrap_list(
                response: ObjectListResponse,
            ) -> Result<ListResponse<Self>, ObjectListResponse> {
                match response {
                    ObjectListResponse::$kind(items) => Ok(items),
                    other => Err(other),
                }
            }
        }
    };
}

macro_rules! creatable {
    ($spec:ty, $create:ty, $key:ty, $kind:ident) => {
        #[allow(clippy::result_large_err)]
        impl CreatableObject for $spec {
            type Create = $create;

            fn wrap_create(request: CreateRequest<Self>) -> ObjectCreateRequest {
                ObjectCreateRequest::$kind(request)
            }

            #[allow(unreachable_patterns)]
            fn unwrap_create(
                request: ObjectCreateRequest,
            ) -> Result<CreateRequest<Self>, ObjectCreateRequest> {
                match request {
                    ObjectCreateRequest::$kind(request) => Ok(request),
                    other => Err(other),
                }
            }
        }

        impl DeletableObject for $spec {
            type DeleteKey = $key;

            fn wrap_delete(request: DeleteRequest<Self>) -> ObjectDeleteRequest {
                ObjectDeleteRequest::$kind(request)
            }

            #[allow(unreachable_patterns)]
            fn unwrap_delete(
                request: ObjectDeleteRequest,
            ) -> Result<DeleteRequest<Self>, ObjectDeleteRequest> {
                match request {
                    ObjectDeleteRequest::$kind(request) => Ok(request),
                    other => Err(other),
                }
            }
        }
    };
}

object_spec!(TopicSpec, TopicStatus, Topic);
object_spec!(PartitionSpec, PartitionStatus, Partition);
object_spec!(SpuSpec, SpuStatus, Spu);
object_spec!(CustomSpuSpec, SpuStatus, CustomSpu);
object_spec!(AuthTokenSpec, AuthTokenStatus, AuthToken);
object_spec!(PartitionStateSpec, PartitionStateStatus, PartitionState);

creatable!(TopicSpec, TopicSpec, String, Topic);
creatable!(CustomSpuSpec, CustomSpuSpec, CustomSpuKey, CustomSpu);
creatable!(AuthTokenSpec, AuthTokenCreate, String, AuthToken);

/// One object as watch and list carry it: name, spec, status.
///
/// Names: a topic's name; a partition's is `"<topic>-<partition>"`; an SPU's any string
/// (clients look SPUs up by `spec.id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Metadata<S: ObjectSpec> {
    pub name: String,
    pub spec: S,
    pub status: S::Status,
}

impl<S: ObjectSpec> Metadata<S> {
    pub fn new(name: impl Into<String>, spec: S, status: S::Status) -> Self {
        Self {
            name: name.into(),
            spec,
            status,
        }
    }
}

impl<S: ObjectSpec> Encode for Metadata<S> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.name.encode(dst, version)?;
        self.spec.encode(dst, version)?;
        self.status.encode(dst, version)
    }
}

impl<S: ObjectSpec> Decode for Metadata<S> {
    const MIN_WIRE_SIZE: usize = 2;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            name: String::decode(src, version)?,
            spec: S::decode(src, version)?,
            status: S::Status::decode(src, version)?,
        })
    }
}

/// Split a partition object's name `"<topic>-<partition>"` at the last `-`, as the client
/// does.
pub fn parse_partition_name(name: &str) -> Option<(&str, u32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    Some((topic, partition.parse().ok()?))
}

/// The object name of partition `partition` of `topic`.
pub fn partition_name(topic: &str, partition: u32) -> String {
    format!("{topic}-{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_label(kind.label()), Some(*kind));
        }
        assert_eq!(TopicSpec::LABEL, "Topic");
        assert_eq!(SpuSpec::LABEL, "SPU");
        assert_eq!(CustomSpuSpec::LABEL, "CustomSpu");
        assert_eq!(PartitionStateSpec::LABEL, "PartitionState");
        assert!(!ObjectKind::PartitionState.is_creatable());
        assert_eq!(ObjectKind::from_label("spu"), None);
        assert_eq!(
            ObjectKind::parse("SmartModule"),
            Err(DecodeError::UnknownObjectType("SmartModule".into()))
        );
    }

    #[test]
    fn partition_names() {
        assert_eq!(parse_partition_name("demo-0"), Some(("demo", 0)));
        assert_eq!(parse_partition_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_partition_name("demo"), None);
        assert_eq!(parse_partition_name("demo-x"), None);
        assert_eq!(partition_name("a-b", 3), "a-b-3");
    }
}
