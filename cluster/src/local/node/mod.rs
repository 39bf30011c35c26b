//! The real node of the local provider: a kubelet with containerd, runc and gVisor (`runsc`),
//! pods on a Linux bridge, NetworkPolicy enforced by `sandbox-netpol`, beside the kwok nodes.
//! Images are imported from OCI archives built by the harness; nothing is ever pulled.
//!
//! Start-up order: bridge → containerd → images → kubelet (node Ready) → RuntimeClasses →
//! NetworkPolicy enforcer (its FORWARD jump present). Stopping undoes it from the outside in:
//! the node's pods are deleted through the API while the kubelet still runs (so CNI and
//! volumes are torn down properly), leftovers are killed through containerd, the processes
//! stop, and [`sweep`] removes what the node left on the host (mounts, bridge, run directory,
//! the kubelet's cgroups).

pub mod config;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ClusterError;
use crate::binaries::{Binaries, Binary};
use crate::command::Command;
pub use config::{NODE_IP, NodeLayout};

/// The real node's name, beside `kwok-node-*`.
pub const NODE_NAME: &str = "real-node";

/// The programs the real node runs from the pinned binary directory.
pub const REQUIRED: [Binary; 6] = [
    Binary::Kubelet,
    Binary::Containerd,
    Binary::ContainerdShimRunc,
    Binary::ContainerdShimRunsc,
    Binary::Ctr,
    Binary::Runsc,
];

/// What the harness builds for the node before starting it.
#[derive(Debug, Clone)]
pub struct RealNodeConfig {
    /// OCI archives imported into containerd before the kubelet starts.
    pub images: Vec<PathBuf>,
    /// The pod-sandbox ("pause") image, one of `images`.
    pub pause_image: String,
    /// The `sandbox-netpol` binary.
    pub netpol: PathBuf,
}

/// Host programs the node needs, looked up on `PATH` (Debian packages that `just setup`
/// installs).
const HOST_TOOLS: [&str; 3] = ["runc", "ip", "iptables"];

/// Finds a program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Checks everything the node needs before anything starts, naming what is missing.
pub fn check_prerequisites(
    binaries: &Binaries,
    config: &RealNodeConfig,
) -> Result<(), ClusterError> {
    binaries.check(&REQUIRED)?;
    let mut missing: Vec<String> = HOST_TOOLS
        .iter()
        .filter(|t| which(t).is_none())
        .map(|t| format!("`{t}` (not on PATH)"))
        .collect();
    if !Path::new(config::CNI_BIN_DIR).join("bridge").is_file() {
        missing.push(format!("the CNI bridge plugin in {}", config::CNI_BIN_DIR));
    }
    missing.extend(
        config
            .images
            .iter()
            .chain([&config.netpol])
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string()),
    );
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (the kubelet and containerd run as root)".into());
    }
    if let Some(other) = running_real_node() {
        return Err(ClusterError::Invalid(format!(
            "another real node is running (its containerd answers on {}); one real node per \
             machine, since they share the bridge {}: stop that cluster first",
            other.display(),
            config::BRIDGE
        )));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "the real node cannot start; missing: {}; `just setup` installs the programs, \
             `just images` builds the archives and sandbox-netpol",
            missing.join(", ")
        )))
    }
}

/// The socket of a real node's containerd that still answers, if any runs on this machine.
fn running_real_node() -> Option<PathBuf> {
    std::fs::read_dir(config::RUN_ROOT)
        .ok()?
        .flatten()
        .map(|e| e.path().join("containerd.sock"))
        .find(|socket| std::os::unix::net::UnixStream::connect(socket).is_ok())
}

/// Writes the node's config files.
pub fn write_configs(
    layout: &NodeLayout,
    binaries: &Binaries,
    pause_image: &str,
    client_ca: &Path,
    ports: config::KubeletPorts,
) -> Result<(), ClusterError> {
    let client_ca = &std::path::absolute(client_ca).unwrap_or_else(|_| client_ca.to_path_buf());
    let runc = which("runc").ok_or_else(|| ClusterError::Invalid("runc is not on PATH".into()))?;
    for dir in [
        layout.dir.clone(),
        layout.cni_conf_dir(),
        layout.run_dir.clone(),
        layout.kubelet_root(),
    ] {
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir, source })?;
    }
    for (path, text) in [
        (
            layout.containerd_config(),
            config::containerd_config(layout, &runc, pause_image),
        ),
        (
            layout.runsc_config(),
            config::runsc_config(&binaries.path(Binary::Runsc)?),
        ),
        (
            layout.cni_conf_dir().join("10-sandbox-bench.conflist"),
            config::cni_conflist(layout),
        ),
        (
            layout.kubelet_config(),
            config::kubelet_config(layout, client_ca, ports),
        ),
    ] {
        std::fs::write(&path, text).map_err(|source| ClusterError::Io { path, source })?;
    }
    Ok(())
}

