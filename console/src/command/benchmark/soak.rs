//! `fluvio benchmark soak`: load held for a while, and nothing lost on the way.
//!
//! N clients, each a producer and a consumer as one application would run them, work one
//! topic of M partitions for S seconds. Each producer numbers its records per partition;
//! each consumer reads whole partitions, as consumers without a group do, and notes per
//! (producer, partition) which numbers it saw and whether any came twice or went
//! backwards. Once the producers stopped and every acknowledgement is in, the consumers
//! read on until the last acknowledged offset of their partitions (or a drain timeout),
//! and the report compares what each consumer saw with what was acknowledged. Meanwhile
//! the daemon's resident memory is sampled from /proc once a second.
//!
//! One process serves all its connections on one thread, and at hundreds of connections
//! that thread, not the cluster, sets the latency. With `--workers N` the clients run in
//! N processes of this program instead (`--worker I/N`, cued line by line over their
//! stdin and stdout: ready, start, where the acknowledged records end, done); this one
//! creates the topic, samples the daemon, merges the workers' outcomes and checks them
//! as one run. Stamps carry CLOCK_MONOTONIC send times, which every process on the
//! machine shares, so a record sent by one worker and read by another is timed right.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, Write};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use protocol::record::Record;
use protocol::sc::{ReplicaSpec, TopicSpec};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use super::{BenchFormat, IsolationArg, Percentiles, Throughput};
use crate::client::{
    ClientError, ClientTls, ConsumerConfig, Fluvio, Offset, ProducerConfig, RecordMetadata,
    RecordStream, TopicProducer,
};
use crate::command::advised;

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Clients, each one producer and one consumer, like separate applications.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,
    /// Seconds the producers send for; the consumers then drain (see --drain-secs).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub secs: u64,
    /// Partitions of the soak topic (when the soak creates it).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub partitions: u32,
    /// Topic to use; created when missing (and then deleted afterwards, unless
    /// --keep-topic). Default: a fresh `soak-<pid>`.
    #[arg(long)]
    pub topic: Option<String>,
    /// Bytes of each record's value (at least the 20-byte stamp the check reads).
    #[arg(long, value_name = "BYTES", default_value_t = 256)]
    pub record_size: usize,
    /// Records per second each client's producer sends; 0 sends as fast as acknowledgements
    /// allow.
    #[arg(long, value_name = "PER_CLIENT", default_value_t = 10)]
    pub rate: u64,
    /// Fluvio connections the clients share (client i uses connection i mod K). Up to
    /// twice --clients: above --clients, producers and consumers get connections apart
    /// (client i's consumers use connection (clients + i) mod K), so 2 x --clients gives
    /// every producer and every consumer one of its own. Each connection is one socket to
    /// the SC and one to each SPU it uses. Default: one per client, at most 1000, which
    /// stays under a daemon's default limit of 1024 connections per client address
    /// (--max-connections-per-peer); more need that limit raised.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: Option<u32>,
    /// How long consumers may take, once the producers stopped, to reach the last
    /// acknowledged record.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub drain_secs: u64,
    /// The fluvio-daemon whose memory (VmRSS) is sampled. Default: the local
    /// fluvio-daemon listening on the SC's port, if there is one.
    #[arg(long, value_name = "PID")]
    pub daemon_pid: Option<u32>,
    /// Producer linger: how long a record may wait for others to share its batch.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub linger_ms: u64,
    /// Acknowledge after the leader wrote (read_uncommitted) or once replicated
    /// (read_committed); consumers read with the same isolation.
    #[arg(long, value_enum, default_value_t = IsolationArg::ReadUncommitted)]
    pub isolation: IsolationArg,
    /// Keep a topic the soak created instead of deleting it afterwards.
    #[arg(long)]
    pub keep_topic: bool,
    /// Output format: text for people, json for one JSON object.
    #[arg(short = 'O', long = "output", value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,
    /// Run the clients in N processes of this program, each with its share of the
    /// clients and connections, and merge what they measured and saw into one report.
    /// One process serves all its connections on one thread: at hundreds of
    /// connections, give it one worker per core.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Set by a --workers run on the processes it starts: this process runs share I of
    /// N of the clients, cued over stdin and stdout.
    #[arg(long, hide = true, value_name = "I/N")]
    pub worker: Option<String>,
    /// Set by a --workers run on the processes it starts: the run's id in the stamps.
    #[arg(long, hide = true, value_name = "ID")]
    pub run_id: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error(
        "--record-size {given} is too small: each soak record carries a {STAMP_LEN}-byte stamp (run, producer, number, send time); use at least {STAMP_LEN}"
    )]
    RecordTooSmall { given: usize },
    #[error(
        "opened {opened} of {wanted} connections to the SC at {addr}, then: {}. The daemon limits connections per client address (--max-connections-per-peer) and in total (--max-connections) on each listener: share fewer with --connections K, or raise those limits on the daemon",
        advised(source)
    )]
    Connect {
        opened: u32,
        wanted: u32,
        addr: String,
        source: Box<ClientError>,
    },
    #[error(
        "client {client} cannot start reading {topic}-{partition}: {}",
        advised(source)
    )]
    StartConsumer {
        client: u32,
        topic: String,
        partition: u32,
        source: Box<ClientError>,
    },
    #[error(
        "client {client} cannot start producing to {topic}: {}",
        advised(source)
    )]
    StartProducer {
        client: u32,
        topic: String,
        source: Box<ClientError>,
    },
    #[error("a soak task stopped unexpectedly: {0}")]
    Task(String),
    #[error("--workers {workers} is more than --clients {clients}: every worker needs a client")]
    TooManyWorkers { workers: u32, clients: u32 },
    #[error(
        "--workers starts processes that connect with --sc only, and this connection uses TLS: run the soak without --workers, or against a plaintext listener"
    )]
    WorkersOverTls,
    #[error("soak worker {worker}: {why}")]
    Worker { worker: u32, why: String },
    #[error("the soak check failed: {0}")]
    CheckFailed(String),
    #[error("{}", advised(.0))]
    Client(#[from] ClientError),
}

/// What a soak measured and found.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub kind: &'static str,
    pub topic: String,
    pub partitions: u32,
    pub clients: u32,
    /// Fluvio connections the clients shared.
    pub connections: u32,
    /// Processes the clients ran in (--workers).
    pub workers: u32,
    pub record_size: usize,
    /// Records per second per client; 0 when unpaced.
    pub rate_per_client: u64,
    pub secs: u64,
    /// Records the producers handed to the client library.
    pub sent: u64,
    /// Acknowledged records, over the time from the first send to the last
    /// acknowledgement.
    pub produced: Throughput,
    pub send_failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_send_failure: Option<String>,
    /// Records delivered to all consumers together (a record counts once per consumer
    /// reading its partition), from the first send until the consumers finished.
    pub consumed: Throughput,
    /// Consumer streams, one per (client, partition it reads).
    pub consumer_streams: u32,
    pub ack_latency: Percentiles,
    /// From a record's send to its delivery to a consumer (each consumer of its
    /// partition counts), timed by the send time in the record's stamp.
    pub end_to_end_latency: Percentiles,
    pub rss: RssReport,
    pub check: Check,
}

impl SoakReport {
    /// The failure to report (exit 1) when the check did not pass.
    pub fn check_error(&self) -> Option<SoakError> {
        (!self.check.passed).then(|| SoakError::CheckFailed(self.check.summary()))
    }

    pub fn to_text(&self) -> String {
        let shared = if self.connections == self.clients {
            "one per client".to_string()
        } else if self.connections > self.clients {
            "producers and consumers apart".to_string()
        } else {
            format!(
                "shared, up to {} clients each",
                self.clients.div_ceil(self.connections)
            )
        };
        let shared = if self.workers > 1 {
            format!("{shared}, in {} worker processes", self.workers)
        } else {
            shared
        };
        let rate = if self.rate_per_client == 0 {
            "unpaced".to_string()
        } else {
            format!("{} records/s per client", self.rate_per_client)
        };
        let p = &self.produced;
        let c = &self.consumed;
        let mut out = format!(
            "soak benchmark: topic {topic}, {parts} partition(s), {clients} clients (each a producer and a consumer) on {conns} Fluvio connections ({shared}), {rate}, records of {size} B, {secs} s\n\
             produced (acknowledged): {pr} of {sent} records in {ps:.2} s: {prps:.0} records/s, {pmb:.2} MB/s; {failed} sends failed\n\
             consumed: {cr} records by {streams} consumer streams in {cs:.2} s: {crps:.0} records/s, {cmb:.2} MB/s\n",
            topic = self.topic,
            parts = self.partitions,
            clients = self.clients,
            conns = self.connections,
            size = self.record_size,
            secs = self.secs,
            pr = p.records,
            sent = self.sent,
            ps = p.seconds,
            prps = p.records_per_s,
            pmb = p.mb_per_s,
            failed = self.send_failures,
            cr = c.records,
            streams = self.consumer_streams,
            cs = c.seconds,
            crps = c.records_per_s,
            cmb = c.mb_per_s,
        );
        if let Some(first) = &self.first_send_failure {
            out.push_str(&format!("first send failure: {first}\n"));
        }
        for (what, p) in [
            ("ack latency", &self.ack_latency),
            ("end-to-end latency", &self.end_to_end_latency),
        ] {
            out.push_str(&format!(
                "{what} ({} samples): {}\n",
                p.samples,
                p.figures()
            ));
        }
        out.push_str(&self.rss.to_text());
        out.push_str(&self.check.to_text());
        out
    }
}

