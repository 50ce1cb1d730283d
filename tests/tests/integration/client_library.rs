//! Our client library (console::client) against a real daemon: admin, producer batching
//! and partitioning, consumer positions, live tail, errors, a restart of the SC.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use console::client::{
    Admin, ClientError, ConsumerConfig, Fluvio, Offset, ProducerConfig, partition_for_key,
};
use protocol::api::{ErrorCode, spu_keys};
use protocol::record::{Record, RecordHeader};
use protocol::sc::{PartitionResolution, TopicSpec};
use protocol::spu::{ApiRequest, StreamFetchRequest, StreamFetchResponse};
use protocol::{Decode, Reader};
use tests::cluster::Cluster;
use tests::{Daemon, Role, runtime, temp_dir, topic_spec};

async fn drain(
    fluvio: &Fluvio,
    topic: &str,
    partition: u32,
    offset: Offset,
) -> Vec<console::client::ConsumerRecord> {
    let consumer = fluvio
        .partition_consumer(topic, partition)
        .await
        .expect("consumer");
    let config = ConsumerConfig {
        stop_at_end: true,
        ..ConsumerConfig::default()
    };
    let mut stream = consumer.stream(offset, config).await.expect("stream");
    let mut out = Vec::new();
    while let Some(record) = stream.next().await {
        out.push(record.expect("record"));
    }
    out
}

/// Connect to the daemon's SC and create `topics` (name, partitions).
async fn connect_with_topics(daemon: &Daemon, topics: &[(&str, u32)]) -> Fluvio {
    let fluvio = daemon.connect().await;
    for (name, partitions) in topics {
        fluvio
            .admin()
            .create::<TopicSpec>(name, topic_spec(*partitions), false)
            .await
            .expect("create topic");
    }
    fluvio
}

#[test]
fn produce_then_consume_keys_values_headers_in_order() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = connect_with_topics(&daemon, &[("orders", 1)]).await;
        let producer = fluvio
            .topic_producer("orders", ProducerConfig::default())
            .await
            .expect("producer");
        let mut pending = Vec::new();
        for i in 0..1000 {
            let record = Record::with_key(format!("key-{i}"), format!("value-{i}"))
                .header("n", i.to_string());
            pending.push(producer.send_record(0, record).await.expect("send"));
        }
        producer.flush().await.expect("flush");
        let mut offsets = Vec::new();
        for p in pending {
            offsets.push(p.wait().await.expect("ack").offset);
        }
        assert_eq!(offsets, (0..1000).collect::<Vec<i64>>());

        let records = drain(&fluvio, "orders", 0, Offset::Beginning).await;
        assert_eq!(records.len(), 1000);
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.offset, i as i64);
            assert_eq!(record.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            assert_eq!(record.value, Bytes::from(format!("value-{i}")));
            assert_eq!(record.headers, vec![RecordHeader::new("n", i.to_string())]);
            assert!(record.timestamp > 0);
        }

        // Positions: absolute, from the end, from the beginning.
        let tail = drain(&fluvio, "orders", 0, Offset::FromEnd(3)).await;
        assert_eq!(
            tail.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![997, 998, 999]
        );
        let from = drain(&fluvio, "orders", 0, Offset::Absolute(995)).await;
        assert_eq!(from.first().map(|r| r.offset), Some(995));
        assert_eq!(from.len(), 5);
        let skip = drain(&fluvio, "orders", 0, Offset::FromBeginning(990)).await;
        assert_eq!(skip.len(), 10);
        assert!(drain(&fluvio, "orders", 0, Offset::End).await.is_empty());
    });
}

