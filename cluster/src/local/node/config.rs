//! Config files and command lines of the real node: containerd, gVisor's shim, the CNI network
//! and the kubelet. Pure functions of the node's layout, so every setting that matters is
//! unit-tested without starting anything.

use std::path::{Path, PathBuf};

/// The Linux bridge the node's pods attach to. Not `cni0`, so the node never takes over a
/// bridge another CNI setup on the machine owns.
pub const BRIDGE: &str = "sbx0";
/// The pods' subnet on the bridge.
pub const POD_SUBNET: &str = "10.88.0.0/16";
/// The bridge's own address: the pods' gateway and the node's InternalIP. The bridge is made
/// before the kubelet starts, so the kubelet finds the address on a local interface.
pub const NODE_IP: &str = "10.88.0.1";
pub const NODE_PREFIX_LEN: u8 = 16;

/// containerd's runtime handlers, named by the RuntimeClasses that point at them.
pub const RUNC_HANDLER: &str = "runc";
pub const RUNSC_HANDLER: &str = "runsc";

/// Where every real node on the machine keeps its sockets (one directory each).
pub const RUN_ROOT: &str = "/run/sandbox-bench";

/// Where one real node keeps its files. Sockets live under a short directory in `/run`,
/// because a Unix socket path has a 108-byte limit that a run directory can exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLayout {
    /// Under the cluster directory: configs, containerd's content store, the kubelet's root.
    pub dir: PathBuf,
    /// Short and in `/run`: containerd's socket and state, IPAM leases.
    pub run_dir: PathBuf,
}

impl NodeLayout {
    /// Paths are made absolute: the kubelet reads paths in its config relative to the file.
    pub fn new(cluster_dir: &Path) -> Self {
        let cluster_dir =
            std::path::absolute(cluster_dir).unwrap_or_else(|_| cluster_dir.to_path_buf());
        let cluster_dir = cluster_dir.as_path();
        Self {
            dir: cluster_dir.join("node"),
            run_dir: PathBuf::from(RUN_ROOT).join(short_id(cluster_dir)),
        }
    }
    pub fn containerd_config(&self) -> PathBuf {
        self.dir.join("containerd.toml")
    }
    pub fn containerd_root(&self) -> PathBuf {
        self.dir.join("containerd")
    }
    pub fn containerd_state(&self) -> PathBuf {
        self.run_dir.join("containerd")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.run_dir.join("containerd.sock")
    }
    pub fn runsc_config(&self) -> PathBuf {
        self.dir.join("runsc.toml")
    }
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("cni")
    }
    pub fn ipam_dir(&self) -> PathBuf {
        self.run_dir.join("ipam")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.join("kubelet.yaml")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.dir.join("kubelet")
    }
    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }
}

/// Eight hex digits of FNV-1a over the cluster directory: stable per directory, short enough
/// for socket paths, distinct for clusters side by side.
fn short_id(dir: &Path) -> String {
    let hash = dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    format!("{hash:08x}")
}

