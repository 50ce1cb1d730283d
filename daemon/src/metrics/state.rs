//! Gauges read from the live state at scrape time: each SPU's replicas (offsets, size,
//! segments, in-sync set, follower lag, leader epoch, leadership) and the SC's stores
//! (objects per kind, SPUs by state). The roles a process hosts register here when they
//! start ([`register_sc`], [`register_spu`]); a scrape reads whatever is registered and
//! still alive.

use std::sync::{Arc, Mutex, Weak};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use protocol::sc::SpuResolution;

use super::PartitionLabels;
use crate::sc::actions::Controller;
use crate::spu::replica::store::ReplicaStore;
use crate::sync::lock;

/// The roles of this process whose state a scrape reads.
#[derive(Default)]
pub(super) struct Sources {
    pub sc: Option<Weak<Controller>>,
    pub spus: Vec<Weak<ReplicaStore>>,
}

pub(super) fn sources() -> &'static Mutex<Sources> {
    static SOURCES: Mutex<Sources> = Mutex::new(Sources {
        sc: None,
        spus: Vec::new(),
    });
    &SOURCES
}

/// The SC of this process: its stores are loaded.
pub fn register_sc(controller: &Arc<Controller>) {
    lock(sources()).sc = Some(Arc::downgrade(controller));
}

/// An SPU of this process.
pub fn register_spu(replicas: &Arc<ReplicaStore>) {
    let mut sources = lock(sources());
    sources.spus.retain(|s| s.strong_count() > 0);
    sources.spus.push(Arc::downgrade(replicas));
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FollowerLabels {
    topic: String,
    partition: u32,
    spu: i32,
    follower: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpuStateLabels {
    state: String,
}

/// One replica's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaFigures {
    pub labels: PartitionLabels,
    pub hw: i64,
    pub leo: i64,
    pub log_start: i64,
    pub size_bytes: u64,
    pub segments: usize,
    pub leader_epoch: i32,
    pub is_leader: bool,
    /// Leaders only: replicas assigned, replicas the high watermark waits for, and each
    /// follower's lag.
    pub replicas: Option<usize>,
    pub in_sync: Option<usize>,
    pub follower_lag: Vec<(i32, i64)>,
}

/// The SC's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScFigures {
    pub topics: usize,
    pub partitions: usize,
    pub spus: usize,
    pub auth_tokens: usize,
    pub spus_online: usize,
    pub spus_offline: usize,
    pub spus_init: usize,
}

/// Everything read at one scrape.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub replicas: Vec<ReplicaFigures>,
    pub sc: Option<ScFigures>,
}

