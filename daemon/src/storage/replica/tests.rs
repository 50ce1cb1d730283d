//! Tests of the replica log: appends, reads, truncation, retention, recovery and the
//! flush policies, through the public API and, where a test needs to look inside, the
//! shared state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::record::batch::{BatchHeader, batches, set_base_offset};

use super::*;
use crate::storage::config::FlushPolicy;
use crate::storage::error::InvalidBatchReason;
use crate::storage::test_support::batch_with_values;

fn config() -> StorageConfig {
    StorageConfig {
        segment_max_bytes: 4096,
        index_interval_bytes: 256,
        hw_checkpoint_interval: Duration::ZERO,
        ..StorageConfig::default()
    }
}

/// A batch of `records` records of `value_len` bytes each.
fn batch(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
    batch_with_values(&vec![vec![b'v'; value_len]; records], ts)
}

fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    batches(bytes).map(|b| b.unwrap().header).collect()
}

/// Set in the copy of this test binary that runs a test under a file size limit.
const FILE_LIMIT_CHILD: &str = "FLUVIO_STORAGE_TEST_FILE_LIMIT";

/// Run the test `name` again in a child copy of this binary whose files may not grow
/// past `limit` bytes (writes past it fail with EFBIG, as on a full quota), so the limit
/// does not reach the other tests. Returns true in the child, which runs the body.
fn under_file_size_limit(name: &str, limit: u64) -> bool {
    if std::env::var_os(FILE_LIMIT_CHILD).is_some() {
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: plain system calls on this process, no pointers kept.
        unsafe {
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit), 0);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(FILE_LIMIT_CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} under a file size limit:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

#[test]
fn a_write_refused_by_the_disk_leaves_the_log_as_it_was() {
    const LIMIT: u64 = 64 * 1024;
    let name = "storage::replica::tests::a_write_refused_by_the_disk_leaves_the_log_as_it_was";
    if !under_file_size_limit(name, LIMIT) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        segment_max_bytes: 1 << 20,
        index_interval_bytes: 1024,
        flush: FlushPolicy::Never,
        hw_checkpoint_interval: Duration::ZERO,
        ..StorageConfig::default()
    };
    let log = ReplicaLog::open(dir.path(), config.clone()).unwrap();
    let mut stored = Vec::new();
    for i in 0..20 {
        let mut one = batch(2, 1000, i);
        log.append_as_leader(&mut one).unwrap();
        stored.extend(one);
    }
    let segment = dir.path().join(super::super::segment::file_name(0, "log"));
    let file_len = || std::fs::metadata(&segment).unwrap().len();
    let index_entries = || {
        let st = log.shared.read_state();
        (
            st.active().index.entries().to_vec(),
            st.active().bytes_since_index,
        )
    };
    let before = (log.offsets(), file_len(), index_entries(), log.stats());
    assert_eq!(before.0.leo, 40);
    assert!(
        !before.2.0.is_empty(),
        "the test wants index entries to compare"
    );
    // Written before the failure and still waiting for its sync, as under `always`.
    let generation = log.shared.group.generation();

    // 40 KiB more passes the limit partway through: the disk takes some, then refuses.
    let mut refused = batch(40, 1000, 99);
    let err = log.append_as_leader(&mut refused).unwrap_err();
    assert!(
        matches!(&err, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG)),
        "{err}"
    );
    assert_eq!(
        (log.offsets(), file_len(), index_entries(), log.stats()),
        before
    );
    // The failed append did not take the sync from the appends before it.
    log.shared
        .group
        .wait_durable(40, generation, || log.shared.sync_files(true))
        .unwrap();

    // The next append that fits lands right after the last good one.
    let mut next = batch(1, 100, 100);
    let info = log.append_as_leader(&mut next).unwrap();
    assert_eq!((info.base_offset, info.next_offset), (40, 41));
    stored.extend(&next);
    let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(all.end_offset, 41);
    assert_eq!(all.to_vec().unwrap(), stored);
    assert_eq!(file_len(), stored.len() as u64);

    // Recovery after a crash finds nothing to cut.
    drop(log);
    let log = ReplicaLog::open(dir.path(), config).unwrap();
    assert_eq!(log.recovery_report().truncated_bytes, 0);
    assert_eq!(log.leo(), 41);
}

