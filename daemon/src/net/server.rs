//! The accept loop: a bounded number of connections, each served on its own task, and a
//! graceful stop that lets connections finish their current request.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::frame::DEFAULT_MAX_FRAME_BYTES;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{error, info, warn};

use super::{Service, conn};

/// How long shutdown waits for open connections to wind down before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Names the server in logs ("SC public", "SC private", ...).
    pub name: &'static str,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    pub max_frame_bytes: usize,
}

impl ServerConfig {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_connections: 1024,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
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
        let limit = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        // Each connection task holds a clone; when every clone is dropped, `recv` ends.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let name = self.config.name;
        loop {
            let permit = tokio::select! {
                permit = limit.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = shutdown.changed() => break,
            };
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
            let service = self.service.clone();
            let shutdown = shutdown.clone();
            let done = done_tx.clone();
            let max_frame = self.config.max_frame_bytes;
            tokio::spawn(async move {
                conn::run(name, service, stream, peer, max_frame, shutdown).await;
                drop(permit);
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
