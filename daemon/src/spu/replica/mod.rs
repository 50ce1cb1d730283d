//! The replicas this SPU hosts: [`store`] keeps them in line with the SC's assignment
//! (opens, deletes and closes their logs, runs retention, gathers offset reports, starts
//! the follower fetch loops), and [`partition`] is one hosted replica: its log, its
//! assignment, its high watermark and the signals that wake readers when it moves;
//! [`producers`] is the leader's record of idempotent producers' sequences.

pub mod partition;
pub mod producers;
pub mod store;

use protocol::spu::ReplicaKey;

/// The span every task and piece of work about one replica runs in: its log lines carry
/// the topic and partition as fields (text: `replica{topic=t partition=0}:`, JSON: in
/// `spans`), whichever module writes them.
pub fn span(key: &ReplicaKey) -> tracing::Span {
    tracing::info_span!("replica", topic = %key.topic, partition = key.partition)
}
