//! Segment recovery after an unclean stop: the input is the only segment file of a replica
//! directory. Opening it never panics, keeps every valid batch before the first bad one
//! (byte for byte) and nothing after it.
#![no_main]

use daemon::storage::{Isolation, ReplicaLog, StorageConfig};
use libfuzzer_sys::fuzz_target;
use protocol::record::batches;

/// The valid prefix by the recovery rules: whole batches with a good CRC, offsets
/// continuing from the segment's base (0) and at least one record each. Its length in
/// bytes and the offset after it.
fn valid_prefix(data: &[u8]) -> (usize, i64) {
    let mut iter = batches(data);
    let (mut bytes, mut next) = (0usize, 0i64);
    while let Some(Ok(raw)) = iter.next() {
        let header = raw.header;
        if raw.verify_crc().is_err() || header.base_offset != next || header.last_offset_delta < 0 {
            break;
        }
        next = header.next_offset();
        bytes = iter.position();
    }
    (bytes, next)
}

fuzz_target!(|data: &[u8]| {
    // In memory where there is a tmpfs: the disk would make each run a hundred times slower.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    std::fs::write(dir.path().join("00000000000000000000.log"), data).expect("write segment");
    let config = StorageConfig {
        retention_time: None,
        max_partition_size: None,
        ..StorageConfig::default()
    };
    let log = ReplicaLog::open(dir.path(), config).expect("recovery opens any segment");
    let (bytes, next) = valid_prefix(data);
    assert_eq!(log.leo(), next, "the log ends after the valid batches");
    let read = log
        .read(0, u64::MAX, Isolation::ReadUncommitted)
        .expect("read the recovered log");
    let kept = read.to_vec().expect("read bytes");
    assert_eq!(
        kept,
        &data[..bytes],
        "the valid batches are kept as they were"
    );
});
