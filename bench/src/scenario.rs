//! Scenario files (`scenarios/*.yaml`, format `sandbox-bench/v1`): what to run, parsed and
//! checked completely before anything touches a cluster.
//!
//! Unknown fields and wrong types are rejected by the YAML reader with `file:line:column`;
//! values that parse but cannot work (a rate of zero, a pool naming a missing template, an SLO
//! on an unknown phase) are rejected by [`Scenario::validate`] with `file:line:column` and the
//! field path. The reference of the format is `scenarios/README.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

pub use crate::controller::ControllerKind;
use crate::faults::FaultSpec;
use crate::schedule::Shape;
pub use sandbox_cluster::kind::Runtime;

pub const FORMAT_VERSION: &str = "sandbox-bench/v1";
/// Upper bound on claims in one run, whatever the shape says.
pub const MAX_CLAIMS: u32 = 100_000;
/// Upper bound on any duration in a scenario.
pub const MAX_DURATION: Duration = Duration::from_secs(6 * 3600);
/// Phases a scenario may report and put SLOs on.
pub const PHASES: [&str; 5] = [
    "acked",
    "bound",
    "sandbox_ready",
    "claim_ready",
    "harness_lag",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub version: Spanned<String>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub controller: ControllerSpec,
    pub templates: Vec<TemplateSpec>,
    pub pools: Vec<PoolSpec>,
    pub load: LoadSpec,
    #[serde(default)]
    pub slos: Vec<SloSpec>,
    /// Largest tolerated share of failed claims, 0–1.
    #[serde(default)]
    pub error_budget: Option<Spanned<f64>>,
    #[serde(default)]
    pub cleanup: Cleanup,
    /// Isolation checks run from inside real sandboxes before the load.
    #[serde(default)]
    pub isolation: Option<Spanned<IsolationSpec>>,
    /// Faults injected while the load runs.
    #[serde(default)]
    pub faults: Vec<Spanned<FaultSpec>>,
    /// Invariants checked from the harness's own watches; checked with their defaults
    /// whenever `faults` is given.
    #[serde(default)]
    pub invariants: Option<Spanned<InvariantsSpec>>,
}

/// `invariants`: how long after the last fault every claim must be Ready and every pool full.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InvariantsSpec {
    /// Default [`DEFAULT_RECOVERY`].
    #[serde(default)]
    pub recovery: Option<Spanned<String>>,
}

/// How long after the last fault's repair claims and pools may take to recover.
pub const DEFAULT_RECOVERY: Duration = Duration::from_secs(30);
/// Upper bound on controller replicas.
pub const MAX_REPLICAS: u32 = 5;

/// `isolation`: the RuntimeClass under test and the checks that must hold for it, each run
/// against a positive control under `control`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IsolationSpec {
    pub runtime_class: Spanned<String>,
    /// The RuntimeClass of the positive controls (default `runc`).
    #[serde(default)]
    pub control: Option<Spanned<String>>,
    pub checks: Vec<Spanned<String>>,
}

impl IsolationSpec {
    pub fn control(&self) -> &str {
        self.control.as_ref().map_or("runc", |c| c.value.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Provider {
    #[default]
    Local,
    Kubeconfig,
    Kind,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub provider: Provider,
    /// kwok nodes (local provider).
    #[serde(default = "one")]
    pub nodes: Spanned<u32>,
    /// How long a pod on a kwok node takes to turn Ready, e.g. `250ms`.
    #[serde(default)]
    pub pod_ready_delay: Option<Spanned<String>>,
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default)]
    pub context: Option<String>,
    /// The kind cluster (provider kind).
    #[serde(default)]
    pub kind: Option<Spanned<KindSpec>>,
    /// A real node (kubelet, containerd, runc, gVisor) beside the kwok nodes (local provider).
    #[serde(default)]
    pub real_node: Option<Spanned<bool>>,
    /// How the local provider runs its API server.
    #[serde(default)]
    pub api_server: Option<Spanned<ApiServerSpec>>,
}

/// `cluster.apiServer`: settings of the local provider's kube-apiserver that a real cluster
/// can set too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServerSpec {
    /// Its Go garbage collector's `GOGC` (percent the heap grows past the live heap before a
    /// collection; Go's default is 100).
    #[serde(default)]
    pub gogc: Option<Spanned<u32>>,
}

/// The highest `cluster.apiServer.gogc`: a heap allowed to grow a hundredfold is no longer a
/// setting anyone runs.
pub const MAX_GOGC: u32 = 10_000;

impl ClusterSpec {
    pub fn real_node(&self) -> bool {
        self.real_node.as_ref().is_some_and(|r| r.value)
    }

    /// `cluster.apiServer.gogc`, if set.
    pub fn apiserver_gogc(&self) -> Option<u32> {
        Some(self.api_server.as_ref()?.value.gogc.as_ref()?.value)
    }

    /// The RuntimeClasses a cluster the run starts will have, and what to call it; `None`
    /// where the harness does not know them (kwok nodes, an existing cluster).
    fn runtime_classes(&self) -> Option<(Vec<&'static str>, &'static str)> {
        match self.provider {
            Provider::Local if self.real_node() => Some((real_node_classes(), "the real node")),
            Provider::Kind => Some((
                self.kind
                    .as_ref()
                    .map(|k| k.value.runtimes())
                    .unwrap_or_default()
                    .into_iter()
                    .map(Runtime::runtime_class_name)
                    .collect(),
                "this kind cluster (cluster.kind.runtimes)",
            )),
            _ => None,
        }
    }
}

/// `cluster.kind`: the cluster the kind provider creates or reuses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindSpec {
    /// The kind cluster's name (default `sandbox-bench`).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Node image (default: `KIND_NODE_IMAGE` in `ci/versions.env`).
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// Worker nodes besides the control plane (default 0: the control plane runs the pods).
    #[serde(default)]
    pub workers: Option<Spanned<u32>>,
    /// Run on an existing cluster of that name and leave it running.
    #[serde(default)]
    pub reuse: bool,
    /// Sandboxed runtimes to install: `gvisor`, `kata`.
    #[serde(default)]
    pub runtimes: Vec<Spanned<Runtime>>,
}

