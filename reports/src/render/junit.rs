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
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
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
    }
}
