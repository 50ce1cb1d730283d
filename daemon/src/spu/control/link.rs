//! The SPU's link to the SC: register (with a token if configured), follow the control
//! stream, report offsets periodically and on change, send heartbeats, ask for blocks of
//! producer ids, and reconnect with backoff when the connection drops.
//!
//! `--sc-private-addr` may list several SCs (`A,B,C`, one metadata store, one leader):
//! the SPU tries them in turn, and an SC that does not lead names the one that does. An
//! SC that stops answering (paused, cut off) counts as lost after [`SC_SILENCE`].

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::internal::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, ControlUpdate, HeartbeatRequest,
    REGISTER_SPU_VERSION, RegisterSpuRequest, RegisterSpuResponse, ReportOffsetsRequest,
    WatchControlRequest,
};
use protocol::sc::{Endpoint, IngressPort};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use super::replicas::ReplicaState;
use crate::net::client::{self, Frames, WriteHalf, decode, decode_versioned, send};
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
const BACKOFF_MAX_SEVERAL: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The SC answers every heartbeat; this long without a frame and it is taken for gone.
const SC_SILENCE: Duration = Duration::from_secs(3);

const REGISTER_CORR: i32 = 1;
const CONTROL_CORR: i32 = 2;

/// Why one session with the SC ended.
enum End {
    Shutdown,
    Lost(String),
    Refused(String),
    /// That SC does not lead; the leader is at this address (if it knows one).
    NotLeader(Option<String>, String),
}

/// The SCs to try, in turn, starting with the last one that worked or was named leader.
struct ScAddrs {
    addrs: Vec<String>,
    next: usize,
    /// A leader named by a follower, tried before the list.
    named: Option<String>,
}

impl ScAddrs {
    fn new(list: &str) -> Self {
        let addrs: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        Self {
            addrs,
            next: 0,
            named: None,
        }
    }

    fn current(&mut self) -> String {
        if let Some(named) = &self.named {
            return named.clone();
        }
        self.addrs
            .get(self.next % self.addrs.len().max(1))
            .cloned()
            .unwrap_or_default()
    }

    /// The current address failed: move on. Whether every address has now failed in a
    /// row (time to back off) rather than another one is yet to try.
    fn advance(&mut self) -> bool {
        if self.named.take().is_none() {
            self.next = (self.next + 1) % self.addrs.len().max(1);
        }
        self.next == 0
    }
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
    let mut scs = ScAddrs::new(&config.sc_private_addr);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let mut admitted = false;
        let sc = scs.current();
        let end = session(
            &config,
            &sc,
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
            End::NotLeader(leader, message) => {
                info!(spu = config.id, "the SC at {sc} does not lead: {message}");
                let cycled = scs.advance();
                if let Some(leader) = leader {
                    scs.named = Some(leader);
                    // Straight to the leader: no backoff.
                    continue;
                }
                if !cycled {
                    pause(BACKOFF_MIN, &mut shutdown).await;
                    continue;
                }
            }
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
                        "lost the SC at {sc}: {reason}; reconnecting"
                    );
                } else {
                    info!(
                        spu = config.id,
                        "cannot reach the SC at {sc}: {reason}; retrying"
                    );
                }
                // Another SC of the list may lead now: try it at once.
                if !scs.advance() && !admitted {
                    pause(BACKOFF_MIN, &mut shutdown).await;
                    continue;
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
        // With several SCs a new leader is up within the lease: keep trying often.
        let max = if scs.addrs.len() > 1 {
            BACKOFF_MAX_SEVERAL
        } else {
            BACKOFF_MAX
        };
        backoff = (backoff * 2).min(max);
    }
}

/// Sleep, or return early on shutdown (the loop then sees it).
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn session(
    config: &SpuConfig,
    sc: &str,
    replicas: &ReplicaStore,
    state: &mut ReplicaState,
    asks: &mut Option<mpsc::Receiver<Ask>>,
    shutdown: &mut watch::Receiver<bool>,
    admitted: &mut bool,
) -> End {
    let connect = client::connect(sc, config.tls.as_ref(), CONNECT_TIMEOUT);
    let (reader, mut writer) = tokio::select! {
        stream = connect => match stream {
            Ok(halves) => halves,
            Err(err) => return End::Lost(err.to_string()),
        },
        _ = shutdown.changed() => return End::Shutdown,
    };
    let mut frames = Frames::new(reader, config.max_frame_bytes, "SC");
    match exchange(
        config,
        sc,
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
    sc: &str,
    replicas: &ReplicaStore,
    state: &mut ReplicaState,
    asks: &mut Option<mpsc::Receiver<Ask>>,
    shutdown: &mut watch::Receiver<bool>,
    admitted: &mut bool,
    frames: &mut Frames,
    writer: &mut WriteHalf,
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
    // A paused SC accepts connections (the kernel does) but never answers.
    let answer = tokio::time::sleep(SC_SILENCE);
    tokio::pin!(answer);
    let response: RegisterSpuResponse = loop {
        let (corr, body) = tokio::select! {
            frame = frames.next() => frame?,
            _ = &mut answer => return Ok(End::Lost(format!("no answer to registration within {SC_SILENCE:?}"))),
            _ = shutdown.changed() => return Ok(End::Shutdown),
        };
        if corr == REGISTER_CORR {
            break decode_versioned(&body, REGISTER_SPU_VERSION)?;
        }
    };
    if response.error_code.is_error() {
        let message = response
            .message
            .unwrap_or_else(|| response.error_code.to_string());
        if let Some(leader) = response.leader_sc {
            return Ok(End::NotLeader(Some(leader), message));
        }
        if message.contains("does not lead") {
            return Ok(End::NotLeader(None, message));
        }
        return Ok(End::Refused(message));
    }
    *admitted = true;
    replicas.set_sc_public_addr(response.sc_public_addr);
    info!(spu = config.id, "registered with the SC at {sc}");
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
    let mut last_frame = tokio::time::Instant::now();
    // Blocks of producer ids asked for on this session, by correlation id. Dropped with
    // the session, which tells the askers the SC was lost.
    let mut granting: HashMap<i32, Grant> = HashMap::new();
    loop {
        let silence = tokio::time::sleep_until(last_frame + SC_SILENCE);
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
                last_frame = tokio::time::Instant::now();
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
            _ = silence => {
                return Ok(End::Lost(format!("the SC sent nothing for {SC_SILENCE:?}")));
            }
            _ = shutdown.changed() => return Ok(End::Shutdown),
        }
    }
}