/// The daemon's resident memory over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RssReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Which process was sampled and how it was found, or why nothing was sampled.
    pub source: String,
    pub samples: Vec<RssSample>,
    pub start_kib: u64,
    pub peak_kib: u64,
    pub end_kib: u64,
    /// The daemon's CPU time (user and system) while the producers ran, and that over
    /// the time: 100 is one core busy.
    pub cpu_secs_producing: f64,
    pub cpu_percent_producing: f64,
    /// When the producers started and stopped, and when the consumers finished, in
    /// seconds on the samples' clock.
    pub producing_from_secs: f64,
    pub producing_until_secs: f64,
    pub drained_at_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssSample {
    pub at_secs: f64,
    pub kib: u64,
    /// The daemon's CPU time so far (user and system), in seconds.
    pub cpu_secs: f64,
}

impl RssReport {
    /// CPU time between the samples that bracket the producing phase, and its share of
    /// that time.
    fn note_cpu_while_producing(&mut self) {
        let from = self
            .samples
            .iter()
            .rev()
            .find(|s| s.at_secs <= self.producing_from_secs)
            .or(self.samples.first());
        let until = self
            .samples
            .iter()
            .find(|s| s.at_secs >= self.producing_until_secs)
            .or(self.samples.last());
        if let (Some(from), Some(until)) = (from, until)
            && until.at_secs > from.at_secs
        {
            self.cpu_secs_producing = (until.cpu_secs - from.cpu_secs).max(0.0);
            self.cpu_percent_producing =
                100.0 * self.cpu_secs_producing / (until.at_secs - from.at_secs);
        }
    }

    fn to_text(&self) -> String {
        let Some(pid) = self.pid else {
            return format!("daemon RSS: not sampled ({})\n", self.source);
        };
        let mib = |kib: u64| kib as f64 / 1024.0;
        let mut out = format!(
            "daemon RSS ({source}, pid {pid}): start {start:.1} MiB, peak {peak:.1} MiB, end {end:.1} MiB\n\
             daemon CPU while producing: {cpu:.1} s, {percent:.0}% of one core\n\
             RSS in MiB, one sample a second (producing {from:.0}-{until:.0} s, consumers done at {drained:.0} s):\n",
            source = self.source,
            start = mib(self.start_kib),
            peak = mib(self.peak_kib),
            end = mib(self.end_kib),
            cpu = self.cpu_secs_producing,
            percent = self.cpu_percent_producing,
            from = self.producing_from_secs,
            until = self.producing_until_secs,
            drained = self.drained_at_secs,
        );
        for row in self.samples.chunks(10) {
            let values: Vec<String> = row.iter().map(|s| format!("{:.1}", mib(s.kib))).collect();
            out.push_str(&format!(
                "  {:>5.0} s: {}\n",
                row[0].at_secs,
                values.join(" ")
            ));
        }
        out
    }
}

/// Every acknowledged record consumed exactly once, in order, by each consumer of its
/// partition?
#[derive(Debug, Clone, Default, Serialize)]
pub struct Check {
    pub passed: bool,
    /// Records acknowledged to the producers.
    pub acknowledged: u64,
    /// Acknowledged records times the consumers reading their partition.
    pub expected: u64,
    /// Acknowledged records that reached a consumer of their partition (each counted
    /// once per consumer).
    pub consumed: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Records consumed whose send was not acknowledged (a failed send the SPU wrote
    /// anyway): allowed, counted for information.
    pub unacknowledged_consumed: u64,
    /// Consumer streams that failed or did not reach the last acknowledged offset.
    pub consumers_incomplete: u64,
    /// The first few problems, each naming the consumer, partition, producer and record.
    pub examples: Vec<String>,
}

impl Check {
    fn summary(&self) -> String {
        if self.acknowledged == 0 {
            return "no record was acknowledged, so nothing was checked".to_string();
        }
        format!(
            "of {} expected deliveries of acknowledged records, {} missing, {} duplicated, {} out of order; {} consumer stream(s) incomplete",
            self.expected, self.missing, self.duplicates, self.reordered, self.consumers_incomplete
        )
    }

    fn to_text(&self) -> String {
        let mut out = if self.passed {
            format!(
                "check: passed: every one of {} acknowledged records was consumed exactly once and in order by each consumer of its partition ({} deliveries)",
                self.acknowledged, self.consumed
            )
        } else {
            format!("check: FAILED: {}", self.summary())
        };
        if self.unacknowledged_consumed > 0 {
            out.push_str(&format!(
                "; {} records consumed whose send was not acknowledged",
                self.unacknowledged_consumed
            ));
        }
        out.push('\n');
        for example in &self.examples {
            out.push_str(&format!("  - {example}\n"));
        }
        out
    }
}

/// Bytes at the start of every soak record: magic, run, producer, number.
const STAMP_LEN: usize = 28;
const MAGIC: &[u8; 4] = b"soak";
/// The most connections opened when --connections is not given: under the daemon's
/// default per-address limit (1024), with room for an admin's CLI from the same address.
const DEFAULT_MAX_CONNECTIONS: u32 = 1000;
/// End-to-end latency samples kept per consumer stream: beyond it every other one is
/// dropped and the rest kept at half the rate, an even sample of any length of run.
const MAX_E2E_SAMPLES: usize = 100_000;
/// Connections or streams being opened at once while setting up.
const PARALLEL_SETUP: usize = 32;
/// Records a producer may have unacknowledged before it waits (matters when unpaced).
const MAX_UNACKNOWLEDGED: usize = 10_000;
/// Problems kept as examples in the report.
const MAX_EXAMPLES: usize = 10;

/// Run the soak against the cluster behind `fluvio` (the clients get connections of
/// their own to the same SC).
pub async fn run(fluvio: &Fluvio, args: &SoakArgs) -> Result<SoakReport, SoakError> {
    if args.record_size < STAMP_LEN {
        return Err(SoakError::RecordTooSmall {
            given: args.record_size,
        });
    }
    if args.workers > args.clients {
        return Err(SoakError::TooManyWorkers {
            workers: args.workers,
            clients: args.clients,
        });
    }
    if args.workers > 1 && fluvio.metadata().tls().is_enabled() {
        return Err(SoakError::WorkersOverTls);
    }
    let addr = fluvio.metadata().addr().to_string();
    let epoch = Instant::now();
    let sampler = RssSampler::start(args.daemon_pid, &addr, epoch).await;

    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("soak-{}", std::process::id()));
    let created = match fluvio.metadata().topic(&topic).await? {
        Some(_) => false,
        None => {
            let spec = TopicSpec {
                replicas: ReplicaSpec::Computed {
                    partitions: args.partitions,
                    replication_factor: 1,
                    ignore_rack_assignment: false,
                },
                ..TopicSpec::default()
            };
            fluvio
                .admin()
                .create::<TopicSpec>(&topic, spec, false)
                .await?;
            true
        }
    };
    let result = soak(fluvio, args, &addr, &topic, epoch, sampler).await;
    if created && !args.keep_topic {
        let _ = fluvio
            .admin()
            .delete::<TopicSpec>(topic.clone(), &topic)
            .await;
    }
    result
}

