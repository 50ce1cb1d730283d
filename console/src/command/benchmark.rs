//! `fluvio benchmark produce|consume`: throughput and latency of the cluster through the
//! client library, each throughput also given as a ratio to a loopback TCP baseline
//! measured in the same run (plain bytes through a socket pair on 127.0.0.1 in the same
//! chunk sizes), because absolute figures on a shared machine mean little.
//!
//! A run has two phases, each on a topic of its own. The latency phase goes first: it
//! sends at a fixed `--rate` with no linger, timing each record's acknowledgement and its
//! arrival at a consumer that follows the topic (end to end). The throughput phase then
//! sends `--records` as fast as the producer takes them (or, for `consume`, reads them
//! back from the beginning).
//!
//! `--producers N` / `--consumers N` run the throughput phase with N clients at once, each
//! on a connection of its own (`clients`); `--sweep NAME=V1,V2,...` runs the whole
//! benchmark once per setting and reports each as a ratio to the first (`sweep`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use clap::{Args, Subcommand, ValueEnum};
use protocol::api::ErrorCode;
use protocol::record::Record;
use protocol::sc::{ReplicaSpec, TopicSpec};
use protocol::spu::Isolation;
use serde::Serialize;

use super::{Body, CommandError, Context, Output};
use crate::client::{ClientError, ConsumerConfig, Fluvio, MultiStream, Offset, ProducerConfig};

mod clients;
mod soak;
mod sweep;
pub use clients::ClientReport;
pub use soak::{Check, RssReport, RssSample, SoakArgs, SoakError, SoakReport, run as run_soak};
pub use sweep::{Sweep, SweepParam, SweepPoint, SweepReport};

#[derive(Debug, Clone, Subcommand)]
pub enum BenchmarkCmd {
    /// Measure producing: throughput, then acknowledgement and end-to-end latency.
    Produce(BenchmarkArgs),
    /// Measure consuming: write records to a fresh topic, then time reading them all back
    /// from the beginning; also acknowledgement and end-to-end latency.
    Consume(ConsumeBenchArgs),
    /// Hold a load: N clients produce and consume for S seconds; report throughput,
    /// acknowledgement latency and the daemon's memory, then check that every
    /// acknowledged record was consumed exactly once, in order (exit 1 if not).
    Soak(SoakArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BenchmarkArgs {
    /// Records to send in the throughput phase.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Bytes of each record's value.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub record_size: usize,
    /// Producer batch size in bytes (also the chunk size of the loopback baseline).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub batch_size: usize,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 1)]
    pub partitions: u32,
    /// Concurrent producers in the throughput phase, each on a connection of its own; the
    /// records are split among them. Reports each one's throughput and acknowledgement
    /// latency under load, and the aggregate.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CLIENTS))
    )]
    pub producers: u32,
    /// Consumers of a consume run (one for produce).
    #[arg(skip = 1u32)]
    pub consumers: u32,
    /// Run the whole benchmark once per value and print one line per setting with its
    /// throughput as a ratio to the first (JSON: one object per setting). NAME is
    /// partitions, producers, record-size or batch-size; repeat the flag for a matrix of
    /// every combination (e.g. `--sweep partitions=1,10,100,1000 --sweep producers=1,10`).
    #[arg(
        long,
        value_name = "NAME=V1,V2,...",
        value_parser = sweep::parse_produce,
        conflicts_with = "compare_replication"
    )]
    pub sweep: Vec<Sweep>,
    /// Replicas of each partition.
    #[arg(long, default_value_t = 1)]
    pub replication: u32,
    /// Run again on a topic with this replication factor and report its throughput and
    /// acknowledgement latency as ratios to the first run (e.g. `--compare-replication 3`).
    #[arg(long, value_name = "FACTOR")]
    pub compare_replication: Option<u32>,
    /// With `--compare-replication`: run the pair this many times, alternating, and
    /// report the median of the per-round throughput ratios. Rounds after the first skip
    /// the latency phase. Single runs on a noisy machine can swing by a third.
    #[arg(
        long,
        default_value_t = 1,
        requires = "compare_replication",
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub rounds: u32,
    /// Records per second in the latency phase.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Length of the latency phase, in seconds (0 skips it).
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub latency_secs: u64,
    /// Acknowledge after the leader wrote (read_uncommitted) or once replicated
    /// (read_committed).
    #[arg(long, value_enum, default_value_t = IsolationArg::ReadUncommitted)]
    pub isolation: IsolationArg,
    /// Produce requests each producer keeps out at once per partition with read_committed
    /// (Kafka's max.in.flight.requests.per.connection; 1 sends the next request only once
    /// the previous one is acknowledged).
    #[arg(
        long,
        value_name = "N",
        default_value_t = client::MAX_IN_FLIGHT_IDEMPOTENT,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=client::MAX_IN_FLIGHT_IDEMPOTENT as u64)
    )]
    pub max_in_flight: usize,
    /// Keep the benchmark topic instead of deleting it afterwards.
    #[arg(long)]
    pub keep_topic: bool,
    /// Output format: text for people, json for one JSON object.
    #[arg(short = 'O', long = "output", value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,
}

