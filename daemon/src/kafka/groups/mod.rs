//! Kafka consumer groups: the group coordinator and its APIs, one file each.
//!
//! Placement: Kafka puts a group's coordinator on the leader of partition
//! `hash(group id) % partitions` of `__consumer_offsets`; here offsets live in the system
//! topic `consumer-offset`, which has one partition, so every group's coordinator is the
//! leader of `consumer-offset-0` (the SPU the control stream names), and FindCoordinator
//! answers that SPU's Kafka address. Another SPU answers group requests with
//! NOT_COORDINATOR, which sends clients back to FindCoordinator.
//!
//! Membership ([`state`]) is kept in memory by the coordinator, as Kafka rebuilds it too
//! when members rejoin a new coordinator. Committed offsets are what must survive: they
//! are records of `consumer-offset` (replicated, acknowledged once the in-sync replicas
//! have them, rebuilt by a new leader from its log; see [`crate::spu::offsets`]), under
//! the group id as consumer id, in Fluvio's meaning (the last record processed), so a
//! Kafka group and a Fluvio consumer of the same name resume at the same place: Kafka's
//! committed offset N (the next to read) is stored as N - 1.

pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_fetch;
pub mod state;
pub mod sync_group;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use super::Broker;
use crate::sync::lock;
use state::{Group, GroupError};

/// How often membership timers are checked.
const TICK: Duration = Duration::from_millis(100);

/// The groups this SPU coordinates.
#[derive(Default)]
pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    ticking: std::sync::OnceLock<()>,
}

impl Coordinator {
    /// Run `f` on group `id` (created empty if new), starting the timer task on first use.
    pub fn with_group<T>(self: &Arc<Self>, id: &str, f: impl FnOnce(&mut Group) -> T) -> T {
        self.ticking.get_or_init(|| {
            let weak = Arc::downgrade(self);
            tokio::spawn(tick(weak));
        });
        let mut groups = lock(&self.groups);
        let group = groups
            .entry(id.to_string())
            .or_insert_with(|| Group::new(id));
        f(group)
    }

    /// Run `f` on group `id` if it exists.
    pub fn existing<T>(&self, id: &str, f: impl FnOnce(&mut Group) -> T) -> Option<T> {
        lock(&self.groups).get_mut(id).map(f)
    }

    /// Every group: id, protocol type, state.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let groups = lock(&self.groups);
        let mut out: Vec<_> = groups
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type().unwrap_or_default().to_string(),
                    g.phase().name(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Forget an empty group.
    pub fn remove_empty(&self, id: &str) -> Result<bool, GroupError> {
        let mut groups = lock(&self.groups);
        match groups.get(id) {
            Some(g) if !g.is_empty() => Err(GroupError::NonEmptyGroup),
            Some(_) => Ok(groups.remove(id).is_some()),
            None => Ok(false),
        }
    }

    /// Forget every group (this SPU stopped coordinating): members rejoin the new
    /// coordinator.
    fn clear(&self) {
        lock(&self.groups).clear();
    }
}

/// Expire members and end rebalances on time, until the coordinator is dropped.
async fn tick(coordinator: Weak<Coordinator>) {
    let mut every = tokio::time::interval(TICK);
    loop {
        every.tick().await;
        let Some(coordinator) = coordinator.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut groups = lock(&coordinator.groups);
        for group in groups.values_mut() {
            for member in group.tick(now) {
                tracing::info!(group = %group.id, %member, "member left the group: no heartbeat or rejoin in time");
            }
        }
    }
}

/// Is this SPU the coordinator of every group (the leader of `consumer-offset-0`)? If it
/// stopped being it, the groups it knew are forgotten.
pub fn is_coordinator(broker: &Broker) -> bool {
    let leads = broker.replicas.consumer_offsets().leader() == Some(broker.node_id);
    if !leads {
        broker.groups.clear();
    }
    leads
}

/// The Kafka error for a group error.
pub fn code(err: GroupError) -> i16 {
    match err {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
    }
    .code()
}

/// NOT_COORDINATOR: ask FindCoordinator again.
pub fn not_coordinator() -> i16 {
    ResponseError::NotCoordinator.code()
}
