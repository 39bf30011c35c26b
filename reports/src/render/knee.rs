//! `knee.md` and `knee.html`: the knees of every controller side by side, the p99-versus-rate
//! curves on one chart, CPU per claim by process, and each controller's steps.

use std::fmt::Write as _;

use plotters::style::RGBColor;

use crate::error::ReportError;
use crate::knee::{ControllerKnee, KneeReport};
use crate::record::Phase;
use crate::render::charts::{self, KneeCurve, StackedBar};
use crate::render::cpu_list;
use crate::render::escape::escape;
use crate::render::html::{figure, page, steps_table};

const KNEE_NOTE: &str = "knee_100ms: the highest rate up to which every step kept warm claim \
    Ready p99 ≤ 100 ms with every claim Ready; knee_1s: the same with p99 < 1 s. A knee at the \
    last step's rate means no step gave way: the controller's real knee lies beyond the scenario. \
    A warm-up's claims, sent before the first step, count in no step and no knee.";

/// API writes per claim by request, a column per step and one for the whole load.
fn writes_by_request_table(out: &mut String, table: &super::WritesByRequest) {
    let columns: String = table.columns.iter().map(|c| format!(" {c} |")).collect();
    let _ = write!(
        out,
        "\nAPI writes per claim, by request:\n\n| request |{columns}\n|---|{}\n",
        "--:|".repeat(table.columns.len())
    );
    for (request, cells) in &table.rows {
        let cells: String = cells
            .iter()
            .map(|c| format!(" {} |", super::format_writes(*c)))
            .collect();
        let _ = writeln!(out, "| `{request}` |{cells}");
    }
}

/// `knee.md`: the knees side by side, then each controller's steps.
pub fn render_knee_markdown(report: &KneeReport) -> String {
    let mut out = format!(
        "## sandbox-bench knee: `{}`\n\n| controller | knee_100ms | knee_1s | writes per claim | CPU per claim |\n|---|--:|--:|--:|---|\n",
        report.scenario
    );
    for (name, run) in &report.controllers {
        let _ = writeln!(
            out,
            "| {name} | {}/s | {}/s | {:.1} | {} |",
            run.knee_100ms,
            run.knee_1s,
            run.writes_per_claim,
            cpu_list(&run.cpu_seconds_per_claim)
        );
    }
    let _ = writeln!(out, "\n{KNEE_NOTE}");
    for (name, run) in &report.controllers {
        let _ = writeln!(
            out,
            "\n### {name}\n\n| rate | claims | not Ready | claim Ready p50 | p90 | p99 | writes per claim | CPU per claim |\n|--:|--:|--:|--:|--:|--:|--:|---|"
        );
        for (step, label) in super::step_rows(run.warm_up.as_ref(), &run.steps) {
            let ready = step.phase(Phase::ClaimReady);
            let ms = |pick: fn(&crate::StepPhase) -> f64| {
                ready.map_or("–".into(), |p| format!("{:.1} ms", pick(p)))
            };
            let writes = step
                .writes_per_claim
                .map_or("–".into(), |w| format!("{w:.1}"));
            let _ = writeln!(
                out,
                "| {label}{}/s | {} | {} | {} | {} | {} | {writes} | {} |",
                step.rate_per_s,
                step.claims,
                step.not_ready,
                ms(|p| p.p50_ms),
                ms(|p| p.p90_ms),
                ms(|p| p.p99_ms),
                cpu_list(&step.cpu_seconds_per_claim)
            );
        }
        if let Some(table) = super::WritesByRequest::of(
            run.warm_up.as_ref(),
            &run.steps,
            Some(&run.writes_by_request),
        ) {
            writes_by_request_table(&mut out, &table);
        }
        let _ = writeln!(out, "\nRun: `{}`", run.run);
    }
    out
}

/// A controller's colour, the same on every knee chart: the floors grey (the lines to beat;
/// the spec floor lighter), the others from a fixed palette in name order (`names`: every
/// controller on the chart, sorted).
pub(crate) fn controller_color<'a>(
    names: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> RGBColor {
    const PALETTE: [RGBColor; 5] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(44, 160, 44),
    ];
    if let Some(grey) = floor_grey(name) {
        return grey;
    }
    let index = names
        .into_iter()
        .filter(|n| floor_grey(n).is_none())
        .position(|n| n == name)
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// A floor's grey, `None` for a controller.
fn floor_grey(name: &str) -> Option<RGBColor> {
    match name {
        "floor" => Some(RGBColor(90, 90, 90)),
        "spec-floor" => Some(RGBColor(160, 160, 160)),
        _ => None,
    }
}

/// The points of a controller's curve: each step's claim Ready p99 at its rate.
pub(crate) fn curve_points(run: &ControllerKnee) -> Vec<(f64, f64)> {
    run.steps
        .iter()
        .filter_map(|step| Some((step.rate_per_s, step.phase(Phase::ClaimReady)?.p99_ms)))
        .collect()
}

