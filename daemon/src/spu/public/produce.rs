//! Produce (0): append each request entry's batches to the partition this SPU leads.
//!
//! The client pairs answers with its batches by position, so every request entry gets
//! exactly one answer entry, in request order, even when a partition repeats. Entries are
//! written in order, so offsets follow the request; once an entry for a partition fails,
//! the request's later entries for it are refused unwritten, since storing them would
//! leave a hole in the records the producer sent. With `ReadCommitted` (acks -1) an entry
//! is answered once the high watermark covers it, or `RequestTimedOut` after the request's
//! timeout; with `ReadUncommitted` (acks 1) once the leader stored it. ReadCommitted
//! needs at least the replica's `min_in_sync` replicas in sync, or is refused up front
//! with a message saying so; a leader deposed while an entry waits answers
//! `NotLeaderForPartition`.
//!
//! Batches of idempotent producers (a producer id in the header) are checked against the
//! producer's sequences ([`producers`](crate::spu::replica::producers)): a retry of a batch
//! already stored is answered with the offsets it got, once as committed as the request
//! asks, and is not stored twice; a gap or a fenced epoch is refused with a message.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::api::ErrorCode;
use protocol::record::Compression;
use protocol::record::batch::BatchHeader;
use protocol::sc::CompressionAlgorithm;
use protocol::spu::{
    Isolation, PartitionProduceData, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceResponse,
};
use tracing::warn;

use crate::spu::replica::partition::{Partition, ProduceError, Produced};
use crate::spu::replica::store::{NEW_REPLICA_WAIT, ReplicaStore};
use crate::storage::StorageError;

/// Used when a request carries no usable timeout.
const DEFAULT_TIMEOUT: Duration =
    Duration::from_millis(protocol::spu::DEFAULT_PRODUCE_TIMEOUT_MS as u64);

pub async fn produce(store: &ReplicaStore, request: ProduceRequest) -> ProduceResponse {
    write(store, request).await.confirm().await
}

/// A produce request whose entries are written (or refused), waiting to be answered.
pub struct Written {
    started: std::time::Instant,
    isolation: Isolation,
    timeout: Duration,
    topics: Vec<(String, Vec<Slot>)>,
}

/// One request entry's answer, or what it waits for.
enum Slot {
    Answered(PartitionProduceResponse),
    /// Written at `base`; answered once the high watermark reaches `next` (ReadCommitted).
    Stored {
        partition: Arc<Partition>,
        index: u32,
        base: i64,
        next: i64,
    },
}

impl Written {
    /// Does answering wait for replication? If so the connection may go on reading
    /// requests meanwhile: the entries are in the log in request order already.
    pub fn waits(&self) -> bool {
        self.isolation == Isolation::ReadCommitted
            && self
                .topics
                .iter()
                .flat_map(|(_, slots)| slots)
                .any(|slot| matches!(slot, Slot::Stored { .. }))
    }

    /// The answer: each written entry once it is as committed as the request asks.
    pub async fn confirm(self) -> ProduceResponse {
        let mut responses = Vec::with_capacity(self.topics.len());
        for (name, slots) in self.topics {
            let mut partitions = Vec::with_capacity(slots.len());
            for slot in slots {
                partitions.push(match slot {
                    Slot::Answered(answer) => answer,
                    Slot::Stored {
                        partition,
                        index,
                        base,
                        next,
                    } => match confirm(&partition, self.isolation, self.timeout, next).await {
                        Ok(log_start) => PartitionProduceResponse::ok(index, base, log_start),
                        Err(code) => PartitionProduceResponse::error(index, code),
                    },
                });
            }
            crate::metrics::produce_answered(&name, self.started);
            responses.push(TopicProduceResponse { name, partitions });
        }
        ProduceResponse {
            responses,
            throttle_time_ms: 0,
        }
    }
}

