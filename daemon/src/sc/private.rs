//! The SC private port: SPUs register, receive their replica assignments as a control
//! stream, report offsets, send heartbeats and take blocks of producer ids.
//!
//! An SPU is lost when its connection drops or it sends nothing for the heartbeat
//! timeout (a paused process keeps its connection open): the SC marks it offline, elects
//! new leaders for its partitions and closes the connection at its next request, so a
//! paused SPU that resumes registers again and learns the new leaders.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protocol::api::ErrorCode;
use protocol::internal::{
    AllocateProducerIdsResponse, ControlUpdate, HeartbeatResponse, RegisterSpuRequest,
    RegisterSpuResponse, Replica, ReplicaUpdates, ReportOffsetsRequest, ReportOffsetsResponse,
    ScPrivateRequest, SpuUpdates,
};
use protocol::sc::{CleanupPolicy, SpuId, SpuResolution, SpuStatus, SpuType};
use protocol::spu::ReplicaKey;
use protocol::{DecodeError, Reader, Version};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::auth::{self, PresentedToken, Rejection, SecretHash};
use super::controllers::partition::{self, LeaderReport};
use super::store::{Event, Mutation, PartitionObj, ReplicationState, Stores, split_partition_name};
use super::{Controller, ReplicationPolicy};
use crate::authz::{Action, Authorizer, Identity, ObjectKind};
use crate::net::{Peer, Request, RequestError, ResponseSink, Service};
use crate::sync::{lock, run_blocking};

/// The token name the daemon's own (managed) SPUs present, with the per-process secret.
pub const MANAGED_TOKEN_NAME: &str = "fluvio-daemon-managed";

/// How the SC admits SPUs.
#[derive(Debug, Clone, Default)]
pub struct AdmissionPolicy {
    /// Admit registered custom SPUs without a token.
    pub allow_unauthenticated: bool,
    /// The secret this process gave its managed SPUs; `None` when it runs none.
    pub managed_secret: Option<String>,
    /// The authorization policy: a custom SPU whose client certificate's identity may
    /// `register` as its SPU id joins without an auth token.
    pub authz: Authorizer,
}

/// What an SPU proved before the admission decision (which is pure, so the slow secret
/// hash is checked beforehand, off the runtime's threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The presented token secret matches the stored hash of the presented token name.
    pub secret_matches: bool,
    /// The connection's client certificate names a principal the policy lets register
    /// as this SPU id.
    pub certificate_allows: bool,
}

pub struct PrivateService {
    controller: Arc<Controller>,
    policy: AdmissionPolicy,
    replication: ReplicationPolicy,
    producer_ids: super::producer_ids::ProducerIdAllocator,
    /// The SC's public address, told to every SPU at registration: their Kafka
    /// listeners forward admin requests there.
    public_addr: Option<String>,
}

impl PrivateService {
    pub fn new(
        controller: Arc<Controller>,
        policy: AdmissionPolicy,
        replication: ReplicationPolicy,
    ) -> Self {
        let producer_ids =
            super::producer_ids::ProducerIdAllocator::new(controller.store().backend().clone());
        Self {
            controller,
            policy,
            replication,
            producer_ids,
            public_addr: None,
        }
    }

    /// Tell registering SPUs where the SC's public port is.
    pub fn with_public_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.public_addr = Some(addr.to_string());
        self
    }
}

pub struct Session {
    peer: SocketAddr,
    /// Who the connection's client certificate says it is, if it presented one.
    certified: Option<Identity>,
    sink: ResponseSink,
    /// The SPU this connection registered as: id and store name.
    spu: Option<(SpuId, String)>,
    control: Option<JoinHandle<()>>,
    /// When the SPU last sent anything.
    last_seen: Arc<Mutex<Instant>>,
    /// Set by the watchdog when the heartbeat timeout passed: the SPU is already offline.
    expired: Arc<AtomicBool>,
    watchdog: Option<JoinHandle<()>>,
}

