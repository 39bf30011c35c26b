//! Command-line interface of `sandbox-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::controller::ControllerKind;
use sandbox_cluster::binaries::pinned;
use sandbox_conformance::Spec;

#[derive(Debug, Parser)]
#[command(
    name = "sandbox-bench",
    version,
    about = "Test-and-benchmark harness for agent-sandbox controllers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop and inspect a local cluster (real control plane + kwok nodes).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Check a controller against the agent-sandbox spec: one case per behaviour, each in its
    /// own namespace; prints a summary table and writes JUnit XML.
    Conformance(ConformanceArgs),
    /// Run a benchmark scenario: fill the pools, fire claims on schedule, measure every phase,
    /// check the SLOs and write results.json, records.jsonl, report.md, report.html and
    /// junit.xml. Exit codes: 0 pass, 1 SLO breach or leak, 2 bad input, 3 infrastructure,
    /// 130 interrupted.
    Bench(BenchArgs),
    /// Compare runs side by side: ratios of p50 and p99 per phase and a regression verdict
    /// (exit 1 on regression).
    Compare(CompareArgs),
    /// Where each controller gives way: the stepped scenario against each controller in turn
    /// (a fresh local cluster each), with the highest rate at which warm claim Ready p99 stayed
    /// ≤ 100 ms (`knee_100ms`) and < 1 s (`knee_1s`). Writes knee.json, knee.md and
    /// knee.html. Exit codes:
    /// 0 done, 1 a --require bound failed, 2 bad input, 3 infrastructure.
    Knee(KneeArgs),
    /// Add runs (bench, knee and conformance runs) to a static history site: history.json,
    /// index.html with a trend per scenario, phase and controller, the latest knee curves and
    /// the conformance history, each run's own report, badges/*.svg and summary.md (for a PR
    /// comment). Re-publishing a run changes nothing. Exit codes: 0 published, 1 a published
    /// run regressed (with --fail-on-regression), 2 bad input (a run or the site of another
    /// schema; nothing written), 3 I/O.
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Run directories, or directories searched for them: every directory holding a
    /// results.json, knee.json or conformance.json (a knee run's controller runs belong to it).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The site's directory, created or updated in place (it may lie inside a searched one).
    #[arg(long, default_value = "runs/site")]
    pub site: PathBuf,
    /// The commit of runs that did not record one (e.g. $GITHUB_SHA).
    #[arg(long)]
    pub commit: Option<String>,
    /// Exit 1 when a published run is marked as a regression.
    #[arg(long)]
    pub fail_on_regression: bool,
}

#[derive(Debug, Args)]
pub struct KneeArgs {
    /// A scenario whose load is a `step` or `geometric` shape.
    #[arg(default_value = "scenarios/knee.yaml")]
    pub scenario: PathBuf,
    /// The controllers, in the order they run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [ControllerKind::Reference, ControllerKind::Upstream, ControllerKind::Floor]
    )]
    pub controllers: Vec<ControllerKind>,
    /// A bound the run must meet, e.g. `reference.knee_100ms>=20`; repeat for more.
    #[arg(long = "require")]
    pub requires: Vec<String>,
    /// Output directory (default: runs/knee/<scenario>-<UTC time>); each controller's run in
    /// a directory of its own inside.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub program: ControllerProgram,
    /// Directory holding the pinned binaries of the local cluster.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The scenario file.
    #[arg(default_value = "scenarios/default.yaml")]
    pub scenario: PathBuf,
    /// Validate the scenario, print the plan and exit without touching a cluster.
    #[arg(long)]
    pub check: bool,
    /// The controller under test (default: the scenario's `controller.kind`).
    #[arg(long, value_enum)]
    pub controller: Option<ControllerKind>,
    /// Run against this existing cluster instead of a local one (default: the scenario's
    /// `cluster.kubeconfig` when its provider is `kubeconfig`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig.
    #[arg(long)]
    pub context: Option<String>,
    #[command(flatten)]
    pub program: ControllerProgram,
    /// Report directory (default: runs/bench/<scenario>-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of randomised arrival schedules (default: the scenario's `load.seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory holding the pinned binaries of the local cluster.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// Which build of the controller under test runs, and with which extra flags.
