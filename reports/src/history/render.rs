//! `index.html` of the history site: badges, the regressions, one trend chart per series
//! (latency, knee, conformance), the latest knee curves, and every run with a link to its own
//! report. Self-contained like `report.html` (inline SVG and CSS, no script, nothing fetched),
//! so it opens offline and from any static host; the only links are relative, to the runs'
//! pages the site keeps beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use plotters::style::RGBColor;

use crate::error::ReportError;
use crate::history::badge::site_badges;
use crate::history::entry::{Entry, Figures, RunKind};
use crate::history::file::History;
use crate::history::regression::{BASELINE_RUNS, MIN_BASELINE_RUNS, Mark, MarkKind, MetricOf};
use crate::history::series::{
    ConformancePoint, KneePoint, LatencyPoint, charted_launch, conformance_series, knee_series,
    latency_series,
};
use crate::record::Phase;
use crate::render::charts::{self, KneeCurve, TrendBound, TrendLine, phase_color};
use crate::render::escape::escape;
use crate::render::html::{figure, page_styled};
use crate::render::knee::controller_color;
use crate::render::{format_ms, short_commit};

const STYLE: &str = "
body { max-width: 980px; }
.badges svg { margin: 0 .35rem .35rem 0; width: auto; height: 20px; }
.grid figure { width: 470px; } .grid figcaption { font-size: .8rem; }
tr.regression td { color: #b3261e; } tr.improvement td { color: #17702c; }
td.wrap { max-width: 22rem; overflow-wrap: anywhere; } td.nowrap, td.num { white-space: nowrap; }
";

const NOISE_NOTE: &str = "Each point is judged against the points before it in its series (same \
    scenario, phase, launch type, controller and machine): the baseline is the last up to \
    BASELINE runs, and the band is their median ± k × 1.4826 × MAD (median absolute deviation): \
    3 robust standard deviations, widened for small baselines so that ordinary noise is flagged \
    no more often than 3σ would be (k is 430 with 3 runs, 7.1 with 10, 4.6 with 20). With a MAD \
    of 0 the band is ± the baseline's range, never narrower than the histograms' resolution. A \
    point needs MIN earlier runs before it is judged. Above the band is a regression (red \
    triangle), below an improvement; for knees the other way round; a conformance run with more \
    failed cases than the one before is a regression.";

/// Renders `index.html` from the history alone.
pub fn render_index(history: &History) -> Result<String, ReportError> {
    let mut body = String::new();
    body.push_str("<h1>sandbox-bench history</h1>\n");
    overview(&mut body, history);
    regressions(&mut body, history);
    latency_trends(&mut body, history)?;
    knees(&mut body, history)?;
    conformance(&mut body, history)?;
    runs_table(&mut body, history);
    Ok(page_styled("sandbox-bench history", STYLE, &body))
}

fn overview(body: &mut String, history: &History) {
    let count = |kind| history.entries.iter().filter(|e| e.kind() == kind).count();
    let span = match (history.entries.first(), history.entries.last()) {
        (Some(first), Some(last)) => format!(", {} to {}", first.date(), last.date()),
        _ => String::new(),
    };
    let _ = writeln!(
        body,
        "<p>{} ({} bench, {} knee, {} conformance){}.</p>",
        run_count(history.entries.len()),
        count(RunKind::Bench),
        count(RunKind::Knee),
        count(RunKind::Conformance),
        escape(&span)
    );
    body.push_str("<p class=\"badges\">");
    for named in site_badges(history) {
        let _ = write!(
            body,
            "<a href=\"badges/{}\">{}</a>",
            escape(&named.file),
            named.badge.inline_svg()
        );
    }
    body.push_str(
        "</p>\n<p class=\"note\">Each badge is also a file in <code>badges/</code> (follow \
         it), to show in a README from wherever the site is served.</p>\n",
    );
}

fn regressions(body: &mut String, history: &History) {
    body.push_str("<h2>Regressions</h2>\n");
    let standing = history.current_regressions();
    let _ = writeln!(
        body,
        "<p class=\"verdict {}\">{}</p>",
        if standing.is_empty() { "pass" } else { "fail" },
        match standing.len() {
            0 => "No series' newest run is a regression.".to_string(),
            1 => "1 series' newest run is a regression:".to_string(),
            n => format!("{n} series' newest runs are regressions:"),
        }
    );
    // One machine (the usual case): the series need not repeat it.
    let machines: BTreeSet<&str> = history.entries.iter().map(|e| e.machine.as_str()).collect();
    let series = |mark: &Mark| match machines.iter().next() {
        Some(machine) if machines.len() == 1 => mark
            .series
            .strip_suffix(&format!(" · {machine}"))
            .unwrap_or(&mark.series)
            .to_string(),
        _ => mark.series.clone(),
    };
    let table = |body: &mut String, marks: &[&Mark]| {
        body.push_str(
            "<table>\n<thead><tr><th>run</th><th></th><th>series</th><th>metric</th>\
             <th class=\"num\">value</th><th class=\"num\">baseline: median, band</th></tr>\
             </thead>\n<tbody>\n",
        );
        // Newest run first: what a reader looks for.
        let mut rows: Vec<(&Entry, &Mark)> = marks
            .iter()
            .filter_map(|mark| Some((history.entry(&mark.run)?, *mark)))
            .collect();
        rows.sort_by(|(a, _), (b, _)| (&b.started_at, &b.id).cmp(&(&a.started_at, &a.id)));
        for (entry, mark) in rows {
            let kind = match mark.kind {
                MarkKind::Regression => "regression",
                MarkKind::Improvement => "improvement",
            };
            let _ = writeln!(
                body,
                "<tr class=\"{kind}\"><td class=\"nowrap\">{}</td><td>{kind}</td><td>{}</td>\
                 <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}, {} – {} ({} runs)</td></tr>",
                run_link(entry, &entry.date()),
                escape(&series(mark)),
                escape(&mark.metric),
                mark.format(mark.value),
                mark.format(mark.band.median),
                mark.format(mark.band.low),
                mark.format(mark.band.high),
                mark.band.runs
            );
        }
        body.push_str("</tbody>\n</table>\n");
    };
    if !standing.is_empty() {
        table(body, &standing);
    }
    let note = NOISE_NOTE
        .replace("BASELINE", &BASELINE_RUNS.to_string())
        .replace("MIN", &MIN_BASELINE_RUNS.to_string());
    let _ = writeln!(body, "<p class=\"note\">{}</p>", escape(&note));
    if history.marks.is_empty() {
        body.push_str("<p>No point is outside its band.</p>\n");
        return;
    }
    // Every mark, older ones included, folded away (no script: the browser's own <details>).
    let _ = writeln!(
        body,
        "<details><summary>Every point outside its band ({})</summary>",
        history.marks.len()
    );
    table(body, &history.marks.iter().collect::<Vec<_>>());
    body.push_str("</details>\n");
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `06-01` of a point's start, for a chart's x axis.
fn axis_date(started_at: &str) -> String {
    started_at.get(5..10).unwrap_or(started_at).to_string()
}

/// Where series `label`'s points were marked as regressions, metric by metric: `(index, value)`
/// with the value the metric's line draws the point at.
fn regressed_points<P>(
    history: &History,
    label: &str,
    points: &[P],
    run: fn(&P) -> &str,
    metrics: &[MetricOf<P>],
) -> Vec<(usize, f64)> {
    metrics
        .iter()
        .flat_map(|&(metric, value)| {
            points
                .iter()
                .enumerate()
                .filter(move |(_, point)| {
                    history.marks.iter().any(|m| {
                        m.series == label
                            && m.run == run(point)
                            && m.kind == MarkKind::Regression
                            && m.metric == metric
                    })
                })
                .map(move |(index, point)| (index, value(point)))
        })
        .collect()
}

/// A trend chart's line: `value` of each point, in run order.
fn line<P>(
    label: &str,
    color: RGBColor,
    points: &[P],
    value: fn(&P) -> f64,
    bold: bool,
) -> TrendLine {
    TrendLine {
        label: label.to_string(),
        color,
        points: points.iter().map(value).enumerate().collect(),
        bold,
    }
}

fn latency_trends(body: &mut String, history: &History) -> Result<(), ReportError> {
    body.push_str("<h2>Latency trends</h2>\n");
    let series = latency_series(&history.entries);
    if series.is_empty() {
        body.push_str("<p>No bench runs yet.</p>\n");
        return Ok(());
    }
    let machines: BTreeSet<&str> = series.keys().map(|key| key.machine.as_str()).collect();
    let mut scenarios: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for (key, points) in &series {
        scenarios
            .entry(key.scenario.as_str())
            .or_default()
            .push((key, points));
    }
    for (scenario, charts) in scenarios {
        let _ = writeln!(body, "<h3>{}</h3>\n<div class=\"grid\">", escape(scenario));
        for (key, points) in charts {
            let color = phase_color(key.phase);
            let bounds: Vec<TrendBound> = points
                .last()
                .map(|p| {
                    p.slo_bounds
                        .iter()
                        .map(|(label, value)| TrendBound {
                            label: label.clone(),
                            value: *value,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let regressed = regressed_points(
                history,
                &key.label(),
                points,
                |p: &LatencyPoint| p.run.as_str(),
                &[("p99", |p: &LatencyPoint| p.p99_ms), ("p50", |p| p.p50_ms)],
            );
            let mut title = format!("{} · {}", key.subject(), key.controller);
            if machines.len() > 1 {
                let _ = write!(title, " · {}", key.machine);
            }
            let svg = charts::trend(
                &title,
                "ms",
                &points
                    .iter()
                    .map(|p| axis_date(&p.started_at))
                    .collect::<Vec<_>>(),
                &[
                    line("p99", color, points, |p| p.p99_ms, true),
                    line("p50", mix(color), points, |p| p.p50_ms, false),
                ],
                &bounds,
                &regressed,
            )?;
            let newest = points.last().expect("a series has a point");
            let gating = if key.gating() {
                ""
            } else {
                " Harness lag is the harness's own: charted, never marked."
            };
            figure(
                body,
                &svg,
                &format!(
                    "{}; newest {}: p50 {}, p99 {}{}.{gating}",
                    run_count(points.len()),
                    newest.started_at.get(..10).unwrap_or(&newest.started_at),
                    format_ms(newest.p50_ms),
                    format_ms(newest.p99_ms),
                    newest
                        .commit
                        .as_deref()
                        .map(|c| format!(", commit {}", short_commit(c)))
                        .unwrap_or_default(),
                ),
            );
        }
        body.push_str("</div>\n");
    }
    Ok(())
}

/// A lighter shade of a colour, for the thin line beside a bold one.
fn mix(color: RGBColor) -> RGBColor {
    let light = |c: u8| ((u16::from(c) + 255) / 2) as u8;
    RGBColor(light(color.0), light(color.1), light(color.2))
}

const KNEE_100MS: RGBColor = RGBColor(31, 119, 180);
const KNEE_1S: RGBColor = RGBColor(255, 127, 14);

fn knees(body: &mut String, history: &History) -> Result<(), ReportError> {
    body.push_str("<h2>Knee</h2>\n");
    let series = knee_series(&history.entries);
    if series.is_empty() {
        body.push_str("<p>No knee runs yet.</p>\n");
        return Ok(());
    }
    body.push_str(
        "<p class=\"note\">knee_100ms and knee_1s: the highest offered rate at which every step \
         kept warm claim Ready p99 ≤ 100 ms (&lt; 1 s) with every claim Ready. Higher is \
         better; a knee below its band is a regression.</p>\n<div class=\"grid\">\n",
    );
    for (key, points) in &series {
        let regressed = regressed_points(
            history,
            &key.label(),
            points,
            |p: &KneePoint| p.run.as_str(),
            &[
                ("knee_100ms", |p: &KneePoint| p.knee_100ms),
                ("knee_1s", |p| p.knee_1s),
            ],
        );
        let svg = charts::trend(
            &format!("{} · scenario {}", key.controller, key.scenario),
            "claims per second",
            &points
                .iter()
                .map(|p| axis_date(&p.started_at))
                .collect::<Vec<_>>(),
            &[
                line("knee_1s", KNEE_1S, points, |p| p.knee_1s, true),
                line("knee_100ms", KNEE_100MS, points, |p| p.knee_100ms, true),
            ],
            &[],
            &regressed,
        )?;
        let newest = points.last().expect("a series has a point");
        figure(
            body,
            &svg,
            &format!(
                "{} on {}; newest: knee_100ms {}/s, knee_1s {}/s.",
                run_count(points.len()),
                key.machine,
                round2(newest.knee_100ms),
                round2(newest.knee_1s)
            ),
        );
    }
    body.push_str("</div>\n");

    // The newest knee run of each scenario, its curves as knee.html draws them.
    let mut latest: BTreeMap<&str, &Entry> = BTreeMap::new();
    for entry in &history.entries {
        if matches!(entry.figures, Figures::Knee(_)) {
            latest.insert(entry.scenario.as_str(), entry);
        }
    }
    for (scenario, entry) in latest {
        let Figures::Knee(figures) = &entry.figures else {
            continue;
        };
        let _ = writeln!(
            body,
            "<h3>Latest knee curves: {}, {}</h3>",
            escape(scenario),
            run_link(entry, &entry.date())
        );
        let names = || figures.controllers.keys().map(String::as_str);
        let curves: Vec<KneeCurve> = figures
            .controllers
            .iter()
            .map(|(name, knee)| KneeCurve {
                label: name.clone(),
                color: controller_color(names(), name),
                points: knee.curve.iter().map(|&[rate, p99]| (rate, p99)).collect(),
            })
            .collect();
        figure(
            body,
            &charts::knee_curves("Warm claim Ready p99 by offered rate", &curves)?,
            "Each point is one step of the load; the dashed lines are the knees' bounds.",
        );
    }
    Ok(())
}

const PASSED: RGBColor = RGBColor(44, 160, 44);
const FAILED: RGBColor = RGBColor(214, 39, 40);

fn conformance(body: &mut String, history: &History) -> Result<(), ReportError> {
    body.push_str("<h2>Conformance</h2>\n");
    let series = conformance_series(&history.entries);
    if series.is_empty() {
        body.push_str("<p>No conformance runs yet.</p>\n");
        return Ok(());
    }
    body.push_str("<div class=\"grid\">\n");
    for (key, points) in &series {
        let svg = charts::trend(
            &format!("conformance · {} · spec {}", key.controller, key.spec),
            "cases",
            &points
                .iter()
                .map(|p| axis_date(&p.started_at))
                .collect::<Vec<_>>(),
            &[
                line("passed", PASSED, points, |p| p.passed as f64, true),
                line("failed", FAILED, points, |p| p.failed as f64, true),
            ],
            &[],
            &regressed_points(
                history,
                &key.label(),
                points,
                |p: &ConformancePoint| p.run.as_str(),
                &[("failed cases", |p: &ConformancePoint| p.failed as f64)],
            ),
        )?;
        let newest = points.last().expect("a series has a point");
        figure(
            body,
            &svg,
            &format!(
                "{}; newest: {} passed, {} failed, {} skipped.",
                run_count(points.len()),
                newest.passed,
                newest.failed,
                newest.skipped
            ),
        );
    }
    body.push_str(
        "</div>\n<table>\n<thead><tr><th>run</th><th>controller</th><th>spec</th>\
         <th class=\"num\">passed</th><th class=\"num\">failed</th><th class=\"num\">skipped</th>\
         <th>failed cases</th></tr></thead>\n<tbody>\n",
    );
    for entry in history.entries.iter().rev() {
        let Figures::Conformance(figures) = &entry.figures else {
            continue;
        };
        let class = if figures.failed == 0 && figures.problems.is_empty() {
            "pass"
        } else {
            "fail"
        };
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
            run_link(entry, &entry.date()),
            escape(
                entry
                    .controller_version
                    .as_deref()
                    .unwrap_or(entry.controller_label())
            ),
            escape(&figures.spec),
            figures.passed,
            figures.failed,
            figures.skipped,
            escape(&figures.failed_cases.join(", "))
        );
    }
    body.push_str("</tbody>\n</table>\n");
    Ok(())
}

fn runs_table(body: &mut String, history: &History) {
    body.push_str(
        "<h2>Runs</h2>\n<table>\n<thead><tr><th>started</th><th>run</th><th>controller</th>\
         <th>commit</th><th>headline</th><th>verdict</th><th>report</th></tr></thead>\n<tbody>\n",
    );
    for entry in history.entries.iter().rev() {
        let regressed = history.regressions_of(&entry.id).count();
        let (class, verdict) = verdict(entry, regressed);
        let report = match &entry.report {
            Some(_) => run_link(entry, entry.kind().report_file()),
            None => "–".into(),
        };
        let _ = writeln!(
            body,
            "<tr><td class=\"nowrap\">{}</td><td>{} <code>{}</code></td><td title=\"{}\">{}</td>\
             <td><code>{}</code></td><td class=\"wrap\">{}</td><td class=\"{class}\">{}</td>\
             <td>{report}</td></tr>",
            escape(&entry.date()),
            entry.kind().as_str(),
            escape(&entry.scenario),
            escape(&format!("machine {}", entry.machine)),
            escape(
                entry
                    .controller_version
                    .as_deref()
                    .unwrap_or(entry.controller_label())
            ),
            escape(entry.commit.as_deref().map_or("–", short_commit)),
            escape(&headline(entry)),
            escape(&verdict)
        );
    }
    body.push_str("</tbody>\n</table>\n");
}

/// A link to the run's own page, or the text alone when the site has none.
fn run_link(entry: &Entry, text: &str) -> String {
    match &entry.report {
        Some(href) => format!("<a href=\"{}\">{}</a>", escape(href), escape(text)),
        None => escape(text),
    }
}

/// The one number a run is known by: claim Ready p99 (of the SLO's launch type), the knees,
/// or the conformance counts.
pub fn headline(entry: &Entry) -> String {
    match &entry.figures {
        Figures::Bench(figures) => {
            let launch = charted_launch(figures, Phase::ClaimReady);
            let row = figures
                .phases
                .iter()
                .find(|h| h.phase == Phase::ClaimReady && h.launch == launch)
                .or_else(|| {
                    figures
                        .phases
                        .iter()
                        .rev()
                        .find(|h| h.launch.is_none() && h.phase != Phase::HarnessLag)
                });
            match row {
                Some(row) => {
                    let launch = row.launch.map_or(String::new(), |l| format!(" ({l})"));
                    format!("{}{launch} p99 {}", row.phase, format_ms(row.p99_ms))
                }
                None => format!("{} claims, none measured", figures.claims),
            }
        }
        Figures::Knee(figures) => figures
            .controllers
            .iter()
            .map(|(name, knee)| {
                format!(
                    "{name} {}/s · {}/s",
                    round2(knee.knee_100ms),
                    round2(knee.knee_1s)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Figures::Conformance(figures) => format!(
            "{} passed, {} failed, {} skipped",
            figures.passed, figures.failed, figures.skipped
        ),
    }
}

/// The run's own verdict (SLOs, conformance), and whether the history marked it regressed.
pub fn verdict(entry: &Entry, regressions: usize) -> (&'static str, String) {
    let own = match &entry.figures {
        Figures::Bench(figures) => match figures.slo_passed {
            Some(true) => Some((true, "SLOs met")),
            Some(false) => Some((false, "SLOs not met")),
            None => None,
        },
        Figures::Knee(_) => None,
        Figures::Conformance(figures) => {
            Some(if figures.failed == 0 && figures.problems.is_empty() {
                (true, "passed")
            } else {
                (false, "failed")
            })
        }
    };
    let regressed = match regressions {
        0 => None,
        1 => Some("1 regression".to_string()),
        n => Some(format!("{n} regressions")),
    };
    let failed = own.is_some_and(|(passed, _)| !passed) || regressed.is_some();
    let text = [own.map(|(_, text)| text.to_string()), regressed]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let class = if failed {
        "fail"
    } else if own.is_some() {
        "pass"
    } else {
        "note"
    };
    (class, if text.is_empty() { "–".into() } else { text })
}

/// `1 run`, `3 runs`.
fn run_count(n: usize) -> String {
    if n == 1 {
        "1 run".to_string()
    } else {
        format!("{n} runs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_history;

    #[test]
    fn the_index_has_a_chart_per_series_and_links_every_run() {
        let history = sample_history().unwrap();
        let html = render_index(&history).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        let latency = latency_series(&history.entries).len();
        let knee = knee_series(&history.entries).len();
        let conformance = conformance_series(&history.entries).len();
        let knee_scenarios = 1;
        let charts = html.matches("<svg role=\"img\"").count();
        assert_eq!(
            charts,
            latency + knee + knee_scenarios + conformance,
            "charts"
        );
        for entry in &history.entries {
            let href = format!("href=\"{}\"", entry.report.as_deref().unwrap());
            assert!(html.contains(&href), "no link to {href}");
        }
        for section in [
            "<h2>Regressions</h2>",
            "<h2>Latency trends</h2>",
            "<h2>Knee</h2>",
            "<h2>Conformance</h2>",
            "<h2>Runs</h2>",
            "<h3>Latest knee curves: knee, ",
        ] {
            assert!(html.contains(section), "missing {section}");
        }
        // The sample's slow last run is marked, in its chart and in the table.
        assert!(html.contains("<tr class=\"regression\">"));
        // plotters puts a chart's text on its own line inside <text>.
        assert!(html.replace('\n', "").contains(">regression</text>"));
        assert!(html.contains("SLO p99 ≤ 100 ms"));
        // Offline: nothing fetched, no URL but the relative links.
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("src=") && !html.contains("url(") && !html.contains("<script"));
    }

    #[test]
    fn an_empty_history_renders_with_each_section_saying_so() {
        let html = render_index(&History::default()).unwrap();
        assert!(html.contains("<p>0 runs (0 bench, 0 knee, 0 conformance).</p>"));
        assert!(html.contains("No bench runs yet."));
        assert!(html.contains("No knee runs yet."));
        assert!(html.contains("No conformance runs yet."));
        assert!(html.contains("No point is outside its band."));
    }

    #[test]
    fn headlines_and_verdicts_say_what_each_run_is_known_by() {
        let history = sample_history().unwrap();
        let of_kind = |kind| history.entries.iter().find(|e| e.kind() == kind).unwrap();
        let bench = of_kind(RunKind::Bench);
        assert!(
            headline(bench).starts_with("claim_ready (warm) p99 "),
            "{}",
            headline(bench)
        );
        assert_eq!(verdict(bench, 0).0, "pass");
        assert_eq!(
            verdict(bench, 2),
            ("fail", "SLOs met, 2 regressions".into())
        );
        let knee = of_kind(RunKind::Knee);
        assert!(
            headline(knee).contains("reference 20/s · 30/s"),
            "{}",
            headline(knee)
        );
        assert_eq!(verdict(knee, 0), ("note", "–".into()));
        let conformance = of_kind(RunKind::Conformance);
        assert_eq!(headline(conformance), "44 passed, 0 failed, 0 skipped");
        assert_eq!(
            verdict(conformance, 1),
            ("fail", "passed, 1 regression".into())
        );
    }
}
