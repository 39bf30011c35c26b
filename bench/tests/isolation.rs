//! Real sandboxes on the local cluster's real node, as a user runs them:
//! `sandbox-bench bench scenarios/isolation-smoke.yaml` starts the node (kubelet, containerd,
//! runc, gVisor, NetworkPolicy enforcement), passes every isolation check for gVisor with each
//! positive control showing what gVisor hides, reports cold starts per runtime, and leaves
//! nothing on the host. Then the same checks aimed at runc sandboxes must fail with exit 4.
//!
//! Needs root, `just setup` (the node's programs) and `just node-bins` (the images' binaries);
//! `just test` provides all of them.

mod common;

use std::path::Path;

use common::{bench_with_reference as bench, text};
use sandbox_bench::exit;
use sandbox_reports::{CheckStatus, Phase, Results};

fn netns() -> Vec<String> {
    std::fs::read_dir("/var/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into())
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing of the real node survives the run: processes, mounts, bridge, rules, netns.
fn assert_host_clean(out: &Path, netns_before: &[String]) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = std::path::absolute(out).unwrap();
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(out.to_str().unwrap()) || l.contains("/run/sandbox-bench/"))
        .collect();
    assert!(left.is_empty(), "mounts left behind: {left:#?}");
    let link = std::process::Command::new("ip")
        .args(["link", "show", "sbx0"])
        .output()
        .unwrap();
    assert!(
        !link.status.success(),
        "the pods' bridge sbx0 was left behind"
    );
    let rules = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        !rules.contains("SBNP"),
        "NetworkPolicy rules left behind:\n{rules}"
    );
    assert!(
        !rules.contains("KUBE-"),
        "kubelet chains left behind:\n{rules}"
    );
    let new: Vec<String> = netns()
        .into_iter()
        .filter(|n| !netns_before.contains(n))
        .collect();
    assert!(
        new.is_empty(),
        "pod network namespaces left behind: {new:?}"
    );
    let ps = std::process::Command::new("ps")
        .arg("-eo")
        .arg("args")
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    for program in [
        "kubelet --config",
        "runsc-sandbox",
        "sandbox-netpol --kubeconfig",
    ] {
        let running: Vec<&str> = ps
            .lines()
            .filter(|l| l.contains(program) && l.contains(out.to_str().unwrap_or("-")))
            .collect();
        assert!(running.is_empty(), "{program} still running: {running:?}");
    }
}

#[test]
fn gvisor_sandboxes_pass_every_check_against_their_controls_and_runc_sandboxes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let netns_before = netns();

    let out = dir.path().join("gvisor");
    let o = bench(Path::new("../scenarios/isolation-smoke.yaml"), &out);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(i32::from(exit::OK)), "{log}");
    let results = Results::read(&out.join("results.json")).unwrap();
    let isolation = results.isolation.as_ref().expect("isolation results");
    assert_eq!(isolation.runtime_class, "gvisor");
    assert_eq!(isolation.checks.len(), 8, "{isolation:#?}");
    for check in &isolation.checks {
        assert_eq!(check.status, CheckStatus::Pass, "{check:?}\n{log}");
    }
    // The probes reported from inside: the sandbox under gVisor, the control under runc.
    let runtime = |role: &str| isolation.probes[role]["classification"]["runtime"].clone();
    assert_eq!(runtime("sandbox"), "gvisor");
    assert_eq!(runtime("open"), "shared_kernel");
    // Cold starts, side by side per runtime.
    for pool in ["cold-runc", "cold-gvisor"] {
        let ready = results.pools[pool]
            .iter()
            .find(|p| p.phase == Phase::ClaimReady)
            .unwrap_or_else(|| panic!("{pool}: no claim_ready\n{log}"));
        assert_eq!(ready.overall.count, 3, "{pool}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("### Isolation ✅ `gvisor`"), "{log}");
    assert!(
        stdout.contains("| `cold-gvisor` | `claim_ready` | 3 |"),
        "{log}"
    );
    assert_host_clean(&out, &netns_before);

    // runc shares the node's kernel: the same check aimed at runc sandboxes is a breach.
    let text_of = std::fs::read_to_string("../scenarios/isolation-smoke.yaml").unwrap();
    let runc = dir.path().join("runc.yaml");
    std::fs::write(
        &runc,
        text_of.replace(
            "runtimeClass: gvisor\n  control",
            "runtimeClass: runc\n  control",
        ),
    )
    .unwrap();
    let out = dir.path().join("runc");
    let o = bench(&runc, &out);
    let log = text(&o);
    assert_eq!(
        o.status.code(),
        Some(i32::from(exit::ISOLATION_FAILED)),
        "{log}"
    );
    let results = Results::read(&out.join("results.json")).unwrap();
    let isolation = results.isolation.unwrap();
    let status = |name: &str| {
        isolation
            .checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.status)
    };
    assert_eq!(
        status("kernel_not_shared"),
        Some(CheckStatus::Breach),
        "{log}"
    );
    // The NetworkPolicy does not depend on the runtime: still enforced.
    assert_eq!(status("egress_blocked"), Some(CheckStatus::Pass), "{log}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("### Isolation ❌ `runc`"));
    assert_host_clean(&out, &netns_before);
}
