//! Whole frames: a request (size, header, body) or a response (size, correlation id, body).

use crate::api::RequestHeader;
use crate::codec::{Encode, EncodeError, Version};

fn finish_frame(mut frame: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    let body_len = frame.len() - 4;
    let size = i32::try_from(body_len).map_err(|_| EncodeError::TooLong {
        what: "frame",
        len: body_len,
        max: i32::MAX as usize,
    })?;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(frame)
}

/// One request frame, size prefix included: `header`, then `body` encoded at the header's
/// `api_version`.
pub fn encode_request_frame<B: Encode + ?Sized>(
    header: &RequestHeader,
    body: &B,
) -> Result<Vec<u8>, EncodeError> {
    let mut frame = vec![0u8; 4];
    header.write(&mut frame)?;
    body.encode(&mut frame, header.api_version)?;
    finish_frame(frame)
}

/// One response frame, size prefix included: the request's correlation id, then `body`
/// encoded at `version`, the version of the request it answers.
pub fn encode_response_frame<B: Encode + ?Sized>(
    correlation_id: i32,
    body: &B,
    version: Version,
) -> Result<Vec<u8>, EncodeError> {
    let mut frame = vec![0u8; 4];
    super::write_response_header(&mut frame, correlation_id);
    body.encode(&mut frame, version)?;
    finish_frame(frame)
}
