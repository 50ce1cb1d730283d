//! LeaveGroup (key 13): members leave (one before v3, a list from v3); the rest
//! rebalance at once instead of waiting for the session timeout.

use std::time::Instant;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::state::GroupError;
use super::{code, is_coordinator, not_coordinator};
use crate::kafka::Broker;

pub async fn leave_group(
    broker: &Broker,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !is_coordinator(broker) {
        return LeaveGroupResponse::default().with_error_code(not_coordinator());
    }
    let ids: Vec<String> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| m.member_id.as_str().to_string())
            .collect()
    } else {
        vec![request.member_id.as_str().to_string()]
    };
    let answers = broker
        .groups
        .existing(request.group_id.0.as_str(), |g| {
            g.leave(&ids, Instant::now())
        })
        .unwrap_or_else(|| {
            ids.iter()
                .map(|id| (id.clone(), Err(GroupError::UnknownMemberId)))
                .collect()
        });
    if version >= 3 {
        let members = request
            .members
            .iter()
            .zip(&answers)
            .map(|(m, (_, result))| {
                MemberResponse::default()
                    .with_member_id(m.member_id.clone())
                    .with_group_instance_id(m.group_instance_id.clone())
                    .with_error_code(result.err().map_or(0, code))
            })
            .collect();
        return LeaveGroupResponse::default().with_members(members);
    }
    let error = answers.first().and_then(|(_, r)| r.err()).map_or(0, code);
    LeaveGroupResponse::default().with_error_code(error)
}
