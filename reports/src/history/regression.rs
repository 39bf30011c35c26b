//! Regressions in the history: a point is judged against the noise its own series has shown,
//! not against a fixed percentage. A latency that wanders by 20 % from run to run on a shared
//! CI runner should not fail a build at 21 %, and one that never moves by more than 1 % should
//! not hide a 15 % slowdown.
//!
//! **The noise band.** The baseline of a point is the up to [`BASELINE_RUNS`] points before it
//! in its series. With fewer than [`MIN_BASELINE_RUNS`] there is no baseline yet and the point
//! is not judged. Otherwise the band is `median ± k(n) · 1.4826 · MAD` of the baseline's `n`
//! points. The MAD (median absolute deviation) scaled by 1.4826 estimates the standard
//! deviation of normal noise while ignoring outliers, so one bad run in the baseline does not
//! widen the band. `k(n)` is "3 standard deviations" made honest for small baselines: with a
//! handful of runs the MAD is often far below the true spread (three runs that happen to agree),
//! and a plain `k = 3` would flag 15 % of ordinary runs at `n = 3` and 2.5 % at `n = 10`. So
//! [`k`] is the factor that keeps the false-alarm rate on normal noise at 0.135 % (one-sided,
//! that of 3σ with σ known) for each `n`: 430 at `n = 3` (only a wild jump counts), 7.1 at 10,
//! 4.6 at 20, tending to 3. The table was computed by simulation (6 million baselines of
//! standard normal values per `n`, the 99.865th percentile of `(next − median) / (1.4826 · MAD)`).
//!
//! Two floors keep the band from collapsing. When the MAD is 0 (more than half the baseline
//! identical, as knees on a step grid often are) the half-width is the baseline's range
//! (max − min): the spread it has shown at all. And the half-width is never narrower than the
//! metric's [`Resolution`] (for latencies the HDR histograms' 1 µs and 3 significant digits:
//! values closer than that are the same measurement).
//!
//! A point beyond the band on the bad side is a regression, on the good side an improvement.
//! Conformance is not noisy (a case passes or fails), so there a run with more failures than
//! the previous run of its series is a regression, and one with fewer an improvement.

use serde::{Deserialize, Serialize};

use crate::history::entry::Entry;
use crate::history::series::{
    KneePoint, LatencyPoint, conformance_series, knee_series, latency_series,
};

/// How many earlier points of a series form a point's baseline, at most: enough for a
/// usable `k` (4.6 at 20), few enough that a lasting change becomes the new normal after
/// about ten runs (when it holds the baseline's median).
pub const BASELINE_RUNS: usize = 20;
/// How many earlier points a baseline needs before a point is judged at all.
pub const MIN_BASELINE_RUNS: usize = 3;
/// The band's half-width in robust standard deviations for a large baseline.
pub const K: f64 = 3.0;
/// MAD × this estimates the standard deviation of normally distributed values.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The band's half-width in robust standard deviations for a baseline of `n` points, from
/// [`MIN_BASELINE_RUNS`] to [`BASELINE_RUNS`] (see the module's documentation; the simulated
/// factors rounded up). Odd and even `n` pair up because an even count's median is the mean
/// of two points, which makes its MAD steadier.
pub fn k(n: usize) -> f64 {
    const TABLE: [f64; 18] = [
        430.0, 31.5, 29.0, 13.5, 13.0, 9.0, 8.8, 7.1, 7.0, 6.1, 6.1, 5.5, 5.5, 5.1, 5.1, 4.8, 4.8,
        4.6,
    ];
    match n.checked_sub(MIN_BASELINE_RUNS) {
        Some(index) => TABLE
            .get(index)
            .copied()
            .unwrap_or(TABLE[TABLE.len() - 1])
            .max(K),
        None => f64::INFINITY,
    }
}

/// The finest difference a metric can show: `absolute`, or `relative` × the baseline's median
/// if larger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution {
    pub absolute: f64,
    pub relative: f64,
}

/// Latencies in ms from HDR histograms of 1 µs resolution and 3 significant digits.
pub const LATENCY_RESOLUTION: Resolution = Resolution {
    absolute: 0.001,
    relative: 0.001,
};
/// Knees in claims per second: the scenario's step rates, written with two decimals.
pub const RATE_RESOLUTION: Resolution = Resolution {
    absolute: 0.01,
    relative: 0.0,
};

/// Which way is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Latencies, failed cases.
    HigherIsWorse,
    /// Knees.
    LowerIsWorse,
}

/// The range a point is expected in, from its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseBand {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    /// How many points the baseline had.
    pub runs: usize,
}

