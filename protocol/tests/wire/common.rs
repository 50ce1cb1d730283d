//! Reads the hex captures of the official client's sessions (`tests/data/*.log`) into
//! frames, pairing every server frame with the request it answers.

#![allow(dead_code)] // the tests and examples/fuzz_seeds.rs each use a different part

use std::collections::HashMap;
use std::path::PathBuf;

/// Which server a frame went to or came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Sc,
    Spu,
}

/// One frame of a captured session, length prefix included.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    pub role: Role,
    /// True for client-to-server frames.
    pub is_request: bool,
    /// The client's address: one per connection.
    pub peer: String,
    pub correlation_id: i32,
    /// For a request its own api key and version; for a response those of the request it
    /// answers (a response is decoded at the request's version).
    pub api_key: u16,
    pub api_version: i16,
    pub bytes: Vec<u8>,
    /// Line number in the log, for failure messages.
    pub line: usize,
}

impl CapturedFrame {
    /// The frame body, without the 4-byte size prefix.
    pub fn body(&self) -> &[u8] {
        &self.bytes[4..]
    }
}

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    line[start..].split_whitespace().next()
}

/// Every frame in a capture log, in order.
pub fn load(name: &str) -> Vec<CapturedFrame> {
    let text = std::fs::read_to_string(data_path(name)).expect("capture file");
    let lines: Vec<&str> = text.lines().collect();
    let mut frames = Vec::new();
    // (role, peer, correlation id) -> (api key, version) of the latest request.
    let mut requests: HashMap<(Role, String, i32), (u16, i16)> = HashMap::new();
    for (idx, line) in lines.iter().enumerate() {
        let mut words = line.split_whitespace();
        let _time = words.next();
        let role = match words.next() {
            Some("SC") => Role::Sc,
            Some("SPU") => Role::Spu,
            _ => continue,
        };
        let is_request = match words.next() {
            Some("<-") => true,
            Some("->") => false,
            _ => continue,
        };
        let Some(hex_line) = lines.get(idx + 1).map(|l| l.trim()) else {
            continue;
        };
        let Some(hex_text) = hex_line.strip_prefix("HEX ") else {
            continue;
        };
        let peer = line[line.find('(').unwrap()..=line.find(')').unwrap()].to_string();
        let correlation_id: i32 = field(line, "corr=").unwrap().parse().unwrap();
        let (api_key, api_version) = if is_request {
            let key: u16 = field(line, "api_key=").unwrap().parse().unwrap();
            let version: i16 = field(line, "api_version=").unwrap().parse().unwrap();
            requests.insert((role, peer.clone(), correlation_id), (key, version));
            (key, version)
        } else {
            requests[&(role, peer.clone(), correlation_id)]
        };
        frames.push(CapturedFrame {
            role,
            is_request,
            peer,
            correlation_id,
            api_key,
            api_version,
            bytes: hex(hex_text),
            line: idx + 1,
        });
    }
    frames
}

/// Every capture log shipped as test data.
pub fn all_logs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_path(""))
        .expect("tests/data")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}
