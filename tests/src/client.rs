//! A minimal blocking SC client for tests: one request at a time over a plain socket,
//! built on the protocol types. (The console's client library will replace it.)

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::api::ApiVersionsRequest;
use protocol::api::sc_keys;
use protocol::sc::{
    AuthTokenCreate, AuthTokenSpec, CreateRequest, CustomSpuSpec, DeleteRequest, Endpoint,
    IngressPort, ListRequest, Metadata, ObjectCreateRequest, ObjectDeleteRequest,
    ObjectListRequest, ObjectListResponse, ObjectWatchRequest, ObjectWatchResponse, PartitionSpec,
    PartitionStatus, ScRequest, SpuSpec, Status, TokenType, TopicSpec, WatchRequest,
};
use protocol::{Decode, Encode, Reader};

pub const VERSION: i16 = protocol::api::SC_API_VERSION;

pub struct ScClient {
    stream: TcpStream,
    next_corr: i32,
}

impl ScClient {
    /// Connect and do the ApiVersions handshake.
    pub fn connect(addr: SocketAddr) -> io::Result<ScClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut client = ScClient {
            stream,
            next_corr: 1,
        };
        let request = ApiVersionsRequest {
            client_version: "0.15.2".into(),
            client_os: "linux".into(),
            client_arch: "x86_64".into(),
        };
        client.call_raw(18, 2, &request)?;
        Ok(client)
    }

    /// Send `body` under `api_key`/`version`; the response body (after the correlation id).
    pub fn call_raw<B: Encode>(
        &mut self,
        api_key: u16,
        version: i16,
        body: &B,
    ) -> io::Result<Vec<u8>> {
        let corr = self.send(api_key, version, body)?;
        loop {
            let (got, body) = self.read_frame()?;
            if got == corr {
                return Ok(body);
            }
        }
    }

    pub fn send<B: Encode>(&mut self, api_key: u16, version: i16, body: &B) -> io::Result<i32> {
        let corr = self.next_corr;
        self.next_corr += 1;
        crate::wire::write_request(&mut self.stream, corr, api_key, version, body)?;
        Ok(corr)
    }

    /// The next frame: correlation id and body.
    pub fn read_frame(&mut self) -> io::Result<(i32, Vec<u8>)> {
        crate::wire::read_response(&mut self.stream)
    }

    fn object_call(&mut self, request: ScRequest) -> io::Result<Vec<u8>> {
        let key = request.api_key();
        self.call_raw(key, VERSION, &request)
    }

    fn status(&mut self, request: ScRequest) -> io::Result<Status> {
        let body = self.object_call(request)?;
        Status::from_bytes(&body, VERSION).map_err(io::Error::other)
    }

    pub fn create_topic(&mut self, name: &str, spec: TopicSpec) -> io::Result<Status> {
        self.status(ScRequest::Create(ObjectCreateRequest::Topic(
            CreateRequest::new(name, spec),
        )))
    }

    pub fn delete_topic(&mut self, name: &str) -> io::Result<Status> {
        self.status(ScRequest::Delete(ObjectDeleteRequest::Topic(
            DeleteRequest::new(name.to_string()),
        )))
    }

    pub fn create_token(
        &mut self,
        name: &str,
        token_type: TokenType,
        min_spu: i32,
        max_spu: i32,
        secret: &str,
    ) -> io::Result<Status> {
        let spec = AuthTokenCreate {
            spec: AuthTokenSpec {
                token_type,
                min_spu,
                max_spu,
            },
            secret: secret.into(),
        };
        self.status(ScRequest::Create(ObjectCreateRequest::AuthToken(
            CreateRequest::new(name, spec),
        )))
    }

    pub fn register_custom_spu(
        &mut self,
        name: &str,
        id: i32,
        public: SocketAddr,
        private: SocketAddr,
    ) -> io::Result<Status> {
        self.register_custom_spu_on_rack(name, id, public, private, None)
    }

    /// [`ScClient::register_custom_spu`] with a rack.
    pub fn register_custom_spu_on_rack(
        &mut self,
        name: &str,
        id: i32,
        public: SocketAddr,
        private: SocketAddr,
        rack: Option<&str>,
    ) -> io::Result<Status> {
        let spec = CustomSpuSpec {
            id,
            public_endpoint: IngressPort::from_host_port(&public.ip().to_string(), public.port()),
            private_endpoint: Endpoint::from_host_port(&private.ip().to_string(), private.port()),
            rack: rack.map(str::to_string),
            public_endpoint_local: None,
        };
        self.status(ScRequest::Create(ObjectCreateRequest::CustomSpu(
            CreateRequest::new(name, spec),
        )))
    }

    pub fn list_topics(&mut self) -> io::Result<Vec<String>> {
        let body = self.object_call(ScRequest::List(ObjectListRequest::Topic(
            Default::default(),
        )))?;
        match ObjectListResponse::from_bytes(&body, VERSION).map_err(io::Error::other)? {
            ObjectListResponse::Topic(items) => Ok(items.into_iter().map(|m| m.name).collect()),
            other => Err(io::Error::other(format!(
                "unexpected list response {other:?}"
            ))),
        }
    }

    /// Every topic, system topics too when `system` (`topic list --system`).
    pub fn list_topics_system(&mut self, system: bool) -> io::Result<Vec<Metadata<TopicSpec>>> {
        let request = ListRequest {
            system,
            ..Default::default()
        };
        let body = self.object_call(ScRequest::List(ObjectListRequest::Topic(request)))?;
        match ObjectListResponse::from_bytes(&body, VERSION).map_err(io::Error::other)? {
            ObjectListResponse::Topic(items) => Ok(items),
            other => Err(io::Error::other(format!(
                "unexpected list response {other:?}"
            ))),
        }
    }

    /// Every partition, those of system topics too when `system`.
    pub fn list_partitions_system(
        &mut self,
        system: bool,
    ) -> io::Result<Vec<Metadata<PartitionSpec>>> {
        let request = ListRequest {
            system,
            ..Default::default()
        };
        let body = self.object_call(ScRequest::List(ObjectListRequest::Partition(request)))?;
        match ObjectListResponse::from_bytes(&body, VERSION).map_err(io::Error::other)? {
            ObjectListResponse::Partition(items) => Ok(items),
            other => Err(io::Error::other(format!(
                "unexpected list response {other:?}"
            ))),
        }
    }

    pub fn list_partitions(&mut self) -> io::Result<Vec<Metadata<PartitionSpec>>> {
        let body = self.object_call(ScRequest::List(ObjectListRequest::Partition(
            Default::default(),
        )))?;
        match ObjectListResponse::from_bytes(&body, VERSION).map_err(io::Error::other)? {
            ObjectListResponse::Partition(items) => Ok(items),
            other => Err(io::Error::other(format!(
                "unexpected list response {other:?}"
            ))),
        }
    }

    /// Poll the partition list until `name` shows `leo` as its leader's log end; its
    /// status then. Panics after 15 s.
    pub fn wait_for_partition_leo(&mut self, name: &str, leo: i64) -> PartitionStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let status = self
                .list_partitions()
                .expect("list partitions")
                .into_iter()
                .find(|p| p.name == name)
                .map(|p| p.status);
            if let Some(status) = &status
                && status.leader.leo == leo
            {
                return status.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "partition {name} never reported leo {leo}: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn list_token_names(&mut self) -> io::Result<Vec<String>> {
        let body = self.object_call(ScRequest::List(ObjectListRequest::AuthToken(
            Default::default(),
        )))?;
        match ObjectListResponse::from_bytes(&body, VERSION).map_err(io::Error::other)? {
            ObjectListResponse::AuthToken(items) => Ok(items.into_iter().map(|m| m.name).collect()),
            other => Err(io::Error::other(format!(
                "unexpected list response {other:?}"
            ))),
        }
    }

    /// The SPUs as the first frame of an SPU watch shows them.
    pub fn watch_spus_snapshot(&mut self) -> io::Result<Vec<Metadata<SpuSpec>>> {
        let request = ScRequest::Watch(ObjectWatchRequest::Spu(WatchRequest::default()));
        let body = self.call_raw(sc_keys::WATCH, VERSION, &request)?;
        let mut reader = Reader::new(&body);
        match ObjectWatchResponse::decode(&mut reader, VERSION).map_err(io::Error::other)? {
            ObjectWatchResponse::Spu(update) => Ok(update.all),
            other => Err(io::Error::other(format!(
                "unexpected watch response {other:?}"
            ))),
        }
    }
}
