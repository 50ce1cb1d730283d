//! Consuming several partitions of a topic at once: one stream per partition, their
//! records interleaved as they arrive.

use tokio::sync::mpsc;

use super::cluster::Fluvio;
use super::consumer::{ConsumerConfig, ConsumerRecord, Offset};
use super::error::ClientError;

/// Records of several partitions, interleaved as they arrive (each partition in order).
pub struct MultiStream {
    records: mpsc::Receiver<Result<ConsumerRecord, ClientError>>,
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
        let (tx, rx) = mpsc::channel(1024);
        for &partition in partitions {
            let consumer = fluvio.partition_consumer(topic, partition).await?;
            let mut stream = consumer.stream(offset, config.clone()).await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(item) = stream.next().await {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(MultiStream { records: rx })
    }

    /// The next record of any partition; `None` when every partition's stream ended.
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord, ClientError>> {
        self.records.recv().await
    }
}
