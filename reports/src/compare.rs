//! Two runs side by side: per-phase ratios of p50 and p99 and a regression verdict with a
//! noise margin, so CI can fail a change that makes claims slower.

use serde::{Deserialize, Serialize};

use crate::record::{LaunchType, Phase};
use crate::results::Results;
use crate::summary::{LatencyDistribution, PhaseSummary};

/// Ratios are taken with both sides floored at the histograms' 1 µs resolution, so a zero
/// latency does not divide by zero.
const RESOLUTION_MS: f64 = 0.001;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `scenario @ started_at` of the first run (the baseline).
    pub baseline: String,
    /// The same for the second run (the candidate).
    pub candidate: String,
    /// A percentile regresses when candidate / baseline > 1 + noise.
    pub noise: f64,
    pub rows: Vec<PhaseComparison>,
    /// Differences in setup that make the ratios less trustworthy (node count, versions …).
    pub environment_differences: Vec<String>,
    pub verdict: ComparisonVerdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseComparison {
    pub phase: Phase,
    /// One launch type, or all claims when absent.
    pub launch: Option<LaunchType>,
    pub baseline: Option<ComparedPercentiles>,
    pub candidate: Option<ComparedPercentiles>,
    /// candidate / baseline; absent unless both runs have samples.
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    /// Whether this row can fail the comparison. Harness lag describes the harness, not the
    /// system under test, so it is shown but does not gate.
    pub gating: bool,
    pub regressed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComparedPercentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonVerdict {
    NoRegression,
    Regression,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.verdict == ComparisonVerdict::Regression
    }
}

fn percentiles(distribution: &LatencyDistribution) -> ComparedPercentiles {
    ComparedPercentiles {
        count: distribution.count,
        p50_ms: distribution.p50_ms,
        p99_ms: distribution.p99_ms,
    }
}

fn ratio(baseline: f64, candidate: f64) -> f64 {
    candidate.max(RESOLUTION_MS) / baseline.max(RESOLUTION_MS)
}

fn lookup(
    summary: Option<&PhaseSummary>,
    launch: Option<LaunchType>,
) -> Option<ComparedPercentiles> {
    let summary = summary?;
    match launch {
        None => Some(percentiles(&summary.overall)),
        Some(launch) => summary.by_launch.get(&launch).map(percentiles),
    }
}

/// Compares `candidate` against `baseline`. `noise` is the tolerated relative slowdown
/// (0.1 = 10 %); a negative or NaN margin is taken as 0. A phase the baseline measured and the
/// candidate did not counts as a regression: a run that stopped reaching a phase is not faster.
pub fn compare(baseline: &Results, candidate: &Results, noise: f64) -> Comparison {
    let noise = noise.max(0.0);
    let limit = 1.0 + noise;
    let mut rows = Vec::new();
    for phase in Phase::ALL {
        let (a, b) = (baseline.phase(phase), candidate.phase(phase));
        if a.is_none() && b.is_none() {
            continue;
        }
        // Per-launch rows only add information when some run mixes launch types.
        let mixed = [a, b]
            .into_iter()
            .flatten()
            .any(|summary| summary.by_launch.len() > 1);
        let launches =
            std::iter::once(None).chain(LaunchType::ALL.into_iter().filter(|_| mixed).map(Some));
        for launch in launches {
            let (base, cand) = (lookup(a, launch), lookup(b, launch));
            if base.is_none() && cand.is_none() {
                continue;
            }
            let (p50_ratio, p99_ratio) = match (base, cand) {
                (Some(x), Some(y)) => (
                    Some(ratio(x.p50_ms, y.p50_ms)),
                    Some(ratio(x.p99_ms, y.p99_ms)),
                ),
                _ => (None, None),
            };
            let gating = phase != Phase::HarnessLag;
            let slower = [p50_ratio, p99_ratio]
                .into_iter()
                .flatten()
                .any(|r| r > limit);
            let lost = base.is_some() && cand.is_none();
            rows.push(PhaseComparison {
                phase,
                launch,
                baseline: base,
                candidate: cand,
                p50_ratio,
                p99_ratio,
                gating,
                regressed: gating && (slower || lost),
            });
        }
    }
    let verdict = if rows.iter().any(|row| row.regressed) {
        ComparisonVerdict::Regression
    } else {
        ComparisonVerdict::NoRegression
    };
    Comparison {
        baseline: label(baseline),
        candidate: label(candidate),
        noise,
        rows,
        environment_differences: environment_differences(baseline, candidate),
        verdict,
    }
}

fn label(results: &Results) -> String {
    format!("{} @ {}", results.meta.scenario, results.meta.started_at)
}