#[test]
fn keys_choose_partitions_and_every_partition_is_consumed() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = connect_with_topics(&daemon, &[("events", 3)]).await;
        let producer = fluvio
            .topic_producer("events", ProducerConfig::default())
            .await
            .expect("producer");
        let mut acks = Vec::new();
        for i in 0..300 {
            let key = format!("user-{}", i % 17);
            let pending = producer
                .send(Some(Bytes::from(key.clone())), format!("event-{i}"))
                .await
                .expect("send");
            acks.push((key, pending));
        }
        for (key, pending) in acks {
            let meta = pending.wait().await.expect("ack");
            assert_eq!(meta.partition, partition_for_key(key.as_bytes(), 3));
        }
        let mut seen = BTreeSet::new();
        for partition in 0..3 {
            for record in drain(&fluvio, "events", partition, Offset::Beginning).await {
                let key = record.key.clone().expect("key");
                assert_eq!(
                    partition_for_key(&key, 3),
                    partition,
                    "key routed to its partition"
                );
                seen.insert(String::from_utf8(record.value.to_vec()).unwrap());
            }
        }
        assert_eq!(seen.len(), 300, "every record consumed once");
    });
}

/// Count the batches stored in a partition by reading its raw record set.
async fn stored_batches(fluvio: &Fluvio, topic: &str) -> usize {
    let route = fluvio
        .metadata()
        .route(topic, 0, Duration::from_secs(5))
        .await
        .expect("route");
    let socket = console::client::Socket::connect(&route.leader_addr, console::client::Peer::Spu)
        .await
        .expect("spu");
    let request = StreamFetchRequest::new(topic, 0, 0);
    let mut frames = socket
        .stream(
            spu_keys::STREAM_FETCH,
            StreamFetchRequest::VERSION,
            &request,
        )
        .await
        .expect("stream");
    let body = frames.next().await.expect("frame");
    let response =
        StreamFetchResponse::decode(&mut Reader::new(&body), StreamFetchRequest::VERSION)
            .expect("decode");
    assert_eq!(response.error_code, ErrorCode::None);
    response.records.batches().count()
}

#[test]
fn records_are_batched_by_linger_and_by_size() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = connect_with_topics(&daemon, &[("lingered", 1), ("tiny", 1)]).await;
        // A long linger and a large batch: ten quick sends share one batch.
        let lingered = fluvio
            .topic_producer(
                "lingered",
                ProducerConfig {
                    linger: Duration::from_secs(2),
                    batch_size: 1 << 20,
                    ..ProducerConfig::default()
                },
            )
            .await
            .expect("producer");
        let mut pending = Vec::new();
        for i in 0..10 {
            pending.push(lingered.send(None, format!("r{i}")).await.expect("send"));
        }
        lingered.flush().await.expect("flush");
        for p in pending {
            p.wait().await.expect("ack");
        }
        assert_eq!(stored_batches(&fluvio, "lingered").await, 1);

        // A batch size below one record: every record seals its own batch.
        let tiny = fluvio
            .topic_producer(
                "tiny",
                ProducerConfig {
                    batch_size: 1,
                    ..ProducerConfig::default()
                },
            )
            .await
            .expect("producer");
        let mut pending = Vec::new();
        for i in 0..5 {
            pending.push(tiny.send(None, format!("r{i}")).await.expect("send"));
        }
        let offsets: Vec<i64> = {
            let mut out = Vec::new();
            for p in pending {
                out.push(p.wait().await.expect("ack").offset);
            }
            out
        };
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        assert_eq!(stored_batches(&fluvio, "tiny").await, 5);
    });
}

#[test]
fn a_live_stream_receives_records_produced_after_it_started() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = connect_with_topics(&daemon, &[("live", 1)]).await;
        let consumer = fluvio
            .partition_consumer("live", 0)
            .await
            .expect("consumer");
        let mut stream = consumer
            .stream(Offset::End, ConsumerConfig::default())
            .await
            .expect("stream");
        let producer = fluvio
            .topic_producer("live", ProducerConfig::default())
            .await
            .expect("producer");
        for i in 0..3 {
            producer
                .send(None, format!("live-{i}"))
                .await
                .expect("send");
        }
        producer.flush().await.expect("flush");
        for i in 0..3 {
            let record = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("a record arrives")
                .expect("stream open")
                .expect("record");
            assert_eq!(record.offset, i);
            assert_eq!(record.value, Bytes::from(format!("live-{i}")));
        }
    });
}

