//! The daemon's metrics: one registry per process, shared by every role it hosts, served
//! as Prometheus text by the admin endpoint ([`crate::admin_http`]).
//!
//! Two kinds of metric live here:
//!
//! - **Events** (counters and histograms: records appended, requests, fsyncs, elections)
//!   are counted where they happen, through the functions and handles of this module. A
//!   hot path holds its own handle (e.g. [`PartitionCounters`]) so that counting costs an
//!   atomic add, not a label lookup.
//! - **State** (watermarks, sizes, in-sync counts, SPUs online) is read from the live
//!   structures at scrape time ([`state`]), never mirrored by hand: a mirror drifts, the
//!   live state cannot.
//!
//! Names follow Prometheus' conventions: a `fluvio_` prefix, base units in the name
//! (`_bytes`, `_seconds`), `_total` on counters (added by the encoder), and the labels
//! `topic`, `partition`, `spu`, `listener`, `api` where they belong. The process metrics
//! keep the standard unprefixed names (`process_resident_memory_bytes`, ...) that
//! dashboards expect.

pub mod health;
mod process;
pub mod state;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use protocol::api::ErrorCode;

/// Labels of a partition replica's series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: u32,
    pub spu: i32,
}

/// Labels of a listener's series ("SC public", "SPU public", ...).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub listener: String,
    /// Which limit refused it: `total` or `per_peer`.
    pub limit: String,
}

/// Static strings: these label every request, and a lookup should not allocate.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub listener: &'static str,
    pub api: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub listener: String,
    pub api: String,
    pub error: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Where the corruption was found: `recovery`, `produce`, `replication`, `read`.
    pub source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request and controller latencies: 100 µs to 30 s, in round numbers a reader can
