//! The SC's metadata stores: auth tokens, SPUs, topics and partitions in memory, written
//! through to a [`MetadataBackend`] before any change is acknowledged, with a change feed
//! per kind for watchers.
//!
//! Every write goes through [`MetadataStore::update`], which holds one lock while it
//! decides, persists and publishes, so the change feed is in commit order and a decision
//! never rests on a state another writer is changing.
//!
//! A partition status whose only change is offsets (the leader reports its high
//! watermark, log end and size every 200 ms while records arrive) is applied at once but
//! published to watchers at most every [`OFFSETS_EVERY`], one batch for every partition
//! that moved: each such batch is encoded for every watching connection, so at 1000
//! connections publishing every report was the SC's dominant cost, and clients use a
//! partition's leader and replicas, not its offsets of a moment ago.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use protocol::sc::{
    AuthTokenSpec, AuthTokenStatus, Metadata, PartitionSpec, PartitionStateSpec,
    PartitionStateStatus, PartitionStatus, SpuResolution, SpuSpec, SpuStatus, TopicSpec,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::{Mutex, MutexGuard, broadcast, watch};
use tracing::warn;

use super::auth::SecretHash;
use crate::kv::{Kind, KvError, KvOp, MetadataBackend, RemoteChange, RemoteMsg};
use crate::sync::run_blocking;

/// Change events buffered per kind before a slow watcher lags (and gets a full snapshot).
const FEED_CAPACITY: usize = 1024;
/// How often partition statuses whose only change is offsets are published to watchers.
pub const OFFSETS_EVERY: Duration = Duration::from_secs(2);

/// One object as the SC holds it and clients see it: key, spec, status.
pub type TopicObj = Metadata<TopicSpec>;
pub type PartitionObj = Metadata<PartitionSpec>;
pub type SpuObj = Metadata<SpuSpec>;
/// A partition's replication state as our own clients see it (not persisted as such: it
/// is built from the partition and its [`ReplicationState`]).
pub type PartitionStateObj = Metadata<PartitionStateSpec>;

/// An auth token: its listed spec and status, and the salted hash of its secret. The
/// secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenObj {
    pub name: String,
    pub spec: AuthTokenSpec,
    pub status: AuthTokenStatus,
    pub secret: SecretHash,
}

/// A partition's replication state the SC owns and persists, next to the partition:
/// its leader epoch (bumped on every leader change) and the in-sync set the SC confirmed
/// (what elections choose from). A partition without one is at epoch 0 with every
/// replica in sync (a new partition's logs are all empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationState {
    pub leader_epoch: i32,
    pub in_sync: Vec<i32>,
}

/// The four stores, plus the partitions' replication state.
#[derive(Debug, Default, Clone)]
pub struct Stores {
    pub tokens: BTreeMap<String, TokenObj>,
    pub spus: BTreeMap<String, SpuObj>,
    pub topics: BTreeMap<String, TopicObj>,
    pub partitions: BTreeMap<String, PartitionObj>,
    pub replication: BTreeMap<String, ReplicationState>,
}

impl Stores {
    /// A partition's replication state (the default for one the SC never changed).
    pub fn replication_of(&self, p: &PartitionObj) -> ReplicationState {
        self.replication
            .get(&p.name)
            .cloned()
            .unwrap_or_else(|| ReplicationState {
                leader_epoch: 0,
                in_sync: p.spec.replicas.clone(),
            })
    }

    /// What our clients are shown of a partition's replication state.
    pub fn partition_state(&self, p: &PartitionObj) -> PartitionStateObj {
        let repl = self.replication_of(p);
        Metadata::new(
            p.name.clone(),
            PartitionStateSpec {
                leader: p.spec.leader,
                leader_epoch: repl.leader_epoch,
                in_sync: repl.in_sync,
            },
            PartitionStateStatus::default(),
        )
    }

    pub fn spu_by_id(&self, id: i32) -> Option<&SpuObj> {
        self.spus.values().find(|spu| spu.spec.id == id)
    }

    pub fn partitions_of<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a PartitionObj> {
        self.partitions
            .values()
            .filter(move |p| split_partition_name(&p.name).is_some_and(|(t, _)| t == topic))
    }
}

/// `"<topic>-<n>"` split at the last `-`, as clients parse it, and its inverse.
pub use protocol::sc::{parse_partition_name as split_partition_name, partition_name};

/// A change to the stores. `Put*` and `Delete*` are persisted; `Set*Status` changes only
/// runtime state (SPU liveness, replica offsets), which is rebuilt after a restart.
#[derive(Debug, Clone)]
pub enum Mutation {
    PutTopic(TopicObj),
    DeleteTopic(String),
    PutPartition(PartitionObj),
    DeletePartition(String),
    PutSpu(SpuObj),
    DeleteSpu(String),
    PutToken(TokenObj),
    DeleteToken(String),
    SetSpuStatus(String, SpuStatus),
    SetPartitionStatus(String, PartitionStatus),
    /// Persisted; watchers of partitions (and the SPUs hosting it) see the partition
    /// updated, watchers of partition states the new state.
    PutReplication(String, ReplicationState),
}

