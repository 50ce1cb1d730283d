//! `--sweep NAME=V1,V2,...`: the same benchmark once per setting, each reported on one line
//! with its throughput as a ratio to the first setting's. Several `--sweep` flags make a
//! matrix: every combination runs, the first flag's values changing slowest.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{BenchReport, BenchmarkArgs};

/// A setting a sweep may vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SweepParam {
    Partitions,
    Producers,
    Consumers,
    RecordSize,
    BatchSize,
}

impl SweepParam {
    /// The name on the command line and in the JSON (`record-size`).
    pub fn name(self) -> &'static str {
        match self {
            SweepParam::Partitions => "partitions",
            SweepParam::Producers => "producers",
            SweepParam::Consumers => "consumers",
            SweepParam::RecordSize => "record-size",
            SweepParam::BatchSize => "batch-size",
        }
    }

    /// The largest value this setting takes: the flag's own limit.
    fn max(self) -> u64 {
        match self {
            SweepParam::Partitions => 100_000,
            SweepParam::Producers | SweepParam::Consumers => u64::from(super::MAX_CLIENTS),
            SweepParam::RecordSize => 100 * 1024 * 1024,
            SweepParam::BatchSize => 100 * 1024 * 1024,
        }
    }

    /// Set this setting to `value` in `args`.
    fn apply(self, args: &mut BenchmarkArgs, value: u64) {
        match self {
            SweepParam::Partitions => args.partitions = value as u32,
            SweepParam::Producers => args.producers = value as u32,
            SweepParam::Consumers => args.consumers = value as u32,
            SweepParam::RecordSize => args.record_size = value as usize,
            SweepParam::BatchSize => args.batch_size = value as usize,
        }
    }
}

/// One `--sweep` flag: a setting and the values it takes, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub param: SweepParam,
    pub values: Vec<u64>,
}

impl Sweep {
    /// The values as given: `1,10,100`.
    pub fn values_text(&self) -> String {
        let values: Vec<String> = self.values.iter().map(u64::to_string).collect();
        values.join(",")
    }
}

impl std::fmt::Display for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.param.name(), self.values_text())
    }
}

/// `--sweep` of `benchmark produce`.
pub fn parse_produce(text: &str) -> Result<Sweep, String> {
    use SweepParam::*;
    parse(text, &[Partitions, Producers, RecordSize, BatchSize])
}

/// `--sweep` of `benchmark consume`.
pub fn parse_consume(text: &str) -> Result<Sweep, String> {
    use SweepParam::*;
    parse(text, &[Partitions, Consumers, RecordSize, BatchSize])
}

fn parse(text: &str, allowed: &[SweepParam]) -> Result<Sweep, String> {
    let names: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
    let Some((name, list)) = text.split_once('=') else {
        return Err(format!(
            "expected NAME=V1,V2,... (e.g. partitions=1,10,100), with NAME one of {}",
            names.join(", ")
        ));
    };
    let param = allowed
        .iter()
        .copied()
        .find(|p| p.name() == name.trim())
        .ok_or_else(|| {
            format!(
                "cannot sweep '{}' here; sweep one of {}",
                name.trim(),
                names.join(", ")
            )
        })?;
    let mut values = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        let value: u64 = item.parse().map_err(|_| {
            format!(
                "'{item}' is not a whole number; give {} as a comma-separated list like {}=1,10,100",
                param.name(),
                param.name()
            )
        })?;
        if value == 0 || value > param.max() {
            return Err(format!(
                "{}={value} is out of range: each value must be 1 to {}",
                param.name(),
                param.max()
            ));
        }
        values.push(value);
    }
    Ok(Sweep { param, values })
}

/// Every combination of the sweeps' values, the first sweep changing slowest; an error
/// names a setting swept twice.
pub fn settings(sweeps: &[Sweep]) -> Result<Vec<Vec<(SweepParam, u64)>>, super::BenchError> {
    for (i, sweep) in sweeps.iter().enumerate() {
        if sweeps[..i].iter().any(|s| s.param == sweep.param) {
            return Err(super::BenchError::SweptTwice(sweep.param.name()));
        }
    }
    let mut settings: Vec<Vec<(SweepParam, u64)>> = vec![Vec::new()];
    for sweep in sweeps {
        settings = settings
            .into_iter()
            .flat_map(|prefix| {
                sweep.values.iter().map(move |&value| {
                    let mut setting = prefix.clone();
                    setting.push((sweep.param, value));
                    setting
                })
            })
            .collect();
    }
    Ok(settings)
}

