//! The controller under test (in conformance runs and benchmarks): which program runs (if
//! any), with which flags, and which CRDs it needs. `reference` and `upstream` run out of cluster as a child process in its own
//! process group (stopped when the handle drops, also on panic or Ctrl-C); `external` is
//! already running and nothing is installed for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::floor::FloorWrites;
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries;
use sandbox_cluster::crds;
use sandbox_cluster::local::{Component, ProcessError};

/// Which controller a run checks or measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ControllerKind {
    /// This project's `sandbox-controller`.
    #[default]
    Reference,
    /// The pinned upstream release, built by `ci/setup-upstream`.
    Upstream,
    /// One already running against the cluster; the suite starts and installs nothing.
    External,
    /// No controller: the harness serves each warm claim with the fewest writes the spec
    /// allows (`bench::floor`), after the reference controller has filled the pools. Benchmarks
    /// only: the line no controller can beat on the same machine.
    Floor,
    /// The floor, plus the three writes the spec requires after each adoption (the Pod's
    /// labels, the Sandbox's `observedGeneration`, `SandboxAdopted`), made at once: the line no
    /// controller wire-compatible with upstream can beat.
    #[serde(rename = "spec-floor")]
    SpecFloor,
}

impl ControllerKind {
    pub fn name(self) -> &'static str {
        match self {
            ControllerKind::Reference => "reference",
            ControllerKind::Upstream => "upstream",
            ControllerKind::External => "external",
            ControllerKind::Floor => "floor",
            ControllerKind::SpecFloor => "spec-floor",
        }
    }

    /// What the harness writes for each claim when it plays the controller itself.
    pub fn floor_writes(self) -> Option<FloorWrites> {
        match self {
            ControllerKind::Floor => Some(FloorWrites::ClaimReady),
            ControllerKind::SpecFloor => Some(FloorWrites::Spec),
            _ => None,
        }
    }
}

/// File name of the reference controller binary.
pub const REFERENCE_BINARY: &str = "sandbox-controller";
/// File name of the upstream controller binary in the `ci/setup-upstream` directory.
pub const UPSTREAM_BINARY: &str = "agent-sandbox-controller";

/// How long a started controller must stay up before the suite trusts it to have started: long
/// enough to catch bad flags and unreachable clusters.
const START_GRACE: Duration = Duration::from_millis(1500);
/// How long the CRDs may take to become Established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a controller gets to exit on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("{0}")]
    NotFound(String),
    #[error("upstream CRDs in {dir}: {message}")]
    UpstreamCrds { dir: PathBuf, message: String },
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The CRDs a controller needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Crds {
    /// This project's (`sandbox_api::crds`), both versions.
    Ours,
    /// Upstream's own `crds/*.yaml` (v1.0.3 serves only v1beta1).
    Upstream(PathBuf),
    /// None: an external controller's cluster has them already.
    Installed,
}

/// Everything needed to bring the controller under test up, resolved before any cluster starts
/// so that a missing binary fails the run at once.
#[derive(Debug, Clone)]
pub struct ControllerPlan {
    pub kind: ControllerKind,
    program: Option<PathBuf>,
    crds: Crds,
    extra_args: Vec<String>,
}

impl ControllerPlan {
    /// Finds the program and CRDs for `kind`: the reference binary at `controller_bin` or next
    /// to the running executable; the upstream build in `upstream_dir` or the cache of
    /// `ci/setup-upstream`. `extra_args` are appended to the controller's flags.
    pub fn resolve(
        kind: ControllerKind,
        controller_bin: Option<PathBuf>,
        upstream_dir: Option<PathBuf>,
        extra_args: Vec<String>,
    ) -> Result<Self, ControllerError> {
        let (program, crds) = match kind {
            // The floors' pools are filled by the reference controller.
            ControllerKind::Reference | ControllerKind::Floor | ControllerKind::SpecFloor => {
                (Some(reference_binary(controller_bin)?), Crds::Ours)
            }
            ControllerKind::Upstream => {
                let (program, crds) = upstream_build(upstream_dir)?;
                (Some(program), Crds::Upstream(crds))
            }
            ControllerKind::External => (None, Crds::Installed),
        };
        Ok(Self {
            kind,
            program,
            crds,
            extra_args,
        })
    }