/// What watchers of one kind are told.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<O> {
    Update(O),
    /// The object as it was just before it went away (clients need a complete object).
    Delete(O),
}

/// A batch of events from one commit.
#[derive(Debug, Clone)]
pub struct Batch<O> {
    pub epoch: i64,
    pub events: Vec<Event<O>>,
    /// Only offsets moved (high watermark, log end, size, log start): the coalesced
    /// batch of [`OFFSETS_EVERY`]. Watchers of replica assignments may skip it.
    pub offsets_only: bool,
}

/// The change feeds, one per kind.
#[derive(Debug)]
pub struct Feeds {
    pub topics: broadcast::Sender<Arc<Batch<TopicObj>>>,
    pub partitions: broadcast::Sender<Arc<Batch<PartitionObj>>>,
    pub spus: broadcast::Sender<Arc<Batch<SpuObj>>>,
    pub tokens: broadcast::Sender<Arc<Batch<TokenObj>>>,
    /// Changes of a partition's leader, epoch or in-sync set, and partitions gone.
    pub partition_states: broadcast::Sender<Arc<Batch<PartitionStateObj>>>,
}

impl Default for Feeds {
    fn default() -> Self {
        Self {
            topics: broadcast::channel(FEED_CAPACITY).0,
            partitions: broadcast::channel(FEED_CAPACITY).0,
            spus: broadcast::channel(FEED_CAPACITY).0,
            tokens: broadcast::channel(FEED_CAPACITY).0,
            partition_states: broadcast::channel(FEED_CAPACITY).0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("metadata store holds an unreadable {kind} entry '{key}': {reason}")]
    Corrupt {
        kind: Kind,
        key: String,
        reason: String,
    },
    #[error("cannot encode {kind} '{key}' for the metadata store: {reason}")]
    Encode {
        kind: Kind,
        key: String,
        reason: String,
    },
}

/// Why an [`MetadataStore::update`] did not commit: the decision refused, or the store
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("{0}")]
    Rejected(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Inner {
    stores: Stores,
    epoch: i64,
    /// Partitions whose offsets moved since watchers last got them.
    offsets_moved: BTreeSet<String>,
}

pub struct MetadataStore {
    inner: Mutex<Inner>,
    backend: Arc<dyn MetadataBackend>,
    feeds: Feeds,
    /// Bumped after each batch of changes from other SCs is applied.
    remote_seen: watch::Sender<u64>,
}

/// How often a write refused for a concurrent change is decided again.
const CONFLICT_RETRIES: u32 = 5;

/// Wait until this SC has applied more changes from other SCs, or a moment passed.
async fn wait_for_remote(mut seen: watch::Receiver<u64>) {
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), seen.changed()).await;
}

/// The mutation a change from another SC stands for.
fn remote_mutation(change: &RemoteChange) -> Result<Option<Mutation>, StoreError> {
    // Counters (producer ids) are read from the backend when used, never cached here.
    if matches!(change.kind, Kind::Counter) {
        return Ok(None);
    }
    let key = change.key.clone();
    let Some(value) = &change.value else {
        return Ok(match change.kind {
            Kind::Topic => Some(Mutation::DeleteTopic(key)),
            Kind::Partition => Some(Mutation::DeletePartition(key)),
            Kind::Spu => Some(Mutation::DeleteSpu(key)),
            Kind::AuthToken => Some(Mutation::DeleteToken(key)),
            // Goes away with its partition.
            Kind::Replication => None,
            Kind::Counter => None,
        });
    };
    Ok(Some(match change.kind {
        Kind::Topic => Mutation::PutTopic(decode(change.kind, &key, value)?),
        Kind::Partition => Mutation::PutPartition(decode(change.kind, &key, value)?),
        Kind::Spu => Mutation::PutSpu(decode(change.kind, &key, value)?),
        Kind::AuthToken => Mutation::PutToken(decode(change.kind, &key, value)?),
        Kind::Replication => {
            Mutation::PutReplication(key.clone(), decode(change.kind, &key, value)?)
        }
        Kind::Counter => return Ok(None),
    }))
}

