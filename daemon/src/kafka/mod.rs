//! The Kafka listener: every SPU can speak the Kafka protocol (`--kafka-addr`), so Kafka
//! clients (librdkafka/kcat, kafka-python, confluent-kafka, aiokafka) produce to and
//! consume from our partitions unchanged.
//!
//! The cluster looks like a Kafka cluster: brokers are the SPUs (node id = SPU id, at
//! their Kafka addresses, learnt through the SC's SPU directory), topics, partitions and
//! leaders are ours, and the controller is the answering SPU, which forwards admin
//! requests to the SC's public port. Partitions already hold Kafka v2 record batches, so
//! produce appends them as they come and fetch serves them as they are stored.
//!
//! The connection plumbing (limits, deadlines, memory budget, writer task) is the one
//! every server of the daemon shares ([`crate::net`]); message bodies are the
//! `kafka-protocol` crate's generated schemas ([`wire`] adds the header details). Which
//! APIs and versions are served, and who handles each, is the table in [`apis`]: one
//! module per API group.

pub mod access;
pub mod admin;
pub mod apis;
pub mod fetch;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod records;
pub mod wire;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use tracing::debug;

use crate::authz::{Authorizer, Identity};
use crate::net::{Peer, Request, RequestError, ResponseSink, Service};
use crate::spu::replica::store::ReplicaStore;

/// The listener's name in logs and metrics (`listener="SPU Kafka"`).
pub const LISTENER: &str = "SPU Kafka";

/// The default address of the first SPU's Kafka listener in `fluvio-daemon`; the next
/// SPUs take the next ports.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9092";

/// What every Kafka request handler may use: this SPU's replicas and its view of the
/// cluster.
pub struct Broker {
    /// This SPU's id, its Kafka node id.
    pub node_id: i32,
    /// The address the listener is bound to (advertised when the SC has not yet
    /// told us ours).
    pub addr: SocketAddr,
    pub replicas: Arc<ReplicaStore>,
    /// Admin connection to the SC, made on first use and replaced when it breaks.
    pub sc: admin::ScLink,
    /// The consumer groups this SPU coordinates (while it leads `consumer-offset-0`).
    pub groups: Arc<groups::Coordinator>,
    /// The `--authz-policy` decisions, applied to every request ([`access`]).
    pub authz: Authorizer,
}

impl Broker {
    pub fn new(
        node_id: i32,
        addr: SocketAddr,
        replicas: Arc<ReplicaStore>,
        authz: Authorizer,
    ) -> Self {
        Self {
            node_id,
            addr,
            sc: admin::ScLink::new(replicas.clone()),
            replicas,
            groups: Arc::default(),
            authz,
        }
    }
}

/// The Kafka listener's service.
pub struct KafkaService {
    broker: Arc<Broker>,
}

impl KafkaService {
    pub fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }
}

/// One Kafka client connection.
pub struct Session {
    pub peer: SocketAddr,
    /// Who the client is: its certificate's common name over TLS, else by its address.
    pub who: Identity,
    pub sink: ResponseSink,
    /// `(api key, version)` pairs this connection used, so each is logged once: the log
    /// shows which versions each client negotiated.
    seen: BTreeSet<(i16, i16)>,
}

impl Service for KafkaService {
    type Session = Session;

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            peer: peer.addr,
            who: self.broker.authz.identify(peer),
            sink,
            seen: BTreeSet::new(),
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let request = wire::KafkaRequest::from_request(request)?;
        if session.seen.insert((request.api_key, request.version)) {
            debug!(
                peer = %session.peer,
                client_id = %request.client_id,
                api_key = request.api_key,
                api = apis::name(request.api_key),
                version = request.version,
                "Kafka client uses this API version"
            );
        }
        apis::dispatch(&self.broker, session, request).await
    }
}
