//! The controller's side of the Kafka listener: CreateTopics (19), DeleteTopics (20),
//! CreatePartitions (37) and DescribeConfigs (32, topics, read only), forwarded to the
//! SC's public port with our client library, and the cluster view (topics, partitions,
//! leaders) that Metadata and the data APIs read from the SC.
//!
//! Kafka topic configs map to our topic settings: `retention.ms` (whole seconds),
//! `segment.bytes`, `retention.bytes` (our maximum partition size) and
//! `compression.type`. Other configs are refused with INVALID_CONFIG, naming them, so
//! nothing a client asked for is silently dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Admin, ClientError, ClientTls, Pem};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use protocol::api::ErrorCode;
use protocol::sc::{
    CleanupPolicy, CompressionAlgorithm, PartitionMap, PartitionSpec, PartitionStateSpec,
    ReplicaSpec, SpuId, SpuResolution, SpuSpec, TopicSpec, TopicStorageConfig,
};
use tokio::sync::Mutex;

use super::Broker;
use crate::spu::replica::store::ReplicaStore;

/// How long a cluster view is reused: Metadata is asked often (every client, on every
/// error), the SC is one hop away, and leaders move rarely.
const VIEW_FRESH: Duration = Duration::from_millis(500);

/// How long CreateTopics waits for new topics' partitions to get leaders, at most (the
/// request's own timeout when shorter): clients produce right after creating.
const CREATE_WAIT_MAX: Duration = Duration::from_secs(10);

/// DescribeConfigs' resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs' config sources.
const SOURCE_TOPIC_CONFIG: i8 = 1;
const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// Why the SC could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ScLinkError {
    #[error("the SC's public address is not known yet (the SPU has not registered)")]
    NotRegistered,
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The SPU's TLS files cannot make a client configuration for the SC's port.
    #[error("cannot set up TLS to the SC: {0}")]
    Tls(#[from] client::TlsConfigError),
}

/// One partition as Kafka clients see it.
#[derive(Debug, Clone)]
pub struct ClusterPartition {
    pub index: u32,
    pub leader: SpuId,
    pub leader_epoch: i32,
    pub replicas: Vec<SpuId>,
    pub in_sync: Vec<SpuId>,
}

#[derive(Debug, Clone)]
pub struct ClusterTopic {
    pub name: String,
    pub spec: TopicSpec,
    pub partitions: Vec<ClusterPartition>,
}

/// Topics and partitions of the whole cluster, from the SC.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub topics: BTreeMap<String, ClusterTopic>,
    /// The SPUs the SC sees online: only they are brokers to clients, a partition led
    /// by another has no leader for now.
    pub online: BTreeSet<SpuId>,
}

/// The admin connection to the SC, made on first use and again after a failure.
pub struct ScLink {
    replicas: Arc<ReplicaStore>,
    admin: Mutex<Option<Admin>>,
    view: Mutex<Option<(Instant, Arc<ClusterView>)>>,
}

impl ScLink {
    pub fn new(replicas: Arc<ReplicaStore>) -> Self {
        Self {
            replicas,
            admin: Mutex::new(None),
            view: Mutex::new(None),
        }
    }

    async fn admin(&self) -> Result<Admin, ScLinkError> {
        let mut admin = self.admin.lock().await;
        if let Some(admin) = admin.as_ref() {
            return Ok(admin.clone());
        }
        let addr = self
            .replicas
            .sc_public_addr()
            .ok_or(ScLinkError::NotRegistered)?;
        let connected = Admin::connect_with(&addr, &self.sc_tls()?).await?;
        *admin = Some(connected.clone());
        Ok(connected)
    }

    /// With TLS on, the SC's public port speaks only TLS: connect as this node, with its
    /// certificate, verifying the SC against the CA the SPU's other outgoing links trust.
    fn sc_tls(&self) -> Result<ClientTls, ScLinkError> {
        let Some(tls) = self.replicas.tls() else {
            return Ok(ClientTls::disabled());
        };
        let files = tls.files();
        let Some(ca) = &files.ca else {
            return Ok(ClientTls::disabled());
        };
        let cert = Pem::file(&files.cert)?;
        let key = Pem::file(&files.key)?;
        Ok(ClientTls::verified(
            files.server_name.clone(),
            &Pem::file(ca)?,
            Some((&cert, &key)),
        )?)
    }

