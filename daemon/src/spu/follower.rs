//! A follower replica's fetch loop: connect to the leader's private port, ask where this
//! replica's last leader epoch ends there and cut what diverged, then stream the leader's
//! batches from this log's end, appending them and reporting the new log end. Runs until
//! the store aborts it (new leader or epoch, replica removed); errors reconnect with
//! backoff.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use std::os::fd::AsFd;

use bytes::{Bytes, BytesMut};
use protocol::api::ErrorCode;
use protocol::internal::{
    EpochEndOffsetRequest, EpochEndOffsetResponse, FollowerFetchRequest, FollowerFetchResponse,
    FollowerOffsetUpdateRequest,
};
use protocol::record::RecordSet;
use protocol::sc::SpuId;
use protocol::spu::ReplicaKey;
use protocol::{Decode, Encode, Reader};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tracing::{debug, info};

use super::link::{decode, send};
use super::partition::Partition;
use super::store::ReplicaStore;
use crate::storage::{Fill, Pipe};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// What a follower asks per frame.
const FETCH_MAX_BYTES: i32 = 1 << 20;
/// The pipe a follower splices record sections through (capped by the system's
/// `pipe-max-size`, 1 MiB by default, unless the daemon may raise it).
const SPLICE_PIPE_BYTES: usize = 1 << 20;
/// Frames smaller than this are not worth shrinking to fit a small pipe: copy instead.
const MIN_SPLICE_FRAME_BYTES: usize = 256 << 10;

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

