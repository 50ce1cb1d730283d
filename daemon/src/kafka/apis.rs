//! The table of Kafka APIs this listener serves, at which versions, and who handles each.
//!
//! ApiVersions advertises exactly [`SERVED`]; a request outside it (an API we do not
//! serve, or a version out of range) is answered with UNSUPPORTED_VERSION and the
//! connection stays open. To serve another API: a row in [`SERVED`] and an arm in
//! [`dispatch`] calling its module.
//!
//! Versions: the ranges cover what kcat 1.7 (librdkafka), kafka-python, confluent-kafka
//! 2.x and aiokafka pick (each takes `min(its max, our max)`), flexible versions
//! included, and stop before versions that name topics by id only (Produce 13, Fetch 13),
//! which our topics do not have.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    FetchRequest, FindCoordinatorRequest, HeartbeatRequest, InitProducerIdRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use tracing::{info, warn};

use super::wire::{self, KafkaRequest};
use super::{Broker, Session, access};
use crate::net::RequestError;

/// One served API and its version range.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

impl Served {
    const fn new(key: ApiKey, min: i16, max: i16) -> Self {
        Self { key, min, max }
    }
}

/// Every API served, with its versions: what ApiVersions answers.
pub const SERVED: &[Served] = &[
    Served::new(ApiKey::Produce, 3, 11),
    Served::new(ApiKey::Fetch, 4, 12),
    Served::new(ApiKey::ListOffsets, 1, 7),
    Served::new(ApiKey::Metadata, 0, 12),
    Served::new(ApiKey::ApiVersions, 0, 4),
    Served::new(ApiKey::CreateTopics, 2, 7),
    Served::new(ApiKey::DeleteTopics, 1, 5),
    Served::new(ApiKey::DescribeConfigs, 1, 4),
    Served::new(ApiKey::CreatePartitions, 0, 3),
    Served::new(ApiKey::InitProducerId, 0, 4),
    Served::new(ApiKey::FindCoordinator, 0, 4),
    Served::new(ApiKey::JoinGroup, 0, 7),
    Served::new(ApiKey::SyncGroup, 0, 5),
    Served::new(ApiKey::Heartbeat, 0, 4),
    Served::new(ApiKey::LeaveGroup, 0, 4),
    Served::new(ApiKey::OffsetCommit, 2, 8),
    // v8 asks for several groups at once; clients fall back to one group per request.
    Served::new(ApiKey::OffsetFetch, 1, 7),
    Served::new(ApiKey::ListGroups, 0, 4),
    Served::new(ApiKey::DescribeGroups, 0, 5),
    Served::new(ApiKey::DeleteGroups, 0, 2),
];

/// The served range of `api_key`, if it is served.
pub fn served(api_key: i16) -> Option<Served> {
    SERVED.iter().copied().find(|s| s.key as i16 == api_key)
}

/// The API's name, for logs.
pub fn name(api_key: i16) -> String {
    ApiKey::try_from(api_key)
        .map(|key| format!("{key:?}"))
        .unwrap_or_else(|_| format!("unknown({api_key})"))
}

/// The `api` label of the listener's request metrics.
pub fn metric_name(api_key: i16) -> &'static str {
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Produce) => "produce",
        Ok(ApiKey::Fetch) => "fetch",
        Ok(ApiKey::ListOffsets) => "list_offsets",
        Ok(ApiKey::Metadata) => "metadata",
        Ok(ApiKey::ApiVersions) => "api_versions",
        Ok(ApiKey::CreateTopics) => "create_topics",
        Ok(ApiKey::DeleteTopics) => "delete_topics",
        Ok(ApiKey::DescribeConfigs) => "describe_configs",
        Ok(ApiKey::CreatePartitions) => "create_partitions",
        Ok(ApiKey::InitProducerId) => "init_producer_id",
        Ok(ApiKey::FindCoordinator) => "find_coordinator",
        Ok(ApiKey::JoinGroup) => "join_group",
        Ok(ApiKey::SyncGroup) => "sync_group",
        Ok(ApiKey::Heartbeat) => "heartbeat",
        Ok(ApiKey::LeaveGroup) => "leave_group",
        Ok(ApiKey::OffsetCommit) => "offset_commit",
        Ok(ApiKey::OffsetFetch) => "offset_fetch",
        Ok(ApiKey::ListGroups) => "list_groups",
        Ok(ApiKey::DescribeGroups) => "describe_groups",
        Ok(ApiKey::DeleteGroups) => "delete_groups",
        _ => "unknown",
    }
}

