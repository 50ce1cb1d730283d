//! Records and batches: varints, records with headers, batch build then decode with every
//! codec, record sets, and interoperability with the reference C codecs.

use crate::common;

use bytes::Bytes;
use proptest::prelude::*;
use protocol::record::varint::{decode_varint, varint_len, write_varint};
use protocol::record::*;
use protocol::{Decode, Encode};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The records section (`u32 count` + 40 records `value-NN-xxxxxxxxxxxx`, no keys) as the
/// reference tools compress it: `zstd -1` (libzstd 1.5.4, content checksum on), `lz4`
/// (liblz4 1.9.4, frame format) and `gzip`.
const ZSTD_CLI: &str = concat!(
    "28b52ffd6464035504009286181c3055daac8f741dacc92569a0c892a595fd74d50a1000040001400652edd31ed661ce",
    "daac463389c1cba9a555ba19f3aedc534a4e90ba9c9aa4230cc28fe5d8863272818ac34443f48119b8b0083b50410610",
    "f0f34bd55d151a894024eaff79fa1f4fa811d0afec77e0e7104ebc4022893e9ed5103eb015bac3c256e80e0b5ba171ff",
    "a72aaf2aade25d8a",
);
const LZ4_CLI: &str = concat!(
    "04224d186440a73f010000f7050000002836000000002a76616c75652d30302d7801005500360000021c001d311c0015",
    "041c001d321c0015061c001d331c0015081c001d341c00150a1c001d351c00150c1c001d361c00150e1c001d371c0015",
    "101c001d381c0015121c001d391c0014141c001e31180115161c000e180115181c000e1801151a1c000e1801151c1c00",
    "0e1801151e1c000e180115201c000e180115221c000e180115241c000e180115261c000e180114281c001e321801152a",
    "1c000e1801152c1c000e1801152e1c000e180115301c000e180115321c000e180115341c000e180115361c000e180115",
    "381c000e1801153a1c000e1801143c1c001e331801153e1c000e180115401c000e180115421c000e180115441c000e18",
    "0115461c000e180115481c000e1801154a1c000e1801154c1c000e1801154e1c0006180150787878780000000000b729",
    "6ec2",
);
const GZIP_CLI: &str = concat!(
    "1f8b0808e917066b000373656334302e62696e0065d04d0b01610000e13749922449922449125a8bf591244992fc0707",
    "3757f2f3b9ec2433d7e73621847e12be0d5eb7c7f33e8aa2d1fba7f0b50c369165b15896c3a6b23c369315b0b9ac8825",
    "b212b69095b1a5ac82ad64d5d426fe52c3fca58ef94b03f39726e62f2dcc5fda98bf74307fe962fed2c3fca59f5aec2f",
    "03cc5f8698bf8c317f89307f89317f9961fe9260feb2c4fc658df9cb26b5a9bf6c317fd961feb2c7fce580f9cb11f397",
    "13e62f67cc5f2e98bf5cb1bf2f1f3187cee164040000",
);

fn forty_records() -> Vec<Record> {
    (0..40)
        .map(|i| Record {
            offset_delta: i,
            ..Record::new(format!("value-{i:02}-xxxxxxxxxxxx").into_bytes())
        })
        .collect()
}

fn small_batch() -> impl Strategy<Value = Batch> {
    (
        any::<Compression>(),
        proptest::collection::vec(any::<Record>(), 0..8),
        any::<i64>(),
        proptest::option::of(any::<u32>()),
        0i64..2_000_000_000_000,
    )
        .prop_map(|(compression, records, base_offset, schema_id, now)| {
            let mut batch = Batch::new()
                .with_compression(compression)
                .with_timestamp(now);
            batch.base_offset = base_offset;
            batch.schema_id = schema_id;
            for record in records {
                batch.push(record);
            }
            batch
        })
}

