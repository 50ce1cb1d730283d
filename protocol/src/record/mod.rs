//! Record batches and records (§9 of the wire spec).

pub mod batch;

pub use batch::{BatchError, BatchHeader, RawBatch, batches};
