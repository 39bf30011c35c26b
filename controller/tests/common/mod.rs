//! Helpers shared by the controller's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use sandbox_bench::binaries::Binaries;
use sandbox_bench::cluster::local::{LocalCluster, LocalConfig};

/// A local cluster (real API server, one kwok node) with the agent-sandbox CRDs installed,
/// from the pinned binaries `just setup` builds.
pub async fn cluster_with_crds(name: &str, dir: &std::path::Path) -> (LocalCluster, kube::Client) {
    let cluster = LocalCluster::start(LocalConfig::new(
        name,
        dir.to_path_buf(),
        Binaries::locate(None),
    ))
    .await
    .unwrap_or_else(|e| panic!("local cluster {name} did not start: {e}"));
    let client = cluster.client().expect("a started cluster has a client");
    sandbox_bench::crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("CRDs not installed: {e}"));
    (cluster, client)
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
