//! Per-replica storage settings and the flush policy.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use protocol::record::batch::BATCH_HEADER_LEN;

use super::error::{Result, StorageError};

/// When appended data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// `fdatasync` before an append is acknowledged. Concurrent appends share one sync
    /// (group commit).
    Always,
    /// A background thread syncs whatever was written at most this long ago.
    Interval(Duration),
    /// Leave it to the page cache; replicas give durability. Sealed segments are still
    /// synced once, in the background, when they roll, so recovery can skip them.
    #[default]
    Never,
}

/// `FlushPolicy::from_str` input that is not `always`, `never` or `interval:<ms>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid flush policy {input:?}: expected always, never or interval:<ms> with ms > 0")]
pub struct ParseFlushPolicyError {
    pub input: String,
}

impl FromStr for FlushPolicy {
    type Err = ParseFlushPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseFlushPolicyError {
            input: s.to_string(),
        };
        match s.trim() {
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => {
                let ms = other.strip_prefix("interval:").ok_or_else(bad)?;
                let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
                if ms == 0 {
                    return Err(bad());
                }
                Ok(Self::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Never => f.write_str("never"),
            Self::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// Settings of one replica log. Defaults follow Fluvio's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// A segment rolls when the next batch would take it past this size. At most `u32::MAX`
    /// because index entries hold 32-bit file positions.
    pub segment_max_bytes: u64,
    /// An index entry is added once at least this many bytes were written since the last.
    pub index_interval_bytes: u64,
    /// Larger batches are rejected on append.
    pub max_batch_bytes: u64,
    /// Sealed segments whose newest batch is older than this are deleted. `None`: keep.
    pub retention_time: Option<Duration>,
    /// Oldest sealed segments are deleted while the log is larger. `None`: no limit.
    pub max_partition_size: Option<u64>,
    pub flush: FlushPolicy,
    /// How often the background thread rewrites a changed checkpoint (high watermark and
    /// recovery point); truncate and close write it at once. A checkpoint that lags only
    /// makes the high watermark read back lower after a crash (replication moves it forward
    /// again) and recovery validate a little more. Zero: `set_hw` writes it every time.
    pub hw_checkpoint_interval: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            segment_max_bytes: 1 << 30,
            index_interval_bytes: 4096,
            max_batch_bytes: 2 << 20,
            retention_time: Some(Duration::from_secs(7 * 24 * 3600)),
            max_partition_size: Some(100 * (1 << 30)),
            flush: FlushPolicy::Never,
            hw_checkpoint_interval: Duration::from_secs(1),
        }
    }
}

impl StorageConfig {
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, reason| Err(StorageError::InvalidConfig { field, reason });
        if self.segment_max_bytes < BATCH_HEADER_LEN as u64 {
            return invalid("segment_max_bytes", "must hold at least one batch header");
        }
        if self.segment_max_bytes > u64::from(u32::MAX) {
            return invalid("segment_max_bytes", "must be at most 4 GiB - 1");
        }
        if self.index_interval_bytes == 0 {
            return invalid("index_interval_bytes", "must be positive");
        }
        if self.max_batch_bytes < BATCH_HEADER_LEN as u64 {
            return invalid("max_batch_bytes", "must hold at least one batch header");
        }
        if self.flush == FlushPolicy::Interval(Duration::ZERO) {
            return invalid("flush", "interval must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_policy_parses_and_displays() {
        for (text, policy) in [
            ("always", FlushPolicy::Always),
            ("never", FlushPolicy::Never),
            (
                "interval:250",
                FlushPolicy::Interval(Duration::from_millis(250)),
            ),
        ] {
            assert_eq!(text.parse::<FlushPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), text);
        }
        for bad in [
            "",
            "sometimes",
            "interval:",
            "interval:0",
            "interval:-5",
            "interval:1.5",
        ] {
            let err = bad.parse::<FlushPolicy>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        assert!(StorageConfig::default().validate().is_ok());
        let cases = [
            (
                StorageConfig {
                    segment_max_bytes: 10,
                    ..Default::default()
                },
                "segment_max_bytes",
            ),
            (
                StorageConfig {
                    segment_max_bytes: 1 << 33,
                    ..Default::default()
                },
                "segment_max_bytes",
            ),
            (
                StorageConfig {
                    index_interval_bytes: 0,
                    ..Default::default()
                },
                "index_interval_bytes",
            ),
            (
                StorageConfig {
                    max_batch_bytes: 3,
                    ..Default::default()
                },
                "max_batch_bytes",
            ),
        ];
        for (config, expected) in cases {
            match config.validate() {
                Err(StorageError::InvalidConfig { field, .. }) => assert_eq!(field, expected),
                other => panic!("expected InvalidConfig for {expected}, got {other:?}"),
            }
        }
    }
}