/// containerd 2.x (config version 3): CRI with runc as the default handler and gVisor's shim
/// as `runsc`, the pinned pause image (never pulled), and the bridge network.
pub fn containerd_config(layout: &NodeLayout, runc: &Path, pause_image: &str) -> String {
    let cri = "plugins.'io.containerd.cri.v1";
    format!(
        r#"version = 3
root = "{root}"
state = "{state}"

[grpc]
  address = "{socket}"

[{cri}.images']
  snapshotter = "overlayfs"
  [{cri}.images'.pinned_images]
    sandbox = "{pause_image}"

[{cri}.runtime']
  # Without CAP_SYS_RESOURCE a process may not lower its OOM score; containerd otherwise asks
  # for -998 on every pod sandbox and runc fails to start it.
  restrict_oom_score_adj = true
  [{cri}.runtime'.containerd]
    default_runtime_name = "{RUNC_HANDLER}"
    [{cri}.runtime'.containerd.runtimes.{RUNC_HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.runtime'.containerd.runtimes.{RUNC_HANDLER}.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
    [{cri}.runtime'.containerd.runtimes.{RUNSC_HANDLER}]
      # gVisor's own shim: the runc shim cannot track a runsc sandbox's second container.
      runtime_type = "io.containerd.runsc.v1"
      [{cri}.runtime'.containerd.runtimes.{RUNSC_HANDLER}.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "{runsc_config}"
  [{cri}.runtime'.cni]
    bin_dirs = ["{cni_bin}"]
    conf_dir = "{cni_conf}"
"#,
        root = layout.containerd_root().display(),
        state = layout.containerd_state().display(),
        socket = layout.containerd_socket().display(),
        runc = runc.display(),
        runsc_config = layout.runsc_config().display(),
        cni_bin = CNI_BIN_DIR,
        cni_conf = layout.cni_conf_dir().display(),
    )
}

/// Debian's containernetworking-plugins install here.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// gVisor's shim config: which runsc to run and with what flags. `ptrace` works on any
/// machine, nested virtualisation or not (`systrap` and `kvm` need more of the host).
pub fn runsc_config(runsc: &Path) -> String {
    format!(
        "binary_name = \"{}\"\n\n[runsc_config]\n  platform = \"ptrace\"\n",
        runsc.display()
    )
}

/// One bridge network with host-local addresses; no masquerade (nothing leaves the machine).
pub fn cni_conflist(layout: &NodeLayout) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "sandbox-bench",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                "dataDir": layout.ipam_dir(),
            }
        }]
    })
    .to_string()
}

/// The kubelet's own ports, on the node's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeletPorts {
    pub serving: u16,
    pub healthz: u16,
}

pub fn kubelet_config(layout: &NodeLayout, client_ca: &Path, ports: KubeletPorts) -> String {
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# These machines run cgroup v1 and their layout is not ours to change; 1.35+ refuses v1
# unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{socket}
address: {NODE_IP}
port: {serving}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: {client_ca}}}
authorization: {{mode: AlwaysAllow}}
failSwapOn: false
resolvConf: ""
serializeImagePulls: false
# Images are imported, never pulled: nothing may garbage-collect them mid-run.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Absolute floors: a share of a large, busy development disk would evict every pod long
# before the disk is actually full.
evictionHard: {{memory.available: "100Mi", nodefs.available: "500Mi", imagefs.available: "500Mi"}}
maxPods: 110
# No iptables chains of its own: kube-proxy is not run, and the host keeps its rules.
makeIPTablesUtilChains: false
"#,
        socket = layout.containerd_socket().display(),
        client_ca = client_ca.display(),
        serving = ports.serving,
        healthz = ports.healthz,
    )
}

pub fn kubelet_args(layout: &NodeLayout, kubeconfig: &Path, node_name: &str) -> Vec<String> {
    let kubeconfig = std::path::absolute(kubeconfig).unwrap_or_else(|_| kubeconfig.to_path_buf());
    vec![
        format!("--config={}", layout.kubelet_config().display()),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--root-dir={}", layout.kubelet_root().display()),
        format!("--cert-dir={}", layout.kubelet_root().join("pki").display()),
        format!("--hostname-override={node_name}"),
        format!("--node-ip={NODE_IP}"),
    ]
}

