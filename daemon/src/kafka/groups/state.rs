//! One consumer group as its coordinator keeps it: the classic join/sync protocol of
//! Kafka's group coordinator, as a state machine of its own (time is passed in, answers go
//! out on channels), so every transition is tested without sockets or clocks.
//!
//! ```text
//!   Empty --join--> PreparingRebalance --all joined / deadline--> CompletingRebalance
//!     ^                  ^    ^                                          |
//!     |  last member     |    +---- join, leave, expiry, sync timeout ---+
//!     +--- leaves -------+                                               | leader's sync
//!                        +---- join, leave, expiry ---- Stable <---------+
//! ```
//!
//! - **Join**: a member without an id gets one. A rebalance starts (the state goes to
//!   PreparingRebalance) and ends when every known member has sent JoinGroup again, or at
//!   the rebalance deadline (the largest rebalance timeout of the members), when members
//!   that did not rejoin are dropped. The first rebalance of an empty group waits
//!   [`INITIAL_REBALANCE_DELAY`] for more members (Kafka's
//!   `group.initial.rebalance.delay.ms`), so three consumers starting together get one
//!   generation, not three. Ending it bumps the generation, picks the protocol every member
//!   supports (the leader's first choice among them) and answers every waiting JoinGroup;
//!   the leader's answer lists the members and their metadata.
//! - **Sync**: the leader sends everyone's assignment; each member's SyncGroup is answered
//!   with its own once the leader's arrives, and the group is Stable.
//! - **Heartbeat**: keeps a member alive; during a rebalance it answers
//!   REBALANCE_IN_PROGRESS, which tells the member to rejoin.
//! - **Expiry**: a member silent for its session timeout is dropped and the group
//!   rebalances: its partitions go to the others. A leader that does not sync within the
//!   rebalance timeout starts the rebalance over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

/// How long the first rebalance of an empty group waits for more members.
pub const INITIAL_REBALANCE_DELAY: Duration = Duration::from_secs(3);

/// Session timeouts a member may ask for (Kafka's `group.min/max.session.timeout.ms`).
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(1000);
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Why a group request is refused; each is the Kafka error of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("unknown member id: the member left or expired; rejoin the group")]
    UnknownMemberId,
    #[error("illegal generation: the group moved to another generation; rejoin")]
    IllegalGeneration,
    #[error("the group is rebalancing; rejoin")]
    RebalanceInProgress,
    #[error("the member's protocol type or protocols do not match the group's")]
    InconsistentGroupProtocol,
    #[error(
        "session timeout out of range: between {} and {} ms",
        MIN_SESSION_TIMEOUT.as_millis(),
        MAX_SESSION_TIMEOUT.as_millis()
    )]
    InvalidSessionTimeout,
    #[error("the group has members; it can only be deleted when empty")]
    NonEmptyGroup,
}

/// Where the group is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl Phase {
    /// Kafka's name for the state (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Empty => "Empty",
            Phase::PreparingRebalance => "PreparingRebalance",
            Phase::CompletingRebalance => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }
}

/// A JoinGroup's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol: String,
    pub leader: String,
    pub member_id: String,
    /// Every member and its metadata for the chosen protocol: for the leader only.
    pub members: Vec<(String, Bytes)>,
}

/// What one JoinGroup asks.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Empty for a new member.
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// In the member's order of preference: name and metadata.
    pub protocols: Vec<(String, Bytes)>,
}

/// A member of the group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the current generation.
    pub assignment: Bytes,
    last_heard: Instant,
    joining: Option<oneshot::Sender<Result<Joined, GroupError>>>,
    syncing: Option<oneshot::Sender<Result<Bytes, GroupError>>>,
}

impl Member {
    /// Its metadata for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, meta)| meta.clone())
            .unwrap_or_default()
    }
}

/// One consumer group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    phase: Phase,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// When the current rebalance phase gives up waiting.
    deadline: Option<Instant>,
    /// The first rebalance of an empty group waits its whole delay.
    initial: bool,
    next_member: u64,
}