async fn soak(
    fluvio: &Fluvio,
    args: &SoakArgs,
    addr: &str,
    topic: &str,
    epoch: Instant,
    sampler: RssSampler,
) -> Result<SoakReport, SoakError> {
    let partitions = fluvio.partition_count(topic).await?.max(1);
    // Until every partition's leader answers (its log is open), a consumer starting on a
    // new topic could be told "not leader for partition".
    super::wait_ready(fluvio, topic, partitions).await?;
    let clients = args.clients;
    let run_id = run_id();
    let (outcome, times) = if args.workers > 1 {
        run_workers(addr, args, topic, run_id).await?
    } else {
        let tls = fluvio.metadata().tls();
        run_share(
            addr,
            tls,
            args,
            topic,
            run_id,
            Share::WHOLE,
            &mut Cue::Alone,
        )
        .await?
    };
    let ShareOutcome {
        mut producers,
        readers: mut consumed,
        connections,
    } = outcome;
    // Producer k's outcome at index k, as the check reads them.
    producers.sort_by_key(|(client, _)| *client);
    let mut outcomes: Vec<ProducerOutcome> = producers.into_iter().map(|(_, o)| o).collect();
    let Times {
        start,
        produced_at,
        drained_at,
    } = times;
    let mut rss = sampler.stop().await;
    rss.producing_from_secs = (start - epoch).as_secs_f64();
    rss.producing_until_secs = (produced_at - epoch).as_secs_f64();
    rss.drained_at_secs = (drained_at - epoch).as_secs_f64();
    rss.note_cpu_while_producing();

    let check = check(&outcomes, &consumed);
    let acked_records: u64 = outcomes.iter().map(ProducerOutcome::acknowledged).sum();
    let record_bytes = args.record_size as u64;
    let consumed_records: u64 = consumed.iter().map(|r| r.records).sum();
    let consumed_bytes: u64 = consumed.iter().map(|r| r.bytes).sum();
    let first_send_failure = outcomes.iter().find_map(|o| o.first_failure.clone());
    let latencies: Vec<Duration> = outcomes
        .iter_mut()
        .flat_map(|o| std::mem::take(&mut o.latencies))
        .collect();
    let end_to_end: Vec<Duration> = consumed
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.end_to_end.kept))
        .collect();
    Ok(SoakReport {
        kind: "soak",
        topic: topic.to_string(),
        partitions,
        clients,
        connections,
        workers: args.workers,
        record_size: args.record_size,
        rate_per_client: args.rate,
        secs: args.secs,
        sent: outcomes.iter().map(|o| o.sent).sum(),
        produced: Throughput::new(
            acked_records,
            acked_records * record_bytes,
            produced_at - start,
        ),
        send_failures: outcomes.iter().map(|o| o.failures).sum(),
        first_send_failure,
        consumed: Throughput::new(consumed_records, consumed_bytes, drained_at - start),
        consumer_streams: consumed.len() as u32,
        ack_latency: Percentiles::of(latencies),
        end_to_end_latency: Percentiles::of(end_to_end),
        rss,
        check,
    })
}

/// Which of the clients (and connections) one process runs: those numbered `index`
/// modulo `of`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Share {
    index: u32,
    of: u32,
}

impl Share {
    const WHOLE: Share = Share { index: 0, of: 1 };

    /// The clients of this share, by their number in the whole run.
    fn clients(self, total: u32) -> Vec<u32> {
        (self.index..total).step_by(self.of as usize).collect()
    }

    /// This share's part of `total` things dealt out one by one.
    fn part_of(self, total: u32) -> u32 {
        total / self.of + u32::from(self.index < total % self.of)
    }

    /// `I/N` as --worker takes it.
    fn parse(text: &str) -> Option<Share> {
        let (index, of) = text.split_once('/')?;
        let share = Share {
            index: index.parse().ok()?,
            of: of.parse().ok()?,
        };
        (share.index < share.of).then_some(share)
    }
}

/// What one share of the clients sent, had acknowledged and read.
#[derive(Serialize, Deserialize)]
struct ShareOutcome {
    /// By client number.
    producers: Vec<(u32, ProducerOutcome)>,
    readers: Vec<ReaderOutcome>,
    /// Fluvio connections the share's clients used.
    connections: u32,
}

/// When the producers started and stopped, and the consumers finished.
struct Times {
    start: Instant,
    produced_at: Instant,
    drained_at: Instant,
}

/// Where a share takes its cues to start producing and to stop reading: from nobody
/// (it is the whole run), or from the parent of a --workers run.
enum Cue {
    Alone,
    Parent(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

/// What a worker tells its parent, one JSON object a line on its stdout.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WorkerMsg {
    /// Connected, consumers reading from the partitions' ends: it may start.
    Ready,
    /// The producers are done: per partition, the offset after its last record this
    /// worker had acknowledged.
    Produced {
        ends: Vec<i64>,
    },
    Done(Box<ShareOutcome>),
}

/// What the parent tells its workers, one JSON object a line on their stdin.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ParentMsg {
    Start,
    /// Per partition, the offset after the last record any worker had acknowledged.
    Finish {
        ends: Vec<i64>,
    },
}

impl Cue {
    /// Wait until the producers may start.
    async fn start(&mut self) -> Result<(), SoakError> {
        let Cue::Parent(lines) = self else {
            return Ok(());
        };
        say(&WorkerMsg::Ready)?;
        match hear(lines).await? {
            ParentMsg::Start => Ok(()),
            ParentMsg::Finish { .. } => Err(parent_said("finish before start")),
        }
    }

    /// Where every partition's acknowledged records end, given this share's.
    async fn ends(&mut self, ends: Vec<i64>) -> Result<Vec<i64>, SoakError> {
        let Cue::Parent(lines) = self else {
            return Ok(ends);
        };
        say(&WorkerMsg::Produced { ends })?;
        match hear(lines).await? {
            ParentMsg::Finish { ends } => Ok(ends),
            ParentMsg::Start => Err(parent_said("start twice")),
        }
    }
}

fn parent_said(what: &str) -> SoakError {
    SoakError::Task(format!("the parent of this soak worker said {what}"))
}

