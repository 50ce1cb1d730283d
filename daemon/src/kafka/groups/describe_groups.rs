//! DescribeGroups (key 15): each group's state, protocol and members with their client
//! ids, hosts, metadata and assignments. A group never seen is answered as Kafka does:
//! state Dead, no members.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{is_coordinator, not_coordinator};
use crate::kafka::Broker;

pub async fn describe_groups(
    broker: &Broker,
    request: DescribeGroupsRequest,
    _version: i16,
) -> DescribeGroupsResponse {
    let coordinator = is_coordinator(broker);
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            if !coordinator {
                return described.with_error_code(not_coordinator());
            }
            broker
                .groups
                .existing(id.0.as_str(), |g| {
                    let protocol = g.protocol().unwrap_or_default().to_string();
                    let members = g
                        .members()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.id.clone()))
                                .with_client_id(StrBytes::from_string(m.client_id.clone()))
                                .with_client_host(StrBytes::from_string(m.client_host.clone()))
                                .with_member_metadata(m.metadata(&protocol))
                                .with_member_assignment(m.assignment.clone())
                        })
                        .collect();
                    described
                        .clone()
                        .with_group_state(StrBytes::from_static_str(g.phase().name()))
                        .with_protocol_type(StrBytes::from_string(
                            g.protocol_type().unwrap_or_default().to_string(),
                        ))
                        .with_protocol_data(StrBytes::from_string(protocol))
                        .with_members(members)
                })
                .unwrap_or_else(|| described.with_group_state(StrBytes::from_static_str("Dead")))
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