/// compare with a latency objective.
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// fsync latencies: 50 µs (a write-back cache) to 2.5 s (a disk in trouble).
const FSYNC_BUCKETS: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5,
];
/// Opening one replica log: a clean open takes a millisecond, validating gigabytes minutes.
const RECOVERY_BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every event metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    // Partitions.
    pub records_appended: Family<PartitionLabels, Counter>,
    pub bytes_appended: Family<PartitionLabels, Counter>,
    pub consumer_bytes: Family<PartitionLabels, Counter>,
    pub follower_bytes: Family<PartitionLabels, Counter>,
    // Requests and listeners.
    pub requests: Family<ApiLabels, Counter>,
    pub request_errors: Family<ErrorLabels, Counter>,
    pub request_seconds: HistogramFamily<ApiLabels>,
    pub produce_seconds: HistogramFamily<TopicLabels>,
    pub connections_open: Family<ListenerLabels, Gauge>,
    pub streams_open: Family<ListenerLabels, Gauge>,
    pub connections_refused: Family<RefusedLabels, Counter>,
    // Storage.
    pub fsyncs: Counter,
    pub fsync_seconds: Histogram,
    pub group_commit_records: Histogram,
    pub recovery_seconds: Histogram,
    pub corrupt_batches: Family<SourceLabels, Counter>,
    // SC.
    pub reconciliations: Family<ControllerLabels, Counter>,
    pub reconcile_seconds: HistogramFamily<ControllerLabels>,
    pub leader_elections: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            records_appended: Family::default(),
            bytes_appended: Family::default(),
            consumer_bytes: Family::default(),
            follower_bytes: Family::default(),
            requests: Family::default(),
            request_errors: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            produce_seconds: Family::new_with_constructor(latency_histogram),
            connections_open: Family::default(),
            streams_open: Family::default(),
            connections_refused: Family::default(),
            fsyncs: Counter::default(),
            fsync_seconds: Histogram::new(FSYNC_BUCKETS),
            group_commit_records: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            recovery_seconds: Histogram::new(RECOVERY_BUCKETS),
            corrupt_batches: Family::default(),
            reconciliations: Family::default(),
            reconcile_seconds: Family::new_with_constructor(latency_histogram),
            leader_elections: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "fluvio_partition_records_appended",
            "Records appended to this replica's log (as leader or follower)",
            m.records_appended.clone(),
        );
        r.register(
            "fluvio_partition_appended_bytes",
            "Bytes of record batches appended to this replica's log",
            m.bytes_appended.clone(),
        );
        r.register(
            "fluvio_partition_consumer_served_bytes",
            "Bytes of record batches sent to consumers (stream fetch)",
            m.consumer_bytes.clone(),
        );
        r.register(
            "fluvio_partition_follower_served_bytes",
            "Bytes of record batches sent to followers replicating this leader",
            m.follower_bytes.clone(),
        );
        r.register(
            "fluvio_requests",
            "Requests handled, by listener and API",
            m.requests.clone(),
        );
        r.register(
            "fluvio_request_errors",
            "Requests (or parts of one, e.g. a produced partition) answered with an error code",
            m.request_errors.clone(),
        );
        r.register(
            "fluvio_request_duration_seconds",
            "Time from a request's arrival to its answer (for streams: to the stream's start)",
            m.request_seconds.clone(),
        );
        r.register(
            "fluvio_produce_duration_seconds",
            "Time from a produce request's arrival until its entries for this topic were answered (stored, or replicated for read_committed)",
            m.produce_seconds.clone(),
        );
        r.register(
            "fluvio_connections_open",
            "Connections open, by listener",
            m.connections_open.clone(),
        );
        r.register(
            "fluvio_streams_open",
            "Streams open (stream fetches, follower fetches, watches), by listener",
            m.streams_open.clone(),
        );
        r.register(
            "fluvio_connections_refused",
            "Connections closed at once because a connection limit was reached",
            m.connections_refused.clone(),
        );
        r.register(
            "fluvio_storage_fsyncs",
            "fsyncs of partition log data",
            m.fsyncs.clone(),
        );
        r.register(
            "fluvio_storage_fsync_duration_seconds",
            "Duration of each fsync of partition log data",
            m.fsync_seconds.clone(),
        );
        r.register(
            "fluvio_storage_group_commit_records",
            "Records made durable by one fsync (group commit batch size)",
            m.group_commit_records.clone(),
        );
        r.register(
            "fluvio_storage_recovery_duration_seconds",
            "Time to open (and, after a crash, validate) each replica log",
            m.recovery_seconds.clone(),
        );
        r.register(
            "fluvio_storage_corrupt_batches",
            "Corrupt or torn record batches found, by where they were found",
            m.corrupt_batches.clone(),
        );
        r.register(
            "fluvio_sc_reconciliations",
            "Controller passes that turned specs into status, by controller",
            m.reconciliations.clone(),
        );
        r.register(
            "fluvio_sc_reconciliation_duration_seconds",
            "Duration of each controller pass",
            m.reconcile_seconds.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        r.register(
            "fluvio_build_info",
            "The daemon's version (the value is always 1)",
            build,
        );
        r.register(
            "fluvio_sc_leader_elections",
            "Partition leaders elected by the SC (an SPU lost or back)",
            m.leader_elections.clone(),
        );
        // Series that are known up front start at zero rather than appearing with their
        // first event: a query for "corrupt batches found" then says 0, not "no data".
        for source in ["recovery", "append", "read"] {
            drop(m.corrupt_batches.get_or_create(&SourceLabels {
                source: source.into(),
            }));
        }
        Metrics { registry, ..m }
    }

    /// The event metrics as Prometheus text (without the `# EOF` trailer).
    fn encode_events(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

/// Off with `--no-metrics`: nothing is counted, so that "metrics off" costs nothing and a
/// benchmark can compare the two.
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Stop counting (before any role starts).
pub fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Everything, in the OpenMetrics text format Prometheus scrapes: the event metrics,
/// the state read from the live structures now, and the process's own figures.
pub async fn render() -> String {
    let snapshot = state::Snapshot::take().await;
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail.
    let _ = get().encode_events(&mut out);
    let _ = snapshot.encode(&mut out);
    let _ = process::encode(&mut out);
    let _ = prometheus_client::encoding::text::encode_eof(&mut out);
    out
}

/// The counters one partition replica bumps on its hot paths, resolved once (none when
/// metrics are off).
#[derive(Debug, Clone, Default)]
pub struct PartitionCounters(Option<Box<PartitionCounterSet>>);

#[derive(Debug, Clone)]
struct PartitionCounterSet {
    records_appended: Counter,
    bytes_appended: Counter,
    consumer_bytes: Counter,
    follower_bytes: Counter,
}

impl PartitionCounters {
    pub fn new(topic: &str, partition: u32, spu: i32) -> Self {
        if !enabled() {
            return Self(None);
        }
        let m = get();
        let labels = PartitionLabels {
            topic: topic.to_string(),
            partition,
            spu,
        };
        Self(Some(Box::new(PartitionCounterSet {
            records_appended: m.records_appended.get_or_create_owned(&labels),
            bytes_appended: m.bytes_appended.get_or_create_owned(&labels),
            consumer_bytes: m.consumer_bytes.get_or_create_owned(&labels),
            follower_bytes: m.follower_bytes.get_or_create_owned(&labels),
        })))
    }

    pub fn appended(&self, records: i64, bytes: u64) {
        if let Some(c) = &self.0 {
            c.records_appended.inc_by(records.max(0) as u64);
            c.bytes_appended.inc_by(bytes);
        }
    }

    pub fn served_consumer(&self, bytes: u64) {
        if let Some(c) = &self.0 {
            c.consumer_bytes.inc_by(bytes);
        }
    }

    pub fn served_follower(&self, bytes: u64) {
        if let Some(c) = &self.0 {
            c.follower_bytes.inc_by(bytes);
        }
    }

    /// The replica is gone from this SPU (topic deleted, moved): its series go too, so a
    /// topic created again under the same name starts from zero.
    pub fn forget(topic: &str, partition: u32, spu: i32) {
        if !enabled() {
            return;
        }
        let m = get();
        let labels = PartitionLabels {
            topic: topic.to_string(),
            partition,
            spu,
        };
        m.records_appended.remove(&labels);
        m.bytes_appended.remove(&labels);
        m.consumer_bytes.remove(&labels);
        m.follower_bytes.remove(&labels);
    }
}

/// The name of an API key as served on `listener`: the SC's and the SPUs' public ports
/// reuse numbers (1003 is List on the SC, StreamFetch on an SPU).
pub fn api_name(listener: &str, api_key: u16) -> &'static str {
    use protocol::api::{sc_keys, spu_keys};
    use protocol::internal::keys;
    let sc = listener.starts_with("SC");
    if listener == crate::kafka::LISTENER {
        return crate::kafka::apis::metric_name(api_key as i16);
    }
    match api_key {
        k if k == spu_keys::API_VERSIONS => "api_versions",
        k if sc && k == sc_keys::CREATE => "create",
        k if sc && k == sc_keys::DELETE => "delete",
        k if sc && k == sc_keys::LIST => "list",
        k if sc && k == sc_keys::WATCH => "watch",
        k if sc && k == sc_keys::MIRRORING => "mirroring",
        k if sc && k == sc_keys::UPDATE => "update",
        k if k == spu_keys::PRODUCE => "produce",
        k if k == spu_keys::FETCH => "fetch",
        k if k == spu_keys::FETCH_OFFSETS => "fetch_offsets",
        k if k == spu_keys::STREAM_FETCH => "stream_fetch",
        k if k == spu_keys::UPDATE_OFFSETS => "update_offsets",
        k if k == spu_keys::UPDATE_CONSUMER_OFFSET => "update_consumer_offset",
        k if k == spu_keys::DELETE_CONSUMER_OFFSET => "delete_consumer_offset",
        k if k == spu_keys::FETCH_CONSUMER_OFFSETS => "fetch_consumer_offsets",
        k if k == spu_keys::VERIFY_REPLICA => "verify_replica",
        k if k == keys::REGISTER_SPU => "register_spu",
        k if k == keys::WATCH_CONTROL => "watch_control",
        k if k == keys::REPORT_OFFSETS => "report_offsets",
        k if k == keys::HEARTBEAT => "heartbeat",
        k if k == keys::FOLLOWER_FETCH => "follower_fetch",
        k if k == keys::FOLLOWER_OFFSET_UPDATE => "follower_offset_update",
        k if k == keys::EPOCH_END_OFFSET => "epoch_end_offset",
        _ => "unknown",
    }
}

