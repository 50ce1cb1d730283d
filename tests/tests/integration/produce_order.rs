//! Send order is the stored order, even when the disk refuses a write: the daemon runs
//! under a file size limit, a record too large for the space left fails, and nothing the
//! producer sent after it may be stored behind the hole it leaves.

use std::time::Duration;

use bytes::Bytes;
use console::client::{ClientError, ConsumerConfig, Offset, RecordSpan};
use protocol::api::ErrorCode;
use protocol::record::RecordSet;
use protocol::sc::TopicSpec;
use protocol::spu::{Isolation, PartitionProduceData, ProduceRequest, TopicProduceData};
use tests::cli::fluvio;
use tests::client::ScClient;
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::{Daemon, Role, temp_dir, topic_spec};

/// No file of the daemon may grow past this: the segment of each topic below fills it.
const FILE_LIMIT: u64 = 2 << 20;
/// Small records (about 105 bytes each in the log) before the large one: 1.26 MB of the
/// segment's 2 MiB.
const BEFORE: u64 = 12_000;
/// Small records sent after the large one: 0.3 MB, which would still fit.
const AFTER: u64 = 3_000;

/// Record `n` (numbered from 1) of the sequence: the large one is `BEFORE + 1`.
fn value(n: u64) -> String {
    let fill = if n == BEFORE + 1 {
        // Too large for the space left, small enough for one batch (the SPU takes 2 MiB).
        (1 << 20) + 1024
    } else {
        90
    };
    format!("{n:06}-{}", "x".repeat(fill))
}

/// The sequence numbers of the records `consume -B -d` prints.
fn consumed(sc: &str, topic: &str) -> Vec<u64> {
    let run = fluvio(sc, &["consume", topic, "-B", "-d"]);
    run.ok();
    run.stdout
        .lines()
        .map(|line| {
            line.split('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered record: {:.40}", line))
        })
        .collect()
}

/// Panics unless `numbers` is `first, first + 1, ...` with no gap.
#[track_caller]
fn assert_contiguous(numbers: &[u64], first: u64) {
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(
            *n,
            first + i as u64,
            "record {} of the log should be #{} but is #{n} (a hole in the sequence sent)",
            i,
            first + i as u64
        );
    }
}

#[test]
fn a_refused_write_fails_the_records_behind_it_and_the_log_keeps_the_order_sent() {
    let dir = temp_dir();
    let daemon =
        Daemon::start_with_file_size_limit(Role::AllInOne { spus: 1 }, dir.path(), FILE_LIMIT);
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "seq"]).ok();
    let input: String = (1..=BEFORE + 1 + AFTER).map(|n| value(n) + "\n").collect();
    // A file, not stdin: the producer stops reading at the failure.
    let file = dir.path().join("input.txt");
    std::fs::write(&file, input).unwrap();
    let file = file.display().to_string();

    let run = fluvio(&sc, &["produce", "seq", "-v", "-f", &file]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("cannot produce to seq-0: storage error"),
        "{}",
        run.stderr
    );
    // Every record reported as written is where it was reported, before the failure.
    let acknowledged: Vec<&str> = run.stdout.lines().collect();
    assert!(
        acknowledged.len() as u64 <= BEFORE,
        "{:?}",
        acknowledged.last()
    );
    for (i, line) in acknowledged.iter().enumerate() {
        assert_eq!(*line, format!("partition 0 offset {i}"));
    }

    // The log is the records before the one refused, all of them, and nothing after it.
    let log = consumed(&sc, "seq");
    assert_contiguous(&log, 1);
    assert_eq!(log.len() as u64, BEFORE, "records stored");
    assert!(
        daemon.log().contains("File too large"),
        "the write error was injected"
    );

    // The refused write left the log as it was: the next record lands right after it.
    let next = dir.path().join("next.txt");
    std::fs::write(&next, format!("{}\n", value(BEFORE + 1000))).unwrap();
    fluvio(&sc, &["produce", "seq", "-f", &next.display().to_string()]).ok();
    let log = consumed(&sc, "seq");
    assert_eq!(log.len() as u64, BEFORE + 1);
    assert_contiguous(&log[..BEFORE as usize], 1);
    assert_eq!(log[BEFORE as usize], BEFORE + 1000);
}

