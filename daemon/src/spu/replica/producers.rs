//! Idempotent producers: the partition leader's record of each producer's recent batches,
//! so a retried batch is stored once and a lost one is noticed.
//!
//! A producer that got an id (`producer_id >= 0` in the batch header) numbers its batches
//! per partition: `first_sequence` is the sequence of the batch's first record, and the
//! next batch must start right after the previous one's last record (wrapping at
//! `i32::MAX`, as Kafka does). For each producer the leader keeps its epoch and the last
//! [`RECENT_BATCHES`] batches (sequences and the offsets they were stored at), which is how
//! far back Kafka promises to recognise a retry: a client keeps at most five requests in
//! flight per partition. A batch is then one of:
//!
//! - a **duplicate**: the same sequence range as a batch still remembered; it is not stored
//!   again and is answered with the offsets the original got;
//! - **next in line**: stored, and remembered;
//! - a **gap** or a range that overlaps without matching: refused
//!   ([`SequenceError::OutOfOrder`], Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER);
//! - from an **older epoch** of the producer (a zombie after the id was re-initialised):
//!   refused ([`SequenceError::StaleEpoch`], Kafka's INVALID_PRODUCER_EPOCH).
//!
//! A producer the leader knows nothing about (its batches fell out of the scanned tail)
//! is accepted at any sequence, as Kafka does once a producer's state has expired.
//!
//! The state is not saved anywhere: followers store the leader's batches byte for byte,
//! headers included, so whichever replica leads next rebuilds it by reading its log tail
//! ([`ProducerStates::rebuild_from`]). A retry that crosses a failover therefore meets the
//! batches the old leader stored and replicated, and is answered as a duplicate.

use std::collections::{HashMap, VecDeque};

use protocol::record::batch::{BatchHeader, batches};

/// Batches remembered per producer (Kafka's limit on requests in flight per partition).
pub const RECENT_BATCHES: usize = 5;

/// Producers remembered per partition. Past it, the one idle longest is forgotten: its next
/// batch is then accepted at any sequence, which is what a producer idle that long gets
/// from Kafka too once its state expires.
pub const MAX_PRODUCERS: usize = 10_000;

/// Why a batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error(
        "out of order sequence number for producer {producer_id} (epoch {epoch}): \
         expected {expected}, got {got}; a batch before this one was lost, so the \
         producer must be re-initialised (new producer id) to go on"
    )]
    OutOfOrder {
        producer_id: i64,
        epoch: i16,
        expected: i32,
        got: i32,
    },
    #[error(
        "invalid producer epoch: producer {producer_id} uses epoch {got}, but epoch \
         {current} has superseded it; this producer was fenced by a newer instance with \
         the same id"
    )]
    StaleEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error(
        "out of order sequence number: a request mixes batches already stored (a retry) \
         with new ones for producer {producer_id} in an order no retry has; send the new \
         batches in their own request"
    )]
    MixedRetry { producer_id: i64 },
}

/// What to do with a set of batches that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Store them.
    Append,
    /// All were stored before: answer with these offsets (first record, and the offset
    /// after the last) and store nothing.
    Duplicate { base_offset: i64, next_offset: i64 },
    /// The batches in the first `skip` bytes were stored before, at `base_offset` up to
    /// `next_offset`; the rest are new. Stored only if the new ones then continue the
    /// duplicates in the log, so the request's batches keep consecutive offsets.
    Partial {
        skip: usize,
        base_offset: i64,
        next_offset: i64,
    },
}

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct Producer {
    epoch: i16,
    recent: VecDeque<Stored>,
}

impl Producer {
    fn last_seq(&self) -> Option<i32> {
        self.recent.back().map(|b| b.last_seq)
    }

    fn last_offset(&self) -> i64 {
        self.recent.back().map_or(-1, |b| b.last_offset)
    }
}