/// One line to the parent.
fn say(msg: &WorkerMsg) -> Result<(), SoakError> {
    let line = serde_json::to_string(msg).map_err(|err| SoakError::Task(err.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|err| SoakError::Task(format!("cannot write to the parent: {err}")))
}

/// The parent's next line.
async fn hear(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
) -> Result<ParentMsg, SoakError> {
    match lines.next_line().await {
        Ok(Some(line)) => serde_json::from_str(&line)
            .map_err(|err| SoakError::Task(format!("unreadable cue from the parent: {err}"))),
        Ok(None) => Err(SoakError::Task("the parent closed its pipe".to_string())),
        Err(err) => Err(SoakError::Task(format!("cannot read the parent: {err}"))),
    }
}

/// Run one share of the clients: connect, start the consumers from the partitions'
/// ends, produce for --secs when cued, then read on until the acknowledged records'
/// ends (as cued) or the drain timeout.
async fn run_share(
    addr: &str,
    tls: &ClientTls,
    args: &SoakArgs,
    topic: &str,
    run_id: u32,
    share: Share,
    cue: &mut Cue,
) -> Result<(ShareOutcome, Times), SoakError> {
    let clients = args.clients;
    let mine = share.clients(clients);
    let wanted = share
        .part_of(connections_for(clients, args.connections))
        .max(1);
    let handles = connect_all(addr, tls, wanted).await?;
    let partitions = handles[0].partition_count(topic).await?.max(1);

    // Consumers first, from the partitions' current ends, so every record sent later
    // reaches them.
    let (finish_tx, finish_rx) = watch::channel(None::<Finish>);
    let readers = start_readers(
        &handles, &mine, clients, partitions, topic, run_id, args, finish_rx,
    )
    .await?;

    let config = ProducerConfig {
        linger: Duration::from_millis(args.linger_ms),
        isolation: args.isolation.into(),
        ..ProducerConfig::default()
    };
    let mut producers = Vec::with_capacity(mine.len());
    for (local, &client) in mine.iter().enumerate() {
        let fluvio = &handles[local % wanted as usize];
        let producer = fluvio
            .topic_producer(topic, config.clone())
            .await
            .map_err(|source| SoakError::StartProducer {
                client,
                topic: topic.to_string(),
                source: Box::new(source),
            })?;
        producers.push((client, producer));
    }

    cue.start().await?;
    let start = Instant::now();
    let plan = Arc::new(Plan {
        clients,
        run_id,
        record_size: args.record_size,
        rate: args.rate,
        start,
        stop: start + Duration::from_secs(args.secs),
    });
    let tasks: Vec<(u32, JoinHandle<ProducerOutcome>)> = producers
        .into_iter()
        .map(|(client, producer)| {
            let task = tokio::spawn(produce(client, producer, plan.clone()));
            (client, task)
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (client, task) in tasks {
        let outcome = task.await.map_err(|err| SoakError::Task(err.to_string()))?;
        outcomes.push((client, outcome));
    }
    let produced_at = Instant::now();

    // Where each partition's acknowledged records end: the consumers stop there.
    let mut ends = vec![0i64; partitions as usize];
    for (_, outcome) in &outcomes {
        for (partition, acked) in outcome.acked.iter().enumerate() {
            if let Some(last) = acked.iter().map(|&(_, offset)| offset + 1).max() {
                ends[partition] = ends[partition].max(last);
            }
        }
    }
    let ends = cue.ends(ends).await?;
    let _ = finish_tx.send(Some(Finish {
        ends: Arc::new(ends),
        deadline: Instant::now() + Duration::from_secs(args.drain_secs),
    }));
    let mut consumed = Vec::with_capacity(readers.len());
    for reader in readers {
        consumed.push(
            reader
                .await
                .map_err(|err| SoakError::Task(err.to_string()))?,
        );
    }
    let drained_at = Instant::now();
    let outcome = ShareOutcome {
        producers: outcomes,
        readers: consumed,
        connections: wanted,
    };
    let times = Times {
        start,
        produced_at,
        drained_at,
    };
    Ok((outcome, times))
}

/// A soak worker (--worker I/N): run its share of the clients as its parent cues it,
/// then hand the parent what it measured and saw.
pub async fn run_worker(fluvio: &Fluvio, args: &SoakArgs) -> Result<(), SoakError> {
    let bad = |what: &str| SoakError::Task(format!("a soak worker needs {what}"));
    let share = args
        .worker
        .as_deref()
        .and_then(Share::parse)
        .ok_or_else(|| bad("--worker I/N with I < N"))?;
    let topic = args.topic.as_deref().ok_or_else(|| bad("--topic"))?;
    let run_id = args.run_id.ok_or_else(|| bad("--run-id"))?;
    let addr = fluvio.metadata().addr().to_string();
    let mut cue = Cue::Parent(tokio::io::BufReader::new(tokio::io::stdin()).lines());
    let tls = fluvio.metadata().tls();
    let (outcome, _) = run_share(&addr, tls, args, topic, run_id, share, &mut cue).await?;
    say(&WorkerMsg::Done(Box::new(outcome)))
}

/// The --workers processes of a run, killed if the run ends before they do.
struct Workers {
    children: Vec<std::process::Child>,
    stdins: Vec<std::process::ChildStdin>,
    /// Each worker's stderr, read to its end.
    stderrs: Vec<Option<std::thread::JoinHandle<String>>>,
    /// (worker, its next stdout line, or why there is none: it closed stdout, or wrote
    /// something unreadable).
    lines: mpsc::UnboundedReceiver<(u32, Result<String, String>)>,
    /// Workers whose output ended after their last answer, and why.
    ended: Vec<Option<String>>,
}

impl Workers {
    fn start(exe: &std::path::Path, args: &[Vec<String>]) -> Result<Workers, SoakError> {
        use std::process::{Command, Stdio};
        let (tx, lines) = mpsc::unbounded_channel();
        let mut workers = Workers {
            children: Vec::new(),
            stdins: Vec::new(),
            stderrs: Vec::new(),
            lines,
            ended: vec![None; args.len()],
        };
        for (worker, args) in args.iter().enumerate() {
            let worker = worker as u32;
            let mut child = Command::new(exe)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|err| SoakError::Worker {
                    worker,
                    why: format!("cannot start {}: {err}", exe.display()),
                })?;
            let (Some(stdin), Some(stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                workers.children.push(child);
                return Err(SoakError::Worker {
                    worker,
                    why: "started without its pipes".to_string(),
                });
            };
            workers.children.push(child);
            workers.stdins.push(stdin);
            let tx = tx.clone();
            // Blocking pipes, each read by a thread of its own: the runtime only sees
            // whole lines.
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let line = line.map_err(|err| format!("unreadable output: {err}"));
                    let failed = line.is_err();
                    if tx.send((worker, line)).is_err() || failed {
                        return;
                    }
                }
                let _ = tx.send((worker, Err("it closed its output".to_string())));
            });
            workers.stderrs.push(Some(std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
                text
            })));
        }
        Ok(workers)
    }

    fn tell(&mut self, msg: &ParentMsg) -> Result<(), SoakError> {
        let line = serde_json::to_string(msg).map_err(|err| SoakError::Task(err.to_string()))?;
        for (worker, stdin) in self.stdins.iter_mut().enumerate() {
            writeln!(stdin, "{line}")
                .and_then(|()| stdin.flush())
                .map_err(|err| SoakError::Worker {
                    worker: worker as u32,
                    why: format!("cannot cue it: {err}"),
                })?;
        }
        Ok(())
    }

    /// One message from each worker, in the order they come.
    async fn hear_all(&mut self) -> Result<Vec<(u32, WorkerMsg)>, SoakError> {
        if let Some((worker, why)) = self
            .ended
            .iter()
            .enumerate()
            .find_map(|(w, why)| Some((w as u32, why.clone()?)))
        {
            return Err(self.gone(worker, why).await);
        }
        let mut heard: Vec<(u32, WorkerMsg)> = Vec::with_capacity(self.children.len());
        while heard.len() < self.children.len() {
            let Some((worker, line)) = self.lines.recv().await else {
                return Err(SoakError::Task("every worker's pipe closed".to_string()));
            };
            let line = match line {
                // A worker that answered may end before the others answer: only the
                // next round needs it again.
                Err(why) if heard.iter().any(|(w, _)| *w == worker) => {
                    self.ended[worker as usize] = Some(why);
                    continue;
                }
                Ok(line) => line,
                Err(why) => return Err(self.gone(worker, why).await),
            };
            if line.trim().is_empty() {
                continue;
            }
            let msg = serde_json::from_str(&line).map_err(|err| SoakError::Worker {
                worker,
                why: format!("unreadable message ({err}): {line:.200}"),
            })?;
            heard.push((worker, msg));
        }
        Ok(heard)
    }

    /// Why a worker stopped talking early: how it exited and what it said on stderr.
    async fn gone(&mut self, worker: u32, why: String) -> SoakError {
        // Its exit, if it comes within a few seconds of its output's end.
        let mut status = None;
        for _ in 0..50 {
            match self.children[worker as usize].try_wait() {
                Ok(Some(exit)) => {
                    status = Some(exit);
                    break;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => break,
            }
        }
        let stderr = match status {
            Some(_) => self.stderrs[worker as usize].take(),
            None => None,
        };
        let said = tokio::task::spawn_blocking(move || stderr.and_then(|s| s.join().ok()))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let exit = status.map_or_else(|| "still running".to_string(), |s| s.to_string());
        let said = said.trim();
        SoakError::Worker {
            worker,
            why: if said.is_empty() {
                format!("{why} ({exit}), saying nothing on stderr")
            } else {
                format!("{why} ({exit}): {said}")
            },
        }
    }
}

impl Drop for Workers {
    /// Close their stdin (a worker done reads it to its end before it exits), give them
    /// a few seconds, and kill the ones still running.
    fn drop(&mut self) {
        self.stdins.clear();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        for child in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// The command line of worker `worker` of a --workers run.
fn worker_args(addr: &str, args: &SoakArgs, topic: &str, run_id: u32, worker: u32) -> Vec<String> {
    use clap::ValueEnum;
    let isolation = args
        .isolation
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let connections = connections_for(args.clients, args.connections);
    let mut line: Vec<String> = ["--sc", addr, "benchmark", "soak"]
        .into_iter()
        .map(String::from)
        .collect();
    for (flag, value) in [
        ("--clients", args.clients.to_string()),
        ("--connections", connections.to_string()),
        ("--secs", args.secs.to_string()),
        ("--topic", topic.to_string()),
        ("--record-size", args.record_size.to_string()),
        ("--rate", args.rate.to_string()),
        ("--drain-secs", args.drain_secs.to_string()),
        ("--linger-ms", args.linger_ms.to_string()),
        ("--isolation", isolation),
        ("--worker", format!("{worker}/{}", args.workers)),
        ("--run-id", run_id.to_string()),
    ] {
        line.push(flag.to_string());
        line.push(value);
    }
    line
}

/// Run the clients in --workers processes of this program and merge their outcomes.
async fn run_workers(
    addr: &str,
    args: &SoakArgs,
    topic: &str,
    run_id: u32,
) -> Result<(ShareOutcome, Times), SoakError> {
    let exe = std::env::current_exe().map_err(|err| SoakError::Worker {
        worker: 0,
        why: format!("cannot find this program to start it: {err}"),
    })?;
    let lines: Vec<Vec<String>> = (0..args.workers)
        .map(|w| worker_args(addr, args, topic, run_id, w))
        .collect();
    let mut workers = Workers::start(&exe, &lines)?;
    let expect = |what: &str, worker: u32| SoakError::Worker {
        worker,
        why: format!("said something else than {what}"),
    };
    for (worker, msg) in workers.hear_all().await? {
        if !matches!(msg, WorkerMsg::Ready) {
            return Err(expect("ready", worker));
        }
    }
    workers.tell(&ParentMsg::Start)?;
    let start = Instant::now();
    let mut ends: Vec<i64> = Vec::new();
    for (worker, msg) in workers.hear_all().await? {
        let WorkerMsg::Produced { ends: theirs } = msg else {
            return Err(expect("produced", worker));
        };
        if ends.len() < theirs.len() {
            ends.resize(theirs.len(), 0);
        }
        for (end, theirs) in ends.iter_mut().zip(theirs) {
            *end = (*end).max(theirs);
        }
    }
    let produced_at = Instant::now();
    workers.tell(&ParentMsg::Finish { ends })?;
    let mut merged = ShareOutcome {
        producers: Vec::new(),
        readers: Vec::new(),
        connections: 0,
    };
    for (worker, msg) in workers.hear_all().await? {
        let WorkerMsg::Done(outcome) = msg else {
            return Err(expect("done", worker));
        };
        merged.producers.extend(outcome.producers);
        merged.readers.extend(outcome.readers);
        merged.connections += outcome.connections;
    }
    let drained_at = Instant::now();
    let times = Times {
        start,
        produced_at,
        drained_at,
    };
    Ok((merged, times))
}

/// Open `wanted` connections of their own to the SC at `addr`, a few at a time.
async fn connect_all(
    addr: &str,
    tls: &crate::client::ClientTls,
    wanted: u32,
) -> Result<Vec<Fluvio>, SoakError> {
    let opened = Arc::new(AtomicU32::new(0));
    let owned = addr.to_string();
    in_parallel(wanted, |_| {
        let addr = owned.clone();
        let tls = tls.clone();
        let opened = opened.clone();
        async move {
            let fluvio = Fluvio::connect_with(&addr, &tls).await?;
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(fluvio)
        }
    })
    .await
    .map_err(|source| match source {
        SoakError::Client(source) => SoakError::Connect {
            opened: opened.load(Ordering::Relaxed),
            wanted,
            addr: addr.to_string(),
            source: Box::new(source),
        },
        other => other,
    })
}

/// Start `count` jobs, at most [`PARALLEL_SETUP`] at a time; their results in job
/// order, or the first error.
async fn in_parallel<T, F, Fut>(count: u32, job: F) -> Result<Vec<T>, SoakError>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<T, SoakError>> + Send + 'static,
    T: Send + 'static,
{
    let limit = Arc::new(Semaphore::new(PARALLEL_SETUP));
    let mut running = JoinSet::new();
    let mut done: Vec<(u32, T)> = Vec::with_capacity(count as usize);
    for index in 0..count {
        // Reap what finished, so an early failure stops the setup now.
        while let Some(joined) = running.try_join_next() {
            done.push(finished(joined)?);
        }
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return Err(SoakError::Task("the setup limit closed".to_string()));
        };
        let work = job(index);
        running.spawn(async move {
            let result = work.await;
            drop(permit);
            (index, result)
        });
    }
    while let Some(joined) = running.join_next().await {
        done.push(finished(joined)?);
    }
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, value)| value).collect())
}

