//! OffsetFetch (key 9): a group's committed offsets, from `consumer-offset` (stored as the
//! last record processed, answered as the next to read; -1 where nothing is committed).
//! Versions before 8 (one group per request); `topics` null asks for every partition the
//! group committed.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::offset_commit::offset_error;
use super::{is_coordinator, not_coordinator};
use crate::kafka::Broker;

pub async fn offset_fetch(
    broker: &Broker,
    request: OffsetFetchRequest,
    _version: i16,
) -> OffsetFetchResponse {
    if !is_coordinator(broker) {
        return OffsetFetchResponse::default().with_error_code(not_coordinator());
    }
    let group = request.group_id.0.as_str().to_string();
    let committed = match broker
        .replicas
        .consumer_offsets()
        .list(&broker.replicas, |key| key.consumer_id == group)
        .await
    {
        Ok(list) => list,
        Err(err) => return OffsetFetchResponse::default().with_error_code(offset_error(&err)),
    };
    // topic -> partition -> next offset to read
    let mut known: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for c in committed {
        known
            .entry(c.replica_id.topic.clone())
            .or_default()
            .insert(c.replica_id.partition as i32, c.offset + 1);
    }
    let partition = |index: i32, offset: i64| {
        OffsetFetchResponsePartition::default()
            .with_partition_index(index)
            .with_committed_offset(offset)
            .with_committed_leader_epoch(-1)
            .with_metadata(Some(StrBytes::from_static_str("")))
    };
    let topics = match &request.topics {
        Some(asked) => asked
            .iter()
            .map(|t| {
                let stored = known.get(t.name.0.as_str());
                OffsetFetchResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&i| {
                                partition(i, stored.and_then(|s| s.get(&i)).copied().unwrap_or(-1))
                            })
                            .collect(),
                    )
            })
            .collect(),
        None => known
            .into_iter()
            .map(|(name, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(parts.into_iter().map(|(i, o)| partition(i, o)).collect())
            })
            .collect(),
    };
    OffsetFetchResponse::default().with_topics(topics)
}
