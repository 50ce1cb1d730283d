//! Replication between SPUs, leader and follower per partition.
//!
//! Leader side: [`leader`] is the leader's view of its followers (their log ends, the
//! in-sync set, the high watermark that follows), pure state; [`private`] is the private
//! port where the leader serves its followers' fetches and offset updates.
//!
//! Follower side: [`follower`] is a follower replica's fetch loop against its leader's
//! private port (cut what diverged, then stream and append).

pub mod follower;
pub mod leader;
pub mod private;
