//! VerifyReplica (1090, ours): the partition's leader scrubs its replica's log, every batch
//! of every segment, and answers what it checked and each range that does not read back.
//! The scan runs on the blocking pool and holds the log's lock only to list the segments.

use protocol::api::ErrorCode;
use protocol::record::batch::BatchError;
use protocol::spu::{ProblemKind, VerifyProblem, VerifyReplicaRequest, VerifyReplicaResponse};
use tracing::{error, info};

use crate::spu::replica::store::{NEW_REPLICA_WAIT, ReplicaStore};
use crate::storage::{CorruptRange, CorruptionKind, VerifyReport};

pub async fn verify(store: &ReplicaStore, request: &VerifyReplicaRequest) -> VerifyReplicaResponse {
    let (topic, partition) = (&request.topic, request.partition);
    let leader = match store.wait_leader(topic, partition, NEW_REPLICA_WAIT).await {
        Ok(leader) => leader,
        Err(_) => {
            return VerifyReplicaResponse {
                error_code: ErrorCode::NotLeaderForPartition,
                ..VerifyReplicaResponse::default()
            };
        }
    };
    match leader.verify().await {
        Ok(report) => {
            for p in &report.problems {
                error!(spu = store.spu(), topic = %topic, partition, segment = %p.segment.display(),
                    position = p.position, first_offset = p.first_offset, last_offset = p.last_offset,
                    kind = %p.kind, "verify found corrupt data");
            }
            info!(spu = store.spu(), topic = %topic, partition, batches = report.batches,
                bytes = report.bytes, problems = report.problems.len(), "replica verified");
            response(report)
        }
        Err(err) => {
            error!(spu = store.spu(), topic = %topic, partition, %err, "verify could not read the log");
            VerifyReplicaResponse {
                error_code: ErrorCode::Other(format!("cannot read the log: {err}")),
                ..VerifyReplicaResponse::default()
            }
        }
    }
}

fn response(report: VerifyReport) -> VerifyReplicaResponse {
    VerifyReplicaResponse {
        error_code: ErrorCode::None,
        segments: report.segments,
        batches: report.batches,
        records: report.records,
        bytes: report.bytes,
        problems: report.problems.into_iter().map(problem).collect(),
    }
}

fn problem(range: CorruptRange) -> VerifyProblem {
    let kind = match &range.kind {
        CorruptionKind::Batch(BatchError::CrcMismatch { .. }) => ProblemKind::CrcMismatch,
        CorruptionKind::Batch(BatchError::Truncated { .. }) => ProblemKind::Truncated,
        CorruptionKind::Batch(BatchError::BadLength(_) | BatchError::BadMagic(_)) => {
            ProblemKind::BadHeader
        }
        CorruptionKind::OffsetGap { .. } | CorruptionKind::MissingTail { .. } => {
            ProblemKind::OffsetGap
        }
    };
    VerifyProblem {
        segment: range.segment.display().to_string(),
        position: range.position,
        length: range.length,
        first_offset: range.first_offset,
        last_offset: range.last_offset,
        kind,
        detail: range.kind.to_string(),
    }
}
