//! A stepped load, step by step: each step's claims (by intended send time) with their
//! acknowledgement, binding and Ready percentiles, and the knee: the highest rate up to which
//! every step kept its warm claims within a bound. A warm-up before the first step (the first
//! claims of a run meet cold connections and lazily built server state) is summarised apart
//! and never counts towards a knee.

use serde::{Deserialize, Serialize};

use crate::{LatencyRecorder, LaunchType, Phase, Record, ReportError};

/// One step of the load: `rate_per_s` claims per second, intended from `from_us` to `to_us`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub rate_per_s: f64,
    pub from_us: u64,
    pub to_us: u64,
}

/// Percentiles of one phase within one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPhase {
    pub phase: Phase,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

/// What one step's claims saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub rate_per_s: f64,
    pub from_ms: u64,
    pub to_ms: u64,
    pub claims: u64,
    /// Claims of the step never Ready.
    pub not_ready: u64,
    /// Acked, bound and claim Ready of the step's warm claims (all claims when none is warm).
    pub phases: Vec<StepPhase>,
    /// CPU seconds per claim of the step, by process, spent during the step's window (filled
    /// in by the harness, which reads the processes at each step's end).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cpu_seconds_per_claim: std::collections::BTreeMap<String, f64>,
    /// API writes (POST, PUT, PATCH, DELETE, by every client) per claim during the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_per_claim: Option<f64>,
    /// The same writes by `VERB resource[/subresource]`, every response code together.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub writes_by_request: std::collections::BTreeMap<String, f64>,
}

impl StepSummary {
    pub fn phase(&self, phase: Phase) -> Option<&StepPhase> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// Every claim Ready, with claim Ready p99 within `bound_ms` (`inclusive`: `≤`, else `<`).
    fn within(&self, bound_ms: f64, inclusive: bool) -> bool {
        self.not_ready == 0
            && self.phase(Phase::ClaimReady).is_some_and(|p| {
                if inclusive {
                    p.p99_ms <= bound_ms
                } else {
                    p.p99_ms < bound_ms
                }
            })
    }
}

/// The steps of a run and its knees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepsReport {
    /// The claims sent before the first step to warm the path up, when the load has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<StepSummary>,
    pub steps: Vec<StepSummary>,
    /// The highest rate up to which every step had claim Ready p99 ≤ 100 ms and every claim
    /// Ready; 0 if the first step missed.
    pub knee_100ms: f64,
    /// The same with p99 < 1 s.
    pub knee_1s: f64,
}

/// The phases a step reports.
const PHASES: [Phase; 3] = [Phase::Acked, Phase::Bound, Phase::ClaimReady];

/// Summarises `records` over `steps`, and apart from them over the `warm_up` before.
pub fn per_step(
    records: &[Record],
    warm_up: Option<&Step>,
    steps: &[Step],
) -> Result<StepsReport, ReportError> {
    // A step without claims was never run (the load stopped before it).
    let summaries: Vec<StepSummary> = steps
        .iter()
        .map(|step| summarize(records, step))
        .filter(|s| s.as_ref().map_or(true, |s| s.claims > 0))
        .collect::<Result<_, _>>()?;
    let knee = |bound_ms: f64, inclusive: bool| {
        summaries
            .iter()
            .take_while(|s| s.within(bound_ms, inclusive))
            .map(|s| s.rate_per_s)
            .fold(0.0, f64::max)
    };
    Ok(StepsReport {
        warm_up: warm_up.map(|w| summarize(records, w)).transpose()?,
        knee_100ms: knee(100.0, true),
        knee_1s: knee(1000.0, false),
        steps: summaries,
    })
}

