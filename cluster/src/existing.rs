//! The `kubeconfig` provider: an existing cluster (GKE with gVisor, a lab cluster, a kind
//! cluster made by hand). The harness only checks that its API server answers, and leaves
//! the cluster as it found it.

use std::path::PathBuf;

use super::{ClusterError, ClusterInfo, load_config};

pub struct ExistingCluster {
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
}

impl ExistingCluster {
    /// Checks that the API server answers.
    pub async fn reach(&self) -> Result<ClusterInfo, ClusterError> {
        let config = load_config(&self.kubeconfig, self.context.as_deref()).await?;
        let server = config.cluster_url.to_string();
        let client = sandbox_client::client(&config).map_err(|e| ClusterError::Kubeconfig {
            path: self.kubeconfig.clone(),
            message: e.to_string(),
        })?;
        let version = client
            .apiserver_version()
            .await
            .map_err(|source| ClusterError::Kube {
                what: format!("reach the API server of {}", self.kubeconfig.display()),
                source,
            })?;
        tracing::info!(version = %version.git_version, "existing cluster reachable");
        Ok(ClusterInfo {
            provider: "kubeconfig",
            name: self
                .context
                .clone()
                .unwrap_or_else(|| "current-context".into()),
            kubeconfig: self.kubeconfig.clone(),
            server,
        })
    }
}
