//! `report.html`: one file with everything inline (styles, SVG charts, tables), so it can be
//! attached to a CI run or mailed and opened anywhere, offline, without loading anything.

use std::fmt::Write;

use crate::compare::{Comparison, ComparisonVerdict};
use crate::error::ReportError;
use crate::record::{LaunchType, Phase};
use crate::render::charts::{self, CdfLine, phase_color};
use crate::render::{
    OPEN_LOOP_NOTE, environment_line, format_ms, format_ratio, run_line, summary_rows,
};
use crate::results::Results;
use crate::slo::Verdict;
use crate::summary::PhaseSummary;

// Defined in `render::escape`, which the charts share; still reachable by its old path.
pub use crate::render::escape::escape;

/// Escapes Markdown-ish text and turns its `code` spans into `<code>`.
fn code_spans(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(index, part)| {
            if index % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; text-align: left; }
td.num, th.num { text-align: right; }
.pass { color: #17702c; } .fail { color: #b3261e; } .note, figcaption { color: #666; font-size: .9rem; }
.verdict { font-size: 1.1rem; font-weight: 600; }
figure { margin: 1rem 0; } svg { max-width: 100%; height: auto; }
.grid { display: flex; flex-wrap: wrap; gap: .5rem; } .grid figure { margin: 0; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
";

pub(crate) fn page(title: &str, body: &str) -> String {
    page_styled(title, "", body)
}

/// [`page`] with rules of its own after the shared ones.
pub(crate) fn page_styled(title: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}{style}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

pub(crate) fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = writeln!(
        out,
        "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
        escape(caption)
    );
}

fn summary_table(out: &mut String, phases: &[PhaseSummary]) {
    out.push_str(
        "<table>\n<thead><tr><th>phase</th><th>launch</th><th class=\"num\">count</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th>\
         <th class=\"num\">p99.9</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n",
    );
    for summary in phases {
        for (index, (launch, d)) in summary_rows(summary).into_iter().enumerate() {
            let phase = if index == 0 {
                format!(
                    "<code title=\"{}\">{}</code>",
                    escape(summary.phase.description()),
                    summary.phase
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<tr><td>{phase}</td><td>{launch}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                d.count,
                format_ms(d.p50_ms),
                format_ms(d.p90_ms),
                format_ms(d.p99_ms),
                format_ms(d.p999_ms),
                format_ms(d.max_ms),
            );
        }
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The phase a reader cares about most: the last one of a claim's life that has samples.
fn headline_phase(results: &Results) -> Option<&PhaseSummary> {
    results
        .phases
        .iter()
        .rev()
        .find(|summary| summary.phase != Phase::HarnessLag)
}

pub fn render_html(results: &Results) -> Result<String, ReportError> {
    let meta = &results.meta;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>sandbox-bench report: {}</h1>",
        escape(&meta.scenario)
    );
    let (class, verdict) = match (results.slo.checks.is_empty(), results.slo.verdict) {
        (true, _) => ("note", "no SLOs declared"),
        (false, Verdict::Pass) => ("pass", "PASS: SLOs met"),
        (false, Verdict::Fail) => ("fail", "FAIL: SLOs not met"),
    };
    let _ = writeln!(body, "<p class=\"verdict {class}\">{verdict}</p>");
    let _ = writeln!(body, "<p>{}</p>", escape(&run_line(results)));
    let _ = writeln!(
        body,
        "<p class=\"note\">Environment: {}</p>",
        escape(&environment_line(&meta.environment))
    );

    body.push_str("<h2>Latency by phase</h2>\n");
    summary_table(&mut body, &results.phases);
    let _ = writeln!(body, "<p class=\"note\">{}</p>", code_spans(OPEN_LOOP_NOTE));
    for (pool, phases) in &results.pools {
        let _ = writeln!(body, "<h3>Pool <code>{}</code></h3>", escape(pool));
        summary_table(&mut body, phases);
    }

    if let Some(steps) = &results.steps {
        body.push_str("<h2>Step by step</h2>\n");
        steps_table(
            &mut body,
            steps.warm_up.as_ref(),
            &steps.steps,
            steps.knee_100ms,
            steps.knee_1s,
            None,
        );
    }

    if !results.slo.checks.is_empty() {
        body.push_str(
            "<h2>SLOs</h2>\n<table>\n<thead><tr><th></th><th>SLO</th><th>result</th></tr></thead>\n<tbody>\n",
        );
        for check in &results.slo.checks {
            let (class, mark) = if check.outcome.passed() {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td>{mark}</td><td>{}</td><td>{}</td></tr>",
                escape(&check.check.to_string()),
                escape(&check.reason())
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }

    if let Some(isolation) = &results.isolation {
        let _ = writeln!(
            body,
            "<h2>Isolation: <code>{}</code> (positive control <code>{}</code>)</h2>\n<table>\n\
             <thead><tr><th></th><th>check</th><th>sandbox</th><th>control</th><th>result</th></tr></thead>\n<tbody>",
            escape(&isolation.runtime_class),
            escape(&isolation.control_runtime_class)
        );
        for check in &isolation.checks {
            let (class, mark) = if check.status == crate::CheckStatus::Pass {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td>{mark}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&check.name),
                escape(&check.sandbox),
                escape(&check.control),
                check.status.as_str()
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }

    if let Some(invariants) = &results.invariants {
        let _ = writeln!(
            body,
            "<h2>Invariants (recovery bound {})</h2>\n<table>\n\
             <thead><tr><th></th><th>invariant</th><th>promise</th><th class=\"num\">violations</th></tr></thead>\n<tbody>",
            format_ms(invariants.recovery_bound_ms as f64)
        );
        for &invariant in &invariants.checked {
            let count = invariants.of(invariant).count();
            let (class, mark) = if count == 0 {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td>{mark}</td><td><code>{invariant}</code></td><td>{}</td><td class=\"num\">{count}</td></tr>",
                escape(invariant.promise())
            );
        }
        body.push_str("</tbody>\n</table>\n");
        if !invariants.violations.is_empty() {
            body.push_str(
                "<table>\n<thead><tr><th>invariant</th><th class=\"num\">at</th><th>objects</th><th>what</th></tr></thead>\n<tbody>\n",
            );
            for v in &invariants.violations {
                let _ = writeln!(
                    body,
                    "<tr class=\"fail\"><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                    v.invariant,
                    format_ms(v.at_ms as f64),
                    escape(&v.objects.join(", ")),
                    escape(&v.detail)
                );
            }
            body.push_str("</tbody>\n</table>\n");
        }
    }
    if let Some(faults) = &results.faults {
        body.push_str(
            "<h2>Faults</h2>\n<table>\n<thead><tr><th>fault</th><th class=\"num\">at</th><th class=\"num\">restored</th><th>what</th></tr></thead>\n<tbody>\n",
        );
        for f in faults.fired.iter().chain(&faults.failed) {
            let _ = writeln!(
                body,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&f.kind),
                format_ms(f.at_ms as f64),
                f.restored_ms
                    .map_or_else(|| "–".to_string(), |ms| format_ms(ms as f64)),
                escape(&f.detail)
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }

    if !results.errors.by_kind.is_empty() {
        body.push_str(
            "<h2>Errors</h2>\n<table>\n<thead><tr><th>kind</th><th class=\"num\">claims</th></tr></thead>\n<tbody>\n",
        );
        for (kind, count) in &results.errors.by_kind {
            let _ = writeln!(
                body,
                "<tr><td><code>{}</code></td><td class=\"num\">{count}</td></tr>",
                escape(kind)
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }

    body.push_str("<h2>Latency distribution</h2>\n");
    let lines: Vec<CdfLine<'_>> = results
        .phases
        .iter()
        .map(|summary| CdfLine {
            label: summary.phase.to_string(),
            color: phase_color(summary.phase),
            points: &summary.overall.cdf,
            count: summary.overall.count,
        })
        .collect();
    figure(
        &mut body,
        &charts::latency_cdf("Latency CDF per phase", charts::WIDE, &lines)?,
        "Each phase's latency from the intended send time; the percentile axis gives every \
         extra nine equal room so the tail is visible.",
    );
    if let Some(headline) = headline_phase(results).filter(|s| s.by_launch.len() > 1) {
        let by_launch: Vec<CdfLine<'_>> = headline
            .by_launch
            .iter()
            .map(|(launch, distribution)| CdfLine {
                label: format!("{launch} ({})", distribution.count),
                color: launch_color(*launch),
                points: &distribution.cdf,
                count: distribution.count,
            })
            .collect();
        figure(
            &mut body,
            &charts::latency_cdf(
                &format!("{} by launch type", headline.phase),
                charts::WIDE,
                &by_launch,
            )?,
            "Warm claims are served from a pool; cold ones wait for a new sandbox.",
        );
    }

    body.push_str("<h2>Latency histograms</h2>\n<div class=\"grid\">\n");
    for summary in &results.phases {
        let title = format!("{} histogram", summary.phase);
        figure(
            &mut body,
            &charts::latency_histogram(&title, phase_color(summary.phase), &summary.overall)?,
            &charts::describe_percentiles(&summary.overall),
        );
    }
    body.push_str("</div>\n");

    body.push_str("<h2>Over time</h2>\n");
    figure(
        &mut body,
        &charts::latency_over_time("Latency over time (p50, p99 per second)", &results.timeline)?,
        "Claims grouped by the second they were meant to be sent.",
    );
    figure(
        &mut body,
        &charts::throughput_over_time("Throughput", &results.timeline)?,
        "Claims the schedule asked for, creates sent, and claims that became Ready, per second.",
    );
    figure(
        &mut body,
        &charts::in_flight_over_time("Claims in flight", &results.timeline)?,
        "The most claims sent and not yet Ready or failed at any moment of each second.",
    );
    if results.timeline.iter().any(|s| !s.cpu_cores.is_empty()) {
        figure(
            &mut body,
            &charts::cpu_over_time("CPU by process", &results.timeline)?,
            "CPU cores each process used, second by second (the machine's cores are the \
             ceiling): which one was busy when claims slowed down.",
        );
    }

    if !results.metrics.is_empty() {
        body.push_str(
            "<h2>Scraped metrics</h2>\n<details><summary>deltas over the run</summary>\n<pre>",
        );
        let metrics =
            serde_json::to_string_pretty(&results.metrics).map_err(ReportError::EncodeResults)?;
        body.push_str(&escape(&metrics));
        body.push_str("</pre></details>\n");
    }

    Ok(page(
        &format!("sandbox-bench report: {}", meta.scenario),
        &body,
    ))
}

fn launch_color(launch: LaunchType) -> plotters::style::RGBColor {
    match launch {
        LaunchType::Warm => phase_color(Phase::SandboxReady),
        LaunchType::Cold => phase_color(Phase::Acked),
        LaunchType::Unknown => phase_color(Phase::HarnessLag),
    }
}

/// The comparison page: the ratio table and, per phase both runs measured, their CDFs
/// overlaid.
pub fn render_comparison_html(
    comparison: &Comparison,
    baseline: &Results,
    candidate: &Results,
) -> Result<String, ReportError> {
    let mut body = String::new();
    body.push_str("<h1>sandbox-bench comparison</h1>\n");
    let (class, verdict) = match comparison.verdict {
        ComparisonVerdict::NoRegression => ("pass", "PASS: no regression"),
        ComparisonVerdict::Regression => ("fail", "FAIL: regression"),
    };
    let _ = writeln!(
        body,
        "<p class=\"verdict {class}\">{verdict} (noise margin {:.0} %)</p>",
        comparison.noise * 100.0
    );
    let _ = writeln!(
        body,
        "<p>A (baseline): <code>{}</code><br>B (candidate): <code>{}</code></p>",
        escape(&comparison.baseline),
        escape(&comparison.candidate)
    );
    if !comparison.environment_differences.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"fail\">Warning: the environments differ: {}</p>",
            escape(&comparison.environment_differences.join("; "))
        );
    }
    body.push_str(
        "<table>\n<thead><tr><th></th><th>phase</th><th>launch</th><th class=\"num\">A p50</th>\
         <th class=\"num\">B p50</th><th class=\"num\">B/A</th><th class=\"num\">A p99</th>\
         <th class=\"num\">B p99</th><th class=\"num\">B/A</th></tr></thead>\n<tbody>\n",
    );
    for row in &comparison.rows {
        let (class, mark) = match (row.regressed, row.gating) {
            (true, _) => ("fail", "slower"),
            (false, true) => ("pass", "ok"),
            (false, false) => ("note", "info"),
        };
        let value = |side: Option<f64>| side.map_or("—".to_owned(), format_ms);
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td>{mark}</td><td><code>{}</code></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            row.phase,
            row.launch.map_or("all".to_owned(), |l| l.to_string()),
            value(row.baseline.map(|p| p.p50_ms)),
            value(row.candidate.map(|p| p.p50_ms)),
            format_ratio(row.p50_ratio),
            value(row.baseline.map(|p| p.p99_ms)),
            value(row.candidate.map(|p| p.p99_ms)),
            format_ratio(row.p99_ratio),
        );
    }
    body.push_str(
        "</tbody>\n</table>\n<p class=\"note\">Harness lag (info) is shown but does not gate.</p>\n",
    );

    body.push_str("<h2>Overlaid CDFs</h2>\n");
    let a_color = phase_color(Phase::Acked);
    let b_color = phase_color(Phase::ClaimReady);
    for phase in Phase::ALL {
        let (Some(a), Some(b)) = (baseline.phase(phase), candidate.phase(phase)) else {
            continue;
        };
        let lines = [
            CdfLine {
                label: format!("A ({} samples)", a.overall.count),
                color: a_color,
                points: &a.overall.cdf,
                count: a.overall.count,
            },
            CdfLine {
                label: format!("B ({} samples)", b.overall.count),
                color: b_color,
                points: &b.overall.cdf,
                count: b.overall.count,
            },
        ];
        figure(
            &mut body,
            &charts::latency_cdf(&format!("{phase}: A vs B"), charts::WIDE, &lines)?,
            phase.description(),
        );
    }
    Ok(page("sandbox-bench comparison", &body))
}

/// The per-step table of a stepped load, with its knees; the writes and CPU per claim columns
/// only when the harness read them, and then the writes by request (with the whole load's,
/// `whole`, when given).
pub(crate) fn steps_table(
    body: &mut String,
    warm_up: Option<&crate::StepSummary>,
    steps: &[crate::StepSummary],
    knee_100ms: f64,
    knee_1s: f64,
    whole: Option<&std::collections::BTreeMap<String, f64>>,
) {
    let writes = steps.iter().any(|s| s.writes_per_claim.is_some());
    let cpu = steps.iter().any(|s| !s.cpu_seconds_per_claim.is_empty());
    let _ = writeln!(
        body,
        "<p>Knee: claim Ready p99 ≤ 100 ms up to <strong>{knee_100ms} claims/s</strong>, \
         &lt; 1 s up to <strong>{knee_1s} claims/s</strong> (every claim Ready; warm claims when there are any).{}</p>\n\
         <table>\n<thead><tr><th class=\"num\">rate</th><th class=\"num\">claims</th><th class=\"num\">not Ready</th>\
         <th class=\"num\">acked p99</th><th class=\"num\">bound p99</th><th class=\"num\">claim Ready p50</th>\
         <th class=\"num\">p90</th><th class=\"num\">p99</th>{}{}</tr></thead>\n<tbody>",
        if warm_up.is_some() {
            format!(" {}", super::WARM_UP_NOTE)
        } else {
            String::new()
        },
        if writes {
            "<th class=\"num\">writes per claim</th>"
        } else {
            ""
        },
        if cpu { "<th>CPU per claim</th>" } else { "" },
    );
    for (step, label) in super::step_rows(warm_up, steps) {
        let p = |phase: Phase, pick: fn(&crate::StepPhase) -> f64| {
            step.phase(phase)
                .map_or("–".to_string(), |s| format_ms(pick(s)))
        };
        let _ = write!(
            body,
            "<tr><td class=\"num\">{label}{}/s</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td>",
            step.rate_per_s,
            step.claims,
            step.not_ready,
            p(Phase::Acked, |s| s.p99_ms),
            p(Phase::Bound, |s| s.p99_ms),
            p(Phase::ClaimReady, |s| s.p50_ms),
            p(Phase::ClaimReady, |s| s.p90_ms),
            p(Phase::ClaimReady, |s| s.p99_ms),
        );
        if writes {
            let value = step
                .writes_per_claim
                .map_or("–".to_string(), |w| format!("{w:.1}"));
            let _ = write!(body, "<td class=\"num\">{value}</td>");
        }
        if cpu {
            let _ = write!(
                body,
                "<td>{}</td>",
                escape(&super::cpu_list(&step.cpu_seconds_per_claim))
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody>\n</table>\n");
    if let Some(table) = super::WritesByRequest::of(warm_up, steps, whole) {
        writes_by_request_table(body, &table);
    }
}

/// API writes per claim by request, a column per step.
fn writes_by_request_table(body: &mut String, table: &super::WritesByRequest) {
    body.push_str(
        "<table>\n<caption>API writes per claim, by request</caption>\n<thead><tr><th>request</th>",
    );
    for column in &table.columns {
        let _ = write!(body, "<th class=\"num\">{}</th>", escape(column));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for (request, cells) in &table.rows {
        let _ = write!(body, "<tr><td><code>{}</code></td>", escape(request));
        for cell in cells {
            let _ = write!(
                body,
                "<td class=\"num\">{}</td>",
                super::format_writes(*cell)
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::sample::sample_results;

    /// Self-contained: nothing fetched from anywhere, charts inline.
    fn assert_self_contained(html: &str) {
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("http://"), "http:// reference");
        assert!(!html.contains("https://"), "https:// reference");
        for attribute in ["src=", "href=", "@import", "url("] {
            assert!(
                !html.contains(attribute),
                "external resource via {attribute}"
            );
        }
        assert!(html.contains("<svg"));
    }

    #[test]
    fn report_is_self_contained_with_all_charts() {
        let mut results = sample_results().unwrap();
        results.metrics.insert(
            "controller_reconciles_total".into(),
            serde_json::json!(6012),
        );
        let html = render_html(&results).unwrap();
        assert_self_contained(&html);
        // CDF, CDF by launch type, five histograms, latency over time, throughput, in flight,
        // CPU by process.
        assert_eq!(html.matches("<svg").count(), 11);
        for expected in [
            "<title>sandbox-bench report: default</title>",
            "aria-label=\"Latency CDF per phase\"",
            "aria-label=\"claim_ready by launch type\"",
            "aria-label=\"Latency over time (p50, p99 per second)\"",
            "aria-label=\"Throughput\"",
            "aria-label=\"Claims in flight\"",
            "aria-label=\"CPU by process\"",
            "FAIL: SLOs not met",
            "<code>timeout</code>",
            "is how late the harness sent",
            "<code>harness_lag</code>",
            "controller_reconciles_total",
        ] {
            assert!(html.contains(expected), "missing {expected:?}");
        }
    }

    #[test]
    fn isolation_checks_and_pools_have_their_tables() {
        let mut results = sample_results().unwrap();
        assert!(!render_html(&results).unwrap().contains("Isolation"));
        results.isolation = Some(crate::sample::sample_isolation());
        let claim_ready = results.phases.clone();
        results.pools.insert("cold-gvisor".into(), claim_ready);
        let html = render_html(&results).unwrap();
        assert!(html.contains(
            "<h2>Isolation: <code>gvisor</code> (positive control <code>runc</code>)</h2>"
        ));
        assert!(html.contains("<tr class=\"fail\"><td>FAIL</td><td><code>egress_blocked</code></td><td>blocked</td><td>blocked</td><td>control failed</td></tr>"));
        assert!(html.contains("<h3>Pool <code>cold-gvisor</code></h3>"));
    }

    #[test]
    fn user_text_is_escaped() {
        let mut results = sample_results().unwrap();
        results.meta.scenario = "<script>alert(1)</script>".into();
        let html = render_html(&results).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn comparison_page_overlays_cdfs() {
        let a = sample_results().unwrap();
        let html = render_comparison_html(&compare(&a, &a, 0.05), &a, &a).unwrap();
        assert_self_contained(&html);
        assert_eq!(html.matches("<svg").count(), a.phases.len());
        assert!(html.contains("PASS: no regression (noise margin 5 %)"));
        assert!(html.contains("aria-label=\"claim_ready: A vs B\""));
    }

    #[test]
    fn invariants_and_faults_have_their_tables() {
        let mut results = sample_results().unwrap();
        let (faults, invariants) = crate::sample::sample_reliability();
        results.faults = Some(faults);
        results.invariants = Some(invariants);
        let html = render_html(&results).unwrap();
        assert!(html.contains("<h2>Invariants (recovery bound 30000 ms)</h2>"));
        assert!(html.contains("<td>FAIL</td><td><code>claim_served</code></td>"));
        assert!(html.contains("<td><code>controllerKill</code></td><td class=\"num\">5000 ms</td><td class=\"num\">5500 ms</td>"));
    }
}
