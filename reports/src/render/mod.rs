//! Turning results into something people read: Markdown for PR comments, one self-contained
//! HTML page with charts, JUnit XML for CI. Shared wording lives here so all agree.

pub mod charts;
pub mod conformance;
pub mod escape;
pub mod html;
pub mod junit;
pub mod knee;
pub mod markdown;

use std::collections::BTreeMap;

use crate::record::LaunchType;
use crate::results::{Environment, Results};
use crate::summary::{LatencyDistribution, PhaseSummary};

/// Said beside a step table that opens with a warm-up.
pub(crate) const WARM_UP_NOTE: &str = "The warm-up's claims count in no step and no knee.";

/// The rows of a step table: the warm-up first, labelled as such, then the steps.
pub(crate) fn step_rows<'a>(
    warm_up: Option<&'a crate::StepSummary>,
    steps: &'a [crate::StepSummary],
) -> impl Iterator<Item = (&'a crate::StepSummary, &'static str)> {
    let warm_up = warm_up.map(|s| (s, "warm-up at "));
    warm_up.into_iter().chain(steps.iter().map(|s| (s, "")))
}

/// A stepped load's API writes per claim by request: one row per `VERB resource[/subresource]`,
/// the most frequent first; one column per step (the warm-up first) and, when given, one for
/// the whole load.
pub(crate) struct WritesByRequest {
    pub columns: Vec<String>,
    /// Each request's writes per claim in each column; `None` where the column has no readings.
    pub rows: Vec<(String, Vec<Option<f64>>)>,
}

impl WritesByRequest {
    /// `None` when no step has the breakdown (the harness did not read the API server).
    pub fn of(
        warm_up: Option<&crate::StepSummary>,
        steps: &[crate::StepSummary],
        whole: Option<&BTreeMap<String, f64>>,
    ) -> Option<Self> {
        let mut sources: Vec<(String, &BTreeMap<String, f64>)> = step_rows(warm_up, steps)
            .map(|(step, label)| {
                (
                    format!("{label}{}/s", step.rate_per_s),
                    &step.writes_by_request,
                )
            })
            .collect();
        if sources.iter().all(|(_, by)| by.is_empty()) {
            return None;
        }
        sources.extend(
            whole
                .filter(|w| !w.is_empty())
                .map(|w| ("whole load".into(), w)),
        );
        // Ranked by the whole load when known, else by the steps' sum.
        let weight = |request: &str| match whole {
            Some(w) if !w.is_empty() => w.get(request).copied().unwrap_or(0.0),
            _ => sources.iter().filter_map(|(_, by)| by.get(request)).sum(),
        };
        let mut requests: Vec<&String> = sources.iter().flat_map(|(_, by)| by.keys()).collect();
        requests.sort();
        requests.dedup();
        requests.sort_by(|a, b| weight(b).total_cmp(&weight(a)));
        let rows = requests
            .into_iter()
            .map(|request| {
                let cells = sources
                    .iter()
                    .map(|(_, by)| {
                        (!by.is_empty()).then(|| by.get(request).copied().unwrap_or(0.0))
                    })
                    .collect();
                (request.clone(), cells)
            })
            .collect();
        Some(Self {
            columns: sources.into_iter().map(|(label, _)| label).collect(),
            rows,
        })
    }
}

/// A cell of [`WritesByRequest`]: two decimals, "–" without readings.
pub(crate) fn format_writes(cell: Option<f64>) -> String {
    cell.map_or("–".into(), |w| format!("{w:.2}"))
}

