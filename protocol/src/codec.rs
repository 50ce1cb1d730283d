//! The versioned binary codec every message uses.
//!
//! Fluvio's encoding is Kafka-like but not Kafka: big-endian integers, strings with a u16
//! length, vectors with a u32 count, maps with a u16 count, options with a bool tag, enums
//! tag first. A struct field may exist only in a range of message versions; the version of
//! the top-level request is passed unchanged to every nested value.
//!
//! Decoding works on a [`Reader`] over the frame body. It never panics and never reserves
//! more memory than the bytes left in the frame could fill, so a hostile length or count
//! costs nothing but a typed error.
//!
//! A request read by a server is also held to a memory budget ([`Reader::limit_memory`]):
//! decoded values are larger than their encoding (a one-byte string is a 24-byte `String`
//! plus a heap block), so every decoder that allocates first charges what it is about to
//! allocate to the reader ([`Reader::reserve`], [`Reader::charge_allocation`]). A request
//! whose decoded form would take more than [`DECODE_MEMORY_RATIO`] times its size (plus
//! [`DECODE_MEMORY_SLACK`]) is refused before the memory is taken.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
#[cfg(feature = "arbitrary")]
use proptest::strategy::Strategy as _;
use serde::{Deserialize, Serialize};

/// The version a message is encoded or decoded at (the request header's `api_version`).
pub type Version = i16;

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated input: {what} needs {needed} bytes but only {remaining} are left")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("{what} claims {claimed} elements but only {remaining} bytes are left")]
    CountTooLarge {
        what: &'static str,
        claimed: u64,
        remaining: usize,
    },
    #[error(
        "too much memory to decode {what}: it needs {needed} bytes and only {left} are left of \
         the request's budget ({DECODE_MEMORY_RATIO} times its size plus {DECODE_MEMORY_SLACK} \
         bytes); send fewer or longer elements"
    )]
    OverBudget {
        what: &'static str,
        needed: usize,
        left: usize,
    },
    #[error("not valid bool value: {0:#04x}")]
    InvalidBool(u8),
    #[error("unknown {kind} tag {tag}")]
    UnknownTag { kind: &'static str, tag: i64 },
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("invalid {what}: {reason}")]
    Invalid {
        what: &'static str,
        reason: &'static str,
    },
    #[error("unknown api key {0}")]
    UnknownApiKey(u16),
    #[error("{count} unexpected bytes after the end of {what}")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("unknown object type {0:?}")]
    UnknownObjectType(String),
    #[error("api key {api_key} is not served at version {version}")]
    UnsupportedVersion { api_key: u16, version: i16 },
}

/// Why a message could not be encoded (its values do not fit the wire types).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is {len} bytes long; the wire allows at most {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

/// How many times its own size a request may take in memory once decoded.
pub const DECODE_MEMORY_RATIO: usize = 4;

/// Memory every request may take on top of [`DECODE_MEMORY_RATIO`] times its size, so a
/// small request with a few short strings is never refused for its fixed costs.
pub const DECODE_MEMORY_SLACK: usize = 64 * 1024;

/// The heap block the allocator hands out for `len` bytes: glibc's chunks carry an 8-byte
/// header, are 16-byte aligned and at least 32 bytes, which is what makes a one-byte
/// string cost 32 bytes of heap.
pub fn allocation_footprint(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    len.saturating_add(8).max(32).saturating_add(15) & !15
}