/// Answer one request.
pub async fn dispatch(
    broker: &Broker,
    session: &mut Session,
    request: KafkaRequest,
) -> Result<(), RequestError> {
    let Some(served) =
        served(request.api_key).filter(|s| (s.min..=s.max).contains(&request.version))
    else {
        return unsupported(session, &request).await;
    };
    let who = session.who.clone();
    let gate = access::Gate {
        authz: &broker.authz,
        who: &who,
    };
    let frame = match served.key {
        ApiKey::ApiVersions => {
            let asked: ApiVersionsRequest = request.decode()?;
            log_client(session, &request, &asked);
            wire::response_frame(request.correlation_id, request.version, &api_versions(0))?
        }
        ApiKey::Metadata => {
            answer(&request, async |q: MetadataRequest| {
                access::metadata(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::Produce => {
            let q: ProduceRequest = request.decode()?;
            // acks=0: the client expects no answer at all.
            let acks = q.acks;
            let response = access::produce(broker, &gate, q, request.version).await;
            if acks == 0 {
                return Ok(());
            }
            wire::response_frame(request.correlation_id, request.version, &response)?
        }
        ApiKey::Fetch => {
            answer(&request, async |q: FetchRequest| {
                access::fetch(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::ListOffsets => {
            answer(&request, async |q: ListOffsetsRequest| {
                access::list_offsets(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::CreateTopics => {
            answer(&request, async |q: CreateTopicsRequest| {
                access::create_topics(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::DeleteTopics => {
            answer(&request, async |q: DeleteTopicsRequest| {
                access::delete_topics(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::CreatePartitions => {
            answer(&request, async |q: CreatePartitionsRequest| {
                access::create_partitions(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::DescribeConfigs => {
            answer(&request, async |q: DescribeConfigsRequest| {
                access::describe_configs(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::FindCoordinator => {
            answer(&request, async |q: FindCoordinatorRequest| {
                access::find_coordinator(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::JoinGroup => {
            // Kafka shows a member's host as "/ip".
            let host = format!("/{}", session.peer.ip());
            answer(&request, async |q: JoinGroupRequest| {
                access::join_group(broker, &gate, &request.client_id, &host, q, request.version)
                    .await
            })
            .await?
        }
        ApiKey::SyncGroup => {
            answer(&request, async |q: SyncGroupRequest| {
                access::sync_group(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::Heartbeat => {
            answer(&request, async |q: HeartbeatRequest| {
                access::heartbeat(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::LeaveGroup => {
            answer(&request, async |q: LeaveGroupRequest| {
                access::leave_group(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::OffsetCommit => {
            answer(&request, async |q: OffsetCommitRequest| {
                access::offset_commit(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::OffsetFetch => {
            answer(&request, async |q: OffsetFetchRequest| {
                access::offset_fetch(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::ListGroups => {
            answer(&request, async |q: ListGroupsRequest| {
                access::list_groups(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::DescribeGroups => {
            answer(&request, async |q: DescribeGroupsRequest| {
                access::describe_groups(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::DeleteGroups => {
            answer(&request, async |q: DeleteGroupsRequest| {
                access::delete_groups(broker, &gate, q, request.version).await
            })
            .await?
        }
        ApiKey::InitProducerId => {
            answer(&request, async |q: InitProducerIdRequest| {
                access::init_producer_id(broker, &gate, q, request.version).await
            })
            .await?
        }
        // A row in SERVED without an arm here is a bug; answer as for any unserved API.
        _ => return unsupported(session, &request).await,
    };
    session.sink.send_frame(frame).await?;
    Ok(())
}

/// Decode the request as `Q`, run `handler`, encode its answer.
async fn answer<Q: Decodable, P: Encodable + HeaderVersion>(
    request: &KafkaRequest,
    handler: impl AsyncFnOnce(Q) -> P,
) -> Result<Bytes, RequestError> {
    let decoded: Q = request.decode()?;
    let response = handler(decoded).await;
    wire::response_frame(request.correlation_id, request.version, &response)
}

/// Our ApiVersions answer, with `error_code`.
pub fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SERVED
        .iter()
        .map(|s| {
            ApiVersion::default()
                .with_api_key(s.key as i16)
                .with_min_version(s.min)
                .with_max_version(s.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

/// Log who connected and with what, once per connection: which client and version each
/// Kafka client library is, as far as it says.
fn log_client(session: &Session, request: &KafkaRequest, asked: &ApiVersionsRequest) {
    info!(
        peer = %session.peer,
        client_id = %request.client_id,
        software = %asked.client_software_name.as_str(),
        software_version = %asked.client_software_version.as_str(),
        api_versions_version = request.version,
        "Kafka client connected"
    );
}

/// Answer a request outside [`SERVED`]. For ApiVersions at a newer version than ours,
/// Kafka's rule: answer at version 0 with UNSUPPORTED_VERSION and our ranges, so the
/// client retries at a version we speak.
async fn unsupported(session: &mut Session, request: &KafkaRequest) -> Result<(), RequestError> {
    let frame = if request.api_key == ApiKey::ApiVersions as i16 {
        let response = api_versions(ResponseError::UnsupportedVersion.code());
        wire::response_frame(request.correlation_id, 0, &response)?
    } else {
        warn!(
            peer = %session.peer,
            client_id = %request.client_id,
            api_key = request.api_key,
            api = name(request.api_key),
            version = request.version,
            "Kafka request for an API or version this listener does not serve; answered UNSUPPORTED_VERSION"
        );
        wire::unsupported_frame(request.correlation_id)
    };
    session.sink.send_frame(frame).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Every response, filled the way the handlers fill it, encodes at every served
    //! version: a field set where a version lacks it would close a client's connection.
    use super::*;
    use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{
        BrokerId, CreatePartitionsResponse, CreateTopicsResponse, DeleteTopicsResponse,
        DescribeConfigsResponse, FetchResponse, ListOffsetsResponse, MetadataResponse,
        ProduceResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    fn name() -> TopicName {
        TopicName(StrBytes::from_static_str("t"))
    }

    fn message() -> Option<StrBytes> {
        Some(StrBytes::from_static_str("why"))
    }

    fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
        let s = served(key as i16).expect("served");
        s.min..=s.max
    }

    fn encodes<P: Encodable + HeaderVersion>(key: ApiKey, make: impl Fn(i16) -> P) {
        for version in versions(key) {
            if let Err(err) = wire::response_frame(1, version, &make(version)) {
                panic!("{key:?} v{version}: {err}");
            }
        }
    }

    #[test]
    fn every_response_encodes_at_every_served_version() {
        encodes(ApiKey::ApiVersions, |_| api_versions(0));
        encodes(ApiKey::Metadata, |_| {
            MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(1))
                        .with_host(StrBytes::from_static_str("h"))
                        .with_port(9092),
                ])
                .with_cluster_id(Some(StrBytes::from_static_str(
                    super::super::metadata::CLUSTER_ID,
                )))
                .with_controller_id(BrokerId(1))
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(name()))
                        .with_error_code(5)
                        .with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_leader_id(BrokerId(1))
                                .with_leader_epoch(3)
                                .with_replica_nodes(vec![BrokerId(1)])
                                .with_isr_nodes(vec![BrokerId(1)]),
                        ]),
                ])
        });
        encodes(ApiKey::Produce, |_| {
            ProduceResponse::default().with_responses(vec![
                TopicProduceResponse::default()
                    .with_name(name())
                    .with_partition_responses(vec![
                        PartitionProduceResponse::default()
                            .with_base_offset(7)
                            .with_log_start_offset(0)
                            .with_error_code(6)
                            .with_error_message(message()),
                    ]),
            ])
        });
        encodes(ApiKey::Fetch, |_| {
            FetchResponse::default()
                .with_session_id(0)
                .with_responses(vec![
                    FetchableTopicResponse::default()
                        .with_topic(name())
                        .with_partitions(vec![
                            PartitionData::default()
                                .with_high_watermark(9)
                                .with_last_stable_offset(9)
                                .with_log_start_offset(0)
                                .with_records(Some(bytes::Bytes::from_static(b"batches"))),
                        ]),
                ])
        });
        encodes(ApiKey::ListOffsets, |version| {
            ListOffsetsResponse::default().with_topics(vec![
                ListOffsetsTopicResponse::default()
                    .with_name(name())
                    .with_partitions(vec![
                        ListOffsetsPartitionResponse::default()
                            .with_offset(4)
                            .with_timestamp(-1)
                            .with_leader_epoch(if version >= 4 { 2 } else { -1 }),
                    ]),
            ])
        });
        encodes(ApiKey::CreateTopics, |_| {
            CreateTopicsResponse::default().with_topics(vec![
                CreatableTopicResult::default()
                    .with_name(name())
                    .with_error_code(36)
                    .with_error_message(message())
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ])
        });
        encodes(ApiKey::DeleteTopics, |_| {
            DeleteTopicsResponse::default().with_responses(vec![
                DeletableTopicResult::default()
                    .with_name(Some(name()))
                    .with_error_code(3)
                    .with_error_message(message()),
            ])
        });
        encodes(ApiKey::CreatePartitions, |_| {
            CreatePartitionsResponse::default().with_results(vec![
                CreatePartitionsTopicResult::default()
                    .with_name(name())
                    .with_error_code(37)
                    .with_error_message(message()),
            ])
        });
        encodes(ApiKey::DescribeConfigs, |_| {
            DescribeConfigsResponse::default().with_results(vec![
                DescribeConfigsResult::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![
                        DescribeConfigsResourceResult::default()
                            .with_name(StrBytes::from_static_str("retention.ms"))
                            .with_value(Some(StrBytes::from_static_str("1000")))
                            .with_read_only(true)
                            .with_config_source(1)
                            .with_config_type(5),
                    ]),
            ])
        });
    }

    #[test]
    fn the_header_tagged_fields_of_flexible_requests_are_skipped() {
        // Metadata v12 (flexible): header tagged fields (one field, tag 5, 2 bytes), then
        // the body: topics null (compact array 0), allow auto create, include topic ops,
        // no tagged fields.
        let body = bytes::Bytes::from_static(&[1, 5, 2, 0xaa, 0xbb, 0, 1, 0, 0]);
        let request = crate::net::Request {
            header: protocol::api::RequestHeader {
                api_key: ApiKey::Metadata as u16,
                api_version: 12,
                correlation_id: 3,
                client_id: "c".into(),
            },
            body,
        };
        let request = KafkaRequest::from_request(request).expect("header");
        let decoded: MetadataRequest = request.decode().expect("body");
        assert!(decoded.topics.is_none());
        assert!(decoded.allow_auto_topic_creation);
    }

    #[test]
    fn every_served_api_has_a_metric_label_of_its_own() {
        let labels: std::collections::BTreeSet<_> =
            SERVED.iter().map(|s| metric_name(s.key as i16)).collect();
        assert!(!labels.contains("unknown"), "{labels:?}");
        assert_eq!(labels.len(), SERVED.len());
    }
}
