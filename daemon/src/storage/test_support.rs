//! Building valid record batches for tests and benchmarks, without the protocol crate's
//! record encoder (a test helper, kept small and independent on purpose).
//!
//! A record: varint length of the rest, i8 attributes, varint timestamp delta, varint offset
//! delta, key (presence byte 0/1, then varint length and bytes), varint value length and
//! bytes, varint header count (0). Varints are zig-zag LEB128. The records section is a u32
//! count followed by the records.

use protocol::record::batch::{BATCH_PREAMBLE_LEN, BatchHeader, compute_crc};

/// Zig-zag LEB128, as record fields are encoded.
pub fn put_varint(value: i64, out: &mut Vec<u8>) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One record's bytes.
pub fn record(
    key: Option<&[u8]>,
    value: &[u8],
    offset_delta: i64,
    timestamp_delta: i64,
) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    put_varint(timestamp_delta, &mut body);
    put_varint(offset_delta, &mut body);
    match key {
        Some(key) => {
            body.push(1);
            put_varint(key.len() as i64, &mut body);
            body.extend_from_slice(key);
        }
        None => body.push(0),
    }
    put_varint(value.len() as i64, &mut body);
    body.extend_from_slice(value);
    put_varint(0, &mut body); // headers
    let mut out = Vec::with_capacity(body.len() + 5);
    put_varint(body.len() as i64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// A batch (base offset 0) of `(key, value)` records, all stamped `timestamp` (ms).
pub fn batch(records: &[(Option<&[u8]>, &[u8])], timestamp: i64) -> Vec<u8> {
    assert!(!records.is_empty(), "a batch holds at least one record");
    let mut section = Vec::new();
    section.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for (i, (key, value)) in records.iter().enumerate() {
        section.extend_from_slice(&record(*key, value, i as i64, 0));
    }
    let mut header = BatchHeader {
        last_offset_delta: records.len() as i32 - 1,
        first_timestamp: timestamp,
        max_time_stamp: timestamp,
        ..BatchHeader::default()
    };
    let mut out = Vec::with_capacity(57 + section.len());
    header.batch_len = (57 - BATCH_PREAMBLE_LEN + section.len()) as i32;
    header.write(&mut out);
    out.extend_from_slice(&section);
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// A batch of keyless records with the given values.
pub fn batch_with_values(values: &[Vec<u8>], timestamp: i64) -> Vec<u8> {
    let records: Vec<(Option<&[u8]>, &[u8])> =
        values.iter().map(|v| (None, v.as_slice())).collect();
    batch(&records, timestamp)
}

/// A small deterministic generator (xorshift64*), so tests need no RNG crate and failures
/// replay from the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// A batch of 1 to `max_records` records with random values of up to `max_value` bytes.
pub fn random_batch(rng: &mut Rng, max_records: u64, max_value: u64, timestamp: i64) -> Vec<u8> {
    let records = rng.range(1, max_records);
    let values: Vec<Vec<u8>> = (0..records)
        .map(|_| {
            let len = rng.range(0, max_value) as usize;
            rng.bytes(len)
        })
        .collect();
    batch_with_values(&values, timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::record::batch::batches;

    #[test]
    fn varints_match_the_zigzag_encoding() {
        let cases: [(i64, &[u8]); 6] = [
            (0, &[0]),
            (-1, &[1]),
            (1, &[2]),
            (63, &[0x7e]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(value, &mut out);
            assert_eq!(out, bytes, "{value}");
        }
    }

    /// The same bytes the official client sent for `producer.send(b"k1", b"hello")`, once
    /// the timestamp is the captured one.
    #[test]
    fn matches_a_captured_batch() {
        let captured = concat!(
            "000000000000000000000040ffffffff02fe85cec0000000000000000001a20a",
            "f9adea000001a20af9adeaffffffffffffffffffffffffffff000000011c0000",
            "0001046b310a68656c6c6f00",
        );
        let expected: Vec<u8> = (0..captured.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&captured[i..i + 2], 16).unwrap())
            .collect();
        let ts = i64::from_be_bytes(expected[27..35].try_into().unwrap());
        let built = batch(&[(Some(b"k1"), b"hello")], ts);
        assert_eq!(built, expected);
        let parsed = batches(&built).next().unwrap().unwrap();
        parsed.verify_crc().unwrap();
    }
}
