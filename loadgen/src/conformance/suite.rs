//! One conformance run from start to end: find the controller, bring up (or reach) the cluster,
//! install the controller's CRDs, start the controller, run the cases, then stop everything and
//! delete every namespace the run created, also when interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use super::case::{Case, Outcome};
use super::controller::{ControllerError, ControllerKind, ControllerPlan};
use super::namespaces;
use super::report::{CaseReport, SuiteReport};
use super::runner::{self, RunnerConfig};
use super::summary::seconds;
use crate::binaries::Binaries;
use crate::cluster::existing::ExistingCluster;
use crate::cluster::local::{LocalCluster, LocalConfig};
use crate::cluster::{ClusterError, ClusterProvider, connect};
use crate::exit;

/// Longest single wait inside a case: generous for kwok, enough for a real node with the image
/// cached.
pub const WAIT: Duration = Duration::from_secs(30);
/// How long to wait, on an existing cluster, for the run's namespaces to be gone.
const CLEANUP_WAIT: Duration = Duration::from_secs(120);

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
    pub parallel: usize,
    pub image: String,
    /// Binaries of the local cluster (default: as `Binaries::locate` finds them).
    pub bin_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The cluster or the controller could not be set up; no case ran.
    #[error("{0}")]
    Infrastructure(String),
    /// Ctrl-C; everything started has been stopped and the namespaces deleted.
    #[error("interrupted; stopped everything the run had started")]
    Interrupted,
}

impl SuiteError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SuiteError::Infrastructure(_) => exit::INFRASTRUCTURE,
            SuiteError::Interrupted => exit::INTERRUPTED,
        }
    }
}

impl From<ClusterError> for SuiteError {
    fn from(e: ClusterError) -> Self {
        SuiteError::Infrastructure(e.to_string())
    }
}

impl From<ControllerError> for SuiteError {
    fn from(e: ControllerError) -> Self {
        SuiteError::Infrastructure(e.to_string())
    }
}

/// The cluster the cases run on.
struct Target {
    name: String,
    client: kube::Client,
    /// What the controller under test connects with.
    kubeconfig: PathBuf,
    /// On an existing cluster, wait this long for the run's namespaces to be gone.
    cleanup_wait: Option<Duration>,
}

pub async fn run(options: SuiteOptions) -> Result<SuiteReport, SuiteError> {
    // Before anything starts: a missing controller build must not cost a cluster start-up.
    let plan = ControllerPlan::resolve(
        options.controller,
        options.controller_bin.clone(),
        options.upstream_dir.clone(),
        options.controller_args.clone(),
    )?;
    std::fs::create_dir_all(&options.dir).map_err(|e| {
        SuiteError::Infrastructure(format!("cannot create {}: {e}", options.dir.display()))
    })?;
    let started = Timestamp::now();
    let clock = Instant::now();

    let (target, local) = match &options.kubeconfig {
        None => {
            let config = LocalConfig::new(
                "conformance",
                options.dir.join("cluster"),
                Binaries::locate(options.bin_dir.clone()),
            );
            eprintln!("starting a local cluster in {}", config.dir.display());
            // Dropping the start future on Ctrl-C stops whatever had started.
            let cluster = tokio::select! {
                started = LocalCluster::start(config) => started?,
                _ = tokio::signal::ctrl_c() => return Err(SuiteError::Interrupted),
            };
            let info = cluster.info();
            let client = cluster.client().ok_or_else(|| {
                SuiteError::Infrastructure("the local cluster has no client".into())
            })?;
            let target = Target {
                name: "local".into(),
                client,
                kubeconfig: info.kubeconfig,
                cleanup_wait: None,
            };
            (target, Some(cluster))
        }
        Some(path) => (
            existing(path, options.context.as_deref(), &options.dir).await?,
            None,
        ),
    };

    let installed = plan.install_crds(&target.client).await?;
    if !installed.is_empty() {
        eprintln!("installed CRDs: {}", installed.join(", "));
    }
    let log = options
        .dir
        .join(format!("controller-{}.log", plan.kind.name()));
    let mut controller = plan.start(&target.kubeconfig, log).await?;
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
    };
    eprintln!(
        "running {} cases, {} at a time (run id {})",
        options.cases.len(),
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
    if let Some(cluster) = local
        && let Err(e) = cluster.stop()
    {
        eprintln!("warning: stopping the local cluster: {e}");
    }
    let cases = cases.ok_or(SuiteError::Interrupted)?;
    Ok(SuiteReport {
        controller: plan.kind.name().into(),
        cluster: target.name,
        started,
        duration: clock.elapsed(),
        cases,
        problems,
    })
}

/// An existing cluster: reachable, and a kubeconfig for the controller that selects `context`.
async fn existing(path: &Path, context: Option<&str>, dir: &Path) -> Result<Target, SuiteError> {
    let mut provider = ExistingCluster {
        kubeconfig: path.to_path_buf(),
        context: context.map(str::to_string),
    };
    let info = provider.up().await?;
    let client = connect(path, context).await?;
    // Name the cluster by its context, the one the user chose or the file's current one.
    let name = context
        .map(str::to_string)
        .or_else(|| {
            kube::config::Kubeconfig::read_from(path)
                .ok()?
                .current_context
        })
        .unwrap_or(info.name);
    let kubeconfig = match context {
        Some(context) => with_current_context(path, context, &dir.join("controller.kubeconfig"))?,
        None => path.to_path_buf(),
    };
    eprintln!("using the existing cluster {name} ({})", info.server);
    Ok(Target {
        name,
        client,
        kubeconfig,
        cleanup_wait: Some(CLEANUP_WAIT),
    })
}

/// Writes a copy of the kubeconfig at `source` whose current context is `context`, for
/// controllers that take no `--context` flag. Owner-only: it holds credentials.
fn with_current_context(source: &Path, context: &str, dest: &Path) -> Result<PathBuf, SuiteError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bad =
        |e: String| SuiteError::Infrastructure(format!("kubeconfig {}: {e}", source.display()));
    let mut config = kube::config::Kubeconfig::read_from(source).map_err(|e| bad(e.to_string()))?;
    config.current_context = Some(context.to_string());
    let text = serde_json::to_vec_pretty(&config).map_err(|e| bad(e.to_string()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dest)
        .and_then(|mut f| f.write_all(&text))
        .map_err(|e| SuiteError::Infrastructure(format!("cannot write {}: {e}", dest.display())))?;
    Ok(dest.to_path_buf())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_becomes_the_current_context_of_a_private_copy() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("config");
        std::fs::write(
            &source,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://a\n\
             - name: b\n  cluster:\n    server: https://b\nusers:\n- name: u\n  user:\n    token: t\n\
             contexts:\n- name: a\n  context:\n    cluster: a\n    user: u\n\
             - name: b\n  context:\n    cluster: b\n    user: u\ncurrent-context: a\n",
        )
        .unwrap();
        let dest = dir.path().join("copy");
        with_current_context(&source, "b", &dest).unwrap();
        let copy = kube::config::Kubeconfig::read_from(&dest).unwrap();
        assert_eq!(copy.current_context.as_deref(), Some("b"));
        assert_eq!(copy.clusters.len(), 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
