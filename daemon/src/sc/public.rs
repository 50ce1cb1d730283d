//! The SC public port: the object API the official client speaks (ApiVersions, Watch,
//! List, Create, Delete, Update), one request kind per function with the same shape: decode,
//! apply to the stores, encode the answer. List and Watch also serve one kind of ours,
//! PartitionState (leader epoch, confirmed in-sync set), which only our clients ask for.
//!
//! Every request is first checked against the authorization policy ([`crate::authz`]):
//! a refused create, delete or update is answered `PermissionDenied` with the refusal's
//! text; a refused list or watch, whose answers carry no error code, sees no objects (as
//! Fluvio's SC does).

use std::sync::Arc;

use protocol::api::{ApiVersionsResponse, ErrorCode};
use protocol::sc::{
    AuthTokenSpec, CreateRequest, CustomSpuSpec, DeleteRequest, ListRequest, ListResponse, Message,
    Metadata, MetadataUpdate, ObjectCreateRequest, ObjectDeleteRequest, ObjectListRequest,
    ObjectSpec, ObjectUpdateRequest, ObjectWatchRequest, PartitionSpec, PartitionStateSpec,
    ScRequest, SpuSpec, Status, TopicSpec, TopicUpdate, UpdateRequest,
};
use protocol::{DecodeError, Reader, Version};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::Controller;
use super::store::{Batch, Event, Feeds, Stores};
use super::views;
use crate::authz::{Action, Authorizer, Denied, Identity, ObjectKind};
use crate::net::{Peer, Request, RequestError, ResponseSink, Service};

/// Serves clients: admin, producers' and consumers' metadata.
pub struct PublicService {
    controller: Arc<Controller>,
    authz: Authorizer,
}

impl PublicService {
    pub fn new(controller: Arc<Controller>, authz: Authorizer) -> Self {
        Self { controller, authz }
    }
}

pub struct Session {
    who: Identity,
    sink: ResponseSink,
    /// Watch streams of this connection; they end with it.
    watches: Vec<JoinHandle<()>>,
}

impl Service for PublicService {
    type Session = Session;

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            who: self.authz.identify(peer),
            sink,
            watches: Vec::new(),
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        if header.api_key == protocol::sc::cluster::SC_CLUSTER_KEY {
            // Ours, outside the official object API (see `protocol::sc::cluster`).
            let mut answer = self.controller.sc_cluster().await;
            answer.kafka_brokers = self
                .controller
                .store()
                .read(|stores| kafka_brokers(&super::views::spus(stores)))
                .await;
            return session
                .sink
                .respond(header.correlation_id, header.api_version, &answer)
                .await;
        }
        let decoded = ScRequest::decode(header, &mut Reader::new(&request.body));
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(DecodeError::UnknownApiKey(api_key)) => {
                return Err(RequestError::UnknownApiKey {
                    api_key,
                    version: header.api_version,
                });
            }
            Err(source) => {
                return Err(RequestError::Malformed {
                    api_key: header.api_key,
                    version: header.api_version,
                    source,
                });
            }
        };
        let corr = header.correlation_id;
        let version = header.api_version;
        let sink = &session.sink;
        match decoded {
            ScRequest::ApiVersions(_) => {
                sink.respond(corr, version, &ApiVersionsResponse::sc())
                    .await
            }
            ScRequest::Watch(watch) => {
                debug!(peer = %session.who.peer, kind = %watch_kind(&watch), "watch");
                if self
                    .authz
                    .check(&session.who, Action::Watch, watch_object(&watch), None)
                    .is_err()
                {
                    let epoch = self.controller.store().lock().await.epoch();
                    return sink
                        .respond(corr, version, &empty_watch(&watch, epoch))
                        .await;
                }
                let task = spawn_watch(self.controller.clone(), sink.clone(), corr, version, watch);
                session.watches.retain(|t| !t.is_finished());
                session.watches.push(task);
                Ok(())
            }
            ScRequest::List(list) => {
                if self
                    .authz
                    .check(&session.who, Action::List, list_object(&list), None)
                    .is_err()
                {
                    return sink.respond(corr, version, &empty_list(&list)).await;
                }
                let response = self
                    .controller
                    .store()
                    .read(|s| list_response(s, &list))
                    .await;
                sink.respond(corr, version, &response).await
            }
            ScRequest::Create(create) => {
                let (kind, name) = create_object(&create);
                let status = match self
                    .authz
                    .check(&session.who, Action::Create, kind, Some(&name))
                {
                    Ok(()) => self.create(create).await,
                    Err(denied) => refused(name, &denied),
                };
                crate::metrics::request_error("SC public", header.api_key, &status.error_code);
                sink.respond(corr, version, &status).await
            }
            ScRequest::Delete(delete) => {
                let (kind, name) = delete_object(&delete);
                let status = match self
                    .authz
                    .check(&session.who, Action::Delete, kind, Some(&name))
                {
                    Ok(()) => self.delete(delete).await,
                    Err(denied) => refused(name, &denied),
                };
                crate::metrics::request_error("SC public", header.api_key, &status.error_code);
                sink.respond(corr, version, &status).await
            }
            ScRequest::Update(update) => {
                let name = update.key_name().to_string();
                let status = match self.authz.check(
                    &session.who,
                    Action::Update,
                    ObjectKind::Topic,
                    Some(&name),
                ) {
                    Ok(()) => self.update(update).await,
                    Err(denied) => refused(name, &denied),
                };
                sink.respond(corr, version, &status).await
            }
        }
    }

    async fn close(&self, session: Session) {
        for watch in session.watches {
            watch.abort();
        }
    }
}

