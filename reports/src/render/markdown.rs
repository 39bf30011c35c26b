//! `report.md`: short enough for a PR comment; tables GitHub renders, no images.

use std::fmt::Write;

use crate::compare::{Comparison, ComparisonVerdict};
use crate::record::Phase;
use crate::render::{
    OPEN_LOOP_NOTE, environment_line, format_ms, format_ratio, run_line, summary_rows,
};
use crate::results::Results;
use crate::slo::Verdict;

/// A Markdown table cell: pipes would end the cell and newlines the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

// `write!` into a String cannot fail; the results are discarded with `let _`.

/// The phases the per-pool table shows: when the claim was usable, and its sandbox.
const POOL_PHASES: [Phase; 2] = [Phase::SandboxReady, Phase::ClaimReady];

pub fn render_markdown(results: &Results) -> String {
    let mut out = String::new();
    let verdict = if results.slo.checks.is_empty() {
        "no SLOs declared"
    } else if results.slo.verdict == Verdict::Pass {
        "✅ SLOs met"
    } else {
        "❌ SLOs not met"
    };
    let _ = writeln!(
        out,
        "## sandbox-bench `{}`: {verdict}\n",
        cell(&results.meta.scenario)
    );
    let _ = writeln!(out, "{}\n", run_line(results));

    out.push_str("| phase | launch | count | p50 | p90 | p99 | p99.9 | max |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for summary in &results.phases {
        for (index, (launch, d)) in summary_rows(summary).into_iter().enumerate() {
            let phase = if index == 0 {
                format!("`{}`", summary.phase)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {phase} | {launch} | {} | {} | {} | {} | {} | {} |",
                d.count,
                format_ms(d.p50_ms),
                format_ms(d.p90_ms),
                format_ms(d.p99_ms),
                format_ms(d.p999_ms),
                format_ms(d.max_ms),
            );
        }
    }
    if results.phases.is_empty() {
        out.push_str("| — | | 0 | | | | | |\n");
    }
    let _ = writeln!(out, "\n{OPEN_LOOP_NOTE}\n");
    if let Some(ms) = results.refill_ms {
        let _ = writeln!(
            out,
            "Pools full again {} after the load.\n",
            format_ms(ms as f64)
        );
    }

    if !results.pools.is_empty() {
        out.push_str("### By pool\n\n| pool | phase | count | p50 | p90 | p99 | max |\n");
        out.push_str("|---|---|--:|--:|--:|--:|--:|\n");
        for (pool, phases) in &results.pools {
            for summary in phases.iter().filter(|s| POOL_PHASES.contains(&s.phase)) {
                let d = &summary.overall;
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} | {} | {} | {} |",
                    cell(pool),
                    summary.phase,
                    d.count,
                    format_ms(d.p50_ms),
                    format_ms(d.p90_ms),
                    format_ms(d.p99_ms),
                    format_ms(d.max_ms),
                );
            }
        }
        out.push('\n');
    }

    if let Some(isolation) = &results.isolation {
        let verdict = if isolation.passed() { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### Isolation {verdict} `{}` (positive control: `{}`)\n\n\
             | | check | sandbox | control | result |\n|---|---|---|---|---|",
            cell(&isolation.runtime_class),
            cell(&isolation.control_runtime_class)
        );
        for check in &isolation.checks {
            let mark = if check.status == crate::CheckStatus::Pass {
                "✅"
            } else {
                "❌"
            };
            let _ = writeln!(
                out,
                "| {mark} | `{}` | {} | {} | {} |",
                cell(&check.name),
                cell(&check.sandbox),
                cell(&check.control),
                check.status.as_str()
            );
        }
        out.push('\n');
    }

    if let Some(steps) = &results.steps {
        out.push_str(&steps_markdown(steps));
    }

    if !results.slo.checks.is_empty() {
        out.push_str("### SLOs\n\n| | SLO | result |\n|---|---|---|\n");
        for check in &results.slo.checks {
            let mark = if check.outcome.passed() { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "| {mark} | {} | {} |",
                cell(&check.check.to_string()),
                cell(&check.reason())
            );
        }
        out.push('\n');
    }

    if let Some(invariants) = &results.invariants {
        let verdict = if invariants.passed() { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### Invariants {verdict} (recovery bound {})\n\n| | invariant | violations |\n|---|---|--:|",
            format_ms(invariants.recovery_bound_ms as f64)
        );
        for &invariant in &invariants.checked {
            let count = invariants.of(invariant).count();
            let mark = if count == 0 { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "| {mark} | `{invariant}`: {} | {count} |",
                invariant.promise()
            );
        }
        if !invariants.violations.is_empty() {
            out.push_str("\n| invariant | at | objects | what |\n|---|--:|---|---|\n");
            for v in &invariants.violations {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    v.invariant,
                    format_ms(v.at_ms as f64),
                    cell(&v.objects.join(", ")),
                    cell(&v.detail)
                );
            }
        }
        out.push('\n');
    }
    if let Some(faults) = &results.faults {
        out.push_str("### Faults\n\n| fault | fired |\n|---|--:|\n");
        for (kind, count) in &faults.counts {
            let _ = writeln!(out, "| `{}` | {count} |", cell(kind));
        }
        for failed in &faults.failed {
            let _ = writeln!(
                out,
                "| `{}` (failed: {}) | 0 |",
                cell(&failed.kind),
                cell(&failed.detail)
            );
        }
        out.push('\n');
    }

    if !results.errors.by_kind.is_empty() {
        out.push_str("### Errors\n\n| kind | claims |\n|---|--:|\n");
        for (kind, count) in &results.errors.by_kind {
            let _ = writeln!(out, "| `{}` | {count} |", cell(kind));
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "<sub>Environment: {}</sub>",
        environment_line(&results.meta.environment)
    );
    out
}

