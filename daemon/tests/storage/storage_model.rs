//! Model-based test: random sequences of appends, reads, high watermark moves,
//! truncations, retention and restarts (clean and unclean), with segments small enough to
//! roll all the time, checked step by step against an in-memory model of the log.

use std::time::{Duration, UNIX_EPOCH};

use daemon::storage::test_support::batch_with_values;
use daemon::storage::{FlushPolicy, Isolation, Offsets, ReplicaLog, StorageConfig, StorageError};
use proptest::prelude::*;
use protocol::record::batch::set_base_offset;

const T0: i64 = 1_700_000_000_000;
const RETENTION_MS: i64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    /// Leader append of one or more batches: (records, value length) each.
    Append(Vec<(u8, u16)>),
    /// Follower append of one batch whose base offset is the log end plus `skew`.
    FollowerAppend {
        records: u8,
        value_len: u16,
        skew: i8,
    },
    Read {
        at: u16,
        max_bytes: u16,
        committed: bool,
    },
    SetHw {
        at: u16,
    },
    Truncate {
        at: u16,
    },
    /// Retention at `T0 + step * 1000 ms`.
    Retention {
        step: u16,
    },
    Reopen {
        clean: bool,
    },
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    let batch = (1u8..4, 0u16..700);
    prop_oneof![
        6 => prop::collection::vec(batch, 1..4).prop_map(Op::Append),
        1 => (1u8..4, 0u16..300, prop_oneof![4 => Just(0i8), 1 => -2i8..3])
            .prop_map(|(records, value_len, skew)| Op::FollowerAppend { records, value_len, skew }),
        4 => (any::<u16>(), any::<u16>(), any::<bool>())
            .prop_map(|(at, max_bytes, committed)| Op::Read { at, max_bytes, committed }),
        3 => any::<u16>().prop_map(|at| Op::SetHw { at }),
        2 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        1 => (0u16..120).prop_map(|step| Op::Retention { step }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => Just(Op::Flush),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    segment_max_bytes: u64,
    index_interval_bytes: u64,
    max_partition_size: Option<u64>,
    flush: FlushPolicy,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(700u64), Just(1500), Just(4096)],
        prop_oneof![Just(64u64), Just(300), Just(4096)],
        prop_oneof![Just(None), (2000u64..20_000).prop_map(Some)],
        prop_oneof![
            3 => Just(FlushPolicy::Never),
            1 => Just(FlushPolicy::Always),
            1 => Just(FlushPolicy::Interval(Duration::from_millis(3))),
        ],
    )
        .prop_map(
            |(segment_max_bytes, index_interval_bytes, max_partition_size, flush)| Setup {
                segment_max_bytes,
                index_interval_bytes,
                max_partition_size,
                flush,
            },
        )
}

impl Setup {
    fn config(&self) -> StorageConfig {
        StorageConfig {
            segment_max_bytes: self.segment_max_bytes,
            index_interval_bytes: self.index_interval_bytes,
            max_batch_bytes: 2 << 20,
            retention_time: Some(Duration::from_millis(RETENTION_MS as u64)),
            max_partition_size: self.max_partition_size,
            flush: self.flush,
            // Every high watermark change is persisted, so it survives unclean restarts
            // exactly and the model can say what it is.
            hw_checkpoint_interval: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone)]
struct Batch {
    base: i64,
    records: i64,
    timestamp: i64,
    bytes: Vec<u8>,
}

impl Batch {
    fn end(&self) -> i64 {
        self.base + self.records
    }
}

#[derive(Debug, Clone)]
struct Segment {
    base: i64,
    batches: Vec<Batch>,
}

impl Segment {
    fn size(&self) -> u64 {
        self.batches.iter().map(|b| b.bytes.len() as u64).sum()
    }

    fn end(&self) -> i64 {
        self.batches.last().map_or(self.base, Batch::end)
    }
}

/// The whole log in memory, with the same segment layout rules: a segment rolls when the
/// next batch would not fit, retention removes whole sealed segments from the front.
#[derive(Debug)]
struct Model {
    segments: Vec<Segment>,
    hw: i64,
    segment_max_bytes: u64,
    max_partition_size: Option<u64>,
}

/// Which error the model expects; compared by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    OutOfRange,
    BelowHw,
    TooLargeForSegment,
    NonContiguous,
}