/// Makes the pods' bridge with the node's address, so the kubelet can validate its node IP
/// before the first pod exists. An existing bridge (from an earlier run) is reused.
pub fn make_bridge() -> Result<(), ClusterError> {
    let ip = |args: &[&str]| Command::new("ip").args(args).run_blocking();
    if ip(&["link", "show", config::BRIDGE]).is_err() {
        ip(&["link", "add", config::BRIDGE, "type", "bridge"]).map_err(command_failed)?;
    }
    let address = format!("{NODE_IP}/{}", config::NODE_PREFIX_LEN);
    let shown = ip(&["-4", "addr", "show", "dev", config::BRIDGE]).map_err(command_failed)?;
    if !shown.stdout.contains(&format!("inet {address}")) {
        ip(&["addr", "add", &address, "dev", config::BRIDGE]).map_err(command_failed)?;
    }
    ip(&["link", "set", config::BRIDGE, "up"]).map_err(command_failed)?;
    Ok(())
}

fn command_failed(e: crate::command::CommandError) -> ClusterError {
    ClusterError::Invalid(e.to_string())
}

/// `ctr` against this node's containerd, in the CRI's namespace.
pub fn ctr(binaries: &Binaries, layout: &NodeLayout) -> Result<Command, ClusterError> {
    Ok(Command::new(binaries.path(Binary::Ctr)?).args([
        "--address".as_ref(),
        layout.containerd_socket().as_os_str(),
        "--namespace".as_ref(),
        "k8s.io".as_ref(),
    ]))
}

/// Imports OCI archives into containerd (unpacked for the CRI's snapshotter).
pub async fn import_images(
    binaries: &Binaries,
    layout: &NodeLayout,
    archives: &[PathBuf],
) -> Result<(), ClusterError> {
    for archive in archives {
        ctr(binaries, layout)?
            .args(["images".as_ref(), "import".as_ref(), archive.as_os_str()])
            .run()
            .await
            .map_err(command_failed)?;
    }
    Ok(())
}

/// The environment containerd runs with: its shims and runsc come from the pinned binary
/// directory, runc and the CNI plugins' helpers from the system.
pub fn containerd_env(binaries: &Binaries) -> Vec<(&'static str, String)> {
    vec![(
        "PATH",
        format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            binaries.dir().display()
        ),
    )]
}

/// Whether containerd answers on its socket.
pub async fn containerd_ready(binaries: &Binaries, layout: &NodeLayout) -> bool {
    match ctr(binaries, layout) {
        Ok(c) => c.arg("version").run().await.is_ok(),
        Err(_) => false,
    }
}

/// The chain `sandbox-netpol` jumps to from FORWARD (its default prefix).
pub const NETPOL_CHAIN: &str = "SBNP";

/// Whether the NetworkPolicy enforcer has hooked its chain into FORWARD.
pub async fn netpol_active() -> bool {
    let jump = format!("-A FORWARD -j {NETPOL_CHAIN}");
    Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .run()
        .await
        .is_ok_and(|f| f.stdout.lines().any(|l| l.trim() == jump))
}