#[derive(Debug, Clone, Args)]
pub struct ControllerProgram {
    /// The sandbox-controller binary (reference only; default: next to sandbox-bench).
    #[arg(long)]
    pub controller_bin: Option<PathBuf>,
    /// The directory ci/setup-upstream printed (upstream only; default: its cache directory).
    #[arg(long)]
    pub upstream_dir: Option<PathBuf>,
    /// An extra flag for the controller (after a scenario's own); repeat for more.
    #[arg(
        long = "controller-arg",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub controller_args: Vec<String>,
}

impl ControllerProgram {
    /// The flags that name a build must fit the controller `kind`.
    pub fn check(&self, kind: ControllerKind) -> Result<(), String> {
        if self.controller_bin.is_some()
            && kind != ControllerKind::Reference
            && kind.floor_writes().is_none()
        {
            return Err(
                "--controller-bin applies only to --controller reference (or floor and spec-floor, \
                 whose pools it fills)"
                    .into(),
            );
        }
        if self.upstream_dir.is_some() && kind != ControllerKind::Upstream {
            return Err("--upstream-dir applies only to --controller upstream".into());
        }
        if kind == ControllerKind::External && !self.controller_args.is_empty() {
            return Err("--controller-arg needs a controller the harness starts".into());
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run: its directory or its results.json.
    pub baseline: PathBuf,
    /// One or more candidate runs, each compared with the baseline.
    #[arg(required = true)]
    pub candidates: Vec<PathBuf>,
    /// Tolerated relative slowdown before a percentile counts as a regression (0.1 = 10 %).
    #[arg(long, default_value_t = 0.1)]
    pub noise: f64,
    /// Where to write compare-<n>.md and compare-<n>.html (default: runs/compare).
    #[arg(long, default_value = "runs/compare")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a local cluster, install the agent-sandbox CRDs and print its kubeconfig.
    Up(UpArgs),
    /// Stop a local cluster started by `up`.
    Down(Target),
    /// Show whether a local cluster's components run and its API server is ready.
    Status(Target),
}

/// Which local cluster: by name (under `runs/clusters/`) or by directory.
#[derive(Debug, Args)]
pub struct Target {
    /// Cluster name: lowercase letters, digits and '-'.
    #[arg(long, default_value = "local", value_parser = parse_name)]
    pub name: String,
    /// Cluster directory (default: runs/clusters/<name>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl Target {
    pub fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/clusters").join(&self.name))
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub target: Target,
    /// Number of kwok (fake) nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub nodes: u32,
    /// Pods each kwok node accepts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pods_per_node: u32,
    /// Time a pod on a kwok node takes to become Ready after it is scheduled (e.g. 0s, 250ms).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub pod_ready_delay: Duration,
    /// Extra random delay, drawn per pod uniformly from [0, jitter].
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub pod_ready_jitter: Duration,
    /// The API server's GOGC: how far, in percent, its heap grows past the live heap before Go
    /// collects (Go's default: 100). Scenarios set it as `cluster.apiServer.gogc`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::scenario::MAX_GOGC)))]
    pub apiserver_gogc: Option<u32>,
    /// Directory holding the pinned binaries (default: $SANDBOX_BENCH_BIN_DIR, then the
    /// cache that `just setup` fills).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Give up if the cluster is not ready within this time.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Do not install the agent-sandbox CRDs.
    #[arg(long)]
    pub no_crds: bool,
    /// Also start a real node (kubelet, containerd, runc, gVisor; needs root, `just setup` and
    /// `just node-bins`), with the RuntimeClasses `runc` and `gvisor` and the probe image.
    #[arg(long)]
    pub real_node: bool,
    /// Stay in the foreground and stop the cluster on Ctrl-C, instead of returning.
    #[arg(long)]
    pub foreground: bool,
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The controller under test: this project's, the pinned upstream release, or one already
    /// running against --kubeconfig.
    #[arg(long, value_enum, default_value_t = ControllerKind::Reference)]
    pub controller: ControllerKind,
    /// Run against this existing cluster instead of starting a local one; the suite installs
    /// only what --controller needs and deletes every namespace it created.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in --kubeconfig (default: its current context).
    #[arg(long, requires = "kubeconfig")]
    pub context: Option<String>,
    #[command(flatten)]
    pub program: ControllerProgram,
    /// Run directory: the local cluster, the controller's log, the JUnit file
    /// (default: runs/conformance-<controller>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where to write JUnit XML (default: <dir>/conformance.xml).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Run only the cases whose name contains this text; repeat to add more.
    #[arg(long, value_name = "SUBSTRING")]
    pub filter: Vec<String>,
    /// The spec to check: `latest`, or a release (`v1.0.3`) whose later cases are skipped
    /// with the release that introduced them (default: the pinned release for
    /// `--controller upstream`, else latest).
    #[arg(long, value_name = "RELEASE|latest")]
    pub spec: Option<Spec>,
    /// List the cases (after --filter) with their spec sections, and exit.
    #[arg(long)]
    pub list: bool,
    /// Cases running at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// Image of every container the cases create (kwok never pulls it; a real node does).
    /// The default is the pause image of the pinned Kubernetes, which kind's offline node image
    /// (`just setup-kind`) holds.
    #[arg(long, default_value = "registry.k8s.io/pause:3.10.2")]
    pub image: String,
    /// Directory holding the pinned binaries of the local cluster (default:
    /// $SANDBOX_BENCH_BIN_DIR, then the cache that `just setup` fills).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

impl ConformanceArgs {
    /// The run directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            PathBuf::from("runs").join(format!("conformance-{}", self.controller.name()))
        })
    }

