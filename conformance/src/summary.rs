//! The table a person reads at the end of a run: one row per case with its result, duration
//! and, for failures and skips, the full message; then the totals.

use std::fmt::Write;
use std::time::Duration;

use super::case::Outcome;
use super::report::SuiteReport;

/// Renders the summary table and the totals line (`conformance: N passed, N failed, N skipped`).
pub fn render(report: &SuiteReport) -> String {
    let width = report
        .cases
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max("CASE".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<7}  {:<6}  {:>8}  MESSAGE",
        "CASE", "SINCE", "RESULT", "DURATION"
    );
    let indent = width + 2 + 7 + 2 + 6 + 2 + 8 + 2;
    for case in &report.cases {
        let (result, message) = match &case.outcome {
            Outcome::Passed => ("PASS", ""),
            Outcome::Failed(m) => ("FAIL", m.as_str()),
            Outcome::Skipped(r) => ("SKIP", r.as_str()),
        };
        let mut lines = message.lines();
        let first = lines.next().unwrap_or("");
        let row = format!(
            "{:<width$}  {:<7}  {result:<6}  {:>8}  {first}",
            case.name,
            case.since.to_string(),
            seconds(case.duration)
        );
        let _ = writeln!(out, "{}", row.trim_end());
        for line in lines {
            let _ = writeln!(out, "{:indent$}{line}", "");
        }
    }
    for problem in &report.problems {
        let _ = writeln!(out, "\nproblem: {problem}");
    }
    let counts = report.counts();
    let _ = writeln!(
        out,
        "\n{} cases of the {} spec against controller {} on cluster {} in {}",
        report.cases.len(),
        report.spec,
        report.controller,
        report.cluster,
        seconds(report.duration)
    );
    let _ = writeln!(
        out,
        "conformance: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.skipped
    );
    out
}

/// `1.2s`, `61.5s`: one decimal, enough to compare cases.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_table_has_one_aligned_row_per_case_and_the_totals() {
        let text = render(&fixtures::report());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0], "CASE             SINCE    RESULT  DURATION  MESSAGE",
            "{text}"
        );
        assert_eq!(lines[1], "sandbox-ready    v0.5.6   PASS        1.2s");
        assert!(
            lines[2].starts_with(
                "sandbox-service  v0.5.6   FAIL       30.1s  ports of Service sb: got []"
            ),
            "{text}"
        );
        // Continuation lines of a message line up under the message column.
        assert_eq!(lines[3], format!("{}second line", " ".repeat(44)));
        assert_eq!(
            lines[4],
            "sandbox-expiry   v0.5.6   SKIP        0.0s  needs a kwok node"
        );
        assert!(
            text.contains(
                "3 cases of the latest spec against controller reference on cluster local in 61.5s"
            ),
            "{text}"
        );
        assert_eq!(
            *lines.last().unwrap(),
            "conformance: 1 passed, 1 failed, 1 skipped"
        );
    }

    #[test]
    fn problems_outside_cases_are_shown() {
        let mut report = fixtures::report();
        report.problems.push("sandbox-controller exited".into());
        assert!(render(&report).contains("problem: sandbox-controller exited"));
    }
}
