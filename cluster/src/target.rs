//! The cluster a run works on: a local cluster the run starts and stops, a kind cluster the
//! run creates and deletes (or reuses and leaves running), or an existing one reached through
//! a kubeconfig, which the run leaves as it found it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::existing::ExistingCluster;
use crate::kind::{KindCluster, KindConfig};
use crate::local::{LocalCluster, LocalConfig};
use crate::{ClusterError, connect};

/// How long to wait, on an existing cluster, for what a run created to be gone.
const CLEANUP_WAIT: Duration = Duration::from_secs(120);

/// Which cluster a target is, and so what happens to it when the run ends.
pub enum Cluster {
    /// A local control plane the run started: stopped with the run.
    Local(LocalCluster),
    /// A kind cluster: deleted with the run if the run created it, left running if reused.
    Kind(KindCluster),
    /// A cluster reached through a kubeconfig: left as the run found it.
    Existing,
}

pub struct Target {
    /// `local`, the kind cluster's name, or the kubeconfig context of an existing cluster.
    pub name: String,
    /// Admin client for the harness.
    pub client: kube::Client,
    /// What the controller under test connects with.
    pub kubeconfig: PathBuf,
    /// On a cluster that outlives the run, how long to wait for the run's objects to be gone;
    /// a cluster the run made is removed anyway.
    pub cleanup_wait: Option<Duration>,
    /// `None` once stopped or detached.
    cluster: Option<Cluster>,
}

impl Target {
    /// Starts a local cluster. Dropping the future (on Ctrl-C) stops whatever had started.
    pub async fn start_local(config: LocalConfig) -> Result<Self, ClusterError> {
        let cluster = LocalCluster::start(config).await?;
        let info = cluster.info();
        let client = cluster.client().ok_or_else(|| ClusterError::Kubeconfig {
            path: info.kubeconfig.clone(),
            message: "the local cluster has no client".into(),
        })?;
        Ok(Self {
            name: "local".into(),
            client,
            kubeconfig: info.kubeconfig,
            cleanup_wait: None,
            cluster: Some(Cluster::Local(cluster)),
        })
    }

    /// An existing cluster: reachable, and a kubeconfig for the controller that selects
    /// `context` (written into `dir` when a context is given).
    pub async fn existing(
        path: &Path,
        context: Option<&str>,
        dir: &Path,
    ) -> Result<Self, ClusterError> {
        let info = ExistingCluster {
            kubeconfig: path.to_path_buf(),
            context: context.map(str::to_string),
        }
        .reach()
        .await?;
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
            Some(context) => {
                with_current_context(path, context, &dir.join("controller.kubeconfig"))?
            }
            None => path.to_path_buf(),
        };
        eprintln!("using the existing cluster {name} ({})", info.server);
        Ok(Self {
            name,
            client,
            kubeconfig,
            cleanup_wait: Some(CLEANUP_WAIT),
            cluster: Some(Cluster::Existing),
        })
    }

    /// A kind cluster: created from `config` (deleted again by [`stop`](Self::stop), or when
    /// this future or the target is dropped), or reused when `config.reuse` is set (left
    /// running), with the image `archives` loaded into every node. The controller under test
    /// connects with the cluster's kubeconfig, out of cluster, as with any existing cluster.
    pub async fn kind(config: KindConfig, archives: &[PathBuf]) -> Result<Self, ClusterError> {
        let mut cluster = KindCluster::new(config);
        let info = cluster.up().await?;
        for archive in archives {
            cluster.load_image_archive(archive).await?;
            eprintln!(
                "loaded {} into kind cluster {}",
                archive.display(),
                info.name
            );
        }
        let client = cluster.client().ok_or_else(|| ClusterError::Kubeconfig {
            path: info.kubeconfig.clone(),
            message: "the kind cluster has no client".into(),
        })?;
        eprintln!(
            "using the kind cluster {} ({}); kubeconfig: {}",
            info.name,
            info.server,
            info.kubeconfig.display()
        );
        Ok(Self {
            name: info.name,
            client,
            kubeconfig: info.kubeconfig,
            cleanup_wait: (!cluster.owned()).then_some(CLEANUP_WAIT),
            cluster: Some(Cluster::Kind(cluster)),
        })
    }

    /// RuntimeClasses the scenario asked for that the cluster does not have: on kind, the
    /// runtimes skipped when it was created (Kata without `/dev/kvm` or a registry).
    pub fn missing_runtime_classes(&self) -> Vec<&'static str> {
        match &self.cluster {
            Some(Cluster::Kind(kind)) => kind
                .skipped_runtimes()
                .iter()
                .map(|r| r.runtime_class_name())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The local cluster, when the run started one.
    pub fn local(&self) -> Option<&LocalCluster> {
        match &self.cluster {
            Some(Cluster::Local(local)) => Some(local),
            _ => None,
        }
    }

    /// True when the run made the cluster and removes it afterwards (a local cluster, a kind
    /// cluster it created): what the run leaves there cannot outlive it.
    pub fn disposable(&self) -> bool {
        match &self.cluster {
            Some(Cluster::Local(_)) => true,
            Some(Cluster::Kind(kind)) => kind.owned(),
            Some(Cluster::Existing) | None => false,
        }
    }

    /// Stops a local cluster and deletes a kind cluster the run created; any other cluster is
    /// left running.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        match self.cluster.take() {
            Some(Cluster::Local(local)) => local.stop(),
            Some(Cluster::Kind(mut kind)) => kind.delete(),
            Some(Cluster::Existing) | None => Ok(()),
        }
    }

    /// Leaves a cluster the run made running (to inspect it after a run); returns its
    /// kubeconfig.
    pub fn detach(mut self) -> PathBuf {
        match self.cluster.take() {
            Some(Cluster::Local(local)) => drop(local.detach()),
            Some(Cluster::Kind(kind)) => drop(kind.detach()),
            Some(Cluster::Existing) | None => {}
        }
        self.kubeconfig
    }
}

/// Writes a copy of the kubeconfig at `source` whose current context is `context`, for
/// controllers that take no `--context` flag. Owner-only: it holds credentials.
fn with_current_context(
    source: &Path,
    context: &str,
    dest: &Path,
) -> Result<PathBuf, ClusterError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bad = |message: String| ClusterError::Kubeconfig {
        path: source.to_path_buf(),
        message,
    };
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
        .map_err(|source| ClusterError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
    Ok(dest.to_path_buf())
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
