//! The TCP plumbing every server of the daemon shares: an accept loop with connection
//! limits in total and per peer address, a frame reader per connection with a maximum
//! frame size, deadlines and a memory budget shared by the process ([`limits`]), a writer
//! task per connection fed by a channel (so several streams can share one socket and every
//! frame is written whole), and graceful shutdown.
//!
//! A server is generic over a [`Service`]: it sees one decoded [`Request`] at a time per
//! connection and answers through a [`ResponseSink`], as often as it likes (watches and
//! stream fetches answer many times on one correlation id).
//!
//! The other direction, the daemon's own outgoing connections (an SPU to the SC, a
//! follower to its leader), frames its requests with [`client`].

pub mod client;
mod conn;
mod frames;
pub mod limits;
mod server;
mod sink;

pub use conn::Request;
pub use frames::{Deadline, FrameReadError, FrameReader, ReadLimits};
pub use limits::{FrameMemory, ListenerLimits, MemoryPermit};
pub use server::{Server, ServerConfig, bind};
pub use sink::{Outgoing, ResponseSink, SinkClosed};

use std::future::Future;
use std::net::SocketAddr;

use protocol::{DecodeError, EncodeError};

/// Why a request ended its connection. Every variant is logged, and the connection is
/// closed: the stream is out of sync or the peer speaks something else.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request (api key {api_key}, version {version}): {source}")]
    Malformed {
        api_key: u16,
        version: i16,
        source: DecodeError,
    },
    #[error("unknown api key {api_key} (version {version})")]
    UnknownApiKey { api_key: u16, version: i16 },
    #[error("unsupported version {version} of api key {api_key}")]
    UnsupportedVersion { api_key: u16, version: i16 },
    #[error("response could not be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// A Kafka request body the `kafka-protocol` schemas could not decode.
    #[error("malformed Kafka request (api key {api_key}, version {version}): {reason}")]
    MalformedKafka {
        api_key: i16,
        version: i16,
        reason: String,
    },
    /// A Kafka response the `kafka-protocol` schemas refused to encode (our bug, logged).
    #[error("Kafka response could not be encoded: {0}")]
    EncodeKafka(String),
    #[error("the connection is closed")]
    Closed(#[from] SinkClosed),
    /// The peer broke the protocol's rules (e.g. an SPU that failed to register).
    #[error("{0}")]
    Refused(String),
}

/// Who is on the other end of a connection: its address and, when it presented a client
/// certificate on a TLS listener, that certificate's subject. Authorization derives the
/// connection's principal from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    pub certificate: Option<CertificateSubject>,
}

impl Peer {
    /// A peer on a plaintext connection (or a TLS one without a client certificate).
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            certificate: None,
        }
    }
}

/// The parts of a verified client certificate's subject that name who the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSubject {
    /// The subject's common name (CN): the principal's name.
    pub common_name: String,
    /// The subject's organisational units (OU): the principal's roles.
    pub organizational_units: Vec<String>,
}

/// What a server does with requests. One [`Service::Session`] lives per connection.
pub trait Service: Send + Sync + 'static {
    /// Per-connection state: registered SPU id, running watch tasks, ...
    type Session: Send + 'static;

    /// A connection was accepted. `sink` writes frames to it.
    fn open(&self, peer: &Peer, sink: ResponseSink) -> Self::Session;

    /// Handle one request. An error closes the connection (after logging it).
    fn call(
        &self,
        session: &mut Self::Session,
        request: Request,
    ) -> impl Future<Output = Result<(), RequestError>> + Send;

    /// The connection ended (peer closed, error, or shutdown).
    fn close(&self, session: Self::Session) -> impl Future<Output = ()> + Send {
        drop(session);
        async {}
    }
}
