//! The SPU's public API over raw protocol frames: exact error codes, positional produce
//! answers, frames honouring max_bytes without gaps, sessions and their acknowledgements,
//! and offsets reported to the SC.

use std::time::{Duration, Instant};

use protocol::api::ErrorCode;
use protocol::record::RecordSet;
use protocol::sc::{ReplicaSpec, TopicSpec};
use protocol::spu::{
    DeleteConsumerOffsetRequest, FetchConsumerOffsetsRequest, Isolation, OffsetUpdate,
    PartitionProduceData, ProduceRequest, ReplicaKey, SmartModuleInvocation, StreamFetchRequest,
    TopicProduceData, UpdateConsumerOffsetRequest, UpdateOffsetsRequest,
};
use tests::client::ScClient;
use tests::inproc::InProcess;
use tests::spu_client::{SpuClient, batch_of, spu_addr};
use tests::{Role, temp_dir};

fn topic(partitions: u32) -> TopicSpec {
    TopicSpec {
        replicas: ReplicaSpec::Computed {
            partitions,
            replication_factor: 1,
            ignore_rack_assignment: false,
        },
        ..Default::default()
    }
}

fn entry(partition: u32, batches: Vec<u8>) -> PartitionProduceData {
    PartitionProduceData {
        partition_index: partition,
        records: RecordSet::new(batches),
    }
}

struct Cluster {
    daemon: InProcess,
    spu: SpuClient,
    sc: ScClient,
}

fn cluster(dir: &std::path::Path, topics: &[(&str, u32)]) -> Cluster {
    let daemon = InProcess::start(Role::AllInOne { spus: 1 }, dir);
    let mut sc = ScClient::connect(daemon.public).unwrap();
    for (name, partitions) in topics {
        let status = sc.create_topic(name, topic(*partitions)).unwrap();
        assert!(status.error_code.is_ok(), "{status:?}");
    }
    let spu = SpuClient::connect(spu_addr(daemon.public, 5001)).unwrap();
    Cluster { daemon, spu, sc }
}

#[test]
fn produce_answers_every_entry_in_request_order() {
    let dir = temp_dir();
    let mut c = cluster(dir.path(), &[("pos", 2)]);
    let request = ProduceRequest {
        topics: vec![
            TopicProduceData {
                name: "pos".into(),
                partitions: vec![
                    entry(0, batch_of(&[b"a", b"b"])),
                    entry(1, batch_of(&[b"c"])),
                    entry(0, batch_of(&[b"d"])),
                    entry(7, batch_of(&[b"x"])),
                ],
            },
            TopicProduceData {
                name: "missing".into(),
                partitions: vec![entry(0, batch_of(&[b"y"]))],
            },
            TopicProduceData {
                name: "pos".into(),
                partitions: vec![],
            },
        ],
        ..Default::default()
    };
    let response = c.spu.produce_request(&request).unwrap();
    let names: Vec<&str> = response.responses.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["pos", "missing", "pos"]);
    let first: Vec<(u32, ErrorCode, i64)> = response.responses[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code.clone(), p.base_offset))
        .collect();
    assert_eq!(
        first,
        [
            (0, ErrorCode::None, 0),
            (1, ErrorCode::None, 0),
            (0, ErrorCode::None, 2),
            (7, ErrorCode::NotLeaderForPartition, -1),
        ]
    );
    assert_eq!(
        response.responses[1].partitions[0].error_code,
        ErrorCode::NotLeaderForPartition
    );
    assert!(response.responses[2].partitions.is_empty());

    // ReadCommitted is answered once committed: with one replica, right after the write.
    let committed = c
        .spu
        .produce("pos", 0, batch_of(&[b"e"]), Isolation::ReadCommitted)
        .unwrap();
    assert_eq!(
        (committed.error_code, committed.base_offset),
        (ErrorCode::None, 3)
    );

    // SmartModules are refused per entry; nothing is written.
    let with_sm = ProduceRequest {
        topics: vec![TopicProduceData {
            name: "pos".into(),
            partitions: vec![entry(0, batch_of(&[b"z"]))],
        }],
        smartmodules: vec![SmartModuleInvocation::default()],
        ..Default::default()
    };
    let refused = c.spu.produce_request(&with_sm).unwrap();
    assert_eq!(
        refused.responses[0].partitions[0].error_code,
        ErrorCode::SmartModuleError
    );

    let offsets = c.spu.fetch_offsets("pos", 0).unwrap();
    let p0 = offsets.find("pos", 0).unwrap();
    assert_eq!(
        (
            p0.error_code.clone(),
            p0.start_offset,
            p0.last_stable_offset
        ),
        (ErrorCode::None, 0, 4)
    );
    let missing = c.spu.fetch_offsets("missing", 0).unwrap();
    assert_eq!(
        missing.find("missing", 0).unwrap().error_code,
        ErrorCode::NotLeaderForPartition
    );
    let values = c.spu.consume("pos", 0, 0, 4).unwrap();
    let values: Vec<(i64, &[u8])> = values.iter().map(|(o, v)| (*o, v.as_slice())).collect();
    assert_eq!(values, [(0, &b"a"[..]), (1, b"b"), (2, b"d"), (3, b"e")]);
    drop(c.daemon);
}

