//! `summary.md`: what one publish did, in Markdown for a pull-request comment: the runs
//! published, the regressions among them, and each series' newest published run against the
//! run before it (on a pull request, the last run of main the site holds).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::history::entry::Entry;
use crate::history::file::{Added, History};
use crate::history::regression::{
    Direction, Judgement, MIN_BASELINE_RUNS, MarkKind, MetricSeries, RATE_RESOLUTION,
    banded_metrics, format_metric, judge_point,
};
use crate::history::render::{headline, verdict};
use crate::history::series::conformance_series;
use crate::render::short_commit;

/// A run given to one publish and what adding it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    pub added: Added,
}

/// Markdown table cells: no line breaks, no unescaped pipes.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The summary of one publish of `published` into `history` (which already holds them).
pub fn render_summary(history: &History, published: &[Published]) -> String {
    let ids: BTreeSet<&str> = published.iter().map(|p| p.id.as_str()).collect();
    let count = |added| published.iter().filter(|p| p.added == added).count();
    let mut out = format!(
        "## sandbox-bench: {} run{} published\n\n{} new, {} updated, {} already in the history \
         of {} runs.\n\n",
        published.len(),
        if published.len() == 1 { "" } else { "s" },
        count(Added::New),
        count(Added::Replaced),
        count(Added::Unchanged),
        history.entries.len()
    );
    let entries: Vec<&Entry> = history
        .entries
        .iter()
        .filter(|e| ids.contains(e.id.as_str()))
        .collect();
    if !entries.is_empty() {
        out.push_str("| run | kind | controller | commit | headline | verdict |\n|---|---|---|---|---|---|\n");
        for entry in &entries {
            let (_, verdict) = verdict(entry, history.regressions_of(&entry.id).count());
            let _ = writeln!(
                out,
                "| {} `{}` | {} | {} | {} | {} | {} |",
                cell(&entry.date()),
                cell(&entry.scenario),
                entry.kind().as_str(),
                cell(
                    entry
                        .controller_version
                        .as_deref()
                        .unwrap_or(entry.controller_label())
                ),
                entry
                    .commit
                    .as_deref()
                    .map_or("–".into(), |c| format!("`{}`", short_commit(c))),
                cell(&headline(entry)),
                cell(&verdict)
            );
        }
        out.push('\n');
    }

    let regressions: Vec<_> = history
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Regression && ids.contains(m.run.as_str()))
        .collect();
    if regressions.is_empty() {
        out.push_str(
            "### Regressions: none\n\nEvery published point is within its baseline's noise band \
             or has no baseline yet.\n\n",
        );
    } else {
        let _ = writeln!(
            out,
            "### Regressions: {}\n\n| series | metric | value | baseline median | band |\n|---|---|--:|--:|--:|",
            regressions.len()
        );
        for mark in regressions {
            let value = |v: f64| mark.format(v);
            let _ = writeln!(
                out,
                "| {} | {} | **{}** | {} | {} – {} ({} runs) |",
                cell(&mark.series),
                mark.metric,
                value(mark.value),
                value(mark.band.median),
                value(mark.band.low),
                value(mark.band.high),
                mark.band.runs
            );
        }
        out.push('\n');
    }

    let rows = comparisons(history, &ids);
    if !rows.is_empty() {
        out.push_str(
            "### Against the previous run\n\n| series | metric | previous | this run | change | \
             against the noise band |\n|---|---|--:|--:|--:|---|\n",
        );
        for row in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&row.series),
                row.metric,
                row.previous,
                row.current,
                row.change,
                row.judgement
            );
        }
        out.push('\n');
    }
    out.push_str(
        "The site's `index.html` has every series' trend. The noise band is the median of the \
         series' last runs ± 3 robust standard deviations, widened for few runs.\n",
    );
    out
}

struct Row {
    series: String,
    metric: &'static str,
    previous: String,
    current: String,
    change: String,
    judgement: String,
}