    /// The program that will run, if any.
    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }

    /// The controller's command line against `kubeconfig`. Both controllers take upstream's
    /// flag names: out of cluster there is no namespace for the leader Lease (both refuse to
    /// start without one), the health port is not needed, and metrics are served only on
    /// `metrics` (a free loopback address, so runs side by side do not clash).
    ///
    /// With `lease_namespace`, replicas elect a leader by a Lease there instead.
    pub fn args(
        &self,
        kubeconfig: &Path,
        metrics: Option<SocketAddr>,
        lease_namespace: Option<&str>,
    ) -> Vec<String> {
        let metrics = metrics.map_or_else(|| "0".to_string(), |a| a.to_string());
        let mut args = vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            "--extensions".to_string(),
        ];
        match lease_namespace {
            Some(ns) => args.extend([
                "--leader-elect=true".to_string(),
                format!("--leader-election-namespace={ns}"),
            ]),
            None => args.push("--leader-elect=false".to_string()),
        }
        args.extend([
            format!("--metrics-bind-address={metrics}"),
            "--health-probe-bind-address=0".to_string(),
        ]);
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Installs the CRDs the controller needs (none for `external`); returns their names.
    pub async fn install_crds(
        &self,
        client: &kube::Client,
    ) -> Result<Vec<String>, ControllerError> {
        let names = match &self.crds {
            Crds::Ours => crds::install(client, CRD_TIMEOUT).await?,
            Crds::Upstream(dir) => crds::apply(client, read_crds(dir)?, CRD_TIMEOUT).await?,
            Crds::Installed => Vec::new(),
        };
        Ok(names)
    }

    /// Starts the controller against `kubeconfig`, its output in `log`, its metrics on
    /// `metrics`, and checks it stays up for a moment. `None` for `external`.
    pub async fn start(
        &self,
        kubeconfig: &Path,
        log: PathBuf,
        metrics: Option<SocketAddr>,
    ) -> Result<Option<RunningController>, ControllerError> {
        self.start_replica(kubeconfig, log, metrics, None).await
    }

    /// [`start`](Self::start) for one of several replicas electing a leader by a Lease:
    /// `election` is the Lease's namespace and this replica's Pod name (`POD_NAME`, as a
    /// Deployment's Pod has; a restarted replica keeps it).
    pub async fn start_replica(
        &self,
        kubeconfig: &Path,
        log: PathBuf,
        metrics: Option<SocketAddr>,
        election: Option<(&str, &str)>,
    ) -> Result<Option<RunningController>, ControllerError> {
        let lease_namespace = election.map(|(ns, _)| ns);
        let env: Vec<(&str, String)> = election
            .map(|(_, pod)| ("POD_NAME", pod.to_string()))
            .into_iter()
            .collect();
        let Some(program) = &self.program else {
            return Ok(None);
        };
        let name = match self.kind {
            ControllerKind::Upstream => UPSTREAM_BINARY,
            _ => REFERENCE_BINARY,
        };
        let args = self.args(kubeconfig, metrics, lease_namespace);
        let mut component = Component::spawn_with_env(name, program, &args, &env, log)?;
        let start = Instant::now();
        while start.elapsed() < START_GRACE {
            component.ensure_running()?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Some(RunningController { component }))
    }
}

/// A controller process the suite started; dropping it stops its process group.
#[derive(Debug)]
pub struct RunningController {
    component: Component,
}

impl RunningController {
    pub fn pid(&self) -> u32 {
        self.component.pid()
    }

    pub fn log(&self) -> &Path {
        &self.component.log
    }

    /// Fails with the end of the log if the controller has exited.
    pub fn ensure_running(&mut self) -> Result<(), ProcessError> {
        self.component.ensure_running()
    }

    /// SIGKILL, as a crash or an OOM kill would end it.
    pub fn kill(&mut self) {
        self.component.kill();
    }

    /// Starts it again with the same flags after [`kill`](Self::kill); its log continues.
    pub fn respawn(&mut self) -> Result<(), ProcessError> {
        self.component.respawn()
    }

    /// SIGSTOP or SIGCONT to its process group.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> Result<(), ProcessError> {
        self.component.signal(signal)
    }

    /// SIGTERM to the process group, SIGKILL after a grace period.
    pub fn stop(mut self) {
        self.component.stop(STOP_GRACE);
    }
}