impl PublicService {
    async fn create(&self, request: ObjectCreateRequest) -> Status {
        let name = request.name().to_string();
        let result = match request {
            ObjectCreateRequest::Topic(CreateRequest {
                name,
                dry_run,
                spec,
                ..
            }) => self.controller.create_topic(&name, spec, dry_run).await,
            ObjectCreateRequest::CustomSpu(CreateRequest { name, spec, .. }) => {
                self.controller.register_custom_spu(&name, spec).await
            }
            ObjectCreateRequest::AuthToken(CreateRequest { name, spec, .. }) => {
                self.controller.create_token(&name, spec).await
            }
        };
        status(name, result)
    }

    async fn delete(&self, request: ObjectDeleteRequest) -> Status {
        let name = request.key_name();
        let result = match request {
            ObjectDeleteRequest::Topic(DeleteRequest { key, force }) => {
                self.controller.delete_topic(&key, force).await
            }
            ObjectDeleteRequest::CustomSpu(DeleteRequest { key, .. }) => {
                self.controller.unregister_custom_spu(&key).await
            }
            ObjectDeleteRequest::AuthToken(DeleteRequest { key, .. }) => {
                self.controller.delete_token(&key).await
            }
        };
        status(name, result)
    }

    async fn update(&self, request: ObjectUpdateRequest) -> Status {
        let name = request.key_name().to_string();
        let result = match request {
            ObjectUpdateRequest::Topic(UpdateRequest { key, action }) => match action {
                TopicUpdate::AddPartition { count } => {
                    self.controller.add_partitions(&key, count).await
                }
                TopicUpdate::AddMirror { .. } => Err((
                    ErrorCode::Other("mirroring is not supported by this cluster".into()),
                    "mirroring is not supported by this cluster".into(),
                )),
            },
        };
        status(name, result)
    }
}

fn status(name: String, result: Result<(), (ErrorCode, String)>) -> Status {
    match result {
        Ok(()) => {
            info!(object = %name, "done");
            Status::ok(name)
        }
        Err((code, message)) => {
            info!(object = %name, %message, "refused");
            Status::error(name, code, Some(message))
        }
    }
}

/// A refused create, delete or update: the protocol's permission error, with the text
/// naming principal, action and object for the client to show.
fn refused(name: String, denied: &Denied) -> Status {
    Status::error(name, ErrorCode::PermissionDenied, Some(denied.to_string()))
}

fn create_object(request: &ObjectCreateRequest) -> (ObjectKind, String) {
    let kind = match request {
        ObjectCreateRequest::Topic(_) => ObjectKind::Topic,
        ObjectCreateRequest::CustomSpu(_) => ObjectKind::CustomSpu,
        ObjectCreateRequest::AuthToken(_) => ObjectKind::AuthToken,
    };
    (kind, request.name().to_string())
}

fn delete_object(request: &ObjectDeleteRequest) -> (ObjectKind, String) {
    let kind = match request {
        ObjectDeleteRequest::Topic(_) => ObjectKind::Topic,
        ObjectDeleteRequest::CustomSpu(_) => ObjectKind::CustomSpu,
        ObjectDeleteRequest::AuthToken(_) => ObjectKind::AuthToken,
    };
    (kind, request.key_name())
}

