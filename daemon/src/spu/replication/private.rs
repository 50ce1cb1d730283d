//! The SPU's private port: followers of the partitions this SPU leads (see the protocol in
//! `protocol::internal`). One request kind per function, same shape as the public port:
//!
//! * FollowerFetch (2101): a stream per request, like StreamFetch: the stored batches
//!   from the follower's log end on, then new ones as they are written, and an empty frame
//!   whenever the high watermark moves. The fetch offset counts as the follower's log end
//!   for the high watermark. Refused (`NotLeaderForPartition`) unless this SPU leads the
//!   partition in exactly the epoch the follower names, which fences a stale leader; the
//!   stream ends with the same error when leadership moves on.
//! * FollowerOffsetUpdate (2102): the follower's log end after an append.
//! * EpochEndOffset (2103): where an epoch ends here, for a follower's truncation.
//! * CommitConsumerOffset (2104): a consumer's offset committed on another SPU, stored
//!   here as leader of `consumer-offset-0` (see [`crate::spu::offsets`]).
//! * ApiVersions (18): the SPU's table, as before.
//!
//! Fault injection for tests (`--fault-hold-replication <file>`, only in builds with the
//! `fault-injection` feature): while that file exists, follower streams send nothing, so
//! records reach this leader only. That is how a test gives a leader a tail its followers
//! never saw without a network partition.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use protocol::api::versions::API_VERSIONS_KEY;
use protocol::api::{ApiVersionsRequest, ApiVersionsResponse, ErrorCode};
use protocol::internal::{
    CommitConsumerOffsetResponse, EpochEndOffsetRequest, EpochEndOffsetResponse,
    FollowerFetchRequest, FollowerFetchResponse, FollowerOffsetUpdateRequest,
    FollowerOffsetUpdateResponse, SpuPrivateRequest,
};
use protocol::record::RecordSet;
use protocol::{DecodeError, Reader, Version};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::net::{Peer, Request, RequestError, ResponseSink, Service};
use crate::spu::public::stream_fetch::frame_head;
use crate::spu::replica::partition::Partition;
use crate::spu::replica::store::ReplicaStore;
use crate::storage::{Isolation, ReadSlice};

/// How often a held stream checks whether the hold is lifted.
const HOLD_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Test fault injection: whether follower streams are held (see the module doc). Without
/// the `fault-injection` feature it is never held.
#[derive(Debug, Clone, Default)]
struct Hold {
    #[cfg(feature = "fault-injection")]
    file: Option<std::path::PathBuf>,
}

