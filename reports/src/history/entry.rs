//! One run in the history: the figures the site charts and gates on, taken from a bench run's
//! `results.json`, a knee run's `knee.json` or a conformance run's `conformance.json`. An entry
//! keeps headline numbers only (a few hundred bytes), so `history.json` stays small after
//! thousands of runs; each run's full report is linked from the site, not copied into it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::conformance::{CaseOutcome, ConformanceSummary};
use crate::knee::KneeReport;
use crate::record::{LaunchType, Phase};
use crate::results::{Machine, Results};
use crate::slo::{SloCheck, SloOutcome, Verdict};

/// One published run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable across re-publishing: `<start, compact UTC>-<kind>-<scenario>[-<controller>]`
    /// (see [`run_id`]); also the run's directory under the site's `runs/`.
    pub id: String,
    pub scenario: String,
    /// The controller's name (`reference`, `upstream`, …); absent for a knee run, which
    /// covers several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// Its version as the run recorded it (`reference 0.1.0`, `upstream v1.0.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_version: Option<String>,
    /// The commit of sandbox-bench (or of the project publishing) the run measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// RFC 3339, as the run recorded it; the history is ordered by it.
    pub started_at: String,
    /// [`machine_fingerprint`]: runs on different machines are different series.
    pub machine: String,
    /// The run's own page, relative to the site (`runs/<id>/report.html`), when it was copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub figures: Figures,
}

/// What kind of run, with its headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Figures {
    Bench(BenchFigures),
    Knee(KneeFigures),
    Conformance(ConformanceFigures),
}

/// A bench run: its percentiles per phase and launch type, and its SLO verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchFigures {
    pub claims: u64,
    pub failed: u64,
    /// Every phase with samples: all claims (no `launch`), then each launch type.
    pub phases: Vec<Headline>,
    /// Whether every SLO held; absent when the scenario declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloResult>,
}

/// The percentiles of one phase, for all claims or one launch type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub phase: Phase,
    /// One launch type; all claims when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchType>,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// One SLO check and how it came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub check: SloCheck,
    pub passed: bool,
    /// ms for a latency check, a ratio for the error budget; absent with too few samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
}

/// A knee run: each controller's knees and its p99-against-rate curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KneeFigures {
    pub controllers: BTreeMap<String, ControllerKneeFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerKneeFigures {
    pub knee_100ms: f64,
    pub knee_1s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub writes_per_claim: f64,
    /// `[rate per s, claim Ready p99 ms]` of each step, for the latest knee curves.
    pub curve: Vec<[f64; 2]>,
}

/// A conformance run's counts and which cases failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformanceFigures {
    /// `latest` or a release such as `v1.0.3`.
    pub spec: String,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_cases: Vec<String>,
    /// Problems outside any one case; any fails the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The kind of a run, as its id and the site name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunKind {
    Bench,
    Knee,
    Conformance,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Bench => "bench",
            RunKind::Knee => "knee",
            RunKind::Conformance => "conformance",
        }
    }

    /// The run's own page, as the run directory holds it (conformance.html is rendered at
    /// publish time from conformance.json).
    pub fn report_file(self) -> &'static str {
        match self {
            RunKind::Bench => "report.html",
            RunKind::Knee => "knee.html",
            RunKind::Conformance => "conformance.html",
        }
    }
}

/// What a knee run's `knee.json` does not say itself, read from its controllers' own runs
/// (the `results.json` in each controller's directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KneeRunInfo {
    /// The earliest start of the controllers' runs.
    pub started_at: String,
    pub machine: Option<Machine>,
    pub commit: Option<String>,
    /// Controller name → version string.
    pub versions: BTreeMap<String, String>,
}

impl KneeRunInfo {
    /// From the controllers' runs, by controller name; `None` when there is none to read.
    pub fn from_runs<'a>(
        runs: impl IntoIterator<Item = (&'a String, &'a Results)>,
    ) -> Option<Self> {
        let mut info: Option<KneeRunInfo> = None;
        for (name, results) in runs {
            let meta = &results.meta;
            let info = info.get_or_insert_with(|| KneeRunInfo {
                started_at: meta.started_at.clone(),
                machine: Some(meta.environment.machine.clone()),
                commit: meta.environment.commit.clone(),
                versions: BTreeMap::new(),
            });
            if meta.started_at < info.started_at {
                info.started_at = meta.started_at.clone();
            }
            info.commit = info.commit.take().or(meta.environment.commit.clone());
            if let Some(version) = &meta.environment.controller {
                info.versions.insert(name.clone(), version.clone());
            }
        }
        info
    }
}