#[test]
fn leader_appends_assign_offsets_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 0,
            hw: 0,
            leo: 0
        }
    );
    let mut first = batch(3, 10, 1);
    let info = log.append_as_leader(&mut first).unwrap();
    assert_eq!(
        (info.base_offset, info.next_offset, info.batches),
        (0, 3, 1)
    );
    let mut two = [batch(2, 10, 2), batch(1, 10, 3)].concat();
    let info = log.append_as_leader(&mut two).unwrap();
    assert_eq!(
        (info.base_offset, info.next_offset, info.batches),
        (3, 6, 2)
    );
    // The caller's buffer carries the assigned offsets, and so does the log.
    assert_eq!(
        headers(&two)
            .iter()
            .map(|h| h.base_offset)
            .collect::<Vec<_>>(),
        vec![3, 5]
    );
    let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(all.to_vec().unwrap(), [first.clone(), two.clone()].concat());
    assert_eq!((all.start_offset, all.end_offset), (0, 6));
    // A read from inside a batch starts at that batch.
    let mid = log.read(4, u64::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(mid.start_offset, 3);
    assert_eq!(mid.to_vec().unwrap(), two);
    // Reading at the end is empty, past it is out of range.
    assert!(
        log.read(6, 100, Isolation::ReadUncommitted)
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        log.read(7, 100, Isolation::ReadUncommitted),
        Err(StorageError::OffsetOutOfRange {
            requested: 7,
            log_start: 0,
            leo: 6
        })
    ));
}

#[test]
fn reads_respect_max_bytes_but_always_return_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let batches: Vec<Vec<u8>> = (0..4).map(|i| batch(1, 100, i)).collect();
    for b in &batches {
        log.append_as_leader(&mut b.clone()).unwrap();
    }
    let len = batches[0].len() as u64;
    let slice = log
        .read(0, 2 * len + len / 2, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(slice.len(), 2 * len);
    assert_eq!(slice.end_offset, 2);
    let slice = log.read(1, 1, Isolation::ReadUncommitted).unwrap();
    assert_eq!(slice.len(), len);
    assert_eq!((slice.start_offset, slice.end_offset), (1, 2));
}

#[test]
fn read_committed_stops_at_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    for i in 0..3 {
        log.append_as_leader(&mut batch(2, 10, i)).unwrap();
    }
    assert!(
        log.read(0, u64::MAX, Isolation::ReadCommitted)
            .unwrap()
            .is_empty()
    );
    assert!(log.set_hw(4).unwrap());
    assert!(!log.set_hw(4).unwrap());
    let slice = log.read(0, u64::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(slice.end_offset, 4);
    // The high watermark inside a batch holds that whole batch back.
    log.set_hw(5).unwrap();
    let slice = log.read(0, u64::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(slice.end_offset, 4);
    assert!(
        log.read(4, u64::MAX, Isolation::ReadCommitted)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        log.read(4, u64::MAX, Isolation::ReadUncommitted)
            .unwrap()
            .end_offset,
        6
    );
    assert!(matches!(
        log.set_hw(7),
        Err(StorageError::OffsetOutOfRange { requested: 7, .. })
    ));
}

#[test]
fn segments_roll_and_reads_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let mut b = batch(2, 300, i);
        log.append_as_leader(&mut b).unwrap();
        written.extend_from_slice(&b);
    }
    let stats = log.stats();
    assert!(stats.segments > 3, "{stats:?}");
    assert_eq!(stats.size_bytes, written.len() as u64);
    let slice = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(slice.ranges.len(), stats.segments);
    assert_eq!(slice.to_vec().unwrap(), written);
    for seg in log.shared.read_state().segments.iter() {
        assert!(seg.size <= 4096);
        assert!(!seg.index.entries().is_empty() || seg.size < 2 * 256);
    }
    // Every offset reads back from its own batch, whichever segment holds it.
    for offset in 0..40 {
        let slice = log.read(offset, 1, Isolation::ReadUncommitted).unwrap();
        assert_eq!(slice.start_offset, offset - offset % 2);
    }
}

