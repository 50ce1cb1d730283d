//! Produce rates per partition, from how the log end offset (LEO) moves between samples.
//!
//! Each sample gives one raw rate (records per second since the previous sample). The rate
//! shown is the *average* of the raw rates in a rolling window, so one burst reads as a
//! bump spread over the window rather than a spike, and a steady flow reads steady. The
//! sparkline plots the smoothed rate over the last samples.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Raw rates averaged into one smoothed rate.
pub const WINDOW: usize = 5;
/// Smoothed rates kept for the sparkline.
pub const HISTORY: usize = 60;

#[derive(Debug, Default)]
struct Series {
    last: Option<(Instant, i64)>,
    window: VecDeque<f64>,
    history: VecDeque<f64>,
}

#[derive(Debug, Default)]
pub struct Rates {
    series: HashMap<String, Series>,
}

impl Rates {
    /// Record the LEOs of `partitions` as of `now`. Partitions not named are forgotten
    /// (deleted topics).
    pub fn sample<'a>(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = (&'a str, i64)>,
    ) {
        let mut seen = HashMap::with_capacity(self.series.len());
        for (name, leo) in partitions {
            let mut series = self.series.remove(name).unwrap_or_default();
            if let Some((then, previous)) = series.last {
                let secs = now.saturating_duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    // A LEO that went back (the topic was re-created) counts as no traffic.
                    let raw = (leo - previous).max(0) as f64 / secs;
                    push_capped(&mut series.window, raw, WINDOW);
                    let smoothed = series.window.iter().sum::<f64>() / series.window.len() as f64;
                    push_capped(&mut series.history, smoothed, HISTORY);
                }
            }
            series.last = Some((now, leo));
            seen.insert(name.to_string(), series);
        }
        self.series = seen;
    }

    /// The smoothed rate in records per second; `None` before two samples.
    pub fn rate(&self, partition: &str) -> Option<f64> {
        self.series.get(partition)?.history.back().copied()
    }

    /// The smoothed rates, oldest first.
    pub fn history(&self, partition: &str) -> Vec<f64> {
        self.series
            .get(partition)
            .map(|s| s.history.iter().copied().collect())
            .unwrap_or_default()
    }
}

fn push_capped(queue: &mut VecDeque<f64>, value: f64, cap: usize) {
    if queue.len() == cap {
        queue.pop_front();
    }
    queue.push_back(value);
}

/// A text sparkline of the last `width` values, scaled to the largest of them; all zeros
/// draw as the lowest bar.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = &values[values.len().saturating_sub(width)..];
    let max = shown.iter().copied().fold(0.0_f64, f64::max);
    shown
        .iter()
        .map(|&v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                let level = ((v / max) * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

/// `12.5/s`, `1.2k/s`, `-` before there is a rate.
pub fn rate_label(rate: Option<f64>) -> String {
    match rate {
        None => "-".to_string(),
        Some(r) if r >= 1000.0 => format!("{:.1}k/s", r / 1000.0),
        Some(r) => format!("{r:.1}/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn a_steady_flow_reads_steady() {
        let start = Instant::now();
        let mut rates = Rates::default();
        for s in 0..10 {
            rates.sample(at(start, s), [("t-0", (s * 10) as i64)]);
        }
        assert_eq!(rates.rate("t-0"), Some(10.0));
        assert_eq!(rates.history("t-0").len(), 9);
    }

    #[test]
    fn a_burst_is_averaged_over_the_window_not_maxed() {
        let start = Instant::now();
        let mut rates = Rates::default();
        rates.sample(at(start, 0), [("t-0", 0)]);
        rates.sample(at(start, 1), [("t-0", 100)]);
        // The first smoothed value is the burst itself (one sample in the window)...
        assert_eq!(rates.rate("t-0"), Some(100.0));
        for s in 2..=5 {
            rates.sample(at(start, s), [("t-0", 100)]);
        }
        // ...then it is one of five samples: 100 / 5.
        assert_eq!(rates.rate("t-0"), Some(20.0));
        rates.sample(at(start, 6), [("t-0", 100)]);
        // The burst has left the window.
        assert_eq!(rates.rate("t-0"), Some(0.0));
    }

    #[test]
    fn uneven_intervals_and_a_leo_going_back() {
        let start = Instant::now();
        let mut rates = Rates::default();
        rates.sample(at(start, 0), [("t-0", 0)]);
        rates.sample(at(start, 4), [("t-0", 20)]);
        assert_eq!(rates.rate("t-0"), Some(5.0));
        rates.sample(at(start, 5), [("t-0", 3)]);
        assert_eq!(rates.rate("t-0"), Some(2.5), "(5 + 0) / 2");
        // The same instant twice adds nothing.
        rates.sample(at(start, 5), [("t-0", 50)]);
        assert_eq!(rates.history("t-0").len(), 2);
    }

    #[test]
    fn partitions_that_disappear_are_forgotten() {
        let start = Instant::now();
        let mut rates = Rates::default();
        rates.sample(at(start, 0), [("a-0", 0), ("b-0", 0)]);
        rates.sample(at(start, 1), [("a-0", 5)]);
        assert_eq!(rates.rate("a-0"), Some(5.0));
        assert_eq!(rates.rate("b-0"), None);
    }

    #[test]
    fn sparklines_and_labels() {
        assert_eq!(sparkline(&[0.0, 0.0], 10), "▁▁");
        assert_eq!(sparkline(&[0.0, 5.0, 10.0], 10), "▁▅█");
        assert_eq!(sparkline(&[10.0, 0.0, 5.0, 10.0], 2), "▅█");
        assert_eq!(sparkline(&[], 4), "");
        assert_eq!(rate_label(None), "-");
        assert_eq!(rate_label(Some(12.34)), "12.3/s");
        assert_eq!(rate_label(Some(1500.0)), "1.5k/s");
    }
}
