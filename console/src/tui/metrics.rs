//! The metrics view: per topic, throughput and produce latency over the last minutes,
//! read from the daemon's Prometheus endpoint (`/metrics`, `--metrics-addr` of
//! `fluvio-daemon`).
//!
//! Every [`SCRAPE_EVERY`] the worker fetches the endpoint; [`TopicMetrics::update`] turns
//! two scrapes into one point per topic: records and bytes per second (counters of the
//! partitions this endpoint leads, so that a follower's copy is not counted twice) and
//! the 50th and 99th percentile of `fluvio_produce_duration_seconds` over the interval,
//! interpolated within the histogram's buckets as Prometheus' `histogram_quantile` does.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Wrap};

use super::theme;

/// How often the endpoint is read.
pub const SCRAPE_EVERY: Duration = Duration::from_secs(2);
/// Points kept per topic: five minutes at [`SCRAPE_EVERY`].
pub const HISTORY: usize = 150;
/// Topics drawn, the busiest first: more lines than this are unreadable.
pub const TOPICS_DRAWN: usize = 5;
/// One colour per topic line; the summary above the charts gives the same figures in
/// text, for terminals without colour (`NO_COLOR`).
const SERIES_COLOURS: [ratatui::style::Color; TOPICS_DRAWN] = [
    ratatui::style::Color::Cyan,
    ratatui::style::Color::Yellow,
    ratatui::style::Color::Magenta,
    ratatui::style::Color::Green,
    ratatui::style::Color::Red,
];
/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Read `http://addr/metrics`.
pub async fn scrape(addr: &str) -> Result<String, String> {
    tokio::time::timeout(SCRAPE_TIMEOUT, fetch(addr))
        .await
        .unwrap_or_else(|_| Err(format!("no answer from {addr} within 2 s")))
}

async fn fetch(addr: &str) -> Result<String, String> {
    use http_body_util::BodyExt;

    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/metrics")
        .header(hyper::header::HOST, addr)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{addr}/metrics answered {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{addr}: {e}"))?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| format!("{addr}/metrics is not UTF-8"))
}

/// One sample line of the text format: `name{label="value",...} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of a text-format exposition. Comments (`# HELP`, `# TYPE`, `# EOF`) and
/// lines that do not read as samples are skipped: the view shows what it can.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        // name="value" pairs (values with \\, \" and \n escapes), commas between them
        // and possibly after the last.
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &inner[i + 1..];
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// What one scrape says per topic: cumulative counters and histogram buckets.
#[derive(Debug, Clone, Default, PartialEq)]
struct Totals {
    records: f64,
    bytes: f64,
    /// Upper bound -> cumulative count.
    buckets: BTreeMap<OrderedBound, f64>,
}

/// A bucket's upper bound, ordered (`+Inf` last).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedBound(f64);

impl Eq for OrderedBound {}

impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn totals(samples: &[Sample]) -> HashMap<String, Totals> {
    // Counters of the partitions this endpoint leads only.
    let leads: std::collections::HashSet<(String, String)> = samples
        .iter()
        .filter(|s| s.name == "fluvio_partition_is_leader" && s.value == 1.0)
        .filter_map(|s| {
            Some((
                s.label("topic")?.to_string(),
                s.label("partition")?.to_string(),
            ))
        })
        .collect();
    let mut by_topic: HashMap<String, Totals> = HashMap::new();
    for sample in samples {
        let Some(topic) = sample.label("topic") else {
            continue;
        };
        let led = || {
            sample
                .label("partition")
                .is_some_and(|p| leads.contains(&(topic.to_string(), p.to_string())))
        };
        match sample.name.as_str() {
            "fluvio_partition_records_appended_total" if led() => {
                by_topic.entry(topic.to_string()).or_default().records += sample.value;
            }
            "fluvio_partition_appended_bytes_total" if led() => {
                by_topic.entry(topic.to_string()).or_default().bytes += sample.value;
            }
            "fluvio_produce_duration_seconds_bucket" => {
                let Some(le) = sample.label("le") else {
                    continue;
                };
                let bound = match le {
                    "+Inf" => f64::INFINITY,
                    le => match le.parse() {
                        Ok(b) => b,
                        Err(_) => continue,
                    },
                };
                *by_topic
                    .entry(topic.to_string())
                    .or_default()
                    .buckets
                    .entry(OrderedBound(bound))
                    .or_default() += sample.value;
            }
            _ => {}
        }
    }
    by_topic
}

/// The `q` quantile (0..=1) of the observations counted by cumulative `buckets`,
/// interpolated linearly inside the bucket it falls in; the `+Inf` bucket answers with the
/// largest finite bound. `None` without observations.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            let fraction = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * fraction);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

/// One topic's recent figures, oldest first, one point per scrape interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicSeries {
    pub records_per_sec: VecDeque<f64>,
    pub bytes_per_sec: VecDeque<f64>,
    /// Produce latency in milliseconds; `None` where nothing was produced.
    pub p50_ms: VecDeque<Option<f64>>,
    pub p99_ms: VecDeque<Option<f64>>,
}

