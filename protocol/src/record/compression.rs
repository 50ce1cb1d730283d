//! Record batch compression: the codec named by the batch attributes' low three bits
//! (see [`crate::record::batch`]) compresses the records section, `u32 count` included,
//! so unlike Kafka the count sits inside the compressed bytes.
//!
//! | batch code | codec | format |
//! |---|---|---|
//! | 0 | none | |
//! | 1 | gzip | RFC 1952, one member (flate2, miniz_oxide backend) |
//! | 2 | snappy | the *framed* format (snap `FrameEncoder`/`FrameDecoder`) |
//! | 3 | lz4 | the LZ4 *frame* format (lz4_flex) |
//! | 4 | zstd | zstd frames (ruzstd; written at its "fastest" level, roughly zstd level 1) |
//!
//! Note that topics number codecs differently (zstd is 5 there); see
//! [`Compression::from_topic`].
//!
//! Decompression is always bounded: it stops with [`CompressionError::TooLarge`] as soon as
//! the output would exceed the caller's limit, so a small hostile input cannot make us
//! allocate more than that limit. The codecs are behind the default-on `compression` cargo
//! feature; without it only [`Compression::None`] works and the others are
//! [`CompressionError::Unsupported`].

use crate::sc::CompressionAlgorithm;
use crate::wire_enum;

/// The default cap on a batch's decompressed records section: the largest frame we accept.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = crate::frame::DEFAULT_MAX_FRAME_BYTES;

wire_enum! {
    /// A batch's compression codec (batch numbering: zstd is 4).
    pub enum Compression: u8 {
        None = 0,
        Gzip = 1,
        Snappy = 2,
        Lz4 = 3,
        Zstd = 4,
    }
}

impl CompressionAlgorithm {
    /// Lowercase name, as `topic create --compression-type` takes it.
    pub fn name(self) -> &'static str {
        match self {
            CompressionAlgorithm::Any => "any",
            CompressionAlgorithm::None => "none",
            CompressionAlgorithm::Gzip => "gzip",
            CompressionAlgorithm::Snappy => "snappy",
            CompressionAlgorithm::Lz4 => "lz4",
            CompressionAlgorithm::Zstd => "zstd",
        }
    }
}

/// Why a records section could not be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    #[error("unknown batch compression code {0}")]
    UnknownCodec(u8),
    #[error(
        "{0:?} compression is not available (protocol built without the `compression` feature)"
    )]
    Unsupported(Compression),
    #[error("decompressed {codec:?} data exceeds the limit of {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
    #[error("corrupt {codec:?} data: {reason}")]
    Corrupt { codec: Compression, reason: String },
}

impl Compression {
    /// The codec a batch's attributes name.
    pub fn from_attributes(attributes: i16) -> Result<Self, CompressionError> {
        let bits = (attributes & super::batch::COMPRESSION_MASK) as u8;
        Self::from_tag(bits).ok_or(CompressionError::UnknownCodec(bits))
    }

    /// The codec a topic's setting imposes on producers, or `None` for `Any` (the producer
    /// chooses).
    pub fn from_topic(topic: CompressionAlgorithm) -> Option<Self> {
        match topic {
            CompressionAlgorithm::Any => None,
            CompressionAlgorithm::None => Some(Compression::None),
            CompressionAlgorithm::Gzip => Some(Compression::Gzip),
            CompressionAlgorithm::Snappy => Some(Compression::Snappy),
            CompressionAlgorithm::Lz4 => Some(Compression::Lz4),
            CompressionAlgorithm::Zstd => Some(Compression::Zstd),
        }
    }

    /// The topic setting that names this codec.
    pub fn to_topic(self) -> CompressionAlgorithm {
        match self {
            Compression::None => CompressionAlgorithm::None,
            Compression::Gzip => CompressionAlgorithm::Gzip,
            Compression::Snappy => CompressionAlgorithm::Snappy,
            Compression::Lz4 => CompressionAlgorithm::Lz4,
            Compression::Zstd => CompressionAlgorithm::Zstd,
        }
    }

