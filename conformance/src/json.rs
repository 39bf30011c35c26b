//! `conformance.json`: the run in the versioned form other tools read (the history site of
//! `sandbox-bench publish`, dashboards), beside the JUnit file. The file's type lives in
//! `sandbox-reports` ([`sandbox_reports::ConformanceSummary`]), which this crate depends on; this
//! module only fills it from a [`SuiteReport`].

use std::path::Path;

use sandbox_reports::{
    CONFORMANCE_SCHEMA, CaseOutcome, ConformanceCase, ConformanceSummary, Machine,
};

use super::case::Outcome;
use super::report::SuiteReport;

/// What the suite does not know itself: the controller's version, the harness's commit and
/// the machine, as the caller (`sandbox-bench conformance`) finds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunAbout {
    pub controller_version: Option<String>,
    pub commit: Option<String>,
    pub machine: Option<Machine>,
}

/// The `conformance.json` document of `report`.
pub fn summary(report: &SuiteReport, about: RunAbout) -> ConformanceSummary {
    let counts = report.counts();
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ConformanceSummary {
        schema: CONFORMANCE_SCHEMA.into(),
        controller: report.controller.clone(),
        controller_version: about.controller_version,
        spec: report.spec.to_string(),
        cluster: report.cluster.clone(),
        started_at: report.started.to_string(),
        duration_ms: millis(report.duration),
        passed: counts.passed as u64,
        failed: counts.failed as u64,
        skipped: counts.skipped as u64,
        problems: report.problems.clone(),
        cases: report
            .cases
            .iter()
            .map(|case| {
                let (outcome, message) = match &case.outcome {
                    Outcome::Passed => (CaseOutcome::Passed, None),
                    Outcome::Failed(message) => (CaseOutcome::Failed, Some(message.clone())),
                    Outcome::Skipped(reason) => (CaseOutcome::Skipped, Some(reason.clone())),
                };
                ConformanceCase {
                    name: case.name.to_string(),
                    outcome,
                    since: case.since.to_string(),
                    duration_ms: millis(case.duration),
                    message,
                }
            })
            .collect(),
        commit: about.commit,
        machine: about.machine,
    }
}

/// Writes [`summary`] to `path`, creating its directory.
pub fn write(report: &SuiteReport, about: RunAbout, path: &Path) -> std::io::Result<()> {
    let json = summary(report, about)
        .to_json()
        .map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn every_case_keeps_its_outcome_since_and_message() {
        let about = RunAbout {
            controller_version: Some("reference 0.1.0".into()),
            commit: Some("abc".into()),
            machine: None,
        };
        let summary = summary(&fixtures::report(), about);
        assert_eq!(summary.schema, "sandbox-bench/conformance/v1");
        assert_eq!(summary.started_at, "2026-11-28T12:00:00Z");
        assert_eq!((summary.passed, summary.failed, summary.skipped), (1, 1, 1));
        assert_eq!(summary.spec, "latest");
        assert_eq!(summary.duration_ms, 61_500);
        assert!(!summary.passed_all());
        let outcomes: Vec<(&str, CaseOutcome, &str)> = summary
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome, c.since.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("sandbox-ready", CaseOutcome::Passed, "v0.5.6"),
                ("sandbox-service", CaseOutcome::Failed, "v0.5.6"),
                ("sandbox-expiry", CaseOutcome::Skipped, "v0.5.6"),
            ]
        );
        assert_eq!(summary.cases[0].message, None);
        assert!(
            summary.cases[1]
                .message
                .as_deref()
                .unwrap()
                .ends_with("second line")
        );
        assert_eq!(
            summary.cases[2].message.as_deref(),
            Some("needs a kwok node")
        );
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/conformance.json");
        write(&fixtures::report(), RunAbout::default(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let read = ConformanceSummary::from_json(&text).unwrap();
        assert_eq!(read, summary(&fixtures::report(), RunAbout::default()));
    }
}
