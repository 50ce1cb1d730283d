//! The records of one partition in a produce request or a fetch response: an `i32` byte
//! length, then that many bytes of batches laid end to end.
//!
//! The bytes are kept as they arrived ([`Bytes`], cheap to clone and slice): a server reads
//! the batch headers ([`RecordSet::batches`]), stores and forwards the bytes, and never
//! re-encodes them.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::batch::{BatchError, BatchIter, batches};
use super::memory::{Batch, RecordError};
use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader, Version};

/// Concatenated record batches, opaque.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct RecordSet(
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::record::entry::arbitrary_bytes(96)")
    )]
    Bytes,
);

impl fmt::Debug for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.batches().count();
        f.debug_struct("RecordSet")
            .field("bytes", &self.0.len())
            .field("batches", &count)
            .finish()
    }
}

impl RecordSet {
    /// Wrap bytes as they are; nothing is checked (see [`RecordSet::validate`]).
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// Concatenate wire batches.
    pub fn from_batches<B: AsRef<[u8]>>(batches: impl IntoIterator<Item = B>) -> Self {
        let mut out = Vec::new();
        for batch in batches {
            out.extend_from_slice(batch.as_ref());
        }
        Self(out.into())
    }

    /// Encode batches (see [`Batch::encode`]) and concatenate them.
    pub fn from_batch_values<'a>(
        batches: impl IntoIterator<Item = &'a Batch>,
    ) -> Result<Self, RecordError> {
        let mut out = Vec::new();
        for batch in batches {
            out.extend_from_slice(&batch.encode()?);
        }
        Ok(Self(out.into()))
    }

    /// The raw bytes of the batches.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Byte length of the batches.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Walk the batches. Yields an error and stops at the first malformed one.
    pub fn batches(&self) -> BatchIter<'_> {
        batches(&self.0)
    }

    /// Check that the bytes are whole, well-formed batches with correct CRCs, and count
    /// them.
    pub fn validate(&self) -> Result<usize, BatchError> {
        let mut count = 0;
        for batch in self.batches() {
            batch?.verify_crc()?;
            count += 1;
        }
        Ok(count)
    }

    /// The leader's offset assignment: a copy of the set with each batch's base offset
    /// rewritten, consecutively from `first_offset` (each batch takes `last_offset_delta + 1`
    /// offsets). Returns the new set and the offset after it. The base offset is outside
    /// the CRC, so CRCs stay valid. Fails, changing nothing, if any batch is malformed or the
    /// bytes do not end on a batch boundary.
    pub fn assign_offsets(&self, first_offset: i64) -> Result<(RecordSet, i64), BatchError> {
        let mut out = self.0.to_vec();
        let mut next = first_offset;
        let mut starts = Vec::new();
        let mut at = 0;
        for batch in self.batches() {
            let batch = batch?;
            starts.push((next, at));
            at += batch.bytes.len();
            next = next.saturating_add(batch.header.record_count());
        }
        for (base, at) in starts {
            super::batch::set_base_offset(&mut out[at..], base);
        }
        Ok((RecordSet(out.into()), next))
    }

    /// The offset after the last record of the last batch, as the headers say (`None` for
    /// an empty or malformed set).
    pub fn next_offset(&self) -> Option<i64> {
        let mut next = None;
        for batch in self.batches() {
            next = Some(batch.ok()?.header.next_offset());
        }
        next
    }

    /// Decode every batch into its records, each batch's decompressed records section
    /// bounded by `max_decompressed` bytes.
    /// The records' keys and values are slices of this set's bytes, not copies.
    pub fn decode_batches(&self, max_decompressed: usize) -> Result<Vec<Batch>, RecordError> {
        self.batches()
            .map(|raw| Batch::from_raw_shared(&raw?, &self.0, max_decompressed))
            .collect()
    }
}

impl From<Bytes> for RecordSet {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for RecordSet {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }
}

impl Encode for RecordSet {
    fn encode(&self, dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
        let len = i32::try_from(self.0.len()).map_err(|_| EncodeError::TooLong {
            what: "record set",
            len: self.0.len(),
            max: i32::MAX as usize,
        })?;
        dst.extend_from_slice(&len.to_be_bytes());
        dst.extend_from_slice(&self.0);
        Ok(())
    }
}

