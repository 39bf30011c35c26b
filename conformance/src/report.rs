//! The result of a run: one [`CaseReport`] per case, in list order, and what the run was
//! against. The summary table and the JUnit file are both renderings of a [`SuiteReport`].

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::case::Outcome;
use super::release::{Release, Spec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    pub name: &'static str,
    pub group: &'static str,
    pub section: &'static str,
    /// The upstream release that introduced the behaviour.
    pub since: Release,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// `reference`, `upstream` or `external`.
    pub controller: String,
    /// `local` or the kubeconfig context.
    pub cluster: String,
    /// The spec checked (`--spec`).
    pub spec: Spec,
    pub started: Timestamp,
    pub duration: Duration,
    pub cases: Vec<CaseReport>,
    /// Problems outside any one case (e.g. the controller exited during the run); any note
    /// fails the run.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl SuiteReport {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => counts.passed += 1,
                Outcome::Failed(_) => counts.failed += 1,
                Outcome::Skipped(_) => counts.skipped += 1,
            }
        }
        counts
    }

    /// Whether the run passed: no case failed (skips do not fail a run) and nothing went
    /// wrong around the cases.
    pub fn passed(&self) -> bool {
        self.counts().failed == 0 && self.problems.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A report with one case of each outcome.
    pub fn report() -> SuiteReport {
        let case = |name, outcome, millis| CaseReport {
            name,
            group: "sandbox",
            section: "2.8",
            since: Release::V0_5_6,
            outcome,
            duration: Duration::from_millis(millis),
        };
        SuiteReport {
            controller: "reference".into(),
            cluster: "local".into(),
            spec: Spec::Latest,
            started: "2026-11-28T12:00:00Z".parse().unwrap(),
            duration: Duration::from_millis(61_500),
            cases: vec![
                case("sandbox-ready", Outcome::Passed, 1_234),
                case(
                    "sandbox-service",
                    Outcome::Failed(
                        "ports of Service sb: got [], want <\"p-8888-tcp\"> & more\nsecond line"
                            .into(),
                    ),
                    30_050,
                ),
                case(
                    "sandbox-expiry",
                    Outcome::Skipped("needs a kwok node".into()),
                    5,
                ),
            ],
            problems: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exit_codes_follow_the_outcomes() {
        let mut report = fixtures::report();
        assert_eq!(
            report.counts(),
            Counts {
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        assert!(!report.passed());
        report.cases.retain(|c| c.outcome != Outcome::Passed);
        report.cases.remove(0);
        assert!(report.passed(), "a skip alone does not fail");
        report.problems.push("controller exited".into());
        assert!(!report.passed());
    }
}