impl Entry {
    /// A bench run.
    pub fn from_results(results: &Results) -> Entry {
        let meta = &results.meta;
        let environment = &meta.environment;
        let controller = environment
            .controller
            .as_deref()
            .map(controller_name)
            .unwrap_or_else(|| "unknown".into());
        let mut phases = Vec::new();
        for summary in &results.phases {
            let rows = std::iter::once((None, &summary.overall)).chain(
                summary
                    .by_launch
                    .iter()
                    .map(|(launch, distribution)| (Some(*launch), distribution)),
            );
            for (launch, d) in rows {
                phases.push(Headline {
                    phase: summary.phase,
                    launch,
                    count: d.count,
                    p50_ms: d.p50_ms,
                    p90_ms: d.p90_ms,
                    p99_ms: d.p99_ms,
                    p999_ms: d.p999_ms,
                });
            }
        }
        let slo = results
            .slo
            .checks
            .iter()
            .map(|verdict| SloResult {
                check: verdict.check.clone(),
                passed: verdict.outcome.passed(),
                measured: match verdict.outcome {
                    SloOutcome::Pass { measured, .. } | SloOutcome::Breach { measured, .. } => {
                        Some(measured)
                    }
                    SloOutcome::InsufficientSamples { .. } => None,
                },
            })
            .collect::<Vec<_>>();
        let slo_passed = (!slo.is_empty()).then_some(results.slo.verdict == Verdict::Pass);
        Entry {
            id: run_id(
                &meta.started_at,
                RunKind::Bench,
                &meta.scenario,
                Some(&controller),
            ),
            scenario: meta.scenario.clone(),
            controller: Some(controller),
            controller_version: environment.controller.clone(),
            commit: environment.commit.clone(),
            started_at: meta.started_at.clone(),
            machine: machine_fingerprint(&environment.machine),
            report: None,
            figures: Figures::Bench(BenchFigures {
                claims: results.errors.claims,
                failed: results.errors.failed,
                phases,
                slo_passed,
                slo,
            }),
        }
    }

    /// A knee run, with what its controllers' runs tell about when and where it ran.
    pub fn from_knee(report: &KneeReport, info: &KneeRunInfo) -> Entry {
        let controllers = report
            .controllers
            .iter()
            .map(|(name, run)| {
                let curve = run
                    .steps
                    .iter()
                    .filter_map(|step| {
                        Some([step.rate_per_s, step.phase(Phase::ClaimReady)?.p99_ms])
                    })
                    .collect();
                let figures = ControllerKneeFigures {
                    knee_100ms: run.knee_100ms,
                    knee_1s: run.knee_1s,
                    version: info.versions.get(name).cloned(),
                    writes_per_claim: run.writes_per_claim,
                    curve,
                };
                (name.clone(), figures)
            })
            .collect();
        Entry {
            id: run_id(&info.started_at, RunKind::Knee, &report.scenario, None),
            scenario: report.scenario.clone(),
            controller: None,
            controller_version: None,
            commit: info.commit.clone(),
            started_at: info.started_at.clone(),
            machine: info
                .machine
                .as_ref()
                .map_or_else(|| UNKNOWN_MACHINE.into(), machine_fingerprint),
            report: None,
            figures: Figures::Knee(KneeFigures { controllers }),
        }
    }

    /// A conformance run; its scenario is `conformance`.
    pub fn from_conformance(summary: &ConformanceSummary) -> Entry {
        let failed_cases = summary
            .cases
            .iter()
            .filter(|case| case.outcome == CaseOutcome::Failed)
            .map(|case| case.name.clone())
            .collect();
        Entry {
            id: run_id(
                &summary.started_at,
                RunKind::Conformance,
                "conformance",
                Some(&summary.controller),
            ),
            scenario: "conformance".into(),
            controller: Some(summary.controller.clone()),
            controller_version: summary.controller_version.clone(),
            commit: summary.commit.clone(),
            started_at: summary.started_at.clone(),
            machine: summary
                .machine
                .as_ref()
                .map_or_else(|| UNKNOWN_MACHINE.into(), machine_fingerprint),
            report: None,
            figures: Figures::Conformance(ConformanceFigures {
                spec: summary.spec.clone(),
                passed: summary.passed,
                failed: summary.failed,
                skipped: summary.skipped,
                failed_cases,
                problems: summary.problems.clone(),
            }),
        }
    }