/// A cursor over bytes being decoded. Every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The reference-counted bytes `buf` lies in, and where in them it starts, so large
    /// payloads (record sets, record values) can be handed out as slices, not copies.
    shared: Option<(&'a Bytes, usize)>,
    /// Bytes of memory decoders may still allocate (see [`Reader::limit_memory`]).
    budget: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            shared: None,
            budget: usize::MAX,
        }
    }

    /// A reader over reference-counted bytes: [`Reader::take_bytes`] slices them without
    /// copying.
    pub fn shared(bytes: &'a Bytes) -> Self {
        Self {
            buf: bytes,
            pos: 0,
            shared: Some((bytes, 0)),
            budget: usize::MAX,
        }
    }

    /// Hold what is decoded from here on to [`DECODE_MEMORY_RATIO`] times the bytes left
    /// plus [`DECODE_MEMORY_SLACK`]. Servers call it (through the request decoders) for
    /// every request a peer sends; responses and records, which come from a server the
    /// reader chose to trust, keep the count checks alone.
    pub fn limit_memory(&mut self) {
        let limit = self
            .remaining()
            .saturating_mul(DECODE_MEMORY_RATIO)
            .saturating_add(DECODE_MEMORY_SLACK);
        self.budget = self.budget.min(limit);
    }

    /// Bytes of memory decoding may still take.
    pub fn memory_budget(&self) -> usize {
        self.budget
    }

    /// Take `bytes` from the memory budget for `what`, which is about to be allocated.
    pub fn charge(&mut self, bytes: usize, what: &'static str) -> Result<(), DecodeError> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(DecodeError::OverBudget {
                what,
                needed: bytes,
                left: self.budget,
            }),
        }
    }

    /// Charge one heap allocation of `len` bytes, as the allocator will round it.
    pub fn charge_allocation(&mut self, len: usize, what: &'static str) -> Result<(), DecodeError> {
        self.charge(allocation_footprint(len), what)
    }

    /// The one rule for every count on the wire: `count` values of `T` must fit in the
    /// bytes left at `T`'s smallest encoding, and the block that holds them in memory must
    /// fit the budget. Returns the count, to reserve exactly that much.
    pub fn reserve<T: Decode>(
        &mut self,
        count: u64,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let count = self.check_count(count, T::MIN_WIRE_SIZE, what)?;
        self.charge_allocation(count.saturating_mul(std::mem::size_of::<T>()), what)?;
        Ok(count)
    }

    /// Decode from the next `n` bytes as a reader of their own (which shares like this
    /// one and spends this one's memory budget), and consume them.
    pub fn decode_within<T>(
        &mut self,
        n: usize,
        what: &'static str,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let start = self.pos;
        let buf = self.take(n, what)?;
        let mut inner = Reader {
            buf,
            pos: 0,
            shared: self.shared.map(|(bytes, origin)| (bytes, origin + start)),
            budget: self.budget,
        };
        let out = read(&mut inner);
        self.budget = inner.budget;
        out
    }

    /// Consume exactly `n` bytes as an owned [`Bytes`]: a slice of the source when the
    /// reader was made with [`Reader::shared`], a copy otherwise.
    pub fn take_bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        if self.shared.is_none() && n <= self.remaining() {
            self.charge_allocation(n, what)?;
        }
        let taken = self.take(n, what)?;
        Ok(match self.shared {
            Some((bytes, origin)) => bytes.slice(origin + start..origin + start + n),
            None => Bytes::copy_from_slice(taken),
        })
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consume exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn take_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Fail unless every byte was consumed: a message with leftovers was misread.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { what, count }),
        }
    }

    /// Check that `count` elements of at least `min_size` bytes each could fit in what is
    /// left, before anything is allocated for them.
    pub fn check_count(
        &self,
        count: u64,
        min_size: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let need = count.saturating_mul(min_size.max(1) as u64);
        if need > self.remaining() as u64 {
            return Err(DecodeError::CountTooLarge {
                what,
                claimed: count,
                remaining: self.remaining(),
            });
        }
        Ok(count as usize)
    }
}

/// A value that can be written at a given message version.
pub trait Encode {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError>;

    /// Encode into a fresh buffer.
    fn to_bytes(&self, version: Version) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out, version)?;
        Ok(out)
    }
}

/// A value that can be read at a given message version.
pub trait Decode: Sized {
    /// The fewest bytes one value occupies on the wire; bounds the counts a decoder accepts.
    const MIN_WIRE_SIZE: usize = 1;

    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError>;

    /// Decode a whole buffer, rejecting trailing bytes.
    fn from_bytes(bytes: &[u8], version: Version) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader, version)?;
        reader.finish(std::any::type_name::<Self>())?;
        Ok(value)
    }
}

