//! `sandbox-bench cluster up | status | down` as a user runs them: a detached cluster that
//! `kubectl` can use, a foreground cluster stopped by Ctrl-C, and Ctrl-C during start-up.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, run, text};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sandbox_cluster::binaries::{Binaries, Binary};

/// Pids of processes whose command line mentions `dir` (every component's does).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(&needle)
        })
        .collect()
}

fn wait_until_gone(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !processes_using(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_using(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cluster_up_gives_a_kubeconfig_that_kubectl_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let up = run(&["cluster", "up", "--name", "cli", "--dir", d, "--nodes", "2"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("export KUBECONFIG="),
        "{}",
        text(&up)
    );
    assert!(
        !processes_using(dir.path()).is_empty(),
        "up returned but nothing runs"
    );

    let kubectl = Binaries::locate(None).path(Binary::Kubectl).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let get = |what: &str| {
        let o = Command::new(&kubectl)
            .args([
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "get",
                what,
                "-o",
                "name",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "kubectl get {what}: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let nodes = get("nodes");
    assert!(
        nodes.contains("node/kwok-node-0") && nodes.contains("node/kwok-node-1"),
        "{nodes}"
    );
    let crds = get("crd");
    for crd in [
        "sandboxes.agents.x-k8s.io",
        "sandboxtemplates.extensions.agents.x-k8s.io",
        "sandboxclaims.extensions.agents.x-k8s.io",
        "sandboxwarmpools.extensions.agents.x-k8s.io",
    ] {
        assert!(crds.contains(crd), "{crd} missing from {crds}");
    }

    let status = run(&["cluster", "status", "--dir", d]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("kube-apiserver"),
        "{}",
        text(&status)
    );

    let again = run(&["cluster", "up", "--name", "cli", "--dir", d]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        text(&again)
    );

    assert!(dir.path().join("etcd").exists(), "etcd's data while up");
    let down = run(&["cluster", "down", "--dir", d]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    wait_until_gone(dir.path());
    assert!(!dir.path().join("etcd").exists(), "etcd's data after down");
    assert!(dir.path().join("logs").exists(), "the logs stay");

    let status = run(&["cluster", "status", "--dir", d]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("no cluster state"),
        "{}",
        text(&status)
    );
}

fn interrupt(child: &std::process::Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
}

#[test]
fn ctrl_c_stops_a_foreground_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "cluster",
            "up",
            "--foreground",
            "--no-crds",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("press Ctrl-C") {
            break;
        }
    }
    assert!(seen.contains("is up"), "{seen}");
    assert!(!processes_using(dir.path()).is_empty());
    interrupt(&child);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}{rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    wait_until_gone(dir.path());
}

#[test]
fn ctrl_c_during_start_up_stops_what_had_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["cluster", "up", "--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the API server has been started, before the cluster is ready.
    let log = dir.path().join("logs/kube-apiserver.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.exists() {
        assert!(Instant::now() < deadline, "kube-apiserver never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!processes_using(dir.path()).is_empty());
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_until_gone(dir.path());
}