#[test]
fn the_producer_fails_what_was_queued_then_goes_on_once_the_failure_is_seen() {
    let dir = temp_dir();
    let daemon =
        Daemon::start_with_file_size_limit(Role::AllInOne { spus: 1 }, dir.path(), FILE_LIMIT);
    // One thread: every send below is queued before the delivery task sends anything, so
    // the records after the large one are certainly waiting behind it when it fails.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fluvio = daemon.connect().await;
        fluvio
            .admin()
            .create::<TopicSpec>("lib", topic_spec(1), false)
            .await
            .unwrap();
        let producer = fluvio
            .topic_producer("lib", Default::default())
            .await
            .unwrap();
        let mut pending = Vec::new();
        for n in 1..=BEFORE + 1 + AFTER {
            pending.push(producer.send(None, value(n)).await.unwrap());
        }
        // Waits for every answer without reading any: the failure is not seen yet.
        producer.flush().await.unwrap();
        let refused = producer.send(None, "sent before seeing it").await;
        let Err(ClientError::NotSent {
            topic,
            partition,
            failed,
            cause,
        }) = refused
        else {
            panic!("a send before the failure was seen must be refused");
        };
        assert_eq!((topic.as_str(), partition), ("lib", 0));
        assert_eq!(
            failed,
            RecordSpan {
                first: BEFORE + 1,
                last: BEFORE + 1
            }
        );
        assert_eq!(cause.error_code(), Some(&ErrorCode::StorageError));

        let mut results = Vec::new();
        for record in pending {
            results.push(record.wait().await);
        }
        for (i, result) in results[..BEFORE as usize].iter().enumerate() {
            assert_eq!(result.as_ref().unwrap().offset, i as i64);
        }
        let failed = results[BEFORE as usize].as_ref().unwrap_err();
        assert_eq!(failed.error_code(), Some(&ErrorCode::StorageError));
        for result in &results[BEFORE as usize + 1..] {
            let err = result.as_ref().unwrap_err();
            assert!(
                err.to_string().starts_with(
                    "not sent: an earlier batch to lib-0 failed: cannot produce to lib-0: storage error"
                ),
                "{err}"
            );
            let span = format!("record #{} of those sent to it", BEFORE + 1);
            assert!(err.to_string().contains(&span), "{err}");
        }

        // The caller has seen the failure: sending goes on, right after the last record
        // stored.
        let next = producer.send(None, value(BEFORE + 1000)).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(60), next.wait())
            .await
            .expect("acknowledged")
            .unwrap();
        assert_eq!(next.offset, BEFORE as i64);

        let consumer = fluvio.partition_consumer("lib", 0).await.unwrap();
        let config = ConsumerConfig {
            stop_at_end: true,
            ..ConsumerConfig::default()
        };
        let mut stream = consumer.stream(Offset::Beginning, config).await.unwrap();
        let mut stored = Vec::new();
        while let Some(record) = stream.next().await {
            let record = record.unwrap();
            assert_eq!(record.offset, stored.len() as i64);
            stored.push(record.value);
        }
        let expected: Vec<Bytes> = (1..=BEFORE)
            .chain([BEFORE + 1000])
            .map(|n| Bytes::from(value(n)))
            .collect();
        assert_eq!(stored.len(), expected.len());
        assert!(stored == expected, "the log holds the records sent, in order");
    });
}

/// The answers of one produce request with `entries` (partition, batch bytes) for `topic`.
fn produce_entries(
    spu: &mut SpuClient,
    topic: &str,
    entries: Vec<(u32, Vec<u8>)>,
) -> Vec<ErrorCode> {
    let request = ProduceRequest {
        topics: vec![TopicProduceData {
            name: topic.into(),
            partitions: entries
                .into_iter()
                .map(|(partition_index, batches)| PartitionProduceData {
                    partition_index,
                    records: RecordSet::new(batches),
                })
                .collect(),
        }],
        ..Default::default()
    };
    let response = spu.produce_request(&request).unwrap();
    response.responses[0]
        .partitions
        .iter()
        .map(|p| p.error_code.clone())
        .collect()
}

#[test]
fn the_spu_writes_no_entry_of_a_request_behind_one_the_disk_refused() {
    let dir = temp_dir();
    let daemon =
        Daemon::start_with_file_size_limit(Role::AllInOne { spus: 1 }, dir.path(), FILE_LIMIT);
    let mut sc = ScClient::connect(daemon.public).unwrap();
    let status = sc.create_topic("raw", topic_spec(2)).unwrap();
    assert!(status.error_code.is_ok(), "{status:?}");
    let mut spu = SpuClient::connect(spu_addr(daemon.public, 5001)).unwrap();

    // 1.2 MB of the 2 MiB partition 0 may hold, then a batch too large for the rest.
    let value = vec![b'v'; 1200];
    let prefix = batch_of(&vec![value.as_slice(); 1000]);
    let stored = spu
        .produce("raw", 0, prefix, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(
        (stored.error_code, stored.base_offset),
        (ErrorCode::None, 0)
    );
    let large = vec![b'L'; 1 << 20];
    let large = || batch_of(&[large.as_slice()]);
    let small = || batch_of(&[b"small".as_slice()]);

    // Entries next to each other, appended together: all refused, none stored.
    let answers = produce_entries(&mut spu, "raw", vec![(0, large()), (0, small())]);
    assert_eq!(answers, [ErrorCode::StorageError, ErrorCode::StorageError]);
    // Apart: the other partition is written, the later entry for partition 0 is not.
    let answers = produce_entries(
        &mut spu,
        "raw",
        vec![(0, large()), (1, small()), (0, small())],
    );
    assert_eq!(answers[..2], [ErrorCode::StorageError, ErrorCode::None]);
    let ErrorCode::Other(message) = &answers[2] else {
        panic!("expected a refusal with a message, got {:?}", answers[2]);
    };
    assert!(
        message.starts_with("not written: an earlier batch to raw-0 in the same request failed"),
        "{message}"
    );

    // Nothing was stored behind the refused batches: the next one lands right after the
    // prefix.
    let next = spu
        .produce("raw", 0, small(), Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!((next.error_code, next.base_offset), (ErrorCode::None, 1000));
}