macro_rules! impl_int {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
                dst.extend_from_slice(&self.to_be_bytes());
                Ok(())
            }
        }
        impl Decode for $ty {
            const MIN_WIRE_SIZE: usize = std::mem::size_of::<$ty>();
            fn decode(src: &mut Reader<'_>, _version: Version) -> Result<Self, DecodeError> {
                Ok(<$ty>::from_be_bytes(src.take_array(stringify!($ty))?))
            }
        }
    )*};
}
impl_int!(u8, i8, u16, i16, u32, i32, u64, i64);

impl Encode for bool {
    fn encode(&self, dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
        dst.push(u8::from(*self));
        Ok(())
    }
}

impl Decode for bool {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::InvalidBool(other)),
        }
    }
}

/// Strings carry an i16 length on the wire (the official decoder reads it signed), so
/// anything longer than `i16::MAX` bytes cannot be sent.
const MAX_STRING_LEN: usize = i16::MAX as usize;

impl Encode for str {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        if self.len() > MAX_STRING_LEN {
            return Err(EncodeError::TooLong {
                what: "string",
                len: self.len(),
                max: MAX_STRING_LEN,
            });
        }
        (self.len() as u16).encode(dst, version)?;
        dst.extend_from_slice(self.as_bytes());
        Ok(())
    }
}

impl Encode for String {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.as_str().encode(dst, version)
    }
}

impl Decode for String {
    const MIN_WIRE_SIZE: usize = 2;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let len = i16::decode(src, version)?;
        if len <= 0 {
            return Ok(String::new());
        }
        let bytes = src.take(len as usize, "string")?;
        src.charge_allocation(bytes.len(), "string")?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { what: "string" })
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        encode_count_u32(self.len(), "vector", dst)?;
        for item in self {
            item.encode(dst, version)?;
        }
        Ok(())
    }
}

impl<T: Decode> Decode for Vec<T> {
    const MIN_WIRE_SIZE: usize = 4;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        // The official decoder reads the count signed and treats <= 0 as empty.
        let count = i32::decode(src, version)?;
        if count <= 0 {
            return Ok(Vec::new());
        }
        let count = src.reserve::<T>(count as u64, std::any::type_name::<Self>())?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(T::decode(src, version)?);
        }
        Ok(out)
    }
}

fn encode_count_u32(len: usize, what: &'static str, dst: &mut Vec<u8>) -> Result<(), EncodeError> {
    let max = i32::MAX as usize;
    if len > max {
        return Err(EncodeError::TooLong { what, len, max });
    }
    dst.extend_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            None => false.encode(dst, version),
            Some(value) => {
                true.encode(dst, version)?;
                value.encode(dst, version)
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        if bool::decode(src, version)? {
            Ok(Some(T::decode(src, version)?))
        } else {
            Ok(None)
        }
    }
}

impl<K: Encode, V: Encode> Encode for BTreeMap<K, V> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        let max = u16::MAX as usize;
        if self.len() > max {
            return Err(EncodeError::TooLong {
                what: "map",
                len: self.len(),
                max,
            });
        }
        (self.len() as u16).encode(dst, version)?;
        for (key, value) in self {
            key.encode(dst, version)?;
            value.encode(dst, version)?;
        }
        Ok(())
    }
}

impl<K: Decode + Ord, V: Decode> Decode for BTreeMap<K, V> {
    const MIN_WIRE_SIZE: usize = 2;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let count = u16::decode(src, version)?;
        let what = std::any::type_name::<Self>();
        let count = src.check_count(count as u64, K::MIN_WIRE_SIZE + V::MIN_WIRE_SIZE, what)?;
        if count > 0 {
            // B-tree nodes hold 11 entries and are at least half full (the root aside), and
            // inner nodes add about a fifth: three entries' room per entry, one node more.
            let entry = std::mem::size_of::<(K, V)>();
            src.charge_allocation(count.saturating_add(4).saturating_mul(3 * entry), what)?;
        }
        let mut out = BTreeMap::new();
        for _ in 0..count {
            let key = K::decode(src, version)?;
            let value = V::decode(src, version)?;
            out.insert(key, value);
        }
        Ok(out)
    }
}

