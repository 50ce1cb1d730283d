//! The storage engine's tests, in one test binary: a model-based property test of the
//! replica log, and torn tails. The crash test, which runs writer processes and kills them
//! with SIGKILL, is a binary of its own (`storage_crash.rs`; it says why).

mod storage_model;
mod storage_torn_tail;
