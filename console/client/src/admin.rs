//! The SC's object API as a client: create, delete, list and watch topics, partitions,
//! SPUs, custom SPUs and auth tokens, add partitions to a topic, and (from our own SC)
//! partition states.

use std::marker::PhantomData;

use bytes::Bytes;
use protocol::api::sc_keys;
use protocol::sc::{
    CreatableObject, CreateRequest, DeletableObject, DeleteRequest, ListRequest, Metadata,
    MetadataUpdate, ObjectCreateRequest, ObjectDeleteRequest, ObjectListRequest, ObjectSpec,
    ObjectUpdateRequest, ObjectWatchRequest, PartitionStateSpec, ScResponse, Status, TopicSpec,
    TopicUpdate, UpdateRequest, WatchRequest,
};
use protocol::{Reader, Version};

use super::error::{ClientError, Peer};
use super::socket::{FrameStream, Socket};
use super::tls::ClientTls;

/// The object API versions this client speaks; 19 is what the official client sends.
const MAX_OBJECT_VERSION: Version = 19;
const MIN_CREATE_VERSION: Version = 9;
const MIN_DELETE_VERSION: Version = 1;
const MIN_LIST_VERSION: Version = 15;
const MIN_WATCH_VERSION: Version = 15;
const MIN_UPDATE_VERSION: Version = 0;

/// An admin connection to the SC.
#[derive(Clone)]
pub struct Admin {
    socket: Socket,
}

use protocol::sc::cluster::{
    SC_CLUSTER_KEY, SC_CLUSTER_VERSION, ScClusterRequest, ScClusterResponse,
};

impl Admin {
    /// Connect in plaintext.
    pub async fn connect(addr: &str) -> Result<Admin, ClientError> {
        Self::connect_with(addr, &ClientTls::disabled()).await
    }

