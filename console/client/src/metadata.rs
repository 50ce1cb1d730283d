//! A live copy of the SC's topics, partitions and SPUs, kept current by three watches.
//! Producers and consumers ask it where partitions lead.
//!
//! One task follows the SC for as long as a clone of the cache lives. When the connection
//! drops, the cache says so (the copy stays readable, but may be stale) and the task
//! connects again, pausing longer after each failure. A new connection's first snapshots
//! replace the stores whole, so objects deleted while the SC was away disappear.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use protocol::sc::{
    Message, MessageType, Metadata, MetadataUpdate, ObjectSpec, PartitionSpec, SpuId, SpuSpec,
    TopicResolution, TopicSpec,
};
use tokio::sync::{oneshot, watch};

use super::admin::{Admin, WatchStream};
use super::error::{ClientError, Peer};
use super::tls::ClientTls;

/// How long a lookup waits for what it asks for, and a new connection for its snapshots.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before the first attempt to reach a lost SC: a restart is noticed quickly.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between attempts: a long outage costs one connection attempt per
/// pause, not a busy loop.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

type Store<S> = HashMap<String, Metadata<S>>;

struct State {
    topics: Store<TopicSpec>,
    partitions: Store<PartitionSpec>,
    spus: Store<SpuSpec>,
    /// The connection the stores follow; a new one after the SC was lost and reached again.
    admin: Admin,
    /// Which connection `admin` is: one more with each, so watches of their own (the
    /// TUI's) can tell they must start again.
    connection: u64,
    /// Why the SC connection is gone, while the cache tries to make it again.
    lost: Option<ClientError>,
}

struct Shared {
    addr: String,
    /// How every connection of this cluster is secured (the SC's and the SPUs').
    tls: ClientTls,
    state: RwLock<State>,
    /// Bumped after every applied update, loss and reconnection, so waiters can wake and
    /// look again.
    changes: watch::Sender<u64>,
}

impl Shared {
    /// Change the state, then wake everyone who waits for a change.
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut write(&self.state));
        self.changes.send_modify(|n| *n += 1);
    }
}

/// Shared, cheap to clone. The task following the SC ends with the last clone.
#[derive(Clone)]
pub struct MetadataCache {
    shared: Arc<Shared>,
    /// Held by the clones only: when the last one goes, the follower task sees the channel
    /// close and ends instead of reconnecting for nobody.
    _stop: Arc<oneshot::Sender<()>>,
}

/// Where a partition is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRoute {
    pub leader: SpuId,
    pub leader_addr: String,
}

impl MetadataCache {
    /// Connect to the SC at `addr`, take the first snapshot of each store and follow them.
    pub async fn connect(addr: &str) -> Result<MetadataCache, ClientError> {
        Self::connect_with(addr, &ClientTls::disabled()).await
    }

