//! The SC's actions on its stores: each request that changes metadata becomes a decision
//! by a controller (a pure function) applied through the metadata store, and a
//! reconcile loop re-plans topics waiting for SPUs whenever the SPU set changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use protocol::api::ErrorCode;
use protocol::sc::{
    AuthTokenCreate, AuthTokenResolution, AuthTokenStatus, CustomSpuKey, CustomSpuSpec, Metadata,
    SpuId, SpuResolution, SpuSpec, SpuStatus, SpuType, TopicSpec,
};
use tokio::sync::{broadcast, watch};
use tracing::{error, info};

use super::auth::{self, SecretHash};
use super::controllers::{system_topic, topic};
use super::store::{MetadataStore, Mutation, Stores, TokenObj, UpdateError};
use super::table_fmt;

/// A refusal as the client sees it: the code and a message naming what is wrong.
pub type Refusal = (ErrorCode, String);

pub struct Controller {
    store: Arc<MetadataStore>,
    /// Where the next topic's replica assignment starts, so leaders spread over SPUs.
    next_start: AtomicUsize,
}

fn refuse<E: std::fmt::Display>(
    code: impl FnOnce(&E) -> ErrorCode,
) -> impl FnOnce(UpdateError<E>) -> Refusal {
    move |err| match err {
        UpdateError::Rejected(e) => (code(&e), e.to_string()),
        UpdateError::Store(e) => {
            error!(%e, "metadata store write failed");
            (
                ErrorCode::Other(format!("metadata store: {e}")),
                format!("metadata store: {e}"),
            )
        }
    }
}

impl Controller {
    pub async fn new(store: Arc<MetadataStore>) -> Arc<Self> {
        let topics = store.read(|s| s.topics.len()).await;
        Arc::new(Self {
            store,
            next_start: AtomicUsize::new(topics),
        })
    }

    pub fn store(&self) -> &Arc<MetadataStore> {
        &self.store
    }

    pub async fn table_fmt(&self) -> String {
        self.store.read(table_fmt::table_fmt).await
    }

    pub async fn create_topic(
        &self,
        name: &str,
        spec: TopicSpec,
        dry_run: bool,
    ) -> Result<(), Refusal> {
        if name == protocol::spu::CONSUMER_OFFSET_TOPIC {
            let message = format!(
                "the topic name '{name}' is reserved: the SC keeps the cluster's consumer offsets in it; choose another name"
            );
            return Err((ErrorCode::TopicInvalidName, message));
        }
        let start = self.next_start.fetch_add(1, Ordering::Relaxed);
        self.store
            .update(|stores| {
                let mutations = topic::create(stores, name, &spec, start)?;
                Ok::<_, topic::TopicRejection>((if dry_run { Vec::new() } else { mutations }, ()))
            })
            .await
            .map_err(refuse(|e: &topic::TopicRejection| e.error_code()))?;
        if !dry_run {
            info!(topic = name, "topic created");
        }
        Ok(())
    }

    /// Delete a topic; a system topic only with `force` (a client's `--force`, which
    /// our CLI never sends).
    pub async fn delete_topic(&self, name: &str, force: bool) -> Result<(), Refusal> {
        self.store
            .update(|stores| {
                if stores.topics.get(name).is_some_and(|t| t.spec.system) && !force {
                    let message = format!(
                        "topic '{name}' is a system topic (it holds the cluster's consumer offsets) and cannot be deleted; delete a consumer's offsets with: fluvio consumer delete NAME"
                    );
                    return Err((
                        ErrorCode::SystemSpecDeletion {
                            kind: "topic".to_string(),
                            name: name.to_string(),
                        },
                        message,
                    ));
                }
                topic::delete(stores, name)
                    .map(|m| (m, ()))
                    .ok_or_else(|| (ErrorCode::TopicNotFound, format!("topic '{name}' not found")))
            })
            .await
            .map_err(|e| match e {
                UpdateError::Rejected(refusal) => refusal,
                UpdateError::Store(e) => store_failure(e),
            })?;
        info!(topic = name, "topic deleted");
        Ok(())
    }

    /// Add `count` partitions to a topic; the SPUs open the new replicas as they learn of
    /// them, like a new topic's.
    pub async fn add_partitions(&self, name: &str, count: u32) -> Result<(), Refusal> {
        let start = self.next_start.fetch_add(1, Ordering::Relaxed);
        self.store
            .update(|stores| Ok((topic::add_partitions(stores, name, count, start)?, ())))
            .await
            .map_err(refuse(|e: &topic::TopicRejection| e.error_code()))?;
        info!(topic = name, count, "partitions added");
        Ok(())
    }

