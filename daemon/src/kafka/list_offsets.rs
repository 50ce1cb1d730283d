//! ListOffsets (key 2): where a consumer starts. `-2` is the earliest offset (the log
//! start), `-1` the latest (the high watermark, the end of what consumers may read), `-3`
//! (v7) the record with the largest timestamp, and a timestamp `t >= 0` the first record
//! whose timestamp is at least `t` (the high watermark when there is none).
//!
//! Timestamp lookups read the log's batch headers from the start, skipping every batch
//! whose newest timestamp is older than `t`, and decode only the batch that holds the
//! answer: the partitions keep no time index.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use protocol::record::Batch;
use protocol::record::batch::{self as raw, BatchHeader};

use super::Broker;
use super::produce::{leader, storage_failure};
use crate::spu::replica::partition::Partition;
use crate::spu::replica::store::NEW_REPLICA_WAIT;
use crate::storage::{Isolation, StorageError};

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
const MAX_TIMESTAMP: i64 = -3;

/// Bytes read per step of a timestamp scan.
const SCAN_CHUNK: u64 = 1 << 20;

pub async fn list_offsets(
    broker: &Broker,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let deadline = tokio::time::Instant::now() + NEW_REPLICA_WAIT;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str().to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            let found = match leader(broker, &name, p.partition_index, deadline).await {
                Ok(partition) => partition,
                Err((code, _)) => {
                    partitions.push(answer.with_error_code(code.code()));
                    continue;
                }
            };
            // Leader epochs exist in the answer from v4 on.
            let epoch = if version >= 4 {
                found.assignment().leader_epoch
            } else {
                -1
            };
            partitions.push(match lookup(&found, p.timestamp) {
                Ok((offset, timestamp)) => answer
                    .with_offset(offset)
                    .with_timestamp(timestamp)
                    .with_leader_epoch(epoch),
                Err(err) => answer.with_error_code(storage_failure(err).0.code()),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset for `timestamp` (or a special value) and the timestamp to answer with.
fn lookup(partition: &Partition, timestamp: i64) -> Result<(i64, i64), StorageError> {
    let offsets = partition.offsets()?;
    match timestamp {
        EARLIEST => Ok((offsets.log_start, -1)),
        LATEST => Ok((offsets.hw, -1)),
        MAX_TIMESTAMP => max_timestamp(partition, offsets.log_start),
        t if t >= 0 => {
            Ok(first_at_or_after(partition, offsets.log_start, t)?.unwrap_or((offsets.hw, -1)))
        }
        // Other negative values name nothing.
        _ => Ok((-1, -1)),
    }
}

/// Every committed batch from `from` on, in log order, until `visit` returns `Some`.
fn scan<T>(
    partition: &Partition,
    from: i64,
    mut visit: impl FnMut(&BatchHeader, &[u8]) -> Option<T>,
) -> Result<Option<T>, StorageError> {
    let mut offset = from;
    loop {
        let slice = match partition.read(offset, SCAN_CHUNK, Isolation::ReadCommitted) {
            Ok(slice) => slice,
            Err(StorageError::OffsetOutOfRange { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        if slice.is_empty() {
            return Ok(None);
        }
        let bytes = slice.to_vec()?;
        let mut next = offset;
        for batch in raw::batches(&bytes) {
            let Ok(batch) = batch else { break };
            next = next.max(batch.header.next_offset());
            if batch.header.next_offset() <= offset {
                continue;
            }
            if let Some(found) = visit(&batch.header, batch.bytes) {
                return Ok(Some(found));
            }
        }
        if next <= offset || next >= slice.hw {
            return Ok(None);
        }
        offset = next;
    }
}

/// The first record with a timestamp at least `t`: `(offset, its timestamp)`.
fn first_at_or_after(
    partition: &Partition,
    from: i64,
    t: i64,
) -> Result<Option<(i64, i64)>, StorageError> {
    scan(partition, from, |header, bytes| {
        if header.max_time_stamp < t {
            return None;
        }
        let batch = Batch::decode(bytes).ok()?;
        batch
            .iter()
            .find(|r| r.timestamp >= t && r.offset >= from)
            .map(|r| (r.offset, r.timestamp))
    })
}

/// The record with the largest timestamp (the first of equals).
fn max_timestamp(partition: &Partition, from: i64) -> Result<(i64, i64), StorageError> {
    let mut best: Option<(i64, BatchHeader)> = None;
    scan::<()>(partition, from, |header, _| {
        if best.is_none_or(|(ts, _)| header.max_time_stamp > ts) {
            best = Some((header.max_time_stamp, *header));
        }
        None
    })?;
    let Some((ts, header)) = best else {
        return Ok((-1, -1));
    };
    // The batch's records tell which one carries the timestamp.
    let found = scan(partition, header.base_offset, |h, bytes| {
        if h.base_offset != header.base_offset {
            return None;
        }
        let batch = Batch::decode(bytes).ok()?;
        batch.iter().find(|r| r.timestamp == ts).map(|r| r.offset)
    })?;
    Ok((found.unwrap_or(header.base_offset), ts))
}