    /// [`MetadataCache::connect`] with TLS per `tls`.
    pub async fn connect_with(addr: &str, tls: &ClientTls) -> Result<MetadataCache, ClientError> {
        let (admin, watches, snapshot) = open(addr, tls).await?;
        let mut state = State {
            topics: Store::new(),
            partitions: Store::new(),
            spus: Store::new(),
            admin,
            connection: 1,
            lost: None,
        };
        snapshot.replace(&mut state);
        let (changes, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            tls: tls.clone(),
            state: RwLock::new(state),
            changes,
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(follow(Arc::clone(&shared), watches, stopped));
        Ok(MetadataCache {
            shared,
            _stop: Arc::new(stop),
        })
    }

    /// The SC's address, as given to [`MetadataCache::connect`].
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// How this cluster's connections are secured.
    pub fn tls(&self) -> &ClientTls {
        &self.shared.tls
    }

    /// The admin connection the stores follow: after the SC was lost and reached again,
    /// the new one.
    pub fn admin(&self) -> Admin {
        read(&self.shared.state).admin.clone()
    }

    /// `Err` with why while the SC connection is gone (the cache is reconnecting), for
    /// callers that would rather fail now than wait for the SC to come back.
    pub fn check_connected(&self) -> Result<(), ClientError> {
        match &read(&self.shared.state).lost {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// The current connection and its number, once there is one other than `seen`: for
    /// watches of their own (the TUI's auth tokens) that must start again on each new
    /// connection.
    pub async fn connection_after(&self, seen: Option<u64>) -> (u64, Admin) {
        let mut rx = self.shared.changes.subscribe();
        loop {
            {
                let state = read(&self.shared.state);
                if state.lost.is_none() && Some(state.connection) != seen {
                    return (state.connection, state.admin.clone());
                }
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: this cannot happen. Wait for ever
                // rather than spin.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Wait until `probe` answers `Some` (after each applied update), up to `timeout`.
    /// While the SC is away the wait goes on: the answer may come with the snapshots of
    /// the next connection. At the deadline, a lost connection is the error; otherwise
    /// the topic (or the partition, when given) did not show up.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        topic: &str,
        partition: Option<u32>,
        probe: impl Fn(&State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let mut rx = self.shared.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = probe(&read(&self.shared.state)) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    if let Some(why) = &read(&self.shared.state).lost {
                        return Err(why.clone());
                    }
                    return Err(ClientError::MetadataTimeout {
                        topic: topic.to_string(),
                        partition,
                        timeout,
                    });
                }
            }
        }
    }

    /// The topic, or `None` if it does not exist. While the SC is away, a topic missing
    /// from the (maybe stale) copy is waited for, up to [`METADATA_TIMEOUT`].
    pub async fn topic(&self, name: &str) -> Result<Option<Metadata<TopicSpec>>, ClientError> {
        self.wait_for(METADATA_TIMEOUT, name, None, |s| match s.topics.get(name) {
            Some(topic) => Some(Some(topic.clone())),
            None if s.lost.is_some() => None,
            None => Some(None),
        })
        .await
    }

    /// The leader of `topic`-`partition` and its public address, waiting (up to `timeout`)
    /// for the partition and its SPU to show up, as they do just after a topic is created.
    /// While the SC is away the last known leader answers: it may well still lead.
    pub async fn route(
        &self,
        topic: &str,
        partition: u32,
        timeout: Duration,
    ) -> Result<PartitionRoute, ClientError> {
        let name = protocol::sc::partition_name(topic, partition);
        self.wait_for(timeout, topic, Some(partition), |s| {
            if let Some(unplaced) = s.topics.get(topic).and_then(not_provisioned) {
                return Some(Err(unplaced));
            }
            let leader = s.partitions.get(&name)?.spec.leader;
            let spu = s.spus.values().find(|spu| spu.spec.id == leader)?;
            Some(Ok(PartitionRoute {
                leader,
                leader_addr: spu.spec.public_endpoint.addr(),
            }))
        })
        .await?
    }

    /// Subscribe to "something changed" notifications: updates, the loss of the SC and
    /// a new connection.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// A copy of every SPU known now.
    pub fn spus(&self) -> Vec<Metadata<SpuSpec>> {
        read(&self.shared.state).spus.values().cloned().collect()
    }

    /// A copy of every topic known now.
    pub fn topics(&self) -> Vec<Metadata<TopicSpec>> {
        read(&self.shared.state).topics.values().cloned().collect()
    }

    /// A copy of every partition known now.
    pub fn partitions(&self) -> Vec<Metadata<PartitionSpec>> {
        read(&self.shared.state)
            .partitions
            .values()
            .cloned()
            .collect()
    }
}

/// Why a topic has no partitions to route to, when the SC could not place it: then no
/// leader will show up until the cluster changes, and producers and consumers fail at once
/// with the SC's reason instead of waiting for one.
pub fn not_provisioned(topic: &Metadata<TopicSpec>) -> Option<ClientError> {
    match topic.status.resolution {
        resolution @ (TopicResolution::InsufficientResources | TopicResolution::InvalidConfig) => {
            Some(ClientError::TopicNotProvisioned {
                topic: topic.name.clone(),
                resolution,
                reason: topic.status.reason.clone(),
            })
        }
        _ => None,
    }
}

/// One connection's three watches.
struct Watches {
    topics: WatchStream<TopicSpec>,
    partitions: WatchStream<PartitionSpec>,
    spus: WatchStream<SpuSpec>,
}

impl Watches {
    /// Apply updates as they come, until a watch fails: the connection is gone, or sent
    /// what cannot be read.
    async fn follow(&mut self, shared: &Shared) -> ClientError {
        loop {
            let applied = tokio::select! {
                update = self.topics.next() => {
                    update.map(|u| shared.update(|s| apply(&mut s.topics, u)))
                }
                update = self.partitions.next() => {
                    update.map(|u| shared.update(|s| apply(&mut s.partitions, u)))
                }
                update = self.spus.next() => {
                    update.map(|u| shared.update(|s| apply(&mut s.spus, u)))
                }
            };
            if let Err(err) = applied {
                return err;
            }
        }
    }
}

/// The first frame of each watch of a new connection: everything the SC holds now.
struct Snapshot {
    topics: MetadataUpdate<TopicSpec>,
    partitions: MetadataUpdate<PartitionSpec>,
    spus: MetadataUpdate<SpuSpec>,
}

impl Snapshot {
    /// Replace the stores whole, so nothing survives that the SC no longer holds.
    fn replace(self, state: &mut State) {
        state.topics = snapshot(self.topics);
        state.partitions = snapshot(self.partitions);
        state.spus = snapshot(self.spus);
    }
}

/// Connect (the handshake every admin connection makes), start the three watches and read
/// their first frames.
async fn open(addr: &str, tls: &ClientTls) -> Result<(Admin, Watches, Snapshot), ClientError> {
    let admin = Admin::connect_with(addr, tls).await?;
    let mut watches = Watches {
        topics: admin.watch::<TopicSpec>().await?,
        partitions: admin.watch::<PartitionSpec>().await?,
        spus: admin.watch::<SpuSpec>().await?,
    };
    let first = async {
        tokio::try_join!(
            watches.topics.next(),
            watches.partitions.next(),
            watches.spus.next()
        )
    };
    let (topics, partitions, spus) = tokio::time::timeout(METADATA_TIMEOUT, first)
        .await
        .map_err(|_| ClientError::Timeout {
            peer: Peer::Sc,
            addr: addr.to_string(),
            secs: METADATA_TIMEOUT.as_secs(),
        })??;
    let snapshot = Snapshot {
        topics,
        partitions,
        spus,
    };
    Ok((admin, watches, snapshot))
}

/// Follow the SC until `stop` closes: apply updates, and when the connection is lost, say
/// so and make it again.
async fn follow(shared: Arc<Shared>, mut watches: Watches, mut stop: oneshot::Receiver<()>) {
    loop {
        let why = tokio::select! {
            _ = &mut stop => return,
            why = watches.follow(&shared) => why,
        };
        tracing::debug!(sc = %shared.addr, %why, "lost the SC; reconnecting");
        shared.update(|state| state.lost = Some(why));
        watches = tokio::select! {
            _ = &mut stop => return,
            watches = reconnect(&shared) => watches,
        };
        tracing::debug!(sc = %shared.addr, "reconnected to the SC");
    }
}

/// Try to reach the SC again, pausing longer after each failure, until it answers; then
/// put the new connection and its snapshots in place of the old.
async fn reconnect(shared: &Shared) -> Watches {
    let mut backoff = Backoff::default();
    loop {
        tokio::time::sleep(backoff.next_pause()).await;
        match open(&shared.addr, &shared.tls).await {
            Ok((admin, watches, snapshot)) => {
                shared.update(|state| {
                    snapshot.replace(state);
                    state.admin = admin;
                    state.connection += 1;
                    state.lost = None;
                });
                return watches;
            }
            Err(err) => tracing::debug!(sc = %shared.addr, %err, "the SC is still away"),
        }
    }
}

/// The pauses between attempts to reach a lost SC: [`RECONNECT_FIRST`], doubling after
/// each failure, at most [`RECONNECT_MAX`].
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: RECONNECT_FIRST,
        }
    }
}

