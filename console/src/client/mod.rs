//! The async client library: connections to the SC and SPUs, the admin object API,
//! producers and consumers. The CLI, REPL, TUI and the integration tests are built on it.

pub mod admin;
pub mod error;
pub mod socket;

pub use admin::{Admin, WatchStream};
pub use error::{ClientError, Peer};
pub use socket::{FrameStream, Socket};
