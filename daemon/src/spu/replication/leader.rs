//! The leader's view of its followers: their log ends, the in-sync set, and the high
//! watermark that follows from them. Pure state, no I/O: [`Partition`](crate::spu::replica::partition)
//! feeds it follower reports and the SC's assignment and applies what it decides.
//!
//! Rules (Kafka's, with the SC owning the in-sync set like KRaft's AlterPartition):
//!
//! * The high watermark is the smallest log end among the in-sync replicas, and never
//!   moves before every in-sync follower has reported in the current leader epoch (a
//!   report from an older epoch may describe a log the follower has since truncated).
//! * The in-sync set used for the high watermark is the SC's (from the assignment) plus
//!   the followers this leader saw catch up since. A follower this leader thinks lags is
//!   dropped from the report it sends the SC, but still counts here until the SC
//!   confirms: the SC elects only from its own set, so anything the leader calls
//!   committed is on every replica the SC could elect.
//! * A follower is out of sync once it has not reached the leader's log end for longer
//!   than the lag time; it rejoins once its log end reaches the high watermark (and the
//!   start of the current epoch).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use protocol::sc::{ReplicaStatus, SpuId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// `None` until the follower reports in this epoch.
    pub leo: Option<i64>,
    pub hw: i64,
    /// The last time its log end reached the leader's.
    pub caught_up_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    pub me: SpuId,
    pub epoch: i32,
    /// Where this epoch's records start.
    pub epoch_start: i64,
    pub followers: BTreeMap<SpuId, FollowerState>,
    /// The SC's in-sync set, as last assigned.
    pub confirmed: BTreeSet<SpuId>,
    /// What this leader thinks is in sync (always includes itself).
    pub local: BTreeSet<SpuId>,
}

impl LeaderState {
    pub fn new(
        me: SpuId,
        epoch: i32,
        epoch_start: i64,
        followers: impl IntoIterator<Item = SpuId>,
        confirmed: &[SpuId],
        now: Instant,
    ) -> Self {
        let followers: BTreeMap<SpuId, FollowerState> = followers
            .into_iter()
            .filter(|f| *f != me)
            .map(|f| {
                (
                    f,
                    FollowerState {
                        leo: None,
                        hw: -1,
                        caught_up_at: now,
                    },
                )
            })
            .collect();
        let confirmed: BTreeSet<SpuId> = confirmed
            .iter()
            .copied()
            .filter(|id| *id == me || followers.contains_key(id))
            .collect();
        let mut local = confirmed.clone();
        local.insert(me);
        Self {
            me,
            epoch,
            epoch_start,
            followers,
            confirmed,
            local,
        }
    }

    /// The SC confirmed an in-sync set: it replaces this leader's view (a follower the SC
    /// dropped has to qualify again).
    pub fn confirm(&mut self, in_sync: &[SpuId]) {
        self.confirmed = in_sync
            .iter()
            .copied()
            .filter(|id| *id == self.me || self.followers.contains_key(id))
            .collect();
        self.local = self.confirmed.clone();
        self.local.insert(self.me);
    }

    /// The replicas the high watermark waits for.
    pub fn effective_in_sync(&self) -> BTreeSet<SpuId> {
        let mut set: BTreeSet<SpuId> = self.local.union(&self.confirmed).copied().collect();
        set.insert(self.me);
        set
    }

    /// What this leader reports to the SC as in sync.
    pub fn reported_in_sync(&self) -> Vec<SpuId> {
        self.local.iter().copied().collect()
    }

    /// A follower's report. `leader_leo`/`hw` are the leader's now. Returns whether the
    /// in-sync set changed.
    pub fn follower_report(
        &mut self,
        spu: SpuId,
        leo: i64,
        hw: i64,
        leader_leo: i64,
        leader_hw: i64,
        now: Instant,
    ) -> bool {
        let Some(state) = self.followers.get_mut(&spu) else {
            return false;
        };
        let leo = leo.min(leader_leo);
        state.leo = Some(leo);
        state.hw = hw;
        if leo >= leader_leo {
            state.caught_up_at = now;
        }
        if !self.local.contains(&spu) && leo >= leader_hw && leo >= self.epoch_start {
            state.caught_up_at = now;
            self.local.insert(spu);
            return true;
        }
        false
    }