fn kind(err: &StorageError) -> Option<Expected> {
    match err {
        StorageError::OffsetOutOfRange { .. } => Some(Expected::OutOfRange),
        StorageError::TruncateBelowHighWatermark { .. } => Some(Expected::BelowHw),
        StorageError::BatchTooLargeForSegment { .. } => Some(Expected::TooLargeForSegment),
        StorageError::NonContiguousAppend { .. } => Some(Expected::NonContiguous),
        _ => None,
    }
}

impl Model {
    fn log_start(&self) -> i64 {
        self.segments[0].base
    }

    fn leo(&self) -> i64 {
        self.segments.last().map_or(0, Segment::end)
    }

    fn offsets(&self) -> Offsets {
        Offsets {
            log_start: self.log_start(),
            hw: self.hw,
            leo: self.leo(),
        }
    }

    fn batches(&self) -> impl Iterator<Item = &Batch> {
        self.segments.iter().flat_map(|s| s.batches.iter())
    }

    /// An offset around the log, including a little outside it.
    fn pick(&self, at: u16) -> i64 {
        let lo = self.log_start() - 2;
        let span = self.leo() + 2 - lo + 1;
        lo + i64::from(at) % span
    }

    fn append(&mut self, batches: Vec<Batch>) -> Result<(), Expected> {
        if batches
            .iter()
            .any(|b| b.bytes.len() as u64 > self.segment_max_bytes)
        {
            return Err(Expected::TooLargeForSegment);
        }
        for batch in batches {
            let active = self.segments.last().unwrap();
            if active.size() > 0
                && active.size() + batch.bytes.len() as u64 > self.segment_max_bytes
            {
                let base = self.leo();
                self.segments.push(Segment {
                    base,
                    batches: Vec::new(),
                });
            }
            self.segments.last_mut().unwrap().batches.push(batch);
        }
        Ok(())
    }

    fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        committed: bool,
    ) -> Result<(i64, i64, Vec<u8>), Expected> {
        if offset < self.log_start() || offset > self.leo() {
            return Err(Expected::OutOfRange);
        }
        let cap = if committed { self.hw } else { self.leo() };
        let mut out = Vec::new();
        let (mut start, mut end) = (offset, offset);
        let mut budget = max_bytes;
        let mut first = true;
        for batch in self.batches().skip_while(|b| b.end() <= offset) {
            if batch.end() > cap || (!first && batch.bytes.len() as u64 > budget) {
                break;
            }
            if first {
                start = batch.base;
            }
            first = false;
            end = batch.end();
            budget = budget.saturating_sub(batch.bytes.len() as u64);
            out.extend_from_slice(&batch.bytes);
        }
        Ok((start, end, out))
    }

    fn set_hw(&mut self, hw: i64) -> Result<(), Expected> {
        if hw < self.log_start() || hw > self.leo() {
            return Err(Expected::OutOfRange);
        }
        self.hw = hw;
        Ok(())
    }

    fn truncate(&mut self, offset: i64) -> Result<i64, Expected> {
        if offset < self.log_start() || offset > self.leo() {
            return Err(Expected::OutOfRange);
        }
        if offset < self.hw {
            return Err(Expected::BelowHw);
        }
        let idx = self
            .segments
            .partition_point(|s| s.base <= offset)
            .saturating_sub(1);
        self.segments.truncate(idx + 1);
        self.segments[idx].batches.retain(|b| b.end() <= offset);
        let leo = self.leo();
        self.hw = self.hw.min(leo);
        Ok(leo)
    }

    fn retention(&mut self, now_ms: i64) -> usize {
        let mut remaining: u64 = self.segments.iter().map(Segment::size).sum();
        let mut count = 0;
        for seg in &self.segments[..self.segments.len() - 1] {
            if seg.end() > self.hw {
                break;
            }
            let newest = seg.batches.last().map_or(i64::MAX, |b| b.timestamp);
            let expired = now_ms - newest > RETENTION_MS;
            let oversize = self.max_partition_size.is_some_and(|max| remaining > max);
            if !(expired || oversize) {
                break;
            }
            remaining -= seg.size();
            count += 1;
        }
        self.segments.drain(..count);
        count
    }
}