/// About three significant digits, matching the histograms' precision, always in ms so a
/// column compares at a glance.
pub fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// `kube-apiserver 1.2 ms, …` from CPU seconds per claim by process; `–` when none was read.
pub fn cpu_list(cpu_seconds_per_claim: &std::collections::BTreeMap<String, f64>) -> String {
    if cpu_seconds_per_claim.is_empty() {
        return "–".into();
    }
    cpu_seconds_per_claim
        .iter()
        .map(|(process, s)| format!("{process} {:.1} ms", s * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1.00×`, or `—` when there is nothing to compare.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(ratio) => format!("{ratio:.2}×"),
        None => "—".to_owned(),
    }
}

/// The table rows of one phase: a single row when one launch type has all the samples,
/// otherwise "all" followed by each launch type.
pub(crate) fn summary_rows(summary: &PhaseSummary) -> Vec<(String, &LatencyDistribution)> {
    if summary.by_launch.len() == 1 {
        return summary
            .by_launch
            .iter()
            .map(|(launch, distribution)| (launch.to_string(), distribution))
            .collect();
    }
    let mut rows = vec![("all".to_owned(), &summary.overall)];
    rows.extend(
        LaunchType::ALL
            .iter()
            .filter_map(|launch| Some((launch.to_string(), summary.by_launch.get(launch)?))),
    );
    rows
}

/// `Kubernetes v1.34.1 · etcd 3.6.4 · … · 10 nodes · API server GOGC=400 · 2 cores, 24.0 GiB,
/// Linux 6.12`.
pub(crate) fn environment_line(environment: &Environment) -> String {
    let mut parts = Vec::new();
    let versions = [
        ("Kubernetes", &environment.kubernetes),
        ("etcd", &environment.etcd),
        ("kwok", &environment.kwok),
        ("controller", &environment.controller),
    ];
    for (name, version) in versions {
        if let Some(version) = version {
            parts.push(format!("{name} {version}"));
        }
    }
    parts.push(format!(
        "{} node{}",
        environment.nodes,
        if environment.nodes == 1 { "" } else { "s" }
    ));
    if let Some(gogc) = environment.apiserver_gogc {
        parts.push(format!("API server GOGC={gogc}"));
    }
    let machine = &environment.machine;
    parts.push(format!(
        "{} cores, {:.1} GiB, {}",
        machine.cores,
        machine.memory_bytes as f64 / (1u64 << 30) as f64,
        machine.kernel
    ));
    if let Some(commit) = &environment.commit {
        parts.push(format!("commit {}", short_commit(commit)));
    }
    parts.join(" · ")
}

/// The first 12 characters of a commit id, enough to name it in a repository of any size.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `3000 claims · 50/s intended · 62.4 s · 5 failed (0.17 %) · started … · seed 42`.
pub(crate) fn run_line(results: &Results) -> String {
    let meta = &results.meta;
    let errors = &results.errors;
    let mut parts = vec![format!("{} claims", errors.claims)];
    if let Some(rate) = meta.intended_rate_per_s {
        parts.push(format!("{rate}/s intended"));
    }
    parts.push(format!("{:.1} s", meta.duration_ms as f64 / 1000.0));
    let failed_percent = if errors.claims == 0 {
        0.0
    } else {
        100.0 * errors.failed as f64 / errors.claims as f64
    };
    parts.push(format!("{} failed ({failed_percent:.2} %)", errors.failed));
    parts.push(format!("started {}", meta.started_at));
    parts.push(format!("seed {}", meta.seed));
    parts.join(" · ")
}

pub(crate) const OPEN_LOOP_NOTE: &str = "Latencies count from each claim's intended send time \
    (open loop, no coordinated omission); `harness_lag` is how late the harness sent.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(format_ms(0.0123), "0.012 ms");
        assert_eq!(format_ms(1.0504), "1.05 ms");
        assert_eq!(format_ms(48.24), "48.2 ms");
        assert_eq!(format_ms(2005.2), "2005 ms");
        assert_eq!(format_ratio(Some(1.234)), "1.23×");
        assert_eq!(format_ratio(None), "—");
    }

    #[test]
    fn the_environment_line_names_the_commit_when_known() {
        let mut environment = crate::sample::sample_meta().environment;
        assert!(!environment_line(&environment).contains("commit"));
        environment.commit = Some("0123456789abcdef0123".into());
        assert!(environment_line(&environment).ends_with(" · commit 0123456789ab"));
        assert_eq!(short_commit("abc"), "abc");
    }

    #[test]
    fn writes_by_request_rank_by_the_steps_without_a_whole_load_and_need_readings() {
        let mut steps = crate::sample::sample_knee().controllers["reference"]
            .steps
            .clone();
        steps.truncate(2);
        steps[1].writes_by_request.insert("POST pods".into(), 4.0);
        let table = WritesByRequest::of(None, &steps, None).unwrap();
        assert_eq!(table.columns, ["5/s", "10/s"]);
        assert_eq!(
            table.rows[0],
            ("POST pods".to_string(), vec![Some(0.0), Some(4.0)])
        );
        assert_eq!(table.rows.len(), 5);
        // A step without readings shows none, not zero writes.
        steps[0].writes_by_request.clear();
        let table = WritesByRequest::of(None, &steps, None).unwrap();
        assert_eq!(table.rows[0].1, [None, Some(4.0)]);
        assert_eq!(format_writes(None), "–");
        for step in &mut steps {
            step.writes_by_request.clear();
        }
        assert!(WritesByRequest::of(None, &steps, Some(&BTreeMap::new())).is_none());
    }

    #[test]
    fn the_environment_line_names_a_gogc_the_run_set_only() {
        let mut environment = crate::sample::sample_meta().environment;
        assert!(!environment_line(&environment).contains("GOGC"));
        environment.apiserver_gogc = Some(400);
        assert!(environment_line(&environment).contains(" · 10 nodes · API server GOGC=400 · "));
    }
}