    /// Connect with TLS per `tls`. A comma-separated list (`A,B,C`: several SCs on one
    /// metadata store, any of which serves clients) is tried in turn; the last error is
    /// returned when none answers.
    pub async fn connect_with(addr: &str, tls: &ClientTls) -> Result<Admin, ClientError> {
        let mut last = None;
        for one in addr.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Self::connect_one(one, tls).await {
                Ok(admin) => return Ok(admin),
                Err(err) => last = Some(err),
            }
        }
        match last {
            Some(err) => Err(err),
            None => Self::connect_one(addr, tls).await,
        }
    }

    async fn connect_one(addr: &str, tls: &ClientTls) -> Result<Admin, ClientError> {
        let socket = Socket::connect_with(addr, Peer::Sc, tls).await?;
        // Refuse early, with a clear message, a server that cannot watch: nothing works
        // without it (the official client refuses it too).
        socket.version_for(sc_keys::WATCH, MIN_WATCH_VERSION, MAX_OBJECT_VERSION)?;
        Ok(Admin { socket })
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    pub fn addr(&self) -> &str {
        self.socket.addr()
    }

    /// Create the object `name`. `dry_run` validates without creating.
    pub async fn create<S: CreatableObject>(
        &self,
        name: &str,
        spec: S::Create,
        dry_run: bool,
    ) -> Result<(), ClientError> {
        let version =
            self.socket
                .version_for(sc_keys::CREATE, MIN_CREATE_VERSION, MAX_OBJECT_VERSION)?;
        let mut request = CreateRequest::<S>::new(name, spec);
        request.dry_run = dry_run;
        let body = ObjectCreateRequest::of(request);
        let reply = self.socket.request(sc_keys::CREATE, version, &body).await?;
        let status = self.status(sc_keys::CREATE, version, reply)?;
        check_status(
            status,
            format!("cannot create {} '{name}'", S::LABEL.to_lowercase()),
        )
    }

    /// Delete the object named by `key`.
    pub async fn delete<S: DeletableObject>(
        &self,
        key: S::DeleteKey,
        what: &str,
    ) -> Result<(), ClientError> {
        let version =
            self.socket
                .version_for(sc_keys::DELETE, MIN_DELETE_VERSION, MAX_OBJECT_VERSION)?;
        let body = ObjectDeleteRequest::of(DeleteRequest::<S>::new(key));
        let reply = self.socket.request(sc_keys::DELETE, version, &body).await?;
        let status = self.status(sc_keys::DELETE, version, reply)?;
        check_status(
            status,
            format!("cannot delete {} '{what}'", S::LABEL.to_lowercase()),
        )
    }

    /// Add `count` partitions to `topic`, after its existing ones. The SC places them; a
    /// [`watch`](Self::watch) of topics shows them in the topic's replica map.
    pub async fn add_partitions(&self, topic: &str, count: u32) -> Result<(), ClientError> {
        let version =
            self.socket
                .version_for(sc_keys::UPDATE, MIN_UPDATE_VERSION, MAX_OBJECT_VERSION)?;
        let body = ObjectUpdateRequest::of(UpdateRequest::<TopicSpec>::new(
            topic.to_string(),
            TopicUpdate::AddPartition { count },
        ));
        let reply = self.socket.request(sc_keys::UPDATE, version, &body).await?;
        let status = self.status(sc_keys::UPDATE, version, reply)?;
        check_status(status, format!("cannot add partitions to topic '{topic}'"))
    }

    /// Every object of kind `S` whose name contains one of `filters` (all when empty).
    pub async fn list<S: ObjectSpec>(
        &self,
        filters: &[String],
    ) -> Result<Vec<Metadata<S>>, ClientError> {
        self.list_system(filters, false).await
    }

    /// [`Admin::list`], with system objects (the topic `consumer-offset`) when `system`.
    pub async fn list_system<S: ObjectSpec>(
        &self,
        filters: &[String],
        system: bool,
    ) -> Result<Vec<Metadata<S>>, ClientError> {
        let version =
            self.socket
                .version_for(sc_keys::LIST, MIN_LIST_VERSION, MAX_OBJECT_VERSION)?;
        let mut request = ListRequest::with_names(filters.iter().cloned());
        request.system = system;
        let body = ObjectListRequest::of::<S>(request);
        let reply = self.socket.request(sc_keys::LIST, version, &body).await?;
        match self.decode(sc_keys::LIST, version, reply)? {
            ScResponse::List(list) => S::unwrap_list(list).map_err(|other| {
                self.unexpected(format!(
                    "a {} list in answer to a {} list",
                    other.kind(),
                    S::LABEL
                ))
            }),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// Follow the objects of kind `S`: a full snapshot first, then changes as they happen.
    pub async fn watch<S: ObjectSpec>(&self) -> Result<WatchStream<S>, ClientError> {
        let version =
            self.socket
                .version_for(sc_keys::WATCH, MIN_WATCH_VERSION, MAX_OBJECT_VERSION)?;
        let body = ObjectWatchRequest::of::<S>(WatchRequest::default());
        let frames = self.socket.stream(sc_keys::WATCH, version, &body).await?;
        Ok(WatchStream {
            frames,
            version,
            admin: self.clone(),
            kind: PhantomData,
        })
    }

    /// Each partition's replication state (leader epoch, confirmed in-sync set) for the
    /// partitions whose name contains one of `filters`, or `None` when the SC does not
    /// give it. Only our SC serves the kind; another SC closes the connection a request
    /// for it came on, so it is asked on a connection of its own and the shared one lives
    /// on. Any failure is `None`: callers show what they have, with `-` for the rest.
    pub async fn partition_states(
        &self,
        filters: &[String],
    ) -> Option<Vec<Metadata<PartitionStateSpec>>> {
        let asked = async {
            Admin::connect_with(self.addr(), self.socket.tls())
                .await?
                .list::<PartitionStateSpec>(filters)
                .await
        };
        match asked.await {
            Ok(states) => Some(states),
            Err(err) => {
                tracing::debug!(%err, "the SC gave no partition states");
                None
            }
        }
    }

    /// Follow the partition states, on a connection of their own (see
    /// [`Admin::partition_states`]); the stream ends with an error at once when the SC
    /// does not serve them.
    pub async fn watch_partition_states(
        &self,
    ) -> Result<WatchStream<PartitionStateSpec>, ClientError> {
        Admin::connect_with(self.addr(), self.socket.tls())
            .await?
            .watch::<PartitionStateSpec>()
            .await
    }

    /// The cluster's SCs, which one leads and since when, and the metadata store (the SC
    /// cluster API, ours). Asked on a connection of its own: an SC that predates the API
    /// closes the connection it arrives on.
    pub async fn sc_cluster(addr: &str) -> Result<ScClusterResponse, ClientError> {
        Self::sc_cluster_with(addr, &ClientTls::disabled()).await
    }

    /// [`Self::sc_cluster`] with TLS per `tls`.
    pub async fn sc_cluster_with(
        addr: &str,
        tls: &ClientTls,
    ) -> Result<ScClusterResponse, ClientError> {
        let admin = Admin::connect_with(addr, tls).await?;
        let body = admin
            .socket
            .request(SC_CLUSTER_KEY, SC_CLUSTER_VERSION, &ScClusterRequest {})
            .await?;
        protocol::Decode::from_bytes(&body, SC_CLUSTER_VERSION).map_err(|source| {
            ClientError::BadResponse {
                peer: Peer::Sc,
                addr: admin.addr().to_string(),
                source,
            }
        })
    }

    fn decode(
        &self,
        api_key: u16,
        version: Version,
        body: Bytes,
    ) -> Result<ScResponse, ClientError> {
        ScResponse::decode(api_key, version, &mut Reader::new(&body)).map_err(|source| {
            ClientError::BadResponse {
                peer: Peer::Sc,
                addr: self.addr().to_string(),
                source,
            }
        })
    }

    fn status(&self, api_key: u16, version: Version, body: Bytes) -> Result<Status, ClientError> {
        match self.decode(api_key, version, body)? {
            ScResponse::Create(status)
            | ScResponse::Delete(status)
            | ScResponse::Update(status) => Ok(status),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    fn unexpected(&self, what: String) -> ClientError {
        ClientError::UnexpectedResponse {
            peer: Peer::Sc,
            addr: self.addr().to_string(),
            what,
        }
    }
}

fn check_status(status: Status, action: String) -> Result<(), ClientError> {
    if status.is_ok() {
        Ok(())
    } else {
        Err(ClientError::Refused {
            action,
            code: status.error_code,
            message: status.error_message,
        })
    }
}

/// The updates of one watch, in order.
pub struct WatchStream<S: ObjectSpec> {
    frames: FrameStream,
    version: Version,
    admin: Admin,
    kind: PhantomData<S>,
}

impl<S: ObjectSpec> WatchStream<S> {
    /// The next update; an error when the connection is gone or the frame is unreadable.
    pub async fn next(&mut self) -> Result<MetadataUpdate<S>, ClientError> {
        let body = self.frames.next().await?;
        match self.admin.decode(sc_keys::WATCH, self.version, body)? {
            ScResponse::Watch(update) => S::unwrap_watch(update).map_err(|other| {
                self.admin
                    .unexpected(format!("a {} update on a {} watch", other.kind(), S::LABEL))
            }),
            other => Err(self.admin.unexpected(format!("{other:?}"))),
        }
    }
}