/// `benchmark consume`'s flags: the same settings as `produce`, described as a consume
/// run uses them (its help is its own, not produce's).
#[derive(Debug, Clone, Args)]
pub struct ConsumeBenchArgs {
    /// Records written to the topic first, then read back and timed.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Bytes of each record's value.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub record_size: usize,
    /// Batch size in bytes of the producer that fills the topic (also the chunk size of
    /// the loopback baseline the read throughput is compared with).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub batch_size: usize,
    /// Partitions of the benchmark topic; all are read at once.
    #[arg(long, default_value_t = 1)]
    pub partitions: u32,
    /// Concurrent consumers, each on a connection of its own, splitting the records:
    /// whole partitions dealt out in turn, or with more consumers than partitions, even
    /// slices of each partition's offsets. In the latency phase every consumer follows the
    /// whole topic, so each record's end-to-end latency is timed at each of them.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CLIENTS))
    )]
    pub consumers: u32,
    /// Run the whole benchmark once per value and print one line per setting with its
    /// read throughput as a ratio to the first (JSON: one object per setting). NAME is
    /// partitions, consumers, record-size or batch-size; repeat the flag for a matrix.
    #[arg(
        long,
        value_name = "NAME=V1,V2,...",
        value_parser = sweep::parse_consume,
        conflicts_with = "compare_replication"
    )]
    pub sweep: Vec<Sweep>,
    /// Replicas of each partition.
    #[arg(long, default_value_t = 1)]
    pub replication: u32,
    /// Run again on a topic with this replication factor and report its read throughput
    /// as a ratio to the first run's.
    #[arg(long, value_name = "FACTOR")]
    pub compare_replication: Option<u32>,
    /// With `--compare-replication`: run the pair this many times, alternating, and
    /// report the median of the per-round ratios.
    #[arg(
        long,
        default_value_t = 1,
        requires = "compare_replication",
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub rounds: u32,
    /// Records per second written in the latency phase, where a consumer following the
    /// topic times each record's arrival (end to end).
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Length of the latency phase, in seconds (0 skips it).
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub latency_secs: u64,
    /// When written records count as acknowledged: after the leader wrote them
    /// (read_uncommitted) or once replicated (read_committed).
    #[arg(long, value_enum, default_value_t = IsolationArg::ReadUncommitted)]
    pub isolation: IsolationArg,
    /// Keep the benchmark topic instead of deleting it afterwards.
    #[arg(long)]
    pub keep_topic: bool,
    /// Output format: text for people, json for one JSON object.
    #[arg(short = 'O', long = "output", value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,
}

impl From<ConsumeBenchArgs> for BenchmarkArgs {
    fn from(a: ConsumeBenchArgs) -> Self {
        BenchmarkArgs {
            records: a.records,
            record_size: a.record_size,
            batch_size: a.batch_size,
            partitions: a.partitions,
            producers: 1,
            consumers: a.consumers,
            sweep: a.sweep,
            replication: a.replication,
            compare_replication: a.compare_replication,
            rounds: a.rounds,
            rate: a.rate,
            latency_secs: a.latency_secs,
            isolation: a.isolation,
            max_in_flight: client::MAX_IN_FLIGHT_IDEMPOTENT,
            keep_topic: a.keep_topic,
            format: a.format,
        }
    }
}

/// A progress bar on stderr while a benchmark runs: drawn only when stderr is a terminal
/// (and not under the TUI, which owns the screen), so pipes and logs get nothing. One line,
/// redrawn in place at most ten times a second, cleared at the end.
///
/// Drawn here rather than with indicatif: indicatif depends on a crate named `console`,
/// which would make `cargo run -p console` (this package) ambiguous for everyone.
#[derive(Clone)]
pub struct Progress {
    // Shared by the concurrent clients of a run, which all count into one bar.
    state: Option<std::sync::Arc<std::sync::Mutex<Bar>>>,
}

struct Bar {
    name: String,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

/// How often the bar is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl Progress {
    pub fn new(draw: bool) -> Progress {
        let state = draw.then(|| {
            std::sync::Arc::new(std::sync::Mutex::new(Bar {
                name: String::new(),
                total: 0,
                done: 0,
                started: Instant::now(),
                drawn: None,
            }))
        });
        Progress { state }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Bar)) {
        if let Some(state) = &self.state {
            let mut bar = state.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut bar);
        }
    }

    /// A phase starts: `total` records to go.
    fn phase(&self, name: String, total: u64) {
        self.with_bar(|bar| {
            *bar = Bar {
                name,
                total,
                done: 0,
                started: Instant::now(),
                drawn: None,
            };
            bar.draw();
        });
    }

    fn inc(&self, records: u64) {
        self.with_bar(|bar| {
            bar.done += records;
            if bar.drawn.is_none_or(|at| at.elapsed() >= REDRAW_EVERY) || bar.done >= bar.total {
                bar.draw();
            }
        });
    }

    /// The run is over: the bar goes, so the figures stand alone.
    fn finish(&self) {
        self.with_bar(|bar| {
            if bar.drawn.is_some() {
                let mut err = std::io::stderr();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        });
    }
}