impl Hold {
    #[cfg(feature = "fault-injection")]
    fn of(store: &ReplicaStore) -> Self {
        Self {
            file: store.fault_hold_replication(),
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    fn of(_store: &ReplicaStore) -> Self {
        Self::default()
    }

    fn held(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self.file.as_deref().is_some_and(std::path::Path::exists);
        #[cfg(not(feature = "fault-injection"))]
        false
    }
}

/// The most a follower frame carries, whatever the follower asks.
const MAX_FOLLOWER_FRAME_BYTES: i32 = 8 << 20;

pub struct PrivateService {
    store: Arc<ReplicaStore>,
}

impl PrivateService {
    pub fn new(store: Arc<ReplicaStore>) -> Self {
        Self { store }
    }
}

pub struct Session {
    peer: SocketAddr,
    sink: ResponseSink,
    streams: Vec<JoinHandle<()>>,
}

impl Service for PrivateService {
    type Session = Session;

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            peer: peer.addr,
            sink,
            streams: Vec::new(),
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        let (corr, version) = (header.correlation_id, header.api_version);
        if header.api_key == API_VERSIONS_KEY {
            request.decode::<ApiVersionsRequest>()?;
            return session
                .sink
                .respond(corr, version, &ApiVersionsResponse::spu())
                .await;
        }
        let decoded = SpuPrivateRequest::decode(header, &mut Reader::shared(&request.body))
            .map_err(|source| match source {
                DecodeError::UnknownApiKey(api_key) => {
                    RequestError::UnknownApiKey { api_key, version }
                }
                source => RequestError::Malformed {
                    api_key: header.api_key,
                    version,
                    source,
                },
            })?;
        match decoded {
            SpuPrivateRequest::FollowerFetch(fetch) => {
                session.streams.retain(|s| !s.is_finished());
                debug!(peer = %session.peer, follower = fetch.follower_id, replica = %fetch.key, offset = fetch.fetch_offset, epoch = fetch.leader_epoch, "follower fetch");
                let task =
                    follower_fetch(&self.store, session.sink.clone(), corr, version, fetch).await?;
                session.streams.extend(task);
                Ok(())
            }
            SpuPrivateRequest::FollowerOffsetUpdate(update) => {
                let response = offset_update(&self.store, &update);
                session.sink.respond(corr, version, &response).await
            }
            SpuPrivateRequest::EpochEndOffset(ask) => {
                let response = epoch_end_offset(&self.store, &ask);
                session.sink.respond(corr, version, &response).await
            }
            SpuPrivateRequest::CommitConsumerOffset(commit) => {
                // Only stored here: a forwarded commit is never forwarded again.
                let error_code = match self
                    .store
                    .consumer_offsets()
                    .put(&self.store, commit.key, commit.offset)
                    .await
                {
                    Ok(()) => ErrorCode::None,
                    Err(err) => {
                        debug!(peer = %session.peer, %err, "forwarded consumer offset refused");
                        err.error_code()
                    }
                };
                let response = CommitConsumerOffsetResponse { error_code };
                session.sink.respond(corr, version, &response).await
            }
        }
    }

    async fn close(&self, session: Session) {
        for stream in session.streams {
            stream.abort();
        }
    }
}

fn error_frame(
    key: &protocol::spu::ReplicaKey,
    code: ErrorCode,
    p: Option<&Partition>,
) -> FollowerFetchResponse {
    let offsets = p.and_then(|p| p.offsets().ok());
    FollowerFetchResponse {
        key: key.clone(),
        error_code: code,
        leader_epoch: p.map_or(-1, |p| p.assignment().leader_epoch),
        hw: offsets.map_or(-1, |o| o.hw),
        leo: offsets.map_or(-1, |o| o.leo),
        log_start: offsets.map_or(-1, |o| o.log_start),
        records: RecordSet::default(),
    }
}

/// Start a follower's stream, or answer why not.
async fn follower_fetch(
    store: &ReplicaStore,
    sink: ResponseSink,
    corr: i32,
    version: Version,
    fetch: FollowerFetchRequest,
) -> Result<Option<JoinHandle<()>>, RequestError> {
    let Some(p) = store.get(&fetch.key) else {
        sink.respond(
            corr,
            version,
            &error_frame(&fetch.key, ErrorCode::NotLeaderForPartition, None),
        )
        .await?;
        return Ok(None);
    };
    if p.check_leader_epoch(fetch.leader_epoch).is_err() {
        sink.respond(
            corr,
            version,
            &error_frame(&fetch.key, ErrorCode::NotLeaderForPartition, Some(&p)),
        )
        .await?;
        return Ok(None);
    }
    let offsets = match p.offsets() {
        Ok(o) => o,
        Err(_) => {
            sink.respond(
                corr,
                version,
                &error_frame(&fetch.key, ErrorCode::NotLeaderForPartition, Some(&p)),
            )
            .await?;
            return Ok(None);
        }
    };
    if fetch.fetch_offset < offsets.log_start || fetch.fetch_offset > offsets.leo {
        sink.respond(
            corr,
            version,
            &error_frame(&fetch.key, ErrorCode::OffsetOutOfRange, Some(&p)),
        )
        .await?;
        return Ok(None);
    }
    let _ = p.follower_report(
        fetch.follower_id,
        fetch.leader_epoch,
        fetch.fetch_offset,
        -1,
    );
    let hold = Hold::of(store);
    let span = crate::spu::replica::span(p.key());
    Ok(Some(tokio::spawn(tracing::Instrument::instrument(
        stream(p, sink, corr, version, fetch, hold),
        span,
    ))))
}

async fn stream(
    p: Arc<Partition>,
    sink: ResponseSink,
    corr: i32,
    version: Version,
    fetch: FollowerFetchRequest,
    hold: Hold,
) {
    let _open = crate::metrics::stream_opened("SPU private");
    let max_bytes = fetch.max_bytes.clamp(1, MAX_FOLLOWER_FRAME_BYTES) as u64;
    let mut changes = p.subscribe();
    let mut next = fetch.fetch_offset;
    let mut hw_sent = -1;
    loop {
        changes.borrow_and_update();
        if p.check_leader_epoch(fetch.leader_epoch).is_err() {
            let _ = sink
                .respond(
                    corr,
                    version,
                    &error_frame(&fetch.key, ErrorCode::NotLeaderForPartition, Some(&p)),
                )
                .await;
            return;
        }
        let Ok(offsets) = p.offsets() else { return };
        if hold.held() {
            // Fault injection: replication held, nothing goes out.
            tokio::time::sleep(HOLD_POLL).await;
            continue;
        }
        // Batches go out as file ranges (sendfile), like a consumer's stream.
        let frame = if next < offsets.leo {
            let slice = match p.read(next, max_bytes, Isolation::ReadUncommitted) {
                Ok(slice) => slice,
                Err(err) => {
                    debug!(replica = %fetch.key, %err, "follower stream read failed");
                    let _ = sink
                        .respond(
                            corr,
                            version,
                            &error_frame(&fetch.key, ErrorCode::OffsetOutOfRange, Some(&p)),
                        )
                        .await;
                    return;
                }
            };
            if slice.end_offset <= next {
                None
            } else {
                next = slice.end_offset;
                Some(slice)
            }
        } else if offsets.hw != hw_sent {
            Some(ReadSlice {
                ranges: Vec::new(),
                start_offset: next,
                end_offset: next,
                log_start: offsets.log_start,
                hw: offsets.hw,
                leo: offsets.leo,
            })
        } else {
            None
        };
        if let Some(slice) = frame {
            hw_sent = slice.hw;
            p.counters().served_follower(slice.len());
            let response = FollowerFetchResponse {
                key: fetch.key.clone(),
                error_code: ErrorCode::None,
                leader_epoch: fetch.leader_epoch,
                hw: slice.hw,
                leo: slice.leo,
                log_start: slice.log_start,
                records: RecordSet::default(),
            };
            let Ok(head) = frame_head(corr, version, &response, slice.len()) else {
                return;
            };
            if sink
                .send_spliced(Bytes::from(head), slice.ranges)
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = sink.closed() => return,
        }
    }
}

fn offset_update(
    store: &ReplicaStore,
    update: &FollowerOffsetUpdateRequest,
) -> FollowerOffsetUpdateResponse {
    let accepted = store.get(&update.key).is_some_and(|p| {
        p.follower_report(
            update.follower_id,
            update.leader_epoch,
            update.leo,
            update.hw,
        )
        .is_ok()
    });
    FollowerOffsetUpdateResponse {
        error_code: if accepted {
            ErrorCode::None
        } else {
            ErrorCode::NotLeaderForPartition
        },
    }
}

fn epoch_end_offset(store: &ReplicaStore, ask: &EpochEndOffsetRequest) -> EpochEndOffsetResponse {
    let refused = EpochEndOffsetResponse {
        error_code: ErrorCode::NotLeaderForPartition,
        leader_epoch: -1,
        end_offset: -1,
    };
    let Some(p) = store.get(&ask.key) else {
        return refused;
    };
    if !p.is_leader() {
        return refused;
    }
    match p.epoch_end_offset(ask.leader_epoch) {
        Ok((leader_epoch, end_offset)) => EpochEndOffsetResponse {
            error_code: ErrorCode::None,
            leader_epoch,
            end_offset,
        },
        Err(_) => refused,
    }
}
