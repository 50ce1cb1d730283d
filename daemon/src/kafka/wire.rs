//! The Kafka framing details our generic connection loop does not know: request headers
//! v2 carry tagged fields after the client id, response headers v1 end with (empty) tagged
//! fields, and each API has its own header versions. Message bodies are the
//! `kafka-protocol` crate's generated schemas.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::net::{Request, RequestError};

/// One Kafka request as the listener sees it: header fields and the body, positioned
/// after the header's tagged fields.
#[derive(Debug, Clone)]
pub struct KafkaRequest {
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub body: Bytes,
}

impl KafkaRequest {
    /// Take over a request read by the connection loop (whose header layout is Kafka's
    /// request header v1: key, version, correlation id, client id).
    pub fn from_request(request: Request) -> Result<Self, RequestError> {
        let header = request.header;
        let mut request = KafkaRequest {
            api_key: header.api_key as i16,
            version: header.api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id,
            body: request.body,
        };
        if let Ok(key) = ApiKey::try_from(request.api_key)
            && key.valid_versions().min <= request.version
            && request.version <= key.valid_versions().max
            && key.request_header_version(request.version) >= 2
        {
            skip_tagged_fields(&mut request.body).map_err(|what| request.malformed(what))?;
        }
        Ok(request)
    }

    /// Decode the body as `T` at the request's version.
    pub fn decode<T: Decodable>(&self) -> Result<T, RequestError> {
        let mut body = self.body.clone();
        T::decode(&mut body, self.version).map_err(|err| self.malformed(&err.to_string()))
    }

    fn malformed(&self, what: &str) -> RequestError {
        RequestError::MalformedKafka {
            api_key: self.api_key,
            version: self.version,
            reason: what.to_string(),
        }
    }
}

/// Skip a tagged-field section: a count, then per field a tag, a size and the bytes.
fn skip_tagged_fields(body: &mut Bytes) -> Result<(), &'static str> {
    let count = read_uvarint(body)?;
    for _ in 0..count {
        let _tag = read_uvarint(body)?;
        let size = read_uvarint(body)? as usize;
        if body.remaining() < size {
            return Err("a tagged field in the request header runs past the frame");
        }
        body.advance(size);
    }
    Ok(())
}

fn read_uvarint(body: &mut Bytes) -> Result<u32, &'static str> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        if !body.has_remaining() {
            return Err("the request header ends inside a varint");
        }
        let byte = body.get_u8();
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint in the request header is longer than 5 bytes")
}

/// A whole response frame (size prefix included) for `response` at `version`.
pub fn response_frame<P: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &P,
) -> Result<Bytes, RequestError> {
    let header_version = P::header_version(version);
    let body_len = response.compute_size(version).map_err(encode_error)?;
    let mut frame = BytesMut::with_capacity(4 + 4 + 1 + body_len);
    frame.put_i32(0);
    frame.put_i32(correlation_id);
    if header_version >= 1 {
        // No tagged fields in our response headers.
        frame.put_u8(0);
    }
    response.encode(&mut frame, version).map_err(encode_error)?;
    let size = i32::try_from(frame.len() - 4).map_err(|_| protocol::EncodeError::TooLong {
        what: "Kafka response frame",
        len: frame.len() - 4,
        max: i32::MAX as usize,
    })?;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(frame.freeze())
}

/// The frame that answers a request we do not serve (unknown api key or version): the
/// correlation id and Kafka's UNSUPPORTED_VERSION (35) where every response with an
/// error code at its front would have it. Clients that asked ApiVersions first never
/// send such a request; the answer tells the others what went wrong rather than closing
/// the connection under them.
pub fn unsupported_frame(correlation_id: i32) -> Bytes {
    let mut frame = BytesMut::with_capacity(10);
    frame.put_i32(6);
    frame.put_i32(correlation_id);
    frame.put_i16(ResponseError::UnsupportedVersion.code());
    frame.freeze()
}

fn encode_error(err: impl std::fmt::Display) -> RequestError {
    RequestError::EncodeKafka(err.to_string())
}
