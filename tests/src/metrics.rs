//! Reading a daemon's admin endpoint the way an operator's tools do: over real HTTP
//! (Python's urllib) and through the Prometheus client library's own parsers, the strict
//! OpenMetrics one and the classic text-format one, both of which must accept the page.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::python;

/// One sample of a scrape: metric name (with its `_total`, `_bucket`, ... suffix),
/// labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample of one scrape of `/metrics`, and the names of every metric family
/// described (with or without samples; counters without their `_total`).
#[derive(Debug, Clone)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    pub families: Vec<String>,
}

impl Scrape {
    /// The value of the one sample named `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples.iter().filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        });
        let first = found.next()?;
        assert!(
            found.next().is_none(),
            "more than one sample {name} with {labels:?}"
        );
        Some(first.value)
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

const SCRAPE: &str = r##"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as classic

with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    content_type = response.headers["Content-Type"]
    text = response.read().decode("utf-8")
if not content_type.startswith("application/openmetrics-text"):
    sys.exit("unexpected content type " + content_type)
samples = []
# Every family the page describes, samples or not (the parsers skip empty ones).
families = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
for family in openmetrics(text):
    for s in family.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
classic_count = sum(len(f.samples) for f in classic(text))
if classic_count != len(samples):
    sys.exit("the classic parser read %d samples, OpenMetrics %d" % (classic_count, len(samples)))
print(json.dumps({"samples": samples, "families": families}))
"##;

/// Scrape `http://addr/metrics` and parse it; panics if either parser refuses it.
pub fn scrape(addr: SocketAddr) -> Scrape {
    let out = python::run_ok(SCRAPE, &[&format!("http://{addr}/metrics")]);
    let parsed: serde_json::Value = serde_json::from_str(out.trim()).expect("scrape JSON");
    let families = parsed["families"]
        .as_array()
        .expect("a list of families")
        .iter()
        .map(|f| f.as_str().expect("family name").to_string())
        .collect();
    let samples = parsed["samples"]
        .as_array()
        .expect("a list of samples")
        .iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_string(),
            labels: s["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            value: s["value"].as_f64().expect("value"),
        })
        .collect();
    Scrape { samples, families }
}

/// Scrape until `done` holds for a scrape, which is returned; panics with the last one
/// after `timeout`.
pub fn scrape_until(
    addr: SocketAddr,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + timeout;
    loop {
        let scrape = scrape(addr);
        if done(&scrape) {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed {what}; last scrape:\n{:#?}",
            scrape
                .samples
                .iter()
                .filter(
                    |s| s.name.starts_with("fluvio_partition") || s.name.starts_with("fluvio_sc")
                )
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const GET: &str = r#"
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as err:
    status, body = err.code, err.read()
print(status)
sys.stdout.write(body.decode("utf-8"))
"#;

/// `GET http://addr{path}`: the status and the body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let out = python::run_ok(GET, &[&format!("http://{addr}{path}")]);
    let (status, body) = out.split_once('\n').unwrap_or((out.as_str(), ""));
    (
        status.trim().parse().expect("status code"),
        body.to_string(),
    )
}