impl Bar {
    fn draw(&mut self) {
        self.drawn = Some(Instant::now());
        let columns = crossterm::terminal::size().map_or(80, |(c, _)| usize::from(c));
        let line = self.line(columns);
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// `producing (replication 1) [=====>     ] 5000/20000 records, 41000/s`, its bar
    /// as wide as the terminal leaves room for (none on a very narrow one).
    fn line(&self, columns: usize) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / secs;
        let counts = format!(" {}/{} records, {rate:.0}/s", self.done, self.total);
        let room = columns
            .saturating_sub(1)
            .saturating_sub(self.name.chars().count() + counts.len() + 3);
        let width = room.min(40);
        if width < 5 {
            return format!("{}{counts}", self.name);
        }
        let filled = if self.total == 0 {
            width
        } else {
            ((self.done.min(self.total) as f64 / self.total as f64) * width as f64) as usize
        };
        let mut bar = "=".repeat(filled);
        if filled < width {
            bar.push('>');
            bar.push_str(&" ".repeat(width - filled - 1));
        }
        format!("{} [{bar}]{counts}", self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum IsolationArg {
    ReadUncommitted,
    ReadCommitted,
}

impl From<IsolationArg> for Isolation {
    fn from(value: IsolationArg) -> Self {
        match value {
            IsolationArg::ReadUncommitted => Isolation::ReadUncommitted,
            IsolationArg::ReadCommitted => Isolation::ReadCommitted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    Text,
    Json,
}

/// Latency percentiles in milliseconds. Without samples (a latency phase skipped with
/// `--latency-secs 0`, a consume run) the JSON says `null` for each figure: nothing was
/// measured, which `0.0` would hide.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Serialize for Percentiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let measured = |value: f64| (self.samples > 0).then_some(value);
        let mut out = serializer.serialize_struct("Percentiles", 5)?;
        out.serialize_field("samples", &self.samples)?;
        out.serialize_field("p50_ms", &measured(self.p50_ms))?;
        out.serialize_field("p99_ms", &measured(self.p99_ms))?;
        out.serialize_field("p999_ms", &measured(self.p999_ms))?;
        out.serialize_field("max_ms", &measured(self.max_ms))?;
        out.end()
    }
}

impl Percentiles {
    /// `p50 1.000 ms  p99 2.000 ms  p99.9 3.000 ms  max 4.000 ms`
    pub fn figures(&self) -> String {
        format!(
            "p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }

    /// Percentiles of `samples` (nearest rank).
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1000.0
        };
        Percentiles {
            samples: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: at(1.0),
        }
    }
}

/// Bytes and records moved in some time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Throughput {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub records_per_s: f64,
}

impl Throughput {
    /// `  1502.3 MB/s      1466000 records/s`: the rates in the columns every report uses.
    pub fn rates(&self) -> String {
        format!(
            "{:>10.1} MB/s {:>12.0} records/s",
            self.mb_per_s, self.records_per_s
        )
    }

    pub fn new(records: u64, bytes: u64, elapsed: Duration) -> Throughput {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Throughput {
            records,
            bytes,
            seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
            records_per_s: records as f64 / seconds,
        }
    }
}

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub kind: &'static str,
    pub topic: String,
    pub partitions: u32,
    pub replication: u32,
    pub record_size: usize,
    pub batch_size: usize,
    /// Concurrent producers of the throughput phase (`--producers`; 1 for consume, whose
    /// one producer fills the topic).
    pub producers: u32,
    /// Concurrent consumers (`--consumers`; 1 for produce, where none reads).
    pub consumers: u32,
    /// All clients together: every byte over the time from the first client's start to
    /// the last one's finish.
    pub throughput: Throughput,
    /// Plain loopback TCP in the same chunk sizes, same run: the median of
    /// `loopback_samples_mb_per_s`.
    pub loopback_baseline: Throughput,
    /// Each sample of the loopback baseline, in MB/s, in the order taken.
    pub loopback_samples_mb_per_s: Vec<f64>,
    /// `throughput.mb_per_s / loopback_baseline.mb_per_s`.
    pub ratio_to_loopback: f64,
    /// Records per second of the latency phase, and what it measured.
    pub latency_rate: u64,
    pub ack_latency: Percentiles,
    /// With several consumers, every consumer's samples together.
    pub end_to_end_latency: Percentiles,
    /// Acknowledgement latency while the throughput phase sends as fast as it can, every
    /// producer's samples together (for consume, of the producer filling the topic).
    pub load_ack_latency: Percentiles,
    /// Seconds from the topic's creation until every partition's leader answered, waited
    /// out before the throughput phase's clock starts, so that phase times the records
    /// alone (the SPU opens a log per partition: at 1000 partitions that is about a second).
    pub topic_ready_secs: f64,
    /// Each producer (produce) or consumer (consume) on its own.
    pub clients: Vec<ClientReport>,
    /// With `--compare-replication`: the same benchmark at another replication factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Box<ReplicationComparison>>,
}

/// A second run at another replication factor, relative to the first.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicationComparison {
    pub report: BenchReport,
    /// Its throughput (MB/s) over the first run's: the median of `round_ratios`.
    pub throughput_ratio: f64,
    /// The throughput ratio of each round (`--rounds`), in the order they ran.
    pub round_ratios: Vec<f64>,
    /// Its p99 acknowledgement latency over the first run's; `None` when the latency
    /// phase was skipped (`--latency-secs 0`).
    pub p99_ack_ratio: Option<f64>,
}

/// What a run is about to measure, one line: printed before the run, so a person knows
/// what is being measured while it runs, and again above a comparison run's figures.
pub fn header(kind: &str, args: &BenchmarkArgs) -> String {
    // A swept setting shows its values (`1,10,100 partition(s)`), the others their one.
    let shown = |param: SweepParam, value: u64| match args.sweep.iter().find(|s| s.param == param) {
        Some(sweep) => sweep.values_text(),
        None => value.to_string(),
    };
    let clients = match kind {
        "produce" => shown(SweepParam::Producers, u64::from(args.producers)),
        _ => shown(SweepParam::Consumers, u64::from(args.consumers)),
    };
    let mut line = header_line(
        kind,
        [
            shown(SweepParam::Partitions, u64::from(args.partitions.max(1))),
            args.replication.max(1).to_string(),
            args.records.to_string(),
            shown(SweepParam::RecordSize, args.record_size as u64),
            shown(SweepParam::BatchSize, args.batch_size as u64),
        ],
        (clients != "1").then(|| clients_named(kind, &clients)),
    );
    if !args.sweep.is_empty() {
        let sweeps: Vec<String> = args.sweep.iter().map(Sweep::to_string).collect();
        line.insert_str(line.len() - 1, &format!("; sweep {}", sweeps.join(" ")));
    }
    line
}

/// The clients of a run that has more than one, for its header: `4 producers`.
fn clients_of(kind: &str, producers: u32, consumers: u32) -> Option<String> {
    let count = if kind == "produce" {
        producers
    } else {
        consumers
    };
    (count > 1).then(|| clients_named(kind, &count.to_string()))
}

/// `4 producers`, `1,10 consumers`.
fn clients_named(kind: &str, count: &str) -> String {
    let role = if kind == "produce" {
        "producers"
    } else {
        "consumers"
    };
    format!("{count} {role}")
}

/// `[partitions, replication, records, record size, batch size]` as one line.
fn header_line(kind: &str, [p, r, n, size, batch]: [String; 5], clients: Option<String>) -> String {
    let clients = clients
        .map(|c| format!(", {c} on connections of their own"))
        .unwrap_or_default();
    format!(
        "{kind} benchmark: {p} partition(s), replication {r}, {n} records of {size} B, batches of {batch} B{clients}\n"
    )
}

