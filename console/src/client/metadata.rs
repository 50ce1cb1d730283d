//! A live copy of the SC's topics, partitions and SPUs, kept current by three watches.
//! Producers and consumers ask it where partitions lead.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use protocol::sc::{
    Message, MessageType, Metadata, MetadataUpdate, ObjectSpec, PartitionSpec, SpuId, SpuSpec,
    TopicSpec,
};
use tokio::sync::watch;

use super::admin::{Admin, WatchStream};
use super::error::{ClientError, Peer};

/// How long a lookup waits for the first snapshot of a store.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

type Store<S> = Option<HashMap<String, Metadata<S>>>;

#[derive(Default)]
struct State {
    topics: Store<TopicSpec>,
    partitions: Store<PartitionSpec>,
    spus: Store<SpuSpec>,
    /// Set when a watch ended: the SC connection is gone.
    lost: bool,
}

/// Shared, cheap to clone. The watch tasks stop when the SC connection closes.
#[derive(Clone)]
pub struct MetadataCache {
    state: Arc<RwLock<State>>,
    /// Bumped after every applied update, so waiters can wake and look again.
    changes: watch::Sender<u64>,
    addr: String,
}

/// Where a partition is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRoute {
    pub leader: SpuId,
    pub leader_addr: String,
}

impl MetadataCache {
    /// Start the three watches on `admin`'s connection.
    pub async fn start(admin: &Admin) -> Result<MetadataCache, ClientError> {
        let (changes, _) = watch::channel(0);
        let cache = MetadataCache {
            state: Arc::new(RwLock::new(State::default())),
            changes,
            addr: admin.addr().to_string(),
        };
        cache.follow(admin.watch::<TopicSpec>().await?, |s| &mut s.topics);
        cache.follow(admin.watch::<PartitionSpec>().await?, |s| &mut s.partitions);
        cache.follow(admin.watch::<SpuSpec>().await?, |s| &mut s.spus);
        Ok(cache)
    }

    fn follow<S: ObjectSpec + Send + Sync + 'static>(
        &self,
        mut stream: WatchStream<S>,
        store: fn(&mut State) -> &mut Store<S>,
    ) where
        S::Status: Send + Sync,
    {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                match stream.next().await {
                    Ok(update) => {
                        apply(store(&mut write(&cache.state)), update);
                        cache.changes.send_modify(|n| *n += 1);
                    }
                    Err(err) => {
                        tracing::debug!("metadata watch for {} ended: {err}", S::LABEL);
                        write(&cache.state).lost = true;
                        cache.changes.send_modify(|n| *n += 1);
                        return;
                    }
                }
            }
        });
    }

    /// Wait until `probe` answers `Some` (after each applied update), up to `timeout`.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        probe: impl Fn(&State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let mut rx = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let state = read(&self.state);
                if let Some(found) = probe(&state) {
                    return Ok(found);
                }
                if state.lost {
                    return Err(ClientError::ConnectionLost {
                        peer: Peer::Sc,
                        addr: self.addr.clone(),
                        hint: super::error::hint_for(Peer::Sc),
                    });
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(ClientError::NotFound(format!(
                        "{what} did not appear in the SC's metadata within {} s",
                        timeout.as_secs()
                    )));
                }
            }
        }
    }

    /// The topic, once the topic store has its first snapshot; `None` if it does not exist.
    pub async fn topic(&self, name: &str) -> Result<Option<Metadata<TopicSpec>>, ClientError> {
        self.wait_for(METADATA_TIMEOUT, "the topic list", |s| {
            s.topics.as_ref().map(|topics| topics.get(name).cloned())
        })
        .await
    }

    /// The leader of `topic`-`partition` and its public address, waiting (up to `timeout`)
    /// for the partition and its SPU to show up, as they do just after a topic is created.
    pub async fn route(
        &self,
        topic: &str,
        partition: u32,
        timeout: Duration,
    ) -> Result<PartitionRoute, ClientError> {
        let name = protocol::sc::partition_name(topic, partition);
        self.wait_for(timeout, &format!("partition {name}"), |s| {
            let leader = s.partitions.as_ref()?.get(&name)?.spec.leader;
            let spu = s
                .spus
                .as_ref()?
                .values()
                .find(|spu| spu.spec.id == leader)?;
            Some(PartitionRoute {
                leader,
                leader_addr: spu.spec.public_endpoint.addr(),
            })
        })
        .await
    }

    /// Subscribe to "something changed" notifications.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A copy of every SPU known now.
    pub fn spus(&self) -> Vec<Metadata<SpuSpec>> {
        read(&self.state)
            .spus
            .as_ref()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A copy of every topic known now.
    pub fn topics(&self) -> Vec<Metadata<TopicSpec>> {
        read(&self.state)
            .topics
            .as_ref()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A copy of every partition known now.
    pub fn partitions(&self) -> Vec<Metadata<PartitionSpec>> {
        read(&self.state)
            .partitions
            .as_ref()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Apply one watch frame: a non-empty `all` (or the first frame) replaces the store, else
/// the changes are applied in order.
fn apply<S: ObjectSpec>(store: &mut Store<S>, update: MetadataUpdate<S>) {
    if !update.all.is_empty() || store.is_none() {
        let mut fresh: HashMap<String, Metadata<S>> = update
            .all
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        apply_changes(&mut fresh, update.changes);
        *store = Some(fresh);
    } else if let Some(map) = store.as_mut() {
        apply_changes(map, update.changes);
    }
}

fn apply_changes<S: ObjectSpec>(map: &mut HashMap<String, Metadata<S>>, changes: Vec<Message<S>>) {
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
    use protocol::sc::TopicStatus;

    fn topic(name: &str) -> Metadata<TopicSpec> {
        Metadata::new(name, TopicSpec::default(), TopicStatus::default())
    }

    #[test]
    fn first_frame_initialises_even_when_empty_then_changes_apply() {
        let mut store: Store<TopicSpec> = None;
        apply(&mut store, MetadataUpdate::snapshot(1, vec![]));
        assert_eq!(store.as_ref().map(|m| m.len()), Some(0));
        apply(
            &mut store,
            MetadataUpdate::changes(
                2,
                vec![Message::update(topic("a")), Message::update(topic("b"))],
            ),
        );
        apply(
            &mut store,
            MetadataUpdate::changes(3, vec![Message::delete(topic("a"))]),
        );
        let names: Vec<_> = store.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(names, vec!["b".to_string()]);
        // A later full snapshot replaces everything.
        apply(&mut store, MetadataUpdate::snapshot(4, vec![topic("c")]));
        assert!(store.as_ref().unwrap().contains_key("c"));
        assert!(!store.as_ref().unwrap().contains_key("b"));
    }
}
