//! The `kubeconfig` provider: an existing cluster (GKE with gVisor, a lab cluster, a kind
//! cluster made by hand). `up` only checks that the API server is ready; `down` leaves the
//! cluster as it was.

use std::path::PathBuf;

use super::{ClusterError, ClusterInfo, ClusterProvider, load_config};

pub struct ExistingCluster {
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
}

impl ClusterProvider for ExistingCluster {
    async fn up(&mut self) -> Result<ClusterInfo, ClusterError> {
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

    async fn down(&mut self) -> Result<(), ClusterError> {
        Ok(())
    }
}
