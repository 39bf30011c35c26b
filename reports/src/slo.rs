//! Service-level objectives and their verdicts. A check passes, breaches (with the measured
//! value), or has too few samples to say, which fails too: a gate that passes on no data
//! would let a broken run through CI.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::analysis::LatencyRecorder;
use crate::error::ReportError;
use crate::quantiles::{us_to_ms, value_at_quantile_us};
use crate::record::{LaunchType, Phase};
use crate::summary::ErrorSummary;

/// "`phase` at `percentile` must be at most `max_ms`", optionally for one launch type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub phase: Phase,
    /// In percent, `(0, 100]`: 99.9 means p99.9, 100 the maximum.
    pub percentile: f64,
    pub max_ms: f64,
    /// Fewer samples than this make the verdict "insufficient samples". When absent, the
    /// fewest samples that resolve the percentile at all: 100 for p99, 1000 for p99.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    /// Only claims of this launch type; all claims when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchType>,
}

impl Slo {
    pub fn new(phase: Phase, percentile: f64, max_ms: f64) -> Self {
        Slo {
            phase,
            percentile,
            max_ms,
            min_samples: None,
            launch: None,
        }
    }

    pub fn required_samples(&self) -> u64 {
        self.min_samples.unwrap_or_else(|| {
            if self.percentile >= 100.0 {
                1
            } else {
                // The epsilon absorbs float error: 100 / (100 - 99.9) is 1000.00000000006.
                (100.0 / (100.0 - self.percentile) - 1e-6).ceil().max(1.0) as u64
            }
        })
    }

    pub fn validate(&self) -> Result<(), ReportError> {
        let invalid = |reason: &str| ReportError::InvalidSlo {
            slo: self.to_string(),
            reason: reason.to_owned(),
        };
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(invalid("percentile must be in (0, 100]"));
        }
        if !(self.max_ms.is_finite() && self.max_ms > 0.0) {
            return Err(invalid("max_ms must be a positive number"));
        }
        Ok(())
    }
}

/// Renders `claim_ready p99 (warm) ≤ 100 ms`.
impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.phase, percentile_label(self.percentile))?;
        if let Some(launch) = self.launch {
            write!(f, " ({launch})")?;
        }
        write!(f, " ≤ {} ms", self.max_ms)
    }
}

/// `p50`, `p99.9`, `max`.
pub fn percentile_label(percentile: f64) -> String {
    if percentile >= 100.0 {
        "max".to_owned()
    } else {
        format!("p{percentile}")
    }
}

/// At most this fraction of claims may fail (carry an error).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBudget {
    pub max_error_ratio: f64,
}

impl ErrorBudget {
    pub fn validate(&self) -> Result<(), ReportError> {
        if (0.0..=1.0).contains(&self.max_error_ratio) {
            Ok(())
        } else {
            Err(ReportError::InvalidSlo {
                slo: self.to_string(),
                reason: "max_error_ratio must be in [0, 1]".to_owned(),
            })
        }
    }
}

impl fmt::Display for ErrorBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error ratio ≤ {}", self.max_error_ratio)
    }
}

/// The SLOs of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    #[serde(default)]
    pub latency: Vec<Slo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<ErrorBudget>,
}

impl SloSpec {
    pub fn validate(&self) -> Result<(), ReportError> {
        for slo in &self.latency {
            slo.validate()?;
        }
        if let Some(budget) = &self.error_budget {
            budget.validate()?;
        }
        Ok(())
    }
}

/// What one check was about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SloCheck {
    Latency(Slo),
    ErrorBudget(ErrorBudget),
}

impl fmt::Display for SloCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SloCheck::Latency(slo) => slo.fmt(f),
            SloCheck::ErrorBudget(budget) => budget.fmt(f),
        }
    }
}

/// How one check came out. `measured` is in milliseconds for latency checks and a ratio for
/// the error budget; `samples` counts latencies or claims respectively.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SloOutcome {
    Pass { measured: f64, samples: u64 },
    Breach { measured: f64, samples: u64 },
    InsufficientSamples { samples: u64, required: u64 },
}

