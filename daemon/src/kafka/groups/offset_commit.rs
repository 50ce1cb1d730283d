//! OffsetCommit (key 8): store a group's committed offsets in `consumer-offset` (see
//! [`super`]: Kafka's offset N, the next record to read, is stored as N - 1, the last
//! record processed, Fluvio's meaning). A commit from a group member must carry its
//! current generation; a commit outside the group protocol (generation -1, as
//! `consumer.commit()` of a consumer with assigned partitions sends) is stored as is.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use protocol::spu::{OffsetKey, ReplicaKey};
use tracing::warn;

use super::state::GroupError;
use super::{code, is_coordinator, not_coordinator};
use crate::kafka::Broker;
use crate::spu::offsets::OffsetError;

pub async fn offset_commit(
    broker: &Broker,
    request: OffsetCommitRequest,
    _version: i16,
) -> OffsetCommitResponse {
    let group = request.group_id.0.as_str().to_string();
    let refusal: Option<i16> = if !is_coordinator(broker) {
        Some(not_coordinator())
    } else if request.generation_id_or_member_epoch >= 0 {
        broker
            .groups
            .existing(&group, |g| {
                g.check_commit(
                    request.member_id.as_str(),
                    request.generation_id_or_member_epoch,
                )
            })
            .unwrap_or(Err(GroupError::UnknownMemberId))
            .err()
            .map(code)
    } else {
        None
    };
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let error = match (refusal, u32::try_from(p.partition_index)) {
                (Some(error), _) => error,
                (None, Err(_)) => ResponseError::UnknownTopicOrPartition.code(),
                (None, Ok(index)) => {
                    let key = OffsetKey {
                        replica_id: ReplicaKey::new(name, index),
                        consumer_id: group.clone(),
                    };
                    match broker
                        .replicas
                        .consumer_offsets()
                        .put(&broker.replicas, key, p.committed_offset - 1)
                        .await
                    {
                        Ok(()) => 0,
                        Err(err) => {
                            warn!(group, topic = name, partition = index, %err, "offset commit failed");
                            offset_error(&err)
                        }
                    }
                }
            };
            partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error),
            );
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    OffsetCommitResponse::default().with_topics(topics)
}

/// The Kafka error for a failed offset write or read.
pub fn offset_error(err: &OffsetError) -> i16 {
    match err {
        OffsetError::NotLeader => ResponseError::NotCoordinator,
        OffsetError::NoLeader => ResponseError::CoordinatorNotAvailable,
        OffsetError::NotReplicated => ResponseError::RequestTimedOut,
        _ => ResponseError::CoordinatorLoadInProgress,
    }
    .code()
}
