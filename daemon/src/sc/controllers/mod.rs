//! Controllers reconcile spec into status. Their decisions are pure functions over the
//! stores (`assignment`, `topic`, `partition`), tested without I/O; the SC applies what
//! they return through the metadata store.

pub mod assignment;
pub mod partition;
pub mod system_topic;
pub mod topic;