fn decode<T: DeserializeOwned>(kind: Kind, key: &str, value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        kind,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn put<T: Serialize>(kind: Kind, key: &str, value: &T) -> Result<KvOp, StoreError> {
    let value = serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        kind,
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    Ok(KvOp::Put {
        kind,
        key: key.to_string(),
        value,
    })
}

fn delete(kind: Kind, key: &str) -> KvOp {
    KvOp::Delete {
        kind,
        key: key.to_string(),
    }
}

impl MetadataStore {
    /// Load every object from `backend`. Runtime state starts over: SPUs are offline
    /// until they connect, partitions until their leader reports.
    ///
    /// On a shared backend the stores then follow every change other SCs commit, and
    /// statuses are kept as the leader last wrote them.
    pub async fn open(backend: Arc<dyn MetadataBackend>) -> Result<Arc<Self>, StoreError> {
        Self::open_with(backend, OFFSETS_EVERY).await
    }

    /// [`MetadataStore::open`], publishing offset-only partition changes every
    /// `offsets_every`.
    pub async fn open_with(
        backend: Arc<dyn MetadataBackend>,
        offsets_every: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let loader = backend.clone();
        let stores = run_blocking(move || load(&*loader))
            .await
            .map_err(|e| KvError::Task(e.to_string()))??;
        let store = Arc::new(Self {
            inner: Mutex::new(Inner {
                stores,
                epoch: 1,
                offsets_moved: BTreeSet::new(),
            }),
            backend,
            feeds: Feeds::default(),
            remote_seen: watch::channel(0).0,
        });
        store.follow();
        publish_offsets_every(Arc::downgrade(&store), offsets_every);
        Ok(store)
    }

    pub fn backend(&self) -> &Arc<dyn MetadataBackend> {
        &self.backend
    }

    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    /// Read the stores under the lock.
    pub async fn read<R>(&self, f: impl FnOnce(&Stores) -> R) -> R {
        f(&self.inner.lock().await.stores)
    }

    /// Read the stores and the current epoch; while the guard is alive nothing changes.
    /// Watchers subscribe to a feed while holding it, so they miss nothing.
    pub async fn lock(&self) -> StoresGuard<'_> {
        StoresGuard(self.inner.lock().await)
    }

    /// Decide on the current stores and apply the resulting mutations: persist the
    /// persistent ones (one atomic batch), then update memory, then publish. Returns what
    /// the decision returned, once the change is durable.
    ///
    /// On a shared backend another SC may have changed a key this decision read; the
    /// store refuses the batch, and the decision is made again once this SC has seen that
    /// change (a few times at most).
    ///
    /// These are the controllers' writes: on a shared backend only the leading SC makes
    /// them ([`MetadataBackend::commit_as_leader`]). Clients' changes go through
    /// [`MetadataStore::update_for_client`].
    pub async fn update<R, E>(
        &self,
        decide: impl FnMut(&Stores) -> Result<(Vec<Mutation>, R), E>,
    ) -> Result<R, UpdateError<E>> {
        self.update_as(true, decide).await
    }

    /// [`MetadataStore::update`] for a change a client asked for: any SC sharing the
    /// backend may write it (compare-and-swap keeps SCs from overwriting each other).
    pub async fn update_for_client<R, E>(
        &self,
        decide: impl FnMut(&Stores) -> Result<(Vec<Mutation>, R), E>,
    ) -> Result<R, UpdateError<E>> {
        self.update_as(false, decide).await
    }

    async fn update_as<R, E>(
        &self,
        as_leader: bool,
        mut decide: impl FnMut(&Stores) -> Result<(Vec<Mutation>, R), E>,
    ) -> Result<R, UpdateError<E>> {
        let mut attempts = 0;
        loop {
            let seen = self.remote_seen.subscribe();
            let mut inner = self.inner.lock().await;
            let (mutations, result) = decide(&inner.stores).map_err(UpdateError::Rejected)?;
            if mutations.is_empty() {
                return Ok(result);
            }
            let shared = self.backend.shared().then_some(&inner.stores);
            let ops = kv_ops(&mutations, shared)?;
            if !ops.is_empty() {
                let backend = self.backend.clone();
                let committed = run_blocking(move || {
                    if as_leader {
                        backend.commit_as_leader(&ops)
                    } else {
                        backend.commit(&ops)
                    }
                })
                .await
                .map_err(|e| StoreError::Kv(KvError::Task(e.to_string())))?;
                match committed {
                    Ok(()) => {}
                    Err(KvError::Conflict { .. }) if attempts < CONFLICT_RETRIES => {
                        attempts += 1;
                        drop(inner);
                        wait_for_remote(seen).await;
                        continue;
                    }
                    Err(e) => return Err(StoreError::Kv(e).into()),
                }
            }
            inner.epoch += 1;
            let epoch = inner.epoch;
            let events = apply(&mut inner.stores, mutations);
            self.publish(&mut inner, epoch, events);
            return Ok(result);
        }
    }

    /// Apply changes another SC committed to the shared backend (no write back).
    async fn apply_remote(&self, changes: Vec<RemoteChange>) {
        let mut mutations = Vec::with_capacity(changes.len());
        for change in changes {
            match remote_mutation(&change) {
                Ok(m) => mutations.extend(m),
                Err(e) => warn!(%e, "change from the metadata store ignored"),
            }
        }
        let mut inner = self.inner.lock().await;
        inner.epoch += 1;
        let epoch = inner.epoch;
        let events = apply(&mut inner.stores, mutations);
        self.publish(&mut inner, epoch, events);
        drop(inner);
        self.remote_seen.send_modify(|n| *n += 1);
    }

    /// Load everything again (the watch missed changes): replace the stores and tell
    /// watchers about every object that changed or went away.
    async fn resync(&self) -> Result<(), StoreError> {
        let loader = self.backend.clone();
        let fresh = run_blocking(move || load(&*loader))
            .await
            .map_err(|e| KvError::Task(e.to_string()))??;
        let mut inner = self.inner.lock().await;
        let mut mutations = Vec::new();
        fn diff<O: Clone + PartialEq>(
            old: &BTreeMap<String, O>,
            new: &BTreeMap<String, O>,
            out: &mut Vec<Mutation>,
            put: impl Fn(O) -> Mutation,
            delete: impl Fn(String) -> Mutation,
        ) {
            for (k, v) in new {
                if old.get(k) != Some(v) {
                    out.push(put(v.clone()));
                }
            }
            for k in old.keys().filter(|k| !new.contains_key(*k)) {
                out.push(delete(k.clone()));
            }
        }
        let old = &inner.stores;
        diff(
            &old.tokens,
            &fresh.tokens,
            &mut mutations,
            Mutation::PutToken,
            Mutation::DeleteToken,
        );
        diff(
            &old.spus,
            &fresh.spus,
            &mut mutations,
            Mutation::PutSpu,
            Mutation::DeleteSpu,
        );
        diff(
            &old.topics,
            &fresh.topics,
            &mut mutations,
            Mutation::PutTopic,
            Mutation::DeleteTopic,
        );
        diff(
            &old.partitions,
            &fresh.partitions,
            &mut mutations,
            Mutation::PutPartition,
            Mutation::DeletePartition,
        );
        for (k, v) in &fresh.replication {
            if old.replication.get(k) != Some(v) {
                mutations.push(Mutation::PutReplication(k.clone(), v.clone()));
            }
        }
        inner.epoch += 1;
        let epoch = inner.epoch;
        let events = apply(&mut inner.stores, mutations);
        self.publish(&mut inner, epoch, events);
        Ok(())
    }

    /// Follow a shared backend's changes until it stops.
    fn follow(self: &Arc<Self>) {
        let Some(mut changes) = self.backend.clone().watch() else {
            return;
        };
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(msg) = changes.recv().await {
                let Some(store) = store.upgrade() else { return };
                match msg {
                    RemoteMsg::Changes { changes, .. } => store.apply_remote(changes).await,
                    RemoteMsg::Resync => {
                        while let Err(e) = store.resync().await {
                            warn!(%e, "cannot reload the metadata store; retrying");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
    }

    /// Apply mutations that need no decision.
    pub async fn apply(&self, mutations: Vec<Mutation>) -> Result<(), StoreError> {
        self.update(|_| Ok::<_, std::convert::Infallible>((mutations.clone(), ())))
            .await
            .map_err(|e| match e {
                UpdateError::Store(e) => e,
                UpdateError::Rejected(never) => match never {},
            })
    }

    fn publish(&self, inner: &mut Inner, epoch: i64, events: Events) {
        fn send<O>(feed: &broadcast::Sender<Arc<Batch<O>>>, epoch: i64, events: Vec<Event<O>>) {
            if !events.is_empty() {
                // No receivers is fine: nobody watches this kind right now.
                let _ = feed.send(Arc::new(Batch {
                    epoch,
                    events,
                    offsets_only: false,
                }));
            }
        }
        // A partition published whole now carries its current offsets: nothing left to
        // tell about it, unless its offsets moved again later in the same commit.
        for event in &events.partitions {
            let (Event::Update(o) | Event::Delete(o)) = event;
            inner.offsets_moved.remove(&o.name);
        }
        inner.offsets_moved.extend(events.offsets_moved);
        send(&self.feeds.tokens, epoch, events.tokens);
        send(&self.feeds.spus, epoch, events.spus);
        send(&self.feeds.topics, epoch, events.topics);
        send(&self.feeds.partitions, epoch, events.partitions);
        send(&self.feeds.partition_states, epoch, events.partition_states);
    }
}

/// The stores under the write lock.
pub struct StoresGuard<'a>(MutexGuard<'a, Inner>);

impl StoresGuard<'_> {
    pub fn stores(&self) -> &Stores {
        &self.0.stores
    }

    pub fn epoch(&self) -> i64 {
        self.0.epoch
    }
}

fn load(backend: &dyn MetadataBackend) -> Result<Stores, StoreError> {
    // A private store's statuses are from before this process started: stale. A shared
    // store's are the leader's, current.
    let fresh = backend.shared();
    let mut stores = Stores::default();
    let mut upgrades = Vec::new();
    for (key, value) in backend.load(Kind::AuthToken)? {
        let mut token: TokenObj = decode(Kind::AuthToken, &key, &value)?;
        // Secrets stored by older versions (plain, or a fast SHA-256) are rewritten as
        // a slow hash now, once, without needing the secret.
        if let Some(upgraded) = token.secret.upgraded() {
            token.secret = upgraded;
            upgrades.push(put(Kind::AuthToken, &key, &token)?);
        }
        stores.tokens.insert(key, token);
    }
    if !upgrades.is_empty() {
        backend.commit(&upgrades)?;
        tracing::info!(
            tokens = upgrades.len(),
            "auth token secrets of an older version rehashed with argon2id"
        );
    }
    for (key, value) in backend.load(Kind::Spu)? {
        let mut spu: SpuObj = decode(Kind::Spu, &key, &value)?;
        if !fresh {
            spu.status.resolution = SpuResolution::Offline;
        }
        stores.spus.insert(key, spu);
    }
    for (key, value) in backend.load(Kind::Topic)? {
        let topic: TopicObj = decode(Kind::Topic, &key, &value)?;
        stores.topics.insert(key, topic);
    }
    for (key, value) in backend.load(Kind::Partition)? {
        let mut partition: PartitionObj = decode(Kind::Partition, &key, &value)?;
        if !fresh {
            partition.status.resolution = protocol::sc::PartitionResolution::Offline;
        }
        stores.partitions.insert(key, partition);
    }
    for (key, value) in backend.load(Kind::Replication)? {
        let state: ReplicationState = decode(Kind::Replication, &key, &value)?;
        if stores.partitions.contains_key(&key) {
            stores.replication.insert(key, state);
        }
    }
    Ok(stores)
}

/// Object `name` as it will be when a status change in the same batch applies: put
/// earlier in the batch, or as stored.
fn latest<'a, S: protocol::sc::ObjectSpec>(
    earlier: &'a [Mutation],
    stored: &'a BTreeMap<String, Metadata<S>>,
    name: &str,
    put: impl Fn(&'a Mutation) -> Option<&'a Metadata<S>>,
) -> Option<&'a Metadata<S>> {
    earlier
        .iter()
        .rev()
        .filter_map(put)
        .find(|o| o.name == name)
        .or_else(|| stored.get(name))
}

/// The backend operations for `mutations`, one per key (the last wins). With `shared`
/// (the stores before the batch), status changes other SCs must see are written too: SPU
/// liveness, and a partition's resolution (offsets alone stay in memory: they change
/// with every produce and the leader SPU serves them anyway).
fn kv_ops(mutations: &[Mutation], shared: Option<&Stores>) -> Result<Vec<KvOp>, StoreError> {
    let mut ops = Vec::new();
    for (i, mutation) in mutations.iter().enumerate() {
        if let Some(stores) = shared {
            let earlier = &mutations[..i];
            match mutation {
                Mutation::SetSpuStatus(name, status) => {
                    let current = latest(earlier, &stores.spus, name, |m| match m {
                        Mutation::PutSpu(o) => Some(o),
                        _ => None,
                    });
                    if let Some(o) = current.filter(|o| o.status != *status) {
                        let mut o = o.clone();
                        o.status = status.clone();
                        ops.push(put(Kind::Spu, name, &o)?);
                    }
                    continue;
                }
                Mutation::SetPartitionStatus(name, status) => {
                    let current = latest(earlier, &stores.partitions, name, |m| match m {
                        Mutation::PutPartition(o) => Some(o),
                        _ => None,
                    });
                    if let Some(o) = current.filter(|o| o.status.resolution != status.resolution) {
                        let mut o = o.clone();
                        o.status = status.clone();
                        ops.push(put(Kind::Partition, name, &o)?);
                    }
                    continue;
                }
                _ => {}
            }
        }
        match mutation {
            Mutation::PutTopic(o) => ops.push(put(Kind::Topic, &o.name, o)?),
            Mutation::DeleteTopic(name) => ops.push(delete(Kind::Topic, name)),
            Mutation::PutPartition(o) => ops.push(put(Kind::Partition, &o.name, o)?),
            Mutation::DeletePartition(name) => {
                ops.push(delete(Kind::Partition, name));
                ops.push(delete(Kind::Replication, name));
            }
            Mutation::PutReplication(name, state) => ops.push(put(Kind::Replication, name, state)?),
            Mutation::PutSpu(o) => ops.push(put(Kind::Spu, &o.name, o)?),
            Mutation::DeleteSpu(name) => ops.push(delete(Kind::Spu, name)),
            Mutation::PutToken(o) => ops.push(put(Kind::AuthToken, &o.name, o)?),
            Mutation::DeleteToken(name) => ops.push(delete(Kind::AuthToken, name)),
            Mutation::SetSpuStatus(..) | Mutation::SetPartitionStatus(..) => {}
        }
    }
    // One operation per key: a transaction may not name a key twice.
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<KvOp> = ops
        .into_iter()
        .rev()
        .filter(|op| {
            let (KvOp::Put { kind, key, .. } | KvOp::Delete { kind, key }) = op;
            seen.insert((*kind, key.clone()))
        })
        .collect();
    unique.reverse();
    Ok(unique)
}

#[derive(Default)]
struct Events {
    tokens: Vec<Event<TokenObj>>,
    spus: Vec<Event<SpuObj>>,
    topics: Vec<Event<TopicObj>>,
    partitions: Vec<Event<PartitionObj>>,
    partition_states: Vec<Event<PartitionStateObj>>,
    /// Partitions whose status changed in offsets only: published later, coalesced.
    offsets_moved: Vec<String>,
}

fn apply(stores: &mut Stores, mutations: Vec<Mutation>) -> Events {
    let mut ev = Events::default();
    // Partitions whose state may have changed, in order, each once: a leader change puts
    // the replication state and the partition in one commit, and watchers should see
    // only the end result.
    let mut states_touched: Vec<String> = Vec::new();
    let mut states_gone: BTreeMap<String, PartitionStateObj> = BTreeMap::new();
    let mut touch = |name: &str| {
        if !states_touched.iter().any(|n| n == name) {
            states_touched.push(name.to_string());
        }
    };
    for mutation in mutations {
        match mutation {
            Mutation::PutTopic(o) => {
                stores.topics.insert(o.name.clone(), o.clone());
                ev.topics.push(Event::Update(o));
            }
            Mutation::DeleteTopic(name) => {
                if let Some(o) = stores.topics.remove(&name) {
                    ev.topics.push(Event::Delete(o));
                }
            }
            Mutation::PutPartition(o) => {
                touch(&o.name);
                stores.partitions.insert(o.name.clone(), o.clone());
                ev.partitions.push(Event::Update(o));
            }
            Mutation::DeletePartition(name) => {
                if let Some(o) = stores.partitions.get(&name) {
                    states_gone.insert(name.clone(), stores.partition_state(o));
                    touch(&name);
                }
                stores.replication.remove(&name);
                if let Some(o) = stores.partitions.remove(&name) {
                    ev.partitions.push(Event::Delete(o));
                }
            }
            Mutation::PutSpu(o) => {
                stores.spus.insert(o.name.clone(), o.clone());
                ev.spus.push(Event::Update(o));
            }
            Mutation::DeleteSpu(name) => {
                if let Some(o) = stores.spus.remove(&name) {
                    ev.spus.push(Event::Delete(o));
                }
            }
            Mutation::PutToken(o) => {
                stores.tokens.insert(o.name.clone(), o.clone());
                ev.tokens.push(Event::Update(o));
            }
            Mutation::DeleteToken(name) => {
                if let Some(o) = stores.tokens.remove(&name) {
                    ev.tokens.push(Event::Delete(o));
                }
            }
            Mutation::SetSpuStatus(name, status) => match stores.spus.get_mut(&name) {
                Some(o) if o.status != status => {
                    o.status = status;
                    ev.spus.push(Event::Update(o.clone()));
                }
                Some(_) => {}
                None => warn!(spu = %name, "status for an unknown SPU ignored"),
            },
            Mutation::PutReplication(name, state) => {
                if stores.replication.get(&name) != Some(&state) {
                    touch(&name);
                    stores.replication.insert(name.clone(), state);
                    if let Some(o) = stores.partitions.get(&name) {
                        ev.partitions.push(Event::Update(o.clone()));
                    }
                }
            }
            Mutation::SetPartitionStatus(name, status) => match stores.partitions.get_mut(&name) {
                Some(o) if o.status != status => {
                    let offsets_only = only_offsets_differ(&o.status, &status);
                    o.status = status;
                    if offsets_only {
                        ev.offsets_moved.push(name);
                    } else {
                        ev.partitions.push(Event::Update(o.clone()));
                    }
                }
                Some(_) => {}
                None => warn!(partition = %name, "status for an unknown partition ignored"),
            },
        }
    }
    for name in states_touched {
        match stores.partitions.get(&name) {
            Some(p) => ev
                .partition_states
                .push(Event::Update(stores.partition_state(p))),
            None => {
                if let Some(gone) = states_gone.remove(&name) {
                    ev.partition_states.push(Event::Delete(gone));
                }
            }
        }
    }
    ev
}

/// Do two statuses of one partition differ only in offsets (the leader's and followers'
/// high watermark and log end, the size, the log start)? Then nothing a client routes by
/// changed: leader, resolution, in-sync count, which followers, deletion.
fn only_offsets_differ(old: &PartitionStatus, new: &PartitionStatus) -> bool {
    old.resolution == new.resolution
        && old.leader.spu == new.leader.spu
        && old.lsr == new.lsr
        && old.is_being_deleted == new.is_being_deleted
        && old.replicas.len() == new.replicas.len()
        && old
            .replicas
            .iter()
            .zip(&new.replicas)
            .all(|(a, b)| a.spu == b.spu)
}

/// Publish the partitions whose offsets moved every `every`, as one batch of their
/// current objects, while the store lives.
fn publish_offsets_every(store: Weak<MetadataStore>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(store) = store.upgrade() else { return };
            store.publish_offsets().await;
        }
    });
}

