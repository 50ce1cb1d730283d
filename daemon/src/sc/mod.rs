//! The Streaming Controller: owns the metadata (auth tokens, SPUs, topics, partitions),
//! reconciles it with controllers, serves clients on the public port and SPUs on the
//! private port.

pub mod auth;
pub mod controller;
pub mod controllers;
pub mod private;
pub mod public;
pub mod server;
pub mod store;
pub mod table_fmt;
pub mod views;

pub use controller::Controller;
