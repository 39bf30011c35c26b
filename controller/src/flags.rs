//! Command-line flags, named as upstream's so deployments can switch controllers.

use std::time::Duration;

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
    /// Also run the SandboxClaim, SandboxTemplate and SandboxWarmPool controllers.
    #[arg(long)]
    pub extensions: bool,
    /// DNS domain of the cluster, used in `status.serviceFQDN`.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Sandboxes reconciled in parallel.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_concurrent_workers: u16,
    /// SandboxClaims reconciled in parallel.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_claim_concurrent_workers: u16,
    /// SandboxWarmPools reconciled in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_warm_pool_concurrent_workers: u16,
    /// SandboxTemplates reconciled in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_template_concurrent_workers: u16,
    /// How long a warm pool member may take to become Ready before it is replaced.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub sandbox_warm_pool_readiness_grace_period: Duration,
}

impl Flags {
    /// The defaults, as if no flag was given (for embedding the controller).
    pub fn defaults() -> Self {
        Self::parse_from(["sandbox-controller"])
    }
}
