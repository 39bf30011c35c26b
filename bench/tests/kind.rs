//! The kind path for real: `scenarios/kind-ci.yaml` as a user runs it, on one kind cluster made
//! from the node image `just setup-kind` builds and loads (no registry): warm claims of real
//! runc pods, gVisor cold starts, every claim Ready, and the cluster gone afterwards.
//!
//! Runs where `SANDBOX_BENCH_KIND_TESTS=1` (`just test` sets it after `just setup-kind` has
//! put Docker and kind in place). Asked to run, it fails when they are missing; it never
//! passes by skipping.

mod common;

use std::path::Path;

use common::{bench_with_reference, text};
use sandbox_reports::{LaunchType, Phase, Results, read_records_file};

fn kind_clusters() -> Vec<String> {
    let out = std::process::Command::new("kind")
        .args(["get", "clusters"])
        .output()
        .expect("kind is on PATH (just setup-kind prints its directory)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_kind_scenario_claims_real_pods_on_a_real_kind_cluster_and_deletes_it() {
    if std::env::var_os("SANDBOX_BENCH_KIND_TESTS").is_none_or(|v| v != "1") {
        eprintln!(
            "not run: set SANDBOX_BENCH_KIND_TESTS=1 (just test does, after just setup-kind)"
        );
        return;
    }
    let scenario = Path::new("../scenarios/kind-ci.yaml");
    let name = "sandbox-bench-ci";
    assert!(
        !kind_clusters().contains(&name.to_string()),
        "a kind cluster {name} is left from an earlier run: kind delete cluster --name {name}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = bench_with_reference(scenario, &out);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(0), "{log}");
    assert!(log.contains("node image: "), "{log}");

    let records = read_records_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(records.len(), 10, "{log}");
    assert!(records.iter().all(|r| r.error.is_none()), "{records:?}");
    let warm = records.iter().filter(|r| r.launch == LaunchType::Warm);
    let cold = records.iter().filter(|r| r.launch == LaunchType::Cold);
    assert_eq!((warm.count(), cold.count()), (5, 5), "{records:?}");

    let results: Results =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results.meta.environment.nodes, 1, "{log}");
    let ready = results.phase(Phase::ClaimReady).unwrap();
    assert_eq!(ready.overall.count, 10, "{log}");
    let config = std::fs::read_to_string(out.join("cluster/kind-config.yaml")).unwrap();
    assert!(config.contains("runtimes.runsc]"), "{config}");

    assert!(
        !kind_clusters().contains(&name.to_string()),
        "the run's kind cluster is still there"
    );
}
