//! What producers and consumers need of the cluster: where a partition leads (the metadata
//! cache) and a connection to that leader (a pool of SPU connections). They hold this
//! small handle rather than the whole [`Fluvio`](crate::Fluvio), which creates them, so
//! the cluster client sits above producers and consumers and nothing points back up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::sc::{Metadata, SpuId, TopicSpec};
use tokio::sync::Mutex;

use super::error::{ClientError, Peer};
use super::metadata::{METADATA_TIMEOUT, MetadataCache, PartitionRoute};
use super::socket::Socket;
use super::tls::ClientTls;

/// How long producers and consumers wait between attempts to reach a moving leader.
pub(crate) const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Routes to partition leaders: cheap to clone, shared by a cluster client and every
/// producer and consumer it made.
#[derive(Clone)]
pub(crate) struct Routing {
    metadata: MetadataCache,
    spus: SpuPool,
}

impl Routing {
    pub(crate) fn new(metadata: MetadataCache) -> Self {
        Self {
            metadata,
            spus: SpuPool::default(),
        }
    }

    pub(crate) fn metadata(&self) -> &MetadataCache {
        &self.metadata
    }

    /// The topic as the SC knows it. The watched copy answers when it has the topic; when
    /// it does not, the SC is asked directly, because a topic created a moment ago (by us,
    /// say) may not have reached the watch yet.
    pub(crate) async fn topic(&self, name: &str) -> Result<Metadata<TopicSpec>, ClientError> {
        if let Some(topic) = self.metadata.topic(name).await? {
            return Ok(topic);
        }
        let listed = self
            .metadata
            .admin()
            .list::<TopicSpec>(&[name.to_string()])
            .await?;
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
        let socket = self
            .spus
            .get(route.leader, &route.leader_addr, self.metadata.tls())
            .await?;
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
    /// The SPUs carry the cluster's certificate, so they are reached with the SC's TLS.
    async fn get(&self, id: SpuId, addr: &str, tls: &ClientTls) -> Result<Socket, ClientError> {
        let mut sockets = self.sockets.lock().await;
        if let Some(socket) = sockets.get(&id)
            && socket.is_open()
            && socket.addr() == addr
        {
            return Ok(socket.clone());
        }
        let socket = Socket::connect_with(addr, Peer::Spu, tls)
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