impl Encode for Duration {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.as_secs().encode(dst, version)?;
        self.subsec_nanos().encode(dst, version)
    }
}

impl Decode for Duration {
    const MIN_WIRE_SIZE: usize = 12;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let secs = u64::decode(src, version)?;
        let nanos = u32::decode(src, version)?;
        if nanos >= 1_000_000_000 {
            return Err(DecodeError::Invalid {
                what: "duration",
                reason: "nanoseconds must be below one second",
            });
        }
        Ok(Duration::new(secs, nanos))
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        (**self).encode(dst, version)
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        (**self).encode(dst, version)
    }
}

impl<T: Decode> Decode for Box<T> {
    const MIN_WIRE_SIZE: usize = T::MIN_WIRE_SIZE;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        src.charge_allocation(std::mem::size_of::<T>(), "box")?;
        Ok(Box::new(T::decode(src, version)?))
    }
}

/// Raw bytes with a u32 length (`ByteBuf` / `Vec<u8>` fields on the wire).
///
/// Kept as [`Bytes`] so large payloads are passed around without copies. In JSON it is a
/// plain array of numbers, which `advanced run` can build by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct ByteBuf(
    #[cfg_attr(
        feature = "arbitrary",
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64).prop_map(Bytes::from)"
        )
    )]
    pub Bytes,
);

impl ByteBuf {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for ByteBuf {
    fn from(value: Vec<u8>) -> Self {
        Self(Bytes::from(value))
    }
}

impl Encode for ByteBuf {
    fn encode(&self, dst: &mut Vec<u8>, _version: Version) -> Result<(), EncodeError> {
        encode_count_u32(self.0.len(), "byte buffer", dst)?;
        dst.extend_from_slice(&self.0);
        Ok(())
    }
}

impl Decode for ByteBuf {
    const MIN_WIRE_SIZE: usize = 4;
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        let len = i32::decode(src, version)?;
        if len <= 0 {
            return Ok(Self::default());
        }
        let bytes = src.take(len as usize, "byte buffer")?;
        src.charge_allocation(bytes.len(), "byte buffer")?;
        Ok(Self(Bytes::copy_from_slice(bytes)))
    }
}

/// Is `version` within a field's range? A field with no range is always present.
#[doc(hidden)]
#[macro_export]
macro_rules! version_in {
    ($version:expr) => {
        true
    };
    ($version:expr, $($range:tt)+) => {
        ($($range)+).contains(&$version)
    };
}

/// The fewest bytes a field takes in every version: its type's minimum when it is always
/// present, nothing when it exists only in some versions.
#[doc(hidden)]
#[macro_export]
macro_rules! min_wire_size_always {
    ($ty:ty) => {
        <$ty as $crate::codec::Decode>::MIN_WIRE_SIZE
    };
    ($ty:ty, $($range:tt)+) => {
        0
    };
}

/// Define a struct whose fields are encoded in order, each present only when the message
/// version is in its range (`[3..]`, `[11..=18]`). Absent fields decode to their default.
///
/// ```
/// protocol::wire_struct! {
///     /// Example.
///     pub struct Example {
///         pub always: u32,
///         pub since_three: Option<String> [3..],
///     }
/// }
/// ```
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty $([ $($range:tt)+ ])?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "arbitrary", derive(::proptest_derive::Arbitrary))]
        #[serde(default)]
        $vis struct $name {
            $(
                $(#[$fmeta])*
                $fvis $field: $ty,
            )*
        }

        impl $crate::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode(
                &self,
                dst: &mut ::std::vec::Vec<u8>,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<(), $crate::codec::EncodeError> {
                $(
                    if $crate::version_in!(version $(, $($range)+)?) {
                        $crate::codec::Encode::encode(&self.$field, dst, version)?;
                    }
                )*
                Ok(())
            }
        }

        impl $crate::codec::Decode for $name {
            const MIN_WIRE_SIZE: usize =
                0 $( + $crate::min_wire_size_always!($ty $(, $($range)+)?) )*;

            #[allow(unused_variables, unused_mut)]
            fn decode(
                src: &mut $crate::codec::Reader<'_>,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<Self, $crate::codec::DecodeError> {
                let mut value = Self::default();
                $(
                    if $crate::version_in!(version $(, $($range)+)?) {
                        value.$field = $crate::codec::Decode::decode(src, version)?;
                    }
                )*
                Ok(value)
            }
        }
    };
}

