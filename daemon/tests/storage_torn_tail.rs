//! Recovery from torn tails, damaged indexes and corrupt sealed segments, on real files.
//!
//! Modelled on Kafka's `LogLoaderTest.testCorruptLog` / `testCorruptIndexRebuild`: append,
//! stop without a clean shutdown, damage the files, reopen, and check that every complete
//! batch reads back byte for byte and that appends continue at the right offset.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon::storage::test_support::{Rng, random_batch};
use daemon::storage::{Isolation, ReplicaLog, StorageConfig, StorageError};
use protocol::record::batch::batches;

fn config() -> StorageConfig {
    StorageConfig {
        segment_max_bytes: 16 * 1024,
        index_interval_bytes: 512,
        hw_checkpoint_interval: Duration::ZERO,
        ..StorageConfig::default()
    }
}

/// Append `count` random batches; returns each batch as stored (offsets assigned).
fn fill(log: &ReplicaLog, rng: &mut Rng, count: usize) -> Vec<(i64, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let mut batch = random_batch(rng, 4, 400, 1_700_000_000_000 + i as i64);
            let info = log.append_as_leader(&mut batch).unwrap();
            (info.base_offset, batch)
        })
        .collect()
}

fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    files
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// Every batch reads back identically, from the start and from its own offset.
fn assert_reads_back(log: &ReplicaLog, written: &[(i64, Vec<u8>)]) {
    let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    let expected: Vec<u8> = written.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(all.to_vec().unwrap(), expected);
    for (offset, batch) in written {
        let slice = log.read(*offset, 1, Isolation::ReadUncommitted).unwrap();
        assert_eq!(slice.start_offset, *offset);
        assert_eq!(&slice.to_vec().unwrap(), batch, "batch at offset {offset}");
    }
}

fn next_offset(written: &[(i64, Vec<u8>)]) -> i64 {
    written.last().map_or(0, |(_, b)| {
        batches(b).next().unwrap().unwrap().header.next_offset()
    })
}

#[test]
fn junk_after_the_last_batch_and_index_entry_is_cut_after_an_unclean_stop() {
    for round in 0..10u64 {
        let mut rng = Rng::new(round + 1);
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let count = rng.range(50, 99) as usize;
        let mut written = fill(&log, &mut rng, count);
        drop(log); // no close: an unclean stop

        let junk_len = rng.range(1, 1024) as usize;
        // Zeros are what a crash often leaves (allocated, never written blocks).
        let junk = if round % 3 == 0 {
            vec![0u8; junk_len]
        } else {
            rng.bytes(junk_len)
        };
        let last_log = files_with(dir.path(), "log").pop().unwrap();
        let last_index = files_with(dir.path(), "index").pop().unwrap();
        append_bytes(&last_log, &junk);
        let index_junk_len = rng.range(1, 1024) as usize;
        append_bytes(&last_index, &rng.bytes(index_junk_len));

        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.recovery_report().clone();
        assert!(!report.clean_shutdown);
        assert_eq!(report.truncated_bytes, junk_len as u64, "round {round}");
        assert_eq!(report.segments_dropped, 0);
        assert!(report.corrupt_segments.is_empty());
        assert_eq!(log.leo(), next_offset(&written));
        assert_reads_back(&log, &written);

        // Appends continue where the valid log ended, and survive a clean restart.
        written.extend(fill(&log, &mut rng, 5));
        assert_eq!(log.leo(), next_offset(&written));
        log.close().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        assert!(log.recovery_report().clean_shutdown);
        assert_reads_back(&log, &written);
    }
}

#[test]
fn a_partial_last_batch_is_cut() {
    let mut rng = Rng::new(7);
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let written = fill(&log, &mut rng, 40);
    drop(log);
    // A batch that was cut short mid-write: its header promises more than is there.
    let (_, extra) = {
        let mut other = Rng::new(99);
        (0, random_batch(&mut other, 3, 300, 1))
    };
    let last_log = files_with(dir.path(), "log").pop().unwrap();
    append_bytes(&last_log, &extra[..extra.len() - 5]);
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.recovery_report().truncated_bytes,
        extra.len() as u64 - 5
    );
    assert_reads_back(&log, &written);
}