/// The policy's kind for a watch; partition state is a view of partitions.
fn watch_object(request: &ObjectWatchRequest) -> ObjectKind {
    match request {
        ObjectWatchRequest::Topic(_) => ObjectKind::Topic,
        ObjectWatchRequest::Partition(_) | ObjectWatchRequest::PartitionState(_) => {
            ObjectKind::Partition
        }
        ObjectWatchRequest::Spu(_) => ObjectKind::Spu,
        ObjectWatchRequest::CustomSpu(_) => ObjectKind::CustomSpu,
        ObjectWatchRequest::AuthToken(_) => ObjectKind::AuthToken,
    }
}

/// The Kafka listeners of the online SPUs, by SPU id.
fn kafka_brokers(
    spus: &[protocol::sc::Metadata<protocol::sc::SpuSpec>],
) -> Vec<protocol::sc::cluster::KafkaBroker> {
    let mut brokers: Vec<_> = spus
        .iter()
        .filter(|s| s.status.resolution == protocol::sc::SpuResolution::Online)
        .filter_map(|s| {
            let e = s.spec.kafka_endpoint.as_ref()?;
            Some(protocol::sc::cluster::KafkaBroker {
                spu: s.spec.id,
                addr: format!("{}:{}", e.host, e.port),
            })
        })
        .collect();
    brokers.sort_by_key(|b| b.spu);
    brokers
}

fn list_object(request: &ObjectListRequest) -> ObjectKind {
    match request {
        ObjectListRequest::Topic(_) => ObjectKind::Topic,
        ObjectListRequest::Partition(_) | ObjectListRequest::PartitionState(_) => {
            ObjectKind::Partition
        }
        ObjectListRequest::Spu(_) => ObjectKind::Spu,
        ObjectListRequest::CustomSpu(_) => ObjectKind::CustomSpu,
        ObjectListRequest::AuthToken(_) => ObjectKind::AuthToken,
    }
}

/// What a refused watch sees: a snapshot with nothing in it, and no changes after.
fn empty_watch(request: &ObjectWatchRequest, epoch: i64) -> protocol::sc::ObjectWatchResponse {
    fn empty<S: ObjectSpec>(epoch: i64) -> protocol::sc::ObjectWatchResponse {
        S::wrap_watch(MetadataUpdate::snapshot(epoch, Vec::new()))
    }
    match request {
        ObjectWatchRequest::Topic(_) => empty::<TopicSpec>(epoch),
        ObjectWatchRequest::Partition(_) => empty::<PartitionSpec>(epoch),
        ObjectWatchRequest::Spu(_) => empty::<SpuSpec>(epoch),
        ObjectWatchRequest::CustomSpu(_) => empty::<CustomSpuSpec>(epoch),
        ObjectWatchRequest::AuthToken(_) => empty::<AuthTokenSpec>(epoch),
        ObjectWatchRequest::PartitionState(_) => empty::<PartitionStateSpec>(epoch),
    }
}

/// What a refused list sees: no objects.
fn empty_list(request: &ObjectListRequest) -> protocol::sc::ObjectListResponse {
    use protocol::sc::ObjectListResponse as R;
    match request {
        ObjectListRequest::Topic(_) => R::Topic(Vec::new().into_iter().collect()),
        ObjectListRequest::Partition(_) => R::Partition(Vec::new().into_iter().collect()),
        ObjectListRequest::Spu(_) => R::Spu(Vec::new().into_iter().collect()),
        ObjectListRequest::CustomSpu(_) => R::CustomSpu(Vec::new().into_iter().collect()),
        ObjectListRequest::AuthToken(_) => R::AuthToken(Vec::new().into_iter().collect()),
        ObjectListRequest::PartitionState(_) => R::PartitionState(Vec::new().into_iter().collect()),
    }
}

fn watch_kind(request: &ObjectWatchRequest) -> &'static str {
    match request {
        ObjectWatchRequest::Topic(_) => TopicSpec::LABEL,
        ObjectWatchRequest::Partition(_) => PartitionSpec::LABEL,
        ObjectWatchRequest::Spu(_) => SpuSpec::LABEL,
        ObjectWatchRequest::CustomSpu(_) => CustomSpuSpec::LABEL,
        ObjectWatchRequest::AuthToken(_) => AuthTokenSpec::LABEL,
        ObjectWatchRequest::PartitionState(_) => PartitionStateSpec::LABEL,
    }
}

/// `name contains filter` for any filter; no filters match everything.
fn filtered<S: ObjectSpec>(items: Vec<Metadata<S>>, request: &ListRequest) -> ListResponse<S> {
    items
        .into_iter()
        .filter(|m| request.matches(&m.name))
        .collect()
}

