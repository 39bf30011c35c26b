//! `results.json`: the versioned summary of a run that reports, CI gates and comparisons read.
//! Everything a renderer needs is here, so a report can be redrawn from this file alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::error::ReportError;
use crate::record::{Phase, Record};
use crate::slo::{SloReport, SloSpec, evaluate};
use crate::timeline::TimelineSecond;

// Parts of `results.json` defined in `summary`, so that the analysis that builds them and the
// SLO checks that read them need not import this module; still reachable by their old paths.
pub use crate::summary::{CdfPoint, ErrorSummary, HistogramBin, LatencyDistribution, PhaseSummary};

/// The schema this crate writes and reads. A breaking change gets a new version, and readers
/// refuse versions they do not know rather than misread them.
pub const SCHEMA: &str = "sandbox-bench/results/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA`]; first in the file so readers can check it before anything else.
    pub schema: String,
    pub meta: RunMeta,
    /// Phases with at least one sample, in `Phase::ALL` order.
    pub phases: Vec<PhaseSummary>,
    pub timeline: Vec<TimelineSecond>,
    pub errors: ErrorSummary,
    pub slo: SloReport,
    /// Scraped metric deltas (controller, API server) and resource use, free-form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// Phase summaries per pool, when the run claimed from more than one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, Vec<PhaseSummary>>,
    /// The isolation checks, when the scenario declares them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::IsolationReport>,
    /// The faults the scenario injected during the load, when it declares any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<crate::FaultsReport>,
    /// The invariants checked from the harness's own watches, and what broke them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariants: Option<crate::InvariantsReport>,
    /// Step by step, when the load was a `step` shape: percentiles and the knees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<crate::StepsReport>,
    /// Milliseconds from the end of the load (every claim Ready or given up on) until every
    /// pool was full again; absent for the floor, an interrupted run, or pools not refilled
    /// within the harness's wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill_ms: Option<u64>,
}

/// What ran, when, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub scenario: String,
    /// Wall-clock start, RFC 3339 (`2025-06-01T12:00:00Z`); latencies use the monotonic clock.
    pub started_at: String,
    pub duration_ms: u64,
    /// Claims per second the schedule asked for; absent for bursts and closed loops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rate_per_s: Option<f64>,
    /// The arrival schedule's seed, to rerun the same schedule.
    pub seed: u64,
    pub environment: Environment,
}

/// Enough about the setup to know whether two runs are comparable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwok: Option<String>,
    /// The controller under test and its version, e.g. `reference 0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    pub nodes: u64,
    /// The `GOGC` the run gave the local cluster's API server, if it set one (Go's default
    /// is 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apiserver_gogc: Option<u32>,
    pub machine: Machine,
    /// The commit of sandbox-bench that ran (its build's `git rev-parse HEAD`), when the build
    /// knew it; runs written before this field existed have none (`publish --commit` fills it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u32,
    pub memory_bytes: u64,
    pub kernel: String,
}

impl Results {
    /// Assembles the results of an analysed run; `slo` comes from [`evaluate`].
    pub fn new(
        meta: RunMeta,
        analysis: &Analysis,
        slo: SloReport,
        metrics: BTreeMap<String, serde_json::Value>,
    ) -> Result<Self, ReportError> {
        Ok(Results {
            schema: SCHEMA.to_owned(),
            meta,
            phases: analysis.latencies.summarize()?,
            timeline: analysis.timeline.clone(),
            errors: analysis.errors.clone(),
            slo,
            metrics,
            pools: analysis
                .by_pool
                .iter()
                .map(|(pool, recorder)| Ok((pool.clone(), recorder.summarize()?)))
                .collect::<Result<_, ReportError>>()?,
            isolation: None,
            faults: None,
            invariants: None,
            steps: None,
            refill_ms: None,
        })
    }

    /// Analysis, SLO verdicts and results in one call, without scraped metrics.
    pub fn from_records(
        meta: RunMeta,
        records: &[Record],
        slos: &SloSpec,
    ) -> Result<Self, ReportError> {
        let analysis = Analysis::from_records(records)?;
        let slo = evaluate(slos, &analysis.latencies, &analysis.errors)?;
        Results::new(meta, &analysis, slo, BTreeMap::new())
    }

    pub fn phase(&self, phase: Phase) -> Option<&PhaseSummary> {
        self.phases.iter().find(|summary| summary.phase == phase)
    }

    pub fn to_json(&self) -> Result<String, ReportError> {
        serde_json::to_string_pretty(self).map_err(ReportError::EncodeResults)
    }

    /// Parses results, refusing any schema but [`SCHEMA`] with an error that names both.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<String>,
        }
        let decode = |source| ReportError::DecodeResults {
            expected: SCHEMA,
            source,
        };
        let probe: SchemaOnly = serde_json::from_str(text).map_err(decode)?;
        match probe.schema.as_deref() {
            Some(SCHEMA) => serde_json::from_str(text).map_err(decode),
            other => Err(ReportError::UnsupportedSchema {
                found: other.unwrap_or("(none)").to_owned(),
                expected: SCHEMA,
            }),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let mut json = self.to_json()?;
        json.push('\n');
        std::fs::write(path, json).map_err(|source| ReportError::WriteFile {
            path: path.to_owned(),
            source,
        })
    }

    pub fn read(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        Results::from_json(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_results;

    #[test]
    fn json_round_trip_through_a_file() {
        let results = sample_results().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        results.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema\": \"sandbox-bench/results/v1\","));
        assert_eq!(Results::read(&path).unwrap(), results);
    }

    #[test]
    fn unknown_schema_is_refused_by_name() {
        let text = sample_results()
            .unwrap()
            .to_json()
            .unwrap()
            .replace("sandbox-bench/results/v1", "sandbox-bench/results/v9");
        match Results::from_json(&text) {
            Err(ReportError::UnsupportedSchema { found, .. }) => {
                assert_eq!(found, "sandbox-bench/results/v9")
            }
            other => panic!("expected UnsupportedSchema, got {other:?}"),
        }
        assert!(matches!(
            Results::from_json("{}"),
            Err(ReportError::UnsupportedSchema { .. })
        ));
        assert!(matches!(
            Results::from_json("not json"),
            Err(ReportError::DecodeResults { .. })
        ));
    }

    #[test]
    fn missing_file_names_its_path() {
        let error = Results::read(Path::new("/nonexistent/results.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/nonexistent/results.json: could not read"
        );
    }
}