/// Deletes every pod bound to the node through the API (the kubelet then stops them through
/// the CRI, releasing their network and volumes), waits until containerd runs no task, and
/// kills whatever is left. Returns what could not be cleaned, if anything.
pub fn drain(binaries: &Binaries, layout: &NodeLayout, kubeconfig: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if let Ok(kubectl) = binaries.path(Binary::Kubectl) {
        let deleted = Command::new(kubectl)
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args([
                "delete",
                "pods",
                "--all-namespaces",
                "--force",
                "--grace-period=0",
            ])
            .args(["--wait=false", "--request-timeout=10s"])
            .arg(format!("--field-selector=spec.nodeName={NODE_NAME}"))
            .run_blocking();
        if let Err(e) = deleted {
            problems.push(format!("deleting the node's pods: {e}"));
        }
    }
    let tasks = || -> Vec<String> {
        ctr(binaries, layout)
            .ok()
            .and_then(|c| c.args(["tasks", "ls", "-q"]).run_blocking().ok())
            .map(|f| f.stdout.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tasks().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let left = tasks();
    if !left.is_empty() {
        problems.push(format!(
            "{} container task(s) outlived the kubelet's teardown and were killed",
            left.len()
        ));
        for id in &left {
            if let Ok(c) = ctr(binaries, layout) {
                let _ = c
                    .clone()
                    .args(["tasks", "kill", "-s", "SIGKILL", id])
                    .run_blocking();
                std::thread::sleep(Duration::from_millis(100));
                let _ = c.clone().args(["tasks", "delete", "-f", id]).run_blocking();
                let _ = c.args(["containers", "delete", id]).run_blocking();
            }
        }
    }
    problems
}

/// Removes what the node leaves on the host once its processes are gone: mounts under its
/// directories, the bridge, the run directory and the kubelet's (empty) cgroups.
pub fn sweep(layout: &NodeLayout) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<&str> = mounts_under(&mountinfo, &[&layout.dir, &layout.run_dir]);
    // Deepest first, so a mount is never hidden under one above it.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = Command::new("umount").args(["-l", m]).run_blocking();
    }
    let _ = Command::new("ip")
        .args(["link", "del", config::BRIDGE])
        .run_blocking();
    let _ = std::fs::remove_dir_all(&layout.run_dir);
    remove_empty_cgroups(Path::new("/sys/fs/cgroup"), "kubepods");
    remove_kubelet_chains();
}

/// The kubelet's own iptables chains (a localnet firewall and canaries for kube-proxy),
/// which it leaves behind when it stops.
const KUBELET_CHAINS: [&str; 3] = ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"];

fn remove_kubelet_chains() {
    for tool in ["iptables", "ip6tables"] {
        let run = |args: &[&str]| Command::new(tool).arg("-w").args(args).run_blocking();
        for hook in ["INPUT", "OUTPUT"] {
            while run(&["-D", hook, "-j", "KUBE-FIREWALL"]).is_ok() {}
        }
        for table in ["filter", "nat", "mangle"] {
            for chain in KUBELET_CHAINS {
                if run(&["-t", table, "-F", chain]).is_ok() {
                    let _ = run(&["-t", table, "-X", chain]);
                }
            }
        }
    }
}

/// Mount points (field 5 of mountinfo) under any of `roots`.
fn mounts_under<'a>(mountinfo: &'a str, roots: &[&Path]) -> Vec<&'a str> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| roots.iter().any(|r| Path::new(m).starts_with(r)))
        .collect()
}

/// Removes `name` and everything below it in each cgroup v1 hierarchy (and in a v2 tree), if
/// empty: the kubelet creates them, and nothing else of the host's layout is touched.
fn remove_empty_cgroups(root: &Path, name: &str) {
    fn remove_tree(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let hierarchies = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    for h in hierarchies.chain([root.to_path_buf()]) {
        let dir = h.join(name);
        if dir.is_dir() {
            remove_tree(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_under_the_node_directories_are_found_and_others_left() {
        let info = "36 25 0:32 / /srv/c/node/kubelet/pods/x/volumes/tok rw - tmpfs tmpfs rw\n\
                    37 25 0:33 / /run/sandbox-bench/ab12/containerd/io/shm rw - tmpfs shm rw\n\
                    38 25 0:34 / /srv/c/nodes-other rw - tmpfs t rw\n\
                    39 25 0:35 / /sys/fs/cgroup rw - tmpfs t rw\n";
        let found = mounts_under(
            info,
            &[
                Path::new("/srv/c/node"),
                Path::new("/run/sandbox-bench/ab12"),
            ],
        );
        assert_eq!(
            found,
            [
                "/srv/c/node/kubelet/pods/x/volumes/tok",
                "/run/sandbox-bench/ab12/containerd/io/shm"
            ]
        );
    }

    #[test]
    fn empty_cgroup_trees_are_removed_and_other_directories_kept() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("cpu");
        std::fs::create_dir_all(cpu.join("kubepods/besteffort/pod1")).unwrap();
        std::fs::create_dir_all(cpu.join("system")).unwrap();
        remove_empty_cgroups(root.path(), "kubepods");
        assert!(!cpu.join("kubepods").exists());
        assert!(cpu.join("system").exists());
    }

    #[test]
    fn missing_prerequisites_are_named_together() {
        let dir = tempfile::tempdir().unwrap();
        let config = RealNodeConfig {
            images: vec![dir.path().join("probe.tar")],
            pause_image: "x".into(),
            netpol: dir.path().join("sandbox-netpol"),
        };
        let err = check_prerequisites(&Binaries::in_dir(dir.path().into(), "test"), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubelet"), "{err}");
    }
}
