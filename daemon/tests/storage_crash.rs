//! Kill a process in the middle of appends and check that everything it acknowledged is
//! there after reopening.
//!
//! The writer is this test binary run again with `STORAGE_CRASH_DIR` set (see
//! [`crash_writer_child_process`]): it appends from several threads with flush `always` and
//! prints `ACK <thread> <seq> <base offset>` after each append returns. The parent reads
//! those lines, SIGKILLs the child mid-stream, reopens the log and checks every acknowledged
//! batch is present byte for byte at its offset, and the log is contiguous.
//!
//! SIGKILL keeps the page cache, so this checks the engine's own bookkeeping (group commit
//! acknowledgements, recovery, torn writes at the kill) rather than the disk's fsync
//! honesty, which needs power-loss testing.
//!
//! This is a test binary of its own, apart from the other storage tests (`storage/`): a
//! child process holds copies of all the parent's descriptors from fork to exec, replica
//! directory locks (flock) included, so a test in the same process that closes a log and
//! opens it again at that moment finds it locked.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use daemon::storage::test_support::batch_with_values;
use daemon::storage::{FlushPolicy, Isolation, ReplicaLog, StorageConfig};
use protocol::record::batch::set_base_offset;

const DIR_VAR: &str = "STORAGE_CRASH_DIR";
const ROUND_VAR: &str = "STORAGE_CRASH_ROUND";
const THREADS: u64 = 4;
const MAX_APPENDS_PER_THREAD: u64 = 20_000;

fn config() -> StorageConfig {
    StorageConfig {
        flush: FlushPolicy::Always,
        // Small segments so kills land around rolls too.
        segment_max_bytes: 64 * 1024,
        index_interval_bytes: 1024,
        ..StorageConfig::default()
    }
}

/// The batch thread `thread` appends as its `seq`-th in `round` (base offset 0).
fn batch_for(round: u64, thread: u64, seq: u64) -> Vec<u8> {
    let records = 1 + (seq % 4) as usize;
    let value_len = 20 + ((seq * 7919 + thread * 104_729) % 900) as usize;
    let values: Vec<Vec<u8>> = (0..records)
        .map(|r| {
            let tag = format!("r{round}-t{thread}-s{seq}-#{r}-");
            tag.bytes().cycle().take(value_len).collect()
        })
        .collect();
    batch_with_values(&values, 1_700_000_000_000 + seq as i64)
}

/// Not a test on its own: the writer process, active only when the parent sets
/// `STORAGE_CRASH_DIR`. Run directly, it returns at once.
#[test]
fn crash_writer_child_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_VAR).unwrap().parse().unwrap();
    let log = Arc::new(ReplicaLog::open(&dir, config()).unwrap());
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                for seq in 0..MAX_APPENDS_PER_THREAD {
                    let mut batch = batch_for(round, thread, seq);
                    let info = log.append_as_leader(&mut batch).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {thread} {seq} {}", info.base_offset).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

struct Ack {
    round: u64,
    thread: u64,
    seq: u64,
    base: i64,
}

/// Run the writer until it has acknowledged `kill_after` appends, then SIGKILL it.
/// Returns every acknowledgement it printed.
fn run_and_kill(dir: &Path, round: u64, kill_after: usize) -> Vec<Ack> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_writer_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(ROUND_VAR, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acks = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let fields: Vec<u64> = rest.split(' ').map(|f| f.parse().unwrap()).collect();
        acks.push(Ack {
            round,
            thread: fields[0],
            seq: fields[1],
            base: fields[2] as i64,
        });
        if acks.len() == kill_after {
            // SIGKILL: no destructors, no close, whatever was mid-write stays torn.
            child.kill().unwrap();
            killed = true;
        }
        // Lines already in the pipe when the child died were acknowledged too: keep reading.
    }
    let status = child.wait().unwrap();
    assert!(killed, "the writer finished before it was killed: {status}");
    acks
}

#[test]
fn every_acknowledged_append_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("crash-0");
    let mut all_acks: Vec<Ack> = Vec::new();
    for round in 0..3u64 {
        let kill_after = 150 + round as usize * 170;
        let acks = run_and_kill(&log_dir, round, kill_after);
        assert!(acks.len() >= kill_after);
        all_acks.extend(acks);

        let log = ReplicaLog::open(&log_dir, config()).unwrap();
        assert!(!log.recovery_report().clean_shutdown);
        verify(&log, &all_acks);
        if round % 2 == 0 {
            log.close().unwrap();
        } else {
            drop(log);
        }
    }
}

fn verify(log: &ReplicaLog, acks: &[Ack]) {
    // The log is whole batches with contiguous offsets from 0 (a full read walks them all).
    let all = log.read(0, u64::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(all.end_offset, log.leo());
    let bytes = all.to_vec().unwrap();
    let mut stored: BTreeMap<i64, &[u8]> = BTreeMap::new();
    let mut expected_offset = 0;
    for batch in protocol::record::batch::batches(&bytes) {
        let batch = batch.unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(batch.header.base_offset, expected_offset);
        expected_offset = batch.header.next_offset();
        stored.insert(batch.header.base_offset, batch.bytes);
    }
    assert_eq!(expected_offset, log.leo());

    let mut last_per_thread: BTreeMap<(u64, u64), i64> = BTreeMap::new();
    for ack in acks {
        let mut expected = batch_for(ack.round, ack.thread, ack.seq);
        set_base_offset(&mut expected, ack.base);
        let found = stored.get(&ack.base).unwrap_or_else(|| {
            panic!(
                "acknowledged batch round {} thread {} seq {} at offset {} is missing",
                ack.round, ack.thread, ack.seq, ack.base
            )
        });
        assert_eq!(*found, expected.as_slice(), "batch at offset {}", ack.base);
        // Each thread's appends landed in the order it made them.
        let key = (ack.round, ack.thread);
        if let Some(prev) = last_per_thread.insert(key, ack.base) {
            assert!(prev < ack.base);
        }
    }
}
