//! A connection to a whole cluster: the SC for metadata and administration, and a pool of
//! SPU connections (one per leader) for producing and consuming.

use protocol::sc::{Metadata, TopicSpec};

use super::admin::Admin;
use super::consumer::PartitionConsumer;
use super::error::ClientError;
use super::metadata::{MetadataCache, not_provisioned};
use super::producer::{ProducerConfig, TopicProducer, resolve_compression};
use super::routing::Routing;
use super::tls::ClientTls;

/// The cluster client: cheap to clone, shared by producers and consumers. It outlives a
/// restart of the SC: the metadata cache connects again on its own.
#[derive(Clone)]
pub struct Fluvio {
    routing: Routing,
}

impl Fluvio {
    /// Connect to the SC at `addr` and start following its metadata.
    pub async fn connect(addr: &str) -> Result<Fluvio, ClientError> {
        Self::connect_with(addr, &ClientTls::disabled()).await
    }

    /// [`Fluvio::connect`] with TLS per `tls`, for the SC and every SPU.
    pub async fn connect_with(addr: &str, tls: &ClientTls) -> Result<Fluvio, ClientError> {
        let metadata = MetadataCache::connect_with(addr, tls).await?;
        Ok(Fluvio {
            routing: Routing::new(metadata),
        })
    }

    /// The admin connection to the SC: the metadata cache's, so after the SC was lost and
    /// reached again, the new one.
    pub fn admin(&self) -> Admin {
        self.routing.metadata().admin()
    }

    pub fn metadata(&self) -> &MetadataCache {
        self.routing.metadata()
    }

    pub(crate) fn routing(&self) -> &Routing {
        &self.routing
    }

    /// A producer for `topic`, which must exist and be placed.
    pub async fn topic_producer(
        &self,
        topic: &str,
        mut config: ProducerConfig,
    ) -> Result<TopicProducer, ClientError> {
        let spec = self.placed_topic(topic).await?;
        config.compression = Some(resolve_compression(
            topic,
            spec.spec.compression_type,
            config.compression,
        )?);
        let partitions = spec.spec.replicas.partition_count();
        if partitions == 0 {
            return Err(ClientError::NoPartitions {
                topic: topic.to_string(),
            });
        }
        Ok(TopicProducer::new(
            self.routing.clone(),
            topic.to_string(),
            partitions,
            config,
        ))
    }

    /// A consumer of one partition of `topic`, which must exist and be placed.
    pub async fn partition_consumer(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<PartitionConsumer, ClientError> {
        let spec = self.placed_topic(topic).await?;
        let count = spec.spec.replicas.partition_count();
        if partition >= count {
            return Err(ClientError::PartitionNotFound {
                topic: topic.to_string(),
                partition,
                partitions: count,
            });
        }
        Ok(PartitionConsumer::new(
            self.routing.clone(),
            topic.to_string(),
            partition,
        ))
    }

    /// The number of partitions of `topic`, which must be placed: those counting partitions
    /// go on to read or write them.
    pub async fn partition_count(&self, topic: &str) -> Result<u32, ClientError> {
        Ok(self
            .placed_topic(topic)
            .await?
            .spec
            .replicas
            .partition_count())
    }

    /// [`Fluvio::topic`], refused with the SC's reason when the SC could not place it.
    pub async fn placed_topic(&self, name: &str) -> Result<Metadata<TopicSpec>, ClientError> {
        let topic = self.topic(name).await?;
        match not_provisioned(&topic) {
            Some(unplaced) => Err(unplaced),
            None => Ok(topic),
        }
    }
    /// The topic as the SC knows it, from the watched copy or, when a topic created a
    /// moment ago has not reached the watch yet, from the SC directly.
    pub async fn topic(&self, name: &str) -> Result<Metadata<TopicSpec>, ClientError> {
        self.routing.topic(name).await
    }
}
