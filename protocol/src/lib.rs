//! The Fluvio client wire protocol, as the official client `fluvio==0.21.0` speaks it.
//!
//! Wire format: framing, the versioned codec, messages and record batches; and, next to
//! the metadata types, how people are shown them ([`sc::table`]: the tables' columns,
//! which the daemon and the console both render). No sockets, no tasks and no terminal
//! live here; the daemon and the console bring their own I/O.

pub mod api;
pub mod codec;
pub mod frame;
pub mod internal;
pub mod record;
pub mod sc;
pub mod spu;

pub use codec::{ByteBuf, Decode, DecodeError, Encode, EncodeError, Reader, Version};
