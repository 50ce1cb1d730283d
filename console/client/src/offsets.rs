//! Committed consumer offsets, as the official client keeps them: records of the system
//! topic `consumer-offset`, served by the leader of its partition 0. A stream opened with
//! a consumer id ([`ConsumerConfig::consumer_id`](crate::ConsumerConfig)) commits through
//! an [`OffsetCommitter`]; these functions list and delete what was committed.
//!
//! A committed offset is the offset of the last record the consumer processed; a consumer
//! that comes back resumes at the one after it.

use std::sync::{Arc, Mutex};

use protocol::spu::{
    ApiRequest, CONSUMER_OFFSET_PARTITION, CONSUMER_OFFSET_TOPIC, ConsumerOffset,
    ConsumerOffsetFilter, DeleteConsumerOffsetRequest, FetchConsumerOffsetsRequest, ReplicaKey,
    UpdateConsumerOffsetRequest,
};

use super::cluster::Fluvio;
use super::error::{ClientError, Peer};
use super::socket::Socket;

/// How offset management works for a stream with a consumer id: the official client's
/// three strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OffsetStrategy {
    /// Nothing is managed: start where asked, commit nothing.
    None,
    /// Start after the committed offset; commit only when the program says so.
    Manual,
    /// Start after the committed offset; commit as records are processed.
    #[default]
    Auto,
}

impl Fluvio {
    /// The socket of the leader of `consumer-offset-0`.
    async fn offsets_leader(&self) -> Result<Socket, ClientError> {
        let (_, socket) = self
            .routing()
            .leader(CONSUMER_OFFSET_TOPIC, CONSUMER_OFFSET_PARTITION)
            .await?;
        Ok(socket)
    }

    /// Committed offsets, of one consumer and/or one partition if given.
    pub async fn consumer_offsets(
        &self,
        consumer: Option<&str>,
        replica: Option<ReplicaKey>,
    ) -> Result<Vec<ConsumerOffset>, ClientError> {
        let socket = self.offsets_leader().await?;
        let request = FetchConsumerOffsetsRequest {
            filter_opts: (consumer.is_some() || replica.is_some()).then(|| ConsumerOffsetFilter {
                replica_id: replica,
                consumer_id: consumer.map(str::to_string),
            }),
        };
        let response = call(&socket, &request).await?;
        if response.error_code.is_error() {
            return Err(ClientError::Refused {
                action: "cannot list consumer offsets".to_string(),
                code: response.error_code,
                message: None,
            });
        }
        Ok(response.consumers)
    }

    /// The offset `consumer` committed for `topic` partition `partition`, if any.
    pub async fn committed_offset(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<i64>, ClientError> {
        let replica = ReplicaKey::new(topic, partition);
        let offsets = self
            .consumer_offsets(Some(consumer), Some(replica.clone()))
            .await?;
        Ok(offsets
            .into_iter()
            .find(|o| o.consumer_id == consumer && o.replica_id == replica)
            .map(|o| o.offset))
    }

    /// Forget what `consumer` committed for `topic` partition `partition`.
    pub async fn delete_consumer_offset(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<(), ClientError> {
        let socket = self.offsets_leader().await?;
        let request = DeleteConsumerOffsetRequest {
            replica_id: ReplicaKey::new(topic, partition),
            consumer_id: consumer.to_string(),
        };
        let response = call(&socket, &request).await?;
        if response.error_code.is_error() {
            return Err(ClientError::Refused {
                action: format!(
                    "cannot delete the offset of consumer '{consumer}' for {topic}-{partition}"
                ),
                code: response.error_code,
                message: None,
            });
        }
        Ok(())
    }
}

/// Commits a stream's offsets: UpdateConsumerOffset (1006) on the connection serving the
/// stream, naming its session. Shared with the stream, which points it at its new session
/// when it follows a leader; cheap to clone.
#[derive(Clone, Default)]
pub struct OffsetCommitter {
    session: Arc<Mutex<Option<(Socket, u32)>>>,
    committed: Arc<Mutex<Option<i64>>>,
}

impl OffsetCommitter {
    pub(crate) fn set_session(&self, socket: &Socket, stream_id: u32) {
        *lock(&self.session) = Some((socket.clone(), stream_id));
    }

    /// The last offset committed through this committer.
    pub fn committed(&self) -> Option<i64> {
        *lock(&self.committed)
    }

    /// Commit `offset`: the last record processed. Nothing to do when it is committed
    /// already or the stream has not had a session yet (nothing was read).
    pub async fn commit(&self, offset: i64) -> Result<(), ClientError> {
        if self.committed() == Some(offset) {
            return Ok(());
        }
        let Some((socket, session_id)) = lock(&self.session).clone() else {
            return Ok(());
        };
        let request = UpdateConsumerOffsetRequest { offset, session_id };
        let response = call(&socket, &request).await?;
        if response.error_code.is_error() {
            return Err(ClientError::Refused {
                action: format!("cannot commit offset {offset}"),
                code: response.error_code,
                message: None,
            });
        }
        *lock(&self.committed) = Some(offset);
        Ok(())
    }
}

/// Send `request` to an SPU at its version and read the answer.
async fn call<R: ApiRequest>(socket: &Socket, request: &R) -> Result<R::Response, ClientError> {
    let reply = socket.request(R::API_KEY, R::VERSION, request).await?;
    R::decode_response(&reply, R::VERSION).map_err(|source| ClientError::BadResponse {
        peer: Peer::Spu,
        addr: socket.addr().to_string(),
        source,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
