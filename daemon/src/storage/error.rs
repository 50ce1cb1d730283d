//! What can go wrong in the storage engine, in types a caller can match on.

use std::io;
use std::path::{Path, PathBuf};

use protocol::record::batch::BatchError;

/// Every failure of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A system call on a file or directory failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The requested offset is outside the log: below its start or past its end. (The log
    /// end offset itself is valid where an offset names a position: reading there returns
    /// nothing yet, the high watermark may be there.)
    #[error("offset {requested} is out of range: the log starts at {log_start} and ends at {leo}")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        leo: i64,
    },

    /// A batch larger than the configured maximum batch size.
    #[error("batch of {size} bytes exceeds the maximum batch size of {max} bytes")]
    BatchTooLarge { size: u64, max: u64 },

    /// A batch that could not fit even in an empty segment.
    #[error("batch of {size} bytes cannot fit in a segment of at most {segment_max_bytes} bytes")]
    BatchTooLargeForSegment { size: u64, segment_max_bytes: u64 },

    /// The bytes handed to an append are not well-formed batches.
    #[error("invalid batch at byte {position} of the appended data: {reason}")]
    InvalidBatch {
        position: usize,
        #[source]
        reason: InvalidBatchReason,
    },

    /// A follower append that does not continue the log.
    #[error("follower append starts at offset {found} but the log ends at offset {expected}")]
    NonContiguousAppend { expected: i64, found: i64 },

    /// Data on disk that does not read back as written.
    #[error("corrupt data in {} at byte {position} (offset {offset}): {kind}", path.display())]
    Corrupt {
        path: PathBuf,
        position: u64,
        offset: i64,
        kind: CorruptionKind,
    },

    /// Truncation would drop records the high watermark says are committed.
    #[error(
        "cannot truncate to offset {requested}: the high watermark is {hw} and committed records are never truncated"
    )]
    TruncateBelowHighWatermark { requested: i64, hw: i64 },

    /// An `always` append was written, then a truncation ran before its sync: its bytes may
    /// be gone, so it is not acknowledged (conservatively, even if they survived).
    #[error("the append ending at offset {next_offset} was truncated away before it was flushed")]
    TruncatedBeforeDurable { next_offset: i64 },

    /// A configuration value that cannot work.
    #[error("invalid storage configuration: {field} {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },

    /// An earlier write or fsync failed; the log refuses further writes until it is reopened,
    /// because after a failed fsync the kernel may have dropped dirty pages silently.
    #[error("the log in {} is read-only after a failed {op} ({kind}); reopen it to recover", path.display())]
    Poisoned {
        path: PathBuf,
        op: &'static str,
        kind: io::ErrorKind,
    },

    /// Another `ReplicaLog` (in this process or another) has the directory open.
    #[error("the log in {} is already open elsewhere (its .lock is held)", path.display())]
    Locked { path: PathBuf },

    /// The log was closed or deleted while an async append was queued.
    #[error("the log in {} is closed", path.display())]
    Closed { path: PathBuf },

    /// The async runtime shut down while a blocking storage task was queued.
    #[error("the runtime shut down before the storage task for {} ran", path.display())]
    RuntimeShutdown { path: PathBuf },

    /// The blocking storage task panicked (a bug); the log may need `partition verify`.
    #[error("the storage task for {} panicked: {message}", path.display())]
    Panicked { path: PathBuf, message: String },
}

/// [`crate::sync::run_blocking`] for storage work on the log in `dir`: a runtime shutting
/// down fails it with [`StorageError::RuntimeShutdown`], a panic with
/// [`StorageError::Panicked`].
pub async fn run_blocking<T: Send + 'static>(
    dir: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = dir.to_path_buf();
    match crate::sync::run_blocking(f).await {
        Ok(result) => result,
        Err(crate::sync::BlockingError::RuntimeShutdown) => {
            Err(StorageError::RuntimeShutdown { path })
        }
        Err(crate::sync::BlockingError::Panicked(message)) => {
            Err(StorageError::Panicked { path, message })
        }
    }
}

/// Why appended bytes are not acceptable batches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBatchReason {
    #[error("no batches")]
    Empty,
    #[error(transparent)]
    Malformed(#[from] BatchError),
    #[error("the batch holds no records (last offset delta {0})")]
    NoRecords(i32),
    #[error("offsets would overflow i64")]
    OffsetOverflow,
}

/// What is wrong with corrupt data on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptionKind {
    #[error("{0}")]
    Batch(#[from] BatchError),
    #[error("batch base offset {found}, expected {expected}")]
    OffsetGap { expected: i64, found: i64 },
    #[error("the segment ends at offset {found}, the next segment starts at {expected}")]
    MissingTail { expected: i64, found: i64 },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Attach the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
