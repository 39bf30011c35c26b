//! `sandbox-bench knee`: one stepped load against each controller in turn, and where each gives
//! way. The runs are ordinary bench runs (`bench::run`); this module gathers their step
//! reports into `knee.json` and `knee.md` and checks the `--require` bounds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sandbox_reports::{Phase, Results, StepSummary};
use serde::{Deserialize, Serialize};

/// The schema of `knee.json`.
pub const SCHEMA: &str = "sandbox-bench/knee/v1";

/// Every controller's knees and steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KneeReport {
    pub schema: String,
    pub scenario: String,
    pub controllers: BTreeMap<String, ControllerKnee>,
}

/// One controller's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerKnee {
    pub knee_100ms: f64,
    pub knee_1s: f64,
    pub steps: Vec<StepSummary>,
    /// CPU seconds per claim over the whole load, by process (kube-apiserver, etcd, the
    /// controller or the floor).
    pub cpu_seconds_per_claim: BTreeMap<String, f64>,
    /// API writes (POST, PUT, PATCH, DELETE, by every client) per claim over the whole load.
    pub writes_per_claim: f64,
    /// The run's own directory, with its `report.html`.
    pub run: String,
}

impl ControllerKnee {
    /// From a bench run of a stepped load; `None` when the run has no steps.
    pub fn of(results: &Results, run: &str) -> Option<Self> {
        let steps = results.steps.clone()?;
        let claims = steps.steps.iter().map(|s| s.claims).sum::<u64>();
        let (cpu_seconds_per_claim, writes_per_claim) =
            crate::bench::scrape::per_claim(&results.metrics, claims);
        Some(Self {
            knee_100ms: steps.knee_100ms,
            knee_1s: steps.knee_1s,
            steps: steps.steps,
            cpu_seconds_per_claim,
            writes_per_claim: writes_per_claim.unwrap_or(0.0),
            run: run.to_string(),
        })
    }

    fn knee(&self, which: Knee) -> f64 {
        match which {
            Knee::Ms100 => self.knee_100ms,
            Knee::S1 => self.knee_1s,
        }
    }
}

/// Which knee a bound names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knee {
    Ms100,
    S1,
}

/// A `--require` bound: `<controller>.<knee_100ms|knee_1s><op><claims/s>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Require {
    pub controller: String,
    pub knee: Knee,
    pub op: Op,
    pub value: f64,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
}

impl std::str::FromStr for Require {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--require {text:?}: {why} (e.g. reference.knee_100ms>=20)");
        let (left, op, right) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
            .into_iter()
            .find_map(|(sym, op)| text.split_once(sym).map(|(l, r)| (l, op, r)))
            .ok_or_else(|| bad("no comparison"))?;
        let (controller, knee) = left
            .trim()
            .split_once('.')
            .ok_or_else(|| bad("name a controller and a knee"))?;
        let knee = match knee {
            "knee_100ms" => Knee::Ms100,
            "knee_1s" => Knee::S1,
            _ => return Err(bad("the knee is knee_100ms or knee_1s")),
        };
        let value: f64 = right
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| bad("the bound is a number of claims per second"))?;
        Ok(Self {
            controller: controller.to_string(),
            knee,
            op,
            value,
            text: text.to_string(),
        })
    }
}

impl Require {
    /// `None` when the bound holds, else why not (also when the controller was not run).
    pub fn check(&self, report: &KneeReport) -> Option<String> {
        let Some(run) = report.controllers.get(&self.controller) else {
            return Some(format!(
                "{}: controller {} was not run",
                self.text, self.controller
            ));
        };
        let got = run.knee(self.knee);
        let holds = match self.op {
            Op::Ge => got >= self.value,
            Op::Gt => got > self.value,
            Op::Le => got <= self.value,
            Op::Lt => got < self.value,
        };
        (!holds).then(|| format!("{}: measured {got}", self.text))
    }
}

