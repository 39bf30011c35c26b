//! Helpers for tests that start real local clusters; the harness's tests use them too.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::time::Duration;

use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::local::{LocalCluster, LocalConfig, is_listening};

/// Starts a local cluster with `nodes` kwok nodes in `dir`, using the pinned binaries that
/// `just setup` built (fails loudly, naming the fix, when they are missing).
pub async fn start(name: &str, dir: &Path, nodes: u32) -> LocalCluster {
    let mut config = LocalConfig::new(name, dir.to_path_buf(), Binaries::locate(None));
    config.nodes = nodes;
    match LocalCluster::start(config).await {
        Ok(c) => c,
        Err(e) => panic!("local cluster {name} did not start: {e}"),
    }
}

/// Asserts that none of `pids` runs any more and none of `ports` accepts connections.
pub fn assert_gone(pids: &[u32], ports: &[u16]) {
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .unwrap_or("gone");
        assert!(
            matches!(state, "gone" | "Z" | "X"),
            "process {pid} still running (state {state})"
        );
    }
    for port in ports {
        assert!(!is_listening(*port), "port {port} still listening");
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    sandbox_cluster::poll::until(timeout, Duration::from_millis(100), f)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}
