//! SmartModule invocations (Fluvio's `SmartModuleInvocation`), as Produce (v≥8) and
//! StreamFetch (v≥18) carry them.
//!
//! This cluster runs no SmartModules. The types decode completely anyway, so a server can
//! read the whole request and answer a non-empty list with a proper error code (a produce
//! partition error, or a StreamFetch frame with `SmartModuleError`) instead of failing to
//! parse the frame.
//!
//! ```text
//! SmartModuleInvocation = wasm, kind, params
//! wasm   u8 tag: 0 Predefined(string name) | 1 AdHoc(u32-length gzip'd wasm bytes)
//! kind   u8 tag: 0 Filter | 1 Map | 2 ArrayMap | 3 Aggregate { accumulator: bytes }
//!               | 4 FilterMap | 5 Join(string) | 6 JoinStream { topic, derivedstream }
//!               | 7 Generic(context: u8 tag 0 None | 1 Aggregate { accumulator: bytes }
//!                                    | 2 Join(string) | 3 JoinStream { topic, derivedstream })
//! params BTreeMap<string, string> (u16 count), then lookback: Option<Lookback> [v≥20]
//! Lookback = last u64, age Option<Duration> [v≥21]
//! name   Option<string> [v≥25]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{ByteBuf, Decode, DecodeError, Encode, EncodeError, Reader, Version};
use crate::wire_struct;

/// Where the SmartModule's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum SmartModuleWasm {
    /// A SmartModule installed in the cluster, by name.
    Predefined(String),
    /// Gzip-compressed wasm sent with the request.
    AdHoc(ByteBuf),
}

impl Default for SmartModuleWasm {
    fn default() -> Self {
        SmartModuleWasm::Predefined(String::new())
    }
}

impl Encode for SmartModuleWasm {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            SmartModuleWasm::Predefined(name) => {
                0u8.encode(dst, version)?;
                name.encode(dst, version)
            }
            SmartModuleWasm::AdHoc(wasm) => {
                1u8.encode(dst, version)?;
                wasm.encode(dst, version)
            }
        }
    }
}

impl Decode for SmartModuleWasm {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        match u8::decode(src, version)? {
            0 => Ok(SmartModuleWasm::Predefined(String::decode(src, version)?)),
            1 => Ok(SmartModuleWasm::AdHoc(ByteBuf::decode(src, version)?)),
            tag => Err(DecodeError::UnknownTag {
                kind: "SmartModuleWasm",
                tag: tag.into(),
            }),
        }
    }
}

/// State handed to a generic SmartModule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum SmartModuleContextData {
    #[default]
    None,
    Aggregate {
        accumulator: ByteBuf,
    },
    Join(String),
    JoinStream {
        topic: String,
        derivedstream: String,
    },
}

impl Encode for SmartModuleContextData {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            SmartModuleContextData::None => 0u8.encode(dst, version),
            SmartModuleContextData::Aggregate { accumulator } => {
                1u8.encode(dst, version)?;
                accumulator.encode(dst, version)
            }
            SmartModuleContextData::Join(topic) => {
                2u8.encode(dst, version)?;
                topic.encode(dst, version)
            }
            SmartModuleContextData::JoinStream {
                topic,
                derivedstream,
            } => {
                3u8.encode(dst, version)?;
                topic.encode(dst, version)?;
                derivedstream.encode(dst, version)
            }
        }
    }
}

impl Decode for SmartModuleContextData {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(match u8::decode(src, version)? {
            0 => SmartModuleContextData::None,
            1 => SmartModuleContextData::Aggregate {
                accumulator: ByteBuf::decode(src, version)?,
            },
            2 => SmartModuleContextData::Join(String::decode(src, version)?),
            3 => SmartModuleContextData::JoinStream {
                topic: String::decode(src, version)?,
                derivedstream: String::decode(src, version)?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    kind: "SmartModuleContextData",
                    tag: tag.into(),
                });
            }
        })
    }
}

/// What kind of transformation the SmartModule performs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum SmartModuleKind {
    #[default]
    Filter,
    Map,
    ArrayMap,
    Aggregate {
        accumulator: ByteBuf,
    },
    FilterMap,
    Join(String),
    JoinStream {
        topic: String,
        derivedstream: String,
    },
    Generic(SmartModuleContextData),
}

impl SmartModuleKind {
    /// The wire tag.
    pub fn tag(&self) -> u8 {
        match self {
            SmartModuleKind::Filter => 0,
            SmartModuleKind::Map => 1,
            SmartModuleKind::ArrayMap => 2,
            SmartModuleKind::Aggregate { .. } => 3,
            SmartModuleKind::FilterMap => 4,
            SmartModuleKind::Join(_) => 5,
            SmartModuleKind::JoinStream { .. } => 6,
            SmartModuleKind::Generic(_) => 7,
        }
    }
}

impl Encode for SmartModuleKind {
    fn encode(&self, dst: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        self.tag().encode(dst, version)?;
        match self {
            SmartModuleKind::Filter
            | SmartModuleKind::Map
            | SmartModuleKind::ArrayMap
            | SmartModuleKind::FilterMap => Ok(()),
            SmartModuleKind::Aggregate { accumulator } => accumulator.encode(dst, version),
            SmartModuleKind::Join(topic) => topic.encode(dst, version),
            SmartModuleKind::JoinStream {
                topic,
                derivedstream,
            } => {
                topic.encode(dst, version)?;
                derivedstream.encode(dst, version)
            }
            SmartModuleKind::Generic(context) => context.encode(dst, version),
        }
    }
}