fn reference_binary(explicit: Option<PathBuf>) -> Result<PathBuf, ControllerError> {
    if let Some(path) = explicit {
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(ControllerError::NotFound(format!(
                "--controller-bin {} is not an executable file",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe().map_err(|e| {
        ControllerError::NotFound(format!(
            "cannot tell where sandbox-bench runs from ({e}); pass --controller-bin"
        ))
    })?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let path = dir.join(REFERENCE_BINARY);
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ControllerError::NotFound(format!(
            "{REFERENCE_BINARY} not found next to sandbox-bench ({}); build both into the same \
             target directory (`cargo build --release -p sandbox-controller -p sandbox-bench`) \
             or pass --controller-bin PATH",
            path.display()
        )))
    }
}

/// The upstream controller and its CRD directory, as `ci/setup-upstream` lays them out.
fn upstream_build(explicit: Option<PathBuf>) -> Result<(PathBuf, PathBuf), ControllerError> {
    let (dir, from) = match explicit {
        Some(dir) => (dir, "--upstream-dir"),
        None => (
            binaries::upstream_cache_dir(),
            "the default cache of ci/setup-upstream",
        ),
    };
    let program = dir.join(UPSTREAM_BINARY);
    let crds = dir.join("crds");
    let has_crds = std::fs::read_dir(&crds).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "yaml"))
    });
    if is_executable(&program) && has_crds {
        Ok((program, crds))
    } else {
        Err(ControllerError::NotFound(format!(
            "no upstream build in {} (from {from}): want {UPSTREAM_BINARY} and crds/*.yaml; \
             run `ci/setup-upstream` (or `just conformance upstream`), or pass --upstream-dir",
            dir.display()
        )))
    }
}

/// Every CustomResourceDefinition in the `*.yaml` files of `dir`, in file-name order.
fn read_crds(dir: &Path) -> Result<Vec<CustomResourceDefinition>, ControllerError> {
    let bad = |message: String| ControllerError::UpstreamCrds {
        dir: dir.to_path_buf(),
        message,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| bad(format!("{}: {e}", file.display())))?;
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| bad(format!("{}: {e}", file.display())))?;
        for doc in docs {
            if doc["kind"] == "CustomResourceDefinition" {
                crds.push(
                    serde_json::from_value(doc)
                        .map_err(|e| bad(format!("{}: {e}", file.display())))?,
                );
            }
        }
    }
    if crds.is_empty() {
        return Err(bad("no CustomResourceDefinition found".into()));
    }
    Ok(crds)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn both_controllers_run_out_of_cluster_with_upstreams_flags() {
        let dir = tempfile::tempdir().unwrap();
        let bin = executable(dir.path(), "sandbox-controller");
        let plan =
            ControllerPlan::resolve(ControllerKind::Reference, Some(bin), None, vec![]).unwrap();
        let out_of_cluster = [
            "--kubeconfig=/k",
            "--extensions",
            "--leader-elect=false",
            "--metrics-bind-address=0",
            "--health-probe-bind-address=0",
        ];
        assert_eq!(plan.args(Path::new("/k"), None, None), out_of_cluster);
        let metrics = "127.0.0.1:9100".parse().ok();
        assert!(
            plan.args(Path::new("/k"), metrics, None)
                .contains(&"--metrics-bind-address=127.0.0.1:9100".to_string())
        );
        let electing = plan.args(Path::new("/k"), None, Some("default"));
        assert!(electing.contains(&"--leader-elect=true".to_string()));
        assert!(electing.contains(&"--leader-election-namespace=default".to_string()));
        assert!(!electing.contains(&"--leader-elect=false".to_string()));

        executable(dir.path(), UPSTREAM_BINARY);
        std::fs::create_dir(dir.path().join("crds")).unwrap();
        std::fs::write(dir.path().join("crds/a.yaml"), "").unwrap();
        let plan = ControllerPlan::resolve(
            ControllerKind::Upstream,
            None,
            Some(dir.path().to_path_buf()),
            vec!["--zap-log-level=debug".into()],
        )
        .unwrap();
        let mut with_extra = out_of_cluster.to_vec();
        with_extra.push("--zap-log-level=debug");
        assert_eq!(plan.args(Path::new("/k"), None, None), with_extra);
        let external =
            ControllerPlan::resolve(ControllerKind::External, None, None, vec![]).unwrap();
        assert!(external.program().is_none());
    }

    #[test]
    fn missing_builds_name_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = ControllerPlan::resolve(
            ControllerKind::Reference,
            Some(dir.path().join("nope")),
            None,
            vec![],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--controller-bin") && err.contains("nope"),
            "{err}"
        );
        let err = ControllerPlan::resolve(
            ControllerKind::Upstream,
            None,
            Some(dir.path().to_path_buf()),
            vec![],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ci/setup-upstream"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn upstream_crds_are_read_from_multi_document_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let crd = |name: &str| {
            format!(
                "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                 metadata:\n  name: {name}\nspec:\n  group: g\n  names:\n    kind: K\n    \
                 plural: ks\n  scope: Namespaced\n  versions: []\n"
            )
        };
        std::fs::write(dir.path().join("b.yaml"), crd("ks.g")).unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            format!("{}---\napiVersion: v1\nkind: ConfigMap\n", crd("as.g")),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let names: Vec<_> = read_crds(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect();
        assert_eq!(names, ["as.g", "ks.g"]);
    }
}
