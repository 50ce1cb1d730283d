//! Record batches as a consumer reads them: batch headers, CRC, records, every codec's
//! decompression (capped). A batch that decodes re-encodes into a batch whose records
//! decode to the same keys, values and headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::record::{Batch, Compression, Record, batches, decode_records_section};

/// What a consumer sees of a record.
fn seen(records: &[Record]) -> Vec<(i8, i64, Option<&[u8]>, &[u8], Vec<(&str, &[u8])>)> {
    records
        .iter()
        .map(|r| {
            let headers = r
                .headers
                .iter()
                .map(|h| (h.key.as_str(), &h.value[..]))
                .collect();
            (
                r.attributes,
                r.timestamp_delta,
                r.key.as_deref(),
                &r.value[..],
                headers,
            )
        })
        .collect()
}

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for raw in batches(data) {
        let Ok(raw) = raw else { break };
        let _ = raw.verify_crc();
        let Ok(batch) = Batch::from_raw_with_limit(&raw, LIMIT) else {
            continue;
        };
        let Ok(encoded) = batch.encode() else {
            continue;
        };
        let again = batches(&encoded)
            .next()
            .expect("one batch")
            .expect("a batch we encoded parses");
        again
            .verify_crc()
            .expect("a batch we encoded has a good CRC");
        let decoded = Batch::from_raw_with_limit(&again, usize::MAX).expect("re-encoded decodes");
        assert_eq!(seen(&decoded.records), seen(&batch.records));
        assert_eq!(decoded.compression, batch.compression);
    }
    // The records-section decoder straight on the input, under every codec.
    for codec in Compression::ALL {
        let _ = decode_records_section(*codec, data, LIMIT);
    }
});
