//! Small files next to the segments: the replica checkpoint and the clean-shutdown marker.
//!
//! `replica.checkpoint` is text, replaced atomically (write a temporary file, fsync it,
//! rename it over the old one, fsync the directory):
//!
//! ```text
//! fluvio-replica-checkpoint v1
//! hw=1234
//! recovery_point=1200
//! ```
//!
//! `recovery_point` is an offset below which every byte was fsynced: recovery after an
//! unclean stop validates batch by batch only the segments holding offsets at or after it.
//!
//! `.clean-shutdown` exists only while the log is closed cleanly: `close` writes it after
//! syncing everything, `open` removes it (and syncs the directory) before any write.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::Path;

use super::error::{IoContext, Result};

pub(crate) const CHECKPOINT_FILE: &str = "replica.checkpoint";
pub(crate) const CHECKPOINT_TMP_FILE: &str = "replica.checkpoint.tmp";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
const HEADER: &str = "fluvio-replica-checkpoint v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub hw: i64,
    pub recovery_point: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointRead {
    Missing,
    /// The file exists but does not parse; callers log it and fall back to a full check.
    Invalid,
    Valid(Checkpoint),
}

impl Checkpoint {
    fn encode(&self) -> String {
        format!(
            "{HEADER}\nhw={}\nrecovery_point={}\n",
            self.hw, self.recovery_point
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let hw = lines.next()?.strip_prefix("hw=")?.parse().ok()?;
        let recovery_point = lines
            .next()?
            .strip_prefix("recovery_point=")?
            .parse()
            .ok()?;
        if lines.next().is_some() || hw < 0 || recovery_point < 0 {
            return None;
        }
        Some(Self { hw, recovery_point })
    }
}

pub(crate) fn read_checkpoint(dir: &Path) -> Result<CheckpointRead> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(std::str::from_utf8(&bytes)
            .ok()
            .and_then(Checkpoint::decode)
            .map_or(CheckpointRead::Invalid, CheckpointRead::Valid)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(CheckpointRead::Missing),
        Err(err) => Err(err).ctx("read checkpoint", &path),
    }
}

/// Replace the checkpoint. With `sync_dir` false the rename is not synced: after a crash
/// the previous checkpoint may come back, which is safe (both offsets only grow, and an
/// older recovery point means validating more) and spares the flusher one fsync per log;
/// the file itself is synced before the rename either way, so no crash leaves it torn.
pub(crate) fn write_checkpoint(dir: &Path, checkpoint: Checkpoint, sync_dir: bool) -> Result<()> {
    let tmp = dir.join(CHECKPOINT_TMP_FILE);
    let path = dir.join(CHECKPOINT_FILE);
    let mut file = File::create(&tmp).ctx("create checkpoint", &tmp)?;
    file.write_all(checkpoint.encode().as_bytes())
        .ctx("write checkpoint", &tmp)?;
    file.sync_all().ctx("fsync checkpoint", &tmp)?;
    drop(file);
    fs::rename(&tmp, &path).ctx("rename checkpoint", &path)?;
    if sync_dir {
        self::sync_dir(dir)?;
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}

/// Whether the marker was there; it is removed (durably) either way.
pub(crate) fn take_clean_shutdown_marker(dir: &Path) -> Result<bool> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    match fs::remove_file(&path) {
        Ok(()) => {
            // Without this a crash could bring the marker back over data written after open.
            sync_dir(dir)?;
            Ok(true)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).ctx("remove clean-shutdown marker", &path),
    }
}

pub(crate) fn write_clean_shutdown_marker(dir: &Path) -> Result<()> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    File::create(&path)
        .and_then(|f| f.sync_all())
        .ctx("write clean-shutdown marker", &path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_checkpoint(dir.path()).unwrap(),
            CheckpointRead::Missing
        );
        let first = Checkpoint {
            hw: 10,
            recovery_point: 7,
        };
        write_checkpoint(dir.path(), first, true).unwrap();
        assert_eq!(
            read_checkpoint(dir.path()).unwrap(),
            CheckpointRead::Valid(first)
        );
        let second = Checkpoint {
            hw: 12,
            recovery_point: 12,
        };
        write_checkpoint(dir.path(), second, false).unwrap();
        assert_eq!(
            read_checkpoint(dir.path()).unwrap(),
            CheckpointRead::Valid(second)
        );
        assert!(!dir.path().join(CHECKPOINT_TMP_FILE).exists());
    }

    #[test]
    fn garbage_checkpoint_is_invalid_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for garbage in [
            &b"junk"[..],
            b"fluvio-replica-checkpoint v1\nhw=1\n",
            b"fluvio-replica-checkpoint v1\nhw=-1\nrecovery_point=0\n",
            b"\xff\xfe",
        ] {
            fs::write(dir.path().join(CHECKPOINT_FILE), garbage).unwrap();
            assert_eq!(
                read_checkpoint(dir.path()).unwrap(),
                CheckpointRead::Invalid
            );
        }
    }

    #[test]
    fn marker_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!take_clean_shutdown_marker(dir.path()).unwrap());
        write_clean_shutdown_marker(dir.path()).unwrap();
        assert!(take_clean_shutdown_marker(dir.path()).unwrap());
        assert!(!take_clean_shutdown_marker(dir.path()).unwrap());
    }
}
