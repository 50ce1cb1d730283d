//! The replicas this SPU hosts: [`store`] keeps them in line with the SC's assignment
//! (opens, deletes and closes their logs, runs retention, gathers offset reports, starts
//! the follower fetch loops), and [`partition`] is one hosted replica: its log, its
//! assignment, its high watermark and the signals that wake readers when it moves.

pub mod partition;
pub mod store;
