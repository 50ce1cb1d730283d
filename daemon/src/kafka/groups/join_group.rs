//! JoinGroup (key 11): a consumer (re)joins its group; answered when the rebalance ends
//! (see [`super::state`]), the leader's answer with every member's metadata.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::state::{GroupError, JoinRequest};
use super::{Coordinator, code, is_coordinator, not_coordinator};
use crate::kafka::Broker;

/// Beyond the rebalance timeout, how long a JoinGroup may wait for its answer.
const SLACK: Duration = Duration::from_secs(5);

pub async fn join_group(
    broker: &Broker,
    client_id: &str,
    client_host: &str,
    request: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    let refused = |error: i16| {
        JoinGroupResponse::default()
            .with_error_code(error)
            .with_generation_id(-1)
            .with_member_id(request.member_id.clone())
    };
    if !is_coordinator(broker) {
        return refused(not_coordinator());
    }
    let session_timeout = Duration::from_millis(request.session_timeout_ms.max(0) as u64);
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout = if version >= 1 && request.rebalance_timeout_ms > 0 {
        Duration::from_millis(request.rebalance_timeout_ms as u64)
    } else {
        session_timeout
    };
    let join = JoinRequest {
        member_id: request.member_id.as_str().to_string(),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
            .collect(),
    };
    let group_id = request.group_id.0.as_str().to_string();
    let coordinator: &Arc<Coordinator> = &broker.groups;
    let waiting = coordinator.with_group(&group_id, |g| g.join(join, Instant::now()));
    let answer = match waiting {
        Ok(rx) => match tokio::time::timeout(rebalance_timeout + SLACK, rx).await {
            Ok(Ok(answer)) => answer,
            // Dropped (the coordinator moved) or no answer in time: rejoin.
            _ => Err(GroupError::RebalanceInProgress),
        },
        Err(err) => Err(err),
    };
    match answer {
        Ok(joined) => JoinGroupResponse::default()
            .with_generation_id(joined.generation)
            .with_protocol_type(Some(StrBytes::from_string(joined.protocol_type)))
            .with_protocol_name(Some(StrBytes::from_string(joined.protocol)))
            .with_leader(StrBytes::from_string(joined.leader))
            .with_member_id(StrBytes::from_string(joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|(id, metadata)| {
                        JoinGroupResponseMember::default()
                            .with_member_id(StrBytes::from_string(id))
                            .with_metadata(metadata)
                    })
                    .collect(),
            ),
        Err(err) => refused(code(err)),
    }
}