impl NoiseBand {
    /// The band of a baseline (see the module's documentation); `None` with fewer than
    /// [`MIN_BASELINE_RUNS`] values (non-finite values are left out).
    pub fn from_baseline(values: &[f64], resolution: Resolution) -> Option<NoiseBand> {
        let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if values.len() < MIN_BASELINE_RUNS {
            return None;
        }
        let median = median(&values);
        let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        let mad = median_of(deviations);
        let spread = if mad > 0.0 {
            k(values.len()) * MAD_TO_SIGMA * mad
        } else {
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            max - min
        };
        let floor = resolution.absolute.max(resolution.relative * median.abs());
        let half = spread.max(floor);
        Some(NoiseBand {
            median,
            low: median - half,
            high: median + half,
            runs: values.len(),
        })
    }

    /// Whether `value` is outside the band, and on which side.
    pub fn judge(&self, value: f64, direction: Direction) -> Option<MarkKind> {
        let (worse, better) = match direction {
            Direction::HigherIsWorse => (value > self.high, value < self.low),
            Direction::LowerIsWorse => (value < self.low, value > self.high),
        };
        if worse {
            Some(MarkKind::Regression)
        } else if better {
            Some(MarkKind::Improvement)
        } else {
            None
        }
    }
}

fn median(values: &[f64]) -> f64 {
    median_of(values.to_vec())
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    Regression,
    Improvement,
}

/// A point outside its band: which run, in which series, on which metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The run's [`Entry::id`].
    pub run: String,
    /// The series' label, e.g. `default · claim_ready (warm) · reference · 2c-24g-linux-6.12.0`.
    pub series: String,
    /// `p99`, `p50`, `knee_100ms`, `knee_1s` or `failed cases`.
    pub metric: String,
    pub kind: MarkKind,
    pub value: f64,
    /// The band the value fell outside (for conformance: the previous run's count, as low,
    /// median and high alike).
    pub band: NoiseBand,
}

impl Mark {
    /// A number in the mark's metric's unit: `63.7 ms`, `20.25/s`, `3`.
    pub fn format(&self, value: f64) -> String {
        format_metric(&self.metric, value)
    }
}

/// A number of `metric` (`p50`, `p99`, `knee_100ms`, `knee_1s`, `failed cases`) in its unit.
pub fn format_metric(metric: &str, value: f64) -> String {
    match metric {
        "p50" | "p99" => crate::render::format_ms(value),
        "knee_100ms" | "knee_1s" => format!("{}/s", (value * 100.0).round() / 100.0),
        _ => format!("{value:.0}"),
    }
}

/// How one point of a series stands against its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Judgement {
    /// Fewer than [`MIN_BASELINE_RUNS`] earlier points (how many there are).
    NoBaseline {
        runs: usize,
    },
    Within(NoiseBand),
    Outside(NoiseBand, MarkKind),
}

/// Judges point `index` of `values` (one series, time order) against the points before it.
pub fn judge_point(
    values: &[f64],
    index: usize,
    direction: Direction,
    resolution: Resolution,
) -> Judgement {
    let baseline = &values[index.saturating_sub(BASELINE_RUNS)..index];
    match NoiseBand::from_baseline(baseline, resolution) {
        None => Judgement::NoBaseline {
            runs: baseline.len(),
        },
        Some(band) => match band.judge(values[index], direction) {
            Some(kind) => Judgement::Outside(band, kind),
            None => Judgement::Within(band),
        },
    }
}

/// The marks of one metric: every point outside its band.
fn mark_series(metric: &MetricSeries) -> Vec<Mark> {
    let values: Vec<f64> = metric.points.iter().map(|&(_, _, value)| value).collect();
    (0..values.len())
        .filter_map(|index| {
            match judge_point(&values, index, metric.direction, metric.resolution) {
                Judgement::Outside(band, kind) => Some(Mark {
                    run: metric.points[index].0.clone(),
                    series: metric.series.clone(),
                    metric: metric.metric.to_string(),
                    kind,
                    value: values[index],
                    band,
                }),
                _ => None,
            }
        })
        .collect()
}

/// A metric of a series' points: its name in the marks, and a point's value.
pub type MetricOf<P> = (&'static str, fn(&P) -> f64);

/// One metric of one series judged against a noise band.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    /// The series' label ([`Mark::series`]).
    pub series: String,
    pub metric: &'static str,
    pub direction: Direction,
    pub resolution: Resolution,
    /// `(run, started_at, value)`, in time order.
    pub points: Vec<(String, String, f64)>,
}

