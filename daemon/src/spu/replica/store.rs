//! The replicas this SPU hosts, kept in line with the SC's assignment: a replica assigned
//! gets its log opened (created, or recovered after a restart) under
//! `<data-dir>/spu-<id>/<topic>-<partition>/`; a replica the SC removes (its topic was
//! deleted) has its log deleted. Also: offset reports for the SC, periodic retention, and
//! a clean close of every log at shutdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use protocol::internal::{Replica, ReplicaOffsetReport};
use protocol::sc::{SpuId, SpuSpec};
use protocol::spu::ReplicaKey;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, error, info, warn};

use super::partition::Partition;
use crate::spu::replication::follower::{self, Term};
use crate::storage::FlushPolicy;
use crate::sync::{lock, read, run_blocking, write};

/// How often retention runs over every hosted replica.
pub const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// How long a replica whose log failed to open waits before the next attempt.
const OPEN_RETRY: Duration = Duration::from_secs(5);
/// Replica logs opened at once: enough to keep the disk's queue full, few enough that a
/// topic of thousands of partitions does not take the whole blocking pool.
const OPEN_CONCURRENTLY: usize = 16;
/// Logs that keep failing to open are retried less and less often, up to this: a disk or
/// a file-descriptor limit that stays short is not helped by asking every 5 s.
const OPEN_RETRY_MAX: Duration = Duration::from_secs(60);
/// How long a request for a replica this SPU does not host waits for it to appear. A
/// client learns about a new partition from the SC at about the time this SPU does, and
/// may be quicker than the log opening here.
pub const NEW_REPLICA_WAIT: Duration = Duration::from_secs(2);

/// Why a request cannot be served by a replica here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No such replica on this SPU (unknown topic or partition, or not assigned here).
    NotHosted,
    /// Hosted, but another SPU leads it.
    NotLeader,
}

/// What has to change to go from the replicas open now to the assignment.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub open: Vec<Replica>,
    pub update: Vec<Replica>,
    pub delete: Vec<ReplicaKey>,
}

/// Compare the assignment with what is open. Pure, for tests.
pub fn plan(
    open: &BTreeMap<ReplicaKey, Replica>,
    assigned: &BTreeMap<ReplicaKey, Replica>,
) -> Plan {
    let mut plan = Plan::default();
    for (key, replica) in assigned {
        match open.get(key) {
            None => plan.open.push(replica.clone()),
            Some(current) if current != replica => plan.update.push(replica.clone()),
            Some(_) => {}
        }
    }
    plan.delete = open
        .keys()
        .filter(|key| !assigned.contains_key(*key))
        .cloned()
        .collect();
    plan
}

#[derive(Debug)]
pub struct ReplicaStore {
    spu: SpuId,
    /// `<data-dir>/spu-<id>`.
    root: PathBuf,
    flush: FlushPolicy,
    partitions: RwLock<BTreeMap<ReplicaKey, Arc<Partition>>>,
    /// Some replica's offsets moved since the last report.
    report_due: Arc<Notify>,
    pending: Mutex<Pending>,
    /// Wakes the reconciler when `pending` changed.
    reassigned: Notify,
    /// Bumped after every reconciliation: requests waiting for a new replica re-check.
    reconciled: watch::Sender<u64>,
    /// Every SPU's private address, from the SC, so followers find their leaders.
    private_addrs: RwLock<BTreeMap<SpuId, String>>,
    /// Every SPU serving Kafka, with its Kafka address `(host, port)`: the brokers of a
    /// Kafka Metadata answer.
    kafka_addrs: RwLock<BTreeMap<SpuId, (String, u16)>>,
    /// The SC's public address, learnt at registration (Kafka admin requests go there).
    sc_public_addr: RwLock<Option<String>>,
    /// The fetch loops of the replicas this SPU follows.
    followers: Mutex<HashMap<ReplicaKey, (Term, JoinHandle<()>)>>,
    /// A follower that has not reached the leader's log end for this long leaves the
    /// in-sync set.
    replica_lag: RwLock<Duration>,
    /// TLS for links to other SPUs (followers, the offsets forwarder), when on.
    tls: RwLock<Option<Arc<crate::net::tls::Tls>>>,
    max_frame_bytes: usize,
    /// Committed consumer offsets (served while this SPU leads `consumer-offset-0`).
    consumer_offsets: crate::spu::offsets::ConsumerOffsets,
    /// Ids for idempotent producers, in blocks from the SC.
    producer_ids: crate::spu::producer_ids::ProducerIds,
    /// Test fault injection: while this file exists, follower streams send nothing.
    #[cfg(feature = "fault-injection")]
    fault_hold: RwLock<Option<PathBuf>>,
    /// The SC admitted this SPU and its assignment arrived, in the current session
    /// (readiness: `/readyz`).
    linked: std::sync::atomic::AtomicBool,
    /// Replica logs that failed to open, with the error last logged for each: a retry that
    /// fails the same way is not logged again (thousands of partitions short of file
    /// descriptors would otherwise log thousands of lines per retry).
    open_failures: Mutex<BTreeMap<ReplicaKey, String>>,
}