proptest! {
    #[test]
    fn varint_round_trip(value in any::<i64>()) {
        let mut bytes = Vec::new();
        write_varint(&mut bytes, value);
        prop_assert_eq!(bytes.len(), varint_len(value));
        prop_assert_eq!(decode_varint(&bytes), Ok((value, bytes.len())));
    }

    #[test]
    fn varint_i32_values_fit_five_bytes(value in any::<i32>()) {
        prop_assert!(varint_len(value.into()) <= 5);
    }

    /// Whatever decodes is canonical: it re-encodes to exactly the bytes consumed.
    #[test]
    fn varint_decoding_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
        if let Ok((value, len)) = decode_varint(&bytes) {
            let mut again = Vec::new();
            write_varint(&mut again, value);
            prop_assert_eq!(&again[..], &bytes[..len]);
        }
    }

    #[test]
    fn record_round_trip(record in any::<Record>()) {
        let bytes = record.to_bytes(0).unwrap();
        prop_assert_eq!(bytes.len(), record.encoded_len());
        prop_assert_eq!(Record::from_bytes(&bytes, 0).unwrap(), record);
    }

    #[test]
    fn record_with_headers_round_trip(value in proptest::collection::vec(any::<u8>(), 0..300), headers in proptest::collection::vec(("[a-z]{0,8}", proptest::collection::vec(any::<u8>(), 0..40)), 1..5)) {
        let mut record = Record::new(value);
        for (key, value) in headers {
            record = record.header(key, value);
        }
        let bytes = record.to_bytes(0).unwrap();
        prop_assert_eq!(Record::from_bytes(&bytes, 0).unwrap(), record);
    }

    /// Build then decode, with every codec: same batch back, CRC correct, header fields
    /// derived.
    #[test]
    fn batch_build_then_decode(batch in small_batch()) {
        let bytes = batch.encode().unwrap();
        let raw = batches(&bytes).next().unwrap().unwrap();
        raw.verify_crc().unwrap();
        prop_assert_eq!(raw.header.total_len(), bytes.len());
        prop_assert_eq!(raw.header.record_count(), batch.len() as i64);
        prop_assert_eq!(raw.header.compression_bits(), batch.compression.tag());
        prop_assert_eq!(Batch::decode(&bytes).unwrap(), batch);
    }

    /// Arbitrary batches (any header values) survive too.
    #[test]
    fn arbitrary_batch_round_trip(batch in any::<Batch>()) {
        let bytes = batch.encode().unwrap();
        prop_assert_eq!(Batch::decode(&bytes).unwrap(), batch);
    }

    /// A batch written record by record is byte for byte the batch value's encoding, and
    /// decodes (sliced from shared bytes) to the records pushed.
    #[test]
    fn batch_writer_matches_batch_encode(
        compression in any::<Compression>(),
        records in proptest::collection::vec(any::<Record>(), 1..8),
        stamps in proptest::collection::vec(0i64..2_000_000_000_000, 8),
    ) {
        let mut writer = BatchWriter::with_capacity(64, compression);
        let mut batch = Batch::new().with_compression(compression);
        for (record, at) in records.iter().zip(&stamps) {
            writer.push(record.clone(), *at).unwrap();
            batch.push_at(record.clone(), *at);
        }
        let bytes = writer.finish().unwrap();
        prop_assert_eq!(&bytes[..], &batch.encode().unwrap()[..]);
        let set = RecordSet::new(bytes);
        prop_assert_eq!(set.decode_batches(1 << 24).unwrap(), vec![batch]);
    }

    #[test]
    fn record_set_of_batches(batches_in in proptest::collection::vec(small_batch(), 0..4)) {
        let set = RecordSet::from_batch_values(&batches_in).unwrap();
        prop_assert_eq!(set.validate().unwrap(), batches_in.len());
        prop_assert_eq!(set.decode_batches(1 << 20).unwrap(), batches_in);
        let bytes = set.to_bytes(24).unwrap();
        prop_assert_eq!(<RecordSet as Decode>::from_bytes(&bytes, 24).unwrap(), set);
    }
}

