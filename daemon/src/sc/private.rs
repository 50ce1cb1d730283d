//! The SC private port: SPUs register, receive their replica assignments as a control
//! stream, report offsets and send heartbeats.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use protocol::api::ErrorCode;
use protocol::internal::{
    ControlUpdate, HeartbeatResponse, RegisterSpuRequest, RegisterSpuResponse, Replica,
    ReplicaUpdates, ReportOffsetsRequest, ReportOffsetsResponse, ScPrivateRequest, SpuUpdates,
};
use protocol::sc::{CleanupPolicy, SpuId, SpuResolution, SpuStatus, SpuType};
use protocol::spu::ReplicaKey;
use protocol::{DecodeError, Reader, Version};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::Controller;
use super::auth::{self, PresentedToken, Rejection};
use super::controllers::partition::{self, LeaderReport};
use super::store::{Event, Mutation, PartitionObj, Stores, split_partition_name};
use crate::net::{Request, RequestError, ResponseSink, Service};

/// The token name the daemon's own (managed) SPUs present, with the per-process secret.
pub const MANAGED_TOKEN_NAME: &str = "fluvio-daemon-managed";

/// How the SC admits SPUs.
#[derive(Debug, Clone, Default)]
pub struct AdmissionPolicy {
    /// Admit registered custom SPUs without a token.
    pub allow_unauthenticated: bool,
    /// The secret this process gave its managed SPUs; `None` when it runs none.
    pub managed_secret: Option<String>,
}

pub struct PrivateService {
    controller: Arc<Controller>,
    policy: AdmissionPolicy,
}

impl PrivateService {
    pub fn new(controller: Arc<Controller>, policy: AdmissionPolicy) -> Self {
        Self { controller, policy }
    }
}

pub struct Session {
    peer: SocketAddr,
    sink: ResponseSink,
    /// The SPU this connection registered as: id and store name.
    spu: Option<(SpuId, String)>,
    control: Option<JoinHandle<()>>,
}

/// Decide whether an SPU may join. Pure: the stores, the request, the policy.
pub fn admit(
    stores: &Stores,
    request: &RegisterSpuRequest,
    policy: &AdmissionPolicy,
) -> Result<String, Rejection> {
    let id = request.spu_id;
    let spu = stores
        .spu_by_id(id)
        .ok_or(Rejection::NotRegistered { id })?;
    if spu.status.resolution == SpuResolution::Online {
        return Err(Rejection::AlreadyOnline { id });
    }
    match spu.spec.spu_type {
        SpuType::Managed => {
            // Managed SPUs are started by this process and prove it with its secret.
            let genuine = request.spu_type == SpuType::Managed
                && request.token_name.as_deref() == Some(MANAGED_TOKEN_NAME)
                && match (&policy.managed_secret, &request.token_secret) {
                    (Some(expected), Some(given)) => constant_time_str_eq(expected, given),
                    _ => false,
                };
            if !genuine {
                return Err(Rejection::NotRegistered { id });
            }
        }
        SpuType::Custom if policy.allow_unauthenticated => {}
        SpuType::Custom => {
            let presented = request.token_name.as_deref().map(|name| PresentedToken {
                name,
                secret: request.token_secret.as_deref().unwrap_or(""),
                stored: stores.tokens.get(name).map(|t| (&t.spec, &t.secret)),
            });
            auth::check_token(id, SpuType::Custom, presented)?;
        }
    }
    Ok(spu.name.clone())
}

fn constant_time_str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && std::hint::black_box(
            a.bytes()
                .zip(b.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y)),
        ) == 0
}

impl Service for PrivateService {
    type Session = Session;