#[test]
fn bad_appends_are_rejected_whole_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(
        dir.path(),
        StorageConfig {
            max_batch_bytes: 2000,
            ..config()
        },
    )
    .unwrap();
    let good = batch(1, 10, 1);
    let mut corrupt = [good.clone(), good.clone()].concat();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0x40;
    assert!(matches!(
        log.append_as_leader(&mut corrupt),
        Err(StorageError::InvalidBatch { position, reason: InvalidBatchReason::Malformed(_) })
            if position == good.len()
    ));
    assert!(matches!(
        log.append_as_leader(&mut []),
        Err(StorageError::InvalidBatch {
            reason: InvalidBatchReason::Empty,
            ..
        })
    ));
    let mut torn = good[..good.len() - 1].to_vec();
    assert!(matches!(
        log.append_as_leader(&mut torn),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert!(matches!(
        log.append_as_leader(&mut batch(1, 3000, 1)),
        Err(StorageError::BatchTooLarge { max: 2000, .. })
    ));
    let mut no_records = good.clone();
    no_records[23..27].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = protocol::record::batch::compute_crc(&no_records);
    no_records[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        log.append_as_leader(&mut no_records),
        Err(StorageError::InvalidBatch {
            reason: InvalidBatchReason::NoRecords(-1),
            ..
        })
    ));
    assert_eq!(log.leo(), 0);
    assert_eq!(log.size_bytes(), 0);

    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(matches!(
        log.append_as_leader(&mut batch(1, 5000, 1)),
        Err(StorageError::BatchTooLargeForSegment {
            segment_max_bytes: 4096,
            ..
        })
    ));
}

#[test]
fn follower_appends_keep_offsets_and_must_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let mut b = batch(2, 10, 1);
    set_base_offset(&mut b, 0);
    log.append_as_follower(&b).unwrap();
    let mut next = batch(3, 10, 2);
    set_base_offset(&mut next, 5);
    assert!(matches!(
        log.append_as_follower(&next),
        Err(StorageError::NonContiguousAppend {
            expected: 2,
            found: 5
        })
    ));
    set_base_offset(&mut next, 2);
    let info = log.append_as_follower(&next).unwrap();
    assert_eq!((info.base_offset, info.next_offset), (2, 5));
    assert_eq!(
        log.read(0, u64::MAX, Isolation::ReadUncommitted)
            .unwrap()
            .to_vec()
            .unwrap(),
        [b, next].concat()
    );
}

#[test]
fn truncation_drops_whole_batches_never_below_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let mut b = batch(2, 300, i);
        log.append_as_leader(&mut b).unwrap();
        written.push(b);
    }
    log.set_hw(10).unwrap();
    assert!(matches!(
        log.truncate(9),
        Err(StorageError::TruncateBelowHighWatermark {
            requested: 9,
            hw: 10
        })
    ));
    assert!(matches!(
        log.truncate(41),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // Inside the batch [12, 14): the log is cut before it.
    assert_eq!(log.truncate(13).unwrap(), 12);
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 0,
            hw: 10,
            leo: 12
        }
    );
    let segments_left = log.stats().segments;
    let files = fs::read_dir(dir.path()).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "log")
    });
    assert_eq!(files.count(), segments_left);
    assert_eq!(
        log.read(0, u64::MAX, Isolation::ReadUncommitted)
            .unwrap()
            .to_vec()
            .unwrap(),
        written[..6].concat()
    );
    let mut more = batch(1, 10, 99);
    assert_eq!(log.append_as_leader(&mut more).unwrap().base_offset, 12);
    // Truncating to the hw itself is allowed.
    assert_eq!(log.truncate(10).unwrap(), 10);
    assert_eq!(log.leo(), 10);
}

#[test]
fn diverged_truncation_may_lower_the_high_watermark_and_persists_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    for i in 0..5 {
        log.append_as_leader(&mut batch(2, 100, i)).unwrap();
    }
    log.set_hw(8).unwrap();
    assert!(matches!(
        log.truncate(Truncate::diverged(11)),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // At or above the hw it behaves like truncate.
    assert_eq!(log.truncate(Truncate::diverged(9)).unwrap(), 8);
    assert_eq!(log.hw(), 8);
    assert_eq!(log.truncate(Truncate::diverged(4)).unwrap(), 4);
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 0,
            hw: 4,
            leo: 4
        }
    );
    let mut b = batch(2, 10, 9);
    set_base_offset(&mut b, 4);
    log.append_as_follower(&b).unwrap();
    assert_eq!(log.leo(), 6);
    drop(log);
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.hw(), log.leo()), (4, 6));
}

#[test]
fn truncate_fully_restarts_the_log_at_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    for i in 0..10 {
        log.append_as_leader(&mut batch(2, 300, i)).unwrap();
    }
    log.truncate_fully_and_start_at(1000).unwrap();
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 1000,
            hw: 1000,
            leo: 1000
        }
    );
    let mut b = batch(1, 1, 1);
    set_base_offset(&mut b, 1000);
    log.append_as_follower(&b).unwrap();
    log.close().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 1000,
            hw: 1000,
            leo: 1001
        }
    );
}