    /// Forget a connection that failed, so the next call connects again.
    async fn failed(&self, err: &ClientError) {
        if matches!(
            err,
            ClientError::Unreachable { .. }
                | ClientError::ConnectionLost { .. }
                | ClientError::Timeout { .. }
                | ClientError::BadResponse { .. }
        ) {
            *self.admin.lock().await = None;
        }
    }

    /// Run `call` with the admin connection, forgetting the connection if it broke.
    async fn with_admin<T>(
        &self,
        call: impl AsyncFnOnce(&Admin) -> Result<T, ClientError>,
    ) -> Result<T, ScLinkError> {
        let admin = self.admin().await?;
        let result = call(&admin).await;
        if let Err(err) = &result {
            self.failed(err).await;
        }
        Ok(result?)
    }

    /// The cluster's topics and partitions, at most [`VIEW_FRESH`] old.
    pub async fn cluster(&self) -> Result<Arc<ClusterView>, ScLinkError> {
        let mut cached = self.view.lock().await;
        if let Some((at, view)) = cached.as_ref()
            && at.elapsed() < VIEW_FRESH
        {
            return Ok(view.clone());
        }
        let view = Arc::new(self.fetch_view().await?);
        *cached = Some((Instant::now(), view.clone()));
        Ok(view)
    }

    /// Drop the cached view: the next read asks the SC (after an admin change).
    pub async fn invalidate(&self) {
        *self.view.lock().await = None;
    }