/// Write every entry of the request, in order; answering is [`Written::confirm`].
pub async fn write(store: &ReplicaStore, request: ProduceRequest) -> Written {
    let started = std::time::Instant::now();
    let timeout = u64::try_from(request.timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let with_smartmodules = !request.smartmodules.is_empty();
    // One bound for the whole request on waiting for replicas still being opened.
    let deadline = tokio::time::Instant::now() + NEW_REPLICA_WAIT;
    // Partitions an entry of this request failed for: their later entries are not written.
    let mut failed: HashSet<(String, u32)> = HashSet::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let target = Target {
            topic: &topic.name,
            isolation: request.isolation,
            deadline,
        };
        let mut entries = topic.partitions.into_iter().peekable();
        while let Some(first) = entries.next() {
            if topic.name == protocol::spu::CONSUMER_OFFSET_TOPIC {
                // Only the SPU writes there, in its own record layout; a user's records
                // would be skipped when offsets are rebuilt.
                partitions.push(Slot::Answered(PartitionProduceResponse::error(
                    first.partition_index,
                    ErrorCode::SystemSpecUpdatingAttempt {
                        kind: "topic".to_string(),
                        name: topic.name.clone(),
                    },
                )));
                continue;
            }
            if with_smartmodules {
                // No SmartModule engine: refuse rather than store unfiltered records.
                partitions.push(Slot::Answered(PartitionProduceResponse::error(
                    first.partition_index,
                    ErrorCode::SmartModuleError,
                )));
                continue;
            }
            // A busy producer sends many batches for one partition in a request; they are
            // appended together, one write and one wake-up instead of one per batch.
            let index = first.partition_index;
            let mut run = vec![first];
            while let Some(next) = entries.next_if(|e| e.partition_index == index) {
                run.push(next);
            }
            let key = (topic.name.clone(), index);
            if failed.contains(&key) {
                partitions.extend(
                    run.iter()
                        .map(|_| Slot::Answered(behind_a_failure(&topic.name, index))),
                );
                continue;
            }
            let slots = write_run(store, &target, run).await;
            if slots
                .iter()
                .any(|s| matches!(s, Slot::Answered(a) if a.error_code.is_error()))
            {
                failed.insert(key);
            }
            partitions.extend(slots);
        }
        topics.push((topic.name, partitions));
    }
    Written {
        started,
        isolation: request.isolation,
        timeout,
        topics,
    }
}

/// Where and how one request's entries are written.
struct Target<'a> {
    topic: &'a str,
    isolation: Isolation,
    deadline: tokio::time::Instant,
}

/// The answer for an entry not written because an earlier one for its partition failed.
fn behind_a_failure(topic: &str, index: u32) -> PartitionProduceResponse {
    PartitionProduceResponse::error(
        index,
        ErrorCode::Other(format!(
            "not written: an earlier batch to {topic}-{index} in the same request failed; \
             send this one again after it"
        )),
    )
}