impl BenchReport {
    /// The header line, then the figures.
    pub fn to_text(&self) -> String {
        let shape = [
            self.partitions.to_string(),
            self.replication.to_string(),
            self.throughput.records.to_string(),
            self.record_size.to_string(),
            self.batch_size.to_string(),
        ];
        header_line(
            self.kind,
            shape,
            clients_of(self.kind, self.producers, self.consumers),
        ) + &self.figures()
    }

    /// The figures alone: what the run measured, on the topic it used.
    pub fn figures(&self) -> String {
        let t = &self.throughput;
        let b = &self.loopback_baseline;
        let mut out = format!(
            "topic:             {topic}\n\
             throughput:        {mb:>10.1} MB/s {rps:>12.0} records/s ({secs:.2} s)\n\
             loopback baseline: {bmb:>10.1} MB/s  ratio {ratio:.2}x\n\
             topic ready in:    {ready:>10.3} s (every partition's leader answering)\n",
            topic = self.topic,
            ready = self.topic_ready_secs,
            mb = t.mb_per_s,
            rps = t.records_per_s,
            secs = t.seconds,
            bmb = b.mb_per_s,
            ratio = self.ratio_to_loopback,
        );
        for (name, p) in [
            ("ack latency", &self.ack_latency),
            ("end-to-end latency", &self.end_to_end_latency),
        ] {
            if p.samples > 0 {
                out.push_str(&format!(
                    "{name} at {rate} records/s ({samples} samples): {figures}\n",
                    rate = self.latency_rate,
                    samples = p.samples,
                    figures = p.figures(),
                ));
            }
        }
        if self.load_ack_latency.samples > 0 {
            let who = if self.kind == "consume" {
                "writing"
            } else {
                "all producers"
            };
            out.push_str(&format!(
                "ack latency under load ({who}, {} samples): {}\n",
                self.load_ack_latency.samples,
                self.load_ack_latency.figures()
            ));
        }
        out.push_str(&self.clients_text());
        if let Some(c) = &self.comparison {
            out.push('\n');
            out.push_str(&c.report.to_text());
            out.push_str(&format!(
                "replication {r2} vs {r1}: throughput {t:.2}x",
                r2 = c.report.replication,
                r1 = self.replication,
                t = c.throughput_ratio,
            ));
            if c.round_ratios.len() > 1 {
                let each: Vec<String> = c.round_ratios.iter().map(|r| format!("{r:.2}")).collect();
                out.push_str(&format!(
                    " (median of {} rounds: {})",
                    c.round_ratios.len(),
                    each.join(" ")
                ));
            }
            if let Some(l) = c.p99_ack_ratio {
                out.push_str(&format!(
                    ", p99 ack latency {l:.2}x ({p2:.3} ms vs {p1:.3} ms)",
                    p2 = c.report.ack_latency.p99_ms,
                    p1 = self.ack_latency.p99_ms,
                ));
            }
            out.push('\n');
        }
        out
    }
}

impl BenchReport {
    /// Each client's line when there are several (at most [`CLIENT_LINES`]; beyond that
    /// the slowest, median and fastest, the rest in the JSON).
    fn clients_text(&self) -> String {
        if self.clients.len() < 2 {
            return String::new();
        }
        let role = if self.kind == "consume" {
            "consumer"
        } else {
            "producer"
        };
        let line = |c: &ClientReport| {
            let t = &c.throughput;
            let mut line = format!(
                "  {role} {n:<4} {rates} ({secs:.2} s)",
                n = c.client,
                rates = t.rates(),
                secs = t.seconds,
            );
            for (name, p) in [
                ("ack", &c.ack_latency),
                ("end-to-end", &c.end_to_end_latency),
            ] {
                if p.samples > 0 {
                    line.push_str(&format!(
                        "  {name} p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms",
                        p.p50_ms, p.p99_ms, p.p999_ms
                    ));
                }
            }
            line + "\n"
        };
        let mut out = format!(
            "{} {role}s, each on a connection of its own:\n",
            self.clients.len()
        );
        if self.clients.len() <= CLIENT_LINES {
            self.clients.iter().for_each(|c| out.push_str(&line(c)));
        } else {
            let mut sorted: Vec<&ClientReport> = self.clients.iter().collect();
            sorted.sort_by(|a, b| a.throughput.mb_per_s.total_cmp(&b.throughput.mb_per_s));
            for (name, c) in [
                ("slowest", sorted[0]),
                ("median", sorted[sorted.len() / 2]),
                ("fastest", sorted[sorted.len() - 1]),
            ] {
                out.push_str(&format!("{name}:\n"));
                out.push_str(&line(c));
            }
            out.push_str("(every client in -O json)\n");
        }
        out
    }
}

/// Clients listed one per line in the text report; more are summarised.
const CLIENT_LINES: usize = 16;

/// Why a benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(
        "opened {opened} of {wanted} client connections to the SC at {addr}, then: {source}. The daemon limits connections per client address (--max-connections-per-peer, 1024 by default) and in total (--max-connections) on each listener: run fewer clients, or raise those limits on the daemon"
    )]
    Connect {
        opened: u32,
        wanted: u32,
        addr: String,
        source: Box<ClientError>,
    },
    #[error("--sweep {0} is given twice; give each setting's values in one flag")]
    SweptTwice(&'static str),
    #[error("a benchmark task failed: {0}")]
    Task(String),
}

impl From<BenchError> for CommandError {
    fn from(err: BenchError) -> Self {
        match err {
            // The client's errors keep the advice the CLI gives for them.
            BenchError::Client(err) => CommandError::Client(err),
            other => CommandError::Benchmark(other),
        }
    }
}

/// The most clients `--producers` and `--consumers` start.
pub const MAX_CLIENTS: u32 = 10_000;