/// Decide whether an SPU may join. Pure: the stores, the request, the policy.
pub fn admit(
    stores: &Stores,
    request: &RegisterSpuRequest,
    policy: &AdmissionPolicy,
    credentials: Credentials,
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
        SpuType::Custom if policy.allow_unauthenticated || credentials.certificate_allows => {}
        SpuType::Custom => {
            let presented = request.token_name.as_deref().map(|name| PresentedToken {
                name,
                secret_matches: credentials.secret_matches,
                stored: stores.tokens.get(name).map(|t| &t.spec),
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

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            peer: peer.addr,
            certified: peer
                .certificate
                .as_ref()
                .map(|_| self.policy.authz.identify(peer)),
            sink,
            spu: None,
            control: None,
            last_seen: Arc::new(Mutex::new(Instant::now())),
            expired: Arc::default(),
            watchdog: None,
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        let corr = header.correlation_id;
        let version = header.api_version;
        if session.expired.load(Ordering::Acquire) {
            return Err(RequestError::Refused(format!(
                "SPU {} missed its heartbeats and was taken offline; it must register again",
                session.spu.as_ref().map_or(-1, |(id, _)| *id)
            )));
        }
        if session.spu.is_some() && !self.controller.is_leader() {
            // Closing the connection sends the SPU to the SC that leads now.
            return Err(RequestError::Refused(
                "this SC no longer leads; register with the leading SC".to_string(),
            ));
        }
        *lock(&session.last_seen) = Instant::now();
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
                    self.replication,
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
            ScPrivateRequest::AllocateProducerIds(request) => {
                let id = registered(session, request.spu_id)?;
                let response = match self.producer_ids.allocate(request.count).await {
                    Ok((first_id, count)) => {
                        debug!(spu = id, first_id, count, "producer ids granted");
                        AllocateProducerIdsResponse {
                            error_code: ErrorCode::None,
                            first_id,
                            count,
                        }
                    }
                    Err(err) => {
                        warn!(spu = id, %err, "cannot grant producer ids");
                        AllocateProducerIdsResponse {
                            error_code: ErrorCode::StorageError,
                            first_id: -1,
                            count: 0,
                        }
                    }
                };
                session.sink.respond(corr, version, &response).await
            }
        }
    }

    async fn close(&self, session: Session) {
        if let Some(control) = session.control {
            control.abort();
        }
        if let Some(watchdog) = session.watchdog {
            watchdog.abort();
        }
        let Some((id, name)) = session.spu else {
            return;
        };
        if session.expired.load(Ordering::Acquire) {
            // Already offline; it may have registered again on another connection.
            return;
        }
        if !self.controller.is_leader() {
            // The SC that leads now decides about this SPU.
            return;
        }
        info!(spu = id, peer = %session.peer, "SPU disconnected; now offline");
        take_offline(
            &self.controller,
            id,
            &name,
            self.replication.unclean_election,
        )
        .await;
    }
}

/// Record SPU `id` as offline and move leadership of its partitions.
pub(crate) async fn take_offline(controller: &Controller, id: SpuId, name: &str, unclean: bool) {
    let started = Instant::now();
    let result = controller
        .store()
        .update(|stores| {
            let mut mutations = vec![Mutation::SetSpuStatus(
                name.to_string(),
                SpuStatus {
                    resolution: SpuResolution::Offline,
                },
            )];
            let moves = partition::on_spu_offline(stores, id, unclean);
            let changed = leaders_changed(stores, &moves);
            // Said once the change is stored: a fenced SC decides, but elects nobody.
            let elected: Vec<(String, i32)> = moves
                .iter()
                .filter_map(|m| match m {
                    Mutation::PutPartition(p) => Some((p.name.clone(), p.spec.leader)),
                    _ => None,
                })
                .collect();
            mutations.extend(moves);
            Ok::<_, std::convert::Infallible>((mutations, (changed, elected)))
        })
        .await;
    crate::metrics::reconciled("spu_offline", started);
    match result {
        Ok((changed, elected)) => {
            crate::metrics::leaders_elected(changed);
            for (name, leader) in elected {
                let (topic, partition) = split_partition_name(&name).unzip();
                info!(spu = id, topic, partition, leader, "new leader elected");
            }
        }
        Err(err) => {
            warn!(spu = id, %err, "could not record the SPU as offline");
        }
    }
}

/// How many of `moves` give a partition another leader than `stores` has now.
fn leaders_changed(stores: &Stores, moves: &[Mutation]) -> u64 {
    moves
        .iter()
        .filter(|m| match m {
            Mutation::PutPartition(p) => stores
                .partitions
                .get(&p.name)
                .is_none_or(|old| old.spec.leader != p.spec.leader),
            _ => false,
        })
        .count() as u64
}

/// Take the SPU offline once it has been silent for `timeout`.
async fn watchdog(
    controller: Arc<Controller>,
    id: SpuId,
    name: String,
    last_seen: Arc<Mutex<Instant>>,
    expired: Arc<AtomicBool>,
    policy: ReplicationPolicy,
) {
    let timeout = policy.heartbeat_timeout;
    loop {
        let seen = *lock(&last_seen);
        let deadline = seen + timeout;
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
    warn!(
        spu = id,
        timeout_ms = timeout.as_millis() as u64,
        "SPU missed its heartbeats; now offline"
    );
    expired.store(true, Ordering::Release);
    take_offline(&controller, id, &name, policy.unclean_election).await;
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
    /// Check what the SPU presented: its certificate against the policy, its token
    /// secret against the stored hash. An unknown token name costs the same hash as a
    /// known one, so the time taken does not tell them apart either.
    async fn credentials(&self, session: &Session, request: &RegisterSpuRequest) -> Credentials {
        let id = request.spu_id;
        let certificate_allows = match &session.certified {
            Some(who) if self.policy.authz.enforcing() => self
                .policy
                .authz
                .check(
                    who,
                    Action::Register,
                    ObjectKind::Spu,
                    Some(&id.to_string()),
                )
                .is_ok(),
            _ => false,
        };
        let Some(name) = request.token_name.clone() else {
            return Credentials {
                secret_matches: false,
                certificate_allows,
            };
        };
        // Managed SPUs prove themselves with the process's secret, not a stored token.
        if certificate_allows || request.spu_type == SpuType::Managed && name == MANAGED_TOKEN_NAME
        {
            return Credentials {
                secret_matches: false,
                certificate_allows,
            };
        }
        let stored = self
            .controller
            .store()
            .read(|stores| stores.tokens.get(&name).map(|t| t.secret.clone()))
            .await;
        let secret = request.token_secret.clone().unwrap_or_default();
        let secret_matches = run_blocking(move || match stored {
            Some(hash) => hash.verify(&secret),
            None => SecretHash::verify_dummy(&secret),
        })
        .await
        .unwrap_or(false);
        Credentials {
            secret_matches,
            certificate_allows,
        }
    }

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
        let leadership = self.controller.leadership();
        if !leadership.is_leader() {
            let leader = leadership.leader_private_addr().map(str::to_string);
            let message = match &leader {
                Some(addr) => format!("this SC does not lead; register with the leader at {addr}"),
                None => {
                    "this SC does not lead and no leader is elected yet; retry shortly".to_string()
                }
            };
            debug!(spu = id, peer = %session.peer, "SPU sent to the leading SC");
            let response = RegisterSpuResponse {
                error_code: ErrorCode::SpuRegisterationFailed,
                message: Some(message),
                sc_public_addr: None,
                leader_sc: leader,
            };
            return session.sink.respond(corr, version, &response).await;
        }
        let started = Instant::now();
        let policy = self.policy.clone();
        let replication = self.replication;
        let credentials = self.credentials(session, &request).await;
        let outcome = self
            .controller
            .store()
            .update(|stores| {
                let name = admit(stores, &request, &policy, credentials)?;
                let status = SpuStatus {
                    resolution: SpuResolution::Online,
                };
                let mut mutations = Vec::new();
                // The Kafka address comes from the SPU itself (what it bound), so every
                // SPU learns it through the directory and can name all brokers.
                if let Some(spu) = stores.spu_by_id(id)
                    && spu.spec.kafka_endpoint != request.kafka_endpoint
                {
                    let mut spu = spu.clone();
                    spu.spec.kafka_endpoint = request.kafka_endpoint.clone();
                    mutations.push(Mutation::PutSpu(spu));
                }
                mutations.push(Mutation::SetSpuStatus(name.clone(), status));
                let moves = partition::on_spu_online(stores, id, replication.unclean_election);
                crate::metrics::leaders_elected(leaders_changed(stores, &moves));
                mutations.extend(moves);
                Ok::<_, Rejection>((mutations, name))
            })
            .await;
        let response = match outcome {
            Ok(name) => {
                crate::metrics::reconciled("spu_online", started);
                info!(spu = id, peer = %session.peer, "SPU registered; now online");
                *lock(&session.last_seen) = Instant::now();
                session.watchdog = Some(tokio::spawn(watchdog(
                    self.controller.clone(),
                    id,
                    name.clone(),
                    session.last_seen.clone(),
                    session.expired.clone(),
                    self.replication,
                )));
                session.spu = Some((id, name));
                RegisterSpuResponse {
                    error_code: ErrorCode::None,
                    message: None,
                    sc_public_addr: self.public_addr.clone(),
                    leader_sc: None,
                }
            }
            Err(err) => {
                let message = err.to_string();
                warn!(spu = id, peer = %session.peer, %message, "SPU registration refused");
                RegisterSpuResponse {
                    error_code: ErrorCode::SpuRegisterationFailed,
                    message: Some(message),
                    sc_public_addr: None,
                    leader_sc: None,
                }
            }
        };
        session.sink.respond(corr, version, &response).await
    }

    async fn report(&self, request: ReportOffsetsRequest) -> ErrorCode {
        let spu = request.spu_id;
        let started = Instant::now();
        let result = self
            .controller
            .store()
            .update(|stores| {
                let mutations = request
                    .reports
                    .iter()
                    .flat_map(|r| {
                        let name = protocol::sc::partition_name(&r.key.topic, r.key.partition);
                        let report = LeaderReport {
                            leader: spu,
                            leader_epoch: r.leader_epoch,
                            hw: r.hw,
                            leo: r.leo,
                            log_start: r.log_start,
                            size: r.size,
                            followers: r.followers.clone(),
                            in_sync: r.in_sync.clone(),
                        };
                        partition::apply_report(stores, &name, &report)
                    })
                    .collect();
                Ok::<_, std::convert::Infallible>((mutations, ()))
            })
            .await;
        crate::metrics::reconciled("partition_status", started);
        match result {
            Ok(()) => ErrorCode::None,
            Err(err) => {
                warn!(spu, %err, "offset report not recorded");
                ErrorCode::Other(err.to_string())
            }
        }
    }
}

/// The replica an SPU hosts for a partition, with the topic settings it enforces and the
/// partition's replication state.
pub fn replica_of(p: &PartitionObj, repl: &ReplicationState, min_in_sync: u32) -> Option<Replica> {
    let (topic, index) = split_partition_name(&p.name)?;
    Some(Replica {
        key: ReplicaKey::new(topic, index),
        leader: p.spec.leader,
        replicas: p.spec.replicas.clone(),
        leader_epoch: repl.leader_epoch,
        in_sync: repl.in_sync.clone(),
        retention_secs: p
            .spec
            .cleanup_policy
            .map(|CleanupPolicy::Segment { time_in_seconds }| time_in_seconds),
        segment_size: p.spec.storage.as_ref().and_then(|s| s.segment_size),
        max_partition_size: p.spec.storage.as_ref().and_then(|s| s.max_partition_size),
        compression: p.spec.compression_type,
        min_in_sync,
        is_being_deleted: p.status.is_being_deleted,
    })
}

fn replica_for(stores: &Stores, p: &PartitionObj, policy: &ReplicationPolicy) -> Option<Replica> {
    let repl = stores.replication_of(p);
    replica_of(p, &repl, policy.min_in_sync_for(p.spec.replicas.len()))
}

fn full_update(
    stores: &Stores,
    epoch: i64,
    spu: SpuId,
    policy: &ReplicationPolicy,
) -> ControlUpdate {
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
                .filter_map(|p| replica_for(stores, p, policy))
                .collect(),
            removed: Vec::new(),
        },
        offsets_leader: stores
            .partitions
            .get(&offsets_partition_name())
            .map(|p| p.spec.leader),
    }
}

