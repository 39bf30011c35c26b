//! Command-line flags, named as upstream's so deployments can switch controllers.

use std::net::{Ipv4Addr, SocketAddr};
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
    /// Address of `/metrics` (Go style: `:8080` is every interface); `0` turns it off.
    #[arg(long, default_value = ":8080", value_parser = parse_bind_address)]
    pub metrics_bind_address: BindAddress,
    /// Address of `/healthz` and `/readyz`; `0` turns it off.
    #[arg(long, default_value = ":8081", value_parser = parse_bind_address)]
    pub health_probe_bind_address: BindAddress,
    /// Run only while holding the leader Lease, so several replicas can be deployed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, then the in-cluster namespace).
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// Serve the v1alpha1 ⇄ v1beta1 conversion webhook here and point the CRDs at it; `0`
    /// (the default) turns it off.
    #[arg(long, default_value = "0", value_parser = parse_bind_address)]
    pub webhook_bind_address: BindAddress,
    /// Base URL the API server uses for the webhook (for a controller outside the cluster);
    /// without it the CRDs name the webhook Service.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Service in front of the webhook.
    #[arg(long, default_value = sandbox_api::crds::WEBHOOK_SERVICE_NAME)]
    pub webhook_service_name: String,
    /// Namespace of that Service.
    #[arg(long, default_value = sandbox_api::crds::WEBHOOK_SERVICE_NAMESPACE)]
    pub webhook_namespace: String,
    /// How long a warm pool member may take to become Ready before it is replaced.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub sandbox_warm_pool_readiness_grace_period: Duration,
}

/// A listen address, or `None` when the endpoint is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddress(pub Option<SocketAddr>);

/// Go-style bind addresses as upstream takes them: `0` (off), `:8080` (every interface),
/// `127.0.0.1:8080`.
pub fn parse_bind_address(s: &str) -> Result<BindAddress, String> {
    if s == "0" {
        return Ok(BindAddress(None));
    }
    let bad = || format!("{s:?} is not an address: use 0, :PORT or HOST:PORT");
    match s.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .map(|p| BindAddress(Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)))))
            .map_err(|_| bad()),
        None => s.parse().map(|a| BindAddress(Some(a))).map_err(|_| bad()),
    }
}

impl Flags {
    /// The defaults, as if no flag was given (for embedding the controller).
    pub fn defaults() -> Self {
        Self::parse_from(["sandbox-controller"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent_and_default_like_upstream() {
        Flags::command().debug_assert();
        let f = Flags::defaults();
        assert_eq!(
            f.metrics_bind_address.0,
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            f.health_probe_bind_address.0,
            Some("0.0.0.0:8081".parse().unwrap())
        );
        assert!(f.leader_elect);
        assert_eq!(f.webhook_bind_address.0, None);
        assert_eq!(
            (
                f.sandbox_concurrent_workers,
                f.sandbox_claim_concurrent_workers
            ),
            (100, 50)
        );
    }

    #[test]
    fn bind_addresses_parse_go_style_and_bad_ones_name_the_input() {
        assert_eq!(parse_bind_address("0"), Ok(BindAddress(None)));
        assert_eq!(
            parse_bind_address("127.0.0.1:9"),
            Ok(BindAddress(Some("127.0.0.1:9".parse().unwrap())))
        );
        assert!(parse_bind_address(":x").unwrap_err().contains("\":x\""));
        let err = Flags::try_parse_from(["c", "--leader-elect", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--leader-elect"), "{err}");
    }
}
