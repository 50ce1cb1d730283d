//! InitProducerId (key 22): a producer id and epoch for an idempotent producer
//! (`enable.idempotence=true`, the default of librdkafka 2.x and kafka-python 3.x).
//!
//! Ids come from this SPU's block of cluster-unique ids ([`crate::spu::producer_ids`]),
//! epoch 0. From v3 a producer that already has an id may ask for the next epoch of it
//! (KIP-360: librdkafka does so after a batch failed for good, to restart its sequences);
//! the answer is the same id at the next epoch, or a fresh id once the epoch would pass
//! `i16::MAX`. The partitions' leaders then fence the older epoch
//! ([`crate::spu::replica::producers`]). Transactions are not supported: a transactional
//! id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Produce refuses
//! transactional batches.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::warn;

use super::Broker;
use crate::spu::producer_ids::ProducerIdError;

pub async fn init_producer_id(
    broker: &Broker,
    request: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let refused = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return refused(ResponseError::TransactionalIdAuthorizationFailed);
    }
    let (id, epoch) = (request.producer_id.0, request.producer_epoch);
    if id >= 0 && (0..i16::MAX).contains(&epoch) {
        return InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch + 1);
    }
    match broker.replicas.producer_ids().next().await {
        Ok(identity) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.producer_epoch),
        Err(err) => {
            warn!(%err, "InitProducerId refused");
            // The client retries these after a backoff.
            refused(match err {
                ProducerIdError::NoSc => ResponseError::CoordinatorNotAvailable,
                ProducerIdError::Refused(_) => ResponseError::CoordinatorLoadInProgress,
            })
        }
    }
}