pub fn render_comparison_markdown(comparison: &Comparison) -> String {
    let mut out = String::new();
    let verdict = match comparison.verdict {
        ComparisonVerdict::NoRegression => "✅ no regression",
        ComparisonVerdict::Regression => "❌ regression",
    };
    let _ = writeln!(
        out,
        "## sandbox-bench compare: {verdict} (noise margin {:.0} %)\n",
        comparison.noise * 100.0
    );
    let _ = writeln!(
        out,
        "Baseline **A** = `{}`, candidate **B** = `{}`; ratios are B / A.\n",
        cell(&comparison.baseline),
        cell(&comparison.candidate)
    );
    out.push_str(
        "| | phase | launch | A p50 | B p50 | p50 B/A | A p99 | B p99 | p99 B/A |\n\
         |---|---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in &comparison.rows {
        let mark = if row.regressed {
            "❌"
        } else if row.gating {
            "✅"
        } else {
            "ℹ️"
        };
        let launch = row.launch.map_or("all".to_owned(), |l| l.to_string());
        let value = |side: Option<f64>| side.map_or("—".to_owned(), format_ms);
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {launch} | {} | {} | {} | {} | {} | {} |",
            row.phase,
            value(row.baseline.map(|p| p.p50_ms)),
            value(row.candidate.map(|p| p.p50_ms)),
            format_ratio(row.p50_ratio),
            value(row.baseline.map(|p| p.p99_ms)),
            value(row.candidate.map(|p| p.p99_ms)),
            format_ratio(row.p99_ratio),
        );
    }
    out.push_str("\n`harness_lag` (ℹ️) is shown but does not gate.\n");
    if !comparison.environment_differences.is_empty() {
        out.push_str("\n⚠️ The runs' environments differ: ");
        out.push_str(&cell(&comparison.environment_differences.join("; ")));
        out.push('\n');
    }
    out
}

