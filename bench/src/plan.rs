//! A scenario turned into what the run does: the objects to create, the claims with their
//! intended send times, and the SLOs in the reports' terms. Pure, so a scenario can be
//! checked completely (`sandbox-bench bench --check`) without a cluster.

use std::time::Duration;

use serde_json::{Value, json};

use kube::Resource;
use sandbox_api::v1beta1::{
    SandboxClaim, SandboxClaimSpec, SandboxTemplate, SandboxWarmPool, WarmPoolRef,
};
use sandbox_reports::{ErrorBudget, LaunchType, Phase, Slo, SloSpec};

use crate::faults::Strike;
use crate::scenario::{Scenario, duration};
use crate::schedule::{Schedule, Shape, schedule};
use sandbox_marks::labels::RUN_LABEL;

/// Everything a bench run needs to know before it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    pub name: String,
    pub templates: Vec<TemplatePlan>,
    pub pools: Vec<PoolPlan>,
    /// Claim `i` goes to `claim_pools[i % len]`.
    pub claim_pools: Vec<String>,
    pub schedule: Schedule,
    /// Claims per second the schedule asks for, when it has one rate.
    pub intended_rate: Option<f64>,
    pub seed: u64,
    pub hold: Option<Duration>,
    pub drain: Duration,
    /// `(rate, burst)` of the client-side limiter.
    pub client_limit: Option<(f64, u32)>,
    pub slos: SloSpec,
    /// Fault strikes while the load runs, in time order.
    pub faults: Vec<Strike>,
    /// The recovery bound, when the run checks invariants.
    pub invariants: Option<Duration>,
    /// Controller processes (leader election on above one).
    pub replicas: u32,
    /// The steps of a `step` load, for the per-step report; empty for other shapes.
    pub steps: Vec<sandbox_reports::Step>,
    /// The warm-up before the steps (a geometric load's `warmUp`), reported apart.
    pub warm_up: Option<sandbox_reports::Step>,
    /// No step follows one whose warm claims' Ready p99 is known to exceed this.
    pub stop_above: Option<Duration>,
}

