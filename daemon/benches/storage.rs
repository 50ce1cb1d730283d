//! Storage engine throughput against plain file I/O on the same filesystem, same run.
//!
//! ```sh
//! cargo bench -p daemon --bench storage
//! STORAGE_BENCH_BYTES=$((256<<20)) cargo bench -p daemon --bench storage   # smaller
//! ```
//!
//! Prints one JSON line per case. Sizes: `STORAGE_BENCH_BYTES` (default 1 GiB) for the
//! page-cache cases, read and recovery; `STORAGE_BENCH_SYNC_BYTES` (default 64 MiB) for the
//! cases that fsync per append, which run at disk-flush speed. `STORAGE_BENCH_DIR` picks
//! the directory (default: the system temp dir); `STORAGE_BENCH_REPS` (default 3) how many
//! times each measurement runs, baseline and engine alternating; the best run counts, since
//! this machine is shared and noise only ever makes a run slower. MB is 10^6 bytes.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::storage::test_support::batch_with_values;
use daemon::storage::{FlushPolicy, Isolation, ReadSlice, ReplicaLog, StorageConfig};

const RECORD_BYTES: usize = 1024;
const GROUP_COMMIT_APPENDERS: usize = 8;

fn env_bytes(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A batch of `records` 1 KiB records.
fn make_batch(records: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..records)
        .map(|i| (0..RECORD_BYTES).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect();
    batch_with_values(&values, 1_700_000_000_000)
}

fn config(flush: FlushPolicy) -> StorageConfig {
    StorageConfig {
        flush,
        retention_time: None,
        max_partition_size: None,
        ..StorageConfig::default()
    }
}

/// Start each measurement with no dirty pages from the last one.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn reps() -> usize {
    env_bytes("STORAGE_BENCH_REPS", 3).max(1) as usize
}

/// The fastest of several runs.
fn best(runs: Vec<Measure>) -> Measure {
    runs.into_iter()
        .min_by(|a, b| a.secs.total_cmp(&b.secs))
        .unwrap()
}

struct Measure {
    secs: f64,
    bytes: u64,
    records: u64,
}

impl Measure {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }

    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

fn report(case: &str, m: &Measure, baseline_name: &str, baseline: &Measure, extra: &str) {
    println!(
        "{{\"case\":\"{case}\",\"bytes\":{},\"records\":{},\"secs\":{:.3},\"mb_per_s\":{:.1},\"records_per_s\":{:.0},\"baseline\":\"{baseline_name}\",\"baseline_mb_per_s\":{:.1},\"ratio\":{:.2}{extra}}}",
        m.bytes,
        m.records,
        m.secs,
        m.mb_per_s(),
        m.records_per_s(),
        baseline.mb_per_s(),
        m.mb_per_s() / baseline.mb_per_s(),
    );
}