    pub fn kind(&self) -> RunKind {
        match self.figures {
            Figures::Bench(_) => RunKind::Bench,
            Figures::Knee(_) => RunKind::Knee,
            Figures::Conformance(_) => RunKind::Conformance,
        }
    }

    /// Where the site keeps the run's own page: `runs/<id>/<report file>`.
    pub fn report_path(&self) -> String {
        format!("runs/{}/{}", self.id, self.kind().report_file())
    }

    /// The controller's name, or `–` for a knee run.
    pub fn controller_label(&self) -> &str {
        self.controller.as_deref().unwrap_or("–")
    }

    /// `2025-06-01 12:00` of [`Entry::started_at`], for tables and axes.
    pub fn date(&self) -> String {
        let text = &self.started_at;
        match (text.get(..10), text.get(11..16)) {
            (Some(day), Some(time)) => format!("{day} {time}"),
            _ => text.clone(),
        }
    }
}

/// The fingerprint of a run that did not record its machine.
pub const UNKNOWN_MACHINE: &str = "unknown";

/// `2c-24g-linux-6.12.0`: cores, memory in GiB (rounded) and kernel. Latencies measured on
/// different machines do not compare, so each fingerprint is a series of its own.
pub fn machine_fingerprint(machine: &Machine) -> String {
    let gib = (machine.memory_bytes as f64 / (1u64 << 30) as f64).round() as u64;
    let kernel = sanitize(&machine.kernel);
    if kernel.is_empty() {
        format!("{}c-{gib}g", machine.cores)
    } else {
        format!("{}c-{gib}g-{kernel}", machine.cores)
    }
}

/// `reference` of `reference 0.1.0`: the name before the version.
pub fn controller_name(version: &str) -> String {
    version
        .split_whitespace()
        .next()
        .unwrap_or("unknown")
        .to_string()
}

/// The stable id of a run: its start (`20250601T120000Z`), kind, scenario (unless it is the
/// kind's own name) and controller, in characters safe in a path and a URL. Re-publishing the same run finds the same id; two
/// runs differ in at least one of these (a run starts once per second at most per scenario and
/// controller).
pub fn run_id(started_at: &str, kind: RunKind, scenario: &str, controller: Option<&str>) -> String {
    let mut parts = vec![compact_time(started_at), kind.as_str().to_string()];
    // `…-knee` rather than `…-knee-knee` for the knee scenario, `…-conformance-reference`.
    if scenario != kind.as_str() {
        parts.push(sanitize(scenario));
    }
    if let Some(controller) = controller {
        parts.push(sanitize(controller));
    }
    parts.join("-")
}

/// `2025-06-01T12:00:00.123Z` → `20250601T120000Z`; anything else sanitized as it is.
fn compact_time(started_at: &str) -> String {
    let digits = |range: std::ops::Range<usize>| {
        started_at
            .get(range)
            .filter(|part| part.bytes().all(|b| b.is_ascii_digit()))
    };
    match (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            format!("{y}{mo}{d}T{h}{mi}{s}Z")
        }
        _ => sanitize(started_at),
    }
}