fn list_response(stores: &Stores, request: &ObjectListRequest) -> protocol::sc::ObjectListResponse {
    use protocol::sc::ObjectListResponse as R;
    match request {
        // System objects only when asked for (`topic list --system`), as Fluvio does;
        // watches carry them, since clients find `consumer-offset-0` there.
        ObjectListRequest::Topic(r) => R::Topic(filtered(
            views::topics(stores)
                .into_iter()
                .filter(|t| r.system || !t.spec.system)
                .collect(),
            r,
        )),
        ObjectListRequest::Partition(r) => R::Partition(filtered(
            views::partitions(stores)
                .into_iter()
                .filter(|p| r.system || !p.spec.system)
                .collect(),
            r,
        )),
        ObjectListRequest::Spu(r) => R::Spu(filtered(views::spus(stores), r)),
        ObjectListRequest::CustomSpu(r) => R::CustomSpu(filtered(views::custom_spus(stores), r)),
        ObjectListRequest::AuthToken(r) => R::AuthToken(filtered(views::tokens(stores), r)),
        ObjectListRequest::PartitionState(r) => {
            R::PartitionState(filtered(views::partition_states(stores), r))
        }
    }
}

fn spawn_watch(
    controller: Arc<Controller>,
    sink: ResponseSink,
    corr: i32,
    version: Version,
    request: ObjectWatchRequest,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _open = crate::metrics::stream_opened("SC public");
        let result = match request {
            ObjectWatchRequest::Topic(_) => {
                stream::<TopicSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.topics,
                    views::topics,
                    views::topic,
                )
                .await
            }
            ObjectWatchRequest::Partition(_) => {
                stream::<PartitionSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.partitions,
                    views::partitions,
                    views::partition,
                )
                .await
            }
            ObjectWatchRequest::Spu(_) => {
                stream::<SpuSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.spus,
                    views::spus,
                    views::spu,
                )
                .await
            }
            ObjectWatchRequest::CustomSpu(_) => {
                stream::<CustomSpuSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.spus,
                    views::custom_spus,
                    views::custom_spu,
                )
                .await
            }
            ObjectWatchRequest::AuthToken(_) => {
                stream::<AuthTokenSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.tokens,
                    views::tokens,
                    views::token,
                )
                .await
            }
            ObjectWatchRequest::PartitionState(_) => {
                stream::<PartitionStateSpec, _>(
                    &controller,
                    &sink,
                    corr,
                    version,
                    |f| &f.partition_states,
                    views::partition_states,
                    views::partition_state,
                )
                .await
            }
        };
        if let Err(err) = result {
            match err {
                RequestError::Closed(_) => {}
                err => warn!(%err, "watch stream ended"),
            }
        }
    })
}

/// One watch stream: the full snapshot now, then every change on the same correlation id.
/// A watcher too slow to keep up with the change feed gets a fresh snapshot instead.
async fn stream<S: ObjectSpec, O: Clone + Send + Sync + 'static>(
    controller: &Controller,
    sink: &ResponseSink,
    corr: i32,
    version: Version,
    feed: fn(&Feeds) -> &broadcast::Sender<Arc<Batch<O>>>,
    snapshot: fn(&Stores) -> Vec<Metadata<S>>,
    view: fn(&O) -> Option<Metadata<S>>,
) -> Result<(), RequestError> {
    let store = controller.store();
    'subscribe: loop {
        let (mut rx, epoch, all) = {
            let guard = store.lock().await;
            (
                feed(store.feeds()).subscribe(),
                guard.epoch(),
                snapshot(guard.stores()),
            )
        };
        let first = S::wrap_watch(MetadataUpdate::snapshot(epoch, all));
        sink.respond(corr, version, &first).await?;
        loop {
            let batch = tokio::select! {
                batch = rx.recv() => batch,
                _ = sink.closed() => return Ok(()),
            };
            match batch {
                Ok(batch) => {
                    let changes: Vec<Message<S>> = batch
                        .events
                        .iter()
                        .filter_map(|event| match event {
                            Event::Update(o) => view(o).map(Message::update),
                            Event::Delete(o) => view(o).map(Message::delete),
                        })
                        .collect();
                    if !changes.is_empty() {
                        let update = S::wrap_watch(MetadataUpdate::changes(batch.epoch, changes));
                        sink.respond(corr, version, &update).await?;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    debug!(
                        missed,
                        kind = S::LABEL,
                        "watcher lagged; sending a fresh snapshot"
                    );
                    continue 'subscribe;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }
}
