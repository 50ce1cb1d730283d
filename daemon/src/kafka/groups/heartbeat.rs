//! Heartbeat (key 12): a member is alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::time::Instant;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::state::GroupError;
use super::{code, is_coordinator, not_coordinator};
use crate::kafka::Broker;

pub async fn heartbeat(
    broker: &Broker,
    request: HeartbeatRequest,
    _version: i16,
) -> HeartbeatResponse {
    if !is_coordinator(broker) {
        return HeartbeatResponse::default().with_error_code(not_coordinator());
    }
    let result = broker
        .groups
        .existing(request.group_id.0.as_str(), |g| {
            g.heartbeat(
                request.member_id.as_str(),
                request.generation_id,
                Instant::now(),
            )
        })
        .unwrap_or(Err(GroupError::UnknownMemberId));
    match result {
        Ok(()) => HeartbeatResponse::default(),
        Err(err) => HeartbeatResponse::default().with_error_code(code(err)),
    }
}