    /// Lowercase name, as users type it (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parse a lowercase codec name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Is this codec usable in this build?
    pub fn is_available(self) -> bool {
        self == Compression::None || cfg!(feature = "compression")
    }

    /// Compress `data` with this codec. `None` returns the data unchanged.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        match self {
            Compression::None => Ok(data.to_vec()),
            #[cfg(feature = "compression")]
            codec => codecs::compress(codec, data),
            #[cfg(not(feature = "compression"))]
            codec => Err(CompressionError::Unsupported(codec)),
        }
    }

    /// Decompress `data`, failing once the output would pass `limit` bytes.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
        match self {
            Compression::None => {
                if data.len() > limit {
                    Err(CompressionError::TooLarge { codec: self, limit })
                } else {
                    Ok(data.to_vec())
                }
            }
            #[cfg(feature = "compression")]
            codec => codecs::decompress(codec, data, limit),
            #[cfg(not(feature = "compression"))]
            codec => Err(CompressionError::Unsupported(codec)),
        }
    }
}

#[cfg(feature = "compression")]
mod codecs {
    use std::io::{self, Read, Write};

    use super::{Compression, CompressionError};

    fn corrupt(codec: Compression, err: impl std::fmt::Display) -> CompressionError {
        CompressionError::Corrupt {
            codec,
            reason: err.to_string(),
        }
    }

