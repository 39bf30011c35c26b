//! `sandbox-bench knee`: one stepped load against each controller in turn, and where each gives
//! way. The runs are ordinary bench runs (`run::run`); this module reads a run's step report
//! into the `knee.json` entry of its controller (`sandbox_reports::knee`, which also renders
//! `knee.md` and `knee.html`) and checks the `--require` bounds.

use sandbox_reports::{ControllerKnee, Knee, Results};

/// A controller's entry from its bench run of a stepped load; `None` when the run has no steps.
pub fn controller_knee(results: &Results, run: &str) -> Option<ControllerKnee> {
    let steps = results.steps.clone()?;
    // The whole load's figures include the warm-up's claims, so its claims count too.
    let claims = steps
        .warm_up
        .iter()
        .chain(&steps.steps)
        .map(|s| s.claims)
        .sum::<u64>();
    let cost = crate::scrape::per_claim(&results.metrics, claims);
    Some(ControllerKnee {
        knee_100ms: steps.knee_100ms,
        knee_1s: steps.knee_1s,
        warm_up: steps.warm_up,
        steps: steps.steps,
        cpu_seconds_per_claim: cost.cpu_seconds,
        writes_per_claim: cost.writes.unwrap_or(0.0),
        writes_by_request: cost.writes_by_request,
        run: run.to_string(),
    })
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
    pub fn check(&self, report: &sandbox_reports::KneeReport) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_reports::sample::sample_knee;

    #[test]
    fn bounds_parse_and_judge_the_named_knee() {
        let mut report = sample_knee();
        report.controllers.remove("upstream");
        let check = |text: &str| text.parse::<Require>().unwrap().check(&report);
        assert_eq!(check("reference.knee_100ms>=20"), None);
        assert_eq!(check("reference.knee_1s>20"), None);
        assert_eq!(check("floor.knee_1s<=45"), None);
        assert_eq!(check("floor.knee_100ms<31"), None);
        assert_eq!(
            check("reference.knee_100ms>=25").as_deref(),
            Some("reference.knee_100ms>=25: measured 20")
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
}