#[test]
fn streams_respect_max_bytes_without_gaps_and_push_new_batches() {
    let dir = temp_dir();
    let mut c = cluster(dir.path(), &[("frames", 1)]);
    let value = vec![b'v'; 1000];
    for _ in 0..20 {
        let batch = batch_of(&[&value, &value]);
        let r = c
            .spu
            .produce("frames", 0, batch, Isolation::ReadUncommitted)
            .unwrap();
        assert!(r.error_code.is_ok());
    }
    // Each batch is a little over 2 KB: a 5000-byte limit fits two per frame.
    let mut request = StreamFetchRequest::new("frames", 0, 3);
    request.max_bytes = 5000;
    let corr = c.spu.stream_fetch(&request).unwrap();
    let mut next = None;
    let mut frames = 0;
    let mut stream_id = 0;
    while next != Some(40) {
        let frame = c.spu.stream_frame(corr).unwrap();
        assert!(frame.error_code.is_ok(), "{:?}", frame.error_code);
        assert!(
            frame.records.len() <= 5000,
            "frame of {} bytes",
            frame.records.len()
        );
        assert_eq!(frame.high_watermark, 40);
        stream_id = frame.stream_id;
        for batch in frame.records.batches() {
            let header = batch.unwrap().header;
            // The first frame starts with the batch holding offset 3.
            assert_eq!(header.base_offset, next.unwrap_or(2), "no gap, no repeat");
            next = Some(header.next_offset());
        }
        frames += 1;
    }
    assert_eq!(frames, 10);

    // A batch larger than max_bytes still goes, alone.
    let big = vec![b'B'; 8000];
    c.spu
        .produce("frames", 0, batch_of(&[&big]), Isolation::ReadUncommitted)
        .unwrap();
    let frame = c.spu.stream_frame(corr).unwrap();
    let batches: Vec<_> = frame.records.batches().map(|b| b.unwrap().header).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].base_offset, 40);

    // Acknowledgements: known sessions are acknowledged, unknown ones are not found.
    let acks = c
        .spu
        .update_offsets(&UpdateOffsetsRequest {
            offsets: vec![
                OffsetUpdate {
                    offset: 41,
                    session_id: stream_id,
                },
                OffsetUpdate {
                    offset: 0,
                    session_id: 999,
                },
            ],
        })
        .unwrap();
    let codes: Vec<ErrorCode> = acks.status.iter().map(|s| s.error.clone()).collect();
    assert_eq!(codes, [ErrorCode::None, ErrorCode::FetchSessionNotFoud]);

    // Once acknowledging, a stream the consumer stops acknowledging pauses after a few
    // frames; the next acknowledgement resumes it. (max_bytes 1: one batch per frame.)
    let late = |c: &mut Cluster, i: i64| {
        let batch = batch_of(&[format!("late-{i}").as_bytes()]);
        let r = c
            .spu
            .produce("frames", 0, batch, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(r.base_offset, i);
    };
    late(&mut c, 41);
    let mut paced = StreamFetchRequest::new("frames", 0, 41);
    paced.max_bytes = 1;
    let corr = c.spu.stream_fetch(&paced).unwrap();
    let frame = c.spu.stream_frame(corr).unwrap();
    assert_eq!(frame.records.next_offset(), Some(42));
    let ack = |c: &mut Cluster, offset: i64| {
        let ack = UpdateOffsetsRequest {
            offsets: vec![OffsetUpdate {
                offset,
                session_id: frame.stream_id,
            }],
        };
        let acked = c.spu.update_offsets(&ack).unwrap();
        assert_eq!(acked.status[0].error, ErrorCode::None);
    };
    ack(&mut c, 42);
    for i in 42..49 {
        late(&mut c, i);
    }
    let mut seen = Vec::new();
    let mut read_frame = |c: &mut Cluster| {
        let frame = c.spu.stream_frame(corr).unwrap();
        for b in frame.records.batches() {
            seen.push(b.unwrap().header.base_offset);
        }
    };
    for _ in 0..4 {
        read_frame(&mut c);
    }
    c.spu.set_read_timeout(Duration::from_millis(500)).unwrap();
    assert!(
        c.spu.stream_frame(corr).is_err(),
        "a fifth unacknowledged frame was sent"
    );
    c.spu.set_read_timeout(Duration::from_secs(10)).unwrap();
    ack(&mut c, 46);
    for _ in 0..3 {
        read_frame(&mut c);
    }
    assert_eq!(seen, (42..49).collect::<Vec<i64>>());
}