impl Group {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            deadline: None,
            initial: false,
            next_member: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A member (re)joins; the answer comes on the receiver once the rebalance ends.
    pub fn join(
        &mut self,
        request: JoinRequest,
        now: Instant,
    ) -> Result<oneshot::Receiver<Result<Joined, GroupError>>, GroupError> {
        if !(MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&request.session_timeout) {
            return Err(GroupError::InvalidSessionTimeout);
        }
        if request.protocols.is_empty()
            || self
                .protocol_type
                .as_deref()
                .is_some_and(|t| !self.members.is_empty() && t != request.protocol_type)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        // Every member must share a protocol with the others.
        if !self.members.is_empty()
            && !request.protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .filter(|m| m.id != request.member_id)
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let id = if request.member_id.is_empty() {
            self.next_member += 1;
            format!(
                "{}-{}-{}",
                request.client_id, self.generation, self.next_member
            )
        } else if self.members.contains_key(&request.member_id) {
            request.member_id.clone()
        } else {
            return Err(GroupError::UnknownMemberId);
        };
        let (tx, rx) = oneshot::channel();
        let member = self.members.entry(id.clone()).or_insert_with(|| Member {
            id: id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: Vec::new(),
            assignment: Bytes::new(),
            last_heard: now,
            joining: None,
            syncing: None,
        });
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.protocols = request.protocols;
        member.last_heard = now;
        member.joining = Some(tx);
        self.protocol_type = Some(request.protocol_type);
        if self.phase != Phase::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.try_complete_join(now);
        Ok(rx)
    }

