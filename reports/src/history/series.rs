//! The history cut into series: the runs whose numbers compare with each other, in time
//! order. A latency series is one scenario × phase × launch type × controller × machine; a knee
//! series one scenario × controller × machine; a conformance series one controller × spec. The
//! site draws one chart per series and the noise band judges each point within its series only.

use std::collections::BTreeMap;

use crate::history::entry::{BenchFigures, Entry, Figures};
use crate::record::{LaunchType, Phase};
use crate::slo::{SloCheck, percentile_label};

/// Which latencies compare: the same scenario, phase, launch type, controller and machine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LatencySeries {
    pub scenario: String,
    pub phase: Phase,
    /// The launch type charted; all claims when absent.
    pub launch: Option<LaunchType>,
    pub controller: String,
    pub machine: String,
}

impl LatencySeries {
    /// `default · claim_ready (warm) · reference · 2c-24g-linux-6.12.0`.
    pub fn label(&self) -> String {
        format!(
            "{} · {} · {} · {}",
            self.scenario,
            self.subject(),
            self.controller,
            self.machine
        )
    }

    /// `claim_ready (warm)` or `claim_ready`.
    pub fn subject(&self) -> String {
        match self.launch {
            Some(launch) => format!("{} ({launch})", self.phase),
            None => self.phase.to_string(),
        }
    }

    /// Whether a change of this series can be a regression: harness lag describes the
    /// harness, not the system under test, so it is charted but never gates (as in
    /// `compare`).
    pub fn gating(&self) -> bool {
        self.phase != Phase::HarnessLag
    }
}

/// One run's point of a latency series.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyPoint {
    pub run: String,
    pub started_at: String,
    pub commit: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The run's latency SLOs on this phase and launch type: label and bound.
    pub slo_bounds: Vec<(String, f64)>,
}

/// Every latency series of the history with its points in time order.
pub fn latency_series(entries: &[Entry]) -> BTreeMap<LatencySeries, Vec<LatencyPoint>> {
    let mut series: BTreeMap<LatencySeries, Vec<LatencyPoint>> = BTreeMap::new();
    for entry in sorted(entries) {
        let Figures::Bench(figures) = &entry.figures else {
            continue;
        };
        let mut phases: Vec<Phase> = figures.phases.iter().map(|h| h.phase).collect();
        phases.dedup();
        for phase in phases {
            let launch = charted_launch(figures, phase);
            let Some(headline) = figures
                .phases
                .iter()
                .find(|h| h.phase == phase && h.launch == launch)
            else {
                continue;
            };
            let key = LatencySeries {
                scenario: entry.scenario.clone(),
                phase,
                launch,
                controller: entry.controller_label().to_string(),
                machine: entry.machine.clone(),
            };
            series.entry(key).or_default().push(LatencyPoint {
                run: entry.id.clone(),
                started_at: entry.started_at.clone(),
                commit: entry.commit.clone(),
                p50_ms: headline.p50_ms,
                p99_ms: headline.p99_ms,
                slo_bounds: slo_bounds(figures, phase, launch),
            });
        }
    }
    series
}

/// The launch type a phase is charted for: the one its latency SLO names (a warm-claim SLO is
/// about warm claims, and the cold ones would hide it), else all claims.
pub fn charted_launch(figures: &BenchFigures, phase: Phase) -> Option<LaunchType> {
    figures.slo.iter().find_map(|result| match &result.check {
        SloCheck::Latency(slo) if slo.phase == phase => slo.launch.filter(|launch| {
            figures
                .phases
                .iter()
                .any(|h| h.phase == phase && h.launch == Some(*launch))
        }),
        _ => None,
    })
}

/// The latency SLOs of a run on exactly this phase and launch type: `(label, max_ms)`.
fn slo_bounds(
    figures: &BenchFigures,
    phase: Phase,
    launch: Option<LaunchType>,
) -> Vec<(String, f64)> {
    figures
        .slo
        .iter()
        .filter_map(|result| match &result.check {
            SloCheck::Latency(slo) if slo.phase == phase && slo.launch == launch => Some((
                format!(
                    "SLO {} ≤ {} ms",
                    percentile_label(slo.percentile),
                    slo.max_ms
                ),
                slo.max_ms,
            )),
            _ => None,
        })
        .collect()
}

/// Which knees compare: the same knee scenario, controller and machine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KneeSeries {
    pub scenario: String,
    pub controller: String,
    pub machine: String,
}