impl Decode for SmartModuleKind {
    fn decode(src: &mut Reader<'_>, version: Version) -> Result<Self, DecodeError> {
        Ok(match u8::decode(src, version)? {
            0 => SmartModuleKind::Filter,
            1 => SmartModuleKind::Map,
            2 => SmartModuleKind::ArrayMap,
            3 => SmartModuleKind::Aggregate {
                accumulator: ByteBuf::decode(src, version)?,
            },
            4 => SmartModuleKind::FilterMap,
            5 => SmartModuleKind::Join(String::decode(src, version)?),
            6 => SmartModuleKind::JoinStream {
                topic: String::decode(src, version)?,
                derivedstream: String::decode(src, version)?,
            },
            7 => SmartModuleKind::Generic(SmartModuleContextData::decode(src, version)?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    kind: "SmartModuleKind",
                    tag: tag.into(),
                });
            }
        })
    }
}

wire_struct! {
    /// How far back a SmartModule looks when it starts.
    pub struct Lookback {
        pub last: u64,
        pub age: Option<Duration> [21..],
    }
}

wire_struct! {
    /// User parameters of an invocation.
    pub struct SmartModuleExtraParams {
        #[cfg_attr(feature = "arbitrary", proptest(strategy = "crate::spu::common::small_map()"))]
        pub params: BTreeMap<String, String>,
        pub lookback: Option<Lookback> [20..],
    }
}

wire_struct! {
    /// One SmartModule to run over a produce or a fetch.
    pub struct SmartModuleInvocation {
        pub wasm: SmartModuleWasm,
        pub kind: SmartModuleKind,
        pub params: SmartModuleExtraParams,
        /// The SmartModule's name for metrics and errors; clients from SPU API v25 on
        /// (Fluvio 0.18, the `fluvio` crate 0.50) send it, even for ad-hoc modules.
        pub name: Option<String> [25..],
    }
}

wire_struct! {
    /// The derived-stream invocation of StreamFetch versions 16 to 18 (legacy). Decoded so
    /// that such a request can be refused cleanly.
    pub struct LegacyDerivedStream {
        pub stream: String,
        pub params: SmartModuleExtraParams,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_layout() {
        let invocation = SmartModuleInvocation {
            wasm: SmartModuleWasm::Predefined("sm".into()),
            kind: SmartModuleKind::Generic(SmartModuleContextData::Join("t".into())),
            params: SmartModuleExtraParams {
                params: BTreeMap::from([("k".into(), "v".into())]),
                lookback: Some(Lookback {
                    last: 2,
                    age: Some(Duration::new(3, 4)),
                }),
            },
            name: None,
        };
        let bytes = invocation.to_bytes(24).unwrap();
        let mut expected = vec![
            0, 0, 2, b's', b'm', 7, 2, 0, 1, b't', 0, 1, 0, 1, b'k', 0, 1,
        ];
        expected.extend([b'v', 1, 0, 0, 0, 0, 0, 0, 0, 2, 1]);
        expected.extend([0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4]);
        assert_eq!(bytes, expected);
        assert_eq!(
            SmartModuleInvocation::from_bytes(&bytes, 24).unwrap(),
            invocation
        );
        // Before v20 there is no lookback; before v21 no age.
        let v19 = invocation.to_bytes(19).unwrap();
        assert_eq!(v19.len(), bytes.len() - 22);
        let v20 = invocation.to_bytes(20).unwrap();
        assert_eq!(v20.len(), bytes.len() - 13);
    }

    #[test]
    fn the_name_travels_from_v25() {
        let invocation = SmartModuleInvocation {
            wasm: SmartModuleWasm::AdHoc(ByteBuf::from(vec![0xde, 0xad])),
            kind: SmartModuleKind::Filter,
            name: Some("my-filter".into()),
            ..Default::default()
        };
        let v25 = invocation.to_bytes(25).unwrap();
        // wasm tag, u32 length, bytes; kind; no params; no lookback; Some("my-filter").
        let mut expected = vec![1, 0, 0, 0, 2, 0xde, 0xad, 0, 0, 0, 0, 1, 0, 9];
        expected.extend_from_slice(b"my-filter");
        assert_eq!(v25, expected);
        assert_eq!(
            SmartModuleInvocation::from_bytes(&v25, 25).unwrap(),
            invocation
        );
        // At v24 the name is not on the wire, and decodes as absent.
        let v24 = invocation.to_bytes(24).unwrap();
        assert_eq!(v24.len(), v25.len() - 12);
        let decoded = SmartModuleInvocation::from_bytes(&v24, 24).unwrap();
        assert_eq!(decoded.name, None);
        assert_eq!(decoded.wasm, invocation.wasm);
    }

    #[test]
    fn unknown_tags_are_errors() {
        assert!(matches!(
            SmartModuleKind::from_bytes(&[8], 24),
            Err(DecodeError::UnknownTag { .. })
        ));
        assert!(matches!(
            SmartModuleWasm::from_bytes(&[2], 24),
            Err(DecodeError::UnknownTag { .. })
        ));
        assert!(matches!(
            SmartModuleContextData::from_bytes(&[4], 24),
            Err(DecodeError::UnknownTag { .. })
        ));
    }
}
