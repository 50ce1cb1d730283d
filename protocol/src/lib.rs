//! The Fluvio client wire protocol, as the official client `fluvio==0.21.0` speaks it.
//!
//! Wire format only: framing, the versioned codec, messages and record batches. No sockets
//! and no tasks live here; the daemon and the console bring their own I/O.

pub mod api;
pub mod codec;
pub mod frame;
pub mod internal;
pub mod record;
pub mod sc;
pub mod spu;

pub use codec::{ByteBuf, Decode, DecodeError, Encode, EncodeError, Reader, Version};
