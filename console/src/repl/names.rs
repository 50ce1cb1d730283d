//! The cluster's live names for completion: topics, partitions and SPUs from the client's
//! metadata watch, auth tokens from a watch of their own, so names created or deleted
//! elsewhere show up while the prompt waits; consumers (with committed offsets) as of the
//! last line.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use protocol::sc::{AuthTokenSpec, MessageType};

use super::complete::{NameKind, NameSource};
use crate::client::Fluvio;
use crate::command::Context;

/// Shared between the session (which refreshes it) and the line editor's completer.
#[derive(Default)]
pub struct LiveNames {
    state: Arc<RwLock<State>>,
    refreshing: AtomicBool,
}

#[derive(Default)]
struct State {
    /// The cluster these names are from.
    addr: String,
    fluvio: Option<Fluvio>,
    /// Token names, kept by the watch; `None` until it runs (or after it ended).
    tokens: Option<BTreeSet<String>>,
    /// Consumers with committed offsets, as of the last refresh (no watch exists for
    /// them: the leader of `consumer-offset-0` is asked after every line).
    consumers: BTreeSet<String>,
}

impl LiveNames {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Connect if need be and follow the token names, in the background: completion uses
    /// whatever is there, and a cluster that is down only means fewer candidates.
    pub fn refresh_in_background(self: &Arc<Self>, ctx: Arc<Context>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let names = Arc::clone(self);
        tokio::spawn(async move {
            names.refresh(&ctx).await;
            names.refreshing.store(false, Ordering::Release);
        });
    }

    /// Connect if need be (through `ctx`, which keeps the connection and makes it again
    /// when it was lost) and start following the tokens unless that is running already.
    pub async fn refresh(&self, ctx: &Context) {
        let addr = ctx.target().addr.clone();
        let Ok(fluvio) = ctx.fluvio().await else {
            return;
        };
        let follow_tokens = {
            let mut state = write(&self.state);
            if state.addr != addr {
                *state = State {
                    addr: addr.clone(),
                    ..State::default()
                };
            }
            state.fluvio = Some(fluvio.clone());
            state.tokens.is_none()
        };
        if let Ok(offsets) = fluvio.consumer_offsets(None, None).await {
            let mut state = write(&self.state);
            if state.addr == addr {
                state.consumers = offsets.into_iter().map(|o| o.consumer_id).collect();
            }
        }
        if !follow_tokens {
            return;
        }
        let Ok(mut watch) = fluvio.admin().watch::<AuthTokenSpec>().await else {
            return;
        };
        write(&self.state).tokens = Some(BTreeSet::new());
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let update = watch.next().await;
                let mut state = write(&state);
                if state.addr != addr {
                    return;
                }
                let Ok(update) = update else {
                    // The connection is gone: the next refresh starts again.
                    state.tokens = None;
                    return;
                };
                let tokens = state.tokens.get_or_insert_with(BTreeSet::new);
                if first || !update.all.is_empty() {
                    *tokens = update.all.into_iter().map(|t| t.name).collect();
                    first = false;
                }
                for change in update.changes {
                    match change.header {
                        MessageType::Update => tokens.insert(change.content.name),
                        MessageType::Delete => tokens.remove(&change.content.name),
                    };
                }
            }
        });
    }

    /// Forget the names of the cluster the session has left.
    pub fn clear(&self) {
        *write(&self.state) = State::default();
    }
}

fn write(state: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|p| p.into_inner())
}

impl NameSource for LiveNames {
    fn names(&self, kind: &NameKind) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        match kind {
            NameKind::Token => return state.tokens.iter().flatten().cloned().collect(),
            NameKind::Consumer => return state.consumers.iter().cloned().collect(),
            _ => {}
        }
        let Some(fluvio) = state.fluvio.as_ref() else {
            return Vec::new();
        };
        let metadata = fluvio.metadata();
        match kind {
            // System topics are the cluster's own: not offered, as `topic list` hides them.
            NameKind::Topic => metadata
                .topics()
                .into_iter()
                .filter(|t| !t.spec.system)
                .map(|t| t.name)
                .collect(),
            NameKind::Partition { topic } => {
                let mut numbers: Vec<u32> = metadata
                    .partitions()
                    .into_iter()
                    .filter_map(|p| partition_number(&p.name, topic.as_deref()))
                    .collect();
                numbers.sort_unstable();
                numbers.dedup();
                numbers.into_iter().map(|n| n.to_string()).collect()
            }
            NameKind::SpuId => metadata
                .spus()
                .into_iter()
                .map(|s| s.spec.id.to_string())
                .collect(),
            NameKind::SpuName => metadata.spus().into_iter().map(|s| s.name).collect(),
            NameKind::SpuAddr => metadata
                .spus()
                .into_iter()
                .map(|s| s.spec.public_endpoint.addr())
                .collect(),
            NameKind::Token | NameKind::Consumer => Vec::new(),
        }
    }
}

/// `orders-2` → 2 when it is a partition of `topic` (of any topic when `None`).
pub fn partition_number(name: &str, topic: Option<&str>) -> Option<u32> {
    let (of, number) = name.rsplit_once('-')?;
    if topic.is_some_and(|t| t != of) {
        return None;
    }
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_numbers_by_topic() {
        assert_eq!(partition_number("orders-2", Some("orders")), Some(2));
        assert_eq!(partition_number("my-topic-10", Some("my-topic")), Some(10));
        assert_eq!(partition_number("my-topic-10", Some("topic")), None);
        assert_eq!(partition_number("a-1", None), Some(1));
        assert_eq!(partition_number("nodash", None), None);
    }

    #[test]
    fn no_cluster_no_names() {
        let names = LiveNames::new();
        assert!(names.names(&NameKind::Topic).is_empty());
        assert!(names.names(&NameKind::Token).is_empty());
    }
}
