//! The SPU's public port: what clients (the official client, our console) send to the
//! leader of a partition, in the official Fluvio SPU API (`SpuServerApiKey` of the
//! `fluvio-spu-schema` crate), one request kind per file:
//!
//! | key | file | |
//! |---|---|---|
//! | 18 | here | ApiVersions: the SPU table, `(0,0,25) (1002,24,25) (1003,0,25) (1005,0,0)` |
//! | 0 | [`produce`] | Produce: append batches, one answer entry per request entry |
//! | 1002 | [`fetch_offsets`] | FetchOffsets: log start and high watermark |
//! | 1003 | [`stream_fetch`] | StreamFetch: a session pushing batches as they are written |
//! | 1005 | [`update_offsets`] | UpdateOffsets: consumer acknowledgements (flow control) |
//! | 1006-1008 | [`consumer_offsets`] | UpdateConsumerOffset, DeleteConsumerOffset, FetchConsumerOffsets (v23-25) |
//! | 1090 | [`verify`] | ours: scrub a replica's log (`fluvio partition verify`) |
//! | 1092 | here | ours: WhoAmI, the connection's principal (for clients' refusal messages) |
//! | 1091 | here | ours: InitProducerId, an idempotent producer's id and epoch |
//!
//! Application errors are answered with error codes and the connection stays open; only
//! frames that cannot be decoded (and unknown api keys) close it.
//!
//! Every request is checked against the authorization policy ([`crate::authz`]) first:
//! produce needs `produce` on the topic; fetch offsets, stream fetch and verify need
//! `consume`; the consumer-offset APIs need `update`, `delete` and `list` on
//! consumer-offset. A refusal is answered with `PermissionDenied` (13) where the entry's
//! error code goes.

pub mod consumer_offsets;
pub mod fetch_offsets;
pub mod produce;
pub mod stream_fetch;
pub mod update_offsets;
pub mod verify;

use std::sync::Arc;

use protocol::api::versions::API_VERSIONS_KEY;
use protocol::api::{ApiVersionsRequest, ApiVersionsResponse, ErrorCode};
use protocol::spu::{
    FetchConsumerOffsetsResponse, FetchOffsetPartitionResponse, FetchOffsetTopicResponse,
    PartitionProduceResponse, SpuRequest, TopicProduceResponse, UpdateConsumerOffsetResponse,
    VerifyReplicaResponse,
};
use protocol::{DecodeError, Reader};
use tracing::debug;

use super::replica::store::ReplicaStore;
use crate::authz::{Action, Authorizer, Identity, ObjectKind};
use crate::net::{Peer, Request, RequestError, ResponseSink, Service};

/// The public port's service.
pub struct PublicService {
    store: Arc<ReplicaStore>,
    authz: Authorizer,
}

impl PublicService {
    pub fn new(store: Arc<ReplicaStore>, authz: Authorizer) -> Self {
        Self { store, authz }
    }

    /// May the session do `action` on `topic`?
    fn topic(&self, session: &Session, action: Action, topic: &str) -> bool {
        self.authz
            .check(&session.who, action, ObjectKind::Topic, Some(topic))
            .is_ok()
    }
}

/// Produce requests of one connection waiting for replication at once; past it the
/// connection reads no further request until one is answered.
const CONFIRMING_PER_CONNECTION: usize = 64;

/// One client connection: where to answer and its stream sessions.
pub struct Session {
    who: Identity,
    sink: ResponseSink,
    streams: stream_fetch::Streams,
    /// Produce requests written and waiting for replication to be answered.
    confirming: Arc<tokio::sync::Semaphore>,
}

async fn answer_produce(
    sink: &ResponseSink,
    corr: i32,
    version: protocol::Version,
    response: protocol::spu::ProduceResponse,
) -> Result<(), RequestError> {
    for partition in response.responses.iter().flat_map(|t| &t.partitions) {
        crate::metrics::request_error(
            "SPU public",
            protocol::api::spu_keys::PRODUCE,
            &partition.error_code,
        );
    }
    sink.respond(corr, version, &response).await
}

