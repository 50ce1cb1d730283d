//! The consumer-offset APIs (1006-1008, v23-24), as the official client uses them:
//!
//! * UpdateConsumerOffset (1006) `{ offset, session_id }` comes to the SPU serving the
//!   stream, on the stream's connection: the session names the consumer and partition
//!   (StreamFetch with a consumer id). This SPU stores the offset if it leads
//!   `consumer-offset-0`, else hands it to the leader. Answered with the offset.
//! * DeleteConsumerOffset (1007) and FetchConsumerOffsets (1008) go to the leader of
//!   `consumer-offset-0`; another SPU answers `NotLeaderForPartition`.
//!
//! Errors: an unknown session is `FetchSessionNotFoud` (3002), a session without a
//! consumer id `OffsetManagementDisabled` (3004), a write that failed
//! `OffsetFlushRequestError` (3003) with the reason.

use protocol::api::ErrorCode;
use protocol::spu::{
    DeleteConsumerOffsetRequest, DeleteConsumerOffsetResponse, FetchConsumerOffsetsRequest,
    FetchConsumerOffsetsResponse, OffsetKey, UpdateConsumerOffsetRequest,
    UpdateConsumerOffsetResponse,
};
use tracing::debug;

use super::stream_fetch::Streams;
use crate::spu::replica::store::ReplicaStore;

pub async fn update(
    store: &ReplicaStore,
    streams: &Streams,
    request: &UpdateConsumerOffsetRequest,
) -> UpdateConsumerOffsetResponse {
    let answer = |error_code| UpdateConsumerOffsetResponse {
        offset: request.offset,
        error_code,
    };
    let Some(key) = streams.consumer(request.session_id).cloned() else {
        return answer(if streams.acknowledge_known(request.session_id) {
            ErrorCode::OffsetManagementDisabled
        } else {
            ErrorCode::FetchSessionNotFoud
        });
    };
    match store
        .consumer_offsets()
        .commit(store, key.clone(), request.offset)
        .await
    {
        Ok(()) => {
            debug!(consumer = %key.consumer_id, replica = %key.replica_id, offset = request.offset, "consumer offset committed");
            answer(ErrorCode::None)
        }
        Err(err) => {
            debug!(consumer = %key.consumer_id, %err, "consumer offset not committed");
            answer(err.error_code())
        }
    }
}

pub async fn delete(
    store: &ReplicaStore,
    request: DeleteConsumerOffsetRequest,
) -> DeleteConsumerOffsetResponse {
    let key = OffsetKey {
        replica_id: request.replica_id,
        consumer_id: request.consumer_id,
    };
    // Deleting an offset that does not exist is not an error, as in Fluvio.
    let error_code = match store.consumer_offsets().delete(store, key).await {
        Ok(_) => ErrorCode::None,
        Err(err) => err.error_code(),
    };
    DeleteConsumerOffsetResponse { error_code }
}

pub async fn fetch(
    store: &ReplicaStore,
    request: &FetchConsumerOffsetsRequest,
) -> FetchConsumerOffsetsResponse {
    let filter = request.filter_opts.as_ref();
    let keep = |key: &OffsetKey| {
        filter.is_none_or(|f| {
            f.replica_id.as_ref().is_none_or(|r| *r == key.replica_id)
                && f.consumer_id.as_ref().is_none_or(|c| *c == key.consumer_id)
        })
    };
    match store.consumer_offsets().list(store, keep).await {
        Ok(consumers) => FetchConsumerOffsetsResponse {
            error_code: ErrorCode::None,
            consumers,
        },
        Err(err) => FetchConsumerOffsetsResponse {
            error_code: err.error_code(),
            consumers: Vec::new(),
        },
    }
}