/// `knee.html`: self-contained like `report.html`; it links each controller's own report,
/// which sits in the controller's run directory beside it.
pub fn render_knee_html(report: &KneeReport) -> Result<String, ReportError> {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>sandbox-bench knee: {}</h1>\n<table>\n<thead><tr><th>controller</th>\
         <th class=\"num\">knee_100ms</th><th class=\"num\">knee_1s</th>\
         <th class=\"num\">writes per claim</th><th>CPU per claim</th><th>run</th></tr></thead>\n<tbody>",
        escape(&report.scenario)
    );
    for (name, run) in &report.controllers {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}/s</td><td class=\"num\">{}/s</td>\
             <td class=\"num\">{:.1}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            run.knee_100ms,
            run.knee_1s,
            run.writes_per_claim,
            escape(&cpu_list(&run.cpu_seconds_per_claim)),
            report_link(run)
        );
    }
    let _ = writeln!(
        body,
        "</tbody>\n</table>\n<p class=\"note\">{}</p>",
        escape(KNEE_NOTE)
    );

    let curves: Vec<KneeCurve> = report
        .controllers
        .iter()
        .map(|(name, run)| KneeCurve {
            label: name.clone(),
            color: controller_color(report.controllers.keys().map(String::as_str), name),
            points: curve_points(run),
        })
        .collect();
    figure(
        &mut body,
        &charts::knee_curves("Warm claim Ready p99 by offered rate", &curves)?,
        "Each point is one step of the load; the dashed lines are the knees' bounds.",
    );
    let bars: Vec<StackedBar> = report
        .controllers
        .iter()
        .map(|(name, run)| StackedBar {
            label: name.clone(),
            parts: run
                .cpu_seconds_per_claim
                .iter()
                .map(|(process, seconds)| (process.clone(), seconds * 1000.0))
                .collect(),
        })
        .collect();
    figure(
        &mut body,
        &charts::stacked_bars(
            "CPU per warm claim, by process",
            "CPU ms per claim (refill included)",
            &bars,
            &charts::process_color,
        )?,
        "CPU seconds of each process over the whole load, divided by the claims made.",
    );

    for (name, run) in &report.controllers {
        let _ = writeln!(body, "<h2>{}</h2>", escape(name));
        steps_table(
            &mut body,
            run.warm_up.as_ref(),
            &run.steps,
            run.knee_100ms,
            run.knee_1s,
            Some(&run.writes_by_request),
        );
    }
    Ok(page(
        &format!("sandbox-bench knee: {}", report.scenario),
        &body,
    ))
}

/// A link to the run's `report.html`, relative to `knee.html` in the run's parent directory.
fn report_link(run: &ControllerKnee) -> String {
    let dir = std::path::Path::new(&run.run)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.is_empty() {
        return escape(&run.run);
    }
    let href = escape(&format!("{dir}/report.html"));
    format!("<a href=\"{href}\">{href}</a>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knee::Knee;
    use crate::sample::sample_knee;

    #[test]
    fn the_markdown_puts_the_knees_side_by_side_then_the_steps() {
        let md = render_knee_markdown(&sample_knee());
        assert!(
            md.contains(
                "| floor | 30/s | 45/s | 3.0 | etcd 4.0 ms, floor 2.0 ms, kube-apiserver 20.0 ms |"
            ),
            "{md}"
        );
        assert!(md.contains("| reference | 20/s | 30/s |"), "{md}");
        // Writes by request: a column per step and the whole load, the most frequent first,
        // a request the whole load lacks still shown for the steps that made it.
        assert!(
            md.contains("| request | 5/s | 10/s | 15/s | 20/s | 30/s | 45/s | whole load |"),
            "{md}"
        );
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| `"))
            .take(4)
            .collect();
        assert_eq!(
            rows,
            [
                "| `PATCH sandboxclaims/status` | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |",
                "| `PATCH sandboxes` | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |",
                "| `POST sandboxclaims` | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |",
                "| `POST events` | 0.50 | 0.50 | 0.50 | 0.50 | 0.50 | 0.50 | 0.00 |",
            ],
            "{md}"
        );
        assert!(
            md.contains("### reference")
                && md.contains(
                    "| 5/s | 300 | 0 | 11.5 ms | 18.4 ms | 23.0 ms | 3.5 | kube-apiserver 25.0 ms |"
                ),
            "{md}"
        );
    }

    #[test]
    fn the_html_has_both_charts_every_controller_and_links_to_the_runs() {
        let html = render_knee_html(&sample_knee()).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 2);
        // Three curves, one point per step: 5 + 6 + 2.
        assert_eq!(html.matches("<circle").count(), 13, "step points");
        assert!(html.contains("aria-label=\"Warm claim Ready p99 by offered rate\""));
        assert!(html.contains("aria-label=\"CPU per warm claim, by process\""));
        assert!(html.contains("<a href=\"reference/report.html\">"));
        assert!(html.contains("<h2>floor</h2>") && html.contains("<h2>reference</h2>"));
        assert_eq!(
            html.matches("<caption>API writes per claim, by request</caption>")
                .count(),
            3,
            "a writes table per controller"
        );
        assert!(html.contains("<tr><td><code>POST events</code></td><td class=\"num\">0.50</td>"));
        assert!(html.contains("<td class=\"num\">20/s</td><td class=\"num\">30/s</td>"));
        // Offline: nothing fetched, only the relative links to the runs' own reports.
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("src=") && !html.contains("url("));
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let report = sample_knee();
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"schema\":\"sandbox-bench/knee/v1\""));
        assert_eq!(serde_json::from_str::<KneeReport>(&json).unwrap(), report);
        assert_eq!(report.controllers["reference"].knee(Knee::S1), 30.0);
    }

    #[test]
    fn the_floors_are_grey_and_the_controllers_keep_their_palette_colours() {
        let names = ["floor", "reference", "spec-floor", "upstream"];
        let floor = controller_color(names, "floor");
        let spec_floor = controller_color(names, "spec-floor");
        assert_ne!(floor, spec_floor);
        for grey in [floor, spec_floor] {
            assert!(grey.0 == grey.1 && grey.1 == grey.2, "{grey:?}");
        }
        // The floors take no place in the palette: the controllers colour as without them.
        assert_eq!(
            controller_color(names, "reference"),
            controller_color(["reference", "upstream"], "reference")
        );
        assert_eq!(
            controller_color(names, "upstream"),
            controller_color(["reference", "upstream"], "upstream")
        );
        assert_ne!(
            controller_color(names, "reference"),
            controller_color(names, "upstream")
        );
    }
}