    fn open(&self, peer: SocketAddr, sink: ResponseSink) -> Session {
        Session {
            peer,
            sink,
            spu: None,
            control: None,
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        let corr = header.correlation_id;
        let version = header.api_version;
        let decoded = match ScPrivateRequest::decode(header, &mut Reader::new(&request.body)) {
            Ok(decoded) => decoded,
            Err(DecodeError::UnknownApiKey(api_key)) => {
                return Err(RequestError::UnknownApiKey { api_key, version });
            }
            Err(source) => {
                return Err(RequestError::Malformed {
                    api_key: header.api_key,
                    version,
                    source,
                });
            }
        };
        match decoded {
            ScPrivateRequest::RegisterSpu(register) => {
                self.register(session, corr, version, register).await
            }
            ScPrivateRequest::WatchControl(watch) => {
                let id = registered(session, watch.spu_id)?;
                if let Some(old) = session.control.take() {
                    old.abort();
                }
                session.control = Some(tokio::spawn(control_stream(
                    self.controller.clone(),
                    session.sink.clone(),
                    corr,
                    version,
                    id,
                )));
                Ok(())
            }
            ScPrivateRequest::ReportOffsets(report) => {
                registered(session, report.spu_id)?;
                let error_code = self.report(report).await;
                session
                    .sink
                    .respond(corr, version, &ReportOffsetsResponse { error_code })
                    .await
            }
            ScPrivateRequest::Heartbeat(beat) => {
                registered(session, beat.spu_id)?;
                let response = HeartbeatResponse {
                    error_code: ErrorCode::None,
                };
                session.sink.respond(corr, version, &response).await
            }
        }
    }

    async fn close(&self, session: Session) {
        if let Some(control) = session.control {
            control.abort();
        }
        let Some((id, name)) = session.spu else {
            return;
        };
        info!(spu = id, peer = %session.peer, "SPU disconnected; now offline");
        let result = self
            .controller
            .store()
            .update(|stores| {
                let mut mutations = vec![Mutation::SetSpuStatus(
                    name.clone(),
                    SpuStatus {
                        resolution: SpuResolution::Offline,
                    },
                )];
                mutations.extend(partition::on_spu_offline(stores, id));
                Ok::<_, std::convert::Infallible>((mutations, ()))
            })
            .await;
        if let Err(err) = result {
            warn!(spu = id, %err, "could not record the SPU as offline");
        }
    }
}

/// The SPU id of a registered session, if it matches what the request claims.
fn registered(session: &Session, claimed: SpuId) -> Result<SpuId, RequestError> {
    match &session.spu {
        Some((id, _)) if *id == claimed => Ok(*id),
        Some((id, _)) => Err(RequestError::Refused(format!(
            "SPU {id} sent a request for SPU {claimed}"
        ))),
        None => Err(RequestError::Refused(format!(
            "SPU {claimed} sent a request before registering"
        ))),
    }
}

impl PrivateService {
    async fn register(
        &self,
        session: &mut Session,
        corr: i32,
        version: Version,
        request: RegisterSpuRequest,
    ) -> Result<(), RequestError> {
        if let Some((id, _)) = &session.spu {
            return Err(RequestError::Refused(format!(
                "SPU {id} registered twice on one connection"
            )));
        }
        let id = request.spu_id;
        let policy = self.policy.clone();
        let outcome = self
            .controller
            .store()
            .update(|stores| {
                let name = admit(stores, &request, &policy)?;
                let status = SpuStatus {
                    resolution: SpuResolution::Online,
                };
                Ok::<_, Rejection>((vec![Mutation::SetSpuStatus(name.clone(), status)], name))
            })
            .await;
        let response = match outcome {
            Ok(name) => {
                info!(spu = id, peer = %session.peer, "SPU registered; now online");
                session.spu = Some((id, name));
                RegisterSpuResponse {
                    error_code: ErrorCode::None,
                    message: None,
                }
            }
            Err(err) => {
                let message = err.to_string();
                warn!(spu = id, peer = %session.peer, %message, "SPU registration refused");
                RegisterSpuResponse {
                    error_code: ErrorCode::SpuRegisterationFailed,
                    message: Some(message),
                }
            }
        };
        session.sink.respond(corr, version, &response).await
    }