fn finished<T>(
    joined: Result<(u32, Result<T, SoakError>), tokio::task::JoinError>,
) -> Result<(u32, T), SoakError> {
    match joined {
        Ok((index, Ok(value))) => Ok((index, value)),
        Ok((_, Err(err))) => Err(err),
        Err(err) => Err(SoakError::Task(err.to_string())),
    }
}

/// The Fluvio connections `clients` share: as asked (at most one per client), else one
/// per client up to [`DEFAULT_MAX_CONNECTIONS`].
fn connections_for(clients: u32, asked: Option<u32>) -> u32 {
    asked
        .unwrap_or(clients.min(DEFAULT_MAX_CONNECTIONS))
        .clamp(1, clients.max(1).saturating_mul(2))
}

/// The connection client `client`'s consumers use: its producer's, unless there are
/// more connections than clients, then one of the others.
fn consumer_connection(client: u32, clients: u32, connections: u32) -> u32 {
    if connections > clients {
        (clients + client) % connections
    } else {
        client % connections
    }
}

/// A number that tells this run's records from any other's in the same topic.
fn run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

/// The partitions client `client` reads: one each when there are at least as many
/// clients as partitions, else every `clients`-th, so every partition has a reader.
fn partitions_read_by(client: u32, clients: u32, partitions: u32) -> Vec<u32> {
    if clients >= partitions {
        vec![client % partitions]
    } else {
        (0..partitions).filter(|p| p % clients == client).collect()
    }
}

/// Now on CLOCK_MONOTONIC, in microseconds: the one clock every process on this machine
/// reads alike, so a worker can time a record another worker sent.
fn monotonic_micros() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

/// Durations as whole microseconds, for the workers' outcomes.
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(all: &[Duration], to: S) -> Result<S::Ok, S::Error> {
        to.collect_seq(all.iter().map(|d| d.as_micros() as u64))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Vec<Duration>, D::Error> {
        let all = Vec::<u64>::deserialize(from)?;
        Ok(all.into_iter().map(Duration::from_micros).collect())
    }
}

/// A soak record's value: the stamp (with the send time, in microseconds on
/// CLOCK_MONOTONIC), then filler up to `size` bytes.
fn stamp(run_id: u32, producer: u32, number: u64, sent_micros: u64, size: usize) -> Bytes {
    let mut value = BytesMut::with_capacity(size);
    value.put_slice(MAGIC);
    value.put_u32(run_id);
    value.put_u32(producer);
    value.put_u64(number);
    value.put_u64(sent_micros);
    value.put_bytes(b'x', size.saturating_sub(STAMP_LEN));
    value.freeze()
}

/// What a record of this run carries in its stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    producer: u32,
    number: u64,
    sent_micros: u64,
}

/// The stamp of a record of run `run_id`; `None` for anything else.
fn read_stamp(value: &[u8], run_id: u32) -> Option<Stamp> {
    let stamp = value.get(..STAMP_LEN)?;
    let (magic, rest) = stamp.split_at(4);
    let word = |at: usize| u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
    let long = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&rest[at..at + 8]);
        u64::from_be_bytes(bytes)
    };
    if magic != MAGIC || word(0) != run_id {
        return None;
    }
    Some(Stamp {
        producer: word(4),
        number: long(8),
        sent_micros: long(16),
    })
}

/// An even sample of at most [`MAX_E2E_SAMPLES`] durations from a stream of any length.
#[derive(Debug, Default, Serialize, Deserialize)]
struct EvenSample {
    #[serde(with = "micros")]
    kept: Vec<Duration>,
    /// Keep one in `stride`.
    stride: u64,
    seen: u64,
}

impl EvenSample {
    fn add(&mut self, sample: Duration) {
        self.stride = self.stride.max(1);
        self.seen += 1;
        if !self.seen.is_multiple_of(self.stride) {
            return;
        }
        if self.kept.len() >= MAX_E2E_SAMPLES {
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.stride *= 2;
            if !self.seen.is_multiple_of(self.stride) {
                return;
            }
        }
        self.kept.push(sample);
    }
}

/// What every producer shares.
struct Plan {
    clients: u32,
    run_id: u32,
    record_size: usize,
    /// Records per second per producer; 0: unpaced.
    rate: u64,
    start: Instant,
    stop: Instant,
}

/// What one producer sent and had acknowledged.
#[derive(Serialize, Deserialize)]
struct ProducerOutcome {
    sent: u64,
    /// Per partition: (number, offset) of each acknowledged record.
    acked: Vec<Vec<(u64, i64)>>,
    #[serde(with = "micros")]
    latencies: Vec<Duration>,
    failures: u64,
    first_failure: Option<String>,
}

impl ProducerOutcome {
    fn acknowledged(&self) -> u64 {
        self.acked.iter().map(|a| a.len() as u64).sum()
    }

    fn fail(&mut self, err: &ClientError) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(advised(err));
        }
    }

    fn take(&mut self, (partition, number, latency, result): Acknowledgement) {
        match result {
            Ok(meta) => {
                self.acked[partition as usize].push((number, meta.offset));
                self.latencies.push(latency);
            }
            Err(err) => self.fail(&err),
        }
    }
}

/// Partition, number, time to acknowledge, and the outcome of one send.
type Acknowledgement = (u32, u64, Duration, Result<RecordMetadata, ClientError>);

/// Client `client`'s producer: record k goes to partition (client + k) mod M, so every
/// producer writes every partition; each partition's records are numbered from 0. Sends
/// are spread over the interval by client, so the clients do not all send at once.
async fn produce(client: u32, producer: TopicProducer, plan: Arc<Plan>) -> ProducerOutcome {
    let partitions = producer.partition_count();
    let mut outcome = ProducerOutcome {
        sent: 0,
        acked: vec![Vec::new(); partitions as usize],
        latencies: Vec::new(),
        failures: 0,
        first_failure: None,
    };
    let mut numbers = vec![0u64; partitions as usize];
    let mut pending: JoinSet<Acknowledgement> = JoinSet::new();
    let mut ticks = (plan.rate > 0).then(|| {
        let every = Duration::from_secs_f64(1.0 / plan.rate as f64);
        let phase = every.mul_f64(f64::from(client) / f64::from(plan.clients));
        let mut ticks = tokio::time::interval_at(plan.start + phase, every);
        // Behind schedule (the machine is busy), carry on at the rate rather than burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks
    });
    tokio::time::sleep_until(plan.start).await;
    for k in 0u64.. {
        if let Some(ticks) = &mut ticks {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = tokio::time::sleep_until(plan.stop) => break,
            }
        }
        if Instant::now() >= plan.stop {
            break;
        }
        let partition = ((u64::from(client) + k) % u64::from(partitions)) as u32;
        let number = numbers[partition as usize];
        numbers[partition as usize] += 1;
        let sent_micros = monotonic_micros();
        let record = Record {
            value: stamp(plan.run_id, client, number, sent_micros, plan.record_size),
            ..Record::default()
        };
        let sent_at = Instant::now();
        outcome.sent += 1;
        match producer.send_record(partition, record).await {
            Ok(ack) => {
                pending.spawn(async move {
                    let result = ack.wait().await;
                    (partition, number, sent_at.elapsed(), result)
                });
            }
            Err(err) => outcome.fail(&err),
        }
        while let Some(Ok(done)) = pending.try_join_next() {
            outcome.take(done);
        }
        while pending.len() >= MAX_UNACKNOWLEDGED {
            if let Some(Ok(done)) = pending.join_next().await {
                outcome.take(done);
            }
        }
    }
    let _ = producer.flush().await;
    while let Some(joined) = pending.join_next().await {
        if let Ok(done) = joined {
            outcome.take(done);
        }
    }
    outcome
}