#[test]
fn retention_deletes_old_and_excess_sealed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    let log = ReplicaLog::open(
        dir.path(),
        StorageConfig {
            retention_time: Some(hour),
            max_partition_size: None,
            ..config()
        },
    )
    .unwrap();
    let t0: i64 = 1_700_000_000_000;
    // Batches an hour apart: each segment holds 3 (3 x ~1.3 KB per 4 KiB segment).
    for i in 0..12 {
        log.append_as_leader(&mut batch(1, 1200, t0 + i * 3_600_000))
            .unwrap();
    }
    let segments = log.stats().segments;
    assert_eq!(segments, 4);
    let at = |ms: i64| UNIX_EPOCH + Duration::from_millis(ms as u64);
    // Nothing is committed yet: nothing goes.
    let outcome = log.enforce_retention(at(t0 + 100 * 3_600_000)).unwrap();
    assert_eq!(outcome.deleted_segments, 0);
    log.set_hw(12).unwrap();
    // Segment 0's newest batch (t0 + 2h) is 1.5 h old at t0 + 3.5 h; segment 1's is not.
    let outcome = log
        .enforce_retention(at(t0 + 3 * 3_600_000 + 1_800_000))
        .unwrap();
    assert_eq!((outcome.deleted_segments, outcome.log_start), (1, 3));
    assert_eq!(log.log_start_offset(), 3);
    assert!(matches!(
        log.read(0, 10, Isolation::ReadUncommitted),
        Err(StorageError::OffsetOutOfRange {
            requested: 0,
            log_start: 3,
            ..
        })
    ));
    // Far in the future everything sealed goes, never the active segment.
    let outcome = log.enforce_retention(at(t0 + 1000 * 3_600_000)).unwrap();
    assert_eq!(outcome.deleted_segments, 2);
    assert_eq!(log.stats().segments, 1);
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(
        log.read(9, u64::MAX, Isolation::ReadCommitted)
            .unwrap()
            .end_offset,
        12
    );
}

#[test]
fn retention_by_size_keeps_the_log_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(
        dir.path(),
        StorageConfig {
            retention_time: None,
            max_partition_size: Some(9000),
            ..config()
        },
    )
    .unwrap();
    for i in 0..20 {
        log.append_as_leader(&mut batch(1, 1200, i)).unwrap();
    }
    log.set_hw(log.leo()).unwrap();
    let outcome = log.enforce_retention(SystemTime::now()).unwrap();
    assert!(outcome.deleted_segments > 0);
    assert!(log.size_bytes() <= 9000, "{}", log.size_bytes());
    assert_eq!(
        log.read(log.log_start_offset(), u64::MAX, Isolation::ReadCommitted)
            .unwrap()
            .end_offset,
        20
    );
}

#[test]
fn clean_close_skips_validation_and_keeps_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(!log.recovery_report().clean_shutdown);
    for i in 0..10 {
        log.append_as_leader(&mut batch(2, 300, i)).unwrap();
    }
    log.set_hw(15).unwrap();
    let before = log
        .read(0, u64::MAX, Isolation::ReadUncommitted)
        .unwrap()
        .to_vec()
        .unwrap();
    log.close().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report();
    assert!(report.clean_shutdown);
    assert_eq!((report.segments_validated, report.indexes_rebuilt), (0, 0));
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 0,
            hw: 15,
            leo: 20
        }
    );
    assert_eq!(
        log.read(0, u64::MAX, Isolation::ReadUncommitted)
            .unwrap()
            .to_vec()
            .unwrap(),
        before
    );
    // The marker is gone while open: dropping now is an unclean stop.
    drop(log);
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(
        log.offsets(),
        Offsets {
            log_start: 0,
            hw: 15,
            leo: 20
        }
    );
}

#[test]
fn the_high_watermark_reaches_the_checkpoint_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(
        dir.path(),
        StorageConfig {
            hw_checkpoint_interval: Duration::from_millis(20),
            ..config()
        },
    )
    .unwrap();
    log.append_as_leader(&mut batch(3, 10, 1)).unwrap();
    log.set_hw(3).unwrap();
    // No timing assertion: wait (bounded only by the test harness) for the thread.
    loop {
        if let CheckpointRead::Valid(cp) = checkpoint::read_checkpoint(dir.path()).unwrap()
            && cp.hw == 3
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(log);
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.hw(), 3);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    assert!(matches!(
        ReplicaLog::open(dir.path(), config()),
        Err(StorageError::Locked { .. })
    ));
    drop(log);
    ReplicaLog::open(dir.path(), config()).unwrap();
}