impl KneeSeries {
    /// `knee · reference · 2c-24g-linux-6.12.0`.
    pub fn label(&self) -> String {
        format!("{} · {} · {}", self.scenario, self.controller, self.machine)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KneePoint {
    pub run: String,
    pub started_at: String,
    pub knee_100ms: f64,
    pub knee_1s: f64,
}

/// Every knee series with its points in time order.
pub fn knee_series(entries: &[Entry]) -> BTreeMap<KneeSeries, Vec<KneePoint>> {
    let mut series: BTreeMap<KneeSeries, Vec<KneePoint>> = BTreeMap::new();
    for entry in sorted(entries) {
        let Figures::Knee(figures) = &entry.figures else {
            continue;
        };
        for (controller, knee) in &figures.controllers {
            let key = KneeSeries {
                scenario: entry.scenario.clone(),
                controller: controller.clone(),
                machine: entry.machine.clone(),
            };
            series.entry(key).or_default().push(KneePoint {
                run: entry.id.clone(),
                started_at: entry.started_at.clone(),
                knee_100ms: knee.knee_100ms,
                knee_1s: knee.knee_1s,
            });
        }
    }
    series
}

/// Which conformance runs compare: the same controller against the same spec. The outcome of
/// a case does not depend on the machine, so machines share a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConformanceSeries {
    pub controller: String,
    pub spec: String,
}

impl ConformanceSeries {
    /// `conformance · reference · latest`.
    pub fn label(&self) -> String {
        format!("conformance · {} · {}", self.controller, self.spec)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConformancePoint {
    pub run: String,
    pub started_at: String,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// Every conformance series with its points in time order.
pub fn conformance_series(entries: &[Entry]) -> BTreeMap<ConformanceSeries, Vec<ConformancePoint>> {
    let mut series: BTreeMap<ConformanceSeries, Vec<ConformancePoint>> = BTreeMap::new();
    for entry in sorted(entries) {
        let Figures::Conformance(figures) = &entry.figures else {
            continue;
        };
        let key = ConformanceSeries {
            controller: entry.controller_label().to_string(),
            spec: figures.spec.clone(),
        };
        series.entry(key).or_default().push(ConformancePoint {
            run: entry.id.clone(),
            started_at: entry.started_at.clone(),
            passed: figures.passed,
            failed: figures.failed,
            skipped: figures.skipped,
        });
    }
    series
}

/// The entries in time order (ties by id), whatever order they were given in.
fn sorted(entries: &[Entry]) -> Vec<&Entry> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::KneeRunInfo;
    use crate::sample::{sample_bench_run, sample_conformance, sample_knee};

    fn bench(day: u32, controller: &str) -> Entry {
        let started_at = format!("2025-06-{day:02}T12:00:00Z");
        Entry::from_results(
            &sample_bench_run(u64::from(day), &started_at, controller, 1.0).unwrap(),
        )
    }

    #[test]
    fn latency_series_split_by_controller_and_machine_and_follow_the_slo_launch() {
        let mut other_machine = bench(3, "reference 0.1.0");
        other_machine.machine = "8c-32g-linux".into();
        // Given out of order: the series come out in time order.
        let entries = vec![
            bench(2, "reference 0.1.0"),
            bench(1, "reference 0.1.0"),
            bench(1, "upstream v1.0.3"),
            other_machine,
        ];
        let series = latency_series(&entries);
        let ready = |controller: &str, machine: &str| {
            series
                .iter()
                .find(|(key, _)| {
                    key.phase == Phase::ClaimReady
                        && key.controller == controller
                        && key.machine == machine
                })
                .unwrap_or_else(|| panic!("no claim_ready series of {controller} on {machine}"))
        };
        let (key, points) = ready("reference", "2c-24g-linux-6.12.0");
        // The sample's SLO is on warm claims: the chart follows it.
        assert_eq!(key.launch, Some(LaunchType::Warm));
        assert_eq!(key.subject(), "claim_ready (warm)");
        assert_eq!(
            key.label(),
            "default · claim_ready (warm) · reference · 2c-24g-linux-6.12.0"
        );
        let days: Vec<&str> = points.iter().map(|p| &p.started_at[..10]).collect();
        assert_eq!(days, ["2025-06-01", "2025-06-02"]);
        assert_eq!(
            points[0].slo_bounds,
            [("SLO p99 ≤ 100 ms".to_string(), 100.0)]
        );
        assert_eq!(ready("upstream", "2c-24g-linux-6.12.0").1.len(), 1);
        assert_eq!(ready("reference", "8c-32g-linux").1.len(), 1);
        // No SLO names a launch for acked: all claims.
        let acked = series.keys().find(|key| key.phase == Phase::Acked).unwrap();
        assert_eq!(acked.launch, None);
        assert!(acked.gating());
        let lag = series
            .keys()
            .find(|key| key.phase == Phase::HarnessLag)
            .unwrap();
        assert!(!lag.gating());
    }

    #[test]
    fn knee_and_conformance_series_have_a_point_per_run() {
        let info = |day: u32| KneeRunInfo {
            started_at: format!("2025-06-{day:02}T12:00:00Z"),
            ..KneeRunInfo::default()
        };
        let entries = vec![
            Entry::from_knee(&sample_knee(), &info(2)),
            Entry::from_knee(&sample_knee(), &info(1)),
            Entry::from_conformance(&sample_conformance("2025-06-01T12:00:00Z", 0)),
            Entry::from_conformance(&sample_conformance("2025-06-02T12:00:00Z", 1)),
        ];
        let knees = knee_series(&entries);
        assert_eq!(knees.len(), 3, "one series per controller");
        let reference = knees
            .iter()
            .find(|(key, _)| key.controller == "reference")
            .unwrap();
        assert_eq!(reference.0.label(), "knee · reference · unknown");
        assert_eq!(reference.1.len(), 2);
        assert!(reference.1[0].started_at < reference.1[1].started_at);
        let conformance = conformance_series(&entries);
        let (key, points) = conformance.iter().next().unwrap();
        assert_eq!(key.label(), "conformance · reference · latest");
        assert_eq!(points.iter().map(|p| p.failed).collect::<Vec<_>>(), [0, 1]);
    }
}