impl SloOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, SloOutcome::Pass { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloVerdict {
    pub check: SloCheck,
    pub outcome: SloOutcome,
}

impl SloVerdict {
    /// One line a person can act on: the measured value against the bound, or what is missing.
    pub fn reason(&self) -> String {
        let measured = |value: f64| match self.check {
            SloCheck::Latency(_) => format!("{value} ms"),
            SloCheck::ErrorBudget(_) => format!("{value:.4}"),
        };
        let bound = match &self.check {
            SloCheck::Latency(slo) => format!("{} ms", slo.max_ms),
            SloCheck::ErrorBudget(budget) => format!("{}", budget.max_error_ratio),
        };
        let unit = match self.check {
            SloCheck::Latency(_) => "samples",
            SloCheck::ErrorBudget(_) => "claims",
        };
        match self.outcome {
            SloOutcome::Pass {
                measured: m,
                samples,
            } => {
                format!("{} ≤ {bound} ({samples} {unit})", measured(m))
            }
            SloOutcome::Breach {
                measured: m,
                samples,
            } => {
                format!("{} > {bound} ({samples} {unit})", measured(m))
            }
            SloOutcome::InsufficientSamples { samples, required } => {
                format!("insufficient samples: {samples} {unit}, {required} required")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

/// Every check's verdict and the overall one: pass only if every check passed. A run with no
/// SLOs declared passes; the report says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloReport {
    pub verdict: Verdict,
    pub checks: Vec<SloVerdict>,
}

impl SloReport {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// Checks `spec` against the run's histograms (any percentile, not only the summarised ones)
/// and error counts. An invalid SLO is an error, not a failed check: it is bad input.
pub fn evaluate(
    spec: &SloSpec,
    latencies: &LatencyRecorder,
    errors: &ErrorSummary,
) -> Result<SloReport, ReportError> {
    spec.validate()?;
    let mut checks = Vec::with_capacity(spec.latency.len() + 1);
    for slo in &spec.latency {
        let histogram = latencies.histogram(slo.phase, slo.launch)?;
        let samples = histogram.len();
        let required = slo.required_samples();
        let outcome = if samples < required || samples == 0 {
            SloOutcome::InsufficientSamples {
                samples,
                required: required.max(1),
            }
        } else {
            let measured = us_to_ms(value_at_quantile_us(&histogram, slo.percentile / 100.0));
            if measured <= slo.max_ms {
                SloOutcome::Pass { measured, samples }
            } else {
                SloOutcome::Breach { measured, samples }
            }
        };
        checks.push(SloVerdict {
            check: SloCheck::Latency(slo.clone()),
            outcome,
        });
    }
    if let Some(budget) = spec.error_budget {
        let outcome = if errors.claims == 0 {
            SloOutcome::InsufficientSamples {
                samples: 0,
                required: 1,
            }
        } else {
            let measured = errors.failed as f64 / errors.claims as f64;
            if measured <= budget.max_error_ratio {
                SloOutcome::Pass {
                    measured,
                    samples: errors.claims,
                }
            } else {
                SloOutcome::Breach {
                    measured,
                    samples: errors.claims,
                }
            }
        };
        checks.push(SloVerdict {
            check: SloCheck::ErrorBudget(budget),
            outcome,
        });
    }
    let verdict = if checks.iter().all(|check| check.outcome.passed()) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Ok(SloReport { verdict, checks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analysis;
    use crate::record::Record;

    /// `count` warm claims Ready after 1..=count ms, and `failed` of them with an error.
    fn analysis(count: u64, failed: u64) -> Analysis {
        let records: Vec<Record> = (1..=count)
            .map(|i| {
                let mut record = Record::new(format!("c-{i}"), "pool", LaunchType::Warm, 0);
                record.sent_us = Some(0);
                record.claim_ready_us = Some(i * 1_000);
                if i <= failed {
                    record.error = Some("timeout".into());
                }
                record
            })
            .collect();
        Analysis::from_records(&records).unwrap()
    }

    fn check(spec: &SloSpec, analysis: &Analysis) -> SloReport {
        evaluate(spec, &analysis.latencies, &analysis.errors).unwrap()
    }

    fn latency(slos: Vec<Slo>) -> SloSpec {
        SloSpec {
            latency: slos,
            error_budget: None,
        }
    }

    #[test]
    fn pass_reports_the_measured_value() {
        let report = check(
            &latency(vec![Slo::new(Phase::ClaimReady, 99.0, 100.0)]),
            &analysis(100, 0),
        );
        assert_eq!(report.verdict, Verdict::Pass);
        assert_eq!(
            report.checks[0].outcome,
            SloOutcome::Pass {
                // HDR reports the upper end of the 64 µs bucket holding 99 ms: percentiles
                // may overstate by the histogram's resolution, never understate.
                measured: 99.007,
                samples: 100
            }
        );
        assert_eq!(
            report.checks[0].reason(),
            "99.007 ms ≤ 100 ms (100 samples)"
        );
    }

    #[test]
    fn breach_reports_the_measured_value() {
        let report = check(
            &latency(vec![
                Slo::new(Phase::ClaimReady, 50.0, 100.0),
                Slo::new(Phase::ClaimReady, 99.0, 50.0),
            ]),
            &analysis(100, 0),
        );
        assert_eq!(report.verdict, Verdict::Fail);
        assert!(report.checks[0].outcome.passed());
        assert_eq!(
            report.checks[1].outcome,
            SloOutcome::Breach {
                measured: 99.007,
                samples: 100
            }
        );
        assert_eq!(report.checks[1].reason(), "99.007 ms > 50 ms (100 samples)");
    }

    #[test]
    fn slo_and_summary_agree_on_the_same_percentile() {
        let a = analysis(3_000, 0);
        let report = check(
            &latency(vec![Slo::new(Phase::ClaimReady, 99.9, 10_000.0)]),
            &a,
        );
        let summaries = a.latencies.summarize().unwrap();
        let ready = summaries
            .iter()
            .find(|s| s.phase == Phase::ClaimReady)
            .unwrap();
        assert!(matches!(
            report.checks[0].outcome,
            SloOutcome::Pass { measured, .. } if measured == ready.overall.p999_ms
        ));
    }

    #[test]
    fn too_few_samples_fail_with_a_reason() {
        let report = check(
            &latency(vec![Slo::new(Phase::ClaimReady, 99.9, 1_000.0)]),
            &analysis(999, 0),
        );
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(
            report.checks[0].outcome,
            SloOutcome::InsufficientSamples {
                samples: 999,
                required: 1_000
            }
        );
        assert_eq!(
            report.checks[0].reason(),
            "insufficient samples: 999 samples, 1000 required"
        );
    }

    #[test]
    fn a_phase_nobody_reached_is_insufficient_even_with_min_samples_zero() {
        let mut slo = Slo::new(Phase::Bound, 50.0, 10.0);
        slo.min_samples = Some(0);
        let report = check(&latency(vec![slo]), &analysis(10, 0));
        assert_eq!(
            report.checks[0].outcome,
            SloOutcome::InsufficientSamples {
                samples: 0,
                required: 1
            }
        );
    }

    #[test]
    fn launch_filter_selects_samples() {
        let mut slo = Slo::new(Phase::ClaimReady, 50.0, 10.0);
        slo.launch = Some(LaunchType::Cold);
        let report = check(&latency(vec![slo]), &analysis(100, 0));
        assert!(matches!(
            report.checks[0].outcome,
            SloOutcome::InsufficientSamples { samples: 0, .. }
        ));
        assert_eq!(
            report.checks[0].check.to_string(),
            "claim_ready p50 (cold) ≤ 10 ms"
        );
    }

    #[test]
    fn explicit_min_samples_overrides_the_default() {
        let mut slo = Slo::new(Phase::ClaimReady, 99.0, 1_000.0);
        assert_eq!(slo.required_samples(), 100);
        slo.min_samples = Some(10);
        let report = check(&latency(vec![slo]), &analysis(10, 0));
        assert_eq!(report.verdict, Verdict::Pass);
        assert_eq!(Slo::new(Phase::Acked, 50.0, 1.0).required_samples(), 2);
        assert_eq!(Slo::new(Phase::Acked, 100.0, 1.0).required_samples(), 1);
    }

    #[test]
    fn error_budget_branches() {
        let budget = |max_error_ratio| SloSpec {
            latency: Vec::new(),
            error_budget: Some(ErrorBudget { max_error_ratio }),
        };
        let within = check(&budget(0.05), &analysis(100, 5));
        assert_eq!(within.verdict, Verdict::Pass);
        assert_eq!(within.checks[0].reason(), "0.0500 ≤ 0.05 (100 claims)");
        let over = check(&budget(0.01), &analysis(100, 5));
        assert_eq!(over.verdict, Verdict::Fail);
        assert_eq!(
            over.checks[0].outcome,
            SloOutcome::Breach {
                measured: 0.05,
                samples: 100
            }
        );
        let empty = check(&budget(0.01), &analysis(0, 0));
        assert_eq!(empty.verdict, Verdict::Fail);
        assert!(empty.checks[0].reason().starts_with("insufficient samples"));
    }

    #[test]
    fn no_slos_pass() {
        let report = check(&SloSpec::default(), &analysis(3, 0));
        assert!(report.passed());
        assert!(report.checks.is_empty());
    }

    #[test]
    fn invalid_slos_are_bad_input() {
        let a = analysis(3, 0);
        for spec in [
            latency(vec![Slo::new(Phase::Acked, 0.0, 1.0)]),
            latency(vec![Slo::new(Phase::Acked, 100.5, 1.0)]),
            latency(vec![Slo::new(Phase::Acked, 99.0, -1.0)]),
            latency(vec![Slo::new(Phase::Acked, 99.0, f64::NAN)]),
            SloSpec {
                latency: Vec::new(),
                error_budget: Some(ErrorBudget {
                    max_error_ratio: 1.5,
                }),
            },
        ] {
            assert!(matches!(
                evaluate(&spec, &a.latencies, &a.errors),
                Err(ReportError::InvalidSlo { .. })
            ));
        }
    }

    #[test]
    fn verdicts_serialise_with_kind_and_status() {
        let report = check(
            &SloSpec {
                latency: vec![Slo::new(Phase::ClaimReady, 99.0, 100.0)],
                error_budget: Some(ErrorBudget {
                    max_error_ratio: 0.0,
                }),
            },
            &analysis(100, 0),
        );
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains(r#""kind":"latency","phase":"claim_ready","percentile":99.0"#));
        assert!(json.contains(r#""status":"pass""#));
        let back: SloReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
