//! FetchOffsets (1002): where a partition starts (log start) and what is committed (the
//! high watermark, which the client calls last stable offset). A consumer resolves
//! `Offset.beginning()` / `end()` / `from_end(n)` against these. Every requested partition
//! gets an entry; one this SPU does not lead carries `NotLeaderForPartition`.

use protocol::api::ErrorCode;
use protocol::spu::{
    FetchOffsetPartitionResponse, FetchOffsetTopicResponse, FetchOffsetsRequest,
    FetchOffsetsResponse,
};

use crate::spu::replica::store::{NEW_REPLICA_WAIT, ReplicaStore};

pub async fn fetch_offsets(
    store: &ReplicaStore,
    request: &FetchOffsetsRequest,
) -> FetchOffsetsResponse {
    // One bound for the whole request on waiting for replicas still being opened.
    let deadline = tokio::time::Instant::now() + NEW_REPLICA_WAIT;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            let offsets = match store
                .wait_leader(&topic.name, p.partition_index, wait)
                .await
            {
                Ok(leader) => leader.offsets().ok(),
                Err(_) => None,
            };
            partitions.push(match offsets {
                Some(o) => FetchOffsetPartitionResponse {
                    error_code: ErrorCode::None,
                    partition_index: p.partition_index,
                    start_offset: o.log_start,
                    last_stable_offset: o.hw,
                },
                None => FetchOffsetPartitionResponse {
                    error_code: ErrorCode::NotLeaderForPartition,
                    partition_index: p.partition_index,
                    start_offset: -1,
                    last_stable_offset: -1,
                },
            });
        }
        topics.push(FetchOffsetTopicResponse {
            name: topic.name.clone(),
            partitions,
        });
    }
    FetchOffsetsResponse { topics }
}