/// Define a data-less enum encoded as its tag (`u8`, `i16`, ...). Unknown tags are errors.
/// The first variant listed is the default.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $tag:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "arbitrary", derive(::proptest_derive::Arbitrary))]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in tag order as declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The tag this variant carries on the wire.
            pub fn tag(self) -> $repr {
                match self {
                    $($name::$variant => $tag,)+
                }
            }

            /// The variant for a wire tag, if there is one.
            pub fn from_tag(tag: $repr) -> Option<Self> {
                match tag {
                    $($tag => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ALL[0]
            }
        }

        impl $crate::codec::Encode for $name {
            fn encode(
                &self,
                dst: &mut ::std::vec::Vec<u8>,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<(), $crate::codec::EncodeError> {
                $crate::codec::Encode::encode(&self.tag(), dst, version)
            }
        }

        impl $crate::codec::Decode for $name {
            const MIN_WIRE_SIZE: usize = ::std::mem::size_of::<$repr>();
            fn decode(
                src: &mut $crate::codec::Reader<'_>,
                version: $crate::codec::Version,
            ) -> ::std::result::Result<Self, $crate::codec::DecodeError> {
                let tag = <$repr as $crate::codec::Decode>::decode(src, version)?;
                Self::from_tag(tag).ok_or($crate::codec::DecodeError::UnknownTag {
                    kind: stringify!($name),
                    tag: tag as i64,
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    wire_struct! {
        struct Versioned {
            always: u32,
            since_three: Option<String> [3..],
            only_old: i16 [..=2],
            window: bool [5..=6],
        }
    }

    wire_enum! {
        enum Color: u8 {
            Red = 0,
            Blue = 7,
        }
    }

    #[test]
    fn versioned_fields_present_only_in_range() {
        let value = Versioned {
            always: 1,
            since_three: Some("x".into()),
            only_old: -2,
            window: true,
        };
        assert_eq!(value.to_bytes(2).unwrap(), [0, 0, 0, 1, 0xff, 0xfe]);
        assert_eq!(value.to_bytes(3).unwrap(), [0, 0, 0, 1, 1, 0, 1, b'x']);
        assert_eq!(value.to_bytes(5).unwrap(), [0, 0, 0, 1, 1, 0, 1, b'x', 1]);
        let decoded = Versioned::from_bytes(&[0, 0, 0, 9, 0xff, 0xfe], 1).unwrap();
        assert_eq!(decoded.always, 9);
        assert_eq!(decoded.only_old, -2);
        assert_eq!(decoded.since_three, None);
    }

    #[test]
    fn enum_tags_round_trip_and_unknown_is_error() {
        assert_eq!(Color::Blue.to_bytes(0).unwrap(), [7]);
        assert_eq!(Color::from_bytes(&[7], 0).unwrap(), Color::Blue);
        assert_eq!(
            Color::from_bytes(&[3], 0),
            Err(DecodeError::UnknownTag {
                kind: "Color",
                tag: 3
            })
        );
        assert_eq!(Color::default(), Color::Red);
    }

    #[test]
    fn bool_rejects_other_values() {
        assert_eq!(bool::from_bytes(&[2], 0), Err(DecodeError::InvalidBool(2)));
    }

    #[test]
    fn string_non_positive_length_is_empty() {
        assert_eq!(String::from_bytes(&[0xff, 0xff], 0).unwrap(), "");
        assert_eq!(String::from_bytes(&[0, 0], 0).unwrap(), "");
        assert!(matches!(
            String::from_bytes(&[0, 5, b'a'], 0),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            String::from_bytes(&[0, 1, 0xff], 0),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1];
        assert!(matches!(
            Vec::<u32>::from_bytes(&bytes, 0),
            Err(DecodeError::CountTooLarge { .. })
        ));
        assert_eq!(
            Vec::<u32>::from_bytes(&[0xff, 0xff, 0xff, 0xff], 0).unwrap(),
            vec![]
        );
        assert!(matches!(
            ByteBuf::from_bytes(&[0x7f, 0xff, 0xff, 0xff], 0),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn a_struct_is_at_least_its_fields_present_in_every_version() {
        // `always` only: the other fields exist in some versions alone.
        assert_eq!(<Versioned as Decode>::MIN_WIRE_SIZE, 4);
        // 1000 claimed values of at least 4 bytes do not fit in 3999 bytes.
        let mut bytes = 1000u32.to_be_bytes().to_vec();
        bytes.resize(4 + 3999, 0);
        assert!(matches!(
            Vec::<Versioned>::from_bytes(&bytes, 0),
            Err(DecodeError::CountTooLarge { claimed: 1000, .. })
        ));
    }

    #[test]
    fn a_limited_reader_refuses_what_would_outgrow_its_budget() {
        // 40,000 empty strings: 2 bytes each on the wire, 24 in memory.
        let mut bytes = 40_000u32.to_be_bytes().to_vec();
        bytes.resize(4 + 80_000, 0);
        let mut unlimited = Reader::new(&bytes);
        assert_eq!(
            Vec::<String>::decode(&mut unlimited, 0).unwrap().len(),
            40_000
        );
        let mut limited = Reader::new(&bytes);
        limited.limit_memory();
        assert_eq!(limited.memory_budget(), 4 * 80_004 + DECODE_MEMORY_SLACK);
        let err = Vec::<String>::decode(&mut limited, 0).unwrap_err();
        assert_eq!(
            err,
            DecodeError::OverBudget {
                what: "alloc::vec::Vec<alloc::string::String>",
                needed: allocation_footprint(40_000 * 24),
                left: 4 * 80_004 + DECODE_MEMORY_SLACK,
            }
        );
        assert!(
            err.to_string().contains("too much memory to decode"),
            "{err}"
        );
    }

    #[test]
    fn sub_readers_spend_the_same_budget() {
        let mut bytes = vec![0, 1, b'a', 0, 1, b'b'];
        bytes.extend_from_slice(&[0, 1, b'c']);
        let mut reader = Reader::new(&bytes);
        reader.budget = 64;
        let first = reader
            .decode_within(6, "pair", |inner| {
                let a = String::decode(inner, 0)?;
                let b = String::decode(inner, 0)?;
                Ok(a + &b)
            })
            .unwrap();
        assert_eq!(first, "ab");
        assert_eq!(reader.memory_budget(), 0);
        assert!(matches!(
            String::decode(&mut reader, 0),
            Err(DecodeError::OverBudget {
                needed: 32,
                left: 0,
                ..
            })
        ));
    }

    #[test]
    fn allocations_are_charged_as_the_allocator_rounds_them() {
        assert_eq!(allocation_footprint(0), 0);
        assert_eq!(allocation_footprint(1), 32);
        assert_eq!(allocation_footprint(24), 32);
        assert_eq!(allocation_footprint(25), 48);
        assert_eq!(allocation_footprint(usize::MAX), usize::MAX & !15);
    }

    #[test]
    fn too_long_string_is_an_encode_error() {
        let long = "a".repeat(MAX_STRING_LEN + 1);
        assert!(matches!(long.to_bytes(0), Err(EncodeError::TooLong { .. })));
    }

    #[test]
    fn trailing_bytes_are_reported() {
        assert_eq!(
            u8::from_bytes(&[1, 2], 0),
            Err(DecodeError::TrailingBytes {
                what: "u8",
                count: 1
            })
        );
    }
}
