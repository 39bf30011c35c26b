//! Command-line flags, named as upstream's so deployments can switch controllers.

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "sandbox-controller",
    version,
    about = "Reference controller for the agent-sandbox API"
)]
pub struct Flags {
    /// Path to a kubeconfig; without it, $KUBECONFIG, ~/.kube/config, then in-cluster config.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// DNS domain of the cluster, used in `status.serviceFQDN`.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Sandboxes reconciled in parallel.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_concurrent_workers: u16,
}