    /// Start a rebalance: members are told (by heartbeats and syncs) to rejoin.
    fn prepare_rebalance(&mut self, now: Instant) {
        self.initial = self.phase == Phase::Empty;
        // Waiting syncs will not be answered with an assignment of this generation.
        for member in self.members.values_mut() {
            if let Some(syncing) = member.syncing.take() {
                let _ = syncing.send(Err(GroupError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        let wait = if self.initial {
            INITIAL_REBALANCE_DELAY.min(timeout.max(Duration::from_millis(1)))
        } else {
            timeout
        };
        self.deadline = Some(now + wait);
        self.phase = Phase::PreparingRebalance;
    }

    /// End the join phase if everyone rejoined (not during the initial delay).
    fn try_complete_join(&mut self, now: Instant) {
        if self.phase != Phase::PreparingRebalance || self.initial {
            return;
        }
        if self.members.values().all(|m| m.joining.is_some()) {
            self.complete_join(now);
        }
    }

    /// The join phase is over: drop who did not rejoin, start the next generation.
    fn complete_join(&mut self, now: Instant) {
        self.members.retain(|_, m| m.joining.is_some());
        self.initial = false;
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        self.generation += 1;
        let protocol = self.choose_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let roster: Vec<(String, Bytes)> = self
            .members
            .values()
            .map(|m| (m.id.clone(), m.metadata(&protocol)))
            .collect();
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.last_heard = now;
            if let Some(joining) = member.joining.take() {
                let _ = joining.send(Ok(Joined {
                    generation: self.generation,
                    protocol_type: protocol_type.clone(),
                    protocol: protocol.clone(),
                    leader: leader.clone(),
                    member_id: member.id.clone(),
                    members: if member.id == leader {
                        roster.clone()
                    } else {
                        Vec::new()
                    },
                }));
            }
        }
        self.protocol = Some(protocol);
        self.phase = Phase::CompletingRebalance;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.deadline = Some(now + timeout);
    }

    /// The protocol every member supports, preferring the current leader's (or the first
    /// member's) order.
    fn choose_protocol(&self) -> String {
        let first = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next());
        first
            .into_iter()
            .flat_map(|m| m.protocols.iter())
            .map(|(name, _)| name)
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
            .unwrap_or_default()
    }

    fn become_empty(&mut self) {
        self.phase = Phase::Empty;
        self.leader = None;
        self.protocol = None;
        self.deadline = None;
        self.initial = false;
    }

    /// A member's SyncGroup: the leader's carries everyone's assignment. The answer (the
    /// member's assignment) comes on the receiver.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Result<oneshot::Receiver<Result<Bytes, GroupError>>, GroupError> {
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        member.last_heard = now;
        let (tx, rx) = oneshot::channel();
        match self.phase {
            Phase::Empty | Phase::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            Phase::Stable => {
                let _ = tx.send(Ok(member.assignment.clone()));
                Ok(rx)
            }
            Phase::CompletingRebalance => {
                member.syncing = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = given.remove(&member.id).unwrap_or_default();
                        if let Some(syncing) = member.syncing.take() {
                            let _ = syncing.send(Ok(member.assignment.clone()));
                        }
                    }
                    self.phase = Phase::Stable;
                    self.deadline = None;
                }
                Ok(rx)
            }
        }
    }

    /// May `member_id` of `generation` commit offsets? (A commit from outside the group
    /// protocol, generation -1, is checked by the caller.)
    pub fn check_commit(&self, member_id: &str, generation: i32) -> Result<(), GroupError> {
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        if self.phase == Phase::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// A member is alive.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        member.last_heard = now;
        match self.phase {
            Phase::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ if generation != self.generation => Err(GroupError::IllegalGeneration),
            _ => Ok(()),
        }
    }

    /// Members leave; the others rebalance. Unknown ids are reported back.
    pub fn leave(
        &mut self,
        member_ids: &[String],
        now: Instant,
    ) -> Vec<(String, Result<(), GroupError>)> {
        let mut answers = Vec::with_capacity(member_ids.len());
        let mut left = false;
        for id in member_ids {
            match self.members.remove(id) {
                Some(member) => {
                    if let Some(joining) = member.joining {
                        let _ = joining.send(Err(GroupError::UnknownMemberId));
                    }
                    left = true;
                    answers.push((id.clone(), Ok(())));
                }
                None => answers.push((id.clone(), Err(GroupError::UnknownMemberId))),
            }
        }
        if left {
            self.after_departure(now);
        }
        answers
    }

    fn after_departure(&mut self, now: Instant) {
        if self.members.is_empty() {
            self.become_empty();
        } else if self.phase == Phase::PreparingRebalance {
            self.try_complete_join(now);
        } else {
            self.prepare_rebalance(now);
            self.try_complete_join(now);
        }
    }

    /// Time passes: end a join phase at its deadline, drop members silent past their
    /// session timeout, restart a rebalance whose leader never synced. Returns the ids of
    /// the members dropped.
    pub fn tick(&mut self, now: Instant) -> Vec<String> {
        let mut dropped = Vec::new();
        if self.phase == Phase::PreparingRebalance && self.deadline.is_some_and(|d| now >= d) {
            dropped.extend(
                self.members
                    .values()
                    .filter(|m| m.joining.is_none())
                    .map(|m| m.id.clone()),
            );
            self.complete_join(now);
            return dropped;
        }
        if self.phase == Phase::CompletingRebalance && self.deadline.is_some_and(|d| now >= d) {
            // The leader never sent the assignment.
            self.prepare_rebalance(now);
            return dropped;
        }
        // Members waiting for their JoinGroup answer are not expected to heartbeat.
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.joining.is_none() && now.duration_since(m.last_heard) > m.session_timeout)
            .map(|m| m.id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                self.members.remove(id);
            }
            self.after_departure(now);
            dropped.extend(expired);
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(10);
    const REBALANCE: Duration = Duration::from_secs(30);

    fn request(member_id: &str, client: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            client_id: client.to_string(),
            client_host: "/127.0.0.1".to_string(),
            session_timeout: SESSION,
            rebalance_timeout: REBALANCE,
            protocol_type: "consumer".to_string(),
            protocols: vec![
                ("range".to_string(), Bytes::from_static(b"r")),
                ("roundrobin".to_string(), Bytes::from_static(b"rr")),
            ],
        }
    }

    fn answer<T>(rx: &mut oneshot::Receiver<T>) -> Option<T> {
        rx.try_recv().ok()
    }

    /// Three members join an empty group together: one generation after the delay.
    fn stable_group_of_three(now: Instant) -> (Group, Vec<Joined>) {
        let mut g = Group::new("g");
        let mut waiting: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|c| g.join(request("", c), now).unwrap())
            .collect();
        assert!(
            waiting.iter_mut().all(|rx| answer(rx).is_none()),
            "the initial delay holds them"
        );
        assert!(g.tick(now + Duration::from_secs(1)).is_empty());
        g.tick(now + INITIAL_REBALANCE_DELAY);
        let joined: Vec<Joined> = waiting
            .iter_mut()
            .map(|rx| answer(rx).unwrap().unwrap())
            .collect();
        assert_eq!(g.phase(), Phase::CompletingRebalance);
        (g, joined)
    }

    fn sync_all(g: &mut Group, joined: &[Joined], now: Instant) -> Vec<Bytes> {
        let leader = joined.iter().find(|j| j.member_id == j.leader).unwrap();
        let mut waiting: Vec<_> = joined
            .iter()
            .filter(|j| j.member_id != j.leader)
            .map(|j| g.sync(&j.member_id, j.generation, vec![], now).unwrap())
            .collect();
        let assignments = leader
            .members
            .iter()
            .map(|(id, _)| (id.clone(), Bytes::from(format!("for {id}"))))
            .collect();
        let mut mine = g
            .sync(&leader.member_id, leader.generation, assignments, now)
            .unwrap();
        waiting.push(
            g.sync(&leader.member_id, leader.generation, vec![], now)
                .unwrap(),
        );
        let mut out: Vec<Bytes> = waiting
            .iter_mut()
            .map(|rx| answer(rx).unwrap().unwrap())
            .collect();
        out.push(answer(&mut mine).unwrap().unwrap());
        out
    }

    #[test]
    fn members_joining_together_share_one_generation_and_get_their_assignments() {
        let now = Instant::now();
        let (mut g, joined) = stable_group_of_three(now);
        assert!(
            joined
                .iter()
                .all(|j| j.generation == 1 && j.protocol == "range")
        );
        let leader = joined.iter().filter(|j| j.member_id == j.leader).count();
        assert_eq!(leader, 1);
        let roster = &joined
            .iter()
            .find(|j| j.member_id == j.leader)
            .unwrap()
            .members;
        assert_eq!(roster.len(), 3);
        assert!(
            roster
                .iter()
                .all(|(_, meta)| meta == &Bytes::from_static(b"r"))
        );
        let got = sync_all(&mut g, &joined, now);
        assert_eq!(g.phase(), Phase::Stable);
        for j in &joined {
            assert!(got.contains(&Bytes::from(format!("for {}", j.member_id))));
        }
        assert_eq!(g.heartbeat(&joined[0].member_id, 1, now), Ok(()));
        assert_eq!(
            g.heartbeat(&joined[0].member_id, 0, now),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            g.heartbeat("nobody", 1, now),
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn a_silent_member_expires_and_the_others_rebalance_without_it() {
        let now = Instant::now();
        let (mut g, joined) = stable_group_of_three(now);
        sync_all(&mut g, &joined, now);
        let later = now + SESSION / 2;
        for j in &joined[..2] {
            g.heartbeat(&j.member_id, 1, later).unwrap();
        }
        let expiry = now + SESSION + Duration::from_millis(1);
        assert_eq!(g.tick(expiry), vec![joined[2].member_id.clone()]);
        assert_eq!(g.phase(), Phase::PreparingRebalance);
        // The survivors learn of it from their heartbeats and rejoin with their ids.
        for j in &joined[..2] {
            assert_eq!(
                g.heartbeat(&j.member_id, 1, expiry),
                Err(GroupError::RebalanceInProgress)
            );
        }
        let mut first = g.join(request(&joined[0].member_id, "a"), expiry).unwrap();
        assert!(answer(&mut first).is_none(), "waits for the other member");
        let mut second = g.join(request(&joined[1].member_id, "b"), expiry).unwrap();
        let first = answer(&mut first).unwrap().unwrap();
        let second = answer(&mut second).unwrap().unwrap();
        assert_eq!((first.generation, second.generation), (2, 2));
        let leader = if first.member_id == first.leader {
            &first
        } else {
            &second
        };
        assert_eq!(leader.members.len(), 2);
        assert_eq!(g.members().count(), 2);
    }

    #[test]
    fn members_that_do_not_rejoin_by_the_deadline_are_dropped() {
        let now = Instant::now();
        let (mut g, joined) = stable_group_of_three(now);
        sync_all(&mut g, &joined, now);
        // A new member arrives; only one old member rejoins in time.
        let mut newcomer = g.join(request("", "d"), now).unwrap();
        let mut old = g.join(request(&joined[0].member_id, "a"), now).unwrap();
        assert!(answer(&mut newcomer).is_none());
        let dropped = g.tick(now + REBALANCE);
        assert_eq!(dropped.len(), 2);
        assert_eq!(answer(&mut newcomer).unwrap().unwrap().generation, 2);
        assert_eq!(answer(&mut old).unwrap().unwrap().generation, 2);
        assert_eq!(
            g.sync(&joined[1].member_id, 2, vec![], now).err(),
            Some(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn leaving_rebalances_and_the_last_leaves_it_empty() {
        let now = Instant::now();
        let (mut g, joined) = stable_group_of_three(now);
        sync_all(&mut g, &joined, now);
        let ids: Vec<String> = joined.iter().map(|j| j.member_id.clone()).collect();
        assert_eq!(g.leave(&ids[..1], now), vec![(ids[0].clone(), Ok(()))]);
        assert_eq!(g.phase(), Phase::PreparingRebalance);
        assert_eq!(
            g.leave(&["ghost".to_string()], now),
            vec![("ghost".to_string(), Err(GroupError::UnknownMemberId))]
        );
        g.leave(&ids[1..], now);
        assert_eq!(g.phase(), Phase::Empty);
        assert!(g.is_empty());
    }

    #[test]
    fn a_leader_that_never_syncs_restarts_the_rebalance() {
        let now = Instant::now();
        let (mut g, joined) = stable_group_of_three(now);
        let follower = joined.iter().find(|j| j.member_id != j.leader).unwrap();
        let mut waiting = g.sync(&follower.member_id, 1, vec![], now).unwrap();
        // Everyone stays alive; only the leader's assignment is missing.
        let end = now + INITIAL_REBALANCE_DELAY + REBALANCE;
        for j in &joined {
            g.heartbeat(&j.member_id, 1, end - Duration::from_secs(1))
                .unwrap();
        }
        g.tick(end);
        assert_eq!(g.phase(), Phase::PreparingRebalance);
        assert_eq!(
            answer(&mut waiting),
            Some(Err(GroupError::RebalanceInProgress))
        );
    }

    #[test]
    fn bad_joins_are_refused() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let mut short = request("", "a");
        short.session_timeout = Duration::from_millis(10);
        assert_eq!(
            g.join(short, now).err(),
            Some(GroupError::InvalidSessionTimeout)
        );
        assert_eq!(
            g.join(request("made-up", "a"), now).err(),
            Some(GroupError::UnknownMemberId)
        );
        g.join(request("", "a"), now).unwrap();
        let mut other = request("", "b");
        other.protocols = vec![("sticky".to_string(), Bytes::new())];
        assert_eq!(
            g.join(other, now).err(),
            Some(GroupError::InconsistentGroupProtocol)
        );
        let mut other_type = request("", "c");
        other_type.protocol_type = "connect".to_string();
        assert_eq!(
            g.join(other_type, now).err(),
            Some(GroupError::InconsistentGroupProtocol)
        );
    }
}
