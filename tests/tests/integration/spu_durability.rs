//! `--flush always`: a daemon killed with SIGKILL while a producer writes loses no
//! acknowledged record. After the restart every acknowledged record is there, at the
//! offset it was acknowledged at, in order, exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::spu::Isolation;
use tests::client::ScClient;
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::{Daemon, Role, temp_dir};

/// Records per produced batch.
const PER_BATCH: u64 = 5;

/// One acknowledged batch: where it went and the first record's sequence number.
#[derive(Debug, Clone, Copy)]
struct Acked {
    base_offset: i64,
    first: u64,
}

fn value(seq: u64) -> Vec<u8> {
    format!("record-{seq:08}").into_bytes()
}

/// Produce numbered records until the connection fails; every acknowledgement goes
/// into `acked`.
fn produce_until_killed(mut spu: SpuClient, acked: Arc<Mutex<Vec<Acked>>>, stop: Arc<AtomicBool>) {
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let values: Vec<Vec<u8>> = (seq..seq + PER_BATCH).map(value).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        match spu.produce("durable", 0, batch_of(&refs), Isolation::ReadCommitted) {
            Ok(r) if r.error_code.is_ok() => acked.lock().unwrap().push(Acked {
                base_offset: r.base_offset,
                first: seq,
            }),
            Ok(r) => panic!("produce refused before the kill: {:?}", r.error_code),
            Err(_) => return,
        }
        seq += PER_BATCH;
    }
}

#[test]
fn acknowledged_records_survive_sigkill_with_flush_always() {
    let dir = temp_dir();
    let mut daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &["--flush", "always"],
    );
    let mut sc = ScClient::connect(daemon.public).unwrap();
    assert!(
        sc.create_topic("durable", Default::default())
            .unwrap()
            .error_code
            .is_ok()
    );
    let spu = SpuClient::connect(spu_addr(daemon.public, 5001)).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || produce_until_killed(spu, acked, stop))
    };
    // Kill in the middle of the stream of writes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the producer is too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let acked = acked.lock().unwrap().clone();

    let daemon = Daemon::spawn_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        daemon.public,
        daemon.private,
        &["--flush", "always"],
    );
    daemon.wait_ready();
    let mut spu = SpuClient::connect(spu_addr(daemon.public, 5001)).unwrap();
    let offsets = spu.fetch_offsets("durable", 0).unwrap();
    let end = offsets.find("durable", 0).unwrap().last_stable_offset;
    let last = acked.last().unwrap();
    let acked_end = last.base_offset + PER_BATCH as i64;
    assert!(
        end >= acked_end,
        "log ends at {end}, before the last acknowledged offset {acked_end}"
    );
    // At most the batch in flight at the kill is there beyond the acknowledged ones.
    assert!(end <= acked_end + PER_BATCH as i64, "log ends at {end}");

    let records = spu.consume("durable", 0, 0, end).unwrap();
    let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        offsets,
        (0..end).collect::<Vec<i64>>(),
        "every offset once, in order"
    );
    // Records are numbered in send order: offset n holds record n, so nothing is
    // duplicated, lost or reordered, and each acknowledged batch is where it was acked.
    for (offset, v) in &records {
        assert_eq!(*v, value(*offset as u64), "offset {offset}");
    }
    for a in &acked {
        assert_eq!(a.base_offset as u64, a.first, "acknowledged at {a:?}");
    }
}