#[test]
fn delete_removes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let replica_dir = dir.path().join("topic-0");
    let log = ReplicaLog::open(&replica_dir, config()).unwrap();
    log.append_as_leader(&mut batch(1, 1, 1)).unwrap();
    log.delete().unwrap();
    assert!(!replica_dir.exists());
}

#[test]
fn concurrent_always_appends_share_syncs_and_get_distinct_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        ReplicaLog::open(
            dir.path(),
            StorageConfig {
                flush: FlushPolicy::Always,
                segment_max_bytes: 64 * 1024,
                ..config()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let mut b = batch(1 + (t + i) % 3, 50, i as i64);
                        let info = log.append_as_leader(&mut b).unwrap();
                        (info.base_offset, info.next_offset)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ranges: Vec<(i64, i64)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ranges.sort();
    let mut expect = 0;
    for (base, next) in &ranges {
        assert_eq!(*base, expect);
        expect = *next;
    }
    assert_eq!(log.leo(), expect);
    let stats = log.stats();
    assert_eq!(stats.appends, 200);
    assert!(stats.syncs <= stats.appends, "{stats:?}");
    // Everything acknowledged is durable by the time append returns.
    assert_eq!(log.shared.group.durable(), expect);
}

#[test]
fn async_appends_run_on_the_blocking_pool() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        ReplicaLog::open(
            dir.path(),
            StorageConfig {
                flush: FlushPolicy::Always,
                ..config()
            },
        )
        .unwrap(),
    );
    // A current-thread runtime: an `always` append blocking it would deadlock the test.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.append_as_leader_async(batch(2, 20, i)).await })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            let info = task.await.unwrap().unwrap();
            total += info.next_offset - info.base_offset;
        }
        let mut follower_batch = batch(1, 1, 1);
        set_base_offset(&mut follower_batch, 32);
        log.append_as_follower_async(follower_batch).await.unwrap();
        total + 1
    });
    assert_eq!(total, 33);
    assert_eq!(log.leo(), 33);
}

#[test]
fn interval_flush_makes_data_durable_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(
        dir.path(),
        StorageConfig {
            flush: FlushPolicy::Interval(Duration::from_millis(5)),
            ..config()
        },
    )
    .unwrap();
    log.append_as_leader(&mut batch(4, 10, 1)).unwrap();
    // No timing assertion: wait (bounded only by the test harness) for the flusher.
    while log.shared.group.durable() < 4 {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(log.stats().syncs >= 1);
}

/// Recovery validates exactly what was not fsynced: under `never` that is the active
/// segment (the checkpoint's recovery point is its base once the rolled segments are
/// synced), so damage in the active segment is cut there, while damage in a synced
/// sealed segment is left to the cheap check and found by a scrub.
#[test]
fn after_a_crash_unsynced_segments_are_validated_and_synced_ones_scrubbed_on_request() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    for i in 0..10 {
        log.append_as_leader(&mut batch(1, 1500, i)).unwrap();
    }
    let (first, active) = {
        let st = log.shared.read_state();
        (
            st.segments[0].log_path.to_path_buf(),
            st.active().log_path.to_path_buf(),
        )
    };
    let active_base = log.shared.read_state().active().base;
    // No timing assertion: wait for the background sync and checkpoint.
    loop {
        match checkpoint::read_checkpoint(dir.path()).unwrap() {
            CheckpointRead::Valid(cp) if cp.recovery_point >= active_base => break,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    drop(log); // a crash: no clean-shutdown marker
    let active_len = fs::metadata(&active).unwrap().len();
    assert!(active_len > 2000, "the active segment holds two batches");
    let damage = |path: &Path, at: u64| {
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.write_all_at(b"?", at).unwrap();
    };
    damage(&first, 100);
    damage(&active, 100);

    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    assert_eq!(report.segments_validated, 1, "{report:?}");
    assert_eq!(log.leo(), active_base, "cut at the damaged unsynced batch");
    let scrub = log.verify().unwrap();
    assert_eq!(scrub.problems.len(), 1, "{scrub:?}");
    assert_eq!(scrub.problems[0].segment, first);
    assert_eq!(scrub.problems[0].first_offset, 0);
}

#[test]
fn flush_policy_never_syncs_rolled_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = ReplicaLog::open(dir.path(), config()).unwrap();
    for i in 0..6 {
        log.append_as_leader(&mut batch(1, 1500, i)).unwrap();
    }
    let active_base = log.shared.read_state().active().base;
    assert!(active_base > 0);
    while log.shared.group.durable() < active_base {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(log.shared.group.durable() < log.leo());
    log.flush().unwrap();
    assert_eq!(log.shared.group.durable(), log.leo());
}