/// Decode a request the way the connection loop wants errors: unknown keys and versions
/// apart from malformed bodies.
fn decode(request: &Request) -> Result<SpuRequest, RequestError> {
    let header = &request.header;
    let mut body = Reader::shared(&request.body);
    SpuRequest::decode(header, &mut body).map_err(|source| match source {
        DecodeError::UnknownApiKey(api_key) => RequestError::UnknownApiKey {
            api_key,
            version: header.api_version,
        },
        DecodeError::UnsupportedVersion { api_key, version } => {
            RequestError::UnsupportedVersion { api_key, version }
        }
        source => RequestError::Malformed {
            api_key: header.api_key,
            version: header.api_version,
            source,
        },
    })
}

impl Service for PublicService {
    type Session = Session;

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            who: self.authz.identify(peer),
            sink,
            streams: stream_fetch::Streams::default(),
            confirming: Arc::new(tokio::sync::Semaphore::new(CONFIRMING_PER_CONNECTION)),
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let corr = request.correlation_id();
        let version = request.version();
        let sink = session.sink.clone();
        let decoded = decode(&request)?;
        // Record sets are slices of the frame; let them be its only holders.
        drop(request);
        match decoded {
            SpuRequest::ApiVersions(_) => {
                sink.respond(corr, version, &ApiVersionsResponse::spu())
                    .await
            }
            SpuRequest::Produce(mut produce) => {
                // Refused topics are answered without being written; the rest go ahead.
                let mut refused = Vec::new();
                produce.topics.retain(|topic| {
                    let allowed = self.topic(session, Action::Produce, &topic.name);
                    if !allowed {
                        refused.push(TopicProduceResponse {
                            name: topic.name.clone(),
                            partitions: topic
                                .partitions
                                .iter()
                                .map(|p| {
                                    PartitionProduceResponse::error(
                                        p.partition_index,
                                        ErrorCode::PermissionDenied,
                                    )
                                })
                                .collect(),
                        });
                    }
                    allowed
                });
                // Written in request order here; waiting for replication (ReadCommitted)
                // happens beside the connection, so a producer with several requests in
                // flight gets them replicated together instead of one after another.
                let written = produce::write(&self.store, produce).await;
                if !written.waits() {
                    let mut response = written.confirm().await;
                    response.responses.extend(refused);
                    return answer_produce(&sink, corr, version, response).await;
                }
                let permit = session
                    .confirming
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| RequestError::Refused("connection closing".to_string()))?;
                tokio::spawn(async move {
                    let mut response = written.confirm().await;
                    response.responses.extend(refused);
                    // The connection may be gone meanwhile; nothing is left to tell.
                    let _ = answer_produce(&sink, corr, version, response).await;
                    drop(permit);
                });
                Ok(())
            }
            SpuRequest::FetchOffsets(mut fetch) => {
                let mut refused = Vec::new();
                fetch.topics.retain(|topic| {
                    let allowed = self.topic(session, Action::Consume, &topic.name);
                    if !allowed {
                        refused.push(FetchOffsetTopicResponse {
                            name: topic.name.clone(),
                            partitions: topic
                                .partitions
                                .iter()
                                .map(|p| FetchOffsetPartitionResponse {
                                    error_code: ErrorCode::PermissionDenied,
                                    partition_index: p.partition_index,
                                    start_offset: -1,
                                    last_stable_offset: -1,
                                })
                                .collect(),
                        });
                    }
                    allowed
                });
                let mut response = fetch_offsets::fetch_offsets(&self.store, &fetch).await;
                response.topics.extend(refused);
                sink.respond(corr, version, &response).await
            }
            SpuRequest::StreamFetch(fetch) => {
                debug!(peer = %session.who.peer, topic = %fetch.topic, partition = fetch.partition, offset = fetch.fetch_offset, "stream fetch");
                let permission = match self.topic(session, Action::Consume, &fetch.topic) {
                    true => Ok(()),
                    false => Err(ErrorCode::PermissionDenied),
                };
                stream_fetch::start(
                    &self.store,
                    &mut session.streams,
                    sink,
                    corr,
                    version,
                    fetch,
                    permission,
                )
                .await
            }
            SpuRequest::UpdateOffsets(update) => {
                let response = update_offsets::update_offsets(&session.streams, &update);
                sink.respond(corr, version, &response).await
            }
            SpuRequest::UpdateConsumerOffset(update) => {
                let consumer = session
                    .streams
                    .consumer(update.session_id)
                    .map(|key| key.consumer_id.clone());
                let check = self.authz.check(
                    &session.who,
                    Action::Update,
                    ObjectKind::ConsumerOffset,
                    consumer.as_deref(),
                );
                let response = match check {
                    Ok(()) => {
                        consumer_offsets::update(&self.store, &session.streams, &update).await
                    }
                    Err(_) => UpdateConsumerOffsetResponse {
                        offset: update.offset,
                        error_code: ErrorCode::PermissionDenied,
                    },
                };
                sink.respond(corr, version, &response).await
            }
            SpuRequest::DeleteConsumerOffset(delete) => {
                let check = self.authz.check(
                    &session.who,
                    Action::Delete,
                    ObjectKind::ConsumerOffset,
                    Some(&delete.consumer_id),
                );
                let response = match check {
                    Ok(()) => consumer_offsets::delete(&self.store, delete).await,
                    Err(_) => protocol::spu::DeleteConsumerOffsetResponse {
                        error_code: ErrorCode::PermissionDenied,
                    },
                };
                sink.respond(corr, version, &response).await
            }
            SpuRequest::FetchConsumerOffsets(fetch) => {
                let check =
                    self.authz
                        .check(&session.who, Action::List, ObjectKind::ConsumerOffset, None);
                let response = match check {
                    Ok(()) => consumer_offsets::fetch(&self.store, &fetch).await,
                    Err(_) => FetchConsumerOffsetsResponse {
                        error_code: ErrorCode::PermissionDenied,
                        consumers: Vec::new(),
                    },
                };
                sink.respond(corr, version, &response).await
            }
            SpuRequest::WhoAmI(_) => {
                let response = protocol::spu::WhoAmIResponse {
                    principal: session.who.principal.name.clone(),
                    roles: session.who.principal.roles.clone(),
                    enforcing: self.authz.enforcing(),
                };
                sink.respond(corr, version, &response).await
            }
            SpuRequest::InitProducerId(_) => {
                let response = match self.store.producer_ids().next().await {
                    Ok(identity) => protocol::spu::InitProducerIdResponse {
                        error_code: protocol::api::ErrorCode::None,
                        producer_id: identity.producer_id,
                        producer_epoch: identity.producer_epoch,
                    },
                    Err(err) => protocol::spu::InitProducerIdResponse {
                        error_code: err.error_code(),
                        producer_id: -1,
                        producer_epoch: -1,
                    },
                };
                sink.respond(corr, version, &response).await
            }
            SpuRequest::VerifyReplica(request) => {
                debug!(peer = %session.who.peer, topic = %request.topic, partition = request.partition, "verify");
                let response = match self.topic(session, Action::Consume, &request.topic) {
                    true => verify::verify(&self.store, &request).await,
                    false => VerifyReplicaResponse {
                        error_code: ErrorCode::PermissionDenied,
                        ..VerifyReplicaResponse::default()
                    },
                };
                sink.respond(corr, version, &response).await
            }
        }
    }

    async fn close(&self, session: Session) {
        session.streams.end_all();
    }
}

/// What the private port answers until replication arrives: ApiVersions. Other requests
/// close the connection.
pub struct ApiVersionsOnly;

impl Service for ApiVersionsOnly {
    type Session = ResponseSink;

    fn open(&self, _peer: &Peer, sink: ResponseSink) -> ResponseSink {
        sink
    }

    async fn call(&self, sink: &mut ResponseSink, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        if header.api_key != API_VERSIONS_KEY {
            return Err(RequestError::UnknownApiKey {
                api_key: header.api_key,
                version: header.api_version,
            });
        }
        request.decode::<ApiVersionsRequest>()?;
        sink.respond(
            header.correlation_id,
            header.api_version,
            &ApiVersionsResponse::spu(),
        )
        .await
    }
}
