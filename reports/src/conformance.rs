//! `conformance.json`: a conformance run in a form other tools read (the history site,
//! dashboards), written beside the JUnit file by `sandbox-bench conformance`. The suite lives
//! in `sandbox-conformance`, which depends on this crate, so the file's type lives here and the
//! suite converts its report into it.

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::results::Machine;

/// The schema of `conformance.json`.
pub const CONFORMANCE_SCHEMA: &str = "sandbox-bench/conformance/v1";

/// One conformance run: what was checked against what, and how every case came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformanceSummary {
    /// Always [`CONFORMANCE_SCHEMA`], first in the file.
    pub schema: String,
    /// `reference`, `upstream` or `external`.
    pub controller: String,
    /// The controller's version as the harness knows it, e.g. `reference 0.1.0`,
    /// `upstream v1.0.3`; absent for an external controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_version: Option<String>,
    /// The spec checked: `latest` or a release such as `v1.0.3`.
    pub spec: String,
    /// `local` or the kubeconfig context.
    pub cluster: String,
    /// RFC 3339 wall clock.
    pub started_at: String,
    pub duration_ms: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Problems outside any one case (the controller exited, …); any fails the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub cases: Vec<ConformanceCase>,
    /// The commit of sandbox-bench that ran, when its build knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The machine that ran the suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Machine>,
}

/// One case and how it came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformanceCase {
    pub name: String,
    pub outcome: CaseOutcome,
    /// The upstream release that introduced the behaviour, e.g. `v0.5.6`.
    pub since: String,
    pub duration_ms: u64,
    /// The failure message or the reason for a skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome {
    Passed,
    Failed,
    Skipped,
}

impl CaseOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseOutcome::Passed => "passed",
            CaseOutcome::Failed => "failed",
            CaseOutcome::Skipped => "skipped",
        }
    }
}

impl ConformanceSummary {
    /// Whether the run passed: no case failed and nothing went wrong around the cases.
    pub fn passed_all(&self) -> bool {
        self.failed == 0 && self.problems.is_empty()
    }

    /// Parses `conformance.json`, refusing any schema but [`CONFORMANCE_SCHEMA`] by name.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        crate::schema::decode(text, "conformance.json", CONFORMANCE_SCHEMA)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, ReportError> {
        crate::schema::encode(self, "conformance.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_conformance;

    #[test]
    fn conformance_json_round_trips_and_other_schemas_are_refused() {
        let summary = sample_conformance("2025-06-01T12:00:00Z", 1);
        assert!(!summary.passed_all());
        let json = summary.to_json().unwrap();
        assert!(json.starts_with("{\n  \"schema\": \"sandbox-bench/conformance/v1\","));
        assert!(json.contains("\"outcome\": \"failed\""), "{json}");
        assert_eq!(ConformanceSummary::from_json(&json).unwrap(), summary);
        let other = json.replace(
            "sandbox-bench/conformance/v1",
            "sandbox-bench/conformance/v0",
        );
        let error = ConformanceSummary::from_json(&other).unwrap_err();
        assert_eq!(
            error.to_string(),
            "conformance.json schema is `sandbox-bench/conformance/v0`, this reader understands \
             `sandbox-bench/conformance/v1`"
        );
    }
}