/// `args` with one setting applied.
pub fn apply(args: &BenchmarkArgs, setting: &[(SweepParam, u64)]) -> BenchmarkArgs {
    let mut out = args.clone();
    out.sweep.clear();
    for &(param, value) in setting {
        param.apply(&mut out, value);
    }
    out
}

/// `partitions=10 producers=4`: a setting as the sweep flags name it.
pub fn label(setting: &[(SweepParam, u64)]) -> String {
    let parts: Vec<String> = setting
        .iter()
        .map(|(param, value)| format!("{}={value}", param.name()))
        .collect();
    parts.join(" ")
}

/// What a sweep measured: one object per setting, in the order they ran.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub kind: &'static str,
    /// The `--sweep` flags as given, e.g. `["partitions=1,10,100"]`.
    pub sweep: Vec<String>,
    pub settings: Vec<SweepPoint>,
}

/// One setting of a sweep and its full report.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// The swept values of this setting, e.g. `{"partitions": 10}`.
    pub setting: BTreeMap<&'static str, u64>,
    /// Its throughput (MB/s) over the first setting's.
    pub ratio_to_first: f64,
    pub report: BenchReport,
}

impl SweepPoint {
    pub fn new(setting: &[(SweepParam, u64)], report: BenchReport, first_mb_per_s: f64) -> Self {
        SweepPoint {
            setting: setting.iter().map(|&(p, v)| (p.name(), v)).collect(),
            ratio_to_first: report.throughput.mb_per_s / first_mb_per_s.max(1e-9),
            report,
        }
    }

    /// The setting's line: throughput, ratio to the first setting and to the loopback, and
    /// the p99 latency the run measured.
    pub fn line(&self, label: &str, width: usize) -> String {
        let r = &self.report;
        let mut line = format!(
            "{label:<width$}  {rates}  {first:>6.2}x first  {lo:.2}x loopback",
            rates = r.throughput.rates(),
            first = self.ratio_to_first,
            lo = r.ratio_to_loopback,
        );
        if r.load_ack_latency.samples > 0 {
            line.push_str(&format!(
                "  p99 ack under load {:.3} ms",
                r.load_ack_latency.p99_ms
            ));
        }
        if r.end_to_end_latency.samples > 0 {
            line.push_str(&format!(
                "  p99 end-to-end {:.3} ms",
                r.end_to_end_latency.p99_ms
            ));
        }
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_with_clear_errors() {
        let s = parse_produce("partitions=1,10, 100").unwrap();
        assert_eq!(s.param, SweepParam::Partitions);
        assert_eq!(s.values, vec![1, 10, 100]);
        assert_eq!(s.to_string(), "partitions=1,10,100");
        assert_eq!(
            parse_produce("record-size=64").unwrap().param,
            SweepParam::RecordSize
        );
        let err = parse_produce("consumers=1,2").unwrap_err();
        assert!(err.contains("cannot sweep 'consumers'"), "{err}");
        assert!(err.contains("producers"), "{err}");
        assert!(parse_consume("consumers=1,2").is_ok());
        assert!(parse_consume("producers=2").is_err());
        let err = parse_produce("partitions").unwrap_err();
        assert!(err.contains("NAME=V1,V2"), "{err}");
        let err = parse_produce("partitions=1,x").unwrap_err();
        assert!(err.contains("'x' is not a whole number"), "{err}");
        let err = parse_produce("partitions=0").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
    }

    #[test]
    fn several_sweeps_make_a_matrix_first_slowest() {
        let a = parse_produce("partitions=1,10").unwrap();
        let b = parse_produce("producers=1,2,4").unwrap();
        let all = settings(&[a.clone(), b]).unwrap();
        let labels: Vec<String> = all.iter().map(|s| label(s)).collect();
        assert_eq!(
            labels,
            [
                "partitions=1 producers=1",
                "partitions=1 producers=2",
                "partitions=1 producers=4",
                "partitions=10 producers=1",
                "partitions=10 producers=2",
                "partitions=10 producers=4",
            ]
        );
        let twice = settings(&[a.clone(), a]).unwrap_err();
        assert!(twice.to_string().contains("partitions"), "{twice}");
    }
}
