//! The Fluvio daemon: Streaming Controller (SC) and Streaming Processing Unit (SPU) roles.
//!
//! # Layout
//!
//! - `net`: accept loop, connection limit, per-connection frame reader and writer task,
//!   graceful shutdown; generic over a request handler ([`net::Service`]).
//! - `kv`: metadata backends the SC writes through to (`local`: embedded redb).
//! - `sc`: metadata stores, controllers, `table_fmt`, public and private servers.
//! - `spu`: the SPU role: link to the SC, replica assignments, ports.
//! - `storage`: replica logs.

pub mod kv;
pub mod net;
pub mod sc;
pub mod spu;
pub mod storage;
pub mod sync;