impl Decode for RecordSet {
    const MIN_WIRE_SIZE: usize = 4;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let len = i32::decode(src, version)?;
        if len < 0 {
            return Err(DecodeError::Invalid {
                what: "record set",
                reason: "negative length",
            });
        }
        Ok(Self(src.take_bytes(len as usize, "record set")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    #[test]
    fn wire_form_is_length_then_bytes() {
        let set = RecordSet::new(vec![1, 2, 3]);
        assert_eq!(set.to_bytes(0).unwrap(), [0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(RecordSet::new(vec![0u8; 4]).len(), 4);
        assert_eq!(
            RecordSet::new(Vec::new()).to_bytes(0).unwrap(),
            [0, 0, 0, 0]
        );
        assert!(<RecordSet as Decode>::from_bytes(&[0xff, 0xff, 0xff, 0xff], 0).is_err());
        assert!(<RecordSet as Decode>::from_bytes(&[0, 0, 0, 2, 1], 0).is_err());
    }

    #[test]
    fn decoded_records_slice_the_set_and_a_shared_frame() {
        let mut record = Record::with_key(&b"key"[..], vec![9u8; 300]);
        record
            .headers
            .push(crate::record::RecordHeader::new("h", &b"hv"[..]));
        let set = RecordSet::from_batch_values([&Batch::from_records([record.clone()])]).unwrap();
        let within = |bytes: &Bytes, outer: &Bytes| {
            let (start, end) = (
                outer.as_ptr() as usize,
                outer.as_ptr() as usize + outer.len(),
            );
            (start..end).contains(&(bytes.as_ptr() as usize))
        };
        let decoded = set.decode_batches(1 << 20).unwrap();
        let value = &decoded[0].records[0].value;
        assert_eq!(decoded[0].records[0], record);
        assert!(within(value, set.as_bytes()));
        // Decoded from a frame through a shared reader, the set itself is a slice.
        let frame = Bytes::from(set.to_bytes(0).unwrap());
        let again = RecordSet::decode(&mut Reader::shared(&frame), 0).unwrap();
        assert!(within(again.as_bytes(), &frame));
        let value = &again.decode_batches(1 << 20).unwrap()[0].records[0].value;
        assert!(within(value, &frame));
        // A plain reader copies.
        let copied = RecordSet::decode(&mut Reader::new(&frame), 0).unwrap();
        assert!(!within(copied.as_bytes(), &frame));
        assert_eq!(copied, again);
    }

    #[test]
    fn batches_in_and_out() {
        let mut first = Batch::from_records([Record::new(&b"a"[..]), Record::new(&b"b"[..])]);
        first.base_offset = 10;
        let mut second = Batch::from_records([Record::new(&b"c"[..])]);
        second.base_offset = 12;
        let set = RecordSet::from_batch_values([&first, &second]).unwrap();
        assert_eq!(set.validate(), Ok(2));
        assert_eq!(set.next_offset(), Some(13));
        assert_eq!(set.decode_batches(1 << 20).unwrap(), vec![first, second]);
        let again = RecordSet::from_batches(set.batches().map(|b| b.unwrap().bytes));
        assert_eq!(again, set);
        assert!(format!("{set:?}").contains("batches: 2"));
    }

    #[test]
    fn assigning_offsets_keeps_crcs() {
        let two = Batch::from_records([Record::new(&b"a"[..]), Record::new(&b"b"[..])]);
        let one = Batch::from_records([Record::new(&b"c"[..])]);
        let set = RecordSet::from_batch_values([&two, &one]).unwrap();
        let (assigned, next) = set.assign_offsets(100).unwrap();
        assert_eq!(next, 103);
        assert_eq!(assigned.validate(), Ok(2));
        let bases: Vec<_> = assigned
            .batches()
            .map(|b| b.unwrap().header.base_offset)
            .collect();
        assert_eq!(bases, [100, 102]);
        assert_eq!(assigned.len(), set.len());
        // A torn tail is refused.
        let torn = RecordSet::new(set.as_bytes().slice(..set.len() - 1));
        assert!(torn.assign_offsets(0).is_err());
        assert_eq!(RecordSet::default().assign_offsets(5).unwrap().1, 5);
    }
}
