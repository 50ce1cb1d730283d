//! DeleteGroups (key 42): forget empty groups and their committed offsets;
//! NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for a group with neither
//! members nor offsets.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::offset_commit::offset_error;
use super::{code, is_coordinator, not_coordinator};
use crate::kafka::Broker;

pub async fn delete_groups(
    broker: &Broker,
    request: DeleteGroupsRequest,
    _version: i16,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in &request.groups_names {
        let result = DeletableGroupResult::default().with_group_id(id.clone());
        if !is_coordinator(broker) {
            results.push(result.with_error_code(not_coordinator()));
            continue;
        }
        let group = id.0.as_str().to_string();
        let had_members = match broker.groups.remove_empty(&group) {
            Ok(known) => known,
            Err(err) => {
                results.push(result.with_error_code(code(err)));
                continue;
            }
        };
        let offsets = broker.replicas.consumer_offsets();
        let error = match offsets
            .list(&broker.replicas, |key| key.consumer_id == group)
            .await
        {
            Err(err) => offset_error(&err),
            Ok(committed) if committed.is_empty() && !had_members => {
                ResponseError::GroupIdNotFound.code()
            }
            Ok(committed) => {
                let mut error = 0;
                for c in committed {
                    let key = protocol::spu::OffsetKey {
                        replica_id: c.replica_id,
                        consumer_id: c.consumer_id,
                    };
                    if let Err(err) = offsets.delete(&broker.replicas, key).await {
                        error = offset_error(&err);
                        break;
                    }
                }
                error
            }
        };
        results.push(result.with_error_code(error));
    }
    DeleteGroupsResponse::default().with_results(results)
}