fn environment_differences(a: &Results, b: &Results) -> Vec<String> {
    let (x, y) = (&a.meta.environment, &b.meta.environment);
    let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "—".to_owned());
    let mut differences = Vec::new();
    let versions = [
        ("Kubernetes", &x.kubernetes, &y.kubernetes),
        ("etcd", &x.etcd, &y.etcd),
        ("kwok", &x.kwok, &y.kwok),
        ("controller", &x.controller, &y.controller),
    ];
    for (name, left, right) in versions {
        if left != right {
            differences.push(format!("{name}: {} vs {}", show(left), show(right)));
        }
    }
    if x.nodes != y.nodes {
        differences.push(format!("nodes: {} vs {}", x.nodes, y.nodes));
    }
    if x.machine != y.machine {
        differences.push(format!(
            "machine: {} cores {} vs {} cores {}",
            x.machine.cores, x.machine.kernel, y.machine.cores, y.machine.kernel
        ));
    }
    if a.meta.intended_rate_per_s != b.meta.intended_rate_per_s {
        differences.push(format!(
            "intended rate: {:?} vs {:?} claims/s",
            a.meta.intended_rate_per_s, b.meta.intended_rate_per_s
        ));
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::sample::{sample_meta, sample_slos};
    use crate::slo::SloSpec;

    /// 200 warm claims Ready after `ready_ms`, acked after 1 ms, with `lag_us` harness lag.
    fn run(ready_ms: u64, lag_us: u64) -> Results {
        let records: Vec<Record> = (0..200u64)
            .map(|i| {
                let intended = i * 10_000;
                let mut record = Record::new(format!("c-{i}"), "pool", LaunchType::Warm, intended);
                record.sent_us = Some(intended + lag_us);
                record.acked_us = Some(intended + 1_000);
                record.claim_ready_us = Some(intended + ready_ms * 1_000);
                record
            })
            .collect();
        Results::from_records(sample_meta(), &records, &SloSpec::default()).unwrap()
    }

    fn row(comparison: &Comparison, phase: Phase) -> &PhaseComparison {
        comparison
            .rows
            .iter()
            .find(|row| row.phase == phase && row.launch.is_none())
            .unwrap()
    }

    #[test]
    fn identical_runs_do_not_regress() {
        let a = run(50, 10);
        let comparison = compare(&a, &a, 0.0);
        assert_eq!(comparison.verdict, ComparisonVerdict::NoRegression);
        assert_eq!(row(&comparison, Phase::ClaimReady).p99_ratio, Some(1.0));
        assert!(comparison.environment_differences.is_empty());
    }

    #[test]
    fn slower_beyond_noise_regresses() {
        let comparison = compare(&run(50, 10), &run(60, 10), 0.1);
        assert_eq!(comparison.verdict, ComparisonVerdict::Regression);
        let ready = row(&comparison, Phase::ClaimReady);
        assert!(ready.regressed);
        assert!((ready.p50_ratio.unwrap() - 1.2).abs() < 0.01);
        assert!(!row(&comparison, Phase::Acked).regressed);
    }

    #[test]
    fn slower_within_noise_passes() {
        let comparison = compare(&run(50, 10), &run(54, 10), 0.1);
        assert_eq!(comparison.verdict, ComparisonVerdict::NoRegression);
    }

    #[test]
    fn faster_passes() {
        let comparison = compare(&run(60, 10), &run(30, 10), 0.0);
        assert_eq!(comparison.verdict, ComparisonVerdict::NoRegression);
        assert!(row(&comparison, Phase::ClaimReady).p99_ratio.unwrap() < 0.51);
    }

    #[test]
    fn harness_lag_is_shown_but_does_not_gate() {
        let comparison = compare(&run(50, 10), &run(50, 1_000), 0.1);
        let lag = row(&comparison, Phase::HarnessLag);
        assert!(lag.p50_ratio.unwrap() > 50.0);
        assert!(!lag.gating && !lag.regressed);
        assert_eq!(comparison.verdict, ComparisonVerdict::NoRegression);
    }

    #[test]
    fn a_phase_the_candidate_lost_regresses() {
        let baseline = run(50, 10);
        let mut candidate = baseline.clone();
        candidate.phases.retain(|p| p.phase != Phase::ClaimReady);
        let comparison = compare(&baseline, &candidate, 0.5);
        assert!(row(&comparison, Phase::ClaimReady).regressed);
        assert!(comparison.regressed());
        // The other way round is new information, not a regression.
        assert!(!compare(&candidate, &baseline, 0.5).regressed());
    }

    #[test]
    fn mixed_launch_types_get_their_own_rows() {
        let a = crate::sample::sample_results().unwrap();
        let mut b = Results::from_records(
            sample_meta(),
            &crate::sample::sample_records(),
            &sample_slos(),
        )
        .unwrap();
        b.meta.environment.nodes = 100;
        let comparison = compare(&a, &b, 0.0);
        assert!(
            comparison
                .rows
                .iter()
                .any(|row| row.phase == Phase::ClaimReady && row.launch == Some(LaunchType::Cold))
        );
        assert_eq!(comparison.environment_differences, ["nodes: 10 vs 100"]);
        assert!(!comparison.regressed());
    }
}