impl BenchPlan {
    /// Leaves out the pools whose template runs under one of `classes` (RuntimeClasses the
    /// cluster could not install, e.g. Kata without virtualisation), with their templates;
    /// their share of the claims goes to the pools left. Returns the pools left out.
    pub fn without_runtime_classes(&mut self, classes: &[&str]) -> Vec<String> {
        let unrunnable: Vec<String> = self
            .templates
            .iter()
            .filter(|t| {
                t.runtime_class
                    .as_deref()
                    .is_some_and(|c| classes.contains(&c))
            })
            .map(|t| t.name.clone())
            .collect();
        let (dropped, kept): (Vec<PoolPlan>, Vec<PoolPlan>) = std::mem::take(&mut self.pools)
            .into_iter()
            .partition(|p| unrunnable.contains(&p.template));
        self.pools = kept;
        self.templates.retain(|t| !unrunnable.contains(&t.name));
        let dropped: Vec<String> = dropped.into_iter().map(|p| p.name).collect();
        self.claim_pools.retain(|p| !dropped.contains(p));
        dropped
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePlan {
    pub name: String,
    pub image: String,
    pub runtime_class: Option<String>,
    /// Runs the harness's probe image instead of `image`.
    pub probe: bool,
    /// The node its pods must run on: the real node, for a probe template beside kwok nodes.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolPlan {
    pub name: String,
    pub template: String,
    pub replicas: u32,
}

/// A `step` shape's steps, each from where the previous one ended.
fn steps_of(shape: &Shape) -> Vec<sandbox_reports::Step> {
    let Shape::Step { steps } = shape else {
        return Vec::new();
    };
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut start = Duration::ZERO;
    steps
        .iter()
        .map(|&(rate, length)| {
            let step = sandbox_reports::Step {
                rate_per_s: rate,
                from_us: us(start),
                to_us: us(start + length),
            };
            start += length;
            step
        })
        .collect()
}

/// How long the load lasts: until the last intended send, or a closed loop's duration.
fn load_length(schedule: &Schedule) -> Duration {
    match schedule {
        Schedule::Open(offsets) => offsets.last().copied().unwrap_or_default(),
        Schedule::Closed { duration, .. } => *duration,
    }
}

impl BenchPlan {
    /// The plan of a validated scenario. `seed` overrides the scenario's.
    pub fn new(scenario: &Scenario, seed: Option<u64>) -> Result<Self, String> {
        let shape = scenario.shape()?;
        let seed = seed.unwrap_or(scenario.load.seed);
        let schedule = schedule(&shape, seed, crate::scenario::MAX_CLAIMS as usize);
        let mut steps = steps_of(&shape);
        let warm_up =
            (scenario.load.shape.value.warms_up() && !steps.is_empty()).then(|| steps.remove(0));
        let parse = |d: &str| duration(d);
        Ok(Self {
            name: scenario.name.value.clone(),
            templates: scenario
                .templates
                .iter()
                .map(|t| TemplatePlan {
                    name: t.name.value.clone(),
                    image: t.image.clone(),
                    runtime_class: t.runtime_class().map(str::to_string),
                    probe: t.probe(),
                    node: (t.probe() && scenario.cluster.real_node())
                        .then(|| sandbox_cluster::local::node::NODE_NAME.to_string()),
                })
                .collect(),
            pools: scenario
                .pools
                .iter()
                .map(|p| PoolPlan {
                    name: p.name.value.clone(),
                    template: p.template.value.clone(),
                    replicas: p.replicas.value,
                })
                .collect(),
            claim_pools: scenario
                .load
                .claim_pools()
                .into_iter()
                .map(str::to_string)
                .collect(),
            intended_rate: match shape {
                Shape::Constant { rate, .. } | Shape::Poisson { rate, .. } => Some(rate),
                _ => None,
            },
            seed,
            hold: scenario
                .load
                .hold
                .as_ref()
                .map(|h| parse(&h.value))
                .transpose()?,
            drain: parse(&scenario.load.drain.value)?,
            client_limit: scenario.load.client_qps.as_ref().map(|qps| {
                (
                    qps.value,
                    scenario.load.client_burst.as_ref().map_or(1, |b| b.value),
                )
            }),
            slos: slos(scenario)?,
            faults: crate::faults::spec::schedule(
                &scenario
                    .faults
                    .iter()
                    .map(|f| f.value.clone())
                    .collect::<Vec<_>>(),
                load_length(&schedule),
            ),
            invariants: scenario.checks_invariants().then(|| scenario.recovery()),
            replicas: scenario.controller.replicas(),
            warm_up,
            steps,
            stop_above: scenario.load.shape.value.stop_above(),
            schedule,
        })
    }

    /// The name of claim `index`: short, sortable, a valid Sandbox name after a cold start.
    pub fn claim_name(index: usize) -> String {
        format!("claim-{index:06}")
    }

    pub fn pool_of(&self, index: usize) -> &str {
        &self.claim_pools[index % self.claim_pools.len()]
    }

    /// Sandboxes the pools hold when full.
    pub fn warm_sandboxes(&self) -> u32 {
        self.pools.iter().map(|p| p.replicas).sum()
    }

    /// One line per part of the plan, for `--check` and the start of a run.
    pub fn describe(&self) -> String {
        let mut lines = vec![format!("scenario {}", self.name)];
        for t in &self.templates {
            let runtime = t.runtime_class.as_deref().unwrap_or("default runtime");
            let image = if t.probe {
                sandbox_cluster::node_images::PROBE_IMAGE
            } else {
                &t.image
            };
            lines.push(format!("  template {} ({image}, {runtime})", t.name));
        }
        for p in &self.pools {
            lines.push(format!(
                "  pool {} of {} × {}",
                p.name, p.replicas, p.template
            ));
        }
        let load = match &self.schedule {
            Schedule::Open(offsets) => format!(
                "{} claims over {:.1}s{}",
                offsets.len(),
                offsets.last().map_or(0.0, Duration::as_secs_f64),
                self.intended_rate
                    .map_or(String::new(), |r| format!(" ({r}/s)"))
            ),
            Schedule::Closed {
                concurrency,
                count,
                duration,
            } => format!(
                "closed loop of {concurrency} in flight, up to {count} claims or {}",
                humantime::format_duration(*duration)
            ),
        };
        lines.push(format!("  load: {load} on {}", self.claim_pools.join(", ")));
        if let Some(w) = &self.warm_up {
            lines.push(format!(
                "  warm-up: the first {:.1}s at {}/s, in no step",
                (w.to_us - w.from_us) as f64 / 1e6,
                w.rate_per_s
            ));
        }
        if let Some(hold) = self.hold {
            lines.push(format!(
                "  churn: each claim deleted {} after Ready",
                humantime::format_duration(hold)
            ));
        }
        if self.replicas > 1 {
            lines.push(format!(
                "  controller: {} replicas, leader election on",
                self.replicas
            ));
        }
        let mut counts = std::collections::BTreeMap::new();
        for strike in &self.faults {
            *counts.entry(strike.kind.name()).or_insert(0) += 1;
        }
        for (kind, count) in counts {
            lines.push(format!("  fault {kind}: {count} strike(s) during the load"));
        }
        if let Some(recovery) = self.invariants {
            lines.push(format!(
                "  invariants: checked, recovery bound {}",
                humantime::format_duration(recovery)
            ));
        }
        for slo in &self.slos.latency {
            lines.push(format!("  SLO {slo}"));
        }
        if let Some(budget) = &self.slos.error_budget {
            lines.push(format!("  SLO {budget}"));
        }
        lines.join("\n")
    }
}

fn slos(scenario: &Scenario) -> Result<SloSpec, String> {
    let latency = scenario
        .slos
        .iter()
        .map(|s| {
            let phase: Phase = s.phase.value.parse().map_err(|e| format!("{e}"))?;
            Ok(Slo {
                phase,
                percentile: s.percentile.value,
                max_ms: s.max_ms.value,
                min_samples: (s.min_samples > 0).then_some(s.min_samples),
                launch: match s.launch_type.as_ref().map(|l| l.value.as_str()) {
                    Some("warm") => Some(LaunchType::Warm),
                    Some("cold") => Some(LaunchType::Cold),
                    _ => None,
                },
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(SloSpec {
        latency,
        error_budget: scenario.error_budget.as_ref().map(|b| ErrorBudget {
            max_error_ratio: b.value,
        }),
    })
}

/// Labels every object the run creates carries, so cleanup finds exactly them.
pub fn run_labels(run_id: &str) -> Value {
    json!({ RUN_LABEL: run_id })
}

/// A SandboxTemplate whose Pod runs one container (never pulled on kwok nodes).
pub fn template_object(template: &TemplatePlan, run_id: &str) -> Value {
    let runtime_class = template.runtime_class.as_deref();
    let pod = if template.probe {
        crate::isolation::probe_pod::probe_pod_spec(
            runtime_class,
            crate::isolation::probe_pod::PROBE_PORT,
            template.node.as_deref(),
        )
    } else {
        let mut pod = json!({
            "containers": [{"name": "main", "image": template.image}],
            "terminationGracePeriodSeconds": 1
        });
        if let Some(class) = runtime_class {
            pod["runtimeClassName"] = json!(class);
        }
        pod
    };
    json!({
        "apiVersion": SandboxTemplate::api_version(&()),
        "kind": SandboxTemplate::kind(&()),
        "metadata": {"name": template.name, "labels": run_labels(run_id)},
        "spec": {"podTemplate": {"spec": pod}}
    })
}

pub fn pool_object(pool: &PoolPlan, run_id: &str) -> Value {
    json!({
        "apiVersion": SandboxWarmPool::api_version(&()),
        "kind": SandboxWarmPool::kind(&()),
        "metadata": {"name": pool.name, "labels": run_labels(run_id)},
        "spec": {"replicas": pool.replicas, "sandboxTemplateRef": {"name": pool.template}}
    })
}

/// The claim a send creates, built typed: it is made once per claim on the send path.
pub fn claim_object(name: &str, pool: &str, run_id: &str) -> SandboxClaim {
    let mut claim = SandboxClaim::new(
        name,
        SandboxClaimSpec {
            warm_pool_ref: WarmPoolRef { name: pool.into() },
            ..SandboxClaimSpec::default()
        },
    );
    claim.metadata.labels = Some([(RUN_LABEL.to_string(), run_id.to_string())].into());
    claim
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCENARIO: &str = "\
version: sandbox-bench/v1
name: mixed
templates:
  - name: small
  - name: secure
    runtimeClass: gvisor
pools:
  - name: warm
    template: small
    replicas: 20
  - name: cold
    template: secure
    replicas: 0
load:
  pools: [warm, cold]
  hold: 2s
  drain: 30s
  clientQps: 100
  clientBurst: 5
  shape:
    constant: {rate: 10, duration: 2s}
slos:
  - {phase: claim_ready, percentile: 99, maxMs: 100, launchType: warm}
  - {phase: acked, percentile: 50, maxMs: 20, minSamples: 10}
errorBudget: 0.05
";

    fn plan() -> BenchPlan {
        let scenario = Scenario::parse(Path::new("x.yaml"), SCENARIO).unwrap();
        BenchPlan::new(&scenario, None).unwrap()
    }

    #[test]
    fn a_scenario_becomes_objects_claims_and_slos() {
        let plan = plan();
        assert_eq!(plan.schedule.max_claims(), 20);
        assert_eq!(plan.intended_rate, Some(10.0));
        assert_eq!(
            (plan.pool_of(0), plan.pool_of(1), plan.pool_of(2)),
            ("warm", "cold", "warm")
        );
        assert_eq!(plan.warm_sandboxes(), 20);
        assert_eq!(plan.hold, Some(Duration::from_secs(2)));
        assert_eq!(plan.drain, Duration::from_secs(30));
        assert_eq!(plan.client_limit, Some((100.0, 5)));
        let warm = &plan.slos.latency[0];
        assert_eq!(
            (warm.phase, warm.launch, warm.min_samples),
            (Phase::ClaimReady, Some(LaunchType::Warm), None)
        );
        assert_eq!(plan.slos.latency[1].min_samples, Some(10));
        assert_eq!(
            plan.slos.error_budget,
            Some(ErrorBudget {
                max_error_ratio: 0.05
            })
        );
        let described = plan.describe();
        assert!(described.contains("pool cold of 0 × secure"), "{described}");
        assert!(
            described.contains("20 claims over 1.9s (10/s) on warm, cold"),
            "{described}"
        );
    }

    #[test]
    fn a_warm_up_goes_first_and_apart_from_the_steps_it_precedes() {
        let text = SCENARIO.replace(
            "constant: {rate: 10, duration: 2s}",
            "geometric: {from: 5, factor: 2, claimsPerStep: 10, to: 10, warmUp: 5}",
        );
        let scenario = Scenario::parse(Path::new("x.yaml"), &text).unwrap();
        let plan = BenchPlan::new(&scenario, None).unwrap();
        assert_eq!(plan.schedule.max_claims(), 25);
        let warm_up = plan.warm_up.expect("a warm-up");
        assert_eq!(
            (warm_up.rate_per_s, warm_up.from_us, warm_up.to_us),
            (5.0, 0, 1_000_000)
        );
        let steps: Vec<(f64, u64, u64)> = plan
            .steps
            .iter()
            .map(|s| (s.rate_per_s, s.from_us, s.to_us))
            .collect();
        assert_eq!(
            steps,
            [(5.0, 1_000_000, 3_000_000), (10.0, 3_000_000, 4_000_000)]
        );
        let described = plan.describe();
        assert!(
            described.contains("warm-up: the first 1.0s at 5/s, in no step"),
            "{described}"
        );
        let without = BenchPlan::new(
            &Scenario::parse(Path::new("x.yaml"), &text.replace(", warmUp: 5", "")).unwrap(),
            None,
        )
        .unwrap();
        assert_eq!((without.warm_up, without.steps.len()), (None, 2));
    }

    #[test]
    fn objects_carry_the_run_label_and_the_runtime_class() {
        let plan = plan();
        let template = template_object(&plan.templates[1], "abcde");
        assert_eq!(template["metadata"]["labels"][RUN_LABEL], "abcde");
        assert_eq!(
            template["spec"]["podTemplate"]["spec"]["runtimeClassName"],
            "gvisor"
        );
        assert!(
            template_object(&plan.templates[0], "abcde")["spec"]["podTemplate"]["spec"]
                .get("runtimeClassName")
                .is_none()
        );
        let pool = pool_object(&plan.pools[0], "abcde");
        assert_eq!(pool["spec"]["replicas"], 20);
        let claim = claim_object(&BenchPlan::claim_name(7), "warm", "abcde");
        assert_eq!(claim.metadata.name.as_deref(), Some("claim-000007"));
        assert_eq!(claim.spec.warm_pool_ref.name, "warm");
        assert_eq!(claim.metadata.labels.as_ref().unwrap()[RUN_LABEL], "abcde");
        // Every object is a valid typed object of its kind.
        serde_json::from_value::<sandbox_api::v1beta1::SandboxTemplate>(template).unwrap();
        serde_json::from_value::<sandbox_api::v1beta1::SandboxWarmPool>(pool).unwrap();
    }

    #[test]
    fn the_seed_can_be_overridden() {
        let text = SCENARIO.replace(
            "constant: {rate: 10, duration: 2s}",
            "poisson: {rate: 50, duration: 2s}",
        );
        let scenario = Scenario::parse(Path::new("x.yaml"), &text).unwrap();
        let a = BenchPlan::new(&scenario, None).unwrap();
        let b = BenchPlan::new(&scenario, Some(7)).unwrap();
        assert_eq!(b.seed, 7);
        assert_ne!(a.schedule, b.schedule);
        assert_eq!(
            a.schedule,
            BenchPlan::new(&scenario, None).unwrap().schedule
        );
    }

    #[test]
    fn pools_of_a_runtime_the_cluster_lacks_are_left_out_with_their_template() {
        let scenario = Scenario::parse(Path::new("x.yaml"), SCENARIO).unwrap();
        let mut plan = BenchPlan::new(&scenario, None).unwrap();
        assert_eq!(
            plan.without_runtime_classes(&["kata-clh"]),
            Vec::<String>::new()
        );
        assert_eq!(plan.claim_pools, ["warm", "cold"]);
        assert_eq!(plan.without_runtime_classes(&["gvisor"]), ["cold"]);
        assert_eq!(plan.claim_pools, ["warm"]);
        assert_eq!(plan.pools.len(), 1);
        assert!(plan.templates.iter().all(|t| t.name == "small"));
    }

    #[test]
    fn probe_templates_are_pinned_to_the_real_node_only_where_kwok_nodes_are_beside_it() {
        let pod = |cluster: &str| {
            let text = format!(
                "version: sandbox-bench/v1\nname: p\ncluster:\n{cluster}templates:\n  - {{name: \
                 probe, probe: true}}\npools:\n  - {{name: cold, template: probe, replicas: \
                 0}}\nload:\n  pool: cold\n  shape:\n    burst: {{count: 1}}\n"
            );
            let scenario = Scenario::parse(Path::new("x.yaml"), &text).unwrap();
            let plan = BenchPlan::new(&scenario, None).unwrap();
            template_object(&plan.templates[0], "r")["spec"]["podTemplate"]["spec"].clone()
        };
        let real = pod("  realNode: true\n");
        assert_eq!(
            real["nodeSelector"]["kubernetes.io/hostname"],
            sandbox_cluster::local::node::NODE_NAME
        );
        assert_eq!(
            real["containers"][0]["image"],
            sandbox_cluster::node_images::PROBE_IMAGE
        );
        let kind = pod("  provider: kind\n");
        assert!(kind.get("nodeSelector").is_none(), "{kind}");
        assert_eq!(
            kind["containers"][0]["image"],
            sandbox_cluster::node_images::PROBE_IMAGE
        );
    }
}