#[test]
fn records_headers_and_empty_keys_survive_every_codec() {
    for codec in Compression::ALL.iter().copied() {
        let mut batch = Batch::new()
            .with_compression(codec)
            .with_timestamp(1_700_000_000_000);
        batch.push_at(
            Record::with_key(Bytes::new(), &b"empty key"[..]),
            1_700_000_000_001,
        );
        batch.push_at(
            Record::new(&b"with headers"[..])
                .header("content-type", &b"text/plain"[..])
                .header("trace", &[0u8, 1, 2][..]),
            1_700_000_000_002,
        );
        batch.push(Record::new(vec![7u8; 10_000]));
        let bytes = batch.encode().unwrap();
        let decoded = Batch::decode(&bytes).unwrap();
        assert_eq!(decoded, batch, "{codec:?}");
        let stamps: Vec<_> = decoded.iter().map(|r| (r.offset, r.timestamp)).collect();
        assert_eq!(
            stamps,
            [
                (0, 1_700_000_000_001),
                (1, 1_700_000_000_002),
                (2, 1_700_000_000_000)
            ]
        );
        if codec != Compression::None {
            assert!(
                bytes.len() < 5_000,
                "{codec:?} did not compress: {}",
                bytes.len()
            );
        }
    }
}

#[test]
fn reference_codec_output_decodes() {
    let plain = {
        let mut section = Vec::new();
        forty_records().encode(&mut section, 0).unwrap();
        section
    };
    for (codec, data) in [
        (Compression::Zstd, hex(ZSTD_CLI)),
        (Compression::Lz4, hex(LZ4_CLI)),
        (Compression::Gzip, hex(GZIP_CLI)),
    ] {
        assert_eq!(
            codec.decompress(&data, 1 << 20).unwrap(),
            plain,
            "{codec:?}"
        );
        let records = decode_records_section(codec, &data, 1 << 20).unwrap();
        assert_eq!(records, forty_records());
        // One byte under the real size is refused.
        assert!(matches!(
            codec.decompress(&data, plain.len() - 1),
            Err(CompressionError::TooLarge { .. })
        ));
    }
}

#[test]
fn concatenated_zstd_frames_decode() {
    let one = hex(ZSTD_CLI);
    let mut two = one.clone();
    two.extend_from_slice(&one);
    let out = Compression::Zstd.decompress(&two, 1 << 20).unwrap();
    assert_eq!(
        out.len(),
        2 * Compression::Zstd.decompress(&one, 1 << 20).unwrap().len()
    );
}

#[test]
fn gzip_capture_batches() {
    let frames = common::load("exp_gzip.log");
    let mut seen = 0;
    for frame in frames.iter().filter(|f| f.is_request && f.api_key == 0) {
        // Produce request: header, then the body; find the batches via the SPU types.
        let (_, request) = protocol::spu::SpuRequest::decode_frame(frame.body()).unwrap();
        let protocol::spu::SpuRequest::Produce(produce) = request else {
            continue;
        };
        for (_, partition) in produce.entries() {
            for raw in partition.records.batches() {
                let raw = raw.unwrap();
                raw.verify_crc().unwrap();
                assert_eq!(raw.header.compression_bits(), 1);
                let batch = raw.decode().unwrap();
                assert_eq!(batch.compression, Compression::Gzip);
                for record in batch.iter() {
                    let value = String::from_utf8(record.record.value.to_vec()).unwrap();
                    assert!(value.starts_with("value-"), "{value}");
                    seen += 1;
                }
            }
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn varint_extremes() {
    for value in [
        0,
        -1,
        1,
        i64::from(i32::MIN),
        i64::from(i32::MAX),
        i64::from(i32::MIN) - 1,
        i64::from(i32::MAX) + 1,
        i64::MIN,
        i64::MAX,
    ] {
        let mut bytes = Vec::new();
        write_varint(&mut bytes, value);
        assert_eq!(decode_varint(&bytes), Ok((value, bytes.len())), "{value}");
    }
    let mut bytes = Vec::new();
    write_varint(&mut bytes, i64::from(i32::MIN));
    assert_eq!(bytes, [0xff, 0xff, 0xff, 0xff, 0x0f]);
}

#[test]
fn serde_json_round_trip() {
    let mut batch =
        Batch::from_records([Record::with_key(&b"k"[..], &b"v"[..]).header("h", &b"x"[..])]);
    batch.compression = Compression::Gzip;
    let json = serde_json::to_string(&batch).unwrap();
    assert_eq!(serde_json::from_str::<Batch>(&json).unwrap(), batch);
    let set = RecordSet::from_batch_values([&batch]).unwrap();
    let json = serde_json::to_string(&set).unwrap();
    assert_eq!(serde_json::from_str::<RecordSet>(&json).unwrap(), set);
}
