//! The SC public port's request decoder: any bytes give a request or a typed error, and a
//! decoded request re-encodes into bytes that decode to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::api::encode_request_frame;
use protocol::sc::ScRequest;

fuzz_target!(|body: &[u8]| {
    let Ok((header, request)) = ScRequest::decode_frame(body) else {
        return;
    };
    let frame = encode_request_frame(&header, &request).expect("a decoded request re-encodes");
    let (header2, request2) = ScRequest::decode_frame(&frame[4..]).expect("re-encoded decodes");
    assert_eq!(header2, header);
    assert_eq!(request2, request);
});
