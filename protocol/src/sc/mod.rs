//! The SC public API: the object API (watch, list, create, delete) over the metadata
//! objects.

pub mod objects;

pub use objects::*;
