//! A follower replica's fetch loop: connect to the leader's private port, ask where this
//! replica's last leader epoch ends there and cut what diverged, then stream the leader's
//! batches from this log's end, appending them and reporting the new log end. Runs until
//! the store aborts it (new leader or epoch, replica removed); errors reconnect with
//! backoff.
//!
//! Per frame the records are checked once (the storage's CRC-32C check before it stores
//! anything; the answer is searched for the bad batch only when that check refused it),
//! and frames that arrived together (up to a full frame's worth of bytes) are stored before
//! one report of the new log end goes out, so a run of small frames costs the leader one
//! wake-up rather than one per frame.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use protocol::api::ErrorCode;
use protocol::internal::{
    EpochEndOffsetRequest, EpochEndOffsetResponse, FollowerFetchRequest, FollowerFetchResponse,
    FollowerOffsetUpdateRequest,
};
use protocol::record::batch::{BatchError, BatchHeader, batches};
use protocol::sc::SpuId;
use tracing::{debug, error, info};

use crate::net::client::{self, Frames, decode, decode_shared, send};
use crate::spu::replica::partition::Partition;
use crate::spu::replica::store::ReplicaStore;
use crate::storage::{Offsets, StorageError};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// What a follower asks per frame.
const FETCH_MAX_BYTES: i32 = 1 << 20;
/// Frames stored back to back are reported together up to this many bytes: one report per
/// full frame at most, as before, but one for a run of small ones.
const REPORT_AFTER_BYTES: usize = FETCH_MAX_BYTES as usize;

const EPOCH_CORR: i32 = 1;
const FETCH_CORR: i32 = 2;

/// Who this follower follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub leader: SpuId,
    pub epoch: i32,
}

