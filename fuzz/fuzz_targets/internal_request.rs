//! The private ports' request decoders (SPU -> SC and SPU -> SPU): any bytes give a
//! request or a typed error, and a decoded request re-encodes into bytes that decode to
//! the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::api::encode_request_frame;
use protocol::internal::{ScPrivateRequest, SpuPrivateRequest};

fuzz_target!(|body: &[u8]| {
    if let Ok((header, request)) = ScPrivateRequest::decode_frame(body) {
        let frame = encode_request_frame(&header, &request).expect("re-encodes");
        let again = ScPrivateRequest::decode_frame(&frame[4..]).expect("re-encoded decodes");
        assert_eq!(again, (header, request));
    }
    if let Ok((header, request)) = SpuPrivateRequest::decode_frame(body) {
        let frame = encode_request_frame(&header, &request).expect("re-encodes");
        let again = SpuPrivateRequest::decode_frame(&frame[4..]).expect("re-encoded decodes");
        assert_eq!(again, (header, request));
    }
});