/// For every series with a published point: its newest published point against the point
/// before it, and how the noise band judges it.
fn comparisons(history: &History, ids: &BTreeSet<&str>) -> Vec<Row> {
    let metrics = banded_metrics(&history.entries);
    let conformance = conformance_series(&history.entries);
    let mut rows = Vec::new();
    for metric in &metrics {
        let Some(index) = metric
            .points
            .iter()
            .rposition(|(run, _, _)| ids.contains(run.as_str()))
        else {
            continue;
        };
        let values: Vec<f64> = metric.points.iter().map(|&(_, _, v)| v).collect();
        let current = values[index];
        let judgement = match judge_point(&values, index, metric.direction, metric.resolution) {
            Judgement::NoBaseline { runs } => {
                format!("no baseline yet ({runs} of {MIN_BASELINE_RUNS} runs)")
            }
            Judgement::Within(band) => format!(
                "within {} – {}",
                format_metric(metric.metric, band.low),
                format_metric(metric.metric, band.high)
            ),
            Judgement::Outside(band, kind) => format!(
                "**{}**: outside {} – {}",
                match kind {
                    MarkKind::Regression => "regression",
                    MarkKind::Improvement => "improvement",
                },
                format_metric(metric.metric, band.low),
                format_metric(metric.metric, band.high)
            ),
        };
        rows.push(row(metric, index, current, judgement));
    }
    for (series, points) in &conformance {
        let Some(index) = points.iter().rposition(|p| ids.contains(p.run.as_str())) else {
            continue;
        };
        let metric = MetricSeries {
            series: series.label(),
            metric: "failed cases",
            direction: Direction::HigherIsWorse,
            resolution: RATE_RESOLUTION,
            points: points
                .iter()
                .map(|p| (p.run.clone(), p.started_at.clone(), p.failed as f64))
                .collect(),
        };
        let current = metric.points[index].2;
        let judgement = match index.checked_sub(1).map(|i| metric.points[i].2) {
            None => "first run".to_string(),
            Some(previous) if current > previous => "**regression**".to_string(),
            Some(previous) if current < previous => "**improvement**".to_string(),
            Some(_) => "unchanged".to_string(),
        };
        rows.push(row(&metric, index, current, judgement));
    }
    rows
}

fn row(metric: &MetricSeries, index: usize, current: f64, judgement: String) -> Row {
    let value = |v: f64| format_metric(metric.metric, v);
    let previous = index.checked_sub(1).map(|i| &metric.points[i]);
    Row {
        series: metric.series.clone(),
        metric: metric.metric,
        previous: previous.map_or("–".into(), |(_, started_at, v)| {
            format!(
                "{} ({})",
                value(*v),
                started_at.get(..10).unwrap_or(started_at)
            )
        }),
        current: value(current),
        change: match previous {
            Some(&(_, _, before)) if before == current => "±0".into(),
            Some(&(_, _, before)) if before != 0.0 => {
                format!("{:+.1} %", 100.0 * (current - before) / before)
            }
            _ => "–".into(),
        },
        judgement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_history;

    fn published(history: &History, pick: impl Fn(&Entry) -> bool, added: Added) -> Vec<Published> {
        history
            .entries
            .iter()
            .filter(|e| pick(e))
            .map(|e| Published {
                id: e.id.clone(),
                added,
            })
            .collect()
    }

    #[test]
    fn the_newest_runs_are_compared_with_the_previous_and_the_regression_listed() {
        let history = sample_history().unwrap();
        let newest_day = |e: &Entry| e.started_at.starts_with("2025-06-08");
        let md = render_summary(&history, &published(&history, newest_day, Added::New));
        assert!(
            md.starts_with("## sandbox-bench: 4 runs published\n\n4 new, 0 updated, 0 already"),
            "{md}"
        );
        assert!(md.contains("### Regressions: "), "{md}");
        assert!(!md.contains("### Regressions: none"), "{md}");
        assert!(
            md.contains(
                "| default · claim_ready (warm) · reference · 2c-24g-linux-6.12.0 | p99 | **"
            ),
            "{md}"
        );
        assert!(md.contains("### Against the previous run"), "{md}");
        // The slow run's p99 against day 7's, judged against the band of the days before.
        let line = md
            .lines()
            .find(|l| {
                l.starts_with("| default · claim_ready (warm) · reference")
                    && l.contains("| p99 |")
                    && l.contains("(2025-06-07)")
            })
            .unwrap_or_else(|| panic!("{md}"));
        assert!(line.contains("**regression**: outside"), "{line}");
        assert!(line.contains(" +"), "a positive change: {line}");
        // Conformance on day 8 recovered from day 7? It equals day 7: unchanged.
        assert!(md.contains("| conformance · reference · latest | failed cases | 0 (2025-06-07) | 0 | ±0 | unchanged |"), "{md}");
    }

    #[test]
    fn republishing_says_nothing_was_new_and_first_runs_have_no_baseline() {
        let history = sample_history().unwrap();
        let first_day = |e: &Entry| e.started_at.starts_with("2025-06-01");
        let md = render_summary(&history, &published(&history, first_day, Added::Unchanged));
        assert!(
            md.contains("0 new, 0 updated, 3 already in the history"),
            "{md}"
        );
        assert!(md.contains("### Regressions: none"), "{md}");
        assert!(md.contains("no baseline yet (0 of 3 runs)"), "{md}");
        assert!(md.contains("| – | 0 | – | first run |"), "{md}");
        assert!(render_summary(&history, &[]).contains("0 runs published"));
    }
}