/// The sequence of the record after `seq` (sequences wrap to 0 after `i32::MAX`).
fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// The sequence of a batch's last record.
fn last_seq_of(header: &BatchHeader) -> i32 {
    let delta = header.last_offset_delta.max(0);
    // Wraps like Kafka's DefaultRecordBatch.incrementSequence.
    if header.first_sequence > i32::MAX - delta {
        delta - (i32::MAX - header.first_sequence) - 1
    } else {
        header.first_sequence + delta
    }
}

/// Does the header come from an idempotent producer?
pub fn is_idempotent(header: &BatchHeader) -> bool {
    header.producer_id >= 0
}

/// Does any batch in `bytes` come from an idempotent producer? Malformed bytes answer
/// false: the storage engine refuses them with its own message.
pub fn any_idempotent(bytes: &[u8]) -> bool {
    batches(bytes).flatten().any(|b| is_idempotent(&b.header))
}

/// The producers of one partition, as its leader knows them.
#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

impl ProducerStates {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many producers are remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Check the batches about to be appended together, in order (`bytes` as received:
    /// their base offsets are not assigned yet). Duplicates may only lead: a retried
    /// request whose first batches a new leader has and whose last ones it lacks (the
    /// follower had fetched part of one append) is a [`Plan::Partial`]. Batches without a
    /// producer id pass unchecked.
    pub fn plan(&self, bytes: &[u8]) -> Result<Plan, SequenceError> {
        // Where each producer stands after the batches before this one in the same append.
        let mut pending: HashMap<i64, (i16, i32)> = HashMap::new();
        let mut duplicate: Option<(i64, i64)> = None;
        // Where the first batch that is not a duplicate starts.
        let mut fresh_at: Option<usize> = None;
        let mut position = 0;
        for batch in batches(bytes).flatten() {
            let at = position;
            position += batch.bytes.len();
            let h = batch.header;
            let fresh = |fresh_at: &mut Option<usize>| {
                fresh_at.get_or_insert(at);
            };
            if !is_idempotent(&h) {
                fresh(&mut fresh_at);
                continue;
            }
            let known = self.producers.get(&h.producer_id);
            if let Some(&(epoch, last)) = pending.get(&h.producer_id) {
                check_next(h.producer_id, epoch, Some(last), &h)?;
                pending.insert(h.producer_id, (h.producer_epoch, last_seq_of(&h)));
                fresh(&mut fresh_at);
                continue;
            }
            match known {
                None => {
                    pending.insert(h.producer_id, (h.producer_epoch, last_seq_of(&h)));
                    fresh(&mut fresh_at);
                }
                Some(p) if h.producer_epoch < p.epoch => {
                    return Err(SequenceError::StaleEpoch {
                        producer_id: h.producer_id,
                        current: p.epoch,
                        got: h.producer_epoch,
                    });
                }
                Some(p) if h.producer_epoch > p.epoch => {
                    // A new epoch starts its sequences over.
                    check_next(h.producer_id, h.producer_epoch, None, &h)?;
                    pending.insert(h.producer_id, (h.producer_epoch, last_seq_of(&h)));
                    fresh(&mut fresh_at);
                }
                Some(p) => {
                    let last = last_seq_of(&h);
                    if let Some(stored) = p
                        .recent
                        .iter()
                        .find(|s| s.first_seq == h.first_sequence && s.last_seq == last)
                    {
                        if fresh_at.is_some() {
                            // A stored batch after a new one: not a retry of one request.
                            return Err(SequenceError::MixedRetry {
                                producer_id: h.producer_id,
                            });
                        }
                        let (base, next) = duplicate.unwrap_or((stored.base_offset, 0));
                        duplicate = Some((
                            base.min(stored.base_offset),
                            next.max(stored.last_offset + 1),
                        ));
                        continue;
                    }
                    check_next(h.producer_id, p.epoch, p.last_seq(), &h)?;
                    pending.insert(h.producer_id, (h.producer_epoch, last));
                    fresh(&mut fresh_at);
                }
            }
        }
        match (duplicate, fresh_at) {
            (Some((base_offset, next_offset)), None) => Ok(Plan::Duplicate {
                base_offset,
                next_offset,
            }),
            (Some((base_offset, next_offset)), Some(skip)) => Ok(Plan::Partial {
                skip,
                base_offset,
                next_offset,
            }),
            (None, _) => Ok(Plan::Append),
        }
    }

    /// Remember the batches just stored (`bytes` with their offsets assigned), or read
    /// back from the log.
    pub fn record(&mut self, bytes: &[u8]) {
        for batch in batches(bytes).flatten() {
            self.record_one(&batch.header);
        }
    }

    fn record_one(&mut self, h: &BatchHeader) {
        if !is_idempotent(h) {
            return;
        }
        let stored = Stored {
            first_seq: h.first_sequence,
            last_seq: last_seq_of(h),
            base_offset: h.base_offset,
            last_offset: h.base_offset + i64::from(h.last_offset_delta.max(0)),
        };
        let producer = self.producers.entry(h.producer_id).or_insert(Producer {
            epoch: h.producer_epoch,
            recent: VecDeque::with_capacity(RECENT_BATCHES),
        });
        if h.producer_epoch < producer.epoch {
            // Only a log written before the fence holds these; the newer epoch rules.
            return;
        }
        if h.producer_epoch > producer.epoch {
            producer.epoch = h.producer_epoch;
            producer.recent.clear();
        }
        if producer.recent.len() == RECENT_BATCHES {
            producer.recent.pop_front();
        }
        producer.recent.push_back(stored);
        if self.producers.len() > MAX_PRODUCERS {
            self.forget_idlest();
        }
    }

    fn forget_idlest(&mut self) {
        if let Some(id) = self
            .producers
            .iter()
            .min_by_key(|(_, p)| p.last_offset())
            .map(|(id, _)| *id)
        {
            self.producers.remove(&id);
        }
    }

    /// Rebuild from a log's tail, read in chunks by `read(offset)` (whole batches from
    /// the one holding `offset`, and the offset after them; empty at the end). Reads from
    /// `from` to `to`.
    pub fn rebuild_from<E>(
        from: i64,
        to: i64,
        mut read: impl FnMut(i64) -> Result<(Vec<u8>, i64), E>,
    ) -> Result<Self, E> {
        let mut states = Self::new();
        let mut at = from;
        while at < to {
            let (bytes, next) = read(at)?;
            if bytes.is_empty() || next <= at {
                break;
            }
            states.record(&bytes);
            at = next;
        }
        Ok(states)
    }
}

/// Is `h` the batch right after `last` (any start when the producer has no batch yet
/// in this epoch... except a new epoch, which starts at 0)?
fn check_next(
    producer_id: i64,
    epoch: i16,
    last: Option<i32>,
    h: &BatchHeader,
) -> Result<(), SequenceError> {
    let expected = last.map_or(0, next_seq);
    if h.first_sequence == expected {
        Ok(())
    } else {
        Err(SequenceError::OutOfOrder {
            producer_id,
            epoch,
            expected,
            got: h.first_sequence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::{Batch, Record};

    /// A batch of `n` records from `pid`/`epoch` starting at sequence `seq`, stored at
    /// `offset` (what the leader writes into the header).
    fn batch(pid: i64, epoch: i16, seq: i32, n: usize, offset: i64) -> Vec<u8> {
        let mut b = Batch::from_records((0..n).map(|i| Record::new(vec![i as u8])));
        b.producer_id = pid;
        b.producer_epoch = epoch;
        b.first_sequence = seq;
        b.base_offset = offset;
        b.encode().unwrap()
    }

    #[test]
    fn in_order_batches_are_appended_and_a_retry_is_a_duplicate() {
        let mut s = ProducerStates::new();
        let first = batch(7, 0, 0, 3, 10);
        assert_eq!(s.plan(&first), Ok(Plan::Append));
        s.record(&first);
        let second = batch(7, 0, 3, 2, 13);
        assert_eq!(s.plan(&second), Ok(Plan::Append));
        s.record(&second);
        // The retry carries no offset (the client cannot know it): the answer gives it.
        assert_eq!(
            s.plan(&batch(7, 0, 0, 3, 0)),
            Ok(Plan::Duplicate {
                base_offset: 10,
                next_offset: 13
            })
        );
        assert_eq!(
            s.plan(&batch(7, 0, 3, 2, 0)),
            Ok(Plan::Duplicate {
                base_offset: 13,
                next_offset: 15
            })
        );
        // Both retried together: one answer spanning them.
        let both = [batch(7, 0, 0, 3, 0), batch(7, 0, 3, 2, 0)].concat();
        assert_eq!(
            s.plan(&both),
            Ok(Plan::Duplicate {
                base_offset: 10,
                next_offset: 15
            })
        );
    }

    #[test]
    fn a_gap_and_a_partial_overlap_are_out_of_order() {
        let mut s = ProducerStates::new();
        s.record(&batch(1, 0, 0, 5, 0));
        assert_eq!(
            s.plan(&batch(1, 0, 6, 1, 0)),
            Err(SequenceError::OutOfOrder {
                producer_id: 1,
                epoch: 0,
                expected: 5,
                got: 6
            })
        );
        assert!(matches!(
            s.plan(&batch(1, 0, 2, 5, 0)),
            Err(SequenceError::OutOfOrder { expected: 5, .. })
        ));
        // Within one append, each batch continues the one before it.
        let two = [batch(1, 0, 5, 2, 0), batch(1, 0, 7, 1, 0)].concat();
        assert_eq!(s.plan(&two), Ok(Plan::Append));
        let gap = [batch(1, 0, 5, 2, 0), batch(1, 0, 8, 1, 0)].concat();
        assert!(matches!(
            s.plan(&gap),
            Err(SequenceError::OutOfOrder {
                expected: 7,
                got: 8,
                ..
            })
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_recognised() {
        let mut s = ProducerStates::new();
        for i in 0..6 {
            s.record(&batch(3, 0, i, 1, i64::from(i)));
        }
        assert!(matches!(
            s.plan(&batch(3, 0, 1, 1, 0)),
            Ok(Plan::Duplicate { base_offset: 1, .. })
        ));
        // The first batch fell out of the window: a retry of it is no longer recognised.
        assert!(matches!(
            s.plan(&batch(3, 0, 0, 1, 0)),
            Err(SequenceError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn epochs_fence_zombies_and_restart_sequences() {
        let mut s = ProducerStates::new();
        s.record(&batch(4, 2, 0, 3, 0));
        assert_eq!(
            s.plan(&batch(4, 1, 3, 1, 0)),
            Err(SequenceError::StaleEpoch {
                producer_id: 4,
                current: 2,
                got: 1
            })
        );
        assert!(matches!(
            s.plan(&batch(4, 3, 5, 1, 0)),
            Err(SequenceError::OutOfOrder {
                expected: 0,
                got: 5,
                ..
            })
        ));
        let next_epoch = batch(4, 3, 0, 1, 3);
        assert_eq!(s.plan(&next_epoch), Ok(Plan::Append));
        s.record(&next_epoch);
        assert!(matches!(
            s.plan(&batch(4, 2, 3, 1, 0)),
            Err(SequenceError::StaleEpoch { .. })
        ));
    }

    #[test]
    fn unknown_producers_and_plain_batches_pass() {
        let s = ProducerStates::new();
        assert_eq!(s.plan(&batch(9, 0, 42, 1, 0)), Ok(Plan::Append));
        let plain = Batch::from_records([Record::new(b"x".to_vec())])
            .encode()
            .unwrap();
        assert_eq!(s.plan(&plain), Ok(Plan::Append));
        assert!(!any_idempotent(&plain));
        assert!(any_idempotent(&batch(9, 0, 0, 1, 0)));
    }

    #[test]
    fn a_retry_whose_tail_was_lost_stores_only_the_tail() {
        let mut s = ProducerStates::new();
        s.record(&batch(5, 0, 0, 1, 7));
        let first = batch(5, 0, 0, 1, 0);
        let retried = [first.clone(), batch(5, 0, 1, 1, 0)].concat();
        assert_eq!(
            s.plan(&retried),
            Ok(Plan::Partial {
                skip: first.len(),
                base_offset: 7,
                next_offset: 8
            })
        );
        // A stored batch behind a new one is no retry of one request.
        let backwards = [batch(5, 0, 1, 1, 0), batch(5, 0, 0, 1, 0)].concat();
        assert!(matches!(
            s.plan(&backwards),
            Err(SequenceError::OutOfOrder {
                expected: 2,
                got: 0,
                ..
            })
        ));
        s.record(&batch(5, 0, 1, 1, 8));
        let stored_after_new = [batch(5, 0, 2, 1, 0), batch(5, 0, 1, 1, 0)].concat();
        assert!(s.plan(&stored_after_new).is_err());
    }

    #[test]
    fn refusals_read_as_the_codes_clients_look_for() {
        use protocol::api::ErrorCode;
        use protocol::spu::{is_invalid_producer_epoch, is_out_of_order_sequence};
        let gap = SequenceError::OutOfOrder {
            producer_id: 1,
            epoch: 0,
            expected: 1,
            got: 2,
        };
        assert!(is_out_of_order_sequence(&ErrorCode::Other(gap.to_string())));
        let fenced = SequenceError::StaleEpoch {
            producer_id: 1,
            current: 1,
            got: 0,
        };
        assert!(is_invalid_producer_epoch(&ErrorCode::Other(
            fenced.to_string()
        )));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let mut s = ProducerStates::new();
        s.record(&batch(6, 0, i32::MAX - 1, 2, 0));
        assert_eq!(s.plan(&batch(6, 0, 0, 1, 0)), Ok(Plan::Append));
        let wrapping = batch(6, 0, i32::MAX, 3, 0);
        let mut h = protocol::record::batch::BatchHeader::parse(&wrapping).unwrap();
        assert_eq!(last_seq_of(&h), 1);
        h.first_sequence = 5;
        assert_eq!(last_seq_of(&h), 7);
    }

    #[test]
    fn rebuilt_state_recognises_retries_stored_before() {
        // The log as a follower holds it: the old leader's batches, offsets assigned.
        let log = [
            batch(8, 0, 0, 2, 0),
            batch(-1, -1, -1, 1, 2),
            batch(8, 0, 2, 2, 3),
        ]
        .concat();
        let states = ProducerStates::rebuild_from(0, 5, |at| {
            assert_eq!(at, 0);
            Ok::<_, ()>((log.clone(), 5))
        })
        .unwrap();
        assert_eq!(states.len(), 1);
        assert_eq!(
            states.plan(&batch(8, 0, 2, 2, 0)),
            Ok(Plan::Duplicate {
                base_offset: 3,
                next_offset: 5
            })
        );
        assert_eq!(states.plan(&batch(8, 0, 4, 1, 0)), Ok(Plan::Append));
    }

    #[test]
    fn the_idlest_producer_is_forgotten_past_the_limit() {
        let mut s = ProducerStates::new();
        for pid in 0..=MAX_PRODUCERS as i64 {
            s.record(&batch(pid, 0, 0, 1, pid));
        }
        assert_eq!(s.len(), MAX_PRODUCERS);
        // Producer 0 wrote at the lowest offset: forgotten, so any sequence passes.
        assert_eq!(s.plan(&batch(0, 0, 9, 1, 0)), Ok(Plan::Append));
    }
}
