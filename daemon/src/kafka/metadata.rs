//! Metadata (key 3): brokers, controller, topics and their partitions with leaders.
//!
//! Brokers are the SPUs that serve Kafka, from the SPU directory the SC sends every SPU;
//! topics and partitions come from the SC's public port. No topic is created on a
//! Metadata request (Kafka's `auto.create.topics.enable` off): an unknown topic is
//! UNKNOWN_TOPIC_OR_PARTITION, and clients create topics with CreateTopics.
//!
//! Only SPUs the SC sees online are brokers: an offline one would send clients to a dead
//! address. A partition whose leader is offline answers LEADER_NOT_AVAILABLE (leader -1),
//! which clients retry until a new leader is elected.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use protocol::sc::SpuId;

use super::Broker;
use super::admin::ClusterTopic;

/// Kafka's "authorized operations not asked for".
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// The cluster id every answer carries (v2+): one per cluster would be better, but
/// clients only compare it between answers.
pub const CLUSTER_ID: &str = "fluvio";

pub async fn metadata(broker: &Broker, request: MetadataRequest, version: i16) -> MetadataResponse {
    // Version 0 has no "all topics" null: an empty list means all.
    let wanted: Option<Vec<String>> = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|t| t.name.map(|n| n.0.as_str().to_string()))
                .collect(),
        ),
    };
    let response = MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_controller_id(BrokerId(broker.node_id))
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED);
    let view = match broker.sc.cluster().await {
        Ok(view) => view,
        Err(err) => {
            tracing::warn!(%err, "Kafka Metadata: the SC's topics are not available");
            // Every asked topic gets a retriable error; "all topics" gets none.
            let topics = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|name| topic_error(&name, ResponseError::LeaderNotAvailable))
                .collect();
            return response.with_brokers(brokers(broker)).with_topics(topics);
        }
    };
    let mut online = view.online.clone();
    // This SPU answers, so it is up, whatever the SC last saw.
    online.insert(broker.node_id);
    let topics = match wanted {
        None => view.topics.values().map(|t| topic(t, &online)).collect(),
        Some(names) => names
            .iter()
            .map(|name| match view.topics.get(name) {
                Some(t) => topic(t, &online),
                None => topic_error(name, ResponseError::UnknownTopicOrPartition),
            })
            .collect(),
    };
    let mut brokers = brokers(broker);
    brokers.retain(|b| online.contains(&b.node_id.0));
    response.with_brokers(brokers).with_topics(topics)
}

/// Every SPU serving Kafka; this one at least, even before the SC's directory named it.
pub fn brokers(broker: &Broker) -> Vec<MetadataResponseBroker> {
    let mut known: BTreeMap<SpuId, (String, u16)> = broker.replicas.kafka_brokers();
    known
        .entry(broker.node_id)
        .or_insert_with(|| (broker.addr.ip().to_string(), broker.addr.port()));
    known
        .into_iter()
        .map(|(id, (host, port))| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
        })
        .collect()
}

/// A topic as Kafka shows it, with the leaders among the `online` SPUs.
fn topic(t: &ClusterTopic, online: &BTreeSet<SpuId>) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            let (error, leader) = if p.leader < 0 || !online.contains(&p.leader) {
                (ResponseError::LeaderNotAvailable.code(), -1)
            } else {
                (0, p.leader)
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.index as i32)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.in_sync.iter().copied().map(BrokerId).collect())
        })
        .collect();
    let error = if t.partitions.is_empty() {
        // Created but not placed yet: clients retry.
        ResponseError::LeaderNotAvailable.code()
    } else {
        0
    };
    MetadataResponseTopic::default()
        .with_error_code(error)
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

fn topic_error(name: &str, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}