/// Run a benchmark against the cluster behind `fluvio`; with `--compare-replication`,
/// a second one at that replication factor, compared with the first.
///
/// Latency is measured first, for every replication factor, on topics of their own: a
/// throughput phase leaves the kernel gigabytes to write back for a while, and a latency
/// phase right after it would measure that writeback as much as the cluster.
/// `kind` is `produce` or `consume`.
pub async fn run(
    fluvio: &Fluvio,
    kind: &'static str,
    args: &BenchmarkArgs,
    progress: &Progress,
) -> Result<BenchReport, BenchError> {
    run_with(fluvio, kind, args, progress, &Baselines::default(), "").await
}

/// [`run`], taking loopback baselines already measured in this run from `baselines`.
async fn run_with(
    fluvio: &Fluvio,
    kind: &'static str,
    args: &BenchmarkArgs,
    progress: &Progress,
    baselines: &Baselines,
    topics: &str,
) -> Result<BenchReport, BenchError> {
    let compared = args.compare_replication.map(|factor| {
        let mut other = args.clone();
        other.replication = factor;
        other.compare_replication = None;
        (factor, other)
    });
    let followers = if kind == "consume" { args.consumers } else { 1 };
    let latency = latency_run(
        fluvio,
        args,
        &format!("{topics}-latency"),
        followers,
        progress,
    )
    .await?;
    let other_latency = match &compared {
        Some((factor, other)) => {
            latency_run(
                fluvio,
                other,
                &format!("{topics}-r{factor}-latency"),
                followers,
                progress,
            )
            .await?
        }
        None => Latency::default(),
    };

    let mut report = run_once(fluvio, kind, args, topics, latency, progress, baselines).await?;
    if let Some((factor, other)) = compared {
        let second = run_once(
            fluvio,
            kind,
            &other,
            &format!("{topics}-r{factor}"),
            other_latency,
            progress,
            baselines,
        )
        .await?;
        let ratio = |a: &BenchReport, b: &BenchReport| {
            b.throughput.mb_per_s / a.throughput.mb_per_s.max(1e-9)
        };
        let mut round_ratios = vec![ratio(&report, &second)];
        // Further rounds: the pair run back to back as in the first.
        for round in 2..=args.rounds {
            let a = run_once(
                fluvio,
                kind,
                args,
                &format!("-{round}"),
                Latency::default(),
                progress,
                baselines,
            )
            .await?;
            let b = run_once(
                fluvio,
                kind,
                &other,
                &format!("-r{factor}-{round}"),
                Latency::default(),
                progress,
                baselines,
            )
            .await?;
            round_ratios.push(ratio(&a, &b));
        }
        report.comparison = Some(Box::new(ReplicationComparison {
            throughput_ratio: median(&round_ratios),
            round_ratios,
            p99_ack_ratio: (report.ack_latency.samples > 0 && second.ack_latency.samples > 0)
                .then(|| second.ack_latency.p99_ms / report.ack_latency.p99_ms.max(1e-9)),
            report: second,
        }));
    }
    Ok(report)
}

/// Acknowledgement and end-to-end latency percentiles; empty when not measured.
#[derive(Debug, Clone, Default)]
struct Latency {
    ack: Percentiles,
    /// Every follower's samples together.
    end_to_end: Percentiles,
    /// Each follower's, in the order they were started.
    followers: Vec<Percentiles>,
}

/// The middle value (the mean of the two middle ones for an even count); 0 when empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn topic_name(suffix: &str) -> String {
    format!("benchmark-{}{suffix}", std::process::id())
}

/// Create the benchmark topic `name` with `args`' partitions and replication.
async fn create_topic(
    fluvio: &Fluvio,
    args: &BenchmarkArgs,
    name: &str,
) -> Result<(), ClientError> {
    let spec = TopicSpec {
        replicas: ReplicaSpec::Computed {
            partitions: args.partitions.max(1),
            replication_factor: args.replication.max(1),
            ignore_rack_assignment: false,
        },
        ..TopicSpec::default()
    };
    fluvio.admin().create::<TopicSpec>(name, spec, false).await
}

