//! Producer ids this SPU hands out (Kafka's InitProducerId, and ours), from blocks the SC
//! grants (see [`crate::sc::producer_ids`]), so ids are unique across the cluster and
//! across restarts without a round trip to the SC per producer.
//!
//! The link to the SC ([`crate::spu::control::link`]) carries the requests for blocks: it
//! takes this allocator's inbox once and serves it on whichever session is up. A block is
//! kept in memory only; ids left in it when the SPU stops are never used, which costs
//! nothing in a 63-bit space.

use std::time::Duration;

use protocol::api::ErrorCode;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::sync::lock;

/// Ids asked for at once.
pub const BLOCK: i32 = 1000;

/// How long an InitProducerId waits for the SC to grant a block.
pub const GRANT_TIMEOUT: Duration = Duration::from_secs(10);

/// An idempotent producer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Why no producer id could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerIdError {
    #[error(
        "cannot hand out a producer id: this SPU is not connected to the SC, which grants \
         them; retry once the SC is reachable"
    )]
    NoSc,
    #[error("the SC could not grant producer ids ({0}); its log says why")]
    Refused(ErrorCode),
}

impl ProducerIdError {
    /// The code a client sees (Kafka's COORDINATOR_NOT_AVAILABLE is its listener's
    /// business; ours only has the generic ones).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::NoSc => ErrorCode::Other(self.to_string()),
            Self::Refused(_) => ErrorCode::Other(self.to_string()),
        }
    }
}

/// Where the SC's answer to a request for a block goes: the first id and the count.
pub type Grant = oneshot::Sender<Result<(i64, i32), ErrorCode>>;

/// A request for a block.
#[derive(Debug)]
pub struct Ask {
    pub count: i32,
    pub reply: Grant,
}

/// The ids left of the current block.
#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
}

#[derive(Debug)]
pub struct ProducerIds {
    asks: mpsc::Sender<Ask>,
    inbox: std::sync::Mutex<Option<mpsc::Receiver<Ask>>>,
    block: Mutex<Block>,
}

impl Default for ProducerIds {
    fn default() -> Self {
        let (asks, inbox) = mpsc::channel(16);
        Self {
            asks,
            inbox: std::sync::Mutex::new(Some(inbox)),
            block: Mutex::default(),
        }
    }
}

impl ProducerIds {
    /// The requests for blocks, for the link to the SC to serve (once).
    pub fn take_inbox(&self) -> Option<mpsc::Receiver<Ask>> {
        lock(&self.inbox).take()
    }

    /// A fresh producer id, epoch 0 (producers without a transactional id start over with
    /// a new id rather than a new epoch, as in Kafka).
    pub async fn next(&self) -> Result<ProducerIdentity, ProducerIdError> {
        let mut block = self.block.lock().await;
        if block.next >= block.end {
            let (reply, answer) = oneshot::channel();
            self.asks
                .send(Ask {
                    count: BLOCK,
                    reply,
                })
                .await
                .map_err(|_| ProducerIdError::NoSc)?;
            let (first, count) = tokio::time::timeout(GRANT_TIMEOUT, answer)
                .await
                .map_err(|_| ProducerIdError::NoSc)?
                .map_err(|_| ProducerIdError::NoSc)?
                .map_err(ProducerIdError::Refused)?;
            *block = Block {
                next: first,
                end: first + i64::from(count.max(0)),
            };
            if block.next >= block.end {
                return Err(ProducerIdError::Refused(ErrorCode::UnknownServerError));
            }
        }
        let producer_id = block.next;
        block.next += 1;
        Ok(ProducerIdentity {
            producer_id,
            producer_epoch: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_come_from_granted_blocks() {
        let ids = std::sync::Arc::new(ProducerIds::default());
        let mut inbox = ids.take_inbox().unwrap();
        assert!(ids.take_inbox().is_none(), "one link serves the inbox");
        let sc = tokio::spawn(async move {
            let mut first = 500;
            while let Some(ask) = inbox.recv().await {
                assert_eq!(ask.count, BLOCK);
                // A tiny grant, to see the next block asked for.
                let _ = ask.reply.send(Ok((first, 2)));
                first += 100;
            }
        });
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(ids.next().await.unwrap().producer_id);
        }
        assert_eq!(got, [500, 501, 600]);
        drop(ids);
        sc.await.unwrap();
    }

    #[tokio::test]
    async fn without_the_sc_the_caller_is_told() {
        let ids = ProducerIds::default();
        let mut inbox = ids.take_inbox().unwrap();
        let sc = tokio::spawn(async move {
            // The session ended before answering: the reply is dropped.
            drop(inbox.recv().await);
            let ask = inbox.recv().await.unwrap();
            let _ = ask.reply.send(Err(ErrorCode::StorageError));
        });
        assert_eq!(ids.next().await, Err(ProducerIdError::NoSc));
        assert_eq!(
            ids.next().await,
            Err(ProducerIdError::Refused(ErrorCode::StorageError))
        );
        sc.await.unwrap();
    }
}