/// The per-step table of a stepped load, with its knees; a warm-up first, marked as such.
fn steps_markdown(steps: &crate::StepsReport) -> String {
    let mut out = format!(
        "### Step by step\n\nKnee: claim Ready p99 ≤ 100 ms up to **{} claims/s**, < 1 s up to **{} claims/s** \
         (every claim Ready; warm claims when there are any).",
        steps.knee_100ms, steps.knee_1s
    );
    if steps.warm_up.is_some() {
        out.push(' ');
        out.push_str(super::WARM_UP_NOTE);
    }
    out.push_str(
        "\n\n| rate | claims | not Ready | acked p50 / p99 | bound p50 / p99 | claim Ready p50 / p90 / p99 |\n\
         |--:|--:|--:|--:|--:|--:|\n",
    );
    for (step, label) in super::step_rows(steps.warm_up.as_ref(), &steps.steps) {
        let two = |phase: Phase| {
            step.phase(phase).map_or("–".to_string(), |p| {
                format!("{} / {}", format_ms(p.p50_ms), format_ms(p.p99_ms))
            })
        };
        let ready = step.phase(Phase::ClaimReady).map_or("–".to_string(), |p| {
            format!(
                "{} / {} / {}",
                format_ms(p.p50_ms),
                format_ms(p.p90_ms),
                format_ms(p.p99_ms)
            )
        });
        let _ = writeln!(
            out,
            "| {label}{}/s | {} | {} | {} | {} | {ready} |",
            step.rate_per_s,
            step.claims,
            step.not_ready,
            two(Phase::Acked),
            two(Phase::Bound)
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::sample::sample_results;

    #[test]
    fn the_refill_time_is_shown_when_it_was_measured() {
        let mut results = sample_results().unwrap();
        assert!(!render_markdown(&results).contains("Pools full again"));
        results.refill_ms = Some(1234);
        assert!(render_markdown(&results).contains("Pools full again 1234 ms after the load."));
    }

    #[test]
    fn a_stepped_run_shows_each_step_and_its_knees() {
        let mut results = sample_results().unwrap();
        let records = crate::sample::sample_records();
        let last = records.iter().map(|r| r.intended_us).max().unwrap() + 1;
        let steps = [
            crate::Step {
                rate_per_s: 5.0,
                from_us: 0,
                to_us: last / 2,
            },
            crate::Step {
                rate_per_s: 7.5,
                from_us: last / 2,
                to_us: last,
            },
        ];
        results.steps = Some(crate::per_step(&records, None, &steps).unwrap());
        let md = render_markdown(&results);
        assert!(md.contains("### Step by step"), "{md}");
        assert!(md.contains("| 5/s |") && md.contains("| 7.5/s |"), "{md}");
        assert!(!md.contains("warm-up"), "{md}");
        let warm_up = crate::Step {
            rate_per_s: 5.0,
            from_us: 0,
            to_us: last / 4,
        };
        let later = steps.map(|s| crate::Step {
            from_us: s.from_us.max(warm_up.to_us),
            ..s
        });
        results.steps = Some(crate::per_step(&records, Some(&warm_up), &later).unwrap());
        let warm_md = render_markdown(&results);
        assert!(
            warm_md.contains("| warm-up at 5/s |")
                && warm_md.contains("count in no step and no knee"),
            "{warm_md}"
        );
        results.steps = Some(crate::per_step(&records, None, &steps).unwrap());
        assert!(
            md.contains("Knee: claim Ready p99 ≤ 100 ms up to **"),
            "{md}"
        );
        let html = crate::render_html(&results).unwrap();
        assert!(html.contains("<h2>Step by step</h2>") && html.contains("7.5/s"));
        assert!(!html.contains("by request"), "no readings, no writes table");
        let steps = results.steps.as_mut().unwrap();
        steps.steps[0]
            .writes_by_request
            .insert("PATCH sandboxes".into(), 1.0);
        let html = crate::render_html(&results).unwrap();
        assert!(
            html.contains("<caption>API writes per claim, by request</caption>")
                && html
                    .contains("<td><code>PATCH sandboxes</code></td><td class=\"num\">1.00</td>")
                && !html.contains("whole load"),
            "a run's report has the steps' columns only"
        );
        assert!(!render_markdown(&sample_results().unwrap()).contains("Step by step"));
    }

    #[test]
    fn isolation_and_pools_get_sections_only_when_present() {
        let mut results = sample_results().unwrap();
        let plain = render_markdown(&results);
        assert!(!plain.contains("### Isolation") && !plain.contains("### By pool"));
        results.isolation = Some(crate::sample::sample_isolation());
        results
            .pools
            .insert("cold-runc".into(), results.phases.clone());
        let markdown = render_markdown(&results);
        assert!(markdown.contains("### Isolation ❌ `gvisor` (positive control: `runc`)"));
        assert!(
            markdown.contains("| ✅ | `kernel_not_shared` | own boot_id | node's boot_id | pass |")
        );
        assert!(
            markdown.contains("| ❌ | `egress_blocked` | blocked | blocked | control failed |")
        );
        assert!(markdown.contains("| `cold-runc` | `claim_ready` |"));
        assert!(!markdown.contains("| `cold-runc` | `acked` |"));
    }

    #[test]
    fn report_has_summary_slos_errors_and_environment() {
        let markdown = render_markdown(&sample_results().unwrap());
        for expected in [
            "## sandbox-bench `default`: ",
            "3000 claims · 50/s intended · 62.4 s · 5 failed (0.17 %) · started 2025-06-01T12:00:00Z · seed 42",
            "| phase | launch | count | p50 | p90 | p99 | p99.9 | max |",
            "| `claim_ready` | all | 2995 |",
            "|  | warm | ",
            "|  | cold | ",
            "| `harness_lag` | ",
            "### SLOs",
            "| ✅ | claim_ready p99 (warm) ≤ 100 ms | ",
            "| ✅ | error ratio ≤ 0.01 | 0.0017 ≤ 0.01 (3000 claims) |",
            "| ❌ | harness_lag p99.9 ≤ 1 ms | ",
            "| `timeout` | 4 |",
            "| `create_rejected` | 1 |",
            "<sub>Environment: Kubernetes v1.34.1 · etcd 3.6.4 · kwok v0.7.0 · controller reference 0.1.0 · 10 nodes · 2 cores, 24.0 GiB, Linux 6.12.0</sub>",
        ] {
            assert!(
                markdown.contains(expected),
                "missing {expected:?} in\n{markdown}"
            );
        }
        assert!(markdown.contains("❌ SLOs not met"));
        // A PR comment, not a document.
        assert!(markdown.lines().count() < 60, "{markdown}");
    }

    #[test]
    fn insufficient_samples_are_explained() {
        let mut results = sample_results().unwrap();
        results.slo = crate::slo::SloReport {
            verdict: Verdict::Fail,
            checks: vec![crate::slo::SloVerdict {
                check: crate::slo::SloCheck::Latency(crate::slo::Slo::new(
                    crate::record::Phase::Bound,
                    99.9,
                    10.0,
                )),
                outcome: crate::slo::SloOutcome::InsufficientSamples {
                    samples: 12,
                    required: 1000,
                },
            }],
        };
        let markdown = render_markdown(&results);
        assert!(markdown.contains(
            "| ❌ | bound p99.9 ≤ 10 ms | insufficient samples: 12 samples, 1000 required |"
        ));
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn comparison_table_marks_regressions() {
        let a = sample_results().unwrap();
        let mut b = a.clone();
        for summary in &mut b.phases {
            summary.overall.p99_ms *= 2.0;
        }
        b.meta.started_at = "2025-06-02T12:00:00Z".into();
        let markdown = render_comparison_markdown(&compare(&a, &b, 0.1));
        for expected in [
            "## sandbox-bench compare: ❌ regression (noise margin 10 %)",
            "Baseline **A** = `default @ 2025-06-01T12:00:00Z`, candidate **B** = `default @ 2025-06-02T12:00:00Z`",
            "| ❌ | `claim_ready` | all | ",
            " | 2.00× |",
            "| ✅ | `claim_ready` | warm | ",
            "| ℹ️ | `harness_lag` | ",
        ] {
            assert!(
                markdown.contains(expected),
                "missing {expected:?} in\n{markdown}"
            );
        }
    }

    #[test]
    fn invariants_and_faults_get_sections_only_when_present() {
        let mut results = sample_results().unwrap();
        assert!(!render_markdown(&results).contains("### Invariants"));
        let (faults, invariants) = crate::sample::sample_reliability();
        results.faults = Some(faults);
        results.invariants = Some(invariants);
        let md = render_markdown(&results);
        assert!(
            md.contains("### Invariants ❌ (recovery bound 30000 ms)"),
            "{md}"
        );
        assert!(md.contains(
            "| ❌ | `claim_served`: every claim is Ready within the recovery bound | 1 |"
        ));
        assert!(md.contains("| ✅ | `one_pod_per_sandbox`: no Sandbox has two live Pods | 0 |"));
        assert!(md.contains("| `claim_served` | 41000 ms | sandboxclaim/claim-00007 | Ready 33500 ms after the last fault |"));
        assert!(md.contains("| `controllerKill` | 1 |"));
    }
}