/// How long [`wait_ready`] waits for a topic's logs to open before giving up with the
/// SPU's answer (opening is about 1.4 s per 1000 partitions here).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Wait until the leader of every partition of the topic just created answers (its log is
/// open), and return how long that took after the creation returned. The SPU opens one log per
/// partition after the SC placed the topic; without this wait a throughput phase on a
/// topic of many partitions would time the opening of its logs with its records (1.2 of
/// the 2.2 s measured for 400 MB over 1000 partitions).
async fn wait_ready(fluvio: &Fluvio, topic: &str, partitions: u32) -> Result<f64, ClientError> {
    let started = Instant::now();
    for partition in 0..partitions {
        // The SPU answers an offsets request once it leads the partition. It waits a
        // while for a log still being opened, then says it does not lead it; thousands of
        // partitions take longer than that to open, so that answer is asked again.
        loop {
            let asked = async {
                fluvio
                    .partition_consumer(topic, partition)
                    .await?
                    .offsets()
                    .await
            };
            match asked.await {
                Ok(_) => break,
                Err(ClientError::Refused { code, .. })
                    if code == ErrorCode::NotLeaderForPartition
                        && started.elapsed() < READY_TIMEOUT =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Delete the benchmark topic `name` unless `--keep-topic`.
async fn remove_topic(fluvio: &Fluvio, args: &BenchmarkArgs, name: &str) {
    if !args.keep_topic {
        let _ = fluvio
            .admin()
            .delete::<TopicSpec>(name.to_string(), name)
            .await;
    }
}

/// The latency phase on a fresh topic, unless `--latency-secs 0` or `--rate 0`.
async fn latency_run(
    fluvio: &Fluvio,
    args: &BenchmarkArgs,
    suffix: &str,
    followers: u32,
    progress: &Progress,
) -> Result<Latency, BenchError> {
    if args.latency_secs == 0 || args.rate == 0 {
        return Ok(Latency::default());
    }
    let topic = topic_name(suffix);
    create_topic(fluvio, args, &topic).await?;
    let partitions: Vec<u32> = (0..args.partitions.max(1)).collect();
    progress.phase(
        phase_name("latency", args),
        args.rate.saturating_mul(args.latency_secs),
    );
    let result = latency_phase(fluvio, args, &topic, &partitions, followers, progress).await;
    remove_topic(fluvio, args, &topic).await;
    let (ack, end_to_end) = result?;
    Ok(Latency {
        ack,
        end_to_end: Percentiles::of(end_to_end.concat()),
        followers: end_to_end.into_iter().map(Percentiles::of).collect(),
    })
}

/// One throughput phase on a fresh topic, reported with `latency` measured before.
async fn run_once(
    fluvio: &Fluvio,
    kind: &'static str,
    args: &BenchmarkArgs,
    suffix: &str,
    latency: Latency,
    progress: &Progress,
    baselines: &Baselines,
) -> Result<BenchReport, BenchError> {
    let topic = topic_name(suffix);
    create_topic(fluvio, args, &topic).await?;
    let result = measure(fluvio, kind, args, &topic, latency, progress, baselines).await;
    remove_topic(fluvio, args, &topic).await;
    result
}

async fn measure(
    fluvio: &Fluvio,
    kind: &'static str,
    args: &BenchmarkArgs,
    topic: &str,
    latency: Latency,
    progress: &Progress,
    baselines: &Baselines,
) -> Result<BenchReport, BenchError> {
    let partitions = args.partitions.max(1);
    let writing = if kind == "consume" {
        "writing"
    } else {
        "producing"
    };
    progress.phase(phase_name(writing, args), args.records);
    // A consume run fills its topic with one producer; a produce run times its producers.
    let mut writers = args.clone();
    if kind == "consume" {
        writers.producers = 1;
    }
    let topic_ready_secs = wait_ready(fluvio, topic, partitions).await?;
    let produced = clients::produce(fluvio, &writers, topic, progress).await?;
    let load_ack_latency =
        Percentiles::of(produced.iter().flat_map(|r| r.latencies.clone()).collect());

    let (throughput, clients) = if kind == "consume" {
        // Where each partition's records are, so consumers can split them.
        let mut offsets = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            let at = fluvio
                .partition_consumer(topic, partition)
                .await?
                .offsets()
                .await?;
            offsets.push((at.start, at.end));
        }
        progress.phase(phase_name("reading", args), args.records);
        let read = clients::consume(fluvio, args, topic, &offsets, progress).await?;
        let reports = read
            .iter()
            .enumerate()
            .map(|(i, run)| ClientReport {
                client: i as u32 + 1,
                throughput: run.throughput(),
                ack_latency: Percentiles::default(),
                end_to_end_latency: latency.followers.get(i).copied().unwrap_or_default(),
            })
            .collect();
        (clients::aggregate(&read), reports)
    } else {
        let reports = produced
            .iter()
            .enumerate()
            .map(|(i, run)| ClientReport {
                client: i as u32 + 1,
                throughput: run.throughput(),
                ack_latency: Percentiles::of(run.latencies.clone()),
                end_to_end_latency: Percentiles::default(),
            })
            .collect();
        (clients::aggregate(&produced), reports)
    };

    let total_bytes = args.records * args.record_size as u64;
    let baseline = baselines
        .get(
            total_bytes.max(args.batch_size.max(1) as u64),
            args.batch_size.max(1),
        )
        .await;

    Ok(BenchReport {
        kind,
        topic: topic.to_string(),
        partitions,
        replication: args.replication.max(1),
        record_size: args.record_size,
        batch_size: args.batch_size,
        producers: writers.producers,
        consumers: if kind == "consume" { args.consumers } else { 1 },
        ratio_to_loopback: throughput.mb_per_s / baseline.median.mb_per_s.max(1e-9),
        throughput,
        loopback_baseline: baseline.median,
        loopback_samples_mb_per_s: baseline.samples_mb_per_s,
        latency_rate: args.rate,
        ack_latency: latency.ack,
        end_to_end_latency: latency.end_to_end,
        load_ack_latency,
        topic_ready_secs,
        clients,
        comparison: None,
    })
}

/// Send at a fixed rate with no linger; time each acknowledgement, and each record's
/// arrival at a consumer following the topic. Values start with the send time in
/// nanoseconds since the phase began.
async fn latency_phase(
    fluvio: &Fluvio,
    args: &BenchmarkArgs,
    topic: &str,
    partitions: &[u32],
    followers: u32,
    progress: &Progress,
) -> Result<(Percentiles, Vec<Vec<Duration>>), BenchError> {
    let total = args.rate.saturating_mul(args.latency_secs);
    let producer = fluvio
        .topic_producer(
            topic,
            ProducerConfig {
                batch_size: args.batch_size,
                linger: Duration::ZERO,
                isolation: args.isolation.into(),
                max_in_flight: args.max_in_flight,
                ..ProducerConfig::default()
            },
        )
        .await?;
    // One record to every partition, acknowledged before the clock starts: the topic is
    // new, and its first acknowledgements wait for connections to open and (with
    // read_committed) for followers to start fetching, a one-off of tens of
    // milliseconds that would otherwise be most of the p99. The consumer skips them
    // (shorter than a timestamp).
    let mut warm_up = Vec::with_capacity(partitions.len());
    for &partition in partitions {
        warm_up.push(producer.send_record(partition, Record::default()).await?);
    }
    for pending in warm_up {
        pending.wait().await?;
    }

    let epoch = Instant::now();
    // Every follower (one per `--consumers`, each on its own connection) reads the whole
    // topic and times each record's arrival.
    let connections = clients::connections(fluvio, followers).await?;
    let mut consumers = Vec::with_capacity(connections.len());
    for connection in &connections {
        let mut stream = MultiStream::start(
            connection,
            topic,
            partitions,
            Offset::End,
            ConsumerConfig::default(),
        )
        .await?;
        consumers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(total as usize);
            while samples.len() < total as usize {
                match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                    Ok(Some(Ok(record))) if record.value.len() >= 8 => {
                        let sent =
                            u64::from_be_bytes(record.value[..8].try_into().unwrap_or([0; 8]));
                        let now = epoch.elapsed().as_nanos() as u64;
                        samples.push(Duration::from_nanos(now.saturating_sub(sent)));
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            samples
        }));
    }

    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let acks = tokio::spawn(async move {
        let mut samples = Vec::new();
        while let Some((sent_at, pending)) = ack_rx.recv().await {
            let pending: crate::client::PendingRecord = pending;
            if pending.wait().await.is_ok() {
                samples.push(sent_at_elapsed(sent_at));
            }
        }
        samples
    });
    let filler = args.record_size.saturating_sub(8);
    for i in 0..total {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            epoch + interval.mul_f64(i as f64),
        ))
        .await;
        let mut value = BytesMut::with_capacity(8 + filler);
        value.put_u64(epoch.elapsed().as_nanos() as u64);
        value.put_bytes(b'x', filler);
        let sent_at = Instant::now();
        let pending = producer.send(None, value.freeze()).await?;
        progress.inc(1);
        // The acknowledgement is awaited off the send path, in send order.
        let _ = ack_tx.send((sent_at, pending));
    }
    drop(ack_tx);
    let ack_samples = acks.await.unwrap_or_default();
    let mut e2e_samples = Vec::with_capacity(consumers.len());
    for consumer in consumers {
        e2e_samples.push(consumer.await.unwrap_or_default());
    }
    drop(connections);
    Ok((Percentiles::of(ack_samples), e2e_samples))
}