impl MetadataStore {
    /// Tell watchers the current objects of the partitions whose offsets moved since they
    /// were last told.
    pub async fn publish_offsets(&self) {
        let mut inner = self.inner.lock().await;
        if inner.offsets_moved.is_empty() {
            return;
        }
        let moved = std::mem::take(&mut inner.offsets_moved);
        let events: Vec<Event<PartitionObj>> = moved
            .iter()
            .filter_map(|name| inner.stores.partitions.get(name))
            .map(|o| Event::Update(o.clone()))
            .collect();
        if events.is_empty() {
            return;
        }
        inner.epoch += 1;
        let _ = self.feeds.partitions.send(Arc::new(Batch {
            epoch: inner.epoch,
            events,
            offsets_only: true,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryBackend;
    use protocol::sc::{TopicResolution, TopicStatus};

    fn topic(name: &str) -> TopicObj {
        Metadata::new(
            name,
            TopicSpec::default(),
            TopicStatus {
                resolution: TopicResolution::Provisioned,
                ..Default::default()
            },
        )
    }

    #[tokio::test]
    async fn token_secrets_of_older_versions_are_rehashed_when_loaded() {
        use crate::kv::KvOp;
        let backend: Arc<dyn MetadataBackend> = Arc::new(MemoryBackend::new());
        // A token as an older version stored it: salted SHA-256, hex.
        let salt = "00112233445566778899aabbccddeeff";
        let digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(salt.as_bytes());
            h.update(b"abcdefgh12345678");
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let old = format!(
            r#"{{"name":"edge","spec":{{"token_type":"Custom","min_spu":1,"max_spu":9}},"status":{{"resolution":"Ok","reason":""}},"secret":{{"salt":"{salt}","hash":"{digest}"}}}}"#
        );
        backend
            .commit(&[KvOp::Put {
                kind: Kind::AuthToken,
                key: "edge".into(),
                value: old.into_bytes(),
            }])
            .unwrap();
        let store = MetadataStore::open(backend.clone()).await.unwrap();
        let secret = store.read(|s| s.tokens["edge"].secret.clone()).await;
        assert!(
            matches!(secret, SecretHash::Sha256Argon2 { .. }),
            "{secret:?}"
        );
        assert!(secret.verify("abcdefgh12345678"));
        assert!(!secret.verify("abcdefgh12345679"));
        // Written back: the next load finds the slow hash and rewrites nothing.
        let stored = backend.load(Kind::AuthToken).unwrap();
        let text = String::from_utf8(stored[0].1.clone()).unwrap();
        assert!(
            text.contains("argon2id") && !text.contains(&digest),
            "{text}"
        );
    }

    #[tokio::test]
    async fn writes_are_persisted_published_and_reloaded() {
        let backend: Arc<dyn MetadataBackend> = Arc::new(MemoryBackend::new());
        let store = MetadataStore::open(backend.clone()).await.unwrap();
        let mut feed = store.feeds().topics.subscribe();
        store
            .apply(vec![
                Mutation::PutTopic(topic("a")),
                Mutation::PutTopic(topic("b")),
            ])
            .await
            .unwrap();
        store
            .apply(vec![Mutation::DeleteTopic("a".into())])
            .await
            .unwrap();

        let first = feed.recv().await.unwrap();
        assert_eq!(first.events.len(), 2);
        let second = feed.recv().await.unwrap();
        assert!(matches!(&second.events[0], Event::Delete(o) if o.name == "a"));
        assert!(second.epoch > first.epoch);

        let reopened = MetadataStore::open(backend).await.unwrap();
        let names = reopened
            .read(|s| s.topics.keys().cloned().collect::<Vec<_>>())
            .await;
        assert_eq!(names, vec!["b".to_string()]);
    }

    fn partition(name: &str, leader: i32) -> PartitionObj {
        Metadata::new(
            name,
            PartitionSpec {
                leader,
                replicas: vec![1, 2, 3],
                ..Default::default()
            },
            PartitionStatus::default(),
        )
    }

    #[tokio::test]
    async fn partition_state_watchers_see_each_commit_once_as_it_ends() {
        let store = MetadataStore::open(Arc::new(MemoryBackend::new()))
            .await
            .unwrap();
        let mut feed = store.feeds().partition_states.subscribe();
        store
            .apply(vec![Mutation::PutPartition(partition("t-0", 1))])
            .await
            .unwrap();
        let created = feed.recv().await.unwrap();
        let [Event::Update(state)] = &created.events[..] else {
            panic!("{:?}", created.events)
        };
        assert_eq!(
            state.spec,
            PartitionStateSpec {
                leader: 1,
                leader_epoch: 0,
                in_sync: vec![1, 2, 3],
            },
            "a new partition: epoch 0, every replica in sync"
        );

        // A leader change: replication state and partition in one commit, one event.
        store
            .apply(vec![
                Mutation::PutReplication(
                    "t-0".into(),
                    ReplicationState {
                        leader_epoch: 1,
                        in_sync: vec![2, 3],
                    },
                ),
                Mutation::PutPartition(partition("t-0", 2)),
            ])
            .await
            .unwrap();
        let moved = feed.recv().await.unwrap();
        let [Event::Update(state)] = &moved.events[..] else {
            panic!("{:?}", moved.events)
        };
        assert_eq!(
            (
                state.spec.leader,
                state.spec.leader_epoch,
                &state.spec.in_sync[..]
            ),
            (2, 1, &[2, 3][..])
        );

        // Offsets alone change no state; the same state again is no change either.
        store
            .apply(vec![
                Mutation::SetPartitionStatus(
                    "t-0".into(),
                    PartitionStatus {
                        lsr: 2,
                        ..Default::default()
                    },
                ),
                Mutation::PutReplication(
                    "t-0".into(),
                    ReplicationState {
                        leader_epoch: 1,
                        in_sync: vec![2, 3],
                    },
                ),
            ])
            .await
            .unwrap();
        store
            .apply(vec![Mutation::DeletePartition("t-0".into())])
            .await
            .unwrap();
        let gone = feed.recv().await.unwrap();
        let [Event::Delete(state)] = &gone.events[..] else {
            panic!("{:?}", gone.events)
        };
        assert_eq!((state.name.as_str(), state.spec.leader_epoch), ("t-0", 1));
        assert!(store.read(|s| s.replication.is_empty()).await);
    }

    #[tokio::test]
    async fn offsets_alone_reach_partition_watchers_coalesced_and_other_changes_at_once() {
        use protocol::sc::{PartitionResolution, ReplicaStatus};
        // Published here by hand, not by the timer.
        let store =
            MetadataStore::open_with(Arc::new(MemoryBackend::new()), Duration::from_secs(3600))
                .await
                .unwrap();
        store
            .apply(vec![
                Mutation::PutPartition(partition("t-0", 1)),
                Mutation::PutPartition(partition("t-1", 1)),
            ])
            .await
            .unwrap();
        let status = |hw: i64, leader: i32| PartitionStatus {
            resolution: PartitionResolution::Online,
            leader: ReplicaStatus {
                spu: leader,
                hw,
                leo: hw,
            },
            lsr: 1,
            ..Default::default()
        };
        store
            .apply(vec![Mutation::SetPartitionStatus(
                "t-1".into(),
                status(0, 1),
            )])
            .await
            .unwrap();
        let mut feed = store.feeds().partitions.subscribe();
        // The leader comes online: published at once.
        store
            .apply(vec![Mutation::SetPartitionStatus(
                "t-0".into(),
                status(0, 1),
            )])
            .await
            .unwrap();
        let online = feed.recv().await.unwrap();
        assert!(!online.offsets_only);
        assert_eq!(online.events.len(), 1);
        // Then its offsets move three times, and another partition's once: nothing yet,
        // though the store holds the latest.
        for hw in [5, 9, 12] {
            store
                .apply(vec![Mutation::SetPartitionStatus(
                    "t-0".into(),
                    status(hw, 1),
                )])
                .await
                .unwrap();
        }
        store
            .apply(vec![Mutation::SetPartitionStatus(
                "t-1".into(),
                status(3, 1),
            )])
            .await
            .unwrap();
        assert!(feed.try_recv().is_err());
        let hw = store.read(|s| s.partitions["t-0"].status.leader.hw).await;
        assert_eq!(hw, 12);
        // One coalesced batch: each partition once, as it is now.
        store.publish_offsets().await;
        let coalesced = feed.recv().await.unwrap();
        assert!(coalesced.offsets_only);
        let seen: Vec<(String, i64)> = coalesced
            .events
            .iter()
            .map(|e| match e {
                Event::Update(o) => (o.name.clone(), o.status.leader.hw),
                Event::Delete(o) => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(seen, vec![("t-0".into(), 12), ("t-1".into(), 3)]);
        assert!(online.epoch < coalesced.epoch);
        // Nothing moved since: nothing to publish.
        store.publish_offsets().await;
        assert!(feed.try_recv().is_err());

        // Offsets moved, then a change clients route by (a new leader): published at
        // once with the offsets, and not again in the next coalesced batch.
        store
            .apply(vec![Mutation::SetPartitionStatus(
                "t-0".into(),
                status(20, 1),
            )])
            .await
            .unwrap();
        store
            .apply(vec![Mutation::SetPartitionStatus(
                "t-0".into(),
                status(21, 2),
            )])
            .await
            .unwrap();
        let moved = feed.recv().await.unwrap();
        assert!(!moved.offsets_only);
        let [Event::Update(o)] = &moved.events[..] else {
            panic!("{:?}", moved.events)
        };
        assert_eq!((o.status.leader.spu, o.status.leader.hw), (2, 21));
        store.publish_offsets().await;
        assert!(feed.try_recv().is_err());
    }

    #[test]
    fn only_offsets_differ_tells_offsets_from_routing() {
        use protocol::sc::{PartitionResolution, ReplicaStatus};
        let replica = |spu: i32, hw: i64| ReplicaStatus { spu, hw, leo: hw };
        let base = PartitionStatus {
            resolution: PartitionResolution::Online,
            leader: replica(1, 10),
            lsr: 2,
            replicas: vec![replica(2, 8)],
            size: 100,
            base_offset: 0,
            ..Default::default()
        };
        let moved = PartitionStatus {
            leader: replica(1, 20),
            replicas: vec![replica(2, 19)],
            size: 300,
            base_offset: 4,
            ..base.clone()
        };
        assert!(only_offsets_differ(&base, &moved));
        for changed in [
            PartitionStatus {
                resolution: PartitionResolution::Offline,
                ..base.clone()
            },
            PartitionStatus {
                leader: replica(2, 10),
                ..base.clone()
            },
            PartitionStatus {
                lsr: 1,
                ..base.clone()
            },
            PartitionStatus {
                replicas: vec![replica(3, 8)],
                ..base.clone()
            },
            PartitionStatus {
                replicas: vec![],
                ..base.clone()
            },
            PartitionStatus {
                is_being_deleted: true,
                ..base.clone()
            },
        ] {
            assert!(!only_offsets_differ(&base, &changed), "{changed:?}");
        }
    }

    #[tokio::test]
    async fn rejected_decisions_change_nothing() {
        let store = MetadataStore::open(Arc::new(MemoryBackend::new()))
            .await
            .unwrap();
        let out = store.update(|_| Err::<(Vec<Mutation>, ()), _>("no")).await;
        assert!(matches!(out, Err(UpdateError::Rejected("no"))));
        assert!(store.read(|s| s.topics.is_empty()).await);
    }
}
