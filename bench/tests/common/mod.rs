//! Shared helpers for tests that start real local clusters.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;

// Starting a local cluster, checking it left nothing behind, polling: the cluster crate's
// test helpers, one copy for both crates' tests.
#[path = "../../../cluster/tests/common/mod.rs"]
mod cluster;
#[allow(unused_imports)] // each test binary uses a different subset
pub use cluster::{assert_gone, eventually, start};

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