#[test]
fn errors_name_the_problem() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        let err = fluvio
            .topic_producer("nope", ProducerConfig::default())
            .await
            .err()
            .expect("missing topic");
        assert!(
            matches!(&err, ClientError::TopicNotFound { topic } if topic == "nope"),
            "{err}"
        );
        assert_eq!(err.to_string(), "topic 'nope' does not exist");
        fluvio
            .admin()
            .create::<TopicSpec>("dup", topic_spec(1), false)
            .await
            .expect("create");
        let err = fluvio
            .admin()
            .create::<TopicSpec>("dup", topic_spec(1), false)
            .await
            .expect_err("duplicate");
        assert!(
            matches!(err.error_code(), Some(ErrorCode::TopicAlreadyExists)),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "cannot create topic 'dup': topic 'dup' already exists"
        );
        let err = fluvio
            .partition_consumer("dup", 4)
            .await
            .err()
            .expect("no such partition");
        assert!(
            matches!(
                &err,
                ClientError::PartitionNotFound { topic, partition: 4, partitions: 1 } if topic == "dup"
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("has 1 partition(s); there is no partition 4"),
            "{err}"
        );
    });
    // A dead SC.
    let addr = tests::free_addr().to_string();
    let err = runtime()
        .block_on(Fluvio::connect(&addr))
        .err()
        .expect("nothing listens");
    assert!(matches!(err, ClientError::Unreachable { .. }));
    assert_eq!(
        err.to_string(),
        format!("cannot reach the SC at {addr}: connection refused")
    );
}

#[test]
fn requests_stay_under_the_frame_limit_and_memory_stays_bounded() {
    let dir = temp_dir();
    // The SPU refuses frames over 2 MiB.
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &["--max-frame-bytes", "2097152"],
    );
    runtime().block_on(async {
        let fluvio = connect_with_topics(&daemon, &[("large", 1)]).await;
        let producer = fluvio
            .topic_producer(
                "large",
                ProducerConfig {
                    batch_size: 256 * 1024,
                    max_request_bytes: 1024 * 1024,
                    max_buffered_bytes: 4 * 1024 * 1024,
                    ..ProducerConfig::default()
                },
            )
            .await
            .expect("producer");
        // 12.8 MB sent without waiting: many requests' worth, none above the limit.
        let value = Bytes::from(vec![7u8; 64 * 1024]);
        let mut pending = Vec::new();
        for _ in 0..200 {
            pending.push(producer.send(None, value.clone()).await.expect("send"));
        }
        producer.flush().await.expect("flush");
        let mut offsets = Vec::new();
        for p in pending {
            offsets.push(p.wait().await.expect("acknowledged").offset);
        }
        assert_eq!(offsets, (0..200).collect::<Vec<i64>>());
        let records = drain(&fluvio, "large", 0, Offset::Beginning).await;
        assert_eq!(records.len(), 200);
        assert!(records.iter().all(|r| r.value == value));
    });
    assert!(
        !daemon.log().contains("exceeds the limit"),
        "a request was over the frame limit:\n{}",
        daemon.log()
    );
}