/// A phase's label on the progress bar: `producing (replication 3)`.
fn phase_name(phase: &str, args: &BenchmarkArgs) -> String {
    format!("{phase} (replication {})", args.replication.max(1))
}

fn sent_at_elapsed(sent_at: Instant) -> Duration {
    sent_at.elapsed()
}

/// Samples of the loopback baseline taken; the median is reported. Five, so that two
/// samples caught by bursts of other work on a shared machine (a compiler, another
/// benchmark) still leave the median on a quiet one; each lasts at least
/// [`BASELINE_MIN_SECS`], so one sample averages over many scheduler slices instead of
/// being a few milliseconds that one preemption can halve. About 2.5 s a run.
pub const BASELINE_SAMPLES: usize = 5;

/// The shortest a baseline sample runs, in seconds.
pub const BASELINE_MIN_SECS: f64 = 0.5;

/// The loopback baseline: the median sample and every sample's rate.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub median: Throughput,
    pub samples_mb_per_s: Vec<f64>,
}

/// The median of [`BASELINE_SAMPLES`] runs of [`loopback_baseline`], each moving at least
/// `total` bytes and lasting at least [`BASELINE_MIN_SECS`].
pub fn median_loopback_baseline(total: u64, chunk: usize) -> Baseline {
    let min = Duration::from_secs_f64(BASELINE_MIN_SECS);
    let taken: Vec<Throughput> = (0..BASELINE_SAMPLES)
        .map(|_| loopback_baseline(total, chunk, min))
        .collect();
    let mut sorted = taken.clone();
    sorted.sort_by(|a, b| a.mb_per_s.total_cmp(&b.mb_per_s));
    Baseline {
        median: sorted[BASELINE_SAMPLES / 2],
        samples_mb_per_s: taken.iter().map(|t| t.mb_per_s).collect(),
    }
}

/// Baselines measured in one run, by total bytes and chunk size: a sweep or a replication
/// comparison measures each once, not once per setting.
#[derive(Default)]
struct Baselines {
    measured: tokio::sync::Mutex<std::collections::HashMap<(u64, usize), Baseline>>,
}

impl Baselines {
    async fn get(&self, total: u64, chunk: usize) -> Baseline {
        let mut measured = self.measured.lock().await;
        if let Some(known) = measured.get(&(total, chunk)) {
            return known.clone();
        }
        // Blocking sockets and threads: off the async runtime's thread.
        let baseline = tokio::task::spawn_blocking(move || median_loopback_baseline(total, chunk))
            .await
            .unwrap_or_default();
        measured.insert((total, chunk), baseline.clone());
        baseline
    }
}

