//! What the SPU ports answer today: ApiVersions. Other requests close the connection
//! (produce, fetch and replication arrive with the next issues).

use std::net::SocketAddr;

use protocol::api::versions::API_VERSIONS_KEY;
use protocol::api::{ApiVersionsRequest, ApiVersionsResponse};

use crate::net::{Request, RequestError, ResponseSink, Service};

pub struct ApiVersionsOnly;

impl Service for ApiVersionsOnly {
    type Session = ResponseSink;

    fn open(&self, _peer: SocketAddr, sink: ResponseSink) -> ResponseSink {
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