/// Follow `term` until aborted.
pub async fn run(store: Arc<ReplicaStore>, p: Arc<Partition>, term: Term, max_frame: usize) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if p.is_closed() {
            return;
        }
        match follow(&store, &p, term, max_frame).await {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(err) => {
                debug!(spu = store.spu(), replica = %p.key(), leader = term.leader, %err, "following the leader failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn refused(code: &ErrorCode, what: &str) -> io::Error {
    io::Error::other(format!("{what}: {code}"))
}

/// Where to cut this log after asking the leader about `my_epoch`. Pure, for tests.
pub fn truncation_point(
    my_epoch: i32,
    answer: &EpochEndOffsetResponse,
    own_end_of_answered_epoch: Option<i64>,
    leo: i64,
    hw: i64,
) -> i64 {
    if answer.leader_epoch < 0 {
        // The leader knows no epoch this old: keep what is committed, cut the rest beyond
        // where its records start.
        return answer.end_offset.max(hw).min(leo);
    }
    let mut cut = answer.end_offset.min(leo);
    if answer.leader_epoch < my_epoch {
        // Our later epochs are unknown there: our records of its epoch end where ours do.
        if let Some(own) = own_end_of_answered_epoch {
            cut = cut.min(own);
        }
    }
    cut
}

/// A batch from the leader that is not what its producer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptFromLeader {
    /// Where the bad batch starts in the answer: the bytes before it are good batches.
    pub position: usize,
    pub first_offset: i64,
    pub last_offset: i64,
    pub reason: BatchError,
}

/// The first batch of a leader's answer whose header, length or CRC-32C is wrong, if any.
/// `expected` is the offset the follower asked from, named when a header is unreadable.
/// Pure, for tests.
pub fn first_corrupt_batch(records: &[u8], expected: i64) -> Option<CorruptFromLeader> {
    let mut next = expected;
    let mut iter = batches(records);
    loop {
        let at = iter.position();
        let batch = match iter.next()? {
            Ok(batch) => batch,
            Err(reason) => {
                let (first_offset, last_offset) =
                    BatchHeader::parse(&records[at..]).map_or((next, next), |h| offsets_of(&h));
                return Some(CorruptFromLeader {
                    position: at,
                    first_offset,
                    last_offset,
                    reason,
                });
            }
        };
        let (first_offset, last_offset) = offsets_of(&batch.header);
        if let Err(reason) = batch.verify_crc() {
            return Some(CorruptFromLeader {
                position: at,
                first_offset,
                last_offset,
                reason,
            });
        }
        next = last_offset.saturating_add(1);
    }
}

fn offsets_of(header: &BatchHeader) -> (i64, i64) {
    let first = header.base_offset;
    let last = first.saturating_add(i64::from(header.last_offset_delta));
    (first, last.max(first))
}

async fn follow(
    store: &ReplicaStore,
    p: &Arc<Partition>,
    term: Term,
    max_frame: usize,
) -> io::Result<()> {
    let addr = store.private_addr(term.leader).ok_or_else(|| {
        io::Error::other(format!("SPU {} has no known private endpoint", term.leader))
    })?;
    let (reader, mut writer) = client::connect(&addr, store.tls().as_ref(), CONNECT_TIMEOUT)
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("connecting to {addr}: {err}")))?;
    let mut frames = Frames::new(reader, max_frame, "leader");
    let key = p.key().clone();

    // Cut what diverged from the leader's log.
    if let Some(my_epoch) = p.latest_epoch() {
        let ask = EpochEndOffsetRequest {
            key: key.clone(),
            leader_epoch: my_epoch,
        };
        send(&mut writer, &ask, EPOCH_CORR).await?;
        let answer: EpochEndOffsetResponse = loop {
            let (corr, body) = frames.next().await?;
            if corr == EPOCH_CORR {
                break decode(&body)?;
            }
        };
        if answer.error_code.is_error() {
            return Err(refused(&answer.error_code, "epoch end offset"));
        }
        let offsets = p.offsets().map_err(io::Error::other)?;
        let own = p.own_epoch_end(answer.leader_epoch);
        let cut = truncation_point(my_epoch, &answer, own, offsets.leo, offsets.hw);
        if cut < offsets.leo {
            info!(spu = store.spu(), replica = %key, leader = term.leader, epoch = term.epoch, from = cut, leo = offsets.leo, "truncating records the new leader does not have");
            p.truncate_diverged(cut).await.map_err(io::Error::other)?;
        }
    }

    let offsets = p.offsets().map_err(io::Error::other)?;
    let fetch = FollowerFetchRequest {
        follower_id: store.spu(),
        key: key.clone(),
        fetch_offset: offsets.leo,
        leader_epoch: term.epoch,
        max_bytes: FETCH_MAX_BYTES,
    };
    send(&mut writer, &fetch, FETCH_CORR).await?;
    let mut next_corr = FETCH_CORR;
    // The log end last reported to the leader: a report goes out once the frames that
    // already arrived are stored, one for all of them (below).
    let mut reported = offsets.leo;
    loop {
        let (corr, body) = frames.next().await?;
        let mut stored = handle_frame(store, p, term, corr, &body).await;
        let mut unreported = body.len();
        // Frames already here are stored before the report, so a burst costs the leader
        // one wake-up, not one per frame. Only frames that need no waiting are taken: the
        // report is never held back for data still on its way, nor for more than about a
        // frame's worth of records while the leader keeps sending (the high watermark
        // waits for it).
        while matches!(stored, Ok(Stored::Appended(_) | Stored::Nothing))
            && unreported < REPORT_AFTER_BYTES
        {
            let Some(next) = ready_now(frames.next()) else {
                break;
            };
            let (corr, body) = next?;
            unreported += body.len();
            let more = handle_frame(store, p, term, corr, &body).await;
            stored = match (stored, more) {
                // Keep the newest log end seen so far.
                (kept @ Ok(Stored::Appended(_)), Ok(Stored::Nothing)) => kept,
                (_, more) => more,
            };
        }
        let (offsets, end) = match stored {
            Ok(Stored::Nothing) => continue,
            Ok(Stored::Appended(offsets)) => (offsets, None),
            Ok(Stored::Restarted) => return Ok(()),
            Err(Failed::Corrupt(offsets, err)) => (offsets, Some(err)),
            Err(Failed::Other(err)) => return Err(err),
        };
        if offsets.leo != reported || end.is_some() {
            next_corr = next_corr.wrapping_add(1).max(FETCH_CORR + 1);
            let update = FollowerOffsetUpdateRequest {
                follower_id: store.spu(),
                key: key.clone(),
                leo: offsets.leo,
                hw: offsets.hw,
                leader_epoch: term.epoch,
            };
            send(&mut writer, &update, next_corr).await?;
            reported = offsets.leo;
        }
        if let Some(err) = end {
            return Err(err);
        }
    }
}