/// Told to the consumers once every acknowledgement is in.
#[derive(Debug, Clone)]
struct Finish {
    /// Per partition, the offset after its last acknowledged record.
    ends: Arc<Vec<i64>>,
    /// When the consumers give up reaching them.
    deadline: Instant,
}

/// Start every client's consumer streams (from the partitions' ends), each read by a
/// task of its own.
#[allow(clippy::too_many_arguments)]
async fn start_readers(
    handles: &[Fluvio],
    // This share's clients, by their number in the whole run.
    mine: &[u32],
    clients: u32,
    partitions: u32,
    topic: &str,
    run_id: u32,
    args: &SoakArgs,
    finish: watch::Receiver<Option<Finish>>,
) -> Result<Vec<JoinHandle<ReaderOutcome>>, SoakError> {
    // (client's index in this share, client, partition)
    let jobs: Arc<Vec<(u32, u32, u32)>> = Arc::new(
        mine.iter()
            .enumerate()
            .flat_map(|(local, &client)| {
                partitions_read_by(client, clients, partitions)
                    .into_iter()
                    .map(move |partition| (local as u32, client, partition))
            })
            .collect(),
    );
    let local_clients = mine.len() as u32;
    let config = ConsumerConfig {
        isolation: args.isolation.into(),
        ..ConsumerConfig::default()
    };
    let connections = handles.len() as u32;
    in_parallel(jobs.len() as u32, |job| {
        let (local, client, partition) = jobs[job as usize];
        let fluvio =
            handles[consumer_connection(local, local_clients, connections) as usize].clone();
        let topic = topic.to_string();
        let config = config.clone();
        let finish = finish.clone();
        async move {
            let start = async {
                fluvio
                    .partition_consumer(&topic, partition)
                    .await?
                    .stream(Offset::End, config)
                    .await
            };
            let stream = start.await.map_err(|source| SoakError::StartConsumer {
                client,
                topic: topic.clone(),
                partition,
                source: Box::new(source),
            })?;
            let reader = Reader::new(client, partition, run_id);
            Ok(tokio::spawn(reader.read(stream, finish)))
        }
    })
    .await
}

/// One consumer stream: a client reading one partition.
struct Reader {
    client: u32,
    partition: u32,
    run_id: u32,
    check: PartitionCheck,
}

/// What a consumer stream saw.
#[derive(Serialize, Deserialize)]
struct ReaderOutcome {
    client: u32,
    partition: u32,
    check: PartitionCheck,
    /// Records and bytes delivered, this run's or not.
    records: u64,
    bytes: u64,
    /// The offset after the last record delivered.
    next_offset: i64,
    /// Set when the stream did not reach the last acknowledged offset: why.
    incomplete: Option<String>,
    end_to_end: EvenSample,
}

impl Reader {
    fn new(client: u32, partition: u32, run_id: u32) -> Reader {
        Reader {
            client,
            partition,
            run_id,
            check: PartitionCheck::default(),
        }
    }

    /// Read until the offset after the partition's last acknowledged record (told once
    /// the producers are done), the drain deadline, or a failure.
    async fn read(
        mut self,
        mut stream: RecordStream,
        mut finish: watch::Receiver<Option<Finish>>,
    ) -> ReaderOutcome {
        let mut next_offset = stream.next_offset();
        // The stream runs in a task of its own, so stopping here never cancels it in
        // the middle of finding a new leader.
        let (tx, mut rx) = mpsc::channel(256);
        let forward = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        let (mut records, mut bytes) = (0u64, 0u64);
        let mut end_to_end = EvenSample::default();
        let mut told: Option<Finish> = None;
        let incomplete = loop {
            if let Some(finish) = &told
                && next_offset >= finish.ends[self.partition as usize]
            {
                break None;
            }
            let deadline = told.as_ref().map(|f| f.deadline);
            tokio::select! {
                item = rx.recv() => match item {
                    Some(Ok(record)) => {
                        records += 1;
                        bytes += record.value.len() as u64;
                        next_offset = record.offset + 1;
                        if let Some(stamp) = read_stamp(&record.value, self.run_id) {
                            let waited = monotonic_micros().saturating_sub(stamp.sent_micros);
                            end_to_end.add(Duration::from_micros(waited));
                            self.check.observe(stamp.producer, stamp.number, record.offset);
                        }
                    }
                    Some(Err(err)) => break Some(advised(&err)),
                    None => break Some("the stream ended".to_string()),
                },
                changed = finish.changed(), if told.is_none() => {
                    if changed.is_err() {
                        break Some("the soak stopped".to_string());
                    }
                    told = finish.borrow().clone();
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    break Some("the drain timeout passed".to_string());
                }
            }
        };
        forward.abort();
        ReaderOutcome {
            client: self.client,
            partition: self.partition,
            check: self.check,
            records,
            bytes,
            next_offset,
            incomplete,
            end_to_end,
        }
    }
}

/// What one consumer saw of one partition, per producer.
#[derive(Default, Serialize, Deserialize)]
struct PartitionCheck {
    producers: HashMap<u32, SeenNumbers>,
    duplicates: u64,
    reordered: u64,
    examples: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct SeenNumbers {
    highest: Option<u64>,
    seen: Runs,
}

impl PartitionCheck {
    fn observe(&mut self, producer: u32, number: u64, offset: i64) {
        let seen = self.producers.entry(producer).or_default();
        if !seen.seen.insert(number) {
            self.duplicates += 1;
            let example = format!("producer {producer}'s record {number} again at offset {offset}");
            self.example(example);
            return;
        }
        match seen.highest {
            Some(highest) if number < highest => {
                self.reordered += 1;
                let example = format!(
                    "producer {producer}'s record {number} at offset {offset}, after its record {highest}"
                );
                self.example(example);
            }
            _ => seen.highest = Some(number),
        }
    }

    fn example(&mut self, what: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(what);
        }
    }

    fn has(&self, producer: u32, number: u64) -> bool {
        self.producers
            .get(&producer)
            .is_some_and(|seen| seen.seen.contains(number))
    }

    fn distinct(&self) -> u64 {
        self.producers.values().map(|s| s.seen.len()).sum()
    }
}

/// A set of numbers kept as sorted, disjoint, non-adjacent ranges: numbers seen in
/// order make one range, whatever their count.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Runs(Vec<Range<u64>>);

impl Runs {
    fn contains(&self, number: u64) -> bool {
        let at = self.0.partition_point(|run| run.end <= number);
        self.0.get(at).is_some_and(|run| run.start <= number)
    }

    /// Add `number`; false when it was there already.
    fn insert(&mut self, number: u64) -> bool {
        if self.contains(number) {
            return false;
        }
        // The first run that ends at or after `number` (it does not contain it).
        let at = self.0.partition_point(|run| run.end < number);
        match self.0.get_mut(at) {
            Some(run) if run.end == number => {
                run.end = number + 1;
                if self
                    .0
                    .get(at + 1)
                    .is_some_and(|next| next.start == number + 1)
                {
                    let next = self.0.remove(at + 1);
                    self.0[at].end = next.end;
                }
            }
            Some(run) if run.start == number + 1 => run.start = number,
            _ => self.0.insert(at, number..number + 1),
        }
        true
    }

    fn len(&self) -> u64 {
        self.0.iter().map(|run| run.end - run.start).sum()
    }
}

/// Compare what each consumer saw with what was acknowledged.
fn check(producers: &[ProducerOutcome], readers: &[ReaderOutcome]) -> Check {
    let mut check = Check::default();
    let mut examples = Vec::new();
    check.acknowledged = producers.iter().map(ProducerOutcome::acknowledged).sum();
    for reader in readers {
        let partition = reader.partition as usize;
        let who = format!(
            "client {}'s consumer of partition {}",
            reader.client, reader.partition
        );
        let mut consumed = 0;
        for (producer, outcome) in producers.iter().enumerate() {
            let Some(acked) = outcome.acked.get(partition) else {
                continue;
            };
            check.expected += acked.len() as u64;
            for &(number, offset) in acked {
                if reader.check.has(producer as u32, number) {
                    consumed += 1;
                } else {
                    check.missing += 1;
                    if examples.len() < MAX_EXAMPLES {
                        examples.push(format!(
                            "{who}: producer {producer}'s record {number}, acknowledged at offset {offset}, never arrived"
                        ));
                    }
                }
            }
        }
        check.consumed += consumed;
        check.unacknowledged_consumed += reader.check.distinct().saturating_sub(consumed);
        check.duplicates += reader.check.duplicates;
        check.reordered += reader.check.reordered;
        for example in &reader.check.examples {
            if examples.len() < MAX_EXAMPLES {
                examples.push(format!("{who}: {example}"));
            }
        }
        if let Some(why) = &reader.incomplete {
            check.consumers_incomplete += 1;
            if examples.len() < MAX_EXAMPLES {
                examples.push(format!(
                    "{who}: stopped at offset {}: {why}",
                    reader.next_offset
                ));
            }
        }
    }
    check.examples = examples;
    check.passed = check.acknowledged > 0
        && check.missing == 0
        && check.duplicates == 0
        && check.reordered == 0
        && check.consumed == check.expected;
    check
}