impl MetricSeries {
    fn new<P>(
        series: String,
        (metric, value): MetricOf<P>,
        direction: Direction,
        resolution: Resolution,
        points: &[P],
        run: fn(&P) -> (&str, &str),
    ) -> Self {
        let points = points
            .iter()
            .map(|p| {
                let (id, started_at) = run(p);
                (id.to_string(), started_at.to_string(), value(p))
            })
            .collect();
        Self {
            series,
            metric,
            direction,
            resolution,
            points,
        }
    }
}

/// Every metric judged against a noise band: the p50 and p99 of the gating latency series,
/// and the knees.
pub fn banded_metrics(entries: &[Entry]) -> Vec<MetricSeries> {
    let mut metrics = Vec::new();
    for (series, points) in latency_series(entries) {
        if !series.gating() {
            continue;
        }
        let metric: [MetricOf<LatencyPoint>; 2] = [("p50", |p| p.p50_ms), ("p99", |p| p.p99_ms)];
        metrics.extend(metric.map(|metric| {
            MetricSeries::new(
                series.label(),
                metric,
                Direction::HigherIsWorse,
                LATENCY_RESOLUTION,
                &points,
                |p| (&p.run, &p.started_at),
            )
        }));
    }
    for (series, points) in knee_series(entries) {
        let metric: [MetricOf<KneePoint>; 2] =
            [("knee_100ms", |p| p.knee_100ms), ("knee_1s", |p| p.knee_1s)];
        metrics.extend(metric.map(|metric| {
            MetricSeries::new(
                series.label(),
                metric,
                Direction::LowerIsWorse,
                RATE_RESOLUTION,
                &points,
                |p| (&p.run, &p.started_at),
            )
        }));
    }
    metrics
}

/// Every mark of the history: the [`banded_metrics`] outside their bands, and conformance
/// failures, series by series.
pub fn marks(entries: &[Entry]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = banded_metrics(entries)
        .iter()
        .flat_map(mark_series)
        .collect();
    for (series, points) in conformance_series(entries) {
        for pair in points.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let kind = match after.failed.cmp(&before.failed) {
                std::cmp::Ordering::Greater => MarkKind::Regression,
                std::cmp::Ordering::Less => MarkKind::Improvement,
                std::cmp::Ordering::Equal => continue,
            };
            let previous = before.failed as f64;
            marks.push(Mark {
                run: after.run.clone(),
                series: series.label(),
                metric: "failed cases".into(),
                kind,
                value: after.failed as f64,
                band: NoiseBand {
                    median: previous,
                    low: previous,
                    high: previous,
                    runs: 1,
                },
            });
        }
    }
    marks
}

