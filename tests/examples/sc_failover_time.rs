//! Measures SC failover on etcd: one etcd, three SCs (`--leader-lease-secs`, default 5),
//! three SPUs; ten times: kill -9 the leading SC, then time
//!
//! * until `fluvio topic create` through `--sc A,B,C` succeeds (any SC takes creates), and
//! * until that new topic's partition is online on an SPU (the new leader has taken over
//!   the SPUs and placed it): the control plane's real failover time;
//!
//! then restart the killed SC and go on. Prints every run, the median and the worst.
//!
//! `cargo run -p tests --example sc_failover_time [-- RUNS [LEASE_SECS]]`

use std::time::{Duration, Instant};

use protocol::sc::PartitionResolution;
use tests::cli::fluvio;
use tests::ha::HaCluster;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let lease: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let mut cluster = HaCluster::start(1, 3, 3, lease, &[]);
    let list = cluster.public_list();
    let (mut creates, mut onlines) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let old = cluster.leader().expect("a leader");
        let topic = format!("failover-{run}");
        let killed = Instant::now();
        cluster.kill_sc(old);
        let created = loop {
            if fluvio(&list, &["topic", "create", &topic]).code == 0 {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "no create in 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let partition = format!("{topic}-0");
        let online = loop {
            let up = cluster
                .admin()
                .list_partitions()
                .ok()
                .and_then(|ps| ps.into_iter().find(|p| p.name == partition))
                .is_some_and(|p| p.status.resolution == PartitionResolution::Online);
            if up {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "not online in 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let new = cluster.wait_leader(Some(old));
        println!(
            "run {run:2}: SC {old} killed, SC {new} leads; create ok after {:>6} ms, partition online after {:>6} ms",
            created.as_millis(),
            online.as_millis()
        );
        creates.push(created);
        onlines.push(online);
        cluster.restart_sc(old);
        cluster.sc(old).wait_ready();
    }
    let worst = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    println!(
        "lease {lease} s, {runs} runs: create ok median {} ms, worst {} ms; new topic online median {} ms, worst {} ms",
        median(creates.clone()).as_millis(),
        worst(&creates).as_millis(),
        median(onlines.clone()).as_millis(),
        worst(&onlines).as_millis()
    );
}
