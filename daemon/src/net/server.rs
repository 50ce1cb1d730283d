//! The accept loop: a bounded number of connections in total and per peer address, each
//! served on its own task, and a graceful stop that lets connections finish their current
//! request.
//!
//! A connection over a limit is accepted and closed at once rather than left in the listen
//! backlog: waiting there, it would hold the place of every client behind it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::frame::DEFAULT_MAX_FRAME_BYTES;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::frames::ReadLimits;
use super::limits::{ConnectionLimits, ConnectionRefused, ListenerLimits, LogThrottle};
use super::tls::Tls;
use super::{Service, conn};

/// How often a flood of refused connections or missed deadlines may write a log line.
const FLOOD_LOG_EVERY: Duration = Duration::from_secs(5);

/// How long shutdown waits for open connections to wind down before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Names the server in logs ("SC public", "SC private", ...).
    pub name: &'static str,
    pub max_frame_bytes: usize,
    pub limits: ListenerLimits,
    /// TLS on every connection of this listener; `None`: plaintext.
    pub tls: Option<Arc<Tls>>,
}

impl ServerConfig {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            limits: ListenerLimits::default(),
            tls: None,
        }
    }
}

/// Bind `addr`, naming the flag that changes it when the address is taken.
pub async fn bind(addr: SocketAddr, flag: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|err| {
        let hint = match err.kind() {
            io::ErrorKind::AddrInUse => {
                format!("address {addr} is already in use (is another fluvio-daemon running?); choose another with {flag}")
            }
            io::ErrorKind::PermissionDenied => {
                format!("no permission to listen on {addr}; choose another with {flag}")
            }
            _ => format!("cannot listen on {addr} ({flag}): {err}"),
        };
        io::Error::new(err.kind(), hint)
    })
}

/// A server bound to a listener, serving `S` until shutdown is signalled.
pub struct Server<S> {
    config: ServerConfig,
    listener: TcpListener,
    service: Arc<S>,
}

impl<S: Service> Server<S> {
    pub fn new(config: ServerConfig, listener: TcpListener, service: Arc<S>) -> Self {
        Self {
            config,
            listener,
            service,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `shutdown` turns true, then wait (a bounded time) for the
    /// open connections to end.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let limits = &self.config.limits;
        let connections =
            ConnectionLimits::new(limits.max_connections, limits.max_connections_per_peer);
        let conn_limits = Arc::new(conn::ConnLimits {
            max_frame_bytes: self.config.max_frame_bytes,
            read: ReadLimits {
                frame_timeout: Some(limits.frame_timeout),
                first_frame_timeout: Some(limits.first_frame_timeout),
                memory: Some(limits.frame_memory.clone()),
            },
            timeouts_log: LogThrottle::new(FLOOD_LOG_EVERY),
        });
        let refusals_log = LogThrottle::new(FLOOD_LOG_EVERY);
        crate::metrics::listener_started(self.config.name);
        // Each connection task holds a clone; when every clone is dropped, `recv` ends.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let name = self.config.name;
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Usually out of file descriptors; back off rather than spin.
                    warn!(server = name, %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = match connections.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(refused) => {
                    let limit = match refused {
                        ConnectionRefused::Total { .. } => "total",
                        ConnectionRefused::PerPeer { .. } => "per_peer",
                    };
                    crate::metrics::connection_refused(name, limit);
                    if let Some(left_out) = refusals_log.allow() {
                        warn!(server = name, %peer, %refused, left_out, "connection over the limit; closing it");
                    }
                    drop(stream);
                    continue;
                }
            };
            let service = self.service.clone();
            let shutdown = shutdown.clone();
            let done = done_tx.clone();
            let conn_limits = conn_limits.clone();
            let tls = self.config.tls.clone();
            tokio::spawn(async move {
                conn::start(name, service, stream, peer, tls, conn_limits, shutdown).await;
                drop(slot);
                drop(done);
            });
        }
        drop(self.listener);
        drop(done_tx);
        if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            error!(
                server = name,
                "connections still open after the shutdown grace period"
            );
        } else {
            info!(server = name, "stopped");
        }
    }
}
