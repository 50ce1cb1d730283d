//! A minimal blocking client for an SPU's public port, built on the protocol types: one
//! socket, requests written whole, responses read in order with stream frames kept aside
//! per correlation id. For tests that need exact bytes or exact error codes.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::api::{ApiVersionsRequest, ApiVersionsResponse};
use protocol::record::{Batch, Record, RecordSet};
use protocol::spu::{
    ApiRequest, FetchOffsetsRequest, FetchOffsetsResponse, Isolation, PartitionProduceData,
    PartitionProduceResponse, ProduceRequest, ProduceResponse, StreamFetchRequest,
    StreamFetchResponse, TopicProduceData, UpdateOffsetsRequest, UpdateOffsetsResponse,
};
use protocol::{Decode, Encode};

use crate::client::ScClient;

/// The public address of SPU `id`, as the SC's SPU watch publishes it.
pub fn spu_addr(sc_public: SocketAddr, id: i32) -> SocketAddr {
    let mut sc = ScClient::connect(sc_public).expect("connect to the SC");
    let spus = sc.watch_spus_snapshot().expect("SPU watch");
    let spu = spus
        .iter()
        .find(|s| s.spec.id == id)
        .unwrap_or_else(|| panic!("SPU {id} not in the watch: {spus:?}"));
    spu.spec
        .public_endpoint
        .addr()
        .parse()
        .expect("SPU address parses")
}

/// A batch of `values` (no keys).
pub fn batch_of(values: &[&[u8]]) -> Vec<u8> {
    Batch::from_records(values.iter().map(|v| Record::new(v.to_vec())))
        .encode()
        .expect("encode batch")
}

pub struct SpuClient {
    stream: TcpStream,
    next_corr: i32,
    /// Frames read while waiting for another correlation id.
    parked: HashMap<i32, VecDeque<Vec<u8>>>,
}

impl SpuClient {
    /// Connect and do the ApiVersions handshake (checking the SPU's table).
    pub fn connect(addr: SocketAddr) -> io::Result<SpuClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut client = SpuClient {
            stream,
            next_corr: 1,
            parked: HashMap::new(),
        };
        let request = ApiVersionsRequest {
            client_version: "0.15.2".into(),
            client_os: "linux".into(),
            client_arch: "x86_64".into(),
        };
        let corr = client.send(18, 2, &request)?;
        let body = client.wait(corr)?;
        let versions = ApiVersionsResponse::from_bytes(&body, 2).map_err(io::Error::other)?;
        assert_eq!(versions, ApiVersionsResponse::spu());
        Ok(client)
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Write raw bytes (for bad-input tests).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Send `body` under `api_key`/`version`; returns the correlation id.
    pub fn send<B: Encode>(&mut self, api_key: u16, version: i16, body: &B) -> io::Result<i32> {
        let corr = self.next_corr;
        self.next_corr += 1;
        crate::wire::write_request(&mut self.stream, corr, api_key, version, body)?;
        Ok(corr)
    }

    fn read_frame(&mut self) -> io::Result<(i32, Vec<u8>)> {
        crate::wire::read_response(&mut self.stream)
    }

    /// The next frame for `corr` (response body after the correlation id).
    pub fn wait(&mut self, corr: i32) -> io::Result<Vec<u8>> {
        if let Some(body) = self.parked.get_mut(&corr).and_then(VecDeque::pop_front) {
            return Ok(body);
        }
        loop {
            let (got, body) = self.read_frame()?;
            if got == corr {
                return Ok(body);
            }
            self.parked.entry(got).or_default().push_back(body);
        }
    }

    /// Send a request of type `R` at its version and decode the answer.
    pub fn call<R: ApiRequest>(&mut self, request: &R) -> io::Result<R::Response> {
        let corr = self.send(R::API_KEY, R::VERSION, request)?;
        let body = self.wait(corr)?;
        R::decode_response(&body, R::VERSION).map_err(io::Error::other)
    }

    pub fn produce_request(&mut self, request: &ProduceRequest) -> io::Result<ProduceResponse> {
        self.call(request)
    }

    /// Produce `batches` (wire bytes) to one partition; the single answer entry.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: u32,
        batches: Vec<u8>,
        isolation: Isolation,
    ) -> io::Result<PartitionProduceResponse> {
        let request = ProduceRequest {
            isolation,
            topics: vec![TopicProduceData {
                name: topic.into(),
                partitions: vec![PartitionProduceData {
                    partition_index: partition,
                    records: RecordSet::new(batches),
                }],
            }],
            ..Default::default()
        };
        let mut response = self.produce_request(&request)?;
        let entry = response
            .responses
            .pop()
            .and_then(|mut t| t.partitions.pop())
            .ok_or_else(|| io::Error::other("empty produce response"))?;
        Ok(entry)
    }

    pub fn fetch_offsets(
        &mut self,
        topic: &str,
        partition: u32,
    ) -> io::Result<FetchOffsetsResponse> {
        self.call(&FetchOffsetsRequest::new(topic, partition))
    }

    /// Start a stream; read its frames with [`SpuClient::stream_frame`].
    pub fn stream_fetch(&mut self, request: &StreamFetchRequest) -> io::Result<i32> {
        self.send(
            StreamFetchRequest::API_KEY,
            StreamFetchRequest::VERSION,
            request,
        )
    }

    pub fn stream_frame(&mut self, corr: i32) -> io::Result<StreamFetchResponse> {
        let body = self.wait(corr)?;
        StreamFetchResponse::from_bytes(&body, StreamFetchRequest::VERSION)
            .map_err(io::Error::other)
    }

    pub fn update_offsets(
        &mut self,
        request: &UpdateOffsetsRequest,
    ) -> io::Result<UpdateOffsetsResponse> {
        self.call(request)
    }

    /// Every record of a stream from `offset` until `until` (exclusive), acknowledging
    /// each frame like the official consumer: (offset, value) pairs in order.
    pub fn consume(
        &mut self,
        topic: &str,
        partition: u32,
        offset: i64,
        until: i64,
    ) -> io::Result<Vec<(i64, Vec<u8>)>> {
        let corr = self.stream_fetch(&StreamFetchRequest::new(topic, partition, offset))?;
        let mut out = Vec::new();
        let mut next = offset;
        while next < until {
            let frame = self.stream_frame(corr)?;
            if frame.error_code.is_error() {
                return Err(io::Error::other(format!(
                    "stream error {}",
                    frame.error_code
                )));
            }
            for batch in frame
                .records
                .decode_batches(64 << 20)
                .map_err(io::Error::other)?
            {
                for (i, record) in batch.records.iter().enumerate() {
                    let at = batch.base_offset + i as i64;
                    if at >= offset {
                        out.push((at, record.value.to_vec()));
                    }
                }
                next = batch.base_offset + batch.records.len() as i64;
            }
            let ack = UpdateOffsetsRequest {
                offsets: vec![protocol::spu::OffsetUpdate {
                    offset: next,
                    session_id: frame.stream_id,
                }],
            };
            self.send(
                UpdateOffsetsRequest::API_KEY,
                UpdateOffsetsRequest::VERSION,
                &ack,
            )?;
        }
        Ok(out)
    }
}
