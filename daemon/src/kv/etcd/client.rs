//! A small client for etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/*`, `/v3/watch`), spoken over plain HTTP/1.1 with hyper.
//!
//! Why the gateway and not the `etcd-client` crate: the crate brings tonic, prost and a
//! `protoc` build step to a workspace that builds on two shared cores; the gateway is the
//! same v3 API (same revisions, transactions, leases, watches), served by every etcd
//! since 3.3 (3.4 here), and hyper is already a dependency. Keys and values travel as
//! base64, 64-bit numbers as decimal strings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// One request to one member; past it the next member is tried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What went wrong talking to etcd.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EtcdError {
    /// No member answered: the caller says "metadata store unavailable".
    #[error("no etcd member answered ({endpoints}): {reason}")]
    Unreachable { endpoints: String, reason: String },
    /// A member answered with an error (a bad request, a lease not found, ...).
    #[error("etcd at {endpoint} refused {path}: {message}")]
    Refused {
        endpoint: String,
        path: &'static str,
        message: String,
    },
    #[error("etcd at {endpoint} sent an answer to {path} this client cannot read: {reason}")]
    BadAnswer {
        endpoint: String,
        path: &'static str,
        reason: String,
    },
}

/// A key and its value as etcd holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub lease: i64,
}

/// One change seen by a watch: `value` is `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub mod_revision: i64,
}

/// What a watch delivers, in revision order.
#[derive(Debug, Clone)]
pub enum WatchMsg {
    Changes(Vec<Change>),
    /// The watch could not resume from where it was (history compacted): the caller must
    /// load everything again. Changes resume after the given revision.
    Resync,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's last modification is at this revision.
    ModRevision(String, i64),
    /// The key was created at this revision (0: it does not exist).
    CreateRevision(String, i64),
}

/// An operation of a transaction.
#[derive(Debug, Clone)]
pub enum TxnOp {
    Put {
        key: String,
        value: Vec<u8>,
        lease: i64,
    },
    Delete(String),
    Get(String),
}

/// The answer to a transaction.
#[derive(Debug, Clone)]
pub struct TxnResult {
    pub succeeded: bool,
    /// The store's revision after it (the revision of its writes when it succeeded).
    pub revision: i64,
    /// Keys read by `Get` operations of the branch that ran.
    pub reads: Vec<KeyValue>,
}

/// Several etcd members; requests go to the last one that answered, then the others.
#[derive(Debug)]
pub struct EtcdClient {
    endpoints: Vec<String>,
    preferred: AtomicUsize,
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The first key after every key starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn decode_kv(v: &Value) -> Option<KeyValue> {
    let key = B64.decode(v.get("key")?.as_str()?).ok()?;
    let value = match v.get("value").and_then(Value::as_str) {
        Some(s) => B64.decode(s).ok()?,
        None => Vec::new(),
    };
    Some(KeyValue {
        key: String::from_utf8(key).ok()?,
        value,
        create_revision: v.get("create_revision").map_or(0, num),
        mod_revision: v.get("mod_revision").map_or(0, num),
        lease: v.get("lease").map_or(0, num),
    })
}

fn decode_kvs(v: &Value) -> Vec<KeyValue> {
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|kvs| kvs.iter().filter_map(decode_kv).collect())
        .unwrap_or_default()
}

