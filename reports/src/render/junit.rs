//! JUnit XML of the SLO verdicts, one test case per check, so CI systems show each SLO as a
//! test that passed or failed.

use std::fmt::Write;

use crate::render::html::escape;
use crate::results::Results;

pub fn render_junit(results: &Results) -> String {
    let checks = &results.slo.checks;
    let failures = checks.iter().filter(|c| !c.outcome.passed()).count();
    let suite = format!("sandbox-bench.slo.{}", results.meta.scenario);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sandbox-bench\" tests=\"{}\" failures=\"{failures}\">",
        checks.len()
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
    out.push_str("</testsuites>\n");
    out
}

/// One case per isolation check, so CI shows a breach (or a control that showed nothing) by
/// name.
fn isolation_suite(out: &mut String, isolation: &crate::IsolationReport, results: &Results) {
    let suite = escape(&format!(
        "sandbox-bench.isolation.{}.{}",
        results.meta.scenario, isolation.runtime_class
    ));
    let failures = isolation
        .checks
        .iter()
        .filter(|c| c.status != crate::CheckStatus::Pass)
        .count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\">",
        isolation.checks.len()
    );
    for check in &isolation.checks {
        let said = escape(&format!(
            "{}: sandbox {}, control ({}) {}",
            check.status.as_str(),
            check.sandbox,
            isolation.control_runtime_class,
            check.control
        ));
        let name = escape(&check.name);
        if check.status == crate::CheckStatus::Pass {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{suite}\" name=\"{name}\">\n      <system-out>{said}</system-out>\n    </testcase>"
            );
        } else {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{suite}\" name=\"{name}\">\n      <failure message=\"{said}\">{said}</failure>\n    </testcase>"
            );
        }
    }
    out.push_str("  </testsuite>\n");
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
}