    /// The spec checked: `--spec`, else the pinned upstream release for the upstream
    /// controller (so cases of later releases skip instead of failing), else the latest.
    pub fn spec(&self) -> Spec {
        self.spec.unwrap_or_else(|| match self.controller {
            ControllerKind::Upstream => pinned("UPSTREAM_AGENT_SANDBOX_VERSION")
                .and_then(|v| v.parse().ok())
                .map_or(Spec::Latest, Spec::Release),
            _ => Spec::Latest,
        })
    }

    /// The JUnit file.
    pub fn junit(&self) -> PathBuf {
        self.junit
            .clone()
            .unwrap_or_else(|| self.dir().join("conformance.xml"))
    }

    /// Flag combinations clap cannot express; the message names the flags.
    pub fn validate(&self) -> Result<(), String> {
        let kind = self.controller;
        self.program.check(kind)?;
        if kind.floor_writes().is_some() {
            return Err(format!(
                "--controller {} measures warm claims in a benchmark; it implements nothing \
                 else of the spec, so it has no conformance to check",
                kind.name()
            ));
        }
        if kind == ControllerKind::External && self.kubeconfig.is_none() {
            return Err(
                "--controller external needs --kubeconfig: an external controller \
                        runs against an existing cluster, not one the suite starts"
                    .into(),
            );
        }
        if let Some(path) = &self.kubeconfig {
            if !path.is_file() {
                return Err(format!("--kubeconfig {} is not a file", path.display()));
            }
            if self.bin_dir.is_some() {
                return Err(
                    "--bin-dir is for the local cluster; it has no use with --kubeconfig".into(),
                );
            }
        }
        if self.image.trim().is_empty() {
            return Err("--image must not be empty".into());
        }
        Ok(())
    }
}

impl CompareArgs {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.noise.is_finite() && (0.0..=10.0).contains(&self.noise)) {
            return Err(format!("--noise {} must be between 0 and 10", self.noise));
        }
        Ok(())
    }
}

