//! The authorization policy (`--authz-policy`) on the Kafka listener, mapped the way
//! Kafka's ACLs map onto its APIs:
//!
//! | API                                   | needs (policy action on object)              | refusal code |
//! |---------------------------------------|----------------------------------------------|--------------|
//! | Produce                               | `produce` on the topic                       | 29 per topic |
//! | Fetch, ListOffsets                    | `consume` on the topic                       | 29 per topic |
//! | Metadata                              | lists only topics the principal may `list`, `consume` or `produce`; a named one it may not: 29 | 29 |
//! | DescribeConfigs                       | the topic visible as for Metadata            | 29           |
//! | CreateTopics / DeleteTopics           | `create` / `delete` on the topic             | 29 per topic |
//! | CreatePartitions                      | `update` on the topic                        | 29 per topic |
//! | InitProducerId                        | `produce` on some topic                      | 31           |
//! | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit | `consume` on the group   | 30           |
//! | OffsetCommit                          | and `consume` on each topic                  | 29 per topic |
//! | FindCoordinator, DescribeGroups, ListGroups, OffsetFetch | `list` or `consume` on the group (ListGroups leaves out the others) | 30 |
//! | OffsetFetch                           | and the topic visible as for Metadata        | 29 per topic |
//! | DeleteGroups                          | `delete` on the group                        | 30 per group |
//!
//! Groups are the policy's `group` kind (`groups = { "app-*" = ["consume", "list"] }`).
//! Each refusal is logged by [`Authorizer::check`] like on the other listeners, and its text
//! goes to the client in the error message field where the API has one. Without a policy
//! every check passes and the handlers run untouched.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{
    Broker, admin, fetch, groups, init_producer_id, list_offsets, metadata as meta, produce,
};
use crate::authz::{Action, Authorizer, Denied, Identity, ObjectKind};

const TOPIC_DENIED: ResponseError = ResponseError::TopicAuthorizationFailed;
const GROUP_DENIED: ResponseError = ResponseError::GroupAuthorizationFailed;
const CLUSTER_DENIED: ResponseError = ResponseError::ClusterAuthorizationFailed;

/// Kafka's resource type of a topic in DescribeConfigs.
const TOPIC_RESOURCE: i8 = 2;
/// FindCoordinator's key type of a consumer group.
const GROUP_KEY: i8 = 0;

/// Who asks, and the policy that answers.
pub struct Gate<'a> {
    pub authz: &'a Authorizer,
    pub who: &'a Identity,
}

impl Gate<'_> {
    fn check(&self, action: Action, kind: ObjectKind, name: &str) -> Result<(), Denied> {
        self.authz.check(self.who, action, kind, Some(name))
    }

    /// A topic the principal may see: it may list, consume from or produce to it.
    fn sees_topic(&self, name: &str) -> bool {
        [Action::List, Action::Consume, Action::Produce]
            .into_iter()
            .any(|a| {
                self.authz
                    .permits(self.who, a, ObjectKind::Topic, Some(name))
            })
    }

    /// [`Self::sees_topic`], logging a refusal (as `list`) when it may not.
    fn check_sees_topic(&self, name: &str) -> Result<(), Denied> {
        if self.sees_topic(name) {
            return Ok(());
        }
        self.check(Action::List, ObjectKind::Topic, name)
    }

    /// A group the principal may describe: `list`, or `consume` (a member may see its
    /// own group, as Kafka's READ implies DESCRIBE).
    fn sees_group(&self, name: &str) -> bool {
        [Action::List, Action::Consume].into_iter().any(|a| {
            self.authz
                .permits(self.who, a, ObjectKind::Group, Some(name))
        })
    }

    fn check_sees_group(&self, name: &str) -> Result<(), Denied> {
        if self.sees_group(name) {
            return Ok(());
        }
        self.check(Action::List, ObjectKind::Group, name)
    }
}

fn message(denied: &Denied) -> Option<StrBytes> {
    Some(StrBytes::from_string(format!(
        "{denied} (the cluster's authorization policy)"
    )))
}