/// Samples a process's VmRSS once a second until stopped.
struct RssSampler {
    pid: Option<u32>,
    source: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<Vec<RssSample>>>,
}

impl RssSampler {
    async fn start(pid: Option<u32>, sc_addr: &str, epoch: Instant) -> RssSampler {
        let found = match pid {
            Some(pid) => Ok((pid, format!("--daemon-pid, {}", process_name(pid)))),
            None => find_local_daemon(sc_addr).await,
        };
        let (pid, source) = match found {
            Ok((pid, source)) if vm_rss_kib(pid).is_some() => (pid, source),
            Ok((pid, _)) => {
                return RssSampler::idle(format!("cannot read /proc/{pid}/status"));
            }
            Err(why) => return RssSampler::idle(why),
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = &mut stopped => break,
                }
                let Some(kib) = vm_rss_kib(pid) else { break };
                samples.push(RssSample {
                    at_secs: epoch.elapsed().as_secs_f64(),
                    kib,
                    cpu_secs: cpu_secs(pid).unwrap_or(0.0),
                });
            }
            // One more at the end, so the last figure is the state after the drain.
            if let Some(kib) = vm_rss_kib(pid) {
                samples.push(RssSample {
                    at_secs: epoch.elapsed().as_secs_f64(),
                    kib,
                    cpu_secs: cpu_secs(pid).unwrap_or(0.0),
                });
            }
            samples
        });
        RssSampler {
            pid: Some(pid),
            source,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn idle(why: String) -> RssSampler {
        RssSampler {
            pid: None,
            source: why,
            stop: None,
            task: None,
        }
    }

    async fn stop(mut self) -> RssReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let samples = match self.task.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        RssReport {
            pid: self.pid,
            source: self.source,
            start_kib: samples.first().map_or(0, |s| s.kib),
            peak_kib: samples.iter().map(|s| s.kib).max().unwrap_or(0),
            end_kib: samples.last().map_or(0, |s| s.kib),
            samples,
            ..RssReport::default()
        }
    }
}

/// `VmRSS` of `pid` in KiB, from /proc.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The process's CPU time so far, user and system (`/proc/PID/stat` fields 14 and 15).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system; no memory is involved.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks as f64 / per_sec as f64)
}

fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown process".to_string())
}

/// The pid of a fluvio-daemon on this machine listening on the SC's port, or why there
/// is none to sample.
async fn find_local_daemon(sc_addr: &str) -> Result<(u32, String), String> {
    const PASS_PID: &str = "pass --daemon-pid";
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host(sc_addr).await {
        Ok(addrs) => addrs.collect(),
        Err(err) => return Err(format!("cannot resolve {sc_addr}: {err}; {PASS_PID}")),
    };
    let Some(port) = addrs.first().map(|a| a.port()) else {
        return Err(format!("{sc_addr} resolves to no address; {PASS_PID}"));
    };
    if !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(format!(
            "the SC at {sc_addr} is not on loopback; {PASS_PID} if the daemon runs here"
        ));
    }
    let found = tokio::task::spawn_blocking(move || listening_process(port))
        .await
        .ok()
        .flatten();
    let Some(pid) = found else {
        return Err(format!(
            "found no local process listening on port {port}; {PASS_PID}"
        ));
    };
    let name = process_name(pid);
    if name != "fluvio-daemon" {
        return Err(format!(
            "the process listening on port {port} is {name} (pid {pid}), not fluvio-daemon; {PASS_PID}"
        ));
    }
    Ok((pid, format!("fluvio-daemon listening on port {port}")))
}