/// The output of `fut` if it is ready without waiting. For cancel-safe futures only: one
/// that is not ready is dropped.
fn ready_now<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// What a frame from the leader did to this replica.
enum Stored {
    /// Records stored (or none left after a corrupt batch was cut): the replica's offsets
    /// now, to report.
    Appended(Offsets),
    /// Not a record frame, or only a high watermark: nothing to report.
    Nothing,
    /// The log started over at the leader's log start: follow again from there.
    Restarted,
}

enum Failed {
    /// The leader sent a corrupt batch: the good batches before it are stored (these are
    /// the offsets to report), then the stream is dropped to ask again.
    Corrupt(Offsets, io::Error),
    Other(io::Error),
}

impl From<io::Error> for Failed {
    fn from(err: io::Error) -> Self {
        Self::Other(err)
    }
}

/// Store one frame of the leader's stream.
async fn handle_frame(
    store: &ReplicaStore,
    p: &Arc<Partition>,
    term: Term,
    corr: i32,
    body: &bytes::Bytes,
) -> Result<Stored, Failed> {
    if corr != FETCH_CORR {
        // An answer to an offset update: nothing in it to act on.
        return Ok(Stored::Nothing);
    }
    let key = p.key();
    // The record set stays a slice of the frame: appended as it arrived, never copied.
    let frame: FollowerFetchResponse = decode_shared(body)?;
    match frame.error_code {
        ErrorCode::None => {}
        ErrorCode::OffsetOutOfRange => {
            let offsets = p.offsets().map_err(io::Error::other)?;
            if frame.log_start > offsets.leo {
                info!(spu = store.spu(), replica = %key, log_start = frame.log_start, "this log ends before the leader's starts; starting over there");
                p.restart_at(frame.log_start)
                    .await
                    .map_err(io::Error::other)?;
                return Ok(Stored::Restarted);
            }
            return Err(refused(&frame.error_code, "follower fetch").into());
        }
        code => return Err(refused(&code, "follower fetch").into()),
    }
    // Fencing: only the epoch we follow.
    if frame.leader_epoch != term.epoch {
        return Err(io::Error::other(format!(
            "a frame from leader epoch {} while following epoch {}",
            frame.leader_epoch, term.epoch
        ))
        .into());
    }
    if frame.records.as_bytes().is_empty() {
        p.follow_hw(frame.hw).map_err(io::Error::other)?;
        return Ok(Stored::Nothing);
    }
    let records = frame.records.into_bytes();
    // The storage checks every batch's CRC-32C before it stores any; only when it refused
    // one is the answer searched for the bad batch, so records are checked once.
    match p.append_replicated(records.clone(), frame.hw).await {
        Ok(offsets) => Ok(Stored::Appended(offsets)),
        Err(StorageError::InvalidBatch { .. }) => {
            let leo = p.offsets().map_err(io::Error::other)?.leo;
            let Some(bad) = first_corrupt_batch(&records, leo) else {
                return Err(io::Error::other(format!(
                    "the leader's batches of {key} from offset {leo} were refused by storage"
                ))
                .into());
            };
            // The batch is not stored: the log must not run past a hole. The good batches
            // before it are, and the next attempt asks again from there.
            error!(spu = store.spu(), replica = %key, leader = term.leader, first_offset = bad.first_offset,
                last_offset = bad.last_offset, reason = %bad.reason,
                "refusing a corrupt batch from the leader; will fetch it again");
            let offsets = if bad.position == 0 {
                p.offsets().map_err(io::Error::other)?
            } else {
                p.append_replicated(records.slice(..bad.position), frame.hw)
                    .await
                    .map_err(io::Error::other)?
            };
            Err(Failed::Corrupt(
                offsets,
                io::Error::other(format!(
                    "leader {} sent a corrupt batch of {key} at offsets {}..={}: {}",
                    term.leader, bad.first_offset, bad.last_offset, bad.reason
                )),
            ))
        }
        Err(err) => Err(io::Error::other(err).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(leader_epoch: i32, end_offset: i64) -> EpochEndOffsetResponse {
        EpochEndOffsetResponse {
            error_code: ErrorCode::None,
            leader_epoch,
            end_offset,
        }
    }

    fn batch(base: i64, values: &[&[u8]]) -> Vec<u8> {
        let values: Vec<Vec<u8>> = values.iter().map(|v| v.to_vec()).collect();
        let mut bytes = crate::storage::test_support::batch_with_values(&values, 1);
        protocol::record::batch::set_base_offset(&mut bytes, base);
        bytes
    }

    #[test]
    fn a_corrupt_batch_from_the_leader_is_found_with_its_offsets() {
        let mut answer = batch(20, &[b"aaaa", b"bbbb"]);
        let second_at = answer.len();
        answer.extend(batch(22, &[b"cccc", b"dddd", b"eeee"]));
        assert_eq!(first_corrupt_batch(&answer, 20), None);

        let mut flipped = answer.clone();
        let at = flipped.windows(4).position(|w| w == b"dddd").unwrap();
        flipped[at] = b'D';
        let bad = first_corrupt_batch(&flipped, 20).unwrap();
        assert_eq!((bad.first_offset, bad.last_offset), (22, 24));
        assert_eq!(bad.position, second_at, "the batch before it is good");
        assert!(matches!(bad.reason, BatchError::CrcMismatch { .. }));

        // A damaged magic byte: the header is unreadable, the offsets are where the
        // good batches ended.
        let mut bad_magic = answer.clone();
        bad_magic[second_at + 16] = 9;
        let bad = first_corrupt_batch(&bad_magic, 20).unwrap();
        assert_eq!((bad.first_offset, bad.last_offset), (22, 22));
        assert_eq!(bad.reason, BatchError::BadMagic(9));

        // Cut short: the leader sends whole batches, so this is damage too.
        let cut = &answer[..answer.len() - 1];
        let bad = first_corrupt_batch(cut, 20).unwrap();
        assert_eq!((bad.first_offset, bad.last_offset), (22, 24));
        assert!(matches!(bad.reason, BatchError::Truncated { .. }));
    }

    #[test]
    fn only_frames_already_here_are_taken_before_the_report() {
        assert_eq!(ready_now(std::future::ready(7)), Some(7));
        assert_eq!(ready_now(std::future::pending::<i32>()), None);
    }

    #[test]
    fn truncation_cuts_what_the_leader_does_not_have() {
        // Same epoch on both sides, leader's ends earlier: cut there.
        assert_eq!(truncation_point(3, &answer(3, 10), Some(14), 14, 8), 10);
        // Leader has more: nothing to cut.
        assert_eq!(truncation_point(3, &answer(3, 20), Some(14), 14, 8), 14);
        // Leader never saw our epoch 3; its epoch 2 ends at 12, ours at 9.
        assert_eq!(truncation_point(3, &answer(2, 12), Some(9), 14, 5), 9);
        // Leader knows no such old epoch: keep what is committed.
        assert_eq!(truncation_point(1, &answer(-1, 4), None, 14, 6), 6);
    }
}
