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
use super::{
    Broker, Session, admin, fetch, groups, init_producer_id, list_offsets, metadata, produce,
};
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
    let frame = match served.key {
        ApiKey::ApiVersions => {
            let asked: ApiVersionsRequest = request.decode()?;
            log_client(session, &request, &asked);
            wire::response_frame(request.correlation_id, request.version, &api_versions(0))?
        }
        ApiKey::Metadata => {
            answer(&request, async |q: MetadataRequest| {
                metadata::metadata(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::Produce => {
            let q: ProduceRequest = request.decode()?;
            // acks=0: the client expects no answer at all.
            let acks = q.acks;
            let response = produce::produce(broker, q, request.version).await;
            if acks == 0 {
                return Ok(());
            }
            wire::response_frame(request.correlation_id, request.version, &response)?
        }
        ApiKey::Fetch => {
            answer(&request, async |q: FetchRequest| {
                fetch::fetch(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::ListOffsets => {
            answer(&request, async |q: ListOffsetsRequest| {
                list_offsets::list_offsets(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::CreateTopics => {
            answer(&request, async |q: CreateTopicsRequest| {
                admin::create_topics(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::DeleteTopics => {
            answer(&request, async |q: DeleteTopicsRequest| {
                admin::delete_topics(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::CreatePartitions => {
            answer(&request, async |q: CreatePartitionsRequest| {
                admin::create_partitions(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::DescribeConfigs => {
            answer(&request, async |q: DescribeConfigsRequest| {
                admin::describe_configs(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::FindCoordinator => {
            answer(&request, async |q: FindCoordinatorRequest| {
                groups::find_coordinator::find_coordinator(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::JoinGroup => {
            // Kafka shows a member's host as "/ip".
            let host = format!("/{}", session.peer.ip());
            answer(&request, async |q: JoinGroupRequest| {
                groups::join_group::join_group(
                    broker,
                    &request.client_id,
                    &host,
                    q,
                    request.version,
                )
                .await
            })
            .await?
        }
        ApiKey::SyncGroup => {
            answer(&request, async |q: SyncGroupRequest| {
                groups::sync_group::sync_group(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::Heartbeat => {
            answer(&request, async |q: HeartbeatRequest| {
                groups::heartbeat::heartbeat(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::LeaveGroup => {
            answer(&request, async |q: LeaveGroupRequest| {
                groups::leave_group::leave_group(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::OffsetCommit => {
            answer(&request, async |q: OffsetCommitRequest| {
                groups::offset_commit::offset_commit(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::OffsetFetch => {
            answer(&request, async |q: OffsetFetchRequest| {
                groups::offset_fetch::offset_fetch(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::ListGroups => {
            answer(&request, async |q: ListGroupsRequest| {
                groups::list_groups::list_groups(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::DescribeGroups => {
            answer(&request, async |q: DescribeGroupsRequest| {
                groups::describe_groups::describe_groups(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::DeleteGroups => {
            answer(&request, async |q: DeleteGroupsRequest| {
                groups::delete_groups::delete_groups(broker, q, request.version).await
            })
            .await?
        }
        ApiKey::InitProducerId => {
            answer(&request, async |q: InitProducerIdRequest| {
                init_producer_id::init_producer_id(broker, q, request.version).await
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