/// Plain `write_all` of `count` chunks, with `fdatasync` after each when `sync`.
fn baseline_write(
    dir: &Path,
    chunk: &[u8],
    count: u64,
    records_per_chunk: u64,
    sync: bool,
) -> Measure {
    settle();
    let path = dir.join("baseline.bin");
    let mut file = File::create(&path).unwrap();
    let start = Instant::now();
    for _ in 0..count {
        file.write_all(chunk).unwrap();
        if sync {
            file.sync_data().unwrap();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    fs::remove_file(&path).unwrap();
    Measure {
        secs,
        bytes: chunk.len() as u64 * count,
        records: records_per_chunk * count,
    }
}

fn storage_append(
    dir: &Path,
    batch: &[u8],
    count: u64,
    records_per_batch: u64,
    flush: FlushPolicy,
) -> Measure {
    settle();
    let log = ReplicaLog::open(dir.join("topic-0"), config(flush)).unwrap();
    let mut buf = batch.to_vec();
    let start = Instant::now();
    for _ in 0..count {
        log.append_as_leader(&mut buf).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    log.delete().unwrap();
    Measure {
        secs,
        bytes: batch.len() as u64 * count,
        records: records_per_batch * count,
    }
}

fn append_case(root: &Path, name: &str, records: usize, total: u64, flush: FlushPolicy) {
    let dir = fresh_dir(root, name);
    let batch = make_batch(records);
    let count = (total / batch.len() as u64).max(1);
    let sync = flush == FlushPolicy::Always;
    let mut baselines = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..reps() {
        baselines.push(baseline_write(&dir, &batch, count, records as u64, sync));
        runs.push(storage_append(&dir, &batch, count, records as u64, flush));
    }
    let (baseline, m) = (best(baselines), best(runs));
    let baseline_name = if sync {
        format!("write_all+fdatasync per {} B chunk", batch.len())
    } else {
        format!("write_all {} B chunks", batch.len())
    };
    report(
        name,
        &m,
        &baseline_name,
        &baseline,
        &format!(",\"batch_bytes\":{}", batch.len()),
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Concurrent `always` appends from tokio tasks (the SPU's shape): group commit.
fn group_commit_case(root: &Path, total: u64) {
    let name = "append_16k_batches_always_8_appenders";
    let dir = fresh_dir(root, name);
    let batch = make_batch(16);
    let count = (total / batch.len() as u64).max(GROUP_COMMIT_APPENDERS as u64);
    let per_task = count / GROUP_COMMIT_APPENDERS as u64;
    let count = per_task * GROUP_COMMIT_APPENDERS as u64;
    let mut baselines = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..reps() {
        baselines.push(baseline_write(&dir, &batch, count, 16, true));
        runs.push(concurrent_always_appends(&dir, &batch, per_task));
    }
    let baseline = best(baselines);
    let (m, appends, fsyncs) = runs
        .into_iter()
        .min_by(|a, b| a.0.secs.total_cmp(&b.0.secs))
        .unwrap();
    report(
        name,
        &m,
        &format!(
            "write_all+fdatasync per {} B chunk, one writer",
            batch.len()
        ),
        &baseline,
        &format!(
            ",\"appenders\":{GROUP_COMMIT_APPENDERS},\"appends\":{appends},\"fsyncs\":{fsyncs}"
        ),
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// One run of `GROUP_COMMIT_APPENDERS` tasks each appending `per_task` batches.
fn concurrent_always_appends(dir: &Path, batch: &[u8], per_task: u64) -> (Measure, u64, u64) {
    settle();
    let log = Arc::new(ReplicaLog::open(dir.join("topic-0"), config(FlushPolicy::Always)).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..GROUP_COMMIT_APPENDERS)
            .map(|_| {
                let log = log.clone();
                let batch = batch.to_vec();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        log.append_as_leader_async(batch.clone()).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let stats = log.stats();
    drop(runtime);
    Arc::into_inner(log).unwrap().delete().unwrap();
    let count = per_task * GROUP_COMMIT_APPENDERS as u64;
    let m = Measure {
        secs,
        bytes: batch.len() as u64 * count,
        records: 16 * count,
    };
    (m, stats.appends, stats.syncs)
}

/// Sequential reads of a whole log, then recovery of it after an unclean stop.
fn read_and_recovery_cases(root: &Path, total: u64) {
    let dir = fresh_dir(root, "read");
    let log_dir = dir.join("topic-0");
    let batch = make_batch(16);
    let count = (total / batch.len() as u64).max(1);
    let records = 16 * count;
    {
        let log = ReplicaLog::open(&log_dir, config(FlushPolicy::Never)).unwrap();
        let mut buf = batch.clone();
        for _ in 0..count {
            log.append_as_leader(&mut buf).unwrap();
        }
        log.close().unwrap();
    }
    settle();
    let segments: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = fs::read_dir(&log_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        v.sort();
        v
    };
    let chunk = 1 << 20;

    // Baseline: read(2) of the segment files in 1 MiB chunks into one buffer.
    let mut plain_buf = vec![0u8; chunk];
    let mut plain_read = || {
        let start = Instant::now();
        let mut bytes = 0u64;
        for path in &segments {
            let mut file = File::open(path).unwrap();
            loop {
                let n = file.read(&mut plain_buf).unwrap();
                if n == 0 {
                    break;
                }
                bytes += n as u64;
            }
        }
        Measure {
            secs: start.elapsed().as_secs_f64(),
            bytes,
            records,
        }
    };

    let log = ReplicaLog::open(&log_dir, config(FlushPolicy::Never)).unwrap();
    // Consumer-style reads: up to 1 MiB from where the last one ended.
    let read_all = |consume: &mut dyn FnMut(&ReadSlice) -> u64| {
        let start = Instant::now();
        let mut offset = log.log_start_offset();
        let mut bytes = 0;
        let leo = log.leo();
        while offset < leo {
            let slice = log
                .read(offset, chunk as u64, Isolation::ReadUncommitted)
                .unwrap();
            bytes += consume(&slice);
            offset = slice.end_offset;
        }
        Measure {
            secs: start.elapsed().as_secs_f64(),
            bytes,
            records,
        }
    };
    let mut buf = Vec::with_capacity(chunk);
    let mut buffered = |slice: &ReadSlice| {
        buf.clear();
        slice.read_into(&mut buf).unwrap();
        buf.len() as u64
    };
    let null = File::options().write(true).open("/dev/null").unwrap();
    let mut zero_copy = |slice: &ReadSlice| slice.send_all(&null).unwrap();
    let (mut baselines, mut buffered_runs, mut sendfile_runs) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps() {
        baselines.push(plain_read());
        buffered_runs.push(read_all(&mut buffered));
        sendfile_runs.push(read_all(&mut zero_copy));
    }
    let baseline = best(baselines);
    report(
        "read_sequential_buffered_1m",
        &best(buffered_runs),
        "read(2) 1 MiB chunks",
        &baseline,
        ",\"path\":\"ReadSlice::read_into a reused buffer\"",
    );
    report(
        "read_sequential_sendfile_1m",
        &best(sendfile_runs),
        "read(2) 1 MiB chunks",
        &baseline,
        ",\"path\":\"sendfile to /dev/null\"",
    );

    // Recovery: the same log, stopped without a clean shutdown (dropped, not closed) and
    // reopened, which validates it batch by batch. Every reopen is unclean again.
    drop(log);
    let mut recoveries = Vec::new();
    let mut validated = 0;
    for _ in 0..reps() {
        settle();
        let start = Instant::now();
        let log = ReplicaLog::open(&log_dir, config(FlushPolicy::Never)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let report = log.recovery_report();
        assert!(!report.clean_shutdown);
        validated = report.segments_validated;
        recoveries.push(Measure {
            secs,
            bytes: log.size_bytes(),
            records,
        });
    }
    let m = best(recoveries);
    let secs = m.secs;
    report(
        "recovery_unclean",
        &m,
        "read(2) 1 MiB chunks",
        &baseline,
        &format!(
            ",\"segments_validated\":{validated},\"under_1s\":{}",
            Duration::from_secs_f64(secs) < Duration::from_secs(1)
        ),
    );
    let log = ReplicaLog::open(&log_dir, config(FlushPolicy::Never)).unwrap();
    log.delete().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    // `cargo bench -p daemon --bench storage -- append_1m` runs the cases whose name holds
    // one of the words given; cargo's own `--bench` flag is ignored.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let total = env_bytes("STORAGE_BENCH_BYTES", 1 << 30);
    let sync_total = env_bytes("STORAGE_BENCH_SYNC_BYTES", 64 << 20);
    let root = std::env::var_os("STORAGE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("storage-bench-{}", std::process::id()));
    fs::create_dir_all(&root).unwrap();

    let appends = [
        ("append_16k_batches_never", 16, total, FlushPolicy::Never),
        ("append_1m_batches_never", 1024, total, FlushPolicy::Never),
        (
            "append_16k_batches_always",
            16,
            sync_total,
            FlushPolicy::Always,
        ),
        (
            "append_1m_batches_always",
            1024,
            sync_total,
            FlushPolicy::Always,
        ),
    ];
    for (name, records, bytes, flush) in appends {
        if wanted(name) {
            append_case(&root, name, records, bytes, flush);
        }
    }
    if wanted("append_16k_batches_always_8_appenders") {
        group_commit_case(&root, sync_total);
    }
    if wanted("read_sequential") || wanted("recovery_unclean") {
        read_and_recovery_cases(&root, total);
    }

    fs::remove_dir_all(&root).unwrap();
}
