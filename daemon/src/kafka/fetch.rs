//! Fetch (key 1): batches from the partitions this SPU leads, read from the log files as
//! they are stored, up to the high watermark (what Kafka consumers see: records every
//! in-sync replica has). `max_wait_ms` and `min_bytes` hold the answer until enough bytes
//! are there or the wait is over; `max_bytes` and `partition_max_bytes` bound it, except
//! that the first partition with data always gets at least one whole batch (KIP-74), so
//! a batch larger than the limits never stalls a consumer.
//!
//! No fetch sessions (KIP-227): the answer's session id is 0, which tells clients to send
//! full requests. Every batch is converted to Kafka's record layout on the way out
//! ([`super::records::to_kafka_into`]), snappy ones in the Kafka clients' framing.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Broker;
use super::produce::{leader, storage_failure};
use super::records;
use crate::spu::replica::partition::Partition;
use crate::spu::replica::store::NEW_REPLICA_WAIT;
use crate::storage::{Isolation, StorageError};

/// The longest a fetch waits for `min_bytes`, whatever the client asks: consumers ask for
/// hundreds of milliseconds, and a connection must not be parked for long.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn fetch(broker: &Broker, request: FetchRequest, _version: i16) -> FetchResponse {
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let until = Instant::now() + wait;
    let min_bytes = request.min_bytes.max(0) as u64;
    let max_bytes = if request.max_bytes <= 0 {
        u64::from(u32::MAX)
    } else {
        request.max_bytes as u64
    };
    // Find the partitions once; their errors are part of every answer.
    let lookup_deadline = tokio::time::Instant::now() + NEW_REPLICA_WAIT.min(wait);
    let mut targets = Vec::new();
    for topic in &request.topics {
        let name = topic.topic.0.as_str();
        for p in &topic.partitions {
            let found = leader(broker, name, p.partition, lookup_deadline).await;
            targets.push((found.map_err(|(code, _)| code), p));
        }
    }
    loop {
        // Subscribed before reading, so a write between the read and the wait wakes us.
        let mut changes: Vec<_> = targets
            .iter()
            .filter_map(|(found, _)| found.as_ref().ok())
            .map(|p| {
                let mut rx = p.subscribe();
                rx.borrow_and_update();
                rx
            })
            .collect();
        let mut budget = max_bytes;
        let mut total = 0u64;
        let mut responses: Vec<FetchableTopicResponse> = Vec::new();
        let mut at = 0;
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let (found, asked) = &targets[at];
                at += 1;
                let data = PartitionData::default()
                    .with_partition_index(asked.partition)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1);
                let partition = match found {
                    Ok(partition) => partition,
                    Err(code) => {
                        partitions.push(data.with_error_code(code.code()));
                        continue;
                    }
                };
                let limit = (p.partition_max_bytes.max(0) as u64).min(budget);
                // The first data of the answer may exceed the limits by one batch.
                let limit = if total == 0 { limit.max(1) } else { limit };
                let read = if limit == 0 {
                    read_offsets(partition, p.fetch_offset)
                } else {
                    read_records(partition, p.fetch_offset, limit)
                };
                match read {
                    Ok((records, hw, log_start)) => {
                        let len = records.len() as u64;
                        total += len;
                        budget = budget.saturating_sub(len);
                        partitions.push(
                            data.with_high_watermark(hw)
                                .with_last_stable_offset(hw)
                                .with_log_start_offset(log_start)
                                .with_records(Some(records)),
                        );
                    }
                    Err(code) => {
                        let (hw, log_start) = partition
                            .offsets()
                            .map_or((-1, -1), |o| (o.hw, o.log_start));
                        partitions.push(
                            data.with_error_code(code.code())
                                .with_high_watermark(hw)
                                .with_last_stable_offset(hw)
                                .with_log_start_offset(log_start),
                        );
                    }
                }
            }
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_partitions(partitions),
            );
        }
        let done = total >= min_bytes.max(1) || changes.is_empty() || Instant::now() >= until;
        if done {
            return FetchResponse::default()
                .with_session_id(0)
                .with_responses(responses);
        }
        wait_any(&mut changes, until).await;
    }
}

/// Whole batches from `offset`, at most about `limit` bytes, in Kafka's record layout;
/// with the high watermark and log start.
fn read_records(
    partition: &Partition,
    offset: i64,
    limit: u64,
) -> Result<(Bytes, i64, i64), ResponseError> {
    let slice = partition
        .read(offset, limit, Isolation::ReadCommitted)
        .map_err(error_code)?;
    let stored = slice.to_vec().map_err(error_code)?;
    let mut records = Vec::with_capacity(stored.len() + 64);
    records::to_kafka_into(&stored, &mut records).map_err(|reason| {
        tracing::error!(
            topic = %partition.key().topic,
            partition = partition.key().partition,
            offset,
            %reason,
            "a stored batch cannot be served to a Kafka consumer"
        );
        ResponseError::CorruptMessage
    })?;
    Ok((Bytes::from(records), slice.hw, slice.log_start))
}

/// No room left in the answer: the offsets only (and the range check).
fn read_offsets(partition: &Partition, offset: i64) -> Result<(Bytes, i64, i64), ResponseError> {
    let offsets = partition.offsets().map_err(error_code)?;
    if offset < offsets.log_start || offset > offsets.leo {
        return Err(ResponseError::OffsetOutOfRange);
    }
    Ok((Bytes::new(), offsets.hw, offsets.log_start))
}

fn error_code(err: StorageError) -> ResponseError {
    match err {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        err => storage_failure(err).0,
    }
}

/// Until one of the partitions changes, or `until`.
async fn wait_any(changes: &mut Vec<tokio::sync::watch::Receiver<u64>>, until: Instant) {
    let mut set = JoinSet::new();
    for mut rx in changes.drain(..) {
        set.spawn(async move {
            let _ = rx.changed().await;
        });
    }
    let _ = tokio::time::timeout_at(until, set.join_next()).await;
    set.abort_all();
}