    /// Wait until each SPU of `ids` is online, up to `timeout`; the ids still not online.
    /// Topics are placed on online SPUs only, so the all-in-one daemon says it is ready
    /// once its own SPUs are: a topic created right after lands on them.
    pub async fn wait_online(&self, ids: &[SpuId], timeout: Duration) -> Vec<SpuId> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.store.feeds().spus.subscribe();
        loop {
            let missing: Vec<SpuId> = self
                .store
                .read(|stores| {
                    ids.iter()
                        .copied()
                        .filter(|&id| {
                            stores
                                .spu_by_id(id)
                                .is_none_or(|s| s.status.resolution != SpuResolution::Online)
                        })
                        .collect()
                })
                .await;
            if missing.is_empty() {
                return missing;
            }
            match tokio::time::timeout_at(deadline, changes.recv()).await {
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return missing,
            }
        }
    }

    /// Register an SPU that runs elsewhere; it is offline until it connects, and replicas
    /// are placed on it from then on.
    pub async fn register_custom_spu(
        &self,
        name: &str,
        spec: CustomSpuSpec,
    ) -> Result<(), Refusal> {
        self.store
            .update(|stores| {
                if spec.id < 0 {
                    return Err((
                        ErrorCode::SpuError,
                        format!("SPU id {} is negative", spec.id),
                    ));
                }
                if name.is_empty() {
                    return Err((ErrorCode::SpuError, "a custom SPU needs a name".to_string()));
                }
                if let Some(existing) = stores.spu_by_id(spec.id) {
                    return Err((
                        ErrorCode::SpuAlreadyExists,
                        format!(
                            "SPU id {} is already registered as '{}'",
                            spec.id, existing.name
                        ),
                    ));
                }
                if stores.spus.contains_key(name) {
                    return Err((
                        ErrorCode::SpuAlreadyExists,
                        format!("an SPU named '{name}' already exists"),
                    ));
                }
                let spu = Metadata::new(
                    name,
                    SpuSpec {
                        id: spec.id,
                        spu_type: SpuType::Custom,
                        public_endpoint: spec.public_endpoint.clone(),
                        private_endpoint: spec.private_endpoint.clone(),
                        rack: spec.rack.clone(),
                        public_endpoint_local: spec.public_endpoint_local.clone(),
                        kafka_endpoint: None,
                    },
                    SpuStatus {
                        resolution: SpuResolution::Offline,
                    },
                );
                Ok((vec![Mutation::PutSpu(spu)], ()))
            })
            .await
            .map_err(|e| match e {
                UpdateError::Rejected(refusal) => refusal,
                UpdateError::Store(e) => store_failure(e),
            })?;
        info!(spu = spec.id, name, "custom SPU registered");
        Ok(())
    }

    pub async fn unregister_custom_spu(&self, key: &CustomSpuKey) -> Result<(), Refusal> {
        let name = self
            .store
            .update(|stores| {
                let spu = match key {
                    CustomSpuKey::Name(name) => stores.spus.get(name),
                    CustomSpuKey::Id(id) => stores.spu_by_id(*id),
                };
                let Some(spu) = spu else {
                    return Err((
                        ErrorCode::SpuNotFound,
                        format!("custom SPU {} not found", key_text(key)),
                    ));
                };
                if spu.spec.spu_type != SpuType::Custom {
                    return Err((
                        ErrorCode::SpuError,
                        format!(
                            "SPU {} is managed by the daemon; only custom SPUs can be unregistered",
                            spu.spec.id
                        ),
                    ));
                }
                Ok((
                    vec![Mutation::DeleteSpu(spu.name.clone())],
                    spu.name.clone(),
                ))
            })
            .await
            .map_err(|e| match e {
                UpdateError::Rejected(refusal) => refusal,
                UpdateError::Store(e) => store_failure(e),
            })?;
        info!(spu = %name, "custom SPU unregistered");
        Ok(())
    }

    pub async fn create_token(&self, name: &str, create: AuthTokenCreate) -> Result<(), Refusal> {
        self.store
            .update(|stores| {
                let refuse = |msg: String| Err((ErrorCode::Other(msg.clone()), msg));
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return refuse(format!(
                        "invalid auth token name '{name}': use letters, digits, '-' and '_'"
                    ));
                }
                if stores.tokens.contains_key(name) {
                    return refuse(format!("auth token '{name}' already exists"));
                }
                if !auth::is_valid_secret(&create.secret) {
                    return refuse(
                        "the token secret must be 16 characters from [a-z0-9]".to_string(),
                    );
                }
                if create.spec.min_spu > create.spec.max_spu {
                    return refuse(format!(
                        "SPU id range {}..={} is empty",
                        create.spec.min_spu, create.spec.max_spu
                    ));
                }
                let token = TokenObj {
                    name: name.to_string(),
                    spec: create.spec.clone(),
                    status: AuthTokenStatus {
                        resolution: AuthTokenResolution::Ok,
                        reason: String::new(),
                    },
                    secret: SecretHash::new(&create.secret),
                };
                Ok((vec![Mutation::PutToken(token)], ()))
            })
            .await
            .map_err(|e| match e {
                UpdateError::Rejected(refusal) => refusal,
                UpdateError::Store(e) => store_failure(e),
            })?;
        info!(token = name, "auth token created");
        Ok(())
    }

    pub async fn delete_token(&self, name: &str) -> Result<(), Refusal> {
        self.store
            .update(|stores| {
                if !stores.tokens.contains_key(name) {
                    let msg = format!("auth token '{name}' not found");
                    return Err((ErrorCode::Other(msg.clone()), msg));
                }
                Ok((vec![Mutation::DeleteToken(name.to_string())], ()))
            })
            .await
            .map_err(|e| match e {
                UpdateError::Rejected(refusal) => refusal,
                UpdateError::Store(e) => store_failure(e),
            })?;
        info!(token = name, "auth token deleted");
        Ok(())
    }

    /// Re-plan topics that wait for SPUs (insufficient resources, invalid assignment).
    pub async fn reconcile_topics(&self) {
        let started = std::time::Instant::now();
        let start = self.next_start.load(Ordering::Relaxed);
        let result = self
            .store
            .update(|stores: &Stores| {
                Ok::<_, std::convert::Infallible>((topic::reconcile_waiting(stores, start), ()))
            })
            .await;
        if let Err(UpdateError::Store(e)) = result {
            error!(%e, "could not provision waiting topics");
        }
        crate::metrics::reconciled("topic", started);
    }

    /// Create the system topic `consumer-offset` if [`system_topic::decide`] says so now;
    /// whether it still waits for the SPU set to settle.
    pub async fn ensure_offsets_topic(&self, managed: &[SpuId], settled: bool) -> bool {
        let result = self
            .store
            .update(
                |stores| match system_topic::decide(stores, managed, settled) {
                    system_topic::Decision::Create(rf) => {
                        system_topic::create(stores, rf).map(|m| (m, Some(rf)))
                    }
                    system_topic::Decision::AfterSettling => Ok((Vec::new(), None)),
                    system_topic::Decision::Exists | system_topic::Decision::NoSpus => {
                        Ok((Vec::new(), None))
                    }
                },
            )
            .await;
        match result {
            Ok(Some(rf)) => {
                info!(
                    topic = protocol::spu::CONSUMER_OFFSET_TOPIC,
                    replication_factor = rf,
                    "system topic created"
                );
                false
            }
            Ok(None) => {
                self.store
                    .read(|stores| {
                        system_topic::decide(stores, managed, false)
                            == system_topic::Decision::AfterSettling
                    })
                    .await
            }
            Err(UpdateError::Rejected(e)) => {
                error!(%e, "cannot create the consumer-offset topic");
                false
            }
            Err(UpdateError::Store(e)) => {
                error!(%e, "cannot create the consumer-offset topic");
                false
            }
        }
    }

    /// Until shutdown: whenever the SPU set changes, re-plan waiting topics and see to
    /// the system topic (`managed`: the SPUs this process runs itself).
    pub async fn run_reconciler(
        self: Arc<Self>,
        managed: Vec<SpuId>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut spus = self.store.feeds().spus.subscribe();
        self.reconcile_topics().await;
        let mut settling = self.ensure_offsets_topic(&managed, false).await;
        loop {
            let settle = async {
                if settling {
                    tokio::time::sleep(system_topic::SETTLE).await
                } else {
                    std::future::pending::<()>().await
                }
            };
            tokio::select! {
                event = spus.recv() => match event {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.reconcile_topics().await;
                        settling = self.ensure_offsets_topic(&managed, false).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = settle => {
                    settling = self.ensure_offsets_topic(&managed, true).await;
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}

fn key_text(key: &CustomSpuKey) -> String {
    match key {
        CustomSpuKey::Name(name) => format!("'{name}'"),
        CustomSpuKey::Id(id) => id.to_string(),
    }
}

fn store_failure(e: super::store::StoreError) -> Refusal {
    error!(%e, "metadata store write failed");
    let msg = format!("metadata store: {e}");
    (ErrorCode::Other(msg.clone()), msg)
}