#[test]
fn refused_streams_get_one_error_frame_and_the_connection_stays() {
    let dir = temp_dir();
    let mut c = cluster(dir.path(), &[("errs", 1)]);
    c.spu
        .produce(
            "errs",
            0,
            batch_of(&[b"a", b"b"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    let cases: Vec<(StreamFetchRequest, ErrorCode)> = vec![
        (
            StreamFetchRequest::new("errs", 0, 3),
            ErrorCode::OffsetOutOfRange,
        ),
        (
            StreamFetchRequest::new("errs", 0, -1),
            ErrorCode::OffsetOutOfRange,
        ),
        (
            StreamFetchRequest {
                smartmodules: vec![SmartModuleInvocation::default()],
                ..StreamFetchRequest::new("errs", 0, 0)
            },
            ErrorCode::SmartModuleError,
        ),
        (
            StreamFetchRequest::new("nope", 0, 0),
            ErrorCode::NotLeaderForPartition,
        ),
    ];
    for (request, code) in cases {
        let corr = c.spu.stream_fetch(&request).unwrap();
        let frame = c.spu.stream_frame(corr).unwrap();
        assert_eq!(frame.error_code, code, "{request:?}");
        assert!(frame.records.is_empty());
    }

    // Consumer-offset APIs are answered, not dropped: a session without a consumer id
    // has no offset to commit, a session never issued is unknown, and deleting an offset
    // nobody committed is no error (as in Fluvio).
    let update = c
        .spu
        .call(&UpdateConsumerOffsetRequest {
            offset: 1,
            session_id: 1,
        })
        .unwrap();
    assert_eq!(update.error_code, ErrorCode::OffsetManagementDisabled);
    let unknown = c
        .spu
        .call(&UpdateConsumerOffsetRequest {
            offset: 1,
            session_id: 999,
        })
        .unwrap();
    assert_eq!(unknown.error_code, ErrorCode::FetchSessionNotFoud);
    let delete = c
        .spu
        .call(&DeleteConsumerOffsetRequest {
            replica_id: ReplicaKey::new("errs", 0),
            consumer_id: "c".into(),
        })
        .unwrap();
    assert_eq!(delete.error_code, ErrorCode::None);
    let fetch = c.spu.call(&FetchConsumerOffsetsRequest::default()).unwrap();
    assert_eq!(fetch.error_code, ErrorCode::None);
    assert!(fetch.consumers.is_empty(), "{fetch:?}");

    // ReadCommitted streams see what is committed; the connection still serves.
    let mut committed = StreamFetchRequest::new("errs", 0, 0);
    committed.isolation = Isolation::ReadCommitted;
    let corr = c.spu.stream_fetch(&committed).unwrap();
    let frame = c.spu.stream_frame(corr).unwrap();
    assert_eq!(frame.records.next_offset(), Some(2));
}

#[test]
fn offsets_reach_the_partition_status_and_deleted_topics_lose_their_logs() {
    let dir = temp_dir();
    let mut c = cluster(dir.path(), &[("reported", 1)]);
    for i in 0..5 {
        let batch = batch_of(&[format!("r{i}").as_bytes(), b"x"]);
        c.spu
            .produce("reported", 0, batch, Isolation::ReadUncommitted)
            .unwrap();
    }
    let status = c.sc.wait_for_partition_leo("reported-0", 10);
    assert_eq!((status.leader.hw, status.leader.spu), (10, 5001));
    assert!(status.size > 0, "{status:?}");

    let replica_dir = dir.path().join("spu-5001").join("reported-0");
    assert!(replica_dir.is_dir());
    let corr = c
        .spu
        .stream_fetch(&StreamFetchRequest::new("reported", 0, 10))
        .unwrap();
    let status = c.sc.delete_topic("reported").unwrap();
    assert!(status.error_code.is_ok(), "{status:?}");
    // The open stream ends with an error frame; the log directory goes.
    let frame = c.spu.stream_frame(corr).unwrap();
    assert_eq!(frame.error_code, ErrorCode::NotLeaderForPartition);
    let deadline = Instant::now() + Duration::from_secs(10);
    while replica_dir.exists() {
        assert!(Instant::now() < deadline, "replica dir still there");
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone = c
        .spu
        .produce(
            "reported",
            0,
            batch_of(&[b"late"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    assert_eq!(gone.error_code, ErrorCode::NotLeaderForPartition);
    // A re-created topic starts from offset 0 in a fresh log.
    let status = c.sc.create_topic("reported", topic(1)).unwrap();
    assert!(status.error_code.is_ok());
    let again = c
        .spu
        .produce(
            "reported",
            0,
            batch_of(&[b"new"]),
            Isolation::ReadUncommitted,
        )
        .unwrap();
    assert_eq!((again.error_code, again.base_offset), (ErrorCode::None, 0));
}