    async fn fetch_view(&self) -> Result<ClusterView, ScLinkError> {
        let (topics, partitions, states, spus) = self
            .with_admin(async |admin| {
                let spus = admin.list::<SpuSpec>(&[]).await?;
                let topics = admin.list::<TopicSpec>(&[]).await?;
                let partitions = admin.list::<PartitionSpec>(&[]).await?;
                // Leader epochs and in-sync sets; an SC without them leaves defaults.
                let states = admin
                    .list::<PartitionStateSpec>(&[])
                    .await
                    .unwrap_or_default();
                Ok((topics, partitions, states, spus))
            })
            .await?;
        let states: BTreeMap<String, PartitionStateSpec> =
            states.into_iter().map(|s| (s.name, s.spec)).collect();
        let mut view = ClusterView {
            online: spus
                .iter()
                .filter(|s| s.status.resolution == SpuResolution::Online)
                .map(|s| s.spec.id)
                .collect(),
            ..ClusterView::default()
        };
        for topic in topics {
            if topic.spec.system {
                continue;
            }
            view.topics.insert(
                topic.name.clone(),
                ClusterTopic {
                    name: topic.name,
                    spec: topic.spec,
                    partitions: Vec::new(),
                },
            );
        }
        for partition in partitions {
            let Some((topic, index)) = protocol::sc::parse_partition_name(&partition.name) else {
                continue;
            };
            let Some(t) = view.topics.get_mut(topic) else {
                continue;
            };
            let state = states.get(&partition.name);
            let in_sync = match state {
                Some(s) if !s.in_sync.is_empty() => s.in_sync.clone(),
                _ if partition.spec.leader >= 0 => vec![partition.spec.leader],
                _ => Vec::new(),
            };
            t.partitions.push(ClusterPartition {
                index,
                leader: partition.spec.leader,
                leader_epoch: state.map_or(0, |s| s.leader_epoch),
                replicas: partition.spec.replicas.clone(),
                in_sync,
            });
        }
        for t in view.topics.values_mut() {
            t.partitions.sort_by_key(|p| p.index);
        }
        Ok(view)
    }
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A Kafka error code and message for a failed SC call.
fn kafka_error(err: &ScLinkError) -> (i16, Option<StrBytes>) {
    let code = match err {
        ScLinkError::NotRegistered => ResponseError::NotController,
        ScLinkError::Tls(_) => ResponseError::UnknownServerError,
        ScLinkError::Client(ClientError::Refused { code, .. }) => match code {
            ErrorCode::TopicAlreadyExists => ResponseError::TopicAlreadyExists,
            ErrorCode::TopicInvalidName => ResponseError::InvalidTopicException,
            ErrorCode::TopicNotFound => ResponseError::UnknownTopicOrPartition,
            ErrorCode::TopicInvalidConfiguration => ResponseError::InvalidConfig,
            _ => ResponseError::InvalidRequest,
        },
        ScLinkError::Client(ClientError::TopicNotFound { .. }) => {
            ResponseError::UnknownTopicOrPartition
        }
        ScLinkError::Client(
            ClientError::Unreachable { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::Timeout { .. },
        ) => ResponseError::RequestTimedOut,
        ScLinkError::Client(_) => ResponseError::UnknownServerError,
    };
    (code.code(), Some(str_bytes(err.to_string())))
}

/// A Kafka CreateTopics entry as our topic spec, or the config error.
fn topic_spec(
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<TopicSpec, (ResponseError, String)> {
    let replicas = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions < 0 {
            1
        } else {
            topic.num_partitions as u32
        };
        let replication_factor = if topic.replication_factor < 0 {
            1
        } else {
            topic.replication_factor as u32
        };
        if partitions == 0 {
            return Err((
                ResponseError::InvalidPartitions,
                "a topic needs at least one partition".into(),
            ));
        }
        if replication_factor == 0 {
            return Err((
                ResponseError::InvalidReplicationFactor,
                "the replication factor must be at least 1".into(),
            ));
        }
        ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ignore_rack_assignment: false,
        }
    } else {
        ReplicaSpec::Assigned(
            topic
                .assignments
                .iter()
                .map(|a| PartitionMap {
                    id: a.partition_index as u32,
                    replicas: a.broker_ids.iter().map(|b| b.0).collect(),
                    mirror: None,
                })
                .collect(),
        )
    };
    let mut spec = TopicSpec {
        replicas,
        ..TopicSpec::default()
    };
    for config in &topic.configs {
        let name = config.name.as_str();
        let Some(value) = config.value.as_ref().map(|v| v.as_str()) else {
            continue;
        };
        let invalid = |why: &str| {
            (
                ResponseError::InvalidConfig,
                format!("topic config {name}={value}: {why}"),
            )
        };
        match name {
            "retention.ms" => {
                let ms: i64 = value.parse().map_err(|_| invalid("not a number"))?;
                if ms >= 0 {
                    let secs = u32::try_from((ms / 1000).max(1))
                        .map_err(|_| invalid("more than 136 years"))?;
                    spec.cleanup_policy = Some(CleanupPolicy::Segment {
                        time_in_seconds: secs,
                    });
                }
            }
            "segment.bytes" => {
                let bytes: u32 = value
                    .parse()
                    .map_err(|_| invalid("not a size in bytes up to 4 GiB"))?;
                spec.storage
                    .get_or_insert_with(TopicStorageConfig::default)
                    .segment_size = Some(bytes);
            }
            "retention.bytes" => {
                let bytes: i64 = value.parse().map_err(|_| invalid("not a number"))?;
                if bytes >= 0 {
                    spec.storage
                        .get_or_insert_with(TopicStorageConfig::default)
                        .max_partition_size = Some(bytes as u64);
                }
            }
            "compression.type" => {
                spec.compression_type = match value {
                    "producer" => CompressionAlgorithm::Any,
                    "uncompressed" | "none" => CompressionAlgorithm::None,
                    "gzip" => CompressionAlgorithm::Gzip,
                    "snappy" => CompressionAlgorithm::Snappy,
                    "lz4" => CompressionAlgorithm::Lz4,
                    "zstd" => CompressionAlgorithm::Zstd,
                    _ => {
                        return Err(invalid(
                            "use producer, uncompressed, gzip, snappy, lz4 or zstd",
                        ));
                    }
                }
            }
            _ => {
                return Err((
                    ResponseError::InvalidConfig,
                    format!(
                        "topic config {name} is not supported; supported: retention.ms, \
                         segment.bytes, retention.bytes, compression.type"
                    ),
                ));
            }
        }
    }
    Ok(spec)
}

pub async fn create_topics(
    broker: &Broker,
    request: CreateTopicsRequest,
    _version: i16,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    let mut created = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.as_str().to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let spec = match topic_spec(topic) {
            Ok(spec) => spec,
            Err((code, message)) => {
                results.push(
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message))),
                );
                continue;
            }
        };
        let (partitions, factor) = match &spec.replicas {
            ReplicaSpec::Computed {
                partitions,
                replication_factor,
                ..
            } => (*partitions as i32, *replication_factor as i16),
            ReplicaSpec::Assigned(maps) => (
                maps.len() as i32,
                maps.first().map_or(0, |m| m.replicas.len() as i16),
            ),
        };
        let validate_only = request.validate_only;
        let outcome = broker
            .sc
            .with_admin(async |admin| admin.create::<TopicSpec>(&name, spec, validate_only).await)
            .await;
        let result = result
            .with_num_partitions(partitions)
            .with_replication_factor(factor);
        match outcome {
            Ok(()) => {
                if !validate_only {
                    created.push((name, partitions));
                }
                results.push(result);
            }
            Err(err) => {
                let (code, message) = kafka_error(&err);
                results.push(result.with_error_code(code).with_error_message(message));
            }
        }
    }
    broker.sc.invalidate().await;
    if !created.is_empty() {
        let wait = Duration::from_millis(request.timeout_ms.max(0) as u64).min(CREATE_WAIT_MAX);
        wait_for_leaders(broker, &created, wait).await;
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Wait until every partition of the `topics` has a leader (or `wait` passed): Kafka
/// answers CreateTopics once the topic exists on the brokers, and clients produce next.
async fn wait_for_leaders(broker: &Broker, topics: &[(String, i32)], wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        broker.sc.invalidate().await;
        if let Ok(view) = broker.sc.cluster().await {
            let ready = topics.iter().all(|(name, count)| {
                view.topics.get(name).is_some_and(|t| {
                    t.partitions.len() as i32 >= *count
                        && t.partitions.iter().all(|p| p.leader >= 0)
                })
            });
            if ready {
                return;
            }
        }
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn delete_topics(
    broker: &Broker,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    // v0-5 list names; v6 lists states (name or topic id; we have names only).
    let names: Vec<Option<TopicName>> = if version >= 6 {
        request.topics.iter().map(|t| t.name.clone()).collect()
    } else {
        request.topic_names.iter().cloned().map(Some).collect()
    };
    let mut responses = Vec::with_capacity(names.len());
    for name in names {
        let Some(name) = name else {
            responses.push(
                DeletableTopicResult::default()
                    .with_error_code(ResponseError::UnsupportedVersion.code())
                    .with_error_message(Some(str_bytes(
                        "topics are deleted by name here; topic ids are not supported",
                    ))),
            );
            continue;
        };
        let topic = name.0.as_str().to_string();
        let outcome = broker
            .sc
            .with_admin(async |admin| admin.delete::<TopicSpec>(topic.clone(), &topic).await)
            .await;
        let result = DeletableTopicResult::default().with_name(Some(name));
        responses.push(match outcome {
            Ok(()) => result,
            Err(err) => {
                let (code, message) = kafka_error(&err);
                result.with_error_code(code).with_error_message(message)
            }
        });
    }
    broker.sc.invalidate().await;
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    broker: &Broker,
    request: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let view = broker.sc.cluster().await.ok();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str().to_string();
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let current = view
            .as_ref()
            .and_then(|v| v.topics.get(&name))
            .map(|t| t.partitions.len() as i32);
        let error = |code: ResponseError, message: String| {
            result
                .clone()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message)))
        };
        let Some(current) = current else {
            results.push(error(
                ResponseError::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            ));
            continue;
        };
        if topic.count <= current {
            results.push(error(
                ResponseError::InvalidPartitions,
                format!("topic '{name}' has {current} partitions; the new count must be larger"),
            ));
            continue;
        }
        if topic.assignments.is_some() {
            results.push(error(
                ResponseError::InvalidReplicaAssignment,
                "the SC places new partitions itself; send no assignments".into(),
            ));
            continue;
        }
        if request.validate_only {
            results.push(result);
            continue;
        }
        let add = (topic.count - current) as u32;
        let outcome = broker
            .sc
            .with_admin(async |admin| admin.add_partitions(&name, add).await)
            .await;
        results.push(match outcome {
            Ok(()) => result,
            Err(err) => {
                let (code, message) = kafka_error(&err);
                result.with_error_code(code).with_error_message(message)
            }
        });
    }
    broker.sc.invalidate().await;
    CreatePartitionsResponse::default().with_results(results)
}