impl Backoff {
    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(RECONNECT_MAX);
        pause
    }
}

/// A watch's first frame as a whole store.
fn snapshot<S: ObjectSpec>(update: MetadataUpdate<S>) -> Store<S> {
    let mut fresh: Store<S> = update
        .all
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    apply_changes(&mut fresh, update.changes);
    fresh
}

/// Apply a later watch frame: a non-empty `all` replaces the store, else the changes are
/// applied in order.
fn apply<S: ObjectSpec>(store: &mut Store<S>, update: MetadataUpdate<S>) {
    if update.all.is_empty() {
        apply_changes(store, update.changes);
    } else {
        *store = snapshot(update);
    }
}

fn apply_changes<S: ObjectSpec>(map: &mut Store<S>, changes: Vec<Message<S>>) {
    for change in changes {
        match change.header {
            MessageType::Update => {
                map.insert(change.content.name.clone(), change.content);
            }
            MessageType::Delete => {
                map.remove(&change.content.name);
            }
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::ApiVersionsResponse;
    use protocol::sc::{
        ObjectWatchRequest, ObjectWatchResponse, ScRequest, ScResponse, TopicStatus,
    };
    use tokio::net::{TcpSocket, TcpStream};
    use tokio::task::{JoinHandle, JoinSet};

    fn topic(name: &str) -> Metadata<TopicSpec> {
        Metadata::new(name, TopicSpec::default(), TopicStatus::default())
    }

    #[test]
    fn a_first_frame_is_the_whole_store_and_later_changes_apply_in_order() {
        let mut store = snapshot(MetadataUpdate::snapshot(2, vec![]));
        assert!(store.is_empty());
        apply(
            &mut store,
            MetadataUpdate::changes(
                3,
                vec![Message::update(topic("a")), Message::update(topic("b"))],
            ),
        );
        apply(
            &mut store,
            MetadataUpdate::changes(4, vec![Message::delete(topic("a"))]),
        );
        let names: Vec<_> = store.keys().cloned().collect();
        assert_eq!(names, vec!["b".to_string()]);
        // A later full snapshot replaces everything.
        apply(&mut store, MetadataUpdate::snapshot(5, vec![topic("c")]));
        assert!(store.contains_key("c"));
        assert!(!store.contains_key("b"));
    }

    #[test]
    fn reconnect_pauses_double_from_100_ms_up_to_2_s() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..8)
            .map(|_| backoff.next_pause().as_millis() as u64)
            .collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    /// An SC that answers ApiVersions and watches (a snapshot of its topics, no partitions,
    /// no SPUs) and then stays quiet. `kill` drops its listener and every connection at
    /// once, as kill -9 would; `restart` serves again on the same address.
    struct FakeSc {
        addr: String,
        topics: Arc<std::sync::Mutex<Vec<String>>>,
        server: Option<JoinHandle<()>>,
    }

    impl FakeSc {
        async fn start(topics: &[&str]) -> FakeSc {
            let mut sc = FakeSc {
                addr: "127.0.0.1:0".to_string(),
                topics: Arc::default(),
                server: None,
            };
            sc.set_topics(topics);
            sc.restart();
            sc
        }

        fn set_topics(&self, topics: &[&str]) {
            *self.topics.lock().unwrap() = topics.iter().map(|t| t.to_string()).collect();
        }

        fn kill(&mut self) {
            if let Some(server) = self.server.take() {
                server.abort();
            }
        }

        fn restart(&mut self) {
            let socket = TcpSocket::new_v4().unwrap();
            // The killed server's side of its connections may linger in TIME_WAIT.
            socket.set_reuseaddr(true).unwrap();
            socket.bind(self.addr.parse().unwrap()).unwrap();
            let listener = socket.listen(16).unwrap();
            self.addr = listener.local_addr().unwrap().to_string();
            let topics = Arc::clone(&self.topics);
            self.server = Some(tokio::spawn(async move {
                // Dropped with the server task: every connection closes with it.
                let mut connections = JoinSet::new();
                while let Ok((conn, _)) = listener.accept().await {
                    connections.spawn(answer(conn, Arc::clone(&topics)));
                }
            }));
        }
    }

    async fn answer(conn: TcpStream, topics: Arc<std::sync::Mutex<Vec<String>>>) {
        crate::fake_sc::serve(conn, |request| {
            Some(match request {
                ScRequest::ApiVersions(_) => ScResponse::ApiVersions(ApiVersionsResponse::sc()),
                ScRequest::Watch(ObjectWatchRequest::Topic(_)) => {
                    let all = topics.lock().unwrap().iter().map(|t| topic(t)).collect();
                    ScResponse::Watch(ObjectWatchResponse::Topic(MetadataUpdate::snapshot(1, all)))
                }
                ScRequest::Watch(ObjectWatchRequest::Partition(_)) => ScResponse::Watch(
                    ObjectWatchResponse::Partition(MetadataUpdate::snapshot(1, vec![])),
                ),
                ScRequest::Watch(ObjectWatchRequest::Spu(_)) => ScResponse::Watch(
                    ObjectWatchResponse::Spu(MetadataUpdate::snapshot(1, vec![])),
                ),
                _ => return None,
            })
        })
        .await
    }

    fn names(cache: &MetadataCache) -> Vec<String> {
        let mut names: Vec<String> = cache.topics().into_iter().map(|t| t.name).collect();
        names.sort();
        names
    }

    /// Wait (with a deadline against hanging) until `done` holds after a change.
    async fn wait_until(cache: &MetadataCache, what: &str, done: impl Fn() -> bool) {
        let mut changes = cache.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !done() {
                changes.changed().await.unwrap();
            }
        });
        waited.await.unwrap_or_else(|_| panic!("never {what}"));
    }

    #[tokio::test]
    async fn a_lost_sc_is_reported_then_its_fresh_snapshots_replace_the_stores() {
        let mut sc = FakeSc::start(&["a", "b"]).await;
        let cache = MetadataCache::connect(&sc.addr).await.unwrap();
        assert_eq!(names(&cache), ["a", "b"]);
        assert!(cache.check_connected().is_ok());

        sc.kill();
        wait_until(&cache, "lost", || cache.check_connected().is_err()).await;
        let err = cache.check_connected().unwrap_err();
        assert!(matches!(err, ClientError::ConnectionLost { .. }), "{err}");
        // The copy stays readable while the SC is away.
        assert_eq!(names(&cache), ["a", "b"]);

        // While the cache cannot see it, "a" is deleted and "c" created.
        sc.set_topics(&["b", "c"]);
        sc.restart();
        wait_until(&cache, "reconnected", || cache.check_connected().is_ok()).await;
        assert_eq!(names(&cache), ["b", "c"]);
        let (connection, admin) = cache.connection_after(Some(1)).await;
        assert_eq!(connection, 2);
        assert!(admin.socket().is_open());
        assert!(cache.admin().socket().is_open());
    }

    #[tokio::test]
    async fn lookups_wait_through_a_reconnect_and_fail_as_lost_at_their_deadline() {
        let mut sc = FakeSc::start(&["a"]).await;
        let cache = MetadataCache::connect(&sc.addr).await.unwrap();
        sc.kill();
        wait_until(&cache, "lost", || cache.check_connected().is_err()).await;

        // The SC stays away past the lookup's deadline: the lost connection is the error.
        let err = cache
            .route("a", 0, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::ConnectionLost { .. }), "{err}");

        // A topic missing from the stale copy is waited for, not denied: it arrives with
        // the next connection's snapshot.
        let (found, ()) = tokio::join!(cache.topic("late"), async {
            sc.set_topics(&["a", "late"]);
            sc.restart();
        });
        assert_eq!(found.unwrap().map(|t| t.name), Some("late".to_string()));
        // Connected again, a missing topic is an answer at once.
        assert!(cache.topic("never").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_follower_task_ends_with_the_last_clone() {
        for kill_first in [false, true] {
            let mut sc = FakeSc::start(&[]).await;
            let cache = MetadataCache::connect(&sc.addr).await.unwrap();
            if kill_first {
                sc.kill();
                wait_until(&cache, "lost", || cache.check_connected().is_err()).await;
            }
            let clone = cache.clone();
            // The follower task holds the shared state; nothing else does once the clones
            // are gone.
            let shared = Arc::downgrade(&cache.shared);
            drop(cache);
            assert!(clone.check_connected().is_ok() != kill_first);
            drop(clone);
            let ended = tokio::time::timeout(Duration::from_secs(20), async {
                while shared.upgrade().is_some() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            ended.await.unwrap_or_else(|_| {
                panic!("the follower task outlived the cache (killed first: {kill_first})")
            });
        }
    }
}