/// `--replica-lag-ms`'s default.
pub const DEFAULT_REPLICA_LAG: Duration = Duration::from_secs(10);

/// The assignment to reconcile with.
#[derive(Debug, Default)]
struct Pending {
    assigned: BTreeMap<ReplicaKey, Replica>,
    /// Removed since the last reconciliation. Kept apart so a replica removed and assigned
    /// again (topic deleted and re-created) still loses its old log.
    removed: BTreeSet<ReplicaKey>,
}

impl ReplicaStore {
    pub fn new(spu: SpuId, root: PathBuf, flush: FlushPolicy) -> Arc<Self> {
        Arc::new(Self {
            spu,
            root,
            flush,
            partitions: RwLock::default(),
            report_due: Arc::default(),
            pending: Mutex::default(),
            reassigned: Notify::new(),
            reconciled: watch::Sender::new(0),
            private_addrs: RwLock::default(),
            kafka_addrs: RwLock::default(),
            sc_public_addr: RwLock::default(),
            followers: Mutex::default(),
            replica_lag: RwLock::new(DEFAULT_REPLICA_LAG),
            tls: RwLock::default(),
            max_frame_bytes: protocol::frame::DEFAULT_MAX_FRAME_BYTES,
            consumer_offsets: Default::default(),
            producer_ids: Default::default(),
            open_failures: Mutex::default(),
            #[cfg(feature = "fault-injection")]
            fault_hold: RwLock::default(),
            linked: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn consumer_offsets(&self) -> &crate::spu::offsets::ConsumerOffsets {
        &self.consumer_offsets
    }

    /// Where InitProducerId (ours and Kafka's) takes producer ids from.
    pub fn producer_ids(&self) -> &crate::spu::producer_ids::ProducerIds {
        &self.producer_ids
    }

    /// See `--fault-hold-replication`.
    #[cfg(feature = "fault-injection")]
    pub fn set_fault_hold_replication(&self, file: Option<PathBuf>) {
        *write(&self.fault_hold) = file;
    }

    #[cfg(feature = "fault-injection")]
    pub fn fault_hold_replication(&self) -> Option<PathBuf> {
        read(&self.fault_hold).clone()
    }

    pub fn set_replica_lag(&self, lag: Duration) {
        *write(&self.replica_lag) = lag;
    }

    fn replica_lag(&self) -> Duration {
        *read(&self.replica_lag)
    }

    /// Use TLS on links to other SPUs' private ports.
    pub fn set_tls(&self, tls: Option<Arc<crate::net::tls::Tls>>) {
        *write(&self.tls) = tls;
    }

    /// The TLS links to other SPUs use, if on.
    pub fn tls(&self) -> Option<Arc<crate::net::tls::Tls>> {
        read(&self.tls).clone()
    }

    /// The SPU directory from the SC.
    pub fn set_spus(&self, spus: &BTreeMap<SpuId, SpuSpec>) {
        let addrs = spus
            .iter()
            .map(|(id, spec)| {
                let e = &spec.private_endpoint;
                (*id, format!("{}:{}", e.host, e.port))
            })
            .collect();
        *write(&self.private_addrs) = addrs;
        let kafka = spus
            .iter()
            .filter_map(|(id, spec)| {
                let e = spec.kafka_endpoint.as_ref()?;
                Some((*id, (e.host.clone(), e.port)))
            })
            .collect();
        *write(&self.kafka_addrs) = kafka;
    }

    /// Every SPU that serves Kafka, with its Kafka `(host, port)`.
    pub fn kafka_brokers(&self) -> BTreeMap<SpuId, (String, u16)> {
        read(&self.kafka_addrs).clone()
    }

    /// Remember where the SC's public port is (from the registration answer).
    pub fn set_sc_public_addr(&self, addr: Option<String>) {
        if addr.is_some() {
            *write(&self.sc_public_addr) = addr;
        }
    }

    /// The SC's public address, once the SC told it.
    pub fn sc_public_addr(&self) -> Option<String> {
        read(&self.sc_public_addr).clone()
    }

    /// Where SPU `id`'s private port is, `host:port`.
    pub fn private_addr(&self, id: SpuId) -> Option<String> {
        read(&self.private_addrs).get(&id).cloned()
    }

    /// Start, restart or stop fetch loops so that every replica this SPU follows has one
    /// for its current leader and epoch.
    fn follow_leaders(self: &Arc<Self>) {
        let mut followers = lock(&self.followers);
        let partitions = self.all();
        let mut wanted: HashMap<ReplicaKey, (Term, Arc<Partition>)> = HashMap::new();
        for p in partitions {
            let a = p.assignment();
            if a.leader != self.spu && a.leader >= 0 && !p.is_closed() {
                let term = Term {
                    leader: a.leader,
                    epoch: a.leader_epoch,
                };
                wanted.insert(p.key().clone(), (term, p));
            }
        }
        followers.retain(|key, (term, task)| {
            let keep = wanted.get(key).is_some_and(|(t, _)| t == term) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, (term, p)) in wanted {
            if followers.contains_key(&key) {
                continue;
            }
            info!(spu = self.spu, replica = %key, leader = term.leader, epoch = term.epoch, "following the leader");
            let task = tokio::spawn(
                follower::run(self.clone(), p, term, self.max_frame_bytes)
                    .instrument(super::span(&key)),
            );
            followers.insert(key, (term, task));
        }
    }

    /// Every `every`: drop lagging followers from the in-sync sets of the replicas this
    /// SPU leads, and keep the fetch loops in line with the assignment.
    pub async fn replication_loop(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reconciled = self.reconciled.subscribe();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let lag = self.replica_lag();
                    for p in self.all() {
                        if p.is_leader() {
                            p.check_in_sync(lag);
                        }
                    }
                    self.follow_leaders();
                }
                changed = reconciled.changed() => {
                    if changed.is_err() { return; }
                    self.follow_leaders();
                }
                _ = shutdown.changed() => {
                    let followers = std::mem::take(&mut *lock(&self.followers));
                    for (_, (_, task)) in followers {
                        task.abort();
                    }
                    return;
                }
            }
        }
    }

    pub fn spu(&self) -> SpuId {
        self.spu
    }

    /// The link to the SC has (true) or has lost (false) an admitted session with its
    /// assignment.
    pub fn set_linked(&self, linked: bool) {
        self.linked
            .store(linked, std::sync::atomic::Ordering::Release);
    }

    /// Ready to serve: admitted by the SC, and every replica it assigned has its log open;
    /// else what is missing.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.linked.load(std::sync::atomic::Ordering::Acquire) {
            return Err("not registered with the SC yet".into());
        }
        let assigned: Vec<ReplicaKey> = lock(&self.pending).assigned.keys().cloned().collect();
        let open = read(&self.partitions);
        let missing = assigned.iter().filter(|k| !open.contains_key(*k)).count();
        if missing > 0 {
            return Err(format!(
                "{missing} of {} assigned replicas not open yet",
                assigned.len()
            ));
        }
        Ok(())
    }

    /// Every replica this SPU hosts (for metrics).
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.all()
    }

    /// Where the replica's log lives.
    pub fn replica_dir(&self, key: &ReplicaKey) -> PathBuf {
        self.root.join(key.to_string())
    }

    /// A hosted replica, leader or not.
    pub fn get(&self, key: &ReplicaKey) -> Option<Arc<Partition>> {
        read(&self.partitions).get(key).cloned()
    }

    /// The replica of `topic`/`partition` if this SPU leads it.
    pub fn leader(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, Lookup> {
        let key = ReplicaKey::new(topic, partition);
        let p = self.get(&key).ok_or(Lookup::NotHosted)?;
        if p.is_leader() && !p.is_closed() {
            Ok(p)
        } else {
            Err(Lookup::NotLeader)
        }
    }

    /// Like [`ReplicaStore::leader`], but a replica not hosted (yet) is waited for, at
    /// most `timeout`.
    pub async fn wait_leader(
        &self,
        topic: &str,
        partition: u32,
        timeout: Duration,
    ) -> Result<Arc<Partition>, Lookup> {
        let mut reconciled = self.reconciled.subscribe();
        let wait = async {
            loop {
                reconciled.borrow_and_update();
                match self.leader(topic, partition) {
                    Err(Lookup::NotHosted) => {}
                    found => return found,
                }
                if reconciled.changed().await.is_err() {
                    return Err(Lookup::NotHosted);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(Lookup::NotHosted))
    }

    /// The SC's latest assignment (every replica this SPU hosts). Applied in the
    /// background by [`ReplicaStore::reconcile`], so the link to the SC never waits for
    /// log recovery.
    pub fn assign(&self, replicas: BTreeMap<ReplicaKey, Replica>) {
        let mut pending = lock(&self.pending);
        let removed: Vec<ReplicaKey> = pending
            .assigned
            .keys()
            .filter(|key| !replicas.contains_key(*key))
            .cloned()
            .collect();
        pending.removed.extend(removed);
        pending.assigned = replicas;
        drop(pending);
        self.reassigned.notify_one();
    }

    fn take_pending(&self) -> (BTreeMap<ReplicaKey, Replica>, BTreeSet<ReplicaKey>) {
        let mut pending = lock(&self.pending);
        let removed = std::mem::take(&mut pending.removed);
        (pending.assigned.clone(), removed)
    }

    /// Offsets of the replicas this SPU leads.
    pub fn reports(&self) -> Vec<ReplicaOffsetReport> {
        let partitions: Vec<Arc<Partition>> = self.all();
        partitions.iter().filter_map(|p| p.report()).collect()
    }

    /// Resolves when some replica's offsets moved since the last call (coalescing: many
    /// moves, one wake-up).
    pub async fn offsets_changed(&self) {
        self.report_due.notified().await
    }

    fn all(&self) -> Vec<Arc<Partition>> {
        read(&self.partitions).values().cloned().collect()
    }

    /// Follow the assignment until shutdown: open, update and delete replica logs.
    pub async fn reconcile(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut wait = OPEN_RETRY;
        loop {
            let (assigned, removed) = self.take_pending();
            let complete = self.apply(&assigned, &removed).await;
            let retry_in = if complete { None } else { Some(wait) };
            wait = next_open_retry(wait, complete);
            let retry = async {
                match retry_in {
                    None => std::future::pending::<()>().await,
                    Some(wait) => tokio::time::sleep(wait).await,
                }
            };
            tokio::select! {
                _ = self.reassigned.notified() => {}
                _ = retry => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Apply one assignment after deleting the replicas in `removed` (if still open);
    /// false if some log could not be opened (retried later).
    pub async fn apply(
        &self,
        assigned: &BTreeMap<ReplicaKey, Replica>,
        removed: &BTreeSet<ReplicaKey>,
    ) -> bool {
        for key in removed {
            self.delete(key).await;
        }
        let open: BTreeMap<ReplicaKey, Replica> = self
            .all()
            .into_iter()
            .map(|p| (p.key().clone(), p.assignment()))
            .collect();
        let plan = plan(&open, assigned);
        for replica in plan.update {
            let _in_replica = super::span(&replica.key).entered();
            if let Some(p) = self.get(&replica.key) {
                debug!(spu = self.spu, replica = %replica.key, leader = replica.leader, "replica assignment updated");
                p.set_assignment(replica);
            }
        }
        for key in plan.delete {
            self.delete(&key).await;
        }
        let mut complete = true;
        // Logs open side by side, a bounded number at a time: opening one is mostly
        // waiting for its fsyncs (about six for a new log), which the file system commits
        // together when they come at once. One at a time, a 5000-partition topic waited
        // for 30,000 fsyncs in a row.
        let mut opening = std::collections::VecDeque::new();
        for replica in plan.open {
            if opening.len() >= OPEN_CONCURRENTLY
                && let Some((key, span, task)) = opening.pop_front()
            {
                complete &= self.opened(key, span, task).await;
            }
            let key = replica.key.clone();
            let dir = self.replica_dir(&key);
            let (spu, flush, report_due) = (self.spu, self.flush, self.report_due.clone());
            let span = super::span(&key);
            let task = tokio::spawn(
                run_blocking(move || Partition::open(dir, spu, replica, flush, report_due))
                    .instrument(span.clone()),
            );
            opening.push_back((key, span, task));
        }
        while let Some((key, span, task)) = opening.pop_front() {
            complete &= self.opened(key, span, task).await;
        }
        // Logs no longer assigned are no longer failures.
        lock(&self.open_failures).retain(|key, _| assigned.contains_key(key));
        self.report_due.notify_one();
        self.reconciled.send_modify(|n| *n = n.wrapping_add(1));
        complete
    }

    /// Take in one log that [`ReplicaStore::apply`] opened: serve it, or note why it could
    /// not be opened; false in that case (it is retried later).
    async fn opened(
        &self,
        key: ReplicaKey,
        span: tracing::Span,
        task: tokio::task::JoinHandle<
            Result<crate::storage::Result<Partition>, crate::sync::BlockingError>,
        >,
    ) -> bool {
        let opened = match task.await {
            Ok(opened) => opened,
            // The runtime is shutting down: nothing is served any more.
            Err(_) => Err(crate::sync::BlockingError::RuntimeShutdown),
        };
        let _in_replica = span.enter();
        match opened {
            Ok(Ok(p)) => {
                lock(&self.open_failures).remove(&key);
                let offsets = p.offsets().ok();
                info!(
                    spu = self.spu,
                    replica = %key,
                    leader = p.is_leader(),
                    hw = offsets.map(|o| o.hw),
                    leo = offsets.map(|o| o.leo),
                    "replica log open"
                );
                write(&self.partitions).insert(key, Arc::new(p));
                true
            }
            Ok(Err(err)) => {
                if self.note_open_failure(&key, err.to_string()) {
                    error!(spu = self.spu, replica = %key, %err, "cannot open the replica log; retrying");
                } else {
                    debug!(spu = self.spu, replica = %key, %err, "the replica log still cannot be opened");
                }
                false
            }
            Err(err) => {
                if self.note_open_failure(&key, err.to_string()) {
                    error!(spu = self.spu, replica = %key, %err, "opening the replica log failed");
                }
                false
            }
        }
    }

    /// Remember that `key` failed to open with `error`; true when that is news (the first
    /// failure, or a different error than the one last logged) and worth logging.
    fn note_open_failure(&self, key: &ReplicaKey, error: String) -> bool {
        let mut failures = lock(&self.open_failures);
        match failures.get(key) {
            Some(last) if *last == error => false,
            _ => {
                failures.insert(key.clone(), error);
                true
            }
        }
    }

    /// Stop serving a replica and delete its log.
    async fn delete(&self, key: &ReplicaKey) {
        let removed = write(&self.partitions).remove(key);
        let Some(p) = removed else { return };
        crate::metrics::PartitionCounters::forget(&key.topic, key.partition, self.spu);
        let span = super::span(key);
        let deleted = run_blocking(move || p.delete())
            .instrument(span.clone())
            .await;
        let _in_replica = span.enter();
        match deleted {
            Ok(Ok(())) => {
                info!(spu = self.spu, replica = %key, "replica removed; its log is deleted")
            }
            Ok(Err(err)) => {
                error!(spu = self.spu, replica = %key, %err, "replica removed but its log could not be deleted")
            }
            Err(err) => {
                error!(spu = self.spu, replica = %key, %err, "deleting the replica log failed")
            }
        }
    }

    /// Run retention over every replica now. Returns how many segments went.
    pub async fn enforce_retention(&self) -> usize {
        let mut deleted = 0;
        for p in self.all() {
            let key = p.key().clone();
            let span = super::span(&key);
            let outcome = run_blocking(move || p.enforce_retention(SystemTime::now()))
                .instrument(span.clone())
                .await;
            let _in_replica = span.enter();
            match outcome {
                Ok(Ok(outcome)) => deleted += outcome.deleted_segments,
                Ok(Err(err)) => warn!(spu = self.spu, replica = %key, %err, "retention failed"),
                Err(err) => warn!(spu = self.spu, replica = %key, %err, "retention task failed"),
            }
        }
        deleted
    }

    /// Run retention every `every` until shutdown.
    pub async fn retention_loop(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => { self.enforce_retention().await; }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Close every log cleanly (shutdown): the next start skips recovery.
    pub async fn close_all(&self) {
        let partitions: Vec<Arc<Partition>> = std::mem::take(&mut *write(&self.partitions))
            .into_values()
            .collect();
        for p in partitions {
            let key = p.key().clone();
            let span = super::span(&key);
            let closed = run_blocking(move || p.close())
                .instrument(span.clone())
                .await;
            let _in_replica = span.enter();
            match closed {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    warn!(spu = self.spu, replica = %key, %err, "closing the replica log failed")
                }
                Err(err) => {
                    warn!(spu = self.spu, replica = %key, %err, "closing the replica log failed")
                }
            }
        }
    }
}

/// The wait before the next retry of logs that failed to open: doubled after each failed
/// round up to [`OPEN_RETRY_MAX`], back to [`OPEN_RETRY`] once every log is open.
fn next_open_retry(wait: Duration, complete: bool) -> Duration {
    if complete {
        OPEN_RETRY
    } else {
        (wait * 2).min(OPEN_RETRY_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_opens_back_off_and_reset() {
        let mut wait = OPEN_RETRY;
        let mut waits = Vec::new();
        for _ in 0..6 {
            waits.push(wait.as_secs());
            wait = next_open_retry(wait, false);
        }
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(next_open_retry(wait, true), OPEN_RETRY);
    }

    #[tokio::test]
    async fn a_log_that_cannot_open_is_logged_once_per_error_and_forgotten_when_unassigned() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spu-1");
        std::fs::create_dir_all(&root).unwrap();
        // A file where the replica's directory should be: every open fails the same way.
        std::fs::write(root.join("blocked-0"), b"not a directory").unwrap();
        let store = ReplicaStore::new(1, root.clone(), FlushPolicy::Never);
        let key = ReplicaKey::new("blocked", 0);
        let none = BTreeSet::new();
        let assigned = map(&[replica("blocked", 1)]);
        assert!(!store.apply(&assigned, &none).await);
        let first = lock(&store.open_failures).get(&key).cloned();
        assert!(first.is_some(), "the failure is remembered");
        // The same failure again is not news; a different one is.
        assert!(!store.note_open_failure(&key, first.clone().unwrap()));
        assert!(!store.apply(&assigned, &none).await);
        assert!(store.note_open_failure(&key, "another error".into()));
        // Unblocked, the log opens and the failure is forgotten.
        std::fs::remove_file(root.join("blocked-0")).unwrap();
        assert!(store.apply(&assigned, &none).await);
        assert!(lock(&store.open_failures).is_empty());
        // A failure of a replica no longer assigned is dropped with it.
        std::fs::write(root.join("gone-0"), b"x").unwrap();
        assert!(!store.apply(&map(&[replica("gone", 1)]), &none).await);
        assert!(store.apply(&BTreeMap::new(), &none).await);
        assert!(lock(&store.open_failures).is_empty());
    }

    #[tokio::test]
    async fn many_logs_open_side_by_side_and_one_failure_spoils_none_of_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spu-1");
        std::fs::create_dir_all(&root).unwrap();
        let count = 3 * OPEN_CONCURRENTLY as u32 + 5;
        let assigned: BTreeMap<ReplicaKey, Replica> = (0..count)
            .map(|partition| {
                let mut r = replica("wide", 1);
                r.key = ReplicaKey::new("wide", partition);
                (r.key.clone(), r)
            })
            .collect();
        // One partition in the middle cannot open: a file where its directory goes.
        std::fs::write(root.join("wide-20"), b"not a directory").unwrap();
        let store = ReplicaStore::new(1, root.clone(), FlushPolicy::Never);
        let none = BTreeSet::new();
        assert!(!store.apply(&assigned, &none).await);
        let open: Vec<u32> = (0..count)
            .filter(|&p| store.leader("wide", p).is_ok())
            .collect();
        assert_eq!(open.len() as u32, count - 1, "every other log opened");
        assert!(!open.contains(&20));
        assert!(lock(&store.open_failures).contains_key(&ReplicaKey::new("wide", 20)));
        std::fs::remove_file(root.join("wide-20")).unwrap();
        assert!(store.apply(&assigned, &none).await);
        assert!((0..count).all(|p| store.leader("wide", p).is_ok()));
        assert!(lock(&store.open_failures).is_empty());
    }

    fn replica(topic: &str, leader: SpuId) -> Replica {
        Replica {
            key: ReplicaKey::new(topic, 0),
            leader,
            replicas: vec![leader],
            ..Default::default()
        }
    }

    fn map(replicas: &[Replica]) -> BTreeMap<ReplicaKey, Replica> {
        replicas
            .iter()
            .map(|r| (r.key.clone(), r.clone()))
            .collect()
    }

    #[tokio::test]
    async fn requests_wait_for_a_replica_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReplicaStore::new(1, dir.path().join("spu-1"), FlushPolicy::Never);
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(store.clone().reconcile(shutdown));
        let waiting = {
            let store = store.clone();
            tokio::spawn(async move { store.wait_leader("a", 0, Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        store.assign(map(&[replica("a", 1)]));
        assert!(waiting.await.unwrap().is_ok());
        let missing = store
            .wait_leader("nope", 0, Duration::from_millis(10))
            .await;
        assert_eq!(missing.err(), Some(Lookup::NotHosted));
    }

    #[tokio::test]
    async fn retention_follows_the_topic_limits() {
        use protocol::record::{Batch, Record};
        let dir = tempfile::tempdir().unwrap();
        let store = ReplicaStore::new(1, dir.path().join("spu-1"), FlushPolicy::Never);
        let mut limited = replica("small", 1);
        limited.segment_size = Some(1024);
        limited.max_partition_size = Some(2048);
        assert!(store.apply(&map(&[limited]), &BTreeSet::new()).await);
        let p = store.leader("small", 0).unwrap();
        for _ in 0..40 {
            let batch = Batch::from_records([Record::new(vec![b'x'; 200])]);
            p.append(bytes::BytesMut::from(&batch.encode().unwrap()[..]))
                .await
                .unwrap();
        }
        assert!(p.offsets().unwrap().log_start == 0);
        let reported = store.offsets_changed();
        assert!(store.enforce_retention().await > 0);
        let offsets = p.offsets().unwrap();
        assert!(offsets.log_start > 0, "{offsets:?}");
        assert_eq!(offsets.leo, 40);
        assert!(p.report().unwrap().size <= 2048 + 1024);
        reported.await;
    }

    #[test]
    fn plan_opens_updates_and_deletes() {
        let open = map(&[replica("a", 1), replica("b", 1)]);
        let assigned = map(&[replica("b", 2), replica("c", 1)]);
        let plan = plan(&open, &assigned);
        assert_eq!(plan.open, vec![replica("c", 1)]);
        assert_eq!(plan.update, vec![replica("b", 2)]);
        assert_eq!(plan.delete, vec![ReplicaKey::new("a", 0)]);
        assert_eq!(super::plan(&assigned, &assigned), Plan::default());
    }

    #[tokio::test]
    async fn assignment_opens_and_deletes_logs() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReplicaStore::new(1, dir.path().join("spu-1"), FlushPolicy::Never);
        let none = BTreeSet::new();
        assert!(
            store
                .apply(&map(&[replica("a", 1), replica("b", 2)]), &none)
                .await
        );
        assert!(store.replica_dir(&ReplicaKey::new("a", 0)).is_dir());
        assert!(store.leader("a", 0).is_ok());
        assert_eq!(store.leader("b", 0).err(), Some(Lookup::NotLeader));
        assert_eq!(store.leader("zz", 0).err(), Some(Lookup::NotHosted));
        assert_eq!(store.reports().len(), 1, "only led replicas are reported");

        let a = store.leader("a", 0).unwrap();
        assert!(store.apply(&map(&[replica("b", 2)]), &none).await);
        assert!(a.is_closed());
        assert!(!store.replica_dir(&ReplicaKey::new("a", 0)).exists());
        assert!(store.get(&ReplicaKey::new("a", 0)).is_none());

        // Removed and assigned again before the reconciler ran: the old log still goes.
        let b = store.get(&ReplicaKey::new("b", 0)).unwrap();
        store.assign(map(&[replica("b", 2)]));
        store.assign(map(&[]));
        store.assign(map(&[replica("b", 2)]));
        let (assigned, removed) = store.take_pending();
        assert!(store.apply(&assigned, &removed).await);
        assert!(b.is_closed());
        assert!(!Arc::ptr_eq(
            &b,
            &store.get(&ReplicaKey::new("b", 0)).unwrap()
        ));

        store.close_all().await;
        assert!(store.get(&ReplicaKey::new("b", 0)).is_none());
        assert!(
            store.replica_dir(&ReplicaKey::new("b", 0)).is_dir(),
            "close keeps data"
        );
    }
}