/// The metrics view's state.
#[derive(Debug, Default)]
pub struct TopicMetrics {
    /// Where the endpoint is.
    pub addr: String,
    last: Option<(Instant, HashMap<String, Totals>)>,
    pub topics: BTreeMap<String, TopicSeries>,
    /// Why the last scrape failed, if it did.
    pub error: Option<String>,
    pub scrapes: u64,
}

fn push<T>(queue: &mut VecDeque<T>, value: T) {
    if queue.len() == HISTORY {
        queue.pop_front();
    }
    queue.push_back(value);
}

impl TopicMetrics {
    pub fn new(addr: String) -> Self {
        Self {
            addr,
            ..Self::default()
        }
    }

    /// A scrape's outcome at `now`.
    pub fn update(&mut self, now: Instant, scraped: Result<String, String>) {
        let text = match scraped {
            Ok(text) => text,
            Err(why) => {
                self.error = Some(why);
                return;
            }
        };
        self.error = None;
        self.scrapes += 1;
        let current = totals(&parse(&text));
        if let Some((then, previous)) = &self.last {
            let secs = now.saturating_duration_since(*then).as_secs_f64();
            if secs > 0.0 {
                for (topic, now_totals) in &current {
                    let before = previous.get(topic).cloned().unwrap_or_default();
                    // A counter that went back (a restarted daemon) counts from zero.
                    let delta = |now: f64, then: f64| if now >= then { now - then } else { now };
                    let series = self.topics.entry(topic.clone()).or_default();
                    push(
                        &mut series.records_per_sec,
                        delta(now_totals.records, before.records) / secs,
                    );
                    push(
                        &mut series.bytes_per_sec,
                        delta(now_totals.bytes, before.bytes) / secs,
                    );
                    let buckets: Vec<(f64, f64)> = now_totals
                        .buckets
                        .iter()
                        .map(|(bound, count)| {
                            let then = before.buckets.get(bound).copied().unwrap_or(0.0);
                            (bound.0, delta(*count, then))
                        })
                        .collect();
                    push(
                        &mut series.p50_ms,
                        quantile(0.5, &buckets).map(|s| s * 1000.0),
                    );
                    push(
                        &mut series.p99_ms,
                        quantile(0.99, &buckets).map(|s| s * 1000.0),
                    );
                }
                // Deleted topics go.
                self.topics.retain(|topic, _| current.contains_key(topic));
            }
        }
        self.last = Some((now, current));
    }

