//! What the replica log's tests share (small configurations, batches, a file size limit
//! for one test), and the tests of its life cycle: open, clean close, the directory
//! lock, delete. The tests of each part sit at the end of its file.

// What every test module of the replica log imports with `use ...::tests::*`.
pub(super) use std::time::Duration;

pub(super) use protocol::record::batch::{BatchHeader, batches, set_base_offset};

pub(super) use super::*;
pub(super) use crate::storage::test_support::batch_with_values;

pub(super) fn config() -> StorageConfig {
    StorageConfig {
        segment_max_bytes: 4096,
        index_interval_bytes: 256,
        hw_checkpoint_interval: Duration::ZERO,
        ..StorageConfig::default()
    }
}

/// A batch of `records` records of `value_len` bytes each.
pub(super) fn batch(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
    batch_with_values(&vec![vec![b'v'; value_len]; records], ts)
}

pub(super) fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    batches(bytes).map(|b| b.unwrap().header).collect()
}

/// Set in the copy of this test binary that runs a test under a file size limit.
pub(super) const FILE_LIMIT_CHILD: &str = "FLUVIO_STORAGE_TEST_FILE_LIMIT";

/// Run the test `name` again in a child copy of this binary whose files may not grow
/// past `limit` bytes (writes past it fail with EFBIG, as on a full quota), so the limit
/// does not reach the other tests. Returns true in the child, which runs the body.
pub(super) fn under_file_size_limit(name: &str, limit: u64) -> bool {
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

/// Many logs share a pool of two open segment files: appends, reads and reopening after
/// a clean close all work through evictions, and a read's file range (a fetch being sent)
/// stays readable while the pool closes its file.
#[test]
fn logs_sharing_a_small_file_pool_read_and_write_through_evictions() {
    let dir = tempfile::tempdir().unwrap();
    let pool = FilePool::new(2);
    let open = |i: usize| {
        ReplicaLog::open_in(dir.path().join(format!("p-{i}")), config(), pool.clone()).unwrap()
    };
    let logs: Vec<ReplicaLog> = (0..5).map(open).collect();
    for round in 0..4 {
        for (i, log) in logs.iter().enumerate() {
            log.append_as_leader(&mut batch(2, 700, (round * 10 + i) as i64))
                .unwrap();
        }
    }
    assert!(pool.stats().open <= 2, "{:?}", pool.stats());
    assert!(pool.stats().evictions > 0);
    // A fetch holds its ranges while every other log is used.
    let held = logs[0]
        .read(0, u64::MAX, Isolation::ReadUncommitted)
        .unwrap();
    for log in &logs[1..] {
        log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    }
    let mut bytes = Vec::new();
    for range in &held.ranges {
        range.read_into(&mut bytes).unwrap();
    }
    let timestamps: Vec<i64> = headers(&bytes).iter().map(|h| h.first_timestamp).collect();
    assert_eq!(timestamps, [0, 10, 20, 30]);
    for log in logs {
        log.close().unwrap();
    }
    // Reopened, each log has its own 8 records.
    for i in 0..5 {
        let log = open(i);
        assert_eq!(log.leo(), 8);
        let slice = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
        let mut bytes = Vec::new();
        for range in &slice.ranges {
            range.read_into(&mut bytes).unwrap();
        }
        let timestamps: Vec<i64> = headers(&bytes).iter().map(|h| h.first_timestamp).collect();
        assert_eq!(timestamps, [i, 10 + i, 20 + i, 30 + i].map(|t| t as i64));
    }
    assert!(pool.stats().open <= 2);
}
