//! ListGroups (key 16): the groups this SPU coordinates (every group: see [`super`]),
//! with their protocol type and, from v4, state (filtered by `states_filter`).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::is_coordinator;
use crate::kafka::Broker;

pub async fn list_groups(
    broker: &Broker,
    request: ListGroupsRequest,
    _version: i16,
) -> ListGroupsResponse {
    if !is_coordinator(broker) {
        // Kafka asks every broker and merges: the others simply coordinate nothing.
        return ListGroupsResponse::default();
    }
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(state))
        })
        .map(|(id, protocol_type, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type))
                .with_group_state(StrBytes::from_static_str(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
