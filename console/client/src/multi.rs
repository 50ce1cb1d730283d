//! Consuming several partitions of a topic at once: one stream per partition, their
//! records interleaved as they arrive.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::cluster::Fluvio;
use super::consumer::{ConsumerConfig, ConsumerRecord, Offset};
use super::error::ClientError;
use super::offsets::OffsetCommitter;

/// Records of several partitions, interleaved as they arrive (each partition in order).
pub struct MultiStream {
    records: mpsc::Receiver<Result<ConsumerRecord, ClientError>>,
    committers: BTreeMap<u32, OffsetCommitter>,
}

impl MultiStream {
    /// Stream every partition in `partitions` of `topic` from `offset`.
    pub async fn start(
        fluvio: &Fluvio,
        topic: &str,
        partitions: &[u32],
        offset: Offset,
        config: ConsumerConfig,
    ) -> Result<MultiStream, ClientError> {
        let starts: Vec<(u32, Offset)> = partitions.iter().map(|&p| (p, offset)).collect();
        Self::start_each(fluvio, topic, &starts, config).await
    }

    /// Stream each partition of `topic` from its own offset.
    pub async fn start_each(
        fluvio: &Fluvio,
        topic: &str,
        starts: &[(u32, Offset)],
        config: ConsumerConfig,
    ) -> Result<MultiStream, ClientError> {
        let (tx, rx) = mpsc::channel(1024);
        let mut committers = BTreeMap::new();
        for &(partition, offset) in starts {
            let consumer = fluvio.partition_consumer(topic, partition).await?;
            let mut stream = consumer.stream(offset, config.clone()).await?;
            committers.insert(partition, stream.committer());
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(item) = stream.next().await {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(MultiStream {
            records: rx,
            committers,
        })
    }

    /// The next record if one has arrived already; `Err(true)` when every stream ended,
    /// `Err(false)` when none is ready yet.
    pub fn try_next(&mut self) -> Result<Result<ConsumerRecord, ClientError>, bool> {
        self.records.try_recv().map_err(|e| match e {
            mpsc::error::TryRecvError::Empty => false,
            mpsc::error::TryRecvError::Disconnected => true,
        })
    }

    /// Commits offsets of `partition`'s stream (when it was started with a consumer id).
    pub fn committer(&self, partition: u32) -> Option<&OffsetCommitter> {
        self.committers.get(&partition)
    }

    /// The next record of any partition; `None` when every partition's stream ended.
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord, ClientError>> {
        self.records.recv().await
    }
}