/// Push at least `total` bytes, for at least `min_time`, through a loopback TCP
/// connection in `chunk`-byte writes while a reader thread drains it: the most this
/// machine moves between two sockets.
pub fn loopback_baseline(total: u64, chunk: usize, min_time: Duration) -> Throughput {
    let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
        return Throughput::default();
    };
    let Ok(addr) = listener.local_addr() else {
        return Throughput::default();
    };
    let reader = std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return 0u64;
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        while let Ok(n) = socket.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        got
    });
    let started = Instant::now();
    let Ok(mut writer) = TcpStream::connect(addr) else {
        return Throughput::default();
    };
    let _ = writer.set_nodelay(true);
    let data = vec![b'x'; chunk];
    let mut sent = 0u64;
    while sent < total || started.elapsed() < min_time {
        let n = if sent < total {
            chunk.min((total - sent) as usize)
        } else {
            chunk
        };
        if writer.write_all(&data[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    drop(writer);
    let received = reader.join().unwrap_or(0);
    Throughput::new(0, received, started.elapsed())
}

/// Run one benchmark and report it as text or JSON.
pub async fn execute(cmd: BenchmarkCmd, ctx: &Context) -> Result<Output, CommandError> {
    let (kind, args) = match cmd {
        BenchmarkCmd::Produce(args) => ("produce", args),
        BenchmarkCmd::Consume(args) => ("consume", args.into()),
        BenchmarkCmd::Soak(args) if args.worker.is_some() => {
            // A worker of a --workers run: its parent reads its stdout, line by line.
            soak::run_worker(&ctx.fluvio().await?, &args).await?;
            return Ok(Output::default());
        }
        BenchmarkCmd::Soak(args) => {
            let report = run_soak(&ctx.fluvio().await?, &args).await?;
            let failures = report.check_error().map(CommandError::from);
            return Ok(Output {
                body: benchmark_body(args.format, &report, |r| r.to_text()),
                failures: failures.into_iter().collect(),
                ..Output::default()
            });
        }
    };
    // A sweep that cannot run is refused before anything is printed or measured.
    sweep::settings(&args.sweep)?;
    let fluvio = ctx.fluvio().await?;
    // The header goes out first, so a person sees what runs while it runs; the figures
    // follow when measured.
    if args.format == BenchFormat::Text {
        let _ = ctx.write_records(header(kind, &args).as_bytes());
    }
    let progress = Progress::new(ctx.stderr_is_a_terminal());
    if !args.sweep.is_empty() {
        let report = run_sweep(&fluvio, kind, &args, &progress, ctx).await;
        progress.finish();
        let report = report?;
        return Ok(Output {
            body: match args.format {
                // The lines went out as each setting finished.
                BenchFormat::Text => Body::Empty,
                BenchFormat::Json => benchmark_body(args.format, &report, |_| String::new()),
            },
            ..Output::default()
        });
    }
    let report = run(&fluvio, kind, &args, &progress).await;
    progress.finish();
    let report = report?;
    Ok(Output {
        body: benchmark_body(args.format, &report, |r| r.figures()),
        ..Output::default()
    })
}

/// `--sweep`: the benchmark once per setting, in order; with text output each setting's
/// line is written as soon as it is measured.
pub async fn run_sweep(
    fluvio: &Fluvio,
    kind: &'static str,
    args: &BenchmarkArgs,
    progress: &Progress,
    ctx: &Context,
) -> Result<SweepReport, BenchError> {
    let settings = sweep::settings(&args.sweep)?;
    let labels: Vec<String> = settings.iter().map(|s| sweep::label(s)).collect();
    let width = labels.iter().map(String::len).max().unwrap_or(0);
    let baselines = Baselines::default();
    let mut points: Vec<SweepPoint> = Vec::with_capacity(settings.len());
    for (i, (setting, label)) in settings.iter().zip(&labels).enumerate() {
        let setting_args = sweep::apply(args, setting);
        // Each setting on topics of its own, named by its place in the sweep: with
        // --keep-topic they all stay.
        let topics = format!("-s{}", i + 1);
        let report = run_with(fluvio, kind, &setting_args, progress, &baselines, &topics).await?;
        let first = points
            .first()
            .map_or(report.throughput.mb_per_s, |p| p.report.throughput.mb_per_s);
        let point = SweepPoint::new(setting, report, first);
        if args.format == BenchFormat::Text {
            progress.finish();
            let _ = ctx.write_records(point.line(label, width).as_bytes());
        }
        points.push(point);
    }
    Ok(SweepReport {
        kind,
        sweep: args.sweep.iter().map(Sweep::to_string).collect(),
        settings: points,
    })
}

/// A benchmark report as text for people or as one JSON object.
fn benchmark_body<R: serde::Serialize>(
    format: BenchFormat,
    report: &R,
    text: impl Fn(&R) -> String,
) -> Body {
    match format {
        BenchFormat::Text => Body::Text(text(report)),
        BenchFormat::Json => Body::Text(format!(
            "{}\n",
            serde_json::to_string(report).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_fits_the_terminal() {
        let bar = Bar {
            name: "producing (replication 1)".into(),
            total: 100,
            done: 50,
            started: Instant::now(),
            drawn: None,
        };
        let line = bar.line(80);
        assert!(
            line.starts_with("producing (replication 1) [====="),
            "{line}"
        );
        assert!(line.contains(" 50/100 records, "), "{line}");
        assert!(line.chars().count() < 80, "{line}");
        assert!(!bar.line(30).contains('['), "{}", bar.line(30));
    }

    #[test]
    fn median_of_rounds() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[0.4]), 0.4);
        assert_eq!(median(&[0.6, 0.2, 0.5]), 0.5);
        assert!((median(&[0.6, 0.2, 0.5, 0.3]) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        let p = Percentiles::of(samples);
        assert_eq!(p.samples, 1000);
        assert_eq!(p.p50_ms, 500.0);
        assert_eq!(p.p99_ms, 990.0);
        assert_eq!(p.p999_ms, 999.0);
        assert_eq!(p.max_ms, 1000.0);
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        let unmeasured = serde_json::to_value(Percentiles::default()).unwrap();
        assert_eq!(
            unmeasured,
            serde_json::json!({"samples": 0, "p50_ms": null, "p99_ms": null, "p999_ms": null, "max_ms": null})
        );
        let measured =
            serde_json::to_value(Percentiles::of(vec![Duration::from_millis(2)])).unwrap();
        assert_eq!(measured["p50_ms"], 2.0);
        assert_eq!(measured["max_ms"], 2.0);
        let one = Percentiles::of(vec![Duration::from_micros(250)]);
        assert_eq!((one.p50_ms, one.p999_ms), (0.25, 0.25));
    }

    #[test]
    fn loopback_moves_every_byte_for_long_enough() {
        let t = loopback_baseline(1_000_000, 16 * 1024, Duration::ZERO);
        assert_eq!(t.bytes, 1_000_000);
        assert!(t.mb_per_s > 0.0);
        // A floor of time: more than the bytes asked for, in whole chunks past them.
        let t = loopback_baseline(1_000_000, 16 * 1024, Duration::from_millis(200));
        assert!(t.seconds >= 0.2, "{t:?}");
        assert!(t.bytes >= 1_000_000, "{t:?}");
        let baseline = median_loopback_baseline(1_000_000, 16 * 1024);
        assert_eq!(baseline.samples_mb_per_s.len(), BASELINE_SAMPLES);
        assert!(baseline.median.seconds >= BASELINE_MIN_SECS);
        let mut sorted = baseline.samples_mb_per_s.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(baseline.median.mb_per_s, sorted[BASELINE_SAMPLES / 2]);
    }

    #[test]
    fn throughput_arithmetic() {
        let t = Throughput::new(1000, 2_000_000, Duration::from_secs(2));
        assert_eq!((t.mb_per_s, t.records_per_s), (1.0, 500.0));
    }
}
