//! The storage engine: one append-only log per partition replica.
//!
//! A replica lives in its own directory (the SPU uses `<data>/spu-<id>/<topic>-<partition>/`):
//!
//! ```text
//! 00000000000000000000.log     batches in wire format, exactly as received, base offsets
//! 00000000000000000000.index   assigned; sparse offset index (relative offset u32, position u32)
//! 00000000000000052345.log     the active segment: the last one, the only one written
//! 00000000000000052345.index
//! replica.checkpoint           high watermark and recovery point, replaced atomically
//! leader-epoch.checkpoint      where each leader epoch starts (see [`LeaderEpochCache`])
//! .clean-shutdown              present only while cleanly closed
//! .lock                        flock(2)ed while open, unless the directory above is
//!                              locked (see [`dir_lock`])
//! ```
//!
//! [`ReplicaLog`] is the API: open (with recovery), append as leader or follower, read file
//! ranges for zero-copy sends, high watermark, truncation, retention, flush, close, delete.
//! See [`recovery`] for what happens after an unclean stop and [`FlushPolicy`] for
//! durability; [`ReplicaLog::verify`] scrubs a whole log on request.

mod checkpoint;
mod config;
pub mod dir_lock;
mod epochs;
mod error;
mod file_pool;
mod group_commit;
mod index;
pub mod recovery;
mod replica;
mod segment;
mod slice;
#[doc(hidden)]
pub mod test_support;
mod verify;

pub use config::{FlushPolicy, ParseFlushPolicyError, StorageConfig};
pub use dir_lock::DataDirLock;
pub use epochs::{EPOCHS_FILE, LeaderEpochCache};
pub(crate) use error::run_blocking;
pub use error::{CorruptionKind, InvalidBatchReason, Result, StorageError};
pub use recovery::RecoveryReport;
pub use replica::{
    AppendInfo, Isolation, Offsets, ReplicaLog, RetentionOutcome, StorageStats, Truncate,
    TruncatePolicy,
};
pub use slice::{FileRange, ReadSlice};
pub use verify::{CorruptRange, VerifyReport};