/// Kafka's config types (DescribeConfigs v3+).
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

/// A topic's settings as Kafka configs: `(name, value, set on the topic)`; what the
/// topic does not set shows the storage defaults the SPUs apply.
fn topic_configs(spec: &TopicSpec) -> Vec<(&'static str, String, bool)> {
    let defaults = crate::storage::StorageConfig::default();
    let retention_ms = spec
        .cleanup_policy
        .map(|CleanupPolicy::Segment { time_in_seconds }| i64::from(time_in_seconds) * 1000);
    let default_retention_ms = defaults.retention_time.map_or(-1, |t| t.as_millis() as i64);
    let storage = spec.storage.clone().unwrap_or_default();
    let compression = match spec.compression_type {
        CompressionAlgorithm::Any => "producer",
        CompressionAlgorithm::None => "uncompressed",
        CompressionAlgorithm::Gzip => "gzip",
        CompressionAlgorithm::Snappy => "snappy",
        CompressionAlgorithm::Lz4 => "lz4",
        CompressionAlgorithm::Zstd => "zstd",
    };
    vec![
        ("cleanup.policy", "delete".to_string(), false),
        (
            "retention.ms",
            retention_ms.unwrap_or(default_retention_ms).to_string(),
            retention_ms.is_some(),
        ),
        (
            "segment.bytes",
            storage
                .segment_size
                .map_or(defaults.segment_max_bytes, u64::from)
                .to_string(),
            storage.segment_size.is_some(),
        ),
        (
            "retention.bytes",
            storage
                .max_partition_size
                .or(defaults.max_partition_size)
                .map_or(-1, |b| b as i64)
                .to_string(),
            storage.max_partition_size.is_some(),
        ),
        (
            "compression.type",
            compression.to_string(),
            spec.compression_type != CompressionAlgorithm::Any,
        ),
        (
            "max.message.bytes",
            defaults.max_batch_bytes.to_string(),
            false,
        ),
    ]
}

