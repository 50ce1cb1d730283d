//! Writes the seed corpora of the fuzz targets (`fuzz/`) into a directory, one
//! subdirectory per target, from the captures of the official client in `tests/data/`:
//!
//! - `sc_request`, `spu_request`: every captured request body for that server;
//! - `internal_request`: requests of the private ports (not in the captures: ours),
//!   generated deterministically;
//! - `record_batch`: the record sets of the captured produce requests, plus one batch per
//!   codec;
//! - `segment_recovery`: those batches laid end to end with offsets continuing, as a segment.
//!
//! `cargo run -p protocol --example fuzz_seeds -- fuzz/corpus`

#[path = "../tests/wire/common.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use protocol::Encode;
use protocol::api::encode_request_frame;
use protocol::internal::{
    EpochEndOffsetRequest, FollowerFetchRequest, FollowerOffsetUpdateRequest, HeartbeatRequest,
    RegisterSpuRequest, ReportOffsetsRequest, WatchControlRequest,
};
use protocol::record::{Batch, Compression, Record, batch::set_base_offset, batches};
use protocol::spu::{ApiRequest, SpuRequest};

/// Write each distinct seed as its own file.
fn write_all(dir: &Path, seeds: impl IntoIterator<Item = Vec<u8>>) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let unique: BTreeSet<Vec<u8>> = seeds.into_iter().collect();
    for (i, seed) in unique.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:04}")), seed)?;
    }
    Ok(unique.len())
}

fn generated<T: ApiRequest + Encode + Arbitrary>(
    runner: &mut TestRunner,
    n: usize,
) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let request = any::<T>().new_tree(runner).unwrap().current();
            encode_request_frame(&T::header(1, "seed"), &request).unwrap()[4..].to_vec()
        })
        .collect()
}

fn main() -> std::io::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fuzz/corpus"));

    let frames: Vec<common::CapturedFrame> = common::all_logs()
        .iter()
        .flat_map(|name| common::load(name))
        .collect();
    let requests = |role| {
        frames
            .iter()
            .filter(move |f| f.is_request && f.role == role)
            .map(|f| f.body().to_vec())
    };

    let mut runner = TestRunner::deterministic();
    let runner = &mut runner;
    let mut internal = Vec::new();
    internal.extend(generated::<RegisterSpuRequest>(runner, 4));
    internal.extend(generated::<WatchControlRequest>(runner, 2));
    internal.extend(generated::<ReportOffsetsRequest>(runner, 8));
    internal.extend(generated::<HeartbeatRequest>(runner, 2));
    internal.extend(generated::<FollowerFetchRequest>(runner, 4));
    internal.extend(generated::<FollowerOffsetUpdateRequest>(runner, 4));
    internal.extend(generated::<EpochEndOffsetRequest>(runner, 4));

    // Record sets the official producer sent, then one small batch per codec.
    let mut record_sets: Vec<Vec<u8>> = Vec::new();
    for frame in frames
        .iter()
        .filter(|f| f.is_request && f.role == common::Role::Spu)
    {
        if let Ok((_, SpuRequest::Produce(produce))) = SpuRequest::decode_frame(frame.body()) {
            for topic in &produce.topics {
                for partition in &topic.partitions {
                    record_sets.push(partition.records.as_bytes().to_vec());
                }
            }
        }
    }
    for codec in Compression::ALL {
        let mut batch = Batch::new().with_compression(*codec).with_timestamp(1_000);
        batch.push(Record::with_key(&b"key"[..], vec![b'v'; 100]));
        batch.push(Record::new(&b"second"[..]).header("h", &b"x"[..]));
        record_sets.push(batch.encode().expect("encode a batch"));
    }
    record_sets.retain(|set| !set.is_empty());

    // A segment: every batch above, offsets continuing from 0.
    let mut segment = Vec::new();
    let mut next = 0i64;
    for set in &record_sets {
        for raw in batches(set).flatten() {
            let mut bytes = raw.bytes.to_vec();
            set_base_offset(&mut bytes, next);
            next += raw.header.record_count();
            segment.extend_from_slice(&bytes);
        }
    }
    let segments = vec![segment.clone(), segment[..segment.len() / 2].to_vec()];

    for (target, seeds) in [
        ("sc_request", requests(common::Role::Sc).collect::<Vec<_>>()),
        ("spu_request", requests(common::Role::Spu).collect()),
        ("internal_request", internal),
        ("record_batch", record_sets),
        ("segment_recovery", segments),
    ] {
        let written = write_all(&out.join(target), seeds)?;
        println!("{target}: {written} seeds");
    }
    Ok(())
}