/// Upper bound on kind worker nodes: each is a Docker container running a kubelet.
pub const MAX_KIND_WORKERS: u32 = 20;

impl KindSpec {
    pub fn name(&self) -> &str {
        self.name
            .as_ref()
            .map_or(sandbox_cluster::kind::DEFAULT_NAME, |n| n.value.as_str())
    }

    pub fn workers(&self) -> u32 {
        self.workers.as_ref().map_or(0, |w| w.value)
    }

    pub fn runtimes(&self) -> Vec<Runtime> {
        self.runtimes.iter().map(|r| r.value).collect()
    }
}

fn one() -> Spanned<u32> {
    Spanned::new(1, Location::UNKNOWN, Location::UNKNOWN)
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            provider: Provider::Local,
            nodes: one(),
            pod_ready_delay: None,
            kubeconfig: None,
            context: None,
            kind: None,
            real_node: None,
            api_server: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerSpec {
    #[serde(default)]
    pub kind: ControllerKind,
    /// Extra flags for the controller binary.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Processes of the controller, with leader election on when more than one (default 1).
    #[serde(default)]
    pub replicas: Option<Spanned<u32>>,
}

impl ControllerSpec {
    pub fn replicas(&self) -> u32 {
        self.replicas.as_ref().map_or(1, |r| r.value)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TemplateSpec {
    pub name: Spanned<String>,
    /// Container image of the single container (never pulled on kwok nodes).
    #[serde(default = "default_image")]
    pub image: String,
    /// A RuntimeClass the cluster has: on the real node `runc` or `gvisor`, on kind one of
    /// `cluster.kind.runtimes` (`gvisor`, `kata-clh`); unchecked elsewhere.
    #[serde(default)]
    pub runtime_class: Option<Spanned<String>>,
    /// Run the harness's probe image (serving its report) instead of `image`; needs a cluster
    /// the run loads the image into: the real node or kind.
    #[serde(default)]
    pub probe: Option<Spanned<bool>>,
}

impl TemplateSpec {
    pub fn probe(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.value)
    }

    pub fn runtime_class(&self) -> Option<&str> {
        self.runtime_class.as_ref().map(|c| c.value.as_str())
    }
}

/// The RuntimeClasses the local provider's real node has.
fn real_node_classes() -> Vec<&'static str> {
    sandbox_cluster::local::node::config::runtime_classes()
        .map(|(class, _)| class)
        .to_vec()
}

fn default_image() -> String {
    "registry.invalid/sandbox:bench".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PoolSpec {
    pub name: Spanned<String>,
    pub template: Spanned<String>,
    pub replicas: Spanned<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadSpec {
    /// The pool claims name; a pool with `replicas: 0` measures cold starts.
    #[serde(default)]
    pub pool: Option<Spanned<String>>,
    /// Several pools, claimed from in turn (instead of `pool`).
    #[serde(default)]
    pub pools: Vec<Spanned<String>>,
    pub shape: Spanned<ShapeSpec>,
    /// Seed of randomised shapes.
    #[serde(default)]
    pub seed: u64,
    /// How long each claim is held before it is deleted (churn); unset keeps claims to the end.
    #[serde(default)]
    pub hold: Option<Spanned<String>>,
    /// How long to wait for the last claims after the last send.
    #[serde(default = "default_drain")]
    pub drain: Spanned<String>,
    /// Client-side limit on claim creations per second (token bucket); unset: no limit.
    #[serde(default)]
    pub client_qps: Option<Spanned<f64>>,
    /// Burst of that token bucket (default: 1).
    #[serde(default)]
    pub client_burst: Option<Spanned<u32>>,
}

impl LoadSpec {
    /// The pools claims go to, in turn.
    pub fn claim_pools(&self) -> Vec<&str> {
        self.pool
            .iter()
            .chain(&self.pools)
            .map(|p| p.value.as_str())
            .collect()
    }
}

fn default_drain() -> Spanned<String> {
    Spanned::new("60s".into(), Location::UNKNOWN, Location::UNKNOWN)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum ShapeSpec {
    Burst {
        count: u32,
    },
    Constant {
        rate: f64,
        duration: String,
    },
    Poisson {
        rate: f64,
        duration: String,
    },
    Ramp {
        from: f64,
        to: f64,
        duration: String,
    },
    Step {
        steps: Vec<StepSpec>,
    },
    /// Steps whose rates grow by `factor` from `from` up to `to`, each long enough for
    /// `claimsPerStep` claims; with `stopAbove`, no step follows one whose warm claims'
    /// claim Ready p99 is already known to exceed that bound. With `warmUp`, that many
    /// claims go at `from` before the first step, in no step and no knee.
    #[serde(rename_all = "camelCase")]
    Geometric {
        from: f64,
        factor: f64,
        claims_per_step: u32,
        to: f64,
        #[serde(default)]
        stop_above: Option<String>,
        #[serde(default)]
        warm_up: Option<u32>,
    },
    ClosedLoop {
        concurrency: u32,
        count: u32,
        duration: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepSpec {
    pub rate: f64,
    pub duration: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SloSpec {
    pub phase: Spanned<String>,
    /// e.g. 99 or 99.9.
    pub percentile: Spanned<f64>,
    pub max_ms: Spanned<f64>,
    #[serde(default)]
    pub min_samples: u64,
    /// Only claims of this launch type (`warm` or `cold`).
    #[serde(default)]
    pub launch_type: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cleanup {
    #[default]
    Always,
    OnSuccess,
    Never,
}

/// A scenario that cannot be run, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The YAML reader's message already carries `line L column C` and a snippet.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// One impossible value: `file:line:column: field.path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text`, reporting locations against `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario =
            serde_saphyr::from_str(text).map_err(|e| ScenarioError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let problems = scenario.validate(path);
        if problems.is_empty() {
            Ok(scenario)
        } else {
            Err(ScenarioError::Invalid(problems))
        }
    }

    /// The first field that needs images or a node only a cluster the run starts has (the
    /// real node, the probe image), so no `--kubeconfig` can stand in for it.
    pub fn needs_own_cluster(&self) -> Option<String> {
        if self.cluster.real_node() {
            return Some("cluster.realNode".into());
        }
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| f.value.kind().needs_local_cluster())
        {
            return Some(format!(
                "faults[{i}].{}",
                self.faults[i].value.kind().name()
            ));
        }
        self.templates
            .iter()
            .position(TemplateSpec::probe)
            .map(|i| format!("templates[{i}].probe"))
    }

    /// Every impossible value, in file order.
    pub fn validate(&self, file: &Path) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut report = |at: &dyn Located, field: String, message: String| {
            let (line, column) = at.at();
            problems.push(Problem {
                file: file.to_path_buf(),
                line,
                column,
                field,
                message,
            });
        };
        self.validate_header(&mut report);
        self.validate_cluster(&mut report);
        self.validate_isolation(&mut report);
        self.validate_faults(&mut report);
        self.validate_kind(&mut report);
        let templates = self.validate_templates(&mut report);
        let pools = self.validate_pools(&templates, &mut report);
        self.validate_load(&pools, &mut report);
        self.validate_slos(&mut report);
        problems
    }

    /// `version` and `name`.
    fn validate_header(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        if self.version.value != FORMAT_VERSION {
            report(
                &self.version,
                "version".into(),
                format!("must be {FORMAT_VERSION:?}"),
            );
        }
        // The name becomes the report directory's: no path separators, no `..`.
        if !is_dns_label(&self.name.value) {
            report(
                &self.name,
                "name".into(),
                "must be a DNS label (lowercase letters, digits and '-'); it names the report \
                 directory"
                    .into(),
            );
        }
    }

    /// `cluster`'s size, real node, pod-ready delay and API server (its kind settings:
    /// [`Self::validate_kind`]).
    fn validate_cluster(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        let min_nodes = u32::from(!self.cluster.real_node());
        if self.cluster.nodes.value < min_nodes || self.cluster.nodes.value > 5000 {
            report(
                &self.cluster.nodes,
                "cluster.nodes".into(),
                format!("must be {min_nodes} to 5000"),
            );
        }
        if let Some(real) = &self.cluster.real_node
            && real.value
            && self.cluster.provider != Provider::Local
        {
            report(
                real,
                "cluster.realNode".into(),
                "only the local provider runs a real node".into(),
            );
        }
        if let Some(delay) = &self.cluster.pod_ready_delay
            && let Err(e) = duration(&delay.value)
        {
            report(delay, "cluster.podReadyDelay".into(), e);
        }
        if let Some(api_server) = &self.cluster.api_server {
            if self.cluster.provider != Provider::Local {
                report(
                    api_server,
                    "cluster.apiServer".into(),
                    "sets the local provider's API server; set GOGC in the environment of \
                     your cluster's kube-apiserver instead"
                        .into(),
                );
            }
            if let Some(gogc) = &api_server.value.gogc
                && !(1..=MAX_GOGC).contains(&gogc.value)
            {
                report(
                    gogc,
                    "cluster.apiServer.gogc".into(),
                    format!("must be 1 to {MAX_GOGC} (percent; Go's default is 100)"),
                );
            }
        }
    }

    /// `templates`; returns their names.
    fn validate_templates(
        &self,
        report: &mut impl FnMut(&dyn Located, String, String),
    ) -> BTreeSet<&str> {
        let mut templates = BTreeSet::new();
        let known_classes = self.cluster.runtime_classes();
        for (i, t) in self.templates.iter().enumerate() {
            if !templates.insert(t.name.value.as_str()) {
                report(
                    &t.name,
                    format!("templates[{i}].name"),
                    "duplicate template name".into(),
                );
            }
            if let Some(probe) = &t.probe
                && probe.value
                && !self.cluster.real_node()
                && self.cluster.provider != Provider::Kind
            {
                report(
                    probe,
                    format!("templates[{i}].probe"),
                    "the probe image is loaded into the real node and kind only: set \
                     cluster.realNode: true or cluster.provider: kind"
                        .into(),
                );
            }
            if !is_dns_label(&t.name.value) {
                report(
                    &t.name,
                    format!("templates[{i}].name"),
                    "must be a DNS label".into(),
                );
            }
            if let Some(class) = &t.runtime_class
                && let Some((classes, place)) = &known_classes
                && !classes.contains(&class.value.as_str())
            {
                report(
                    class,
                    format!("templates[{i}].runtimeClass"),
                    format!("{place} has RuntimeClasses {classes:?}"),
                );
            }
        }
        templates
    }

    /// `pools`, against the templates' names; returns their names.
    fn validate_pools(
        &self,
        templates: &BTreeSet<&str>,
        report: &mut impl FnMut(&dyn Located, String, String),
    ) -> BTreeSet<&str> {
        let mut pools = BTreeSet::new();
        for (i, p) in self.pools.iter().enumerate() {
            if !pools.insert(p.name.value.as_str()) {
                report(
                    &p.name,
                    format!("pools[{i}].name"),
                    "duplicate pool name".into(),
                );
            }
            if !templates.contains(p.template.value.as_str()) {
                report(
                    &p.template,
                    format!("pools[{i}].template"),
                    format!("no template named {:?}", p.template.value),
                );
            }
            if p.replicas.value > MAX_CLAIMS {
                report(
                    &p.replicas,
                    format!("pools[{i}].replicas"),
                    format!("at most {MAX_CLAIMS}"),
                );
            }
        }
        pools
    }

    /// `load`, against the pools' names.
    fn validate_load(
        &self,
        pools: &BTreeSet<&str>,
        report: &mut impl FnMut(&dyn Located, String, String),
    ) {
        match (&self.load.pool, self.load.pools.is_empty()) {
            (Some(_), false) => report(
                &self.load.pools[0],
                "load.pools".into(),
                "give either pool or pools, not both".into(),
            ),
            (None, true) => report(
                &self.load.shape,
                "load".into(),
                "name the pool to claim from: pool or pools".into(),
            ),
            _ => {}
        }
        let named = self.load.pool.iter().map(|p| ("load.pool".to_string(), p));
        let listed =
            (self.load.pools.iter().enumerate()).map(|(i, p)| (format!("load.pools[{i}]"), p));
        for (field, pool) in named.chain(listed) {
            if !pools.contains(pool.value.as_str()) {
                report(pool, field, format!("no pool named {:?}", pool.value));
            }
        }
        if let Some(qps) = &self.load.client_qps
            && !(qps.value > 0.0 && qps.value <= 100_000.0)
        {
            report(
                qps,
                "load.clientQps".into(),
                "must be above 0 and at most 100000".into(),
            );
        }
        if let Some(burst) = &self.load.client_burst {
            if self.load.client_qps.is_none() {
                report(
                    burst,
                    "load.clientBurst".into(),
                    "needs load.clientQps".into(),
                );
            } else if burst.value == 0 || burst.value > 100_000 {
                report(
                    burst,
                    "load.clientBurst".into(),
                    "must be 1 to 100000".into(),
                );
            }
        }
        if let Err(e) = self.shape() {
            report(&self.load.shape, "load.shape".into(), e);
        }
        for (name, value) in [
            ("load.hold", self.load.hold.as_ref()),
            ("load.drain", Some(&self.load.drain)),
        ] {
            if let Some(v) = value
                && let Err(e) = duration(&v.value)
            {
                report(v, name.into(), e);
            }
        }
    }

    /// `slos` and `errorBudget`.
    fn validate_slos(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        for (i, slo) in self.slos.iter().enumerate() {
            if !PHASES.contains(&slo.phase.value.as_str()) {
                report(
                    &slo.phase,
                    format!("slos[{i}].phase"),
                    format!("unknown phase; one of {}", PHASES.join(", ")),
                );
            }
            if !(slo.percentile.value > 0.0 && slo.percentile.value <= 100.0) {
                report(
                    &slo.percentile,
                    format!("slos[{i}].percentile"),
                    "must be in (0, 100]".into(),
                );
            }
            if !(slo.max_ms.value > 0.0 && slo.max_ms.value.is_finite()) {
                report(
                    &slo.max_ms,
                    format!("slos[{i}].maxMs"),
                    "must be a positive number of milliseconds".into(),
                );
            }
            if let Some(lt) = &slo.launch_type
                && !matches!(lt.value.as_str(), "warm" | "cold")
            {
                report(
                    lt,
                    format!("slos[{i}].launchType"),
                    "must be warm or cold".into(),
                );
            }
        }
        if let Some(budget) = &self.error_budget
            && !(0.0..=1.0).contains(&budget.value)
        {
            report(
                budget,
                "errorBudget".into(),
                "must be between 0 and 1".into(),
            );
        }
    }

    fn validate_faults(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        for (i, fault) in self.faults.iter().enumerate() {
            let kind = fault.value.kind();
            let at = format!("faults[{i}].{}", kind.name());
            for (field, message) in fault.value.problems() {
                report(fault, format!("{at}.{field}"), message);
            }
            if kind.needs_local_cluster() && self.cluster.provider != Provider::Local {
                report(
                    fault,
                    at.clone(),
                    "acts on the local provider's own processes or kwok nodes: set \
                     cluster.provider: local"
                        .into(),
                );
            }
            if kind.needs_controller_process() && self.controller.kind == ControllerKind::External {
                report(
                    fault,
                    at,
                    "needs a controller process the harness starts: reference or upstream".into(),
                );
            }
        }
        if let Some(replicas) = &self.controller.replicas
            && !(1..=MAX_REPLICAS).contains(&replicas.value)
        {
            report(
                replicas,
                "controller.replicas".into(),
                format!("must be 1 to {MAX_REPLICAS}"),
            );
        }
        if let Some(spec) = &self.invariants
            && let Some(recovery) = &spec.value.recovery
            && let Err(e) = duration(&recovery.value)
        {
            report(recovery, "invariants.recovery".into(), e);
        }
    }

    /// Whether the run checks invariants: asked for, or faults given.
    pub fn checks_invariants(&self) -> bool {
        self.invariants.is_some() || !self.faults.is_empty()
    }

    /// The recovery bound of the invariants.
    pub fn recovery(&self) -> Duration {
        self.invariants
            .as_ref()
            .and_then(|i| i.value.recovery.as_ref())
            .and_then(|r| duration(&r.value).ok())
            .unwrap_or(DEFAULT_RECOVERY)
    }

    /// An `isolation` block needs the real node, names its RuntimeClasses and known checks.
    fn validate_isolation(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        let Some(isolation) = &self.isolation else {
            return;
        };
        if !self.cluster.real_node() {
            report(
                isolation,
                "isolation".into(),
                "isolation checks run on the real node: set cluster.realNode: true".into(),
            );
        }
        let classes = real_node_classes();
        let mut class_fields = vec![("isolation.runtimeClass", &isolation.value.runtime_class)];
        class_fields.extend(
            isolation
                .value
                .control
                .as_ref()
                .map(|c| ("isolation.control", c)),
        );
        for (field, class) in class_fields {
            if !classes.contains(&class.value.as_str()) {
                report(
                    class,
                    field.into(),
                    format!("the real node has RuntimeClasses {classes:?}"),
                );
            }
        }
        if isolation.value.checks.is_empty() {
            report(
                isolation,
                "isolation.checks".into(),
                format!(
                    "name at least one of {:?}",
                    crate::isolation::checks::CHECKS
                ),
            );
        }
        for (i, check) in isolation.value.checks.iter().enumerate() {
            if !crate::isolation::checks::CHECKS.contains(&check.value.as_str()) {
                report(
                    check,
                    format!("isolation.checks[{i}]"),
                    format!(
                        "unknown check; known: {:?}",
                        crate::isolation::checks::CHECKS
                    ),
                );
            }
        }
    }

    /// `cluster.kind` only with provider kind, and the settings of kwok nodes only without it.
    fn validate_kind(&self, report: &mut impl FnMut(&dyn Located, String, String)) {
        let cluster = &self.cluster;
        let is_kind = cluster.provider == Provider::Kind;
        if let Some(kind) = &cluster.kind
            && !is_kind
        {
            report(
                kind,
                "cluster.kind".into(),
                "needs cluster.provider: kind".into(),
            );
        }
        if !is_kind {
            return;
        }
        // The default of `nodes` has no place in the file; an explicit value has one.
        if cluster.nodes.referenced.line() > 0 && cluster.nodes.value != 1 {
            report(
                &cluster.nodes,
                "cluster.nodes".into(),
                "counts kwok nodes of the local provider; size a kind cluster with \
                 cluster.kind.workers"
                    .into(),
            );
        }
        if let Some(delay) = &cluster.pod_ready_delay {
            report(
                delay,
                "cluster.podReadyDelay".into(),
                "applies to kwok nodes of the local provider; kind nodes run real pods".into(),
            );
        }
        let Some(kind) = &cluster.kind else {
            return;
        };
        let kind = &kind.value;
        if let Some(name) = &kind.name
            && !is_dns_label(&name.value)
        {
            report(
                name,
                "cluster.kind.name".into(),
                "must be a DNS label (lowercase letters, digits and '-')".into(),
            );
        }
        if let Some(image) = &kind.image
            && (image.value.trim().is_empty() || image.value.contains(char::is_whitespace))
        {
            report(
                image,
                "cluster.kind.image".into(),
                "must be an image reference such as kindest/node:v1.35.0".into(),
            );
        }
        if let Some(workers) = &kind.workers
            && workers.value > MAX_KIND_WORKERS
        {
            report(
                workers,
                "cluster.kind.workers".into(),
                format!("at most {MAX_KIND_WORKERS}"),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, runtime) in kind.runtimes.iter().enumerate() {
            if !seen.insert(runtime.value) {
                report(
                    runtime,
                    format!("cluster.kind.runtimes[{i}]"),
                    format!("{} is listed twice", runtime.value.name()),
                );
            }
        }
    }

    /// The load shape, with durations parsed and bounds checked.
    pub fn shape(&self) -> Result<Shape, String> {
        let rate = |r: f64| {
            if r > 0.0 && r <= 100_000.0 {
                Ok(r)
            } else {
                Err(format!(
                    "rate {r} must be above 0 and at most 100000 per second"
                ))
            }
        };
        let count = |c: u32| {
            if c > 0 && c <= MAX_CLAIMS {
                Ok(c)
            } else {
                Err(format!("count {c} must be 1 to {MAX_CLAIMS}"))
            }
        };
        Ok(match &self.load.shape.value {
            ShapeSpec::Burst { count: c } => Shape::Burst { count: count(*c)? },
            ShapeSpec::Constant {
                rate: r,
                duration: d,
            } => Shape::Constant {
                rate: rate(*r)?,
                duration: duration(d)?,
            },
            ShapeSpec::Poisson {
                rate: r,
                duration: d,
            } => Shape::Poisson {
                rate: rate(*r)?,
                duration: duration(d)?,
            },
            ShapeSpec::Ramp {
                from,
                to,
                duration: d,
            } => {
                if *from < 0.0 || (*from == 0.0 && *to == 0.0) {
                    return Err("a ramp needs from >= 0 and a rate above 0 somewhere".into());
                }
                Shape::Ramp {
                    from: *from,
                    to: rate(*to).or_else(|_| rate(*from).map(|_| *to))?,
                    duration: duration(d)?,
                }
            }
            ShapeSpec::Step { steps } => {
                if steps.is_empty() {
                    return Err("step needs at least one step".into());
                }
                Shape::Step {
                    steps: steps
                        .iter()
                        .map(|s| Ok((rate(s.rate)?, duration(&s.duration)?)))
                        .collect::<Result<_, String>>()?,
                }
            }
            ShapeSpec::Geometric {
                from,
                factor,
                claims_per_step,
                to,
                stop_above,
                warm_up,
            } => {
                if !(*factor > 1.0 && *factor <= 10.0) {
                    return Err(format!("factor {factor} must be above 1 and at most 10"));
                }
                let (from, to) = (rate(*from)?, rate(*to)?);
                if to < from {
                    return Err(format!("to {to} must be at least from {from}"));
                }
                count(*claims_per_step)?;
                if let Some(bound) = stop_above {
                    duration(bound).map_err(|e| format!("stopAbove: {e}"))?;
                }
                let mut steps = Vec::new();
                if let Some(claims) = warm_up {
                    count(*claims).map_err(|e| format!("warmUp: {e}"))?;
                    steps.extend(geometric_steps(from, *factor, *claims, from)?);
                }
                steps.extend(geometric_steps(from, *factor, *claims_per_step, to)?);
                Shape::Step { steps }
            }
            ShapeSpec::ClosedLoop {
                concurrency,
                count: c,
                duration: d,
            } => {
                if *concurrency == 0 || *concurrency > 10_000 {
                    return Err("concurrency must be 1 to 10000".into());
                }
                Shape::ClosedLoop {
                    concurrency: *concurrency,
                    count: count(*c)?,
                    duration: duration(d)?,
                }
            }
        })
    }
}

/// Most steps a geometric load may have.
const MAX_GEOMETRIC_STEPS: usize = 40;

/// `from`, `from·factor`, … up to `to` (rates rounded to a hundredth), each step lasting
/// for `claims` claims, rounded up to the millisecond.
fn geometric_steps(
    from: f64,
    factor: f64,
    claims: u32,
    to: f64,
) -> Result<Vec<(f64, Duration)>, String> {
    let mut steps = Vec::new();
    let mut rate = from;
    while rate <= to * (1.0 + 1e-9) {
        let rounded = (rate * 100.0).round() / 100.0;
        let length = Duration::from_millis((f64::from(claims) * 1000.0 / rounded).ceil() as u64);
        steps.push((rounded, length));
        if steps.len() > MAX_GEOMETRIC_STEPS {
            return Err(format!(
                "from {from} to {to} by {factor} makes more than {MAX_GEOMETRIC_STEPS} steps"
            ));
        }
        rate *= factor;
    }
    let total: Duration = steps.iter().map(|(_, d)| *d).sum();
    if total > MAX_DURATION {
        return Err("the steps last more than 6h".into());
    }
    Ok(steps)
}

impl ShapeSpec {
    /// Whether the load's first step is a warm-up (a geometric load's `warmUp`).
    pub fn warms_up(&self) -> bool {
        matches!(
            self,
            ShapeSpec::Geometric {
                warm_up: Some(_),
                ..
            }
        )
    }

    /// The bound after which a geometric load takes no further step.
    pub fn stop_above(&self) -> Option<Duration> {
        match self {
            ShapeSpec::Geometric {
                stop_above: Some(bound),
                ..
            } => duration(bound).ok(),
            _ => None,
        }
    }
}

/// A positive duration like `60s` or `250ms`, at most [`MAX_DURATION`].
pub fn duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration: {e}"))?;
    if d.is_zero() || d > MAX_DURATION {
        return Err(format!("{text:?} must be above 0 and at most 6h"));
    }
    Ok(d)
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Something with a place in the file.
trait Located {
    fn at(&self) -> (usize, usize);
}

impl<T> Located for Spanned<T> {
    fn at(&self) -> (usize, usize) {
        (
            self.referenced.line() as usize,
            self.referenced.column() as usize,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
version: sandbox-bench/v1
name: default
cluster:
  nodes: 10
templates:
  - name: python
pools:
  - name: pool
    template: python
    replicas: 100
load:
  pool: pool
  shape:
    constant: {rate: 50, duration: 60s}
slos:
  - phase: claim_ready
    percentile: 99
    maxMs: 100
    minSamples: 1000
    launchType: warm
errorBudget: 0.01
";

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/x.yaml"), text)
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Err(ScenarioError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
            other => panic!("expected validation problems, got {other:?}"),
        }
    }

    #[test]
    fn a_good_scenario_parses_with_defaults_filled() {
        let s = parse(GOOD).unwrap();
        assert_eq!(
            s.shape().unwrap(),
            Shape::Constant {
                rate: 50.0,
                duration: Duration::from_secs(60)
            }
        );
        assert_eq!(s.cluster.provider, Provider::Local);
        assert_eq!(s.controller.kind, ControllerKind::Reference);
        assert_eq!(s.cleanup, Cleanup::Always);
        assert_eq!(s.load.drain.value, "60s");
        assert_eq!(s.slos[0].max_ms.value, 100.0);
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_line_and_column() {
        let typo = GOOD.replace("  nodes: 10", "  nodez: 10");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.starts_with("scenarios/x.yaml: "), "{err}");
        assert!(err.contains("line 4 column 3"), "{err}");
        assert!(err.contains("unknown field `nodez`"), "{err}");
        let wrong = GOOD.replace("replicas: 100", "replicas: many");
        let err = parse(&wrong).unwrap_err().to_string();
        assert!(err.contains("line 10 column 15"), "{err}");
    }

    #[test]
    fn impossible_values_name_file_line_column_and_field_path() {
        let bad = GOOD
            .replace("template: python", "template: node")
            .replace("percentile: 99", "percentile: 120")
            .replace("rate: 50", "rate: 0");
        let p = problems(&bad);
        assert!(
            p.contains(
                &"scenarios/x.yaml:9:15: pools[0].template: no template named \"node\"".to_string()
            ),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("scenarios/x.yaml:14:5: load.shape: rate 0")),
            "{p:?}"
        );
        assert!(
            p.contains(
                &"scenarios/x.yaml:17:17: slos[0].percentile: must be in (0, 100]".to_string()
            ),
            "{p:?}"
        );
    }

    #[test]
    fn a_name_that_is_no_dns_label_cannot_name_the_report_directory() {
        for name in ["../../etc", "Default", "a/b", "\"\""] {
            let bad = GOOD.replace("name: default", &format!("name: {name}"));
            let p = problems(&bad);
            assert!(
                p.iter()
                    .any(|l| l.starts_with("scenarios/x.yaml:2:7: name: must be a DNS label")),
                "{name}: {p:?}"
            );
        }
    }

    #[test]
    fn faults_name_their_entry_and_field_and_where_they_cannot_work() {
        let with = |faults: &str, extra: &str| format!("{GOOD}{extra}faults:\n{faults}");
        let p = problems(&with("  - podKill: {at: 1s, for: 2s}\n", ""));
        assert!(
            p.iter()
                .any(|l| l.contains("faults[0].podKill.for: podKill has no outage")),
            "{p:?}"
        );
        let p = problems(&with("  - etcdRestart: {at: 1s}\n", "").replace(
            "cluster:\n",
            "cluster:\n  provider: kubeconfig\n  kubeconfig: /k\n",
        ));
        assert!(
            p.iter()
                .any(|l| l.contains("faults[0].etcdRestart: acts on the local provider")),
            "{p:?}"
        );
        let p = problems(&with(
            "  - controllerKill: {every: 5s}\n",
            "controller:\n  kind: external\n  replicas: 9\n",
        ));
        assert!(
            p.iter()
                .any(|l| l.contains("faults[0].controllerKill: needs a controller process")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.contains("controller.replicas: must be 1 to 5")),
            "{p:?}"
        );
        let ok = parse(&with(
            "  - controllerKill: {every: 5s}\n",
            "invariants:\n  recovery: 45s\n",
        ))
        .unwrap();
        assert!(ok.checks_invariants());
        assert_eq!(ok.recovery(), Duration::from_secs(45));
        assert!(!parse(GOOD).unwrap().checks_invariants());
    }

    #[test]
    fn references_phases_and_budgets_are_checked() {
        let bad = GOOD
            .replace("  pool: pool\n  shape", "  pool: other\n  shape")
            .replace("phase: claim_ready", "phase: ready")
            .replace("errorBudget: 0.01", "errorBudget: 2")
            .replace("version: sandbox-bench/v1", "version: v0");
        let fields: Vec<String> = problems(&bad)
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap().to_string())
            .collect();
        assert_eq!(
            fields,
            ["version", "load.pool", "slos[0].phase", "errorBudget"]
        );
    }

    #[test]
    fn every_shape_parses_and_is_bounded() {
        for (yaml, ok) in [
            ("burst: {count: 1000}", true),
            ("burst: {count: 0}", false),
            ("burst: {count: 1000000}", false),
            ("poisson: {rate: 10, duration: 1m}", true),
            ("ramp: {from: 0, to: 100, duration: 30s}", true),
            (
                "step: {steps: [{rate: 10, duration: 10s}, {rate: 20, duration: 10s}]}",
                true,
            ),
            ("step: {steps: []}", false),
            (
                "geometric: {from: 2, factor: 1.5, claimsPerStep: 300, to: 80, stopAbove: 1s}",
                true,
            ),
            (
                "geometric: {from: 2, factor: 1, claimsPerStep: 300, to: 80}",
                false,
            ),
            (
                "geometric: {from: 2, factor: 1.5, claimsPerStep: 0, to: 80}",
                false,
            ),
            (
                "geometric: {from: 20, factor: 1.5, claimsPerStep: 300, to: 8}",
                false,
            ),
            (
                "geometric: {from: 1, factor: 1.01, claimsPerStep: 10, to: 100}",
                false,
            ),
            (
                "geometric: {from: 2, factor: 1.5, claimsPerStep: 30, to: 8, stopAbove: later}",
                false,
            ),
            (
                "closedLoop: {concurrency: 8, count: 500, duration: 5m}",
                true,
            ),
            ("constant: {rate: 10, duration: 7h}", false),
            ("constant: {rate: 10, duration: soon}", false),
        ] {
            let text = GOOD.replace("constant: {rate: 50, duration: 60s}", yaml);
            assert_eq!(
                parse(&text).is_ok(),
                ok,
                "{yaml}: {:?}",
                parse(&text).err().map(|e| e.to_string())
            );
        }
    }

    #[test]
    fn a_geometric_load_is_steps_of_growing_rate_each_long_enough_for_its_claims() {
        let text = GOOD.replace(
            "constant: {rate: 50, duration: 60s}",
            "geometric: {from: 2, factor: 1.5, claimsPerStep: 300, to: 10, stopAbove: 1s}",
        );
        let scenario = parse(&text).unwrap();
        let Shape::Step { steps } = scenario.shape().unwrap() else {
            panic!("not steps")
        };
        // 2 · 1.5⁴ = 10.125 is past `to`.
        assert_eq!(
            steps,
            [
                (2.0, Duration::from_secs(150)),
                (3.0, Duration::from_secs(100)),
                (4.5, Duration::from_millis(66_667)),
                (6.75, Duration::from_millis(44_445)),
            ]
        );
        assert_eq!(
            scenario.load.shape.value.stop_above(),
            Some(Duration::from_secs(1))
        );
        assert!(!scenario.load.shape.value.warms_up());
    }

    #[test]
    fn a_geometric_warm_up_is_a_first_step_at_the_first_rate_long_enough_for_its_claims() {
        let text = GOOD.replace(
            "constant: {rate: 50, duration: 60s}",
            "geometric: {from: 4, factor: 1.5, claimsPerStep: 300, to: 6, warmUp: 20}",
        );
        let scenario = parse(&text).unwrap();
        let Shape::Step { steps } = scenario.shape().unwrap() else {
            panic!("not steps")
        };
        assert_eq!(
            steps,
            [
                (4.0, Duration::from_secs(5)),
                (4.0, Duration::from_secs(75)),
                (6.0, Duration::from_secs(50)),
            ]
        );
        assert!(scenario.load.shape.value.warms_up());
        let zero = GOOD.replace(
            "constant: {rate: 50, duration: 60s}",
            "geometric: {from: 4, factor: 1.5, claimsPerStep: 300, to: 6, warmUp: 0}",
        );
        let error = parse(&zero).unwrap_err().to_string();
        assert!(error.contains("warmUp"), "{error}");
    }

    const KIND: &str = "\
version: sandbox-bench/v1
name: kind
cluster:
  provider: kind
  kind:
    name: bench
    image: kindest/node:v1.35.0
    workers: 2
    reuse: true
    runtimes: [gvisor, kata]
templates:
  - name: python
pools:
  - name: pool
    template: python
    replicas: 5
load:
  pool: pool
  shape:
    burst: {count: 5}
";

    #[test]
    fn a_kind_cluster_is_described_under_cluster_kind() {
        let s = parse(KIND).unwrap();
        assert_eq!(s.cluster.provider, Provider::Kind);
        let kind = &s.cluster.kind.as_ref().unwrap().value;
        assert_eq!(kind.name(), "bench");
        assert_eq!(kind.workers(), 2);
        assert!(kind.reuse);
        assert_eq!(kind.runtimes(), [Runtime::Gvisor, Runtime::Kata]);
        assert_eq!(kind.image.as_ref().unwrap().value, "kindest/node:v1.35.0");
        let plain = KIND.replace(
            "  kind:\n    name: bench\n    image: kindest/node:v1.35.0\n    workers: 2\n    \
             reuse: true\n    runtimes: [gvisor, kata]\n",
            "",
        );
        let s = parse(&plain).unwrap();
        assert!(s.cluster.kind.is_none());
    }

    #[test]
    fn kind_settings_are_checked_with_their_place() {
        let bad = KIND
            .replace("name: bench", "name: Bench_1")
            .replace("workers: 2", "workers: 50")
            .replace("[gvisor, kata]", "[gvisor, kata, gvisor]");
        assert_eq!(
            problems(&bad),
            [
                "scenarios/x.yaml:6:11: cluster.kind.name: must be a DNS label (lowercase \
                 letters, digits and '-')",
                "scenarios/x.yaml:8:14: cluster.kind.workers: at most 20",
                "scenarios/x.yaml:10:30: cluster.kind.runtimes[2]: gvisor is listed twice",
            ]
        );
        let unknown = KIND.replace("[gvisor, kata]", "[firecracker]");
        let err = parse(&unknown).unwrap_err().to_string();
        assert!(err.contains("line 10"), "{err}");
        assert!(err.contains("firecracker"), "{err}");
        let typo = KIND.replace("reuse: true", "reused: true");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.contains("unknown field `reused`"), "{err}");
    }

    #[test]
    fn kind_and_kwok_settings_do_not_mix() {
        let local = KIND.replace("provider: kind", "provider: local");
        assert_eq!(
            problems(&local),
            ["scenarios/x.yaml:6:5: cluster.kind: needs cluster.provider: kind"]
        );
        let kwok = KIND.replace(
            "  provider: kind\n",
            "  provider: kind\n  nodes: 3\n  podReadyDelay: 1s\n",
        );
        let fields: Vec<String> = problems(&kwok)
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap().to_string())
            .collect();
        assert_eq!(fields, ["cluster.nodes", "cluster.podReadyDelay"]);
    }

    #[test]
    fn the_local_api_server_takes_a_gogc_in_range_and_only_the_local_provider_one() {
        let set = GOOD.replace(
            "  nodes: 10\n",
            "  nodes: 10\n  apiServer:\n    gogc: 400\n",
        );
        assert_eq!(parse(&set).unwrap().cluster.apiserver_gogc(), Some(400));
        assert_eq!(parse(GOOD).unwrap().cluster.apiserver_gogc(), None);
        for bad in ["0", "10001"] {
            assert_eq!(
                problems(&set.replace("gogc: 400", &format!("gogc: {bad}"))),
                [
                    "scenarios/x.yaml:6:11: cluster.apiServer.gogc: must be 1 to 10000 (percent; \
                     Go's default is 100)"
                ]
            );
        }
        let typo = set.replace("gogc: 400", "gcpercent: 400");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.contains("unknown field `gcpercent`"), "{err}");
        let kind = KIND.replace(
            "  provider: kind\n",
            "  provider: kind\n  apiServer: {gogc: 400}\n",
        );
        let fields: Vec<String> = problems(&kind)
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap().to_string())
            .collect();
        assert_eq!(fields, ["cluster.apiServer"]);
    }

    const REAL: &str = "\
version: sandbox-bench/v1
name: real
cluster:
  nodes: 0
  realNode: true
templates:
  - {name: probe, probe: true, runtimeClass: gvisor}
pools:
  - {name: cold, template: probe, replicas: 0}
isolation:
  runtimeClass: gvisor
  checks: [kernel_not_shared]
load:
  pool: cold
  shape:
    burst: {count: 2}
";

    #[test]
    fn a_real_node_scenario_with_probes_and_isolation_is_valid() {
        let s = parse(REAL).unwrap();
        assert!(s.cluster.real_node());
        assert!(s.templates[0].probe());
        assert_eq!(s.templates[0].runtime_class(), Some("gvisor"));
        assert_eq!(s.needs_own_cluster().as_deref(), Some("cluster.realNode"));
        assert_eq!(parse(GOOD).unwrap().needs_own_cluster(), None);
    }

    #[test]
    fn probes_and_isolation_need_a_cluster_the_run_brings_them_to() {
        // kwok nodes only: neither the probe image nor the isolation checks have a place.
        let kwok = REAL.replace("  nodes: 0\n  realNode: true\n", "  nodes: 1\n");
        assert_eq!(
            problems(&kwok),
            [
                "scenarios/x.yaml:10:3: isolation: isolation checks run on the real node: set \
                 cluster.realNode: true",
                "scenarios/x.yaml:6:26: templates[0].probe: the probe image is loaded into the \
                 real node and kind only: set cluster.realNode: true or cluster.provider: kind",
            ]
        );
        // kind loads the probe image; isolation checks remain the real node's.
        let kind = KIND.replace(
            "  - name: python\n",
            "  - {name: python, probe: true, runtimeClass: kata-clh}\n",
        );
        let s = parse(&kind).unwrap();
        assert_eq!(s.needs_own_cluster().as_deref(), Some("templates[0].probe"));
        let real_on_kind =
            KIND.replace("  provider: kind\n", "  provider: kind\n  realNode: true\n");
        assert_eq!(
            problems(&real_on_kind),
            ["scenarios/x.yaml:5:13: cluster.realNode: only the local provider runs a real node"]
        );
    }

    #[test]
    fn runtime_classes_are_checked_against_the_cluster_the_run_starts() {
        let kata_on_real_node = REAL.replace("runtimeClass: gvisor}", "runtimeClass: kata-clh}");
        assert_eq!(
            problems(&kata_on_real_node),
            [
                "scenarios/x.yaml:7:46: templates[0].runtimeClass: the real node has \
                 RuntimeClasses [\"runc\", \"gvisor\"]"
            ]
        );
        let kata_without_kata = KIND
            .replace("runtimes: [gvisor, kata]", "runtimes: [gvisor]")
            .replace(
                "  - name: python\n",
                "  - {name: python, runtimeClass: kata-clh}\n",
            );
        assert_eq!(
            problems(&kata_without_kata),
            [
                "scenarios/x.yaml:12:34: templates[0].runtimeClass: this kind cluster \
                 (cluster.kind.runtimes) has RuntimeClasses [\"gvisor\"]"
            ]
        );
        // kwok nodes run no container: any class will do.
        let kwok = GOOD.replace(
            "  - name: python\n",
            "  - {name: python, runtimeClass: anything}\n",
        );
        assert!(parse(&kwok).is_ok());
    }

    #[test]
    fn isolation_names_known_classes_and_checks() {
        let bad = REAL
            .replace(
                "  runtimeClass: gvisor\n  checks",
                "  runtimeClass: kata\n  checks",
            )
            .replace("[kernel_not_shared]", "[kernel_not_shared, no_magic]");
        let fields: Vec<String> = problems(&bad)
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap().to_string())
            .collect();
        assert_eq!(fields, ["isolation.runtimeClass", "isolation.checks[1]"]);
        let none = REAL.replace("[kernel_not_shared]", "[]");
        assert_eq!(
            problems(&none)[0].split(": ").nth(1),
            Some("isolation.checks")
        );
    }
}