    pub(super) fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        let io = |err: io::Error| corrupt(codec, err);
        match codec {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(data).map_err(io)?;
                encoder.finish().map_err(io)
            }
            Compression::Snappy => {
                let mut encoder = snap::write::FrameEncoder::new(Vec::new());
                encoder.write_all(data).map_err(io)?;
                encoder.into_inner().map_err(|err| corrupt(codec, err))
            }
            Compression::Lz4 => {
                let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
                encoder.write_all(data).map_err(io)?;
                encoder.finish().map_err(|err| corrupt(codec, err))
            }
            Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
                data,
                ruzstd::encoding::CompressionLevel::Fastest,
            )),
        }
    }

    /// Read everything `reader` yields, but never more than `limit` bytes.
    fn read_bounded(
        codec: Compression,
        reader: impl Read,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let cap = (limit - out.len()) as u64;
        let mut bounded = reader.take(cap.saturating_add(1));
        bounded
            .read_to_end(out)
            .map_err(|err| corrupt(codec, err))?;
        if out.len() > limit {
            return Err(CompressionError::TooLarge { codec, limit });
        }
        Ok(())
    }

    pub(super) fn decompress(
        codec: Compression,
        data: &[u8],
        limit: usize,
    ) -> Result<Vec<u8>, CompressionError> {
        let mut out = Vec::new();
        match codec {
            Compression::None => {
                read_bounded(codec, data, limit, &mut out)?;
            }
            Compression::Gzip => {
                read_bounded(codec, flate2::read::GzDecoder::new(data), limit, &mut out)?;
            }
            Compression::Snappy => {
                read_bounded(codec, snap::read::FrameDecoder::new(data), limit, &mut out)?;
            }
            Compression::Lz4 => {
                read_bounded(
                    codec,
                    lz4_flex::frame::FrameDecoder::new(data),
                    limit,
                    &mut out,
                )?;
            }
            Compression::Zstd => zstd_decompress(data, limit, &mut out)?,
        }
        Ok(out)
    }

    /// The largest declared zstd window we agree to allocate for (the decoder reserves it up
    /// front). zstd level 1 declares at most 512 KiB; level 19 8 MiB. Single-segment frames
    /// declare their content size instead, which is checked against the output limit.
    const MAX_ZSTD_WINDOW: u64 = 8 * 1024 * 1024;

    /// Decode every zstd frame in `data` (producers write one; concatenations are legal).
    fn zstd_decompress(
        data: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let codec = Compression::Zstd;
        let mut rest = data;
        loop {
            // The decoder reserves the frame's declared window up front: check it first.
            match zstd_window_size(rest).map_err(|reason| corrupt(codec, reason))? {
                // A single-segment frame's window is its content size.
                Window::ContentSize(size) if size > (limit - out.len()) as u64 => {
                    return Err(CompressionError::TooLarge { codec, limit });
                }
                Window::Declared(size) if size > MAX_ZSTD_WINDOW => {
                    return Err(corrupt(codec, "window size too large"));
                }
                _ => {}
            }
            let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut rest)
                .map_err(|err| corrupt(codec, err))?;
            read_bounded(codec, &mut decoder, limit, out)?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// The memory a zstd frame asks the decoder for.
    enum Window {
        /// A window descriptor.
        Declared(u64),
        /// A single-segment frame: the window is the whole content.
        ContentSize(u64),
    }

    /// The window size a zstd frame header declares (RFC 8878 §3.1.1.1), or why the bytes
    /// are not a zstd frame header.
    fn zstd_window_size(frame: &[u8]) -> Result<Window, &'static str> {
        const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
        let header = frame.get(..5).ok_or("truncated frame header")?;
        if header[..4] != MAGIC {
            return Err("bad magic number");
        }
        let descriptor = header[4];
        let single_segment = descriptor & 0x20 != 0;
        if !single_segment {
            let window = *frame.get(5).ok_or("truncated frame header")?;
            let exponent = u64::from(window >> 3);
            let mantissa = u64::from(window & 0x07);
            let base = 1u64 << (10 + exponent);
            return Ok(Window::Declared(base + (base / 8) * mantissa));
        }
        // Single segment: the window is the frame content size.
        let dict_len = match descriptor & 0x03 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        let fcs_len = match descriptor >> 6 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let start = 5 + dict_len;
        let field = frame
            .get(start..start + fcs_len)
            .ok_or("truncated frame header")?;
        let mut size = 0u64;
        for (i, byte) in field.iter().enumerate() {
            size |= u64::from(*byte) << (8 * i);
        }
        if fcs_len == 2 {
            size += 256;
        }
        Ok(Window::ContentSize(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_and_topic_numbering_differ() {
        assert_eq!(Compression::Zstd.tag(), 4);
        assert_eq!(Compression::Zstd.to_topic(), CompressionAlgorithm::Zstd);
        assert_eq!(CompressionAlgorithm::Zstd.tag(), 5);
        assert_eq!(Compression::from_topic(CompressionAlgorithm::Any), None);
        for codec in Compression::ALL {
            assert_eq!(Compression::from_topic(codec.to_topic()), Some(*codec));
            assert_eq!(Compression::from_name(codec.name()), Some(*codec));
        }
        assert_eq!(
            Compression::from_attributes(0x15),
            Err(CompressionError::UnknownCodec(5))
        );
        assert_eq!(Compression::from_attributes(0x11), Ok(Compression::Gzip));
    }

    #[cfg(feature = "compression")]
    #[test]
    fn every_codec_round_trips_and_is_bounded() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_be_bytes())
            .collect();
        for codec in Compression::ALL.iter().copied() {
            let packed = codec.compress(&data).unwrap();
            if codec != Compression::None {
                assert!(packed.len() < data.len(), "{codec:?} did not compress");
            }
            assert_eq!(codec.decompress(&packed, data.len()).unwrap(), data);
            assert_eq!(
                codec.decompress(&packed, data.len() - 1),
                Err(CompressionError::TooLarge {
                    codec,
                    limit: data.len() - 1
                })
            );
        }
    }

    #[cfg(feature = "compression")]
    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for codec in &Compression::ALL[1..] {
            let err = codec.decompress(b"definitely not compressed", 1024);
            assert!(
                matches!(err, Err(CompressionError::Corrupt { .. })),
                "{codec:?}: {err:?}"
            );
        }
    }

    #[cfg(feature = "compression")]
    #[test]
    fn zstd_huge_window_is_refused() {
        // Magic, descriptor without single-segment, window descriptor exponent 31.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x00, 0x00, 0x00];
        assert!(matches!(
            Compression::Zstd.decompress(&frame, 1024),
            Err(CompressionError::Corrupt { .. })
        ));
    }
}
