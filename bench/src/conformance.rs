//! One conformance run from start to end: find the controller, bring up (or reach) the cluster,
//! install the controller's CRDs, start the controller, run the cases, then stop everything and
//! delete every namespace the run created, also when interrupted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::controller::{ControllerError, ControllerKind, ControllerPlan};
use crate::exit;
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::local::LocalConfig;
use sandbox_cluster::target::Target;
use sandbox_conformance::Spec;
use sandbox_conformance::case::{Case, Outcome};
use sandbox_conformance::report::{CaseReport, SuiteReport};
use sandbox_conformance::runner::{self, RunnerConfig};
use sandbox_conformance::summary::seconds;
use sandbox_marks::namespaces;

/// Longest single wait inside a case: generous for kwok, enough for a real node with the image
/// cached.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct SuiteOptions {
    pub controller: ControllerKind,
    /// An existing cluster; `None` starts a local one.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub controller_bin: Option<PathBuf>,
    pub upstream_dir: Option<PathBuf>,
    /// Appended to the controller's flags.
    pub controller_args: Vec<String>,
    /// Holds the local cluster, the controller's log and (by default) the JUnit file.
    pub dir: PathBuf,
    pub cases: Vec<Case>,
    /// The spec checked: cases of later releases are reported skipped.
    pub spec: Spec,
    pub parallel: usize,
    pub image: String,
    /// Binaries of the local cluster (default: as `Binaries::locate` finds them).
    pub bin_dir: Option<PathBuf>,
}

/// Why the suite could not run; every variant but `Interrupted` means no case ran.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error("cannot create {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Ctrl-C; everything started has been stopped and the namespaces deleted.
    #[error("interrupted; stopped everything the run had started")]
    Interrupted,
}

impl SuiteError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SuiteError::Interrupted => exit::INTERRUPTED,
            _ => exit::INFRASTRUCTURE,
        }
    }
}

pub async fn run(options: SuiteOptions) -> Result<SuiteReport, SuiteError> {
    // Before anything starts: a missing controller build must not cost a cluster start-up.
    let plan = ControllerPlan::resolve(
        options.controller,
        options.controller_bin.clone(),
        options.upstream_dir.clone(),
        options.controller_args.clone(),
    )?;
    std::fs::create_dir_all(&options.dir).map_err(|source| SuiteError::Dir {
        path: options.dir.clone(),
        source,
    })?;
    let started = Timestamp::now();
    let clock = Instant::now();

    let target = match &options.kubeconfig {
        None => {
            let mut config = LocalConfig::new(
                "conformance",
                options.dir.join("cluster"),
                Binaries::locate(options.bin_dir.clone()),
            );
            // Two kwok nodes, so that the cases about placement (NodeSpread) can see it.
            config.nodes = 2;
            eprintln!("starting a local cluster in {}", config.dir.display());
            tokio::select! {
                started = Target::start_local(config) => started?,
                _ = tokio::signal::ctrl_c() => return Err(SuiteError::Interrupted),
            }
        }
        Some(path) => Target::existing(path, options.context.as_deref(), &options.dir).await?,
    };

    let installed = plan.install_crds(&target.client).await?;
    if !installed.is_empty() {
        eprintln!("installed CRDs: {}", installed.join(", "));
    }
    let log = options
        .dir
        .join(format!("controller-{}.log", plan.kind.name()));
    let mut controller = plan.start(&target.kubeconfig, log, None).await?;
    if let Some(c) = &controller {
        eprintln!(
            "controller {} running (pid {}), log: {}",
            plan.kind.name(),
            c.pid(),
            c.log().display()
        );
    }

    let config = RunnerConfig {
        parallel: options.parallel,
        image: options.image.clone(),
        wait: WAIT,
        run_id: namespaces::run_id(),
        spec: options.spec,
    };
    eprintln!(
        "running {} cases of the {} spec, {} at a time (run id {})",
        options.cases.len(),
        options.spec,
        config.parallel,
        config.run_id
    );
    let total = options.cases.len();
    let mut done = 0;
    let cases = tokio::select! {
        reports = runner::run(&target.client, &options.cases, &config, |r| {
            done += 1;
            eprintln!("[{done:>2}/{total}] {}", progress_line(r));
        }) => Some(reports),
        _ = tokio::signal::ctrl_c() => None,
    };

    let mut problems = Vec::new();
    if let Some(c) = controller.as_mut()
        && let Err(e) = c.ensure_running()
    {
        problems.push(format!(
            "the controller under test exited during the run: {e}"
        ));
    }
    if let Some(c) = controller {
        c.stop();
    }
    match namespaces::sweep(&target.client, &config.run_id, target.cleanup_wait).await {
        Ok(left) if !left.is_empty() && target.cleanup_wait.is_some() => {
            eprintln!("warning: namespaces still terminating: {}", left.join(", "));
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not delete the run's namespaces: {e}"),
    }
    let cluster = target.name.clone();
    if let Err(e) = target.stop() {
        eprintln!("warning: stopping the local cluster: {e}");
    }
    let cases = cases.ok_or(SuiteError::Interrupted)?;
    Ok(SuiteReport {
        controller: plan.kind.name().into(),
        cluster,
        spec: options.spec,
        started,
        duration: clock.elapsed(),
        cases,
        problems,
    })
}

/// `PASS sandbox-ready (1.2s)`, with the first line of a failure or skip.
fn progress_line(report: &CaseReport) -> String {
    let time = seconds(report.duration);
    match &report.outcome {
        Outcome::Passed => format!("PASS {} ({time})", report.name),
        Outcome::Failed(m) => format!(
            "FAIL {} ({time}): {}",
            report.name,
            m.lines().next().unwrap_or("")
        ),
        Outcome::Skipped(r) => format!("SKIP {} ({time}): {r}", report.name),
    }
}