impl Snapshot {
    pub async fn take() -> Snapshot {
        let (sc, spus) = {
            let sources = lock(sources());
            (
                sources.sc.as_ref().and_then(Weak::upgrade),
                sources
                    .spus
                    .iter()
                    .filter_map(Weak::upgrade)
                    .collect::<Vec<_>>(),
            )
        };
        let replicas = spus.iter().flat_map(|s| replica_figures(s)).collect();
        let sc = match sc {
            Some(controller) => Some(controller.store().read(sc_figures).await),
            None => None,
        };
        Snapshot { replicas, sc }
    }

    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        let mut registry = Registry::default();
        let gauge = |registry: &mut Registry,
                     name: &str,
                     help: &str,
                     values: Vec<(PartitionLabels, i64)>| {
            let family = Family::<PartitionLabels, Gauge>::default();
            for (labels, value) in values {
                family.get_or_create(&labels).set(value);
            }
            registry.register(name, help, family);
        };
        let each = |f: &dyn Fn(&ReplicaFigures) -> Option<i64>| -> Vec<(PartitionLabels, i64)> {
            self.replicas
                .iter()
                .filter_map(|r| f(r).map(|v| (r.labels.clone(), v)))
                .collect()
        };
        if !self.replicas.is_empty() {
            gauge(
                &mut registry,
                "fluvio_partition_high_watermark",
                "High watermark: offsets below it are committed",
                each(&|r| Some(r.hw)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_log_end_offset",
                "Log end offset: the offset the next record gets",
                each(&|r| Some(r.leo)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_log_start_offset",
                "First offset still stored (retention moves it)",
                each(&|r| Some(r.log_start)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_size_bytes",
                "Size of the replica's segments on disk",
                each(&|r| Some(r.size_bytes as i64)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_segments",
                "Segments of the replica's log",
                each(&|r| Some(r.segments as i64)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_leader_epoch",
                "Leader epoch this replica follows",
                each(&|r| Some(i64::from(r.leader_epoch))),
            );
            gauge(
                &mut registry,
                "fluvio_partition_is_leader",
                "1 if this SPU leads the partition, else 0",
                each(&|r| Some(i64::from(r.is_leader))),
            );
            gauge(
                &mut registry,
                "fluvio_partition_replicas",
                "Replicas assigned, the leader included (reported by the leader)",
                each(&|r| r.replicas.map(|n| n as i64)),
            );
            gauge(
                &mut registry,
                "fluvio_partition_in_sync_replicas",
                "Replicas in sync, the leader included (reported by the leader)",
                each(&|r| r.in_sync.map(|n| n as i64)),
            );
            let lag = Family::<FollowerLabels, Gauge>::default();
            for r in &self.replicas {
                for (follower, records) in &r.follower_lag {
                    lag.get_or_create(&FollowerLabels {
                        topic: r.labels.topic.clone(),
                        partition: r.labels.partition,
                        spu: r.labels.spu,
                        follower: *follower,
                    })
                    .set(*records);
                }
            }
            registry.register(
                "fluvio_partition_follower_lag_records",
                "Records the follower lacks behind the leader's log end (reported by the leader)",
                lag,
            );
        }
        if let Some(sc) = &self.sc {
            let objects = Family::<KindLabels, Gauge>::default();
            for (kind, n) in [
                ("topic", sc.topics),
                ("partition", sc.partitions),
                ("spu", sc.spus),
                ("auth_token", sc.auth_tokens),
            ] {
                objects
                    .get_or_create(&KindLabels { kind: kind.into() })
                    .set(n as i64);
            }
            registry.register(
                "fluvio_sc_objects",
                "Objects in the SC's metadata stores, by kind",
                objects,
            );
            let spus = Family::<SpuStateLabels, Gauge>::default();
            for (state, n) in [
                ("online", sc.spus_online),
                ("offline", sc.spus_offline),
                ("init", sc.spus_init),
            ] {
                spus.get_or_create(&SpuStateLabels {
                    state: state.into(),
                })
                .set(n as i64);
            }
            registry.register("fluvio_sc_spus", "SPUs known to the SC, by state", spus);
        }
        prometheus_client::encoding::text::encode_registry(out, &registry)
    }
}

fn replica_figures(store: &ReplicaStore) -> Vec<ReplicaFigures> {
    let spu = store.spu();
    store
        .partitions()
        .iter()
        .filter_map(|p| {
            let key = p.key();
            let stats = p.log_stats().ok()?;
            let offsets = p.offsets().ok()?;
            let assignment = p.assignment();
            let is_leader = assignment.leader == spu;
            let (in_sync, follower_lag) = match p.report() {
                Some(report) if is_leader => (
                    Some(p.in_sync_count()),
                    report
                        .followers
                        .iter()
                        .map(|f| {
                            // A follower that has not reported in this epoch lacks
                            // everything as far as the leader can tell.
                            let has = if f.leo < 0 { offsets.log_start } else { f.leo };
                            (f.spu, (offsets.leo - has).max(0))
                        })
                        .collect(),
                ),
                _ => (None, Vec::new()),
            };
            Some(ReplicaFigures {
                labels: PartitionLabels {
                    topic: key.topic.clone(),
                    partition: key.partition,
                    spu,
                },
                hw: offsets.hw,
                leo: offsets.leo,
                log_start: offsets.log_start,
                size_bytes: stats.size_bytes,
                segments: stats.segments,
                leader_epoch: assignment.leader_epoch,
                is_leader,
                replicas: is_leader.then_some(assignment.replicas.len()),
                in_sync,
                follower_lag,
            })
        })
        .collect()
}

fn sc_figures(stores: &crate::sc::store::Stores) -> ScFigures {
    let mut figures = ScFigures {
        topics: stores.topics.len(),
        partitions: stores.partitions.len(),
        spus: stores.spus.len(),
        auth_tokens: stores.tokens.len(),
        ..ScFigures::default()
    };
    for spu in stores.spus.values() {
        match spu.status.resolution {
            SpuResolution::Online => figures.spus_online += 1,
            SpuResolution::Offline => figures.spus_offline += 1,
            SpuResolution::Init => figures.spus_init += 1,
        }
    }
    figures
}