/// The newest run of every series, by the series' label (as [`Mark::series`] names it).
pub fn newest_runs(entries: &[Entry]) -> std::collections::BTreeMap<String, String> {
    let mut newest = std::collections::BTreeMap::new();
    for (series, points) in latency_series(entries) {
        if let Some(point) = points.last() {
            newest.insert(series.label(), point.run.clone());
        }
    }
    for (series, points) in knee_series(entries) {
        if let Some(point) = points.last() {
            newest.insert(series.label(), point.run.clone());
        }
    }
    for (series, points) in conformance_series(entries) {
        if let Some(point) = points.last() {
            newest.insert(series.label(), point.run.clone());
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::{Figures, KneeRunInfo};
    use crate::sample::{sample_bench_run, sample_conformance, sample_knee};

    const EXACT: Resolution = Resolution {
        absolute: 0.0,
        relative: 0.0,
    };

    #[test]
    fn fewer_than_three_baseline_points_is_no_baseline_yet() {
        assert_eq!(NoiseBand::from_baseline(&[], EXACT), None);
        assert_eq!(NoiseBand::from_baseline(&[10.0, 11.0], EXACT), None);
        assert_eq!(
            NoiseBand::from_baseline(&[10.0, f64::NAN, 11.0], EXACT),
            None,
            "non-finite values do not count"
        );
        assert_eq!(
            judge_point(&[10.0, 11.0, 50.0], 2, Direction::HigherIsWorse, EXACT),
            Judgement::NoBaseline { runs: 2 }
        );
        assert_eq!(
            judge_point(&[10.0], 0, Direction::HigherIsWorse, EXACT),
            Judgement::NoBaseline { runs: 0 }
        );
    }

    #[test]
    fn the_band_is_median_plus_minus_k_robust_sigmas() {
        // Median 10, deviations 1, 0, 1, 2, 0 → MAD 1 → half-width k(5) × 1.4826.
        let band = NoiseBand::from_baseline(&[9.0, 10.0, 11.0, 12.0, 10.0], EXACT).unwrap();
        assert_eq!(band.median, 10.0);
        assert!(
            (band.high - (10.0 + k(5) * 1.4826)).abs() < 1e-9,
            "{band:?}"
        );
        assert!((band.low - (10.0 - k(5) * 1.4826)).abs() < 1e-9, "{band:?}");
        assert_eq!(band.runs, 5);
        // Even counts take the mean of the middle two.
        let band = NoiseBand::from_baseline(&[1.0, 2.0, 3.0, 4.0], EXACT).unwrap();
        assert_eq!(band.median, 2.5);
    }

    #[test]
    fn k_widens_small_baselines_and_never_drops_below_three() {
        assert_eq!(k(2), f64::INFINITY);
        assert_eq!(k(3), 430.0);
        assert_eq!(k(10), 7.1);
        assert_eq!(k(BASELINE_RUNS), 4.6);
        assert_eq!(k(500), 4.6);
        for n in MIN_BASELINE_RUNS..BASELINE_RUNS {
            assert!(k(n) >= k(n + 1), "k({n}) < k({})", n + 1);
            assert!(k(n) >= K);
        }
    }

    /// Ordinary noise must rarely be flagged: 2,000 baselines of 10 and 20 runs of a steady
    /// system (the sample generator's normal-ish draws), each with a next run from the same
    /// system. The calibrated `k` allows 0.135 % one-sided; a plain 3 would give about 2.5 %.
    #[test]
    fn steady_noise_is_rarely_flagged() {
        let mut random = crate::splitmix::SplitMix64(7);
        let mut normal = || {
            // Box–Muller.
            let (a, b) = (random.next_f64_nonzero(), random.next_f64());
            (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
        };
        for n in [10, 20] {
            let flagged = (0..2_000)
                .filter(|_| {
                    let baseline: Vec<f64> = (0..n).map(|_| 40.0 + normal()).collect();
                    let band = NoiseBand::from_baseline(&baseline, EXACT).unwrap();
                    band.judge(40.0 + normal(), Direction::HigherIsWorse)
                        == Some(MarkKind::Regression)
                })
                .count();
            assert!(
                flagged <= 12,
                "{flagged} of 2000 steady runs flagged with n = {n}"
            );
        }
    }

    #[test]
    fn one_outlier_in_the_baseline_does_not_widen_the_band() {
        let steady = [10.0, 10.5, 9.5, 10.2, 9.8];
        let band_with = |extra: f64| {
            let mut baseline = steady.to_vec();
            baseline.push(extra);
            NoiseBand::from_baseline(&baseline, EXACT).unwrap()
        };
        let ordinary = band_with(10.1);
        let outlier = band_with(80.0);
        assert!(outlier.high < 20.0, "{outlier:?}");
        // A standard deviation would have grown tenfold (0.4 → 28); the MAD less than doubles.
        assert!(outlier.high - outlier.median < 2.0 * (ordinary.high - ordinary.median));
    }

    #[test]
    fn a_zero_mad_falls_back_to_the_baselines_range() {
        // More than half identical: MAD 0; the range 10..14 gives the half-width 4.
        let band = NoiseBand::from_baseline(&[10.0, 10.0, 10.0, 14.0], EXACT).unwrap();
        assert_eq!((band.low, band.median, band.high), (6.0, 10.0, 14.0));
        assert_eq!(band.judge(14.0, Direction::HigherIsWorse), None);
        assert_eq!(
            band.judge(14.5, Direction::HigherIsWorse),
            Some(MarkKind::Regression)
        );
    }

    #[test]
    fn a_constant_baseline_is_floored_at_the_resolution() {
        let band = NoiseBand::from_baseline(&[20.0; 5], LATENCY_RESOLUTION).unwrap();
        // 0.1 % of 20 ms beats 1 µs.
        assert!((band.high - 20.02).abs() < 1e-9, "{band:?}");
        assert_eq!(band.judge(20.015, Direction::HigherIsWorse), None);
        assert_eq!(
            band.judge(20.1, Direction::HigherIsWorse),
            Some(MarkKind::Regression)
        );
        // Near zero, the absolute 1 µs.
        let band = NoiseBand::from_baseline(&[0.0; 3], LATENCY_RESOLUTION).unwrap();
        assert_eq!(band.high, 0.001);
        let band = NoiseBand::from_baseline(&[20.0; 3], RATE_RESOLUTION).unwrap();
        assert_eq!(band.low, 19.99);
    }

    #[test]
    fn the_side_that_is_worse_depends_on_the_direction() {
        let band = NoiseBand {
            median: 10.0,
            low: 8.0,
            high: 12.0,
            runs: 5,
        };
        assert_eq!(
            band.judge(13.0, Direction::HigherIsWorse),
            Some(MarkKind::Regression)
        );
        assert_eq!(
            band.judge(7.0, Direction::HigherIsWorse),
            Some(MarkKind::Improvement)
        );
        assert_eq!(
            band.judge(7.0, Direction::LowerIsWorse),
            Some(MarkKind::Regression)
        );
        assert_eq!(
            band.judge(13.0, Direction::LowerIsWorse),
            Some(MarkKind::Improvement)
        );
        assert_eq!(band.judge(12.0, Direction::LowerIsWorse), None);
        assert_eq!(band.judge(8.0, Direction::HigherIsWorse), None);
    }

    #[test]
    fn the_baseline_is_the_last_twenty_points_only() {
        // Twenty old points at 100, then twenty near 10: the forty-first is judged against
        // the twenty near 10 alone, so 100 is a regression again.
        let mut values = vec![100.0; 20];
        for i in 0..20 {
            values.push(10.0 + f64::from(i % 5) * 0.2 - 0.4);
        }
        values.push(100.0);
        let Judgement::Outside(band, MarkKind::Regression) =
            judge_point(&values, 40, Direction::HigherIsWorse, EXACT)
        else {
            panic!("not a regression")
        };
        assert_eq!(band.runs, BASELINE_RUNS);
        assert!(band.high < 15.0, "{band:?}");
        assert!(matches!(
            judge_point(&values, 39, Direction::HigherIsWorse, EXACT),
            Judgement::Within(_)
        ));
    }

    fn bench(day: u32, slowdown: f64) -> Entry {
        let started_at = format!("2025-06-{day:02}T12:00:00Z");
        Entry::from_results(
            &sample_bench_run(u64::from(day), &started_at, "reference 0.1.0", slowdown).unwrap(),
        )
    }

    #[test]
    fn a_slow_run_after_steady_ones_is_marked_in_its_gating_series_only() {
        let mut entries: Vec<Entry> = (1..=5).map(|day| bench(day, 1.0)).collect();
        entries.push(bench(6, 3.0));
        let marks = marks(&entries);
        assert!(!marks.is_empty());
        assert!(marks.iter().all(|m| m.run == entries[5].id), "{marks:#?}");
        let ready = marks
            .iter()
            .find(|m| m.series.starts_with("default · claim_ready (warm)") && m.metric == "p99")
            .unwrap_or_else(|| panic!("claim_ready p99 not marked: {marks:#?}"));
        assert_eq!(ready.kind, MarkKind::Regression);
        assert!(ready.value > ready.band.high);
        assert_eq!(ready.band.runs, 5);
        assert!(!marks.iter().any(|m| m.series.contains("harness_lag")));
        // The same runs without the slow one: nothing beyond the noise.
        assert_eq!(super::marks(&entries[..5]), []);
    }

    #[test]
    fn a_lower_knee_is_a_regression_and_more_failed_cases_too() {
        let info = |day: u32| KneeRunInfo {
            started_at: format!("2025-06-{day:02}T12:00:00Z"),
            ..KneeRunInfo::default()
        };
        let mut entries: Vec<Entry> = (1..=4)
            .map(|day| Entry::from_knee(&sample_knee(), &info(day)))
            .collect();
        let Figures::Knee(figures) = &mut entries[3].figures else {
            unreachable!()
        };
        figures.controllers.get_mut("reference").unwrap().knee_100ms = 15.0;
        for (day, failed) in [(1, 0), (2, 2), (3, 1)] {
            entries.push(Entry::from_conformance(&sample_conformance(
                &format!("2025-06-{day:02}T13:00:00Z"),
                failed,
            )));
        }
        let marks = marks(&entries);
        let summary: Vec<(&str, &str, MarkKind)> = marks
            .iter()
            .map(|m| (m.series.as_str(), m.metric.as_str(), m.kind))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "knee · reference · unknown",
                    "knee_100ms",
                    MarkKind::Regression
                ),
                (
                    "conformance · reference · latest",
                    "failed cases",
                    MarkKind::Regression
                ),
                (
                    "conformance · reference · latest",
                    "failed cases",
                    MarkKind::Improvement
                ),
            ]
        );
        assert_eq!(marks[1].band.median, 0.0);
        assert_eq!(marks[1].value, 2.0);
    }
}
