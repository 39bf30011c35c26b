//! `conformance.html`: one conformance run as a page of its own (the history site links it
//! like a bench run's `report.html`), from `conformance.json`.

use std::fmt::Write as _;

use crate::conformance::{CaseOutcome, ConformanceSummary};
use crate::render::escape::escape;
use crate::render::html::page;

pub fn render_conformance_html(summary: &ConformanceSummary) -> String {
    let mut body = String::new();
    let (class, verdict) = if summary.passed_all() {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = writeln!(
        body,
        "<h1>sandbox-bench conformance: {}</h1>\n<p class=\"verdict {class}\">{verdict}: {} passed, \
         {} failed, {} skipped</p>\n<p class=\"note\">{} · spec {} · cluster {} · started {} · \
         {:.1} s{}</p>",
        escape(&summary.controller),
        summary.passed,
        summary.failed,
        summary.skipped,
        escape(
            summary
                .controller_version
                .as_deref()
                .unwrap_or(&summary.controller)
        ),
        escape(&summary.spec),
        escape(&summary.cluster),
        escape(&summary.started_at),
        summary.duration_ms as f64 / 1000.0,
        summary
            .commit
            .as_deref()
            .map(|c| format!(" · commit {}", escape(crate::render::short_commit(c))))
            .unwrap_or_default()
    );
    for problem in &summary.problems {
        let _ = writeln!(body, "<p class=\"fail\">problem: {}</p>", escape(problem));
    }
    body.push_str(
        "<table>\n<thead><tr><th>case</th><th>since</th><th>result</th>\
         <th class=\"num\">duration</th><th>message</th></tr></thead>\n<tbody>\n",
    );
    for case in &summary.cases {
        let class = match case.outcome {
            CaseOutcome::Passed => "pass",
            CaseOutcome::Failed => "fail",
            CaseOutcome::Skipped => "note",
        };
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{:.1} s</td><td>{}</td></tr>",
            escape(&case.name),
            escape(&case.since),
            case.outcome.as_str(),
            case.duration_ms as f64 / 1000.0,
            escape(case.message.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</tbody>\n</table>\n");
    page(
        &format!("sandbox-bench conformance: {}", summary.controller),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_conformance;

    #[test]
    fn every_case_is_a_row_and_failures_say_why() {
        let html = render_conformance_html(&sample_conformance("2025-06-01T12:00:00Z", 1));
        assert!(html.contains("<title>sandbox-bench conformance: reference</title>"));
        assert!(html.contains("FAIL: 43 passed, 1 failed, 0 skipped"));
        assert_eq!(html.matches("<tr class=").count(), 44);
        assert!(html.contains("<td>failed</td><td class=\"num\">2.6 s</td><td>Sandbox sb: not Ready within 30s</td>"), "{html}");
        let passing = render_conformance_html(&sample_conformance("2025-06-01T12:00:00Z", 0));
        assert!(passing.contains("PASS: 44 passed"));
    }
}