    async fn report(&self, request: ReportOffsetsRequest) -> ErrorCode {
        let spu = request.spu_id;
        let result = self
            .controller
            .store()
            .update(|stores| {
                let mutations = request
                    .reports
                    .iter()
                    .filter_map(|r| {
                        let name = protocol::sc::partition_name(&r.key.topic, r.key.partition);
                        let p = stores.partitions.get(&name)?;
                        let report = LeaderReport {
                            leader: spu,
                            hw: r.hw,
                            leo: r.leo,
                            log_start: r.log_start,
                            size: r.size,
                            followers: r.followers.clone(),
                            in_sync: r.in_sync.len() as u32,
                        };
                        let status =
                            partition::status_from_report(p.spec.leader, &p.status, &report)?;
                        Some(Mutation::SetPartitionStatus(name, status))
                    })
                    .collect();
                Ok::<_, std::convert::Infallible>((mutations, ()))
            })
            .await;
        match result {
            Ok(()) => ErrorCode::None,
            Err(err) => {
                warn!(spu, %err, "offset report not recorded");
                ErrorCode::Other(err.to_string())
            }
        }
    }
}

/// The replica an SPU hosts for a partition, with the topic settings it enforces.
pub fn replica_of(p: &PartitionObj) -> Option<Replica> {
    let (topic, index) = split_partition_name(&p.name)?;
    Some(Replica {
        key: ReplicaKey::new(topic, index),
        leader: p.spec.leader,
        replicas: p.spec.replicas.clone(),
        leader_epoch: 0,
        in_sync: p.spec.replicas.clone(),
        retention_secs: p
            .spec
            .cleanup_policy
            .map(|CleanupPolicy::Segment { time_in_seconds }| time_in_seconds),
        segment_size: p.spec.storage.as_ref().and_then(|s| s.segment_size),
        max_partition_size: p.spec.storage.as_ref().and_then(|s| s.max_partition_size),
        compression: p.spec.compression_type,
        min_in_sync: 1,
        is_being_deleted: p.status.is_being_deleted,
    })
}

fn full_update(stores: &Stores, epoch: i64, spu: SpuId) -> ControlUpdate {
    ControlUpdate {
        epoch,
        spus: SpuUpdates {
            is_full: true,
            spus: stores.spus.values().map(|s| s.spec.clone()).collect(),
            deleted: Vec::new(),
        },
        replicas: ReplicaUpdates {
            is_full: true,
            replicas: stores
                .partitions
                .values()
                .filter(|p| p.spec.replicas.contains(&spu))
                .filter_map(replica_of)
                .collect(),
            removed: Vec::new(),
        },
    }
}

/// The control stream of one SPU: everything now, then SPU and replica changes.
async fn control_stream(
    controller: Arc<Controller>,
    sink: ResponseSink,
    corr: i32,
    version: Version,
    spu: SpuId,
) {
    let store = controller.store();
    'subscribe: loop {
        let (mut spus_rx, mut parts_rx, first) = {
            let guard = store.lock().await;
            (
                store.feeds().spus.subscribe(),
                store.feeds().partitions.subscribe(),
                full_update(guard.stores(), guard.epoch(), spu),
            )
        };
        if sink.respond(corr, version, &first).await.is_err() {
            return;
        }
        loop {
            let mut update = ControlUpdate::default();
            tokio::select! {
                batch = spus_rx.recv() => match batch {
                    Ok(batch) => {
                        update.epoch = batch.epoch;
                        for event in &batch.events {
                            match event {
                                Event::Update(o) => update.spus.spus.push(o.spec.clone()),
                                Event::Delete(o) => update.spus.deleted.push(o.spec.id),
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue 'subscribe,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                batch = parts_rx.recv() => match batch {
                    Ok(batch) => {
                        update.epoch = batch.epoch;
                        let mut removed = BTreeSet::new();
                        for event in &batch.events {
                            match event {
                                Event::Update(p) if p.spec.replicas.contains(&spu) => {
                                    // Offset-only status changes do not concern the SPU.
                                    if let Some(r) = replica_of(p) {
                                        update.replicas.replicas.push(r);
                                    }
                                }
                                Event::Update(p) | Event::Delete(p) => {
                                    if let Some((t, i)) = split_partition_name(&p.name) {
                                        removed.insert(ReplicaKey::new(t, i));
                                    }
                                }
                            }
                        }
                        update.replicas.removed = removed.into_iter().collect();
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue 'subscribe,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sink.closed() => return,
            }
            let empty = update.spus.spus.is_empty()
                && update.spus.deleted.is_empty()
                && update.replicas.replicas.is_empty()
                && update.replicas.removed.is_empty();
            if !empty && sink.respond(corr, version, &update).await.is_err() {
                debug!(spu, "control stream ended");
                return;
            }
        }
    }
}