/// Lowercase ASCII letters, digits, `.` and `_`; anything else becomes one `-`.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{sample_conformance, sample_knee, sample_results};

    #[test]
    fn a_bench_entry_keeps_every_phase_and_launch_and_the_slo_verdicts() {
        let results = sample_results().unwrap();
        let entry = Entry::from_results(&results);
        assert_eq!(entry.id, "20250601T120000Z-bench-default-reference");
        assert_eq!(entry.controller.as_deref(), Some("reference"));
        assert_eq!(entry.controller_version.as_deref(), Some("reference 0.1.0"));
        assert_eq!(entry.machine, "2c-24g-linux-6.12.0");
        assert_eq!(
            entry.report_path(),
            format!("runs/{}/report.html", entry.id)
        );
        let Figures::Bench(figures) = &entry.figures else {
            panic!("not a bench entry")
        };
        let ready = results.phase(Phase::ClaimReady).unwrap();
        let all = figures
            .phases
            .iter()
            .find(|h| h.phase == Phase::ClaimReady && h.launch.is_none())
            .unwrap();
        assert_eq!(all.p99_ms, ready.overall.p99_ms);
        let warm = figures
            .phases
            .iter()
            .find(|h| h.phase == Phase::ClaimReady && h.launch == Some(LaunchType::Warm))
            .unwrap();
        assert_eq!(warm.p99_ms, ready.by_launch[&LaunchType::Warm].p99_ms);
        assert_eq!(figures.slo.len(), results.slo.checks.len());
        assert_eq!(figures.slo_passed, Some(results.slo.passed()));
        assert_eq!((figures.claims, figures.failed), (3000, 5));
    }

    #[test]
    fn a_run_without_slos_has_no_verdict() {
        let mut results = sample_results().unwrap();
        results.slo.checks.clear();
        let Figures::Bench(figures) = Entry::from_results(&results).figures else {
            panic!("not a bench entry")
        };
        assert_eq!(figures.slo_passed, None);
    }

    #[test]
    fn a_knee_entry_takes_time_machine_and_versions_from_its_controllers_runs() {
        let report = sample_knee();
        let mut reference = sample_results().unwrap();
        reference.meta.started_at = "2025-06-02T10:05:00Z".into();
        reference.meta.environment.commit = Some("abc".into());
        let mut floor = sample_results().unwrap();
        floor.meta.started_at = "2025-06-02T10:00:00Z".into();
        floor.meta.environment.controller = Some("floor 0.1.0".into());
        let runs: BTreeMap<String, Results> = [
            ("reference".to_string(), reference),
            ("floor".to_string(), floor),
        ]
        .into();
        let info = KneeRunInfo::from_runs(&runs).unwrap();
        assert_eq!(info.started_at, "2025-06-02T10:00:00Z");
        assert_eq!(info.commit.as_deref(), Some("abc"));
        let entry = Entry::from_knee(&report, &info);
        assert_eq!(entry.id, "20250602T100000Z-knee");
        assert_eq!(entry.kind(), RunKind::Knee);
        assert_eq!(entry.controller_label(), "–");
        assert_eq!(entry.report_path(), format!("runs/{}/knee.html", entry.id));
        let Figures::Knee(figures) = &entry.figures else {
            panic!("not a knee entry")
        };
        let reference = &figures.controllers["reference"];
        assert_eq!((reference.knee_100ms, reference.knee_1s), (20.0, 30.0));
        assert_eq!(reference.curve[0], [5.0, 23.0]);
        assert_eq!(reference.curve.len(), 5);
        assert_eq!(
            figures.controllers["floor"].version.as_deref(),
            Some("floor 0.1.0")
        );
        assert_eq!(figures.controllers["upstream"].version, None);
        assert!(KneeRunInfo::from_runs(&BTreeMap::new()).is_none());
    }

    #[test]
    fn a_conformance_entry_counts_and_names_the_failures() {
        let summary = sample_conformance("2025-06-03T09:00:00.5Z", 2);
        let entry = Entry::from_conformance(&summary);
        assert_eq!(entry.id, "20250603T090000Z-conformance-reference");
        assert_eq!(entry.date(), "2025-06-03 09:00");
        let Figures::Conformance(figures) = &entry.figures else {
            panic!("not a conformance entry")
        };
        assert_eq!((figures.passed, figures.failed), (summary.passed, 2));
        assert_eq!(figures.failed_cases.len(), 2);
        assert_eq!(
            entry.report_path(),
            format!("runs/{}/conformance.html", entry.id)
        );
    }

    #[test]
    fn ids_and_fingerprints_are_safe_in_paths() {
        assert_eq!(
            run_id(
                "not a time",
                RunKind::Bench,
                "My Scenario/x",
                Some("ext ernal")
            ),
            "not-a-time-bench-my-scenario-x-ext-ernal"
        );
        assert_eq!(compact_time("2025-06-01T12:00:00Z"), "20250601T120000Z");
        assert_eq!(
            machine_fingerprint(&Machine {
                cores: 8,
                memory_bytes: 31 * (1 << 30) + (1 << 29),
                kernel: String::new(),
            }),
            "8c-32g"
        );
        assert_eq!(controller_name("upstream v1.0.3"), "upstream");
        assert_eq!(controller_name(""), "unknown");
    }
}