/// Poll `done` until it holds; panics naming `what` after a deadline.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_handle_made_before_a_kill_9_of_the_sc_works_once_it_is_back() {
    // The SPU runs on its own, so only the SC goes down.
    let mut cluster = Cluster::start(&[None], &[], &[]);
    let sc = cluster.sc.public.to_string();
    let rt = runtime();
    let fluvio = rt.block_on(Fluvio::connect(&sc)).expect("connect");

    cluster.kill_sc();
    wait_until("saw the SC go", || {
        fluvio.metadata().check_connected().is_err()
    });
    cluster.restart_sc();
    // The topic is made on a connection of its own: the old handle has never heard of it.
    rt.block_on(async {
        Admin::connect(&sc)
            .await
            .expect("the restarted SC answers")
            .create::<TopicSpec>("after-restart", topic_spec(1), false)
            .await
            .expect("create topic");
    });
    // Once the SPU is back with the SC and holds the new replica, records can go there.
    cluster.wait_partition("after-restart-0", "online", |p| {
        p.status.resolution == PartitionResolution::Online
    });

    let sent: Vec<Bytes> = (0..100)
        .map(|i| Bytes::from(format!("after-restart-{i}")))
        .collect();
    rt.block_on(async {
        let producer = fluvio
            .topic_producer("after-restart", ProducerConfig::default())
            .await
            .expect("the old handle finds the new topic");
        let mut pending = Vec::new();
        for value in &sent {
            pending.push(producer.send(None, value.clone()).await.expect("send"));
        }
        producer.flush().await.expect("flush");
        for p in pending {
            p.wait().await.expect("acknowledged");
        }
        let records = drain(&fluvio, "after-restart", 0, Offset::Beginning).await;
        let read: Vec<Bytes> = records.into_iter().map(|r| r.value).collect();
        assert_eq!(read, sent);
    });
    assert!(fluvio.metadata().check_connected().is_ok());
}

#[test]
fn a_following_stream_outlives_a_kill_9_and_restart_of_the_whole_daemon() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    let rt = runtime();
    let produce = |values: &[String]| {
        rt.block_on(async {
            // A connection of its own each time: the one before the restart is gone.
            let fluvio = Fluvio::connect(&sc).await.expect("connect");
            let producer = fluvio
                .topic_producer("follow", ProducerConfig::default())
                .await
                .expect("producer");
            let mut pending = Vec::new();
            for value in values {
                pending.push(producer.send(None, value.clone()).await.expect("send"));
            }
            producer.flush().await.expect("flush");
            for p in pending {
                p.wait().await.expect("acknowledged");
            }
        })
    };
    let fluvio = rt.block_on(connect_with_topics(&daemon, &[("follow", 1)]));
    let mut stream = rt.block_on(async {
        fluvio
            .partition_consumer("follow", 0)
            .await
            .expect("consumer")
            .stream(Offset::Beginning, ConsumerConfig::default())
            .await
            .expect("stream")
    });
    let mut next_values = |n: usize| -> Vec<(i64, String)> {
        rt.block_on(async {
            let mut out = Vec::new();
            while out.len() < n {
                let record = tokio::time::timeout(Duration::from_secs(60), stream.next())
                    .await
                    .expect("a record within a minute")
                    .expect("the stream goes on")
                    .expect("a record, not an error");
                out.push((
                    record.offset,
                    String::from_utf8_lossy(&record.value).into_owned(),
                ));
            }
            out
        })
    };

    // Five values named `prefix`-N, and the offsets they should get from `first` on.
    let numbered = |prefix: &str, first: i64| -> (Vec<String>, Vec<(i64, String)>) {
        let values: Vec<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
        let expected = (first..).zip(values.iter().cloned()).collect();
        (values, expected)
    };

    let (before, expected) = numbered("before", 0);
    produce(&before);
    assert_eq!(next_values(5), expected);

    // The daemon dies with the stream open, and comes back where it was.
    let (public, private) = (daemon.public, daemon.private);
    daemon.kill();
    wait_until("saw the SC go", || {
        fluvio.metadata().check_connected().is_err()
    });
    // Down for a while, so the stream's attempts to resume find the SC away, as they do
    // while a daemon restarts.
    std::thread::sleep(Duration::from_secs(2));
    let daemon = Daemon::spawn_on(Role::AllInOne { spus: 1 }, dir.path(), public, private);
    daemon.wait_ready();

    let (after, expected) = numbered("after", 5);
    produce(&after);
    assert_eq!(
        next_values(5),
        expected,
        "the same stream, from where it was"
    );
}