struct Harness {
    dir: tempfile::TempDir,
    setup: Setup,
    log: Option<ReplicaLog>,
    model: Model,
    /// Counts batches ever made, for distinct contents and timestamps.
    made: i64,
}

impl Harness {
    fn new(setup: Setup) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = ReplicaLog::open(dir.path().join("topic-0"), setup.config()).unwrap();
        let model = Model {
            segments: vec![Segment {
                base: 0,
                batches: Vec::new(),
            }],
            hw: 0,
            segment_max_bytes: setup.segment_max_bytes,
            max_partition_size: setup.max_partition_size,
        };
        Self {
            dir,
            setup,
            log: Some(log),
            model,
            made: 0,
        }
    }

    fn log(&self) -> &ReplicaLog {
        self.log.as_ref().unwrap()
    }

    fn make_batch(&mut self, records: u8, value_len: u16) -> (Vec<u8>, i64, i64) {
        self.made += 1;
        let fill = (self.made % 251) as u8;
        let values = vec![vec![fill; value_len as usize]; records as usize];
        let timestamp = T0 + self.made * 1000;
        (
            batch_with_values(&values, timestamp),
            i64::from(records),
            timestamp,
        )
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append(specs) => {
                let made: Vec<_> = specs.iter().map(|&(r, v)| self.make_batch(r, v)).collect();
                let mut bytes: Vec<u8> = made.iter().flat_map(|(b, _, _)| b.clone()).collect();
                let mut base = self.model.leo();
                let model_batches: Vec<Batch> = made
                    .into_iter()
                    .map(|(mut bytes, records, timestamp)| {
                        set_base_offset(&mut bytes, base);
                        let batch = Batch {
                            base,
                            records,
                            timestamp,
                            bytes,
                        };
                        base += records;
                        batch
                    })
                    .collect();
                let expected_base = self.model.leo();
                let expected = self.model.append(model_batches.clone());
                let actual = self.log().append_as_leader(&mut bytes);
                match (expected, actual) {
                    (Ok(()), Ok(info)) => {
                        prop_assert_eq!(info.base_offset, expected_base);
                        prop_assert_eq!(info.next_offset, self.model.leo());
                        let rewritten: Vec<u8> =
                            model_batches.iter().flat_map(|b| b.bytes.clone()).collect();
                        prop_assert_eq!(bytes, rewritten);
                    }
                    (Err(e), Err(a)) => prop_assert_eq!(Some(e), kind(&a), "{}", a),
                    (e, a) => prop_assert!(false, "append: model {:?}, log {:?}", e, a),
                }
            }
            Op::FollowerAppend {
                records,
                value_len,
                skew,
            } => {
                let (mut bytes, records, timestamp) = self.make_batch(*records, *value_len);
                let base = self.model.leo() + i64::from(*skew);
                set_base_offset(&mut bytes, base);
                let actual = self.log().append_as_follower(&bytes);
                // Batches are checked before their offsets.
                let expected = if bytes.len() as u64 > self.model.segment_max_bytes {
                    Err(Expected::TooLargeForSegment)
                } else if *skew != 0 {
                    Err(Expected::NonContiguous)
                } else {
                    self.model.append(vec![Batch {
                        base,
                        records,
                        timestamp,
                        bytes,
                    }])
                };
                match (expected, actual) {
                    (Ok(()), Ok(info)) => prop_assert_eq!(info.next_offset, self.model.leo()),
                    (Err(e), Err(a)) => prop_assert_eq!(Some(e), kind(&a), "{}", a),
                    (e, a) => prop_assert!(false, "follower append: model {:?}, log {:?}", e, a),
                }
            }
            Op::Read {
                at,
                max_bytes,
                committed,
            } => {
                let offset = self.model.pick(*at);
                let isolation = if *committed {
                    Isolation::ReadCommitted
                } else {
                    Isolation::ReadUncommitted
                };
                let max_bytes = u64::from(*max_bytes) % 5000;
                let expected = self.model.read(offset, max_bytes, *committed);
                let actual = self.log().read(offset, max_bytes, isolation);
                match (expected, actual) {
                    (Ok((start, end, bytes)), Ok(slice)) => {
                        prop_assert_eq!((slice.start_offset, slice.end_offset), (start, end));
                        prop_assert_eq!(slice.to_vec().unwrap(), bytes);
                    }
                    (Err(e), Err(a)) => prop_assert_eq!(Some(e), kind(&a), "{}", a),
                    (e, a) => prop_assert!(
                        false,
                        "read {}: model {:?}, log {:?}",
                        offset,
                        e.map(|r| (r.0, r.1)),
                        a.map(|s| (s.start_offset, s.end_offset))
                    ),
                }
            }
            Op::SetHw { at } => {
                let hw = self.model.pick(*at);
                let expected = self.model.set_hw(hw);
                let actual = self.log().set_hw(hw);
                match (expected, actual) {
                    (Ok(()), Ok(_)) => {}
                    (Err(e), Err(a)) => prop_assert_eq!(Some(e), kind(&a), "{}", a),
                    (e, a) => prop_assert!(false, "set_hw {}: model {:?}, log {:?}", hw, e, a),
                }
            }
            Op::Truncate { at } => {
                let offset = self.model.pick(*at);
                let expected = self.model.truncate(offset);
                let actual = self.log().truncate(offset);
                match (expected, actual) {
                    (Ok(e), Ok(a)) => prop_assert_eq!(e, a),
                    (Err(e), Err(a)) => prop_assert_eq!(Some(e), kind(&a), "{}", a),
                    (e, a) => {
                        prop_assert!(false, "truncate {}: model {:?}, log {:?}", offset, e, a)
                    }
                }
            }
            Op::Retention { step } => {
                let now_ms = T0 + i64::from(*step) * 1000;
                let expected = self.model.retention(now_ms);
                let now = UNIX_EPOCH + Duration::from_millis(now_ms as u64);
                let outcome = self.log().enforce_retention(now).unwrap();
                prop_assert_eq!(outcome.deleted_segments, expected);
                prop_assert_eq!(outcome.log_start, self.model.log_start());
            }
            Op::Reopen { clean } => {
                let log = self.log.take().unwrap();
                if *clean {
                    log.close().unwrap();
                } else {
                    drop(log);
                }
                let log =
                    ReplicaLog::open(self.dir.path().join("topic-0"), self.setup.config()).unwrap();
                let report = log.recovery_report();
                prop_assert_eq!(report.clean_shutdown, *clean);
                // The process "crashed", the page cache did not: nothing may be lost.
                prop_assert_eq!(report.truncated_bytes, 0);
                prop_assert!(report.corrupt_segments.is_empty());
                self.log = Some(log);
            }
            Op::Flush => self.log().flush().unwrap(),
        }
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let log = self.log();
        prop_assert_eq!(log.offsets(), self.model.offsets());
        let (_, _, all) = self
            .model
            .read(self.model.log_start(), u64::MAX, false)
            .unwrap();
        let slice = log
            .read(self.model.log_start(), u64::MAX, Isolation::ReadUncommitted)
            .unwrap();
        prop_assert_eq!(slice.to_vec().unwrap(), all);
        prop_assert_eq!(
            log.size_bytes(),
            self.model.segments.iter().map(Segment::size).sum::<u64>()
        );
        prop_assert_eq!(log.stats().segments, self.model.segments.len());
        Ok(())
    }
}

proptest! {
    // PROPTEST_CASES=2000 for a longer soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        max_shrink_iters: 2000,
        .. ProptestConfig::default()
    })]

    #[test]
    fn the_log_behaves_like_its_model(setup in setup(), ops in prop::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new(setup);
        for op in &ops {
            harness.apply(op)?;
        }
        // A last clean restart must reproduce everything too.
        harness.apply(&Op::Reopen { clean: true })?;
    }
}
