//! JUnit XML of the SLO verdicts, one test case per check, so CI systems show each SLO as a
//! test that passed or failed; isolation checks and invariants get suites of their own. The
//! XML is [`crate::junit`]'s.

use std::time::Duration;

use crate::junit::{Outcome, TestCase, TestSuite, TestSuites};
use crate::results::Results;

pub fn render_junit(results: &Results) -> String {
    let suite = format!("sandbox-bench.slo.{}", results.meta.scenario);
    let slo_cases = results
        .slo
        .checks
        .iter()
        .map(|check| {
            let reason = check.reason();
            let failure = (!check.outcome.passed()).then(|| reason.clone());
            case(&suite, check.check.to_string(), reason, failure)
        })
        .collect();
    let mut slos = TestSuite::new(suite, slo_cases);
    slos.timestamp = Some(results.meta.started_at.clone());
    slos.time = Some(Duration::from_millis(results.meta.duration_ms));
    let mut suites = vec![slos];
    if let Some(isolation) = &results.isolation {
        suites.push(isolation_suite(isolation, results));
    }
    if let Some(invariants) = &results.invariants {
        let name = format!("sandbox-bench.invariants.{}", results.meta.scenario);
        suites.push(invariant_suite(name, invariants));
    }
    TestSuites {
        name: "sandbox-bench".into(),
        time: None,
        suites,
    }
    .render()
}

/// One test case of `suite`: its name, what it said, and why it failed if it did (then what it
/// said is the failure's message, and the reason its text).
fn case(suite: &str, name: String, said: String, failure: Option<String>) -> TestCase {
    let mut case = TestCase::new(suite, name);
    match failure {
        None => case.system_out = Some(said),
        Some(body) => {
            case.outcome = Outcome::Failed {
                message: said,
                kind: None,
                body,
            };
        }
    }
    case
}

/// One case per invariant checked; a violated one fails with every violation, one a line.
fn invariant_suite(name: String, report: &crate::InvariantsReport) -> TestSuite {
    let cases = report
        .checked
        .iter()
        .map(|&invariant| {
            let violations: Vec<String> = report
                .of(invariant)
                .map(|v| format!("at {} ms: {} ({})", v.at_ms, v.detail, v.objects.join(", ")))
                .collect();
            let said = if violations.is_empty() {
                format!("held: {}", invariant.promise())
            } else {
                format!("{} violation(s): {}", violations.len(), invariant.promise())
            };
            let failure = (!violations.is_empty()).then(|| violations.join("\n"));
            case(&name, invariant.as_str().to_string(), said, failure)
        })
        .collect();
    TestSuite::new(name, cases)
}

/// One case per isolation check, so CI shows a breach (or a control that showed nothing) by
/// name.
fn isolation_suite(isolation: &crate::IsolationReport, results: &Results) -> TestSuite {
    let name = format!(
        "sandbox-bench.isolation.{}.{}",
        results.meta.scenario, isolation.runtime_class
    );
    let cases = isolation
        .checks
        .iter()
        .map(|check| {
            let said = format!(
                "{}: sandbox {}, control ({}) {}",
                check.status.as_str(),
                check.sandbox,
                isolation.control_runtime_class,
                check.control
            );
            let failure = (check.status != crate::CheckStatus::Pass).then(|| said.clone());
            case(&name, check.name.clone(), said, failure)
        })
        .collect();
    TestSuite::new(name, cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_results;

    #[test]
    fn one_case_per_check_with_failures_marked() {
        let results = sample_results().unwrap();
        let xml = render_junit(&results);
        assert!(xml.contains(
            "<testsuites name=\"sandbox-bench\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"0\">"
        ));
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert!(xml.contains(
            "<testcase classname=\"sandbox-bench.slo.default\" name=\"harness_lag p99.9 ≤ 1 ms\">\n      <failure message=\""
        ));
        assert!(xml.contains("name=\"claim_ready p99 (warm) ≤ 100 ms\">\n      <system-out>"));
        assert!(!xml.contains("isolation"));
    }

    #[test]
    fn isolation_checks_are_cases_of_their_own_suite() {
        let mut results = sample_results().unwrap();
        results.isolation = Some(crate::sample::sample_isolation());
        let xml = render_junit(&results);
        assert!(xml.contains(
            "<testsuite name=\"sandbox-bench.isolation.default.gvisor\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\">"
        ));
        assert!(
            xml.contains(
                "name=\"kernel_not_shared\">\n      <system-out>pass: sandbox own boot_id"
            )
        );
        assert!(xml.contains(
            "name=\"egress_blocked\">\n      <failure message=\"control failed: sandbox blocked, control (runc) blocked\""
        ));
        assert_eq!(xml.matches("<testcase ").count(), 6);
    }

    #[test]
    fn invariants_are_cases_of_their_own_suite_and_count_in_the_total() {
        let mut results = sample_results().unwrap();
        let (faults, invariants) = crate::sample::sample_reliability();
        results.faults = Some(faults);
        results.invariants = Some(invariants);
        let xml = render_junit(&results);
        assert!(xml.contains(
            "<testsuites name=\"sandbox-bench\" tests=\"11\" failures=\"2\" errors=\"0\" skipped=\"0\">"
        ));
        assert!(xml.contains(
            "<testsuite name=\"sandbox-bench.invariants.default\" tests=\"7\" failures=\"1\" errors=\"0\" skipped=\"0\">"
        ));
        assert!(xml.contains(
            "name=\"claim_served\">\n      <failure message=\"1 violation(s): every claim is Ready within the recovery bound\">at 41000 ms: Ready 33500 ms after the last fault (sandboxclaim/claim-00007)</failure>"
        ));
        assert!(xml.contains("name=\"sandbox_has_one_claim\">\n      <system-out>held:"));
        assert_balanced(&xml);
    }

    /// Every tag opened is closed, in order: the suites nest.
    fn assert_balanced(xml: &str) {
        assert_eq!(
            xml.matches("<testsuite ").count(),
            xml.matches("</testsuite>").count()
        );
        assert_eq!(
            xml.matches("<testcase ").count(),
            xml.matches("</testcase>").count()
        );
    }
}
