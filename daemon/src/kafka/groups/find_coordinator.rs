//! FindCoordinator (key 10): where a group's coordinator is: the leader of
//! `consumer-offset-0` (see [`super`]), at its Kafka address. Transaction coordinators
//! (key type 1) are refused: transactions are not supported. From v4 several keys are
//! asked at once.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::Broker;

pub async fn find_coordinator(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let answer = |key: StrBytes| -> Coordinator {
        let found = Coordinator::default().with_key(key);
        if request.key_type != 0 {
            return found
                .with_node_id(BrokerId(-1))
                .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "transactions are not supported by this cluster",
                )));
        }
        let leader = broker.replicas.consumer_offsets().leader();
        let mut brokers = broker.replicas.kafka_brokers();
        brokers
            .entry(broker.node_id)
            .or_insert_with(|| (broker.addr.ip().to_string(), broker.addr.port()));
        match leader.and_then(|id| brokers.get(&id).map(|addr| (id, addr.clone()))) {
            Some((id, (host, port))) => found
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port)),
            None => found
                .with_node_id(BrokerId(-1))
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "no SPU with a Kafka listener leads consumer-offset-0 yet; retry",
                ))),
        }
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .cloned()
            .map(answer)
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let one = answer(request.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(one.error_code)
        .with_error_message(one.error_message)
        .with_node_id(one.node_id)
        .with_host(one.host)
        .with_port(one.port)
}