/// `consumer-offset-0`, whose leader every SPU is told.
fn offsets_partition_name() -> String {
    format!(
        "{}-{}",
        protocol::spu::CONSUMER_OFFSET_TOPIC,
        protocol::spu::CONSUMER_OFFSET_PARTITION
    )
}

/// The control stream of one SPU: everything now, then SPU and replica changes.
async fn control_stream(
    controller: Arc<Controller>,
    sink: ResponseSink,
    corr: i32,
    version: Version,
    spu: SpuId,
    policy: ReplicationPolicy,
) {
    let store = controller.store();
    'subscribe: loop {
        let (mut spus_rx, mut parts_rx, first) = {
            let guard = store.lock().await;
            (
                store.feeds().spus.subscribe(),
                store.feeds().partitions.subscribe(),
                full_update(guard.stores(), guard.epoch(), spu, &policy),
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
                    // Offsets only: nothing of the replicas an SPU follows changed.
                    Ok(batch) if batch.offsets_only => continue,
                    Ok(batch) => {
                        update.epoch = batch.epoch;
                        let mut removed = BTreeSet::new();
                        // The replication state now (at least as new as the batch's).
                        let stores = store.read(|s| s.replication.clone()).await;
                        for event in &batch.events {
                            if let Event::Update(p) = event
                                && p.name == offsets_partition_name()
                            {
                                update.offsets_leader = Some(p.spec.leader);
                            }
                            match event {
                                Event::Update(p) if p.spec.replicas.contains(&spu) => {
                                    let repl = stores.get(&p.name).cloned().unwrap_or_else(|| ReplicationState {
                                        leader_epoch: 0,
                                        in_sync: p.spec.replicas.clone(),
                                    });
                                    let min = policy.min_in_sync_for(p.spec.replicas.len());
                                    if let Some(r) = replica_of(p, &repl, min) {
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
                && update.replicas.removed.is_empty()
                && update.offsets_leader.is_none();
            if !empty && sink.respond(corr, version, &update).await.is_err() {
                debug!(spu, "control stream ended");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::Policy;
    use crate::authz::policy::Format;
    use protocol::sc::{AuthTokenSpec, Metadata, SpuSpec, TokenType};

    fn stores() -> Stores {
        let mut stores = Stores::default();
        let spec = SpuSpec {
            id: 5002,
            spu_type: SpuType::Custom,
            ..Default::default()
        };
        stores.spus.insert(
            "custom-5002".into(),
            Metadata::new(
                "custom-5002",
                spec,
                SpuStatus {
                    resolution: SpuResolution::Offline,
                },
            ),
        );
        stores.tokens.insert(
            "edge".into(),
            super::super::store::TokenObj {
                name: "edge".into(),
                spec: AuthTokenSpec {
                    token_type: TokenType::Custom,
                    min_spu: 5000,
                    max_spu: 5010,
                },
                status: Default::default(),
                secret: SecretHash::Plain("abcdefgh12345678".into()),
            },
        );
        stores
    }

    fn request(token: Option<&str>) -> RegisterSpuRequest {
        RegisterSpuRequest {
            spu_id: 5002,
            spu_type: SpuType::Custom,
            token_name: token.map(str::to_string),
            token_secret: token.map(|_| "whatever00000000".to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn a_certificate_the_policy_lets_register_replaces_the_token() {
        let policy = Policy::parse(
            "[principals.spu-5002]\nspus = { \"5002\" = [\"register\"] }",
            Format::Toml,
        )
        .unwrap();
        let admission = AdmissionPolicy {
            authz: Authorizer::with_policy(policy),
            ..Default::default()
        };
        let stores = stores();
        let certified = Credentials {
            secret_matches: false,
            certificate_allows: true,
        };
        assert_eq!(
            admit(&stores, &request(None), &admission, certified),
            Ok("custom-5002".to_string())
        );
        // Without the certificate's grant, a token is needed as before.
        assert_eq!(
            admit(&stores, &request(None), &admission, Credentials::default()),
            Err(Rejection::NoToken { id: 5002 })
        );
        // A wrong secret and an unknown name: one refusal.
        let wrong = admit(
            &stores,
            &request(Some("edge")),
            &admission,
            Credentials::default(),
        );
        let unknown = admit(
            &stores,
            &request(Some("nope")),
            &admission,
            Credentials::default(),
        );
        assert!(matches!(wrong, Err(Rejection::BadToken { .. })));
        assert_eq!(
            wrong.unwrap_err().to_string().replace("edge", "nope"),
            unknown.unwrap_err().to_string()
        );
        let good = Credentials {
            secret_matches: true,
            certificate_allows: false,
        };
        assert!(admit(&stores, &request(Some("edge")), &admission, good).is_ok());
    }
}
