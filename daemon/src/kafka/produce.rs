//! Produce (key 0): append a Kafka producer's batches to the partitions this SPU leads.
//!
//! The batches are stored as they come (the same v2 format; the leader rewrites their
//! base offsets and leader epochs, keeps producer ids, sequences and timestamps), after
//! their CRC is checked and snappy batches are re-framed ([`super::records`]). `acks`
//! maps to our isolation: 0 and 1 are answered (or not, for 0) once the leader stored the
//! batches (read_uncommitted), `all` (-1) once the high watermark covers them, that is
//! after the in-sync replicas have them (read_committed), with NOT_ENOUGH_REPLICAS up
//! front when fewer than the topic's minimum are in sync. Batches of idempotent producers
//! are checked by the leader ([`crate::spu::replica::producers`]): a retry is answered
//! with its original base offset, a gap with OUT_OF_ORDER_SEQUENCE_NUMBER, a fenced epoch
//! with INVALID_PRODUCER_EPOCH.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use protocol::record::Compression;
use tracing::warn;

use super::Broker;
use super::records;
use crate::spu::replica::partition::{Partition, ProduceError};
use crate::spu::replica::producers::SequenceError;
use crate::spu::replica::store::{Lookup, NEW_REPLICA_WAIT};
use crate::storage::StorageError;

/// When a request carries no usable timeout (Kafka's `request.timeout.ms` default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn produce(broker: &Broker, request: ProduceRequest, _version: i16) -> ProduceResponse {
    let timeout = u64::try_from(request.timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let all = request.acks == -1;
    let transactional = request.transactional_id.is_some();
    // One bound for the whole request on waiting for replicas still being opened.
    let deadline = tokio::time::Instant::now() + NEW_REPLICA_WAIT;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name.0.as_str().to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let answer = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let result = if transactional {
                Err((
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "transactions are not supported by this cluster".to_string(),
                ))
            } else {
                write(
                    broker,
                    &name,
                    data.index,
                    data.records,
                    all,
                    timeout,
                    deadline,
                )
                .await
            };
            partitions.push(match result {
                Ok((base_offset, log_start)) => answer
                    .with_base_offset(base_offset)
                    .with_log_start_offset(log_start),
                Err((code, message)) => answer
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

type Failure = (ResponseError, String);

/// Append one partition's batches; the base offset and log start offset, or the error.
async fn write(
    broker: &Broker,
    topic: &str,
    index: i32,
    batches: Option<bytes::Bytes>,
    all: bool,
    timeout: Duration,
    deadline: tokio::time::Instant,
) -> Result<(i64, i64), Failure> {
    if topic == protocol::spu::CONSUMER_OFFSET_TOPIC {
        return Err((
            ResponseError::InvalidTopicException,
            format!("{topic} is a system topic; only the cluster writes there"),
        ));
    }
    let partition = leader(broker, topic, index, deadline).await?;
    let Some(batches) = batches.filter(|b| !b.is_empty()) else {
        let offsets = partition.offsets().map_err(storage_failure)?;
        return Ok((offsets.leo, offsets.log_start));
    };
    // Kafka's record layout becomes ours (see `records`), so Fluvio clients read every
    // record whichever protocol wrote it; a topic with a codec gets it, as in Kafka.
    let codec = Compression::from_topic(partition.compression());
    let mut converted = BytesMut::new();
    records::from_kafka_into(&batches, codec, &mut converted).map_err(|err| match err {
        records::RecordsError::Transactional { .. } => (
            ResponseError::TransactionalIdAuthorizationFailed,
            err.to_string(),
        ),
        err => (ResponseError::CorruptMessage, err.to_string()),
    })?;
    let batches = converted;
    if all {
        let (in_sync, min) = (partition.in_sync_count(), partition.min_in_sync());
        if in_sync < min {
            return Err((
                ResponseError::NotEnoughReplicas,
                format!(
                    "{topic}-{index}: {in_sync} replicas in sync, at least {min} needed for acks=all"
                ),
            ));
        }
    }
    // Idempotent producers' batches are checked against their sequences; a retry of
    // batches stored before is answered with the offsets they got.
    let (base_offset, next_offset) = match partition.produce(batches).await {
        Ok(produced) => produced.offsets(),
        Err(ProduceError::Storage(err)) => {
            warn!(topic, partition = index, %err, "Kafka produce refused");
            return Err(storage_failure(err));
        }
        Err(ProduceError::Sequence(err)) => {
            warn!(topic, partition = index, %err, "Kafka produce refused");
            return Err(sequence_failure(err));
        }
    };
    if all && !partition.wait_for_hw(next_offset, timeout).await {
        if !partition.is_leader() || partition.is_closed() {
            return Err((
                ResponseError::NotLeaderOrFollower,
                format!(
                    "this broker stopped leading {topic}-{index} before the replicas confirmed"
                ),
            ));
        }
        return Err((
            ResponseError::RequestTimedOut,
            format!(
                "{topic}-{index}: the in-sync replicas did not confirm within {} ms",
                timeout.as_millis()
            ),
        ));
    }
    let log_start = partition.offsets().map_or(0, |o| o.log_start);
    Ok((base_offset, log_start))
}

/// The partition if this SPU leads it: NOT_LEADER_OR_FOLLOWER when another SPU does,
/// UNKNOWN_TOPIC_OR_PARTITION when the cluster has no such partition.
pub async fn leader(
    broker: &Broker,
    topic: &str,
    index: i32,
    deadline: tokio::time::Instant,
) -> Result<Arc<Partition>, Failure> {
    let Ok(index) = u32::try_from(index) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("partition {index} does not exist"),
        ));
    };
    let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
    match broker.replicas.wait_leader(topic, index, wait).await {
        Ok(partition) => Ok(partition),
        Err(Lookup::NotLeader) => Err(not_leader(topic, index)),
        Err(Lookup::NotHosted) => {
            let exists = broker.sc.cluster().await.ok().is_some_and(|view| {
                view.topics
                    .get(topic)
                    .is_some_and(|t| t.partitions.iter().any(|p| p.index == index))
            });
            if exists {
                Err(not_leader(topic, index))
            } else {
                Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("{topic}-{index} does not exist"),
                ))
            }
        }
    }
}

fn not_leader(topic: &str, index: u32) -> Failure {
    (
        ResponseError::NotLeaderOrFollower,
        format!("this broker does not lead {topic}-{index}; refresh metadata"),
    )
}

/// The Kafka error for a batch refused by the sequence checks.
fn sequence_failure(err: SequenceError) -> Failure {
    let code = match &err {
        SequenceError::StaleEpoch { .. } => ResponseError::InvalidProducerEpoch,
        SequenceError::OutOfOrder { .. } | SequenceError::MixedRetry { .. } => {
            ResponseError::OutOfOrderSequenceNumber
        }
    };
    (code, err.to_string())
}

/// The Kafka error for a storage failure.
pub fn storage_failure(err: StorageError) -> Failure {
    let code = match &err {
        StorageError::BatchTooLarge { .. } | StorageError::BatchTooLargeForSegment { .. } => {
            ResponseError::MessageTooLarge
        }
        StorageError::InvalidBatch { .. } => ResponseError::CorruptMessage,
        StorageError::Closed { .. } => ResponseError::NotLeaderOrFollower,
        _ => ResponseError::KafkaStorageError,
    };
    (code, err.to_string())
}
