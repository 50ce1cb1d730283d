//! SyncGroup (key 14): the leader hands out the assignment; every member gets its own.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::state::GroupError;
use super::{code, is_coordinator, not_coordinator};
use crate::kafka::Broker;

/// How long a member's SyncGroup waits for the leader's.
const WAIT: Duration = Duration::from_secs(5 * 60);

pub async fn sync_group(
    broker: &Broker,
    request: SyncGroupRequest,
    _version: i16,
) -> SyncGroupResponse {
    if !is_coordinator(broker) {
        return SyncGroupResponse::default().with_error_code(not_coordinator());
    }
    let group_id = request.group_id.0.as_str().to_string();
    let assignments = request
        .assignments
        .iter()
        .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
        .collect();
    let waiting = broker
        .groups
        .existing(&group_id, |g| {
            g.sync(
                request.member_id.as_str(),
                request.generation_id,
                assignments,
                Instant::now(),
            )
            .map(|rx| {
                (
                    rx,
                    g.protocol_type().map(str::to_string),
                    g.protocol().map(str::to_string),
                )
            })
        })
        .unwrap_or(Err(GroupError::UnknownMemberId));
    let answer = match waiting {
        Ok((rx, protocol_type, protocol)) => match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(Ok(assignment))) => Ok((assignment, protocol_type, protocol)),
            Ok(Ok(Err(err))) => Err(err),
            _ => Err(GroupError::RebalanceInProgress),
        },
        Err(err) => Err(err),
    };
    match answer {
        Ok((assignment, protocol_type, protocol)) => SyncGroupResponse::default()
            .with_assignment(assignment)
            .with_protocol_type(protocol_type.map(StrBytes::from_string))
            .with_protocol_name(protocol.map(StrBytes::from_string)),
        Err(err) => SyncGroupResponse::default().with_error_code(code(err)),
    }
}
