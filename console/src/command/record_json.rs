//! The JSON shape of one record, shared by `consume -O json` (which writes it, one object
//! per line) and `produce --json` (which reads it back), so `consume -O json | produce
//! --json` copies records with their keys and headers.
//!
//! Bytes that are UTF-8 travel as strings (`"key"`, `"value"`, a header's `"value"`); other
//! bytes as base64 under the same name with `_base64` appended, so nothing is lost.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use protocol::record::{Record, RecordHeader};
use serde::{Deserialize, Serialize};

use crate::client::ConsumerRecord;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default)]
    pub headers: Vec<JsonHeader>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonHeader {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

/// Why a JSON line is not a record.
#[derive(Debug, thiserror::Error)]
pub enum JsonRecordError {
    #[error("not a JSON record object: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("`{field}` is not valid base64: {source}")]
    Base64 {
        field: &'static str,
        source: base64::DecodeError,
    },
    #[error("the record has neither `value` nor `value_base64`")]
    NoValue,
}

/// Text when the bytes are UTF-8, else base64: (text, base64).
fn split_bytes(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(BASE64.encode(bytes))),
    }
}

fn join_bytes(
    text: &Option<String>,
    base64: &Option<String>,
    field: &'static str,
) -> Result<Option<Bytes>, JsonRecordError> {
    match (text, base64) {
        (Some(text), _) => Ok(Some(Bytes::copy_from_slice(text.as_bytes()))),
        (None, Some(encoded)) => BASE64
            .decode(encoded)
            .map(|bytes| Some(Bytes::from(bytes)))
            .map_err(|source| JsonRecordError::Base64 { field, source }),
        (None, None) => Ok(None),
    }
}

impl JsonRecord {
    pub fn from_consumed(record: &ConsumerRecord) -> Self {
        let (key, key_base64) = match &record.key {
            Some(key) => split_bytes(key),
            None => (None, None),
        };
        let (value, value_base64) = split_bytes(&record.value);
        JsonRecord {
            partition: Some(record.partition),
            offset: Some(record.offset),
            timestamp: Some(record.timestamp),
            key,
            key_base64,
            value,
            value_base64,
            headers: record
                .headers
                .iter()
                .map(|h| {
                    let (value, value_base64) = split_bytes(&h.value);
                    JsonHeader {
                        key: h.key.clone(),
                        value,
                        value_base64,
                    }
                })
                .collect(),
        }
    }

    /// Parse one line of `consume -O json` output back into a record to produce. The
    /// partition, offset and timestamp are not carried over: the target assigns its own.
    pub fn parse_record(line: &[u8]) -> Result<Record, JsonRecordError> {
        let json: JsonRecord = serde_json::from_slice(line)?;
        let value = join_bytes(&json.value, &json.value_base64, "value_base64")?
            .ok_or(JsonRecordError::NoValue)?;
        let key = join_bytes(&json.key, &json.key_base64, "key_base64")?;
        let mut headers = Vec::with_capacity(json.headers.len());
        for header in &json.headers {
            let value = join_bytes(
                &header.value,
                &header.value_base64,
                "headers[].value_base64",
            )?
            .unwrap_or_default();
            headers.push(RecordHeader {
                key: header.key.clone(),
                value,
            });
        }
        Ok(Record {
            key,
            value,
            headers,
            ..Record::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip_with_headers() {
        let consumed = ConsumerRecord {
            partition: 2,
            offset: 41,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(&[0xff, 0x00])),
            value: Bytes::from_static(b"hello"),
            headers: vec![
                RecordHeader::new("type", "order"),
                RecordHeader::new("blob", Bytes::from_static(&[0x80])),
            ],
        };
        let line = serde_json::to_string(&JsonRecord::from_consumed(&consumed)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["value"], "hello");
        assert_eq!(json["key"], serde_json::Value::Null);
        assert_eq!(json["key_base64"], "/wA=");
        assert_eq!(json["headers"][0]["value"], "order");
        assert_eq!(json["headers"][1]["value_base64"], "gA==");
        let record = JsonRecord::parse_record(line.as_bytes()).unwrap();
        assert_eq!(record.key, consumed.key);
        assert_eq!(record.value, consumed.value);
        assert_eq!(record.headers, consumed.headers);
    }

    #[test]
    fn bad_lines_say_why() {
        let err = JsonRecord::parse_record(b"{\"key\":\"k\"}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the record has neither `value` nor `value_base64`"
        );
        let err = JsonRecord::parse_record(b"{\"value_base64\":\"!!\"}").unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
        let err = JsonRecord::parse_record(b"hello").unwrap_err();
        assert!(
            err.to_string().starts_with("not a JSON record object"),
            "{err}"
        );
        // A plain value with no key is fine.
        let record = JsonRecord::parse_record(b"{\"value\":\"v\"}").unwrap();
        assert_eq!((record.key, record.value), (None, Bytes::from_static(b"v")));
    }
}
