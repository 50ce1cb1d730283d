//! The Fluvio daemon: Streaming Controller (SC) and Streaming Processing Unit (SPU) roles.
//!
//! # Layout
//!
//! - `net`: accept loop, connection limits, per-connection frame reader and writer task,
//!   graceful shutdown; generic over a request handler ([`net::Service`]); and the framing
//!   of the daemon's own outgoing connections ([`net::client`]).
//! - `kv`: metadata backends the SC writes through to (`local`: embedded redb).
//! - `sc`: metadata stores, controllers and the actions that apply them, `table_fmt`,
//!   public and private servers.
//! - `spu`: the SPU role: control link to the SC, hosted replicas, replication leader and
//!   follower, public port.
//! - `kafka`: the Kafka listener of an SPU (`--kafka-addr`): Kafka clients produce,
//!   fetch and administer topics through it.
//! - `storage`: replica logs (segments, index, recovery, retention, flush policy).
//! - `sync`: poison-tolerant locks and running blocking work from async code.
//! - `metrics`: the process's metrics (events counted where they happen, state read at
//!   scrape time), readiness; `admin_http` serves them over HTTP.

pub mod admin_http;
pub mod kafka;
pub mod kv;
pub mod metrics;
pub mod net;
pub mod sc;
pub mod spu;
pub mod storage;
pub mod sync;