#[test]
fn junk_after_a_clean_close_is_cut_too() {
    let mut rng = Rng::new(11);
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let written = fill(&log, &mut rng, 60);
    log.close().unwrap();
    let last_log = files_with(dir.path(), "log").pop().unwrap();
    let last_index = files_with(dir.path(), "index").pop().unwrap();
    append_bytes(&last_log, &rng.bytes(300));
    append_bytes(&last_index, &rng.bytes(13));
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().truncated_bytes, 300);
    assert_reads_back(&log, &written);
}

fn damage_indexes(unclean: bool, damage: impl Fn(&Path)) {
    let mut rng = Rng::new(if unclean { 3 } else { 4 });
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let mut written = fill(&log, &mut rng, 200);
    if unclean {
        drop(log);
    } else {
        log.close().unwrap();
    }
    let indexes = files_with(dir.path(), "index");
    assert!(indexes.len() > 5, "the test needs several segments");
    for index in &indexes {
        damage(index);
    }
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(log.recovery_report().indexes_rebuilt >= indexes.len() - 1);
    assert_eq!(log.recovery_report().truncated_bytes, 0);
    assert_reads_back(&log, &written);
    written.extend(fill(&log, &mut rng, 10));
    log.close().unwrap();
    // The rebuilt indexes were written back: a clean reopen needs no rebuild.
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.recovery_report().indexes_rebuilt, 0);
    assert_reads_back(&log, &written);
}

fn zero(path: &Path) {
    let len = fs::metadata(path).unwrap().len() as usize;
    fs::write(path, vec![0u8; len.max(16)]).unwrap();
}

fn remove(path: &Path) {
    fs::remove_file(path).unwrap();
}

#[test]
fn zeroed_indexes_are_rebuilt_after_a_clean_stop() {
    damage_indexes(false, zero);
}

#[test]
fn zeroed_indexes_are_rebuilt_after_an_unclean_stop() {
    damage_indexes(true, zero);
}

#[test]
fn deleted_indexes_are_rebuilt_after_a_clean_stop() {
    damage_indexes(false, remove);
}

#[test]
fn deleted_indexes_are_rebuilt_after_an_unclean_stop() {
    damage_indexes(true, remove);
}

/// A bad batch in an older segment is never cut away silently: it is reported on open and
/// reading it fails with a typed error, while everything else stays readable.
#[test]
fn corruption_in_a_sealed_segment_is_reported_and_never_dropped() {
    for unclean in [false, true] {
        let mut rng = Rng::new(21);
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let written = fill(&log, &mut rng, 150);
        let leo = log.leo();
        if unclean {
            // Synced up to here: the recovery point is past the damaged segment.
            log.flush().unwrap();
            drop(log);
        } else {
            log.close().unwrap();
        }
        let logs = files_with(dir.path(), "log");
        let victim = &logs[1];
        let sizes: Vec<u64> = logs
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .collect();
        // Flip a byte in the records of the segment's last batch.
        let mut bytes = fs::read(victim).unwrap();
        let victim_base: i64 = victim
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let next_base: i64 = logs[2]
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let (last_offset, last_batch) = written
            .iter()
            .rev()
            .find(|(o, _)| *o < next_base)
            .unwrap()
            .clone();
        let at = bytes.len() - last_batch.len() + 70.min(last_batch.len() - 1);
        bytes[at] ^= 0x01;
        fs::write(victim, &bytes).unwrap();

        let log = ReplicaLog::open(dir.path(), config()).unwrap();
        let report = log.recovery_report().clone();
        assert_eq!(report.corrupt_segments, vec![victim.clone()], "{report:?}");
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(log.leo(), leo);
        let after: Vec<u64> = logs
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .collect();
        assert_eq!(after, sizes, "nothing was cut");

        // Before the bad batch: fine. The bad batch: a typed error naming file and offset.
        for (offset, batch) in written.iter().filter(|(o, _)| *o >= victim_base) {
            let result = log.read(*offset, 1, Isolation::ReadUncommitted);
            if *offset < last_offset {
                assert_eq!(&result.unwrap().to_vec().unwrap(), batch);
            } else if *offset == last_offset {
                match result {
                    Err(StorageError::Corrupt { path, offset, .. }) => {
                        assert_eq!(&path, victim);
                        assert_eq!(offset, last_offset);
                    }
                    other => panic!("expected a corruption error, got {other:?}"),
                }
            } else {
                assert_eq!(&result.unwrap().to_vec().unwrap(), batch);
            }
        }
        // A read that runs into the bad batch stops before it instead of skipping it.
        let slice = log
            .read(victim_base, u64::MAX, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(slice.end_offset, last_offset);
    }
}