fn summarize(records: &[Record], step: &Step) -> Result<StepSummary, ReportError> {
    let in_step: Vec<&Record> = records
        .iter()
        .filter(|r| (step.from_us..step.to_us).contains(&r.intended_us))
        .collect();
    let mut recorder = LatencyRecorder::new()?;
    for record in &in_step {
        recorder.ingest(record);
    }
    let warm = in_step.iter().any(|r| r.launch == LaunchType::Warm);
    let mut phases = Vec::new();
    for phase in PHASES {
        let histogram = recorder.histogram(phase, warm.then_some(LaunchType::Warm))?;
        if histogram.is_empty() {
            continue;
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        phases.push(StepPhase {
            phase,
            count: histogram.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
        });
    }
    Ok(StepSummary {
        rate_per_s: step.rate_per_s,
        from_ms: step.from_us / 1000,
        to_ms: step.to_us / 1000,
        claims: in_step.len() as u64,
        not_ready: in_step
            .iter()
            .filter(|r| r.claim_ready_us.is_none())
            .count() as u64,
        phases,
        cpu_seconds_per_claim: Default::default(),
        writes_per_claim: None,
        writes_by_request: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A warm claim intended at `at_ms`, Ready `ready_ms` later (or never).
    fn claim(at_ms: u64, ready_ms: Option<u64>) -> Record {
        let at = at_ms * 1000;
        let mut r = Record::new("c", "warm", LaunchType::Warm, at);
        r.sent_us = Some(at);
        r.acked_us = Some(at + 1000);
        if let Some(ms) = ready_ms {
            r.bound_us = Some(at + ms * 1000);
            r.claim_ready_us = Some(at + ms * 1000);
        }
        r
    }

    fn steps() -> Vec<Step> {
        [
            (5.0, 0, 10_000),
            (10.0, 10_000, 20_000),
            (20.0, 20_000, 30_000),
        ]
        .map(|(rate_per_s, from, to)| Step {
            rate_per_s,
            from_us: from * 1000,
            to_us: to * 1000,
        })
        .to_vec()
    }

    #[test]
    fn each_claim_counts_in_the_step_it_was_meant_for_and_the_knees_follow() {
        let mut records = Vec::new();
        records.extend((0..100).map(|i| claim(i * 100, Some(50))));
        records.extend((0..100).map(|i| claim(10_000 + i * 100, Some(500))));
        records.extend((0..100).map(|i| claim(20_000 + i * 100, Some(3_000))));
        let report = per_step(&records, None, &steps()).unwrap();
        let counts: Vec<u64> = report.steps.iter().map(|s| s.claims).collect();
        assert_eq!(counts, [100, 100, 100]);
        let p99 = |i: usize| report.steps[i].phase(Phase::ClaimReady).unwrap().p99_ms;
        assert!((49.9..50.1).contains(&p99(0)), "{}", p99(0));
        assert!((499.0..501.0).contains(&p99(1)), "{}", p99(1));
        assert_eq!((report.knee_100ms, report.knee_1s), (5.0, 10.0));
    }

    #[test]
    fn a_claim_never_ready_fails_its_step_and_a_later_good_step_does_not_count() {
        let mut records = Vec::new();
        records.extend((0..100).map(|i| claim(i * 100, Some(20))));
        records.push(claim(10_500, None));
        records.extend((0..100).map(|i| claim(10_000 + i * 100, Some(20))));
        records.extend((0..100).map(|i| claim(20_000 + i * 100, Some(20))));
        let report = per_step(&records, None, &steps()).unwrap();
        assert_eq!(report.steps[1].not_ready, 1);
        assert_eq!((report.knee_100ms, report.knee_1s), (5.0, 5.0));
        let none = per_step(&[claim(0, Some(5_000))], None, &steps()).unwrap();
        assert_eq!((none.knee_100ms, none.knee_1s), (0.0, 0.0));
    }

    #[test]
    fn the_warm_up_is_summarised_apart_and_its_slow_claims_cost_no_knee() {
        let warm_up = Step {
            rate_per_s: 5.0,
            from_us: 0,
            to_us: 2_000_000,
        };
        let steps: Vec<Step> = steps()
            .into_iter()
            .map(|s| Step {
                from_us: s.from_us + warm_up.to_us,
                to_us: s.to_us + warm_up.to_us,
                ..s
            })
            .collect();
        let mut records: Vec<Record> = (0..10).map(|i| claim(i * 200, Some(800))).collect();
        for (step, ready_ms) in steps.iter().zip([20, 50, 3_000]) {
            let from_ms = step.from_us / 1000;
            records.extend((0..100).map(|i| claim(from_ms + i * 100, Some(ready_ms))));
        }
        let report = per_step(&records, Some(&warm_up), &steps).unwrap();
        let warm = report.warm_up.as_ref().expect("the warm-up's summary");
        assert_eq!((warm.rate_per_s, warm.claims), (5.0, 10));
        assert!(warm.phase(Phase::ClaimReady).unwrap().p99_ms > 700.0);
        let counts: Vec<u64> = report.steps.iter().map(|s| s.claims).collect();
        assert_eq!(counts, [100, 100, 100]);
        assert_eq!((report.knee_100ms, report.knee_1s), (10.0, 10.0));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["warm_up"]["claims"], 10);
        let without = per_step(&records[10..], None, &steps).unwrap();
        assert!(
            serde_json::to_value(&without)
                .unwrap()
                .get("warm_up")
                .is_none(),
            "no warm-up, no key: earlier readers see the report they knew"
        );
    }
}
