//! A connection to a whole cluster: the SC for metadata and administration, and a pool of
//! SPU connections (one per leader) for producing and consuming.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::sc::{Metadata, SpuId, TopicSpec};
use tokio::sync::Mutex;

use super::admin::Admin;
use super::consumer::PartitionConsumer;
use super::error::{ClientError, Peer};
use super::metadata::{METADATA_TIMEOUT, MetadataCache, PartitionRoute, not_provisioned};
use super::producer::{ProducerConfig, TopicProducer};
use super::socket::Socket;

/// The cluster client: cheap to clone, shared by producers and consumers. It outlives a
/// restart of the SC: the metadata cache connects again on its own.
#[derive(Clone)]
pub struct Fluvio {
    metadata: MetadataCache,
    spus: SpuPool,
}

impl Fluvio {
    /// Connect to the SC at `addr` and start following its metadata.
    pub async fn connect(addr: &str) -> Result<Fluvio, ClientError> {
        let metadata = MetadataCache::connect(addr).await?;
        Ok(Fluvio {
            metadata,
            spus: SpuPool::default(),
        })
    }

    /// The admin connection to the SC: the metadata cache's, so after the SC was lost and
    /// reached again, the new one.
    pub fn admin(&self) -> Admin {
        self.metadata.admin()
    }

    pub fn metadata(&self) -> &MetadataCache {
        &self.metadata
    }

    /// A producer for `topic`, which must exist and be placed.
    pub async fn topic_producer(
        &self,
        topic: &str,
        config: ProducerConfig,
    ) -> Result<TopicProducer, ClientError> {
        let spec = self.placed_topic(topic).await?;
        let partitions = spec.spec.replicas.partition_count();
        if partitions == 0 {
            return Err(ClientError::NoPartitions {
                topic: topic.to_string(),
            });
        }
        Ok(TopicProducer::new(
            self.clone(),
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
            self.clone(),
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

    /// The topic as the SC knows it. The watched copy answers when it has the topic; when
    /// it does not, the SC is asked directly, because a topic created a moment ago (by us,
    /// say) may not have reached the watch yet.
    pub async fn topic(&self, name: &str) -> Result<Metadata<TopicSpec>, ClientError> {
        if let Some(topic) = self.metadata.topic(name).await? {
            return Ok(topic);
        }
        let listed = self.admin().list::<TopicSpec>(&[name.to_string()]).await?;
        listed
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ClientError::TopicNotFound {
                topic: name.to_string(),
            })
    }

    /// The leader of a partition and a live connection to it.
    pub(crate) async fn leader(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(PartitionRoute, Socket), ClientError> {
        let route = self
            .metadata
            .route(topic, partition, METADATA_TIMEOUT)
            .await?;
        let socket = self.spus.get(route.leader, &route.leader_addr).await?;
        Ok((route, socket))
    }

    /// Forget a connection that failed, so the next use dials again.
    pub(crate) async fn drop_spu(&self, id: SpuId) {
        self.spus.sockets.lock().await.remove(&id);
    }

    /// Forget the connection to `addr`, if it is closed, so the next use dials again.
    pub(crate) async fn drop_spu_at(&self, addr: &str) {
        self.spus
            .sockets
            .lock()
            .await
            .retain(|_, socket| socket.addr() != addr || socket.is_open());
    }
}

/// Connections to SPUs by id, opened on first use and re-opened after they close.
#[derive(Clone, Default)]
struct SpuPool {
    sockets: Arc<Mutex<HashMap<SpuId, Socket>>>,
}

impl SpuPool {
    async fn get(&self, id: SpuId, addr: &str) -> Result<Socket, ClientError> {
        let mut sockets = self.sockets.lock().await;
        if let Some(socket) = sockets.get(&id)
            && socket.is_open()
            && socket.addr() == addr
        {
            return Ok(socket.clone());
        }
        let socket = Socket::connect(addr, Peer::Spu)
            .await
            .map_err(|err| match err {
                ClientError::Unreachable { addr, reason, .. } => ClientError::Unreachable {
                    peer: Peer::Spu,
                    addr: format!("{addr} (SPU {id})"),
                    reason,
                },
                other => other,
            })?;
        sockets.insert(id, socket.clone());
        Ok(socket)
    }
}

/// How long producers and consumers wait between attempts to reach a moving leader.
pub(crate) const RETRY_BACKOFF: Duration = Duration::from_millis(100);