async fn follow(
    store: &ReplicaStore,
    p: &Arc<Partition>,
    term: Term,
    max_frame: usize,
) -> io::Result<()> {
    let addr = store.private_addr(term.leader).ok_or_else(|| {
        io::Error::other(format!("SPU {} has no known private endpoint", term.leader))
    })?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| io::Error::other(format!("connecting to {addr} timed out")))??;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut leader = LeaderReader {
        reader,
        max: max_frame,
    };
    let key = p.key().clone();

    // Cut what diverged from the leader's log.
    if let Some(my_epoch) = p.latest_epoch() {
        let ask = EpochEndOffsetRequest {
            key: key.clone(),
            leader_epoch: my_epoch,
        };
        send(&mut writer, &ask, EPOCH_CORR).await?;
        let answer: EpochEndOffsetResponse = loop {
            let (corr, body) = leader.frame().await?;
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

    // Record sections that fit the pipe are spliced into the log; others are copied.
    let pipe = match Pipe::new(SPLICE_PIPE_BYTES) {
        Ok(pipe) => Some(Arc::new(pipe)),
        Err(err) => {
            debug!(spu = store.spu(), replica = %key, %err, "no pipe for splicing; copying what the leader sends");
            None
        }
    };
    let splice_limit = pipe.as_ref().map_or(0, |pipe| {
        // A pipe slot holds at most a page: a range of file pages sent by the leader
        // starts and ends mid-page and is split again at each packet, so keep a quarter
        // of the slots spare.
        (pipe.capacity() - pipe.capacity() / 4)
            .min(usize::try_from(p.segment_max_bytes()).unwrap_or(usize::MAX))
    });
    let max_bytes = if splice_limit >= MIN_SPLICE_FRAME_BYTES {
        FETCH_MAX_BYTES.min(splice_limit as i32)
    } else {
        FETCH_MAX_BYTES
    };
    let head_len = fetch_head_len(&key)?;

    let offsets = p.offsets().map_err(io::Error::other)?;
    let fetch = FollowerFetchRequest {
        follower_id: store.spu(),
        key: key.clone(),
        fetch_offset: offsets.leo,
        leader_epoch: term.epoch,
        max_bytes,
    };
    send(&mut writer, &fetch, FETCH_CORR).await?;
    let mut next_corr = FETCH_CORR;
    loop {
        let size = leader.size().await?;
        let first = leader.exact(size.min(4 + head_len)).await?;
        let corr = i32::from_be_bytes([first[0], first[1], first[2], first[3]]);
        if corr != FETCH_CORR {
            // An answer to an offset update: nothing in it we need.
            leader.skip(size - first.len()).await?;
            continue;
        }
        if size < 4 + head_len {
            return Err(io::Error::other(format!(
                "a follower fetch frame of {size} bytes, shorter than its head"
            )));
        }
        let (frame, records_len) = decode_fetch_head(&first[4..])?;
        if frame.key != key || records_len != size - 4 - head_len {
            return Err(io::Error::other(format!(
                "a follower fetch frame for {} with {records_len} bytes of records in {size}",
                frame.key
            )));
        }
        match frame.error_code {
            ErrorCode::None => {}
            ErrorCode::OffsetOutOfRange => {
                let offsets = p.offsets().map_err(io::Error::other)?;
                if frame.log_start > offsets.leo {
                    info!(spu = store.spu(), replica = %key, log_start = frame.log_start, "this log ends before the leader's starts; starting over there");
                    p.restart_at(frame.log_start)
                        .await
                        .map_err(io::Error::other)?;
                    return Ok(());
                }
                return Err(refused(&frame.error_code, "follower fetch"));
            }
            code => return Err(refused(&code, "follower fetch")),
        }
        // Fencing: only the epoch we follow.
        if frame.leader_epoch != term.epoch {
            return Err(io::Error::other(format!(
                "a frame from leader epoch {} while following epoch {}",
                frame.leader_epoch, term.epoch
            )));
        }
        if records_len == 0 {
            p.follow_hw(frame.hw).map_err(io::Error::other)?;
            continue;
        }
        let appended = match &pipe {
            Some(pipe) if records_len <= splice_limit => {
                let moved = leader.splice_into(pipe, records_len).await?;
                if moved == records_len {
                    p.append_replicated_from_pipe(pipe.clone(), records_len, frame.hw)
                        .await
                } else {
                    // The pipe filled early (many partial pages): copy this frame.
                    let mut records = Vec::with_capacity(records_len);
                    pipe.drain_to_vec(&mut records, moved)?;
                    records.resize(records_len, 0);
                    leader.reader.read_exact(&mut records[moved..]).await?;
                    p.append_replicated(Bytes::from(records), frame.hw).await
                }
            }
            _ => {
                let records = leader.exact(records_len).await?;
                p.append_replicated(records.freeze(), frame.hw).await
            }
        };
        let offsets = appended.map_err(io::Error::other)?;
        next_corr = next_corr.wrapping_add(1).max(FETCH_CORR + 1);
        let update = FollowerOffsetUpdateRequest {
            follower_id: store.spu(),
            key: key.clone(),
            leo: offsets.leo,
            hw: offsets.hw,
            leader_epoch: term.epoch,
        };
        send(&mut writer, &update, next_corr).await?;
    }
}

/// The leader's connection, read with exact reads: nothing past the current frame's head
/// is taken from the socket, so a record section can be spliced out of it untouched.
struct LeaderReader {
    reader: OwnedReadHalf,
    max: usize,
}

impl LeaderReader {
    /// The next frame's size.
    async fn size(&mut self) -> io::Result<usize> {
        let mut size = [0u8; 4];
        self.reader.read_exact(&mut size).await.map_err(closed)?;
        let size = i32::from_be_bytes(size);
        match usize::try_from(size) {
            Ok(size) if (4..=self.max).contains(&size) => Ok(size),
            _ => Err(io::Error::other(format!(
                "the leader sent a frame of {size} bytes (at most {} allowed)",
                self.max
            ))),
        }
    }

    async fn exact(&mut self, len: usize) -> io::Result<BytesMut> {
        let mut buf = BytesMut::zeroed(len);
        self.reader.read_exact(&mut buf).await.map_err(closed)?;
        Ok(buf)
    }

    async fn skip(&mut self, len: usize) -> io::Result<()> {
        self.exact(len).await.map(drop)
    }

    /// A whole frame: its correlation id and body.
    async fn frame(&mut self) -> io::Result<(i32, Bytes)> {
        let size = self.size().await?;
        let frame = self.exact(size).await?.freeze();
        let corr = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        Ok((corr, frame.slice(4..)))
    }

    /// Splice `len` bytes from the socket into `pipe`; returns how many went, fewer than
    /// `len` only if the pipe filled up.
    async fn splice_into(&self, pipe: &Pipe, len: usize) -> io::Result<usize> {
        let stream: &TcpStream = self.reader.as_ref();
        let mut moved = 0;
        while moved < len {
            stream.readable().await?;
            match stream.try_io(Interest::READABLE, || {
                pipe.fill_from(stream.as_fd(), len - moved)
            }) {
                Ok(Fill::Moved(n)) => moved += n,
                Ok(Fill::Full) => break,
                Ok(Fill::Closed) => return Err(closed(io::ErrorKind::UnexpectedEof.into())),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        Ok(moved)
    }
}

fn closed(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(err.kind(), "the leader closed the connection")
    } else {
        err
    }
}

/// Bytes of a fetch frame's body (after the correlation id) up to its records: the
/// response with an empty record set. The key fixes it.
fn fetch_head_len(key: &ReplicaKey) -> io::Result<usize> {
    let empty = FollowerFetchResponse {
        key: key.clone(),
        error_code: ErrorCode::None,
        leader_epoch: 0,
        hw: 0,
        leo: 0,
        log_start: 0,
        records: RecordSet::default(),
    };
    Ok(empty.to_bytes(0).map_err(io::Error::other)?.len())
}

/// A fetch frame's head: the response without its records, and how many bytes of
/// records follow it.
fn decode_fetch_head(head: &[u8]) -> io::Result<(FollowerFetchResponse, usize)> {
    let mut src = Reader::new(head);
    let mut field = || -> Result<FollowerFetchResponse, protocol::DecodeError> {
        Ok(FollowerFetchResponse {
            key: ReplicaKey::decode(&mut src, 0)?,
            error_code: ErrorCode::decode(&mut src, 0)?,
            leader_epoch: i32::decode(&mut src, 0)?,
            hw: i64::decode(&mut src, 0)?,
            leo: i64::decode(&mut src, 0)?,
            log_start: i64::decode(&mut src, 0)?,
            records: RecordSet::default(),
        })
    };
    let frame = field().map_err(io::Error::other)?;
    let len = i32::decode(&mut src, 0).map_err(io::Error::other)?;
    src.finish("follower fetch head")
        .map_err(io::Error::other)?;
    let len = usize::try_from(len)
        .map_err(|_| io::Error::other(format!("a record section of {len} bytes")))?;
    Ok((frame, len))
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

    #[test]
    fn a_fetch_frame_head_is_read_apart_from_its_records() {
        let key = ReplicaKey::new("orders", 3);
        let response = FollowerFetchResponse {
            key: key.clone(),
            error_code: ErrorCode::OffsetOutOfRange,
            leader_epoch: 7,
            hw: 41,
            leo: 42,
            log_start: 5,
            records: RecordSet::new(vec![9u8; 300]),
        };
        let body = response.to_bytes(0).unwrap();
        let head_len = fetch_head_len(&key).unwrap();
        assert_eq!(body.len(), head_len + 300);
        let (head, records_len) = decode_fetch_head(&body[..head_len]).unwrap();
        assert_eq!(records_len, 300);
        assert_eq!(
            head,
            FollowerFetchResponse {
                records: RecordSet::default(),
                ..response
            }
        );
        assert!(decode_fetch_head(&body[..head_len - 1]).is_err());
        assert!(decode_fetch_head(&body[..head_len + 1]).is_err());
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