pub async fn describe_configs(
    broker: &Broker,
    request: DescribeConfigsRequest,
    _version: i16,
) -> DescribeConfigsResponse {
    let view = broker.sc.cluster().await;
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if resource.resource_type != RESOURCE_TOPIC {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(
                        "only topic configs (resource type 2) are described here",
                    )));
            }
            let name = resource.resource_name.as_str();
            let topic = match &view {
                Ok(view) => view.topics.get(name),
                Err(err) => {
                    let (code, message) = kafka_error(err);
                    return result.with_error_code(code).with_error_message(message);
                }
            };
            let Some(topic) = topic else {
                return result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(str_bytes(format!("topic '{name}' does not exist"))));
            };
            let keys = resource.configuration_keys.as_ref();
            let configs = topic_configs(&topic.spec)
                .into_iter()
                .filter(|(key, _, _)| keys.is_none_or(|keys| keys.iter().any(|k| k == *key)))
                .map(|(key, value, set)| {
                    let config_type = match key {
                        "cleanup.policy" => TYPE_LIST,
                        "retention.ms" | "retention.bytes" => TYPE_LONG,
                        "segment.bytes" | "max.message.bytes" => TYPE_INT,
                        _ => TYPE_STRING,
                    };
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str(key))
                        .with_config_type(config_type)
                        .with_value(Some(str_bytes(value)))
                        .with_read_only(true)
                        .with_config_source(if set {
                            SOURCE_TOPIC_CONFIG
                        } else {
                            SOURCE_DEFAULT_CONFIG
                        })
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
