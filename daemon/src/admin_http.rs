//! The admin endpoint: one small HTTP/1 server per process (`--metrics-addr`, default
//! 127.0.0.1:9644) serving
//!
//! - `GET /metrics`: every metric of the process in the text format Prometheus scrapes
//!   (OpenMetrics 1.0, which Prometheus prefers and parses natively);
//! - `GET /healthz`: 200 while the process runs and answers;
//! - `GET /readyz`: 200 once every role of the process is ready (see
//!   [`crate::metrics::health`]), else 503 with what it waits for.
//!
//! hyper does the HTTP; connections are few (a scraper, a probe), so they are capped and
//! a client that never finishes its request head is dropped after a deadline.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::metrics;

/// The default address of the all-in-one daemon's endpoint (Redpanda's admin port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9644";

/// Scrapers and probes served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Serve the endpoint on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    info!("metrics and health endpoint on http://{addr} (/metrics, /healthz, /readyz)");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    warn!(%err, "admin endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service_fn(handle));
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        debug!(%peer, %err, "admin endpoint connection ended");
                    }
                }
                _ = shutdown.changed() => {}
            }
        });
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let known = matches!(path, "/metrics" | "/healthz" | "/readyz");
    if known && !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            format!("{} is not allowed on {path}; use GET\n", request.method()),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    Ok(match path {
        "/metrics" => reply(StatusCode::OK, OPENMETRICS, metrics::render().await),
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n".to_string()),
        "/readyz" => match metrics::health::readiness() {
            Ok(detail) => reply(StatusCode::OK, TEXT, format!("ready\n{detail}\n")),
            Err(waiting) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready\n{waiting}\n"),
            ),
        },
        other => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no such page {other}; this endpoint serves /metrics, /healthz and /readyz\n"),
        ),
    })
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Bind the endpoint's address. An address the operator chose must be bindable (as for
/// every listener); the all-in-one daemon's default is a convenience that must never stop
/// the daemon, so a taken default port is a warning and no endpoint.
pub async fn bind(addr: SocketAddr, explicit: bool) -> Result<Option<TcpListener>, String> {
    match crate::net::bind(addr, "--metrics-addr").await {
        Ok(listener) => Ok(Some(listener)),
        Err(err) if !explicit => {
            warn!("{err}; running without the metrics endpoint (or pass --no-metrics)");
            Ok(None)
        }
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_default_is_skipped_and_a_taken_choice_is_an_error() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(bind(addr, false).await.unwrap().is_none());
        let err = bind(addr, true).await.unwrap_err();
        assert!(err.contains("--metrics-addr"), "{err}");
        drop(taken);
        assert!(bind(addr, true).await.unwrap().is_some());
    }
}