/// The RuntimeClasses a scenario names: `runc` (the node's default) and `gvisor`.
pub fn runtime_classes() -> [(&'static str, &'static str); 2] {
    [("runc", RUNC_HANDLER), ("gvisor", RUNSC_HANDLER)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> NodeLayout {
        NodeLayout::new(Path::new("/srv/runs/bench/x/cluster"))
    }

    #[test]
    fn sockets_live_under_a_short_run_directory_stable_per_cluster() {
        let a = layout();
        assert!(a.dir.starts_with("/srv/runs/bench/x/cluster"));
        assert!(a.containerd_socket().starts_with("/run/sandbox-bench/"));
        assert!(a.containerd_socket().as_os_str().len() < 60, "{a:?}");
        assert_eq!(a, layout());
        assert_ne!(a.run_dir, NodeLayout::new(Path::new("/other")).run_dir);
    }

    #[test]
    fn containerd_runs_runc_by_default_and_gvisor_through_its_own_shim() {
        let l = layout();
        let text = containerd_config(&l, Path::new("/usr/sbin/runc"), "local/pause:1");
        let doc: toml_check::Doc = toml_check::parse(&text);
        assert_eq!(doc.get("version"), Some("3"));
        assert!(text.contains(r#"sandbox = "local/pause:1""#), "{text}");
        assert!(text.contains(r#"default_runtime_name = "runc""#));
        assert!(text.contains(r#"BinaryName = "/usr/sbin/runc""#));
        assert!(text.contains("SystemdCgroup = false"));
        assert!(text.contains(r#"runtime_type = "io.containerd.runsc.v1""#));
        assert!(text.contains(&format!("ConfigPath = \"{}\"", l.runsc_config().display())));
        assert!(text.contains("restrict_oom_score_adj = true"));
        assert!(text.contains(&format!(
            "address = \"{}\"",
            l.containerd_socket().display()
        )));
        assert!(text.contains(&format!("conf_dir = \"{}\"", l.cni_conf_dir().display())));
    }

    #[test]
    fn runsc_uses_ptrace_and_the_given_binary() {
        let text = runsc_config(Path::new("/bin/dir/runsc"));
        assert!(text.starts_with("binary_name = \"/bin/dir/runsc\""));
        assert!(text.contains("platform = \"ptrace\""));
    }

    #[test]
    fn the_network_is_one_bridge_with_the_node_as_gateway_and_no_masquerade() {
        let l = layout();
        let conf: serde_json::Value = serde_json::from_str(&cni_conflist(&l)).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], BRIDGE);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], POD_SUBNET);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], NODE_IP);
        assert_eq!(
            bridge["ipam"]["dataDir"],
            l.ipam_dir().display().to_string()
        );
        assert_eq!(conf["plugins"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_kubelet_accepts_cgroup_v1_and_talks_to_our_containerd() {
        let l = layout();
        let text = kubelet_config(
            &l,
            Path::new("/c/pki/ca.crt"),
            KubeletPorts {
                serving: 4001,
                healthz: 4002,
            },
        );
        for wanted in [
            "failCgroupV1: false",
            "cgroupDriver: cgroupfs",
            &format!(
                "containerRuntimeEndpoint: unix://{}",
                l.containerd_socket().display()
            ),
            "port: 4001",
            "healthzPort: 4002",
            "readOnlyPort: 0",
            "nodefs.available: \"500Mi\"",
            "anonymous: {enabled: false}",
            "clientCAFile: /c/pki/ca.crt",
            &format!("address: {NODE_IP}"),
        ] {
            assert!(text.contains(wanted), "missing {wanted:?} in\n{text}");
        }
        let args = kubelet_args(&l, Path::new("/c/kubeconfig"), "real-node");
        assert!(args.contains(&"--hostname-override=real-node".to_string()));
        assert!(args.contains(&format!("--node-ip={NODE_IP}")));
        assert!(args.contains(&"--kubeconfig=/c/kubeconfig".to_string()));
    }

    #[test]
    fn gvisor_maps_to_the_runsc_handler() {
        assert!(runtime_classes().contains(&("gvisor", RUNSC_HANDLER)));
        assert!(runtime_classes().contains(&("runc", RUNC_HANDLER)));
    }

    /// Just enough TOML reading to check top-level keys without a TOML dependency.
    mod toml_check {
        pub struct Doc(Vec<(String, String)>);
        impl Doc {
            pub fn get(&self, key: &str) -> Option<&str> {
                self.0
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            }
        }
        pub fn parse(text: &str) -> Doc {
            Doc(text
                .lines()
                .take_while(|l| !l.starts_with('['))
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.trim().into(), v.trim().trim_matches('"').into()))
                .collect())
        }
    }
}