/// Write consecutive entries for one partition, in order. They go in one append when all
/// are acceptable; otherwise one at a time, up to the first that fails (the rest are
/// refused unwritten). An append that fails leaves the log as it was, so a failed
/// together-append is answered as failed for every entry.
async fn write_run(
    store: &ReplicaStore,
    target: &Target<'_>,
    run: Vec<PartitionProduceData>,
) -> Vec<Slot> {
    let index = run[0].partition_index;
    let wait = target
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    let partition = match store.wait_leader(target.topic, index, wait).await {
        Ok(p) => p,
        // Fluvio's answer for a partition it does not lead, whether or not the topic exists.
        Err(_) => {
            return run
                .iter()
                .map(|_| {
                    Slot::Answered(PartitionProduceResponse::error(
                        index,
                        ErrorCode::NotLeaderForPartition,
                    ))
                })
                .collect();
        }
    };
    if run.len() > 1
        && let Some(slots) = write_together(&partition, target, &run).await
    {
        return slots;
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(run.len());
    for entry in run {
        if slots
            .last()
            .is_some_and(|s| matches!(s, Slot::Answered(a) if a.error_code.is_error()))
        {
            slots.push(Slot::Answered(behind_a_failure(target.topic, index)));
        } else {
            slots.push(write_entry(&partition, target, entry).await);
        }
    }
    slots
}

/// Append every entry of `run` in one go; `None`, having written nothing, when some entry
/// would be refused, or the storage engine refuses a batch (the caller then answers them
/// one by one). An append that failed writing fails every entry: writing them one by one
/// could store a later entry after a hole.
async fn write_together(
    partition: &Arc<Partition>,
    target: &Target<'_>,
    run: &[PartitionProduceData],
) -> Option<Vec<Slot>> {
    let index = run[0].partition_index;
    let mut counts = Vec::with_capacity(run.len());
    let mut total = 0;
    for entry in run {
        if entry.records.is_empty() || admit(partition, target, entry).is_err() {
            return None;
        }
        let mut records = 0i64;
        for batch in entry.records.batches() {
            records += batch.ok()?.header.record_count();
        }
        counts.push(records);
        total += entry.records.len();
    }
    let mut bytes = BytesMut::with_capacity(total);
    for entry in run {
        bytes.extend_from_slice(entry.records.as_bytes());
    }
    let info = match partition.produce(bytes).await {
        Ok(Produced::Stored(info)) => info,
        // Refused before anything was written, or all or some a retry of batches stored
        // before: one by one, each entry gets its own answer.
        Ok(Produced::Duplicate { .. })
        | Err(ProduceError::Sequence(_))
        | Err(ProduceError::Storage(
            StorageError::BatchTooLarge { .. }
            | StorageError::BatchTooLargeForSegment { .. }
            | StorageError::InvalidBatch { .. },
        )) => return None,
        Err(ProduceError::Storage(err)) => {
            warn!(topic = target.topic, partition = index, %err, "produce refused");
            let code = storage_error_code(&err);
            return Some(
                run.iter()
                    .map(|_| Slot::Answered(PartitionProduceResponse::error(index, code.clone())))
                    .collect(),
            );
        }
    };
    // Each entry is answered once the whole append is committed: its entries were
    // written as one.
    let mut base = info.base_offset;
    Some(
        counts
            .iter()
            .map(|count| {
                let slot = Slot::Stored {
                    partition: partition.clone(),
                    index,
                    base,
                    next: info.next_offset,
                };
                base += count;
                slot
            })
            .collect(),
    )
}

async fn write_entry(
    partition: &Arc<Partition>,
    target: &Target<'_>,
    entry: PartitionProduceData,
) -> Slot {
    let index = entry.partition_index;
    if entry.records.is_empty() {
        return Slot::Answered(match partition.offsets() {
            Ok(o) => PartitionProduceResponse::ok(index, o.leo, o.log_start),
            Err(err) => PartitionProduceResponse::error(index, storage_error_code(&err)),
        });
    }
    if let Err(code) = admit(partition, target, &entry) {
        return Slot::Answered(PartitionProduceResponse::error(index, code));
    }
    // The leader rewrites base offsets in place: the entry's bytes are taken over when
    // nothing else holds the request frame (one entry per request, as our producer sends),
    // and copied otherwise.
    let batches = entry
        .records
        .into_bytes()
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    match partition.produce(batches).await {
        // A duplicate is answered once its original is as committed as this request asks.
        Ok(produced) => {
            let (base, next) = produced.offsets();
            Slot::Stored {
                partition: partition.clone(),
                index,
                base,
                next,
            }
        }
        Err(err) => {
            warn!(topic = target.topic, partition = index, %err, "produce refused");
            Slot::Answered(PartitionProduceResponse::error(
                index,
                produce_error_code(&err),
            ))
        }
    }
}

/// The checks before an entry is written: the topic's compression, and for
/// `ReadCommitted` enough replicas in sync.
fn admit(
    partition: &Partition,
    target: &Target<'_>,
    entry: &PartitionProduceData,
) -> Result<(), ErrorCode> {
    check_compression(entry.records.as_bytes(), partition.compression())?;
    if target.isolation == Isolation::ReadCommitted {
        let (in_sync, min) = (partition.in_sync_count(), partition.min_in_sync());
        if in_sync < min {
            let (topic, index) = (target.topic, entry.partition_index);
            // Kafka's NOT_ENOUGH_REPLICAS; Fluvio has no code for it, so it is spelled out.
            return Err(ErrorCode::Other(format!(
                "not enough in-sync replicas for {topic}-{index}: {in_sync} in sync, \
                 at least {min} needed for read_committed (acks=all); retry later or \
                 produce with read_uncommitted"
            )));
        }
    }
    Ok(())
}

/// After the write: with `ReadCommitted`, wait until the high watermark reaches
/// `next_offset`. The log start offset to answer with, or the error code.
async fn confirm(
    partition: &Partition,
    isolation: Isolation,
    timeout: Duration,
    next_offset: i64,
) -> Result<i64, ErrorCode> {
    if isolation == Isolation::ReadCommitted && !partition.wait_for_hw(next_offset, timeout).await {
        if !partition.is_leader() || partition.is_closed() {
            // Deposed while waiting: the new leader may not have the records.
            return Err(ErrorCode::NotLeaderForPartition);
        }
        return Err(ErrorCode::RequestTimedOut {
            timeout_ms: timeout.as_millis() as u64,
            kind: 0,
        });
    }
    Ok(partition.offsets().map_or(0, |o| o.log_start))
}

/// Unless the topic lets producers choose (`Any`), every batch must use its codec.
/// Malformed batches are left for the storage engine to reject.
pub fn check_compression(batches: &[u8], topic: CompressionAlgorithm) -> Result<(), ErrorCode> {
    let Some(required) = Compression::from_topic(topic) else {
        return Ok(());
    };
    let mut at = 0;
    while at < batches.len() {
        let Ok(header) = BatchHeader::parse(&batches[at..]) else {
            return Ok(());
        };
        if header.compression_bits() != required as u8 {
            return Err(ErrorCode::CompressionError);
        }
        at += header.total_len();
    }
    Ok(())
}

/// The error code a producer sees for batches not stored. Fluvio's codes have no
/// sequence errors, so those are spelled out (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER and
/// INVALID_PRODUCER_EPOCH are where its listener answers).
pub fn produce_error_code(err: &ProduceError) -> ErrorCode {
    match err {
        ProduceError::Storage(err) => storage_error_code(err),
        ProduceError::Sequence(err) => ErrorCode::Other(err.to_string()),
    }
}

/// The error code a producer sees for a storage failure.
pub fn storage_error_code(err: &StorageError) -> ErrorCode {
    match err {
        StorageError::BatchTooLarge { .. } | StorageError::BatchTooLargeForSegment { .. } => {
            ErrorCode::MessageTooLarge
        }
        // The message says which batch and what is wrong with it (bad CRC, bad length...).
        StorageError::InvalidBatch { .. } => ErrorCode::Other(err.to_string()),
        // Deleted (topic deleted) or closed (shutting down) while the request waited.
        StorageError::Closed { .. } => ErrorCode::NotLeaderForPartition,
        _ => ErrorCode::StorageError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::{Batch, Record};

    fn batch(compression: Compression) -> Vec<u8> {
        let mut batch = Batch::from_records([Record::new(b"value".to_vec())]);
        batch.compression = compression;
        batch.encode().unwrap()
    }

    #[test]
    fn topic_compression_is_enforced_per_batch() {
        let plain = batch(Compression::None);
        assert_eq!(check_compression(&plain, CompressionAlgorithm::Any), Ok(()));
        assert_eq!(
            check_compression(&plain, CompressionAlgorithm::None),
            Ok(())
        );
        let two = [plain.clone(), plain].concat();
        assert_eq!(
            check_compression(&two, CompressionAlgorithm::Gzip),
            Err(ErrorCode::CompressionError)
        );
        assert_eq!(
            check_compression(b"junk", CompressionAlgorithm::Gzip),
            Ok(())
        );
    }

    #[test]
    fn a_lone_entry_takes_over_the_frame_bytes() {
        use protocol::spu::{ProduceRequest, TopicProduceData};
        use protocol::{Decode, Encode, Reader};
        let request = ProduceRequest {
            topics: vec![TopicProduceData {
                name: "t".to_string(),
                partitions: vec![PartitionProduceData {
                    partition_index: 0,
                    records: protocol::record::RecordSet::new(batch(Compression::None)),
                }],
            }],
            ..ProduceRequest::default()
        };
        // A frame body as the connection hands it over, decoded the way the SPU does.
        let body = bytes::Bytes::from(request.to_bytes(24).unwrap());
        let decoded = ProduceRequest::decode(&mut Reader::shared(&body), 24).unwrap();
        drop(body);
        let records = decoded.topics[0].partitions[0].records.clone().into_bytes();
        drop(decoded);
        let at = records.as_ptr();
        let owned = records.try_into_mut().expect("the only holder");
        assert_eq!(owned.as_ptr(), at, "reused in place, not copied");
    }

    #[test]
    fn storage_errors_become_codes_the_client_knows() {
        let too_large = StorageError::BatchTooLarge { size: 10, max: 5 };
        assert_eq!(storage_error_code(&too_large), ErrorCode::MessageTooLarge);
        let closed = StorageError::Closed { path: "x".into() };
        assert_eq!(
            storage_error_code(&closed),
            ErrorCode::NotLeaderForPartition
        );
        let invalid = StorageError::InvalidBatch {
            position: 0,
            reason: crate::storage::InvalidBatchReason::Empty,
        };
        assert!(
            matches!(storage_error_code(&invalid), ErrorCode::Other(m) if m.contains("invalid batch"))
        );
    }
}