/// Cluster names become directory names and kubeconfig context names.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a valid cluster name: use 1-63 lowercase letters, digits and '-', \
             not starting or ending with '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cluster_names_are_checked() {
        assert!(parse_name("dev-1").is_ok());
        for bad in ["", "Dev", "a/b", "-x", "x-", "a_b", "../x"] {
            assert!(parse_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_flags_are_rejected_with_the_flag_named() {
        let err = Cli::try_parse_from(["sandbox-bench", "cluster", "up", "--nodes", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--nodes"), "{err}");
        let err = Cli::try_parse_from([
            "sandbox-bench",
            "cluster",
            "up",
            "--pod-ready-delay",
            "soon",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--pod-ready-delay"), "{err}");
    }

    fn conformance(args: &[&str]) -> Result<ConformanceArgs, String> {
        let cli = Cli::try_parse_from(
            ["sandbox-bench", "conformance"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        let Command::Conformance(args) = cli.command else {
            panic!("parsed the wrong command");
        };
        args.validate().map(|()| args)
    }

    #[test]
    fn conformance_defaults_follow_the_controller() {
        let args = conformance(&[]).unwrap();
        assert_eq!(args.controller, ControllerKind::Reference);
        assert_eq!(args.dir(), PathBuf::from("runs/conformance-reference"));
        assert_eq!(
            args.junit(),
            PathBuf::from("runs/conformance-reference/conformance.xml")
        );
        assert_eq!(args.parallel, 4);
        let pause = sandbox_cluster::binaries::pinned("KIND_OFFLINE_PAUSE_VERSION").unwrap();
        assert_eq!(
            args.image,
            format!("registry.k8s.io/pause:{pause}"),
            "the pause image the offline kind node image holds"
        );
        assert_eq!(args.spec(), Spec::Latest);
        let args = conformance(&["--controller", "upstream", "--filter", "claim-"]).unwrap();
        assert_eq!(args.dir(), PathBuf::from("runs/conformance-upstream"));
        assert_eq!(args.filter, ["claim-"]);
        let upstream = pinned("UPSTREAM_AGENT_SANDBOX_VERSION").unwrap();
        assert_eq!(
            args.spec(),
            Spec::Release(upstream.parse().unwrap()),
            "upstream is checked against its own release's spec"
        );
        let args = conformance(&["--controller", "upstream", "--spec", "latest"]).unwrap();
        assert_eq!(args.spec(), Spec::Latest);
        let args = conformance(&["--spec", "v1.0.4"]).unwrap();
        assert_eq!(args.spec().to_string(), "v1.0.4");
        let err = conformance(&["--spec", "1.0.4"]).unwrap_err();
        assert!(
            err.contains("--spec") && err.contains("vMAJOR.MINOR.PATCH"),
            "{err}"
        );
        let args = conformance(&["--controller-arg", "--leader-elect=false"]).unwrap();
        assert_eq!(args.program.controller_args, ["--leader-elect=false"]);
    }

    #[test]
    fn conformance_rejects_flags_that_do_not_fit_together() {
        let err = |args: &[&str]| conformance(args).unwrap_err();
        assert!(err(&["--controller", "mine"]).contains("--controller"));
        assert!(err(&["--context", "x"]).contains("--kubeconfig"));
        assert!(err(&["--parallel", "0"]).contains("--parallel"));
        assert!(
            err(&["--controller", "upstream", "--controller-bin", "/x"])
                .contains("--controller-bin")
        );
        assert!(err(&["--upstream-dir", "/x"]).contains("--upstream-dir"));
        assert!(err(&["--controller", "external"]).contains("--kubeconfig"));
        assert!(err(&["--kubeconfig", "/no/such/file"]).contains("is not a file"));
    }

    #[test]
    fn publish_needs_runs_and_defaults_its_site() {
        let cli = Cli::try_parse_from(["sandbox-bench", "publish", "runs"]).unwrap();
        let Command::Publish(args) = cli.command else {
            panic!("parsed the wrong command");
        };
        assert_eq!(args.runs, [PathBuf::from("runs")]);
        assert_eq!(args.site, PathBuf::from("runs/site"));
        assert!(!args.fail_on_regression && args.commit.is_none());
        let err = Cli::try_parse_from(["sandbox-bench", "publish"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("<RUNS>"), "{err}");
    }

    #[test]
    fn the_default_directory_follows_the_name() {
        let cli =
            Cli::try_parse_from(["sandbox-bench", "cluster", "down", "--name", "dev"]).unwrap();
        let Command::Cluster(ClusterCommand::Down(target)) = cli.command else {
            panic!("parsed the wrong command");
        };
        assert_eq!(target.dir(), PathBuf::from("runs/clusters/dev"));
    }
}