    /// The busiest topics over the history, at most [`TOPICS_DRAWN`], busiest first.
    pub fn busiest(&self) -> Vec<(&str, &TopicSeries)> {
        let mut topics: Vec<(&str, &TopicSeries)> = self
            .topics
            .iter()
            .filter(|(name, _)| !name.starts_with("consumer-offset"))
            .map(|(name, series)| (name.as_str(), series))
            .collect();
        let load = |s: &TopicSeries| s.records_per_sec.iter().sum::<f64>();
        topics.sort_by(|a, b| load(b.1).total_cmp(&load(a.1)).then(a.0.cmp(b.0)));
        topics.truncate(TOPICS_DRAWN);
        topics
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let topics = self.busiest();
        if topics.is_empty() {
            let text = match (&self.error, self.scrapes) {
                (Some(why), _) => format!(
                    "No metrics from {}: {why}. Start fluvio-daemon with --metrics-addr, or point the console at it with fluvio tui --metrics-addr HOST:PORT.",
                    self.addr
                ),
                (None, 0 | 1) => format!("Reading metrics from {}…", self.addr),
                (None, _) => format!("No topics in the metrics of {}.", self.addr),
            };
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
            return;
        }
        let [table_area, throughput_area, latency_area] = Layout::vertical([
            Constraint::Length(topics.len() as u16 + 1),
            Constraint::Percentage(50),
            Constraint::Percentage(50),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(self.summary(&topics)), table_area);
        let throughput: Vec<Vec<(f64, f64)>> = topics
            .iter()
            .map(|(_, s)| points(s.records_per_sec.iter().map(|v| Some(*v))))
            .collect();
        let latency: Vec<Vec<(f64, f64)>> = topics
            .iter()
            .map(|(_, s)| points(s.p99_ms.iter().copied()))
            .collect();
        let names: Vec<&str> = topics.iter().map(|(name, _)| *name).collect();
        frame.render_widget(
            chart("records/s by topic", &names, &throughput, "/s"),
            throughput_area,
        );
        frame.render_widget(
            chart("produce latency p99 by topic", &names, &latency, "ms"),
            latency_area,
        );
    }

    /// One line per topic: its latest figures.
    fn summary(&self, topics: &[(&str, &TopicSeries)]) -> Vec<Line<'static>> {
        let width = topics
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut lines = vec![Line::styled(
            format!(
                "{:<width$}  {:>10}  {:>10}  {:>9}  {:>9}",
                "TOPIC", "RECORDS/S", "BYTES/S", "P50-MS", "P99-MS"
            ),
            theme::header(),
        )];
        let last = |q: &VecDeque<Option<f64>>| {
            q.back()
                .copied()
                .flatten()
                .map_or("-".to_string(), |v| format!("{v:.2}"))
        };
        for (name, series) in topics {
            lines.push(Line::from(format!(
                "{name:<width$}  {:>10}  {:>10}  {:>9}  {:>9}",
                short(series.records_per_sec.back().copied().unwrap_or(0.0)),
                short(series.bytes_per_sec.back().copied().unwrap_or(0.0)),
                last(&series.p50_ms),
                last(&series.p99_ms),
            )));
        }
        lines
    }
}

/// One line per topic over the history, the newest point at the right edge.
fn chart<'a>(title: &'a str, names: &[&str], data: &'a [Vec<(f64, f64)>], unit: &str) -> Chart<'a> {
    let max = data
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let datasets = names
        .iter()
        .zip(data)
        .enumerate()
        .map(|(i, (name, points))| {
            Dataset::default()
                .name(name.to_string())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(SERIES_COLOURS[i % SERIES_COLOURS.len()]))
                .data(points)
        })
        .collect::<Vec<_>>();
    let span = (HISTORY as f64 - 1.0) * SCRAPE_EVERY.as_secs_f64();
    Chart::new(datasets)
        .block(Block::new().borders(Borders::TOP).title(title))
        // The legend names the lines; it may take a third of the width and half the height.
        .hidden_legend_constraints((Constraint::Ratio(1, 3), Constraint::Ratio(1, 2)))
        .x_axis(
            Axis::default()
                .bounds([-span, 0.0])
                .labels([format!("-{}m", (span / 60.0).round()), "now".into()]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, max * 1.1])
                .labels(["0".to_string(), format!("{} {unit}", short(max))]),
        )
}

/// Chart points: x in seconds before now (the newest at 0), gaps left out.
fn points(values: impl DoubleEndedIterator<Item = Option<f64>>) -> Vec<(f64, f64)> {
    let step = SCRAPE_EVERY.as_secs_f64();
    values
        .rev()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (-(i as f64) * step, v)))
        .collect()
}