/// One request handled on `listener`: counted, and its time observed.
pub fn request_done(listener: &'static str, api_key: u16, started: Instant) {
    if !enabled() {
        return;
    }
    let m = get();
    let labels = ApiLabels {
        listener,
        api: api_name(listener, api_key),
    };
    m.requests.get_or_create(&labels).inc();
    m.request_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
}

/// A produce request's entries for `topic` are answered, `started` being the request's
/// arrival: the latency a producer of that topic sees.
pub fn produce_answered(topic: &str, started: Instant) {
    if !enabled() {
        return;
    }
    get()
        .produce_seconds
        .get_or_create(&TopicLabels {
            topic: topic.to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
}

/// A request (or one partition of it) answered with `code`; no-op for success.
pub fn request_error(listener: &str, api_key: u16, code: &ErrorCode) {
    if !code.is_error() || !enabled() {
        return;
    }
    request_failed(listener, api_key, &error_name(code));
}

/// A request that failed without an error code (malformed, unknown api key, ...).
pub fn request_failed(listener: &str, api_key: u16, error: &str) {
    if !enabled() {
        return;
    }
    get()
        .request_errors
        .get_or_create(&ErrorLabels {
            listener: listener.to_string(),
            api: api_name(listener, api_key).to_string(),
            error: error.to_string(),
        })
        .inc();
}

/// An error code's variant in snake case, without its payload (which would make a
/// label value per message).
pub fn error_name(code: &ErrorCode) -> String {
    let debug = format!("{code:?}");
    let variant = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("Unknown");
    let mut name = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// Held while a connection or stream is open; counts it down when dropped.
#[derive(Debug)]
pub struct OpenGuard(Option<Gauge>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.dec();
        }
    }
}

fn open_guard(family: &Family<ListenerLabels, Gauge>, listener: &str) -> OpenGuard {
    if !enabled() {
        return OpenGuard(None);
    }
    let gauge = family.get_or_create_owned(&ListenerLabels {
        listener: listener.to_string(),
    });
    gauge.inc();
    OpenGuard(Some(gauge))
}

/// Held while a connection is open on `listener`.
pub fn connection_opened(listener: &str) -> OpenGuard {
    open_guard(&get().connections_open, listener)
}

/// Held while a stream (stream fetch, follower fetch, watch) runs on `listener`.
pub fn stream_opened(listener: &str) -> OpenGuard {
    open_guard(&get().streams_open, listener)
}

/// A listener started: its connection series start at zero.
pub fn listener_started(listener: &str) {
    if !enabled() {
        return;
    }
    let m = get();
    drop(m.connections_open.get_or_create(&ListenerLabels {
        listener: listener.to_string(),
    }));
    for limit in ["total", "per_peer"] {
        drop(m.connections_refused.get_or_create(&RefusedLabels {
            listener: listener.to_string(),
            limit: limit.to_string(),
        }));
    }
}

pub fn connection_refused(listener: &str, limit: &str) {
    if !enabled() {
        return;
    }
    get()
        .connections_refused
        .get_or_create(&RefusedLabels {
            listener: listener.to_string(),
            limit: limit.to_string(),
        })
        .inc();
}

/// One fsync of log data that took `took`.
pub fn fsync_done(took: Duration) {
    if !enabled() {
        return;
    }
    let m = get();
    m.fsyncs.inc();
    m.fsync_seconds.observe(took.as_secs_f64());
}

/// One sync made `records` more records durable.
pub fn group_commit(records: i64) {
    if records > 0 && enabled() {
        get().group_commit_records.observe(records as f64);
    }
}

/// A replica log opened after `took` (recovery included), cutting `corrupt` batches.
pub fn log_recovered(took: Duration, corrupt: u64) {
    if !enabled() {
        return;
    }
    let m = get();
    m.recovery_seconds.observe(took.as_secs_f64());
    if corrupt > 0 {
        corrupt_found("recovery", corrupt);
    }
}

pub fn corrupt_found(source: &str, batches: u64) {
    if !enabled() {
        return;
    }
    get()
        .corrupt_batches
        .get_or_create(&SourceLabels {
            source: source.to_string(),
        })
        .inc_by(batches);
}

/// One pass of an SC controller that took from `started` until now.
pub fn reconciled(controller: &str, started: Instant) {
    if !enabled() {
        return;
    }
    let m = get();
    let labels = ControllerLabels {
        controller: controller.to_string(),
    };
    m.reconciliations.get_or_create(&labels).inc();
    m.reconcile_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
}

pub fn leaders_elected(count: u64) {
    if !enabled() {
        return;
    }
    get().leader_elections.inc_by(count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_drop_the_payload() {
        assert_eq!(
            error_name(&ErrorCode::NotLeaderForPartition),
            "not_leader_for_partition"
        );
        assert_eq!(error_name(&ErrorCode::Other("a b".into())), "other");
        assert_eq!(
            error_name(&ErrorCode::OffsetEvicted {
                offset: 1,
                next_available: 2
            }),
            "offset_evicted"
        );
    }

    #[test]
    fn api_names_depend_on_the_listener() {
        assert_eq!(api_name("SC public", 1003), "list");
        assert_eq!(api_name("SPU public", 1003), "stream_fetch");
        assert_eq!(api_name("SPU public", 0), "produce");
        assert_eq!(api_name("SPU private", 2101), "follower_fetch");
        assert_eq!(api_name("SPU public", 4242), "unknown");
        assert_eq!(api_name("SPU Kafka", 3), "metadata");
        assert_eq!(api_name("SPU Kafka", 2), "list_offsets");
    }

    #[test]
    fn counters_show_in_the_text_with_their_labels() {
        let counters = PartitionCounters::new("metrics-unit", 3, 77);
        counters.appended(5, 640);
        let mut out = String::new();
        get().encode_events(&mut out).unwrap();
        assert!(
            out.contains(
                "fluvio_partition_records_appended_total{topic=\"metrics-unit\",partition=\"3\",spu=\"77\"} 5"
            ),
            "{out}"
        );
        assert!(out.contains(
            "fluvio_partition_appended_bytes_total{topic=\"metrics-unit\",partition=\"3\",spu=\"77\"} 640"
        ));
    }
}
