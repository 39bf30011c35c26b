//! JUnit XML of the SLO verdicts, one test case per check, so CI systems show each SLO as a
//! test that passed or failed.

use std::fmt::Write;

use crate::render::escape::escape;
use crate::results::Results;

pub fn render_junit(results: &Results) -> String {
    let checks = &results.slo.checks;
    let failures = checks.iter().filter(|c| !c.outcome.passed()).count();
    let suite = format!("sandbox-bench.slo.{}", results.meta.scenario);
    let invariant_cases = results.invariants.as_ref().map(invariant_cases);
    let (all_tests, all_failures) = invariant_cases
        .iter()
        .flatten()
        .fold((checks.len(), failures), |(tests, failed), case| {
            (tests + 1, failed + usize::from(case.failure.is_some()))
        });
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sandbox-bench\" tests=\"{all_tests}\" failures=\"{all_failures}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" timestamp=\"{}\" time=\"{:.3}\">",
        escape(&suite),
        checks.len(),
        escape(&results.meta.started_at),
        results.meta.duration_ms as f64 / 1000.0
    );
    for check in checks {
        let name = escape(&check.check.to_string());
        let reason = escape(&check.reason());
        if check.outcome.passed() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{name}\">\n      <system-out>{reason}</system-out>\n    </testcase>",
                escape(&suite)
            );
        } else {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{name}\">\n      <failure message=\"{reason}\">{reason}</failure>\n    </testcase>",
                escape(&suite)
            );
        }
    }
    out.push_str("  </testsuite>\n");
    if let Some(isolation) = &results.isolation {
        isolation_suite(&mut out, isolation, results);
    }
    if let Some(cases) = invariant_cases {
        let name = format!("sandbox-bench.invariants.{}", results.meta.scenario);
        write_suite(&mut out, &name, &cases);
    }
    out.push_str("</testsuites>\n");
    out
}

/// One test case: its name, what it said, and why it failed if it did.
struct Case {
    name: String,
    said: String,
    failure: Option<String>,
}

/// A `<testsuite>` of `cases`.
fn write_suite(out: &mut String, name: &str, cases: &[Case]) {
    let suite = escape(name);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    for case in cases {
        let name = escape(&case.name);
        let said = escape(&case.said);
        match &case.failure {
            None => {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{suite}\" name=\"{name}\">\n      <system-out>{said}</system-out>\n    </testcase>"
                );
            }
            Some(failure) => {
                let failure = escape(failure);
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{suite}\" name=\"{name}\">\n      <failure message=\"{said}\">{failure}</failure>\n    </testcase>"
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
}

/// One case per invariant checked; a violated one fails with every violation, one a line.
fn invariant_cases(report: &crate::InvariantsReport) -> Vec<Case> {
    report
        .checked
        .iter()
        .map(|&invariant| {
            let violations: Vec<String> = report
                .of(invariant)
                .map(|v| format!("at {} ms: {} ({})", v.at_ms, v.detail, v.objects.join(", ")))
                .collect();
            Case {
                name: invariant.as_str().to_string(),
                said: if violations.is_empty() {
                    format!("held: {}", invariant.promise())
                } else {
                    format!("{} violation(s): {}", violations.len(), invariant.promise())
                },
                failure: (!violations.is_empty()).then(|| violations.join("\n")),
            }
        })
        .collect()
}

/// One case per isolation check, so CI shows a breach (or a control that showed nothing) by
/// name.
fn isolation_suite(out: &mut String, isolation: &crate::IsolationReport, results: &Results) {
    let name = format!(
        "sandbox-bench.isolation.{}.{}",
        results.meta.scenario, isolation.runtime_class
    );
    let cases: Vec<Case> = isolation
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
            Case {
                name: check.name.clone(),
                failure: (check.status != crate::CheckStatus::Pass).then(|| said.clone()),
                said,
            }
        })
        .collect();
    write_suite(out, &name, &cases);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_results;

    #[test]
    fn one_case_per_check_with_failures_marked() {
        let results = sample_results().unwrap();
        let xml = render_junit(&results);
        assert!(xml.contains("<testsuites name=\"sandbox-bench\" tests=\"4\" failures=\"1\">"));
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
            "<testsuite name=\"sandbox-bench.isolation.default.gvisor\" tests=\"2\" failures=\"1\">"
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
        assert!(xml.contains("<testsuites name=\"sandbox-bench\" tests=\"11\" failures=\"2\">"));
        assert!(xml.contains(
            "<testsuite name=\"sandbox-bench.invariants.default\" tests=\"7\" failures=\"1\">"
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
