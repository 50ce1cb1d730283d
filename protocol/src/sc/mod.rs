//! The SC public API: the object API (watch, list, create, delete, update) over the
//! metadata objects.
//!
//! * [`ScRequest::decode`] turns a request header and body into a typed request;
//!   [`ScResponse`] and [`crate::api::encode_response_frame`] write the answers.
//! * [`ObjectSpec`] ties each object kind to its label, status, and (for
//!   [`CreatableObject`] / [`DeletableObject`]) what create carries and delete names it by.
//! * Object API messages travel in a typed buffer ([`typed`]): label, length, payload.

pub mod cluster;
pub mod create;
pub mod delete;
pub(crate) mod kind_enum;
pub mod list;
pub mod metadata;
pub mod objects;
pub mod request;
pub mod status;
pub mod table;
pub mod typed;
pub mod update;
pub mod watch;

pub use create::{CreateRequest, ObjectCreateRequest};
pub use delete::{DeleteRequest, ObjectDeleteRequest};
pub use list::{
    ListFilter, ListRequest, ListResponse, ObjectListRequest, ObjectListResponse, filters_match,
};
pub use metadata::{
    CreatableObject, DeletableObject, Metadata, ObjectKind, ObjectSpec, WireValue,
    parse_partition_name, partition_name,
};
pub use objects::*;
pub use request::{ScRequest, ScResponse, sc_supports};
pub use status::Status;
pub use update::{ObjectUpdateRequest, TopicUpdate, UpdatableObject, UpdateRequest};
pub use watch::{
    Message, MessageType, MetadataUpdate, ObjectWatchRequest, ObjectWatchResponse, WatchRequest,
    WatchResponse,
};
