//! The storage engine's tests, in one test binary: a model-based property test of the
//! replica log, torn tails and crash recovery (a writer process killed with SIGKILL).

mod storage_crash;
mod storage_model;
mod storage_torn_tail;