    /// The high watermark the in-sync replicas allow, if every one of them has reported.
    pub fn high_watermark(&self, leader_leo: i64) -> Option<i64> {
        let mut hw = leader_leo;
        for id in self.effective_in_sync() {
            if id == self.me {
                continue;
            }
            hw = hw.min(self.followers.get(&id)?.leo?);
        }
        Some(hw)
    }

    /// Drop followers that have not reached the log end for longer than `lag`. Returns
    /// whether the set changed.
    pub fn shrink(&mut self, leader_leo: i64, lag: Duration, now: Instant) -> bool {
        let mut changed = false;
        for (id, state) in &mut self.followers {
            if state.leo == Some(leader_leo) {
                state.caught_up_at = now;
            }
            if self.local.contains(id) && now.duration_since(state.caught_up_at) > lag {
                self.local.remove(id);
                changed = true;
            }
        }
        changed
    }

    /// The followers' offsets for the SC (-1 for what is not known yet).
    pub fn follower_statuses(&self) -> Vec<ReplicaStatus> {
        self.followers
            .iter()
            .map(|(id, s)| ReplicaStatus {
                spu: *id,
                hw: s.hw,
                leo: s.leo.unwrap_or(-1),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(now: Instant) -> LeaderState {
        LeaderState::new(1, 3, 10, [1, 2, 3], &[1, 2, 3], now)
    }

    #[test]
    fn the_high_watermark_waits_for_every_in_sync_follower_in_this_epoch() {
        let now = Instant::now();
        let mut s = state(now);
        assert_eq!(s.high_watermark(20), None, "nobody reported yet");
        s.follower_report(2, 18, 0, 20, 10, now);
        assert_eq!(s.high_watermark(20), None);
        s.follower_report(3, 15, 0, 20, 10, now);
        assert_eq!(s.high_watermark(20), Some(15));
        s.follower_report(3, 25, 0, 20, 15, now);
        assert_eq!(
            s.high_watermark(20),
            Some(18),
            "leo clamped to the leader's"
        );
    }

    #[test]
    fn a_lagging_follower_leaves_only_when_the_sc_confirms() {
        let t0 = Instant::now();
        let mut s = state(t0);
        s.follower_report(2, 20, 0, 20, 10, t0);
        s.follower_report(3, 12, 0, 20, 10, t0);
        let later = t0 + Duration::from_secs(11);
        s.follower_report(2, 30, 0, 30, 12, later);
        assert!(s.shrink(30, Duration::from_secs(10), later));
        assert_eq!(s.reported_in_sync(), vec![1, 2]);
        // Not confirmed: 3 still holds the high watermark back.
        assert_eq!(s.high_watermark(30), Some(12));
        s.confirm(&[1, 2]);
        assert_eq!(s.high_watermark(30), Some(30));
        // 3 catches up to the high watermark and rejoins.
        assert!(!s.follower_report(3, 29, 0, 30, 30, later));
        assert!(s.follower_report(3, 30, 0, 30, 30, later));
        assert_eq!(s.reported_in_sync(), vec![1, 2, 3]);
    }

    #[test]
    fn an_idle_caught_up_follower_stays_in_sync() {
        let t0 = Instant::now();
        let mut s = state(t0);
        s.follower_report(2, 20, 0, 20, 20, t0);
        s.follower_report(3, 20, 0, 20, 20, t0);
        assert!(!s.shrink(20, Duration::from_secs(1), t0 + Duration::from_secs(60)));
    }

    #[test]
    fn rejoining_waits_for_the_epoch_start() {
        let t0 = Instant::now();
        let mut s = LeaderState::new(1, 3, 10, [1, 2], &[1], t0);
        assert_eq!(s.high_watermark(12), Some(12));
        assert!(!s.follower_report(2, 8, 0, 12, 5, t0));
        assert!(s.follower_report(2, 10, 0, 12, 5, t0));
        assert_eq!(s.high_watermark(12), Some(10));
    }
}
