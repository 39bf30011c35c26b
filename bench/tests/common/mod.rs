//! Shared helpers for tests that start real local clusters.
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

/// The `sandbox-bench` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_sandbox-bench");

/// Runs `sandbox-bench` with `args` and waits for it.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).args(args).output().unwrap()
}

/// Exit status and both streams, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The reference controller built into the same target directory as this test
/// (`target/<profile>/`, the parent of this test binary's `deps/`).
pub fn reference_controller() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join("sandbox-controller");
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p sandbox-controller` (same profile \
         and target directory as the tests); `just test` builds it",
        path.display()
    );
    path
}

/// `sandbox-bench bench SCENARIO` with this build's reference controller, reports in `out`.
pub fn bench_with_reference(scenario: &Path, out: &Path) -> std::process::Output {
    let controller = reference_controller();
    run(&[
        "bench",
        scenario.to_str().unwrap(),
        "--controller-bin",
        controller.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}
