//! UpdateOffsets (1005): a consumer reports, per stream session, the next offset it
//! expects. Sessions use it to pace themselves (see [`super::stream_fetch`]). A session id
//! this connection never issued is answered `FetchSessionNotFoud` (3002), as Fluvio does;
//! one that has ended is acknowledged.

use protocol::api::ErrorCode;
use protocol::spu::{OffsetUpdateStatus, UpdateOffsetsRequest, UpdateOffsetsResponse};

use super::stream_fetch::Streams;

pub fn update_offsets(streams: &Streams, request: &UpdateOffsetsRequest) -> UpdateOffsetsResponse {
    let status = request
        .offsets
        .iter()
        .map(|update| OffsetUpdateStatus {
            session_id: update.session_id,
            error: if streams.acknowledge(update.session_id, update.offset) {
                ErrorCode::None
            } else {
                ErrorCode::FetchSessionNotFoud
            },
        })
        .collect();
    UpdateOffsetsResponse { status }
}
