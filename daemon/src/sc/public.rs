//! The SC public port: the object API the official client speaks (ApiVersions, Watch,
//! List, Create, Delete, Update), one request kind per function with the same shape: decode,
//! apply to the stores, encode the answer. List and Watch also serve one kind of ours,
//! PartitionState (leader epoch, confirmed in-sync set), which only our clients ask for.

use std::net::SocketAddr;
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
use crate::net::{Peer, Request, RequestError, ResponseSink, Service};

/// Serves clients: admin, producers' and consumers' metadata.
pub struct PublicService {
    controller: Arc<Controller>,
}

impl PublicService {
    pub fn new(controller: Arc<Controller>) -> Self {
        Self { controller }
    }
}

pub struct Session {
    peer: SocketAddr,
    sink: ResponseSink,
    /// Watch streams of this connection; they end with it.
    watches: Vec<JoinHandle<()>>,
}

impl Service for PublicService {
    type Session = Session;

    fn open(&self, peer: &Peer, sink: ResponseSink) -> Session {
        Session {
            peer: peer.addr,
            sink,
            watches: Vec::new(),
        }
    }

    async fn call(&self, session: &mut Session, request: Request) -> Result<(), RequestError> {
        let header = &request.header;
        if header.api_key == protocol::sc::cluster::SC_CLUSTER_KEY {
            // Ours, outside the official object API (see `protocol::sc::cluster`).
            let answer = self.controller.sc_cluster().await;
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
                debug!(peer = %session.peer, kind = %watch_kind(&watch), "watch");
                let task = spawn_watch(self.controller.clone(), sink.clone(), corr, version, watch);
                session.watches.retain(|t| !t.is_finished());
                session.watches.push(task);
                Ok(())
            }
            ScRequest::List(list) => {
                let response = self
                    .controller
                    .store()
                    .read(|s| list_response(s, &list))
                    .await;
                sink.respond(corr, version, &response).await
            }
            ScRequest::Create(create) => {
                let status = self.create(create).await;
                crate::metrics::request_error("SC public", header.api_key, &status.error_code);
                sink.respond(corr, version, &status).await
            }
            ScRequest::Delete(delete) => {
                let status = self.delete(delete).await;
                crate::metrics::request_error("SC public", header.api_key, &status.error_code);
                sink.respond(corr, version, &status).await
            }
            ScRequest::Update(update) => {
                let status = self.update(update).await;
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