/// 1234567 -> "1.2M".
fn short(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e4 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape prometheus-client writes (OpenMetrics), as our daemon serves it.
    fn exposition(records: u64, bytes: u64, buckets: &[(f64, u64)]) -> String {
        let mut text = String::from(
            "# HELP fluvio_partition_is_leader 1 when this SPU leads the partition.\n\
             # TYPE fluvio_partition_is_leader gauge\n\
             fluvio_partition_is_leader{topic=\"t\",partition=\"0\",spu=\"5001\"} 1\n\
             fluvio_partition_is_leader{topic=\"t\",partition=\"1\",spu=\"5001\"} 0\n",
        );
        text.push_str(&format!(
            "fluvio_partition_records_appended_total{{topic=\"t\",partition=\"0\",spu=\"5001\"}} {records}\n\
             fluvio_partition_records_appended_total{{topic=\"t\",partition=\"1\",spu=\"5001\"}} 999\n\
             fluvio_partition_appended_bytes_total{{topic=\"t\",partition=\"0\",spu=\"5001\"}} {bytes}\n"
        ));
        for (bound, count) in buckets {
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                format!("{bound}")
            };
            text.push_str(&format!(
                "fluvio_produce_duration_seconds_bucket{{le=\"{le}\",topic=\"t\"}} {count}\n"
            ));
        }
        text.push_str("# EOF\n");
        text
    }

    #[test]
    fn sample_lines_with_labels_escapes_and_specials() {
        let samples = parse(
            "# TYPE x counter\n\
             x_total{a=\"1\",b=\"q\\\"uote\\\\\"} 12.5\n\
             up 1\n\
             h_bucket{le=\"+Inf\",} 3\n\
             broken{a=1} 2\n",
        );
        assert_eq!(samples.len(), 3, "{samples:?}");
        assert_eq!(samples[0].name, "x_total");
        assert_eq!(samples[0].label("b"), Some("q\"uote\\"));
        assert_eq!(samples[0].value, 12.5);
        assert_eq!(samples[1].name, "up");
        assert!(samples[1].labels.is_empty());
        assert_eq!(samples[2].label("le"), Some("+Inf"));
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let buckets = [
            (0.001, 50.0),
            (0.01, 90.0),
            (0.1, 100.0),
            (f64::INFINITY, 100.0),
        ];
        // Rank 50 is the whole first bucket.
        assert_eq!(quantile(0.5, &buckets), Some(0.001));
        // Rank 99: 9 of the 10 in (0.01, 0.1].
        let p99 = quantile(0.99, &buckets).unwrap();
        assert!((p99 - 0.091).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]), None);
        // Beyond the last finite bound: that bound.
        assert_eq!(
            quantile(0.99, &[(0.1, 1.0), (f64::INFINITY, 10.0)]),
            Some(0.1)
        );
    }

    #[test]
    fn two_scrapes_give_rates_and_latencies_of_the_led_partitions() {
        let mut m = TopicMetrics::new("127.0.0.1:9644".into());
        let t0 = Instant::now();
        m.update(
            t0,
            Ok(exposition(
                100,
                10_000,
                &[(0.001, 10), (0.01, 10), (f64::INFINITY, 10)],
            )),
        );
        assert!(m.topics.is_empty(), "one scrape is no interval");
        m.update(
            t0 + Duration::from_secs(2),
            Ok(exposition(
                300,
                30_000,
                &[(0.001, 10), (0.01, 30), (f64::INFINITY, 30)],
            )),
        );
        let t = &m.topics["t"];
        // Partition 1 is not led here: its 999 records are a follower's copy.
        assert_eq!(t.records_per_sec, [100.0]);
        assert_eq!(t.bytes_per_sec, [10_000.0]);
        // The 20 new observations all fell in (1 ms, 10 ms].
        assert_eq!(t.p50_ms.len(), 1);
        let p50 = t.p50_ms[0].unwrap();
        assert!((p50 - 5.5).abs() < 1e-9, "{p50}");
        assert_eq!(m.busiest().len(), 1);

        // A failed scrape keeps the history and says why.
        m.update(t0 + Duration::from_secs(4), Err("refused".into()));
        assert_eq!(m.error.as_deref(), Some("refused"));
        assert_eq!(m.topics["t"].records_per_sec.len(), 1);
    }

    #[test]
    fn points_count_back_from_now_and_skip_gaps() {
        let values = [Some(1.0), None, Some(3.0)];
        assert_eq!(points(values.into_iter()), [(0.0, 3.0), (-4.0, 1.0)]);
        assert_eq!(short(1_234_567.0), "1.2M");
        assert_eq!(short(42.0), "42");
    }
}