/// The process holding a listening TCP socket on `port`, found through /proc: the
/// socket's inode in /proc/net/tcp{,6}, then the process with that inode among its fds.
fn listening_process(port: u16) -> Option<u32> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port))
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Other users' processes cannot be read: skipped.
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && wanted.iter().any(|w| target.as_os_str() == w.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of a /proc/net/tcp line's socket if it listens on `port`.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    const LISTEN: &str = "0A";
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let (_, hex_port) = local.rsplit_once(':')?;
    if u16::from_str_radix(hex_port, 16).ok()? != port || *fields.get(3)? != LISTEN {
        return None;
    }
    fields.get(9)?.parse().ok().filter(|inode| *inode != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_hold_numbers_in_any_order() {
        let mut runs = Runs::default();
        for n in [0, 1, 2, 5, 4, 9] {
            assert!(runs.insert(n), "{n}");
        }
        assert_eq!(runs.0, vec![0..3, 4..6, 9..10]);
        assert!(!runs.insert(4));
        assert!(runs.insert(3));
        assert_eq!(runs.0, vec![0..6, 9..10]);
        assert!(runs.insert(8));
        assert_eq!(runs.0, vec![0..6, 8..10]);
        assert_eq!(runs.len(), 8);
        assert!(runs.contains(0) && runs.contains(5) && runs.contains(9));
        assert!(!runs.contains(6) && !runs.contains(7) && !runs.contains(10));
    }

    #[test]
    fn clients_get_a_connection_each_up_to_the_default_limit() {
        assert_eq!(connections_for(4, None), 4);
        assert_eq!(connections_for(1000, None), 1000);
        assert_eq!(connections_for(2000, None), 1000);
        assert_eq!(connections_for(1000, Some(1000)), 1000);
        assert_eq!(connections_for(1000, Some(8)), 8);
        assert_eq!(
            connections_for(4, Some(10)),
            8,
            "at most one per producer and consumer"
        );
    }

    #[test]
    fn consumers_get_connections_apart_only_when_there_are_more_than_clients() {
        // Shared: a client's consumers use its producer's connection.
        assert_eq!(consumer_connection(3, 5, 2), 1);
        assert_eq!(consumer_connection(3, 5, 5), 3);
        // Twice the clients: every producer and consumer has a connection of its own.
        let consumers: Vec<u32> = (0..5).map(|c| consumer_connection(c, 5, 10)).collect();
        assert_eq!(consumers, [5, 6, 7, 8, 9]);
    }

    #[test]
    fn workers_share_out_clients_and_connections_one_by_one() {
        let shares: Vec<Share> = (0..3).map(|index| Share { index, of: 3 }).collect();
        assert_eq!(shares[0].clients(7), vec![0, 3, 6]);
        assert_eq!(shares[1].clients(7), vec![1, 4]);
        assert_eq!(shares[2].clients(7), vec![2, 5]);
        let parts: Vec<u32> = shares.iter().map(|s| s.part_of(1000)).collect();
        assert_eq!(parts, vec![334, 333, 333]);
        assert_eq!(Share::WHOLE.clients(3), vec![0, 1, 2]);
        assert_eq!(Share::WHOLE.part_of(1000), 1000);
        assert_eq!(Share::parse("1/4"), Some(Share { index: 1, of: 4 }));
        for bad in ["4/4", "1", "a/2", "1/0", ""] {
            assert_eq!(Share::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_workers_outcome_survives_its_pipe() {
        let mut outcome = producer(vec![vec![(0, 3), (1, 4)], vec![]]);
        outcome.latencies = vec![Duration::from_micros(1500), Duration::from_millis(2)];
        let mut seen = reader(1, &[(0, 0), (0, 1), (2, 0)]);
        seen.end_to_end.add(Duration::from_micros(250));
        seen.incomplete = Some("the drain timeout passed".to_string());
        let msg = WorkerMsg::Done(Box::new(ShareOutcome {
            producers: vec![(4, outcome)],
            readers: vec![seen],
            connections: 2,
        }));
        let line = serde_json::to_string(&msg).unwrap();
        assert!(!line.contains('\n'));
        let WorkerMsg::Done(back) = serde_json::from_str(&line).unwrap() else {
            panic!("{line}")
        };
        assert_eq!(back.connections, 2);
        let (client, producer) = &back.producers[0];
        assert_eq!(*client, 4);
        assert_eq!(producer.acked, vec![vec![(0, 3), (1, 4)], vec![]]);
        assert_eq!(
            producer.latencies,
            vec![Duration::from_micros(1500), Duration::from_millis(2)]
        );
        let reader = &back.readers[0];
        assert_eq!(reader.partition, 1);
        assert!(reader.check.has(0, 1) && reader.check.has(2, 0) && !reader.check.has(2, 1));
        assert_eq!(reader.end_to_end.kept, vec![Duration::from_micros(250)]);
        assert_eq!(
            reader.incomplete.as_deref(),
            Some("the drain timeout passed")
        );
        let start: ParentMsg = serde_json::from_str(r#""start""#).unwrap();
        assert!(matches!(start, ParentMsg::Start));
        let finish = serde_json::to_string(&ParentMsg::Finish { ends: vec![3, 0] }).unwrap();
        assert_eq!(finish, r#"{"finish":{"ends":[3,0]}}"#);
    }

    #[test]
    fn worker_command_lines_carry_the_run() {
        use clap::Parser;
        let cli = crate::command::Cli::try_parse_from([
            "fluvio",
            "benchmark",
            "soak",
            "--clients",
            "10",
            "--secs",
            "5",
            "--workers",
            "2",
            "--isolation",
            "read_committed",
        ])
        .unwrap();
        let crate::command::Command::Benchmark(crate::command::benchmark::BenchmarkCmd::Soak(args)) =
            cli.command
        else {
            panic!("not a soak")
        };
        let line = worker_args("127.0.0.1:9003", &args, "soak-1", 77, 1);
        let parsed = crate::command::Cli::try_parse_from(
            std::iter::once("fluvio".to_string()).chain(line.iter().cloned()),
        )
        .unwrap_or_else(|err| panic!("{line:?}: {err}"));
        assert_eq!(parsed.target.sc.as_deref(), Some("127.0.0.1:9003"));
        let crate::command::Command::Benchmark(crate::command::benchmark::BenchmarkCmd::Soak(
            worker,
        )) = parsed.command
        else {
            panic!("not a soak")
        };
        assert_eq!(worker.worker.as_deref(), Some("1/2"));
        assert_eq!(worker.run_id, Some(77));
        assert_eq!(worker.topic.as_deref(), Some("soak-1"));
        assert_eq!(worker.connections, Some(10));
        assert_eq!((worker.clients, worker.secs), (10, 5));
        assert_eq!(worker.isolation, IsolationArg::ReadCommitted);
        assert_eq!(worker.workers, 1);
    }

    #[test]
    fn stamps_round_trip_and_other_runs_are_ignored() {
        let value = stamp(7, 12, 345, 6789, 64);
        assert_eq!(value.len(), 64);
        let expected = Stamp {
            producer: 12,
            number: 345,
            sent_micros: 6789,
        };
        assert_eq!(read_stamp(&value, 7), Some(expected));
        assert_eq!(read_stamp(&value, 8), None);
        assert_eq!(read_stamp(&value[..STAMP_LEN - 1], 7), None);
        assert_eq!(read_stamp(b"hello, world, not a soak record", 7), None);
    }

    #[test]
    fn an_even_sample_keeps_a_bounded_spread_of_a_long_stream() {
        let mut sample = EvenSample::default();
        let total = MAX_E2E_SAMPLES as u64 * 5 + 3;
        for i in 0..total {
            sample.add(Duration::from_micros(i));
        }
        assert!(
            sample.kept.len() <= MAX_E2E_SAMPLES,
            "{}",
            sample.kept.len()
        );
        assert!(
            sample.kept.len() >= MAX_E2E_SAMPLES / 2,
            "{}",
            sample.kept.len()
        );
        // Evenly spread: the kept samples are every stride-th of the stream.
        let stride = Duration::from_micros(sample.stride);
        assert!(sample.kept.windows(2).all(|w| w[1] - w[0] == stride));
        assert!(*sample.kept.last().unwrap() >= Duration::from_micros(total - sample.stride));
    }

    #[test]
    fn the_daemon_cpu_share_comes_from_the_samples_around_the_producing_phase() {
        let sample = |at_secs: f64, cpu_secs: f64| RssSample {
            at_secs,
            kib: 1,
            cpu_secs,
        };
        let mut rss = RssReport {
            samples: vec![
                sample(0.0, 1.0),
                sample(1.0, 1.5),
                sample(3.0, 2.5),
                sample(4.0, 2.6),
            ],
            producing_from_secs: 1.2,
            producing_until_secs: 2.9,
            ..RssReport::default()
        };
        rss.note_cpu_while_producing();
        // From the sample at 1 s to the one at 3 s: 1 s of CPU in 2 s.
        assert_eq!(rss.cpu_secs_producing, 1.0);
        assert_eq!(rss.cpu_percent_producing, 50.0);
    }

    #[test]
    fn every_partition_has_a_reader() {
        assert_eq!(partitions_read_by(5, 10, 4), vec![1]);
        assert_eq!(partitions_read_by(0, 3, 8), vec![0, 3, 6]);
        assert_eq!(partitions_read_by(2, 3, 8), vec![2, 5]);
        for (clients, partitions) in [(1, 1), (3, 8), (8, 8), (1000, 8)] {
            let mut read: Vec<u32> = (0..clients)
                .flat_map(|c| partitions_read_by(c, clients, partitions))
                .collect();
            read.sort_unstable();
            read.dedup();
            assert_eq!(read, (0..partitions).collect::<Vec<_>>());
        }
    }

    fn producer(acked: Vec<Vec<(u64, i64)>>) -> ProducerOutcome {
        ProducerOutcome {
            sent: acked.iter().map(|a| a.len() as u64).sum(),
            acked,
            latencies: Vec::new(),
            failures: 0,
            first_failure: None,
        }
    }

    fn reader(partition: u32, seen: &[(u32, u64)]) -> ReaderOutcome {
        let mut check = PartitionCheck::default();
        for (offset, &(producer, number)) in seen.iter().enumerate() {
            check.observe(producer, number, offset as i64);
        }
        ReaderOutcome {
            client: 0,
            partition,
            check,
            records: seen.len() as u64,
            bytes: 0,
            next_offset: seen.len() as i64,
            incomplete: None,
            end_to_end: EvenSample::default(),
        }
    }

    #[test]
    fn the_check_passes_when_each_reader_saw_every_acknowledged_record_once_in_order() {
        let producers = [
            producer(vec![vec![(0, 0), (1, 2)], vec![(0, 0)]]),
            producer(vec![vec![(0, 1)], vec![(0, 1), (1, 2)]]),
        ];
        // Producer 1's record 2 on partition 1 was not acknowledged but stored: allowed.
        let readers = [
            reader(0, &[(0, 0), (1, 0), (0, 1)]),
            reader(1, &[(0, 0), (1, 0), (1, 1), (1, 2)]),
            reader(1, &[(0, 0), (1, 0), (1, 1), (1, 2)]),
        ];
        let check = check(&producers, &readers);
        assert!(check.passed, "{check:?}");
        assert_eq!(check.acknowledged, 6);
        assert_eq!((check.expected, check.consumed), (9, 9));
        assert_eq!(check.unacknowledged_consumed, 2);
    }

    #[test]
    fn the_check_names_missing_duplicated_and_reordered_records() {
        let producers = [producer(vec![vec![(0, 0), (1, 1), (2, 2), (3, 3)]])];
        let lost = check(&producers, &[reader(0, &[(0, 0), (0, 1), (0, 3)])]);
        assert!(!lost.passed);
        assert_eq!((lost.missing, lost.duplicates, lost.reordered), (1, 0, 0));
        assert_eq!(
            lost.examples,
            vec![
                "client 0's consumer of partition 0: producer 0's record 2, acknowledged at offset 2, never arrived"
            ]
        );

        let twice = check(
            &producers,
            &[reader(0, &[(0, 0), (0, 1), (0, 1), (0, 2), (0, 3)])],
        );
        assert!(!twice.passed);
        assert_eq!((twice.missing, twice.duplicates), (0, 1));
        assert!(twice.examples[0].ends_with("producer 0's record 1 again at offset 2"));

        let swapped = check(&producers, &[reader(0, &[(0, 0), (0, 2), (0, 1), (0, 3)])]);
        assert!(!swapped.passed);
        assert_eq!((swapped.missing, swapped.reordered), (0, 1));
        assert!(
            swapped.examples[0].ends_with("producer 0's record 1 at offset 2, after its record 2")
        );
        assert!(
            swapped.summary().contains("1 out of order"),
            "{}",
            swapped.summary()
        );

        let nothing = check(&[producer(vec![vec![]])], &[reader(0, &[])]);
        assert!(!nothing.passed);
        assert_eq!(
            nothing.summary(),
            "no record was acknowledged, so nothing was checked"
        );
    }

    #[test]
    fn proc_net_tcp_lines_name_listening_sockets() {
        let listen = "   0: 0100007F:4A4B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(listen, 19019), Some(123456));
        assert_eq!(listening_inode(listen, 19003), None);
        let established = "   1: 0100007F:4A4B 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 654321 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(listening_inode(established, 19019), None);
        assert_eq!(listening_inode("garbage", 19019), None);
    }

    #[test]
    fn this_process_rss_is_read_from_proc() {
        let kib = vm_rss_kib(std::process::id()).expect("VmRSS of this process");
        assert!(kib > 0);
    }
}