pub async fn produce(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    let mut denied = Vec::new();
    q.topic_data.retain(|topic| {
        let Err(why) = gate.check(Action::Produce, ObjectKind::Topic, topic.name.as_str()) else {
            return true;
        };
        let partitions = topic
            .partition_data
            .iter()
            .map(|p| {
                PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_error_code(TOPIC_DENIED.code())
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
                    .with_error_message(message(&why))
            })
            .collect();
        denied.push(
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions),
        );
        false
    });
    let mut response = if q.topic_data.is_empty() {
        ProduceResponse::default()
    } else {
        produce::produce(broker, q, version).await
    };
    response.responses.extend(denied);
    response
}

pub async fn fetch(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: FetchRequest,
    version: i16,
) -> FetchResponse {
    let mut denied = Vec::new();
    q.topics.retain(|topic| {
        if gate
            .check(Action::Consume, ObjectKind::Topic, topic.topic.as_str())
            .is_ok()
        {
            return true;
        }
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_error_code(TOPIC_DENIED.code())
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
            })
            .collect();
        denied.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
        false
    });
    // Nothing left to read: answer now rather than wait out the request's max wait.
    let mut response = if q.topics.is_empty() && !denied.is_empty() {
        FetchResponse::default()
    } else {
        fetch::fetch(broker, q, version).await
    };
    response.responses.extend(denied);
    response
}

pub async fn list_offsets(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let mut denied = Vec::new();
    q.topics.retain(|topic| {
        if gate
            .check(Action::Consume, ObjectKind::Topic, topic.name.as_str())
            .is_ok()
        {
            return true;
        }
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(TOPIC_DENIED.code())
                    .with_timestamp(-1)
                    .with_offset(-1)
            })
            .collect();
        denied.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
        false
    });
    let mut response = if q.topics.is_empty() && !denied.is_empty() {
        ListOffsetsResponse::default()
    } else {
        list_offsets::list_offsets(broker, q, version).await
    };
    response.topics.extend(denied);
    response
}

/// All topics: only those the principal may see. Named topics it may not see: 29 each,
/// and they are not looked up (nor created).
pub async fn metadata(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let mut denied = Vec::new();
    if let Some(topics) = &mut q.topics {
        topics.retain(|t| {
            let Some(name) = &t.name else { return true };
            if gate.check_sees_topic(name.as_str()).is_ok() {
                return true;
            }
            denied.push(
                MetadataResponseTopic::default()
                    .with_name(Some(name.clone()))
                    .with_error_code(TOPIC_DENIED.code()),
            );
            false
        });
    }
    let mut response = meta::metadata(broker, q, version).await;
    // Also covers version 0, where an empty list means every topic.
    response.topics.retain(|t| {
        t.name
            .as_ref()
            .is_none_or(|name| gate.sees_topic(name.as_str()))
    });
    response.topics.extend(denied);
    response
}

pub async fn describe_configs(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let mut denied = Vec::new();
    q.resources.retain(|r| {
        if r.resource_type != TOPIC_RESOURCE {
            return true;
        }
        let Err(why) = gate.check_sees_topic(r.resource_name.as_str()) else {
            return true;
        };
        denied.push(
            DescribeConfigsResult::default()
                .with_error_code(TOPIC_DENIED.code())
                .with_error_message(message(&why))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone()),
        );
        false
    });
    let mut response = if q.resources.is_empty() && !denied.is_empty() {
        DescribeConfigsResponse::default()
    } else {
        admin::describe_configs(broker, q, version).await
    };
    response.results.extend(denied);
    response
}

pub async fn create_topics(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut denied = Vec::new();
    q.topics.retain(|t| {
        let Err(why) = gate.check(Action::Create, ObjectKind::Topic, t.name.as_str()) else {
            return true;
        };
        denied.push(
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(TOPIC_DENIED.code())
                .with_error_message(message(&why))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        );
        false
    });
    let mut response = if q.topics.is_empty() && !denied.is_empty() {
        CreateTopicsResponse::default()
    } else {
        admin::create_topics(broker, q, version).await
    };
    response.topics.extend(denied);
    response
}

pub async fn delete_topics(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let mut denied = Vec::new();
    let mut refuse = |name: &TopicName| -> bool {
        let Err(why) = gate.check(Action::Delete, ObjectKind::Topic, name.as_str()) else {
            return true;
        };
        denied.push(
            DeletableTopicResult::default()
                .with_name(Some(name.clone()))
                .with_error_code(TOPIC_DENIED.code())
                .with_error_message(message(&why)),
        );
        false
    };
    // Versions up to 5 name topics in `topic_names`, 6 and up in `topics`.
    q.topic_names.retain(&mut refuse);
    q.topics.retain(|t| t.name.as_ref().is_none_or(&mut refuse));
    let mut response = if q.topic_names.is_empty() && q.topics.is_empty() && !denied.is_empty() {
        DeleteTopicsResponse::default()
    } else {
        admin::delete_topics(broker, q, version).await
    };
    response.responses.extend(denied);
    response
}

