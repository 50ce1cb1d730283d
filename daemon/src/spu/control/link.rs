//! The SPU's link to the SC: register (with a token if configured), follow the control
//! stream, report offsets periodically and on change, send heartbeats, ask for blocks of
//! producer ids, and reconnect with backoff when the connection drops.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use protocol::internal::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, ControlUpdate, HeartbeatRequest,
    RegisterSpuRequest, RegisterSpuResponse, ReportOffsetsRequest, WatchControlRequest,
};
use protocol::sc::{Endpoint, IngressPort};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use super::replicas::ReplicaState;
use crate::net::client::{Frames, decode, send};
use crate::spu::producer_ids::{Ask, Grant};
use crate::spu::replica::store::ReplicaStore;
use crate::spu::{SpuConfig, SpuError};

/// Well inside the SC's heartbeat timeout (`--spu-heartbeat-timeout-ms`, a few seconds).
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Offset changes within this long of the first go out in one report.
const REPORT_COALESCE: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const REGISTER_CORR: i32 = 1;
const CONTROL_CORR: i32 = 2;

/// Why one session with the SC ended.
enum End {
    Shutdown,
    Lost(String),
    Refused(String),
}

/// Keep a session with the SC open until shutdown. A refusal on the very first
/// registration is returned (the operator has to fix the token or the registration);
/// after the SPU has once been admitted, refusals are retried like dropped connections.
pub async fn run(
    config: SpuConfig,
    replicas: Arc<ReplicaStore>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SpuError> {
    let mut state = ReplicaState::default();
    // Asks wait in the channel while no session is up.
    let mut asks = replicas.producer_ids().take_inbox();
    let mut admitted_before = false;
    let mut backoff = BACKOFF_MIN;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let mut admitted = false;
        let end = session(
            &config,
            &replicas,
            &mut state,
            &mut asks,
            &mut shutdown,
            &mut admitted,
        )
        .await;
        replicas.set_linked(false);
        match end {
            End::Shutdown => return Ok(()),
            End::Refused(message) if !admitted_before => {
                error!(spu = config.id, "the SC refused this SPU: {message}");
                return Err(SpuError::Refused {
                    id: config.id,
                    message,
                });
            }
            End::Refused(message) => warn!(
                spu = config.id,
                "the SC refused this SPU: {message}; retrying"
            ),
            End::Lost(reason) => {
                if admitted {
                    warn!(
                        spu = config.id,
                        "lost the SC at {}: {reason}; reconnecting", config.sc_private_addr
                    );
                } else {
                    info!(
                        spu = config.id,
                        "cannot reach the SC at {}: {reason}; retrying", config.sc_private_addr
                    );
                }
            }
        }
        if admitted {
            admitted_before = true;
            backoff = BACKOFF_MIN;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn session(
    config: &SpuConfig,
    replicas: &ReplicaStore,
    state: &mut ReplicaState,
    asks: &mut Option<mpsc::Receiver<Ask>>,
    shutdown: &mut watch::Receiver<bool>,
    admitted: &mut bool,
) -> End {
    let connect =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&config.sc_private_addr));
    let stream = tokio::select! {
        stream = connect => match stream {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return End::Lost(err.to_string()),
            Err(_) => return End::Lost("connect timed out".into()),
        },
        _ = shutdown.changed() => return End::Shutdown,
    };
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut frames = Frames::new(reader, config.max_frame_bytes, "SC");
    match exchange(
        config,
        replicas,
        state,
        asks,
        shutdown,
        admitted,
        &mut frames,
        &mut writer,
    )
    .await
    {
        Ok(end) => end,
        Err(err) => End::Lost(err.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    config: &SpuConfig,
    replicas: &ReplicaStore,
    state: &mut ReplicaState,
    asks: &mut Option<mpsc::Receiver<Ask>>,
    shutdown: &mut watch::Receiver<bool>,
    admitted: &mut bool,
    frames: &mut Frames,
    writer: &mut OwnedWriteHalf,
) -> io::Result<End> {
    let host = config.public_addr.ip().to_string();
    let register = RegisterSpuRequest {
        spu_id: config.id,
        spu_type: config.spu_type,
        public_endpoint: IngressPort::from_host_port(&host, config.public_addr.port()),
        private_endpoint: Endpoint::from_host_port(
            &config.private_addr.ip().to_string(),
            config.private_addr.port(),
        ),
        rack: config.rack.clone(),
        token_name: config.token.as_ref().map(|(name, _)| name.clone()),
        token_secret: config.token.as_ref().map(|(_, secret)| secret.clone()),
        kafka_endpoint: config
            .kafka
            .as_ref()
            .map(|k| Endpoint::from_host_port(&k.addr.ip().to_string(), k.addr.port())),
    };
    send(writer, &register, REGISTER_CORR).await?;
    let response: RegisterSpuResponse = loop {
        let (corr, body) = tokio::select! {
            frame = frames.next() => frame?,
            _ = shutdown.changed() => return Ok(End::Shutdown),
        };
        if corr == REGISTER_CORR {
            break decode(&body)?;
        }
    };
    if response.error_code.is_error() {
        let message = response
            .message
            .unwrap_or_else(|| response.error_code.to_string());
        return Ok(End::Refused(message));
    }
    *admitted = true;
    replicas.set_sc_public_addr(response.sc_public_addr);
    info!(
        spu = config.id,
        "registered with the SC at {}", config.sc_private_addr
    );
    send(
        writer,
        &WatchControlRequest { spu_id: config.id },
        CONTROL_CORR,
    )
    .await?;

    let mut next_corr = CONTROL_CORR + 1;
    let mut corr = move || {
        next_corr = next_corr.wrapping_add(1).max(CONTROL_CORR + 1);
        next_corr
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut report = tokio::time::interval(REPORT_EVERY);
    // Set when offsets moved: a report goes out at that instant.
    let mut report_at: Option<tokio::time::Instant> = None;
    // Blocks of producer ids asked for on this session, by correlation id. Dropped with
    // the session, which tells the askers the SC was lost.
    let mut granting: HashMap<i32, Grant> = HashMap::new();
    loop {
        let next_ask = async {
            match asks.as_mut() {
                Some(inbox) => inbox.recv().await,
                None => std::future::pending().await,
            }
        };
        let coalesced = async {
            match report_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = frames.next() => {
                let (at, body) = frame?;
                if at == CONTROL_CORR {
                    let update: ControlUpdate = decode(&body)?;
                    if let Some(leader) = update.offsets_leader {
                        replicas.consumer_offsets().set_leader(leader);
                    }
                    let changed = state.apply(update);
                    replicas.set_spus(&state.spus);
                    if changed {
                        debug!(spu = config.id, replicas = state.replicas.len(), "replica assignment changed");
                        // Logs open in the background; the store signals when offsets are known.
                        replicas.assign(state.replicas.clone());
                    }
                    replicas.set_linked(true);
                } else if let Some(reply) = granting.remove(&at) {
                    let granted: AllocateProducerIdsResponse = decode(&body)?;
                    let _ = reply.send(if granted.error_code.is_error() {
                        Err(granted.error_code)
                    } else {
                        Ok((granted.first_id, granted.count))
                    });
                }
            }
            ask = next_ask => match ask {
                Some(ask) => {
                    let at = corr();
                    granting.insert(at, ask.reply);
                    let request = AllocateProducerIdsRequest { spu_id: config.id, count: ask.count };
                    send(writer, &request, at).await?;
                }
                // Every sender is gone: the store is being dropped.
                None => *asks = None,
            },
            _ = heartbeat.tick() => {
                send(writer, &HeartbeatRequest { spu_id: config.id, time_ms: now_ms() }, corr()).await?;
            }
            _ = report.tick() => {
                let reports = ReportOffsetsRequest { spu_id: config.id, reports: replicas.reports() };
                send(writer, &reports, corr()).await?;
            }
            _ = replicas.offsets_changed(), if report_at.is_none() => {
                report_at = Some(tokio::time::Instant::now() + REPORT_COALESCE);
            }
            _ = coalesced => {
                report_at = None;
                let reports = ReportOffsetsRequest { spu_id: config.id, reports: replicas.reports() };
                send(writer, &reports, corr()).await?;
            }
            _ = shutdown.changed() => return Ok(End::Shutdown),
        }
    }
}
