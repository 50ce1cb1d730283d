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

fn base_of(path: &Path) -> i64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Fill a log over several segments and close it cleanly; returns what was written and
/// the active segment's file.
fn closed_cleanly(dir: &Path, seed: u64) -> (Vec<(i64, Vec<u8>)>, PathBuf) {
    let mut rng = Rng::new(seed);
    let log = ReplicaLog::open(dir, config()).unwrap();
    let written = fill(&log, &mut rng, 150);
    log.close().unwrap();
    let logs = files_with(dir, "log");
    assert!(logs.len() > 2, "the test needs sealed segments");
    (written, logs.last().unwrap().clone())
}

fn flip_at(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
}

/// Reads of `offset` fail naming the segment and the first offset of the damage.
fn assert_corrupt_at(log: &ReplicaLog, offset: i64, first: i64, segment: &Path) {
    match log.read(offset, 1, Isolation::ReadUncommitted) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, segment);
            assert_eq!(offset, first);
        }
        other => panic!("expected a corruption error at offset {offset}, got {other:?}"),
    }
}

/// After a clean stop the active segment's last batch does not read back: it was
/// acknowledged and synced, so it is marked corrupt, never cut, and appends go on at the
/// offset after it, through later clean and unclean restarts.
#[test]
fn corruption_in_the_active_segment_after_a_clean_stop_is_marked_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut written, active) = closed_cleanly(dir.path(), 31);
    let leo = next_offset(&written);
    let size = fs::metadata(&active).unwrap().len();
    let (last_offset, last_batch) = written.last().unwrap().clone();
    // A byte of the last batch's records: its header still reads.
    flip_at(&active, size - last_batch.len() as u64 + 70);

    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(report.clean_shutdown);
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(report.corrupt_segments, vec![active.clone()]);
    assert_eq!(report.rolled_past_corruption, Some(leo));
    assert_eq!(log.leo(), leo);
    assert_eq!(
        fs::metadata(&active).unwrap().len(),
        size,
        "nothing was cut"
    );
    let logs = files_with(dir.path(), "log");
    assert_eq!(base_of(logs.last().unwrap()), leo, "{logs:?}");

    // Everything before the damage reads back; the damaged batch fails, named.
    let good = &written[..written.len() - 1];
    for (offset, batch) in good.iter().rev().take(20) {
        let slice = log.read(*offset, 1, Isolation::ReadUncommitted).unwrap();
        assert_eq!(&slice.to_vec().unwrap(), batch);
    }
    assert_corrupt_at(&log, last_offset, last_offset, &active);
    assert_corrupt_at(&log, leo - 1, last_offset, &active);
    let read = log
        .read(base_of(&active), u64::MAX, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(
        read.end_offset, last_offset,
        "a read stops before the damage"
    );
    let verified = log.verify().unwrap();
    assert_eq!(verified.problems.len(), 1, "{verified:?}");
    assert_eq!(verified.problems[0].segment, active);
    assert_eq!(verified.problems[0].first_offset, last_offset);
    assert_eq!(verified.problems[0].last_offset, leo - 1);

    // Appends land at the next offset, in the new segment.
    let mut rng = Rng::new(32);
    let more = fill(&log, &mut rng, 5);
    assert_eq!(more[0].0, leo);
    written.extend(more.clone());
    let check = |log: &ReplicaLog| {
        for (offset, batch) in &more {
            let slice = log.read(*offset, 1, Isolation::ReadUncommitted).unwrap();
            assert_eq!(&slice.to_vec().unwrap(), batch);
        }
        assert_corrupt_at(log, last_offset, last_offset, &active);
        assert_eq!(log.leo(), next_offset(&written));
    };
    check(&log);

    // The mark is found again after an unclean stop (the damaged segment is sealed now)...
    drop(log);
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(report.corrupt_segments, vec![active.clone()]);
    assert_eq!(report.rolled_past_corruption, None);
    check(&log);
    // ...and after a clean one.
    log.close().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.recovery_report().corrupt_segments, vec![active.clone()]);
    assert_eq!(fs::metadata(&active).unwrap().len(), size);
    check(&log);
}

/// A damaged header in the active segment after a clean stop: the batches cannot be
/// walked, but the checkpoint written at the close still gives the log end.
#[test]
fn a_damaged_header_in_the_active_segment_keeps_the_log_end_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (written, active) = closed_cleanly(dir.path(), 41);
    let leo = next_offset(&written);
    let size = fs::metadata(&active).unwrap().len();
    let (last_offset, last_batch) = written.last().unwrap().clone();
    // The magic byte (offset 16 in the header): the header no longer parses.
    flip_at(&active, size - last_batch.len() as u64 + 16);

    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(report.rolled_past_corruption, Some(leo));
    assert_eq!(log.leo(), leo);
    assert_corrupt_at(&log, last_offset, last_offset, &active);
    let mut rng = Rng::new(42);
    assert_eq!(fill(&log, &mut rng, 1)[0].0, leo);
}

/// With the header damaged and no checkpoint either, the log end is unknown: nothing is
/// cut, and new offsets start past any the damaged bytes could hold, so none is reused.
#[test]
fn an_unknown_log_end_after_a_clean_stop_skips_past_every_offset_the_damage_can_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (written, active) = closed_cleanly(dir.path(), 51);
    let leo = next_offset(&written);
    let size = fs::metadata(&active).unwrap().len();
    let (last_offset, last_batch) = written.last().unwrap().clone();
    flip_at(&active, size - last_batch.len() as u64 + 16);
    fs::remove_file(dir.path().join("replica.checkpoint")).unwrap();

    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(fs::metadata(&active).unwrap().len(), size);
    let batches = (last_batch.len() as i64 + 56) / 57;
    let end = last_offset + batches * (1 << 31);
    assert!(end > leo);
    assert_eq!(report.rolled_past_corruption, Some(end));
    assert_eq!(log.leo(), end);
    assert_corrupt_at(&log, last_offset, last_offset, &active);
    assert_corrupt_at(&log, leo, last_offset, &active);
    let mut rng = Rng::new(52);
    let more = fill(&log, &mut rng, 2);
    assert_eq!(more[0].0, end);
    let slice = log.read(end, 1, Isolation::ReadUncommitted).unwrap();
    assert_eq!(slice.to_vec().unwrap(), more[0].1);
}

/// After an unclean stop the rule stays: from the recovery point on, a bad tail is cut.
#[test]
fn a_bad_last_batch_after_an_unclean_stop_is_still_cut() {
    let mut rng = Rng::new(61);
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let written = fill(&log, &mut rng, 150);
    drop(log);
    let active = files_with(dir.path(), "log").pop().unwrap();
    let size = fs::metadata(&active).unwrap().len();
    let (last_offset, last_batch) = written.last().unwrap().clone();
    flip_at(&active, size - last_batch.len() as u64 + 70);

    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, last_batch.len() as u64);
    assert_eq!(report.rolled_past_corruption, None);
    assert!(report.corrupt_segments.is_empty());
    assert_eq!(log.leo(), last_offset);
    assert_reads_back(&log, &written[..written.len() - 1]);
}