impl EtcdClient {
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            preferred: AtomicUsize::new(0),
        }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// POST `body` to `path` on the preferred member, then the others in turn.
    async fn call(&self, path: &'static str, body: Value) -> Result<Value, EtcdError> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.endpoints.len() {
            let index = (start + i) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            match tokio::time::timeout(REQUEST_TIMEOUT, post(endpoint, path, &body)).await {
                Ok(Ok((status, answer))) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    if status >= 400 || answer.get("error").is_some() {
                        let message = answer
                            .get("message")
                            .or_else(|| answer.get("error"))
                            .and_then(Value::as_str)
                            .unwrap_or("an error without a message")
                            .to_string();
                        // A member without a quorum answers but cannot serve: try another.
                        if message.contains("no leader") || message.contains("timed out") {
                            last = format!("{endpoint}: {message}");
                            continue;
                        }
                        return Err(EtcdError::Refused {
                            endpoint: endpoint.clone(),
                            path,
                            message,
                        });
                    }
                    return Ok(answer);
                }
                Ok(Err(reason)) => last = format!("{endpoint}: {reason}"),
                Err(_) => last = format!("{endpoint}: no answer within {REQUEST_TIMEOUT:?}"),
            }
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(","),
            reason: last,
        })
    }

    /// Every key under `prefix`, and the store's revision at the time of reading.
    pub async fn range_prefix(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let answer = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)) }),
            )
            .await?;
        let revision = answer.pointer("/header/revision").map_or(0, num);
        Ok((decode_kvs(&answer), revision))
    }

    /// One key, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let answer = self
            .call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) }))
            .await?;
        Ok(decode_kvs(&answer).into_iter().next())
    }

    /// If every compare holds, run `success`, else `failure`; atomically.
    pub async fn txn(
        &self,
        compares: &[Compare],
        success: &[TxnOp],
        failure: &[TxnOp],
    ) -> Result<TxnResult, EtcdError> {
        fn compare(c: &Compare) -> Value {
            match c {
                Compare::ModRevision(key, rev) => json!({
                    "key": b64(key.as_bytes()), "target": "MOD", "result": "EQUAL",
                    "mod_revision": rev.to_string()
                }),
                Compare::CreateRevision(key, rev) => json!({
                    "key": b64(key.as_bytes()), "target": "CREATE", "result": "EQUAL",
                    "create_revision": rev.to_string()
                }),
            }
        }
        fn op(o: &TxnOp) -> Value {
            match o {
                TxnOp::Put { key, value, lease } => {
                    let mut put = json!({ "key": b64(key.as_bytes()), "value": b64(value) });
                    if *lease != 0 {
                        put["lease"] = Value::String(lease.to_string());
                    }
                    json!({ "request_put": put })
                }
                TxnOp::Delete(key) => {
                    json!({ "request_delete_range": { "key": b64(key.as_bytes()) } })
                }
                TxnOp::Get(key) => json!({ "request_range": { "key": b64(key.as_bytes()) } }),
            }
        }
        let body = json!({
            "compare": compares.iter().map(compare).collect::<Vec<_>>(),
            "success": success.iter().map(op).collect::<Vec<_>>(),
            "failure": failure.iter().map(op).collect::<Vec<_>>(),
        });
        let answer = self.call("/v3/kv/txn", body).await?;
        let reads = answer
            .get("responses")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("response_range"))
                    .flat_map(decode_kvs)
                    .collect()
            })
            .unwrap_or_default();
        Ok(TxnResult {
            succeeded: answer
                .get("succeeded")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            revision: answer.pointer("/header/revision").map_or(0, num),
            reads,
        })
    }

    /// A new lease of `ttl` seconds.
    pub async fn lease_grant(&self, ttl: u64) -> Result<i64, EtcdError> {
        let answer = self
            .call("/v3/lease/grant", json!({ "TTL": ttl.to_string() }))
            .await?;
        match answer.get("ID").map(num) {
            Some(id) if id != 0 => Ok(id),
            _ => Err(EtcdError::BadAnswer {
                endpoint: self.endpoints.join(","),
                path: "/v3/lease/grant",
                reason: "no lease id".into(),
            }),
        }
    }

    /// Renew a lease; `false` when it has already expired.
    pub async fn lease_keepalive(&self, id: i64) -> Result<bool, EtcdError> {
        let answer = self
            .call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        Ok(answer.pointer("/result/TTL").map_or(0, num) > 0)
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
            .map(drop)
    }

    /// Follow every change under `prefix` after `revision`, reconnecting (to any member)
    /// when the stream breaks, until the receiver is dropped.
    pub fn watch_prefix(
        self: &std::sync::Arc<Self>,
        prefix: String,
        revision: i64,
    ) -> mpsc::Receiver<WatchMsg> {
        let (tx, rx) = mpsc::channel(64);
        let client = self.clone();
        tokio::spawn(async move {
            let mut next = revision + 1;
            let mut member = 0usize;
            loop {
                let endpoint = client.endpoints[member % client.endpoints.len()].clone();
                match watch_once(&endpoint, &prefix, &mut next, &tx).await {
                    WatchEnd::ReceiverGone => return,
                    WatchEnd::Compacted(at) => {
                        if tx.send(WatchMsg::Resync).await.is_err() {
                            return;
                        }
                        next = at;
                    }
                    WatchEnd::Broken(reason) => {
                        debug!(%endpoint, %reason, "etcd watch broke; resuming");
                        member += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        rx
    }
}

enum WatchEnd {
    ReceiverGone,
    Compacted(i64),
    Broken(String),
}

async fn watch_once(
    endpoint: &str,
    prefix: &str,
    next: &mut i64,
    tx: &mpsc::Sender<WatchMsg>,
) -> WatchEnd {
    let body = json!({ "create_request": {
        "key": b64(prefix.as_bytes()),
        "range_end": b64(&prefix_end(prefix)),
        "start_revision": next.to_string(),
    }});
    let mut response =
        match tokio::time::timeout(REQUEST_TIMEOUT, open(endpoint, "/v3/watch", &body)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return WatchEnd::Broken(e),
            Err(_) => return WatchEnd::Broken("no answer".into()),
        };
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = response.frame() => frame,
            _ = tx.closed() => return WatchEnd::ReceiverGone,
        };
        let data = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(e)) => return WatchEnd::Broken(e.to_string()),
            None => return WatchEnd::Broken("stream ended".into()),
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                warn!("etcd watch sent a line this client cannot read");
                continue;
            };
            let Some(result) = message.get("result") else {
                return WatchEnd::Broken(format!("watch error: {message}"));
            };
            let compacted = result.get("compact_revision").map_or(0, num);
            if compacted > 0 {
                return WatchEnd::Compacted(compacted);
            }
            if result.get("canceled").and_then(Value::as_bool) == Some(true) {
                return WatchEnd::Broken("watch canceled".into());
            }
            let changes: Vec<Change> = result
                .get("events")
                .and_then(Value::as_array)
                .map(|events| {
                    events
                        .iter()
                        .filter_map(|e| {
                            let kv = decode_kv(e.get("kv")?)?;
                            let deleted = e.get("type").and_then(Value::as_str) == Some("DELETE");
                            Some(Change {
                                key: kv.key,
                                value: (!deleted).then_some(kv.value),
                                mod_revision: kv.mod_revision,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(last) = changes.last() {
                *next = last.mod_revision + 1;
                if tx.send(WatchMsg::Changes(changes)).await.is_err() {
                    return WatchEnd::ReceiverGone;
                }
            }
        }
    }
}

type Response = hyper::Response<hyper::body::Incoming>;

/// Open a connection, send one POST, return the response with its body unread.
async fn open(endpoint: &str, path: &str, body: &Value) -> Result<Response, String> {
    let stream = TcpStream::connect(endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = Request::post(path)
        .header("host", endpoint)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

async fn post(endpoint: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
    let response = open(endpoint, path, body).await?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    // The keepalive answer is a stream of results; the first one is ours.
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let value = serde_json::from_slice(first).map_err(|e| {
        format!(
            "unreadable answer ({e}): {}",
            String::from_utf8_lossy(first)
        )
    })?;
    Ok((status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end("a/"), b"a0".to_vec());
        assert_eq!(prefix_end("ab"), b"ac".to_vec());
    }

    #[test]
    fn key_values_decode_from_the_gateway_json() {
        let v = json!({"key":"Zm9v","create_revision":"2","mod_revision":"5","version":"1","value":"YmFy"});
        let kv = decode_kv(&v).unwrap();
        assert_eq!(
            (
                kv.key.as_str(),
                &kv.value[..],
                kv.create_revision,
                kv.mod_revision
            ),
            ("foo", &b"bar"[..], 2, 5)
        );
    }
}