/// `knee.md`: the knees side by side, then each controller's steps.
pub fn render_markdown(report: &KneeReport) -> String {
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
    out.push_str(
        "\nknee_100ms: the highest rate up to which every step kept warm claim Ready p99 ≤ 100 ms \
         with every claim Ready; knee_1s: the same with p99 < 1 s. A knee at the last step's \
         rate means no step gave way: the controller's real knee lies beyond the scenario.\n",
    );
    for (name, run) in &report.controllers {
        let _ = writeln!(
            out,
            "\n### {name}\n\n| rate | claims | not Ready | claim Ready p50 | p90 | p99 | writes per claim | CPU per claim |\n|--:|--:|--:|--:|--:|--:|--:|---|"
        );
        for step in &run.steps {
            let ready = step.phase(Phase::ClaimReady);
            let ms = |pick: fn(&sandbox_reports::StepPhase) -> f64| {
                ready.map_or("–".into(), |p| format!("{:.1} ms", pick(p)))
            };
            let writes = step
                .writes_per_claim
                .map_or("–".into(), |w| format!("{w:.1}"));
            let _ = writeln!(
                out,
                "| {}/s | {} | {} | {} | {} | {} | {writes} | {} |",
                step.rate_per_s,
                step.claims,
                step.not_ready,
                ms(|p| p.p50_ms),
                ms(|p| p.p90_ms),
                ms(|p| p.p99_ms),
                cpu_list(&step.cpu_seconds_per_claim)
            );
        }
        let _ = writeln!(out, "\nRun: `{}`", run.run);
    }
    out
}

/// `process 1.2 ms, …` from CPU seconds per claim by process; `–` when none was read.
fn cpu_list(cpu_seconds_per_claim: &BTreeMap<String, f64>) -> String {
    if cpu_seconds_per_claim.is_empty() {
        return "–".into();
    }
    cpu_seconds_per_claim
        .iter()
        .map(|(process, s)| format!("{process} {:.1} ms", s * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_reports::StepPhase;

    fn run(knee_100ms: f64, knee_1s: f64) -> ControllerKnee {
        ControllerKnee {
            knee_100ms,
            knee_1s,
            steps: vec![StepSummary {
                rate_per_s: 5.0,
                from_ms: 0,
                to_ms: 20_000,
                claims: 100,
                not_ready: 0,
                phases: vec![StepPhase {
                    phase: Phase::ClaimReady,
                    count: 100,
                    p50_ms: 12.0,
                    p90_ms: 20.0,
                    p99_ms: 40.0,
                }],
                cpu_seconds_per_claim: [("kube-apiserver".to_string(), 0.025)].into(),
                writes_per_claim: Some(3.5),
            }],
            cpu_seconds_per_claim: [("kube-apiserver".to_string(), 0.02)].into(),
            writes_per_claim: 3.0,
            run: "runs/knee/x/floor".into(),
        }
    }

    fn report() -> KneeReport {
        KneeReport {
            schema: SCHEMA.into(),
            scenario: "knee".into(),
            controllers: [
                ("floor".to_string(), run(30.0, 30.0)),
                ("reference".to_string(), run(10.0, 20.0)),
            ]
            .into(),
        }
    }

    #[test]
    fn bounds_parse_and_judge_the_named_knee() {
        let report = report();
        let check = |text: &str| text.parse::<Require>().unwrap().check(&report);
        assert_eq!(check("reference.knee_100ms>=10"), None);
        assert_eq!(check("reference.knee_1s>10"), None);
        assert_eq!(check("floor.knee_1s<=30"), None);
        assert_eq!(
            check("reference.knee_100ms>=20").as_deref(),
            Some("reference.knee_100ms>=20: measured 10")
        );
        assert!(
            check("upstream.knee_1s>=1")
                .unwrap()
                .contains("was not run")
        );
        for bad in [
            "reference.knee_100ms",
            "knee_1s>=3",
            "reference.p99>=3",
            "reference.knee_1s>=x",
            "reference.knee_1s>=-1",
        ] {
            let error = bad.parse::<Require>().unwrap_err();
            assert!(error.starts_with(&format!("--require {bad:?}")), "{error}");
        }
    }

    #[test]
    fn the_markdown_puts_the_knees_side_by_side_then_the_steps() {
        let md = render_markdown(&report());
        assert!(
            md.contains("| floor | 30/s | 30/s | 3.0 | kube-apiserver 20.0 ms |"),
            "{md}"
        );
        assert!(md.contains("| reference | 10/s | 20/s |"), "{md}");
        assert!(
            md.contains("### reference")
                && md.contains(
                    "| 5/s | 100 | 0 | 12.0 ms | 20.0 ms | 40.0 ms | 3.5 | kube-apiserver 25.0 ms |"
                ),
            "{md}"
        );
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let report = report();
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"schema\":\"sandbox-bench/knee/v1\""));
        assert_eq!(serde_json::from_str::<KneeReport>(&json).unwrap(), report);
    }
}