pub async fn create_partitions(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: CreatePartitionsRequest,
    version: i16,
) -> CreatePartitionsResponse {
    let mut denied = Vec::new();
    q.topics.retain(|t| {
        let Err(why) = gate.check(Action::Update, ObjectKind::Topic, t.name.as_str()) else {
            return true;
        };
        denied.push(
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(TOPIC_DENIED.code())
                .with_error_message(message(&why)),
        );
        false
    });
    let mut response = if q.topics.is_empty() && !denied.is_empty() {
        CreatePartitionsResponse::default()
    } else {
        admin::create_partitions(broker, q, version).await
    };
    response.results.extend(denied);
    response
}

/// A producer id is only of use to write: the principal must produce to some topic.
pub async fn init_producer_id(
    broker: &Broker,
    gate: &Gate<'_>,
    q: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    if gate
        .authz
        .check_some(gate.who, Action::Produce, ObjectKind::Topic)
        .is_err()
    {
        return InitProducerIdResponse::default()
            .with_error_code(CLUSTER_DENIED.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    init_producer_id::init_producer_id(broker, q, version).await
}

pub async fn find_coordinator(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    if q.key_type != GROUP_KEY {
        return groups::find_coordinator::find_coordinator(broker, q, version).await;
    }
    if version < 4 {
        if let Err(why) = gate.check_sees_group(q.key.as_str()) {
            return FindCoordinatorResponse::default()
                .with_error_code(GROUP_DENIED.code())
                .with_error_message(message(&why))
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        return groups::find_coordinator::find_coordinator(broker, q, version).await;
    }
    let mut denied = Vec::new();
    q.coordinator_keys.retain(|key| {
        let Err(why) = gate.check_sees_group(key.as_str()) else {
            return true;
        };
        denied.push(
            Coordinator::default()
                .with_key(key.clone())
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(GROUP_DENIED.code())
                .with_error_message(message(&why)),
        );
        false
    });
    let mut response = if q.coordinator_keys.is_empty() && !denied.is_empty() {
        FindCoordinatorResponse::default()
    } else {
        groups::find_coordinator::find_coordinator(broker, q, version).await
    };
    response.coordinators.extend(denied);
    response
}

/// Taking part in a group (join, sync, heartbeat, leave): `consume` on the group.
pub fn member_of(gate: &Gate<'_>, group: &GroupId) -> Result<(), i16> {
    gate.check(Action::Consume, ObjectKind::Group, group.as_str())
        .map_err(|_| GROUP_DENIED.code())
}

pub async fn join_group(
    broker: &Broker,
    gate: &Gate<'_>,
    client_id: &str,
    host: &str,
    q: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    if let Err(code) = member_of(gate, &q.group_id) {
        return JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(q.member_id);
    }
    groups::join_group::join_group(broker, client_id, host, q, version).await
}

pub async fn sync_group(
    broker: &Broker,
    gate: &Gate<'_>,
    q: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    if let Err(code) = member_of(gate, &q.group_id) {
        return SyncGroupResponse::default().with_error_code(code);
    }
    groups::sync_group::sync_group(broker, q, version).await
}

pub async fn heartbeat(
    broker: &Broker,
    gate: &Gate<'_>,
    q: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    if let Err(code) = member_of(gate, &q.group_id) {
        return HeartbeatResponse::default().with_error_code(code);
    }
    groups::heartbeat::heartbeat(broker, q, version).await
}

pub async fn leave_group(
    broker: &Broker,
    gate: &Gate<'_>,
    q: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if let Err(code) = member_of(gate, &q.group_id) {
        return LeaveGroupResponse::default().with_error_code(code);
    }
    groups::leave_group::leave_group(broker, q, version).await
}

/// `consume` on the group, then on each topic whose offsets are committed.
pub async fn offset_commit(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let answer = |name: &TopicName, partitions: &[i32], code: i16| {
        OffsetCommitResponseTopic::default()
            .with_name(name.clone())
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(*p)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    let indexes = |t: &offset_commit_request::OffsetCommitRequestTopic| -> Vec<i32> {
        t.partitions.iter().map(|p| p.partition_index).collect()
    };
    if let Err(code) = member_of(gate, &q.group_id) {
        let topics = q
            .topics
            .iter()
            .map(|t| answer(&t.name, &indexes(t), code))
            .collect();
        return OffsetCommitResponse::default().with_topics(topics);
    }
    let mut denied = Vec::new();
    q.topics.retain(|t| {
        if gate
            .check(Action::Consume, ObjectKind::Topic, t.name.as_str())
            .is_ok()
        {
            return true;
        }
        denied.push(answer(&t.name, &indexes(t), TOPIC_DENIED.code()));
        false
    });
    let mut response = if q.topics.is_empty() && !denied.is_empty() {
        OffsetCommitResponse::default()
    } else {
        groups::offset_commit::offset_commit(broker, q, version).await
    };
    response.topics.extend(denied);
    response
}

/// The group visible, then each named topic visible; all topics: only visible ones.
pub async fn offset_fetch(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    let answer = |name: &TopicName, partitions: &[i32], code: i16| {
        OffsetFetchResponseTopic::default()
            .with_name(name.clone())
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(-1)
                            .with_committed_leader_epoch(-1)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    if gate.check_sees_group(q.group_id.as_str()).is_err() {
        // Version 1 has no top-level error: each asked partition carries it.
        let topics = q
            .topics
            .iter()
            .flatten()
            .map(|t| answer(&t.name, &t.partition_indexes, GROUP_DENIED.code()))
            .collect();
        return OffsetFetchResponse::default()
            .with_error_code(GROUP_DENIED.code())
            .with_topics(topics);
    }
    let mut denied = Vec::new();
    if let Some(topics) = &mut q.topics {
        topics.retain(|t| {
            if gate.check_sees_topic(t.name.as_str()).is_ok() {
                return true;
            }
            denied.push(answer(&t.name, &t.partition_indexes, TOPIC_DENIED.code()));
            false
        });
    }
    let mut response = if q.topics.as_ref().is_some_and(Vec::is_empty) && !denied.is_empty() {
        OffsetFetchResponse::default()
    } else {
        groups::offset_fetch::offset_fetch(broker, q, version).await
    };
    response.topics.retain(|t| gate.sees_topic(t.name.as_str()));
    response.topics.extend(denied);
    response
}

/// Only the groups the principal may see, as Kafka lists only described-allowed ones.
pub async fn list_groups(
    broker: &Broker,
    gate: &Gate<'_>,
    q: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let mut response = groups::list_groups::list_groups(broker, q, version).await;
    response
        .groups
        .retain(|g| gate.sees_group(g.group_id.as_str()));
    response
}

pub async fn describe_groups(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let mut denied = Vec::new();
    q.groups.retain(|g| {
        let Err(why) = gate.check_sees_group(g.as_str()) else {
            return true;
        };
        denied.push(
            DescribedGroup::default()
                .with_group_id(g.clone())
                .with_error_code(GROUP_DENIED.code())
                .with_error_message(message(&why)),
        );
        false
    });
    let mut response = if q.groups.is_empty() && !denied.is_empty() {
        DescribeGroupsResponse::default()
    } else {
        groups::describe_groups::describe_groups(broker, q, version).await
    };
    response.groups.extend(denied);
    response
}

pub async fn delete_groups(
    broker: &Broker,
    gate: &Gate<'_>,
    mut q: DeleteGroupsRequest,
    version: i16,
) -> DeleteGroupsResponse {
    let mut denied = Vec::new();
    q.groups_names.retain(|g| {
        if gate
            .check(Action::Delete, ObjectKind::Group, g.as_str())
            .is_ok()
        {
            return true;
        }
        denied.push(
            DeletableGroupResult::default()
                .with_group_id(g.clone())
                .with_error_code(GROUP_DENIED.code()),
        );
        false
    });
    let mut response = if q.groups_names.is_empty() && !denied.is_empty() {
        DeleteGroupsResponse::default()
    } else {
        groups::delete_groups::delete_groups(broker, q, version).await
    };
    response.results.extend(denied);
    response
}
