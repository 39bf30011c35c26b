//! The kind cluster configuration (`kind.x-k8s.io/v1alpha4`, `kind: Cluster`) handed to
//! `kind create cluster --config`: the nodes, their image, the containerd runtime handlers
//! registered on every node and the host files mounted into every node.
//!
//! The YAML is written out by hand rather than serialised so that it reads exactly as
//! documented in the README; every string value is a JSON string, which YAML reads as a
//! double-quoted scalar, so paths and images need no escaping rules of their own.

use std::fmt::Write;
use std::path::PathBuf;

/// A containerd runtime handler: the name a RuntimeClass's `handler` refers to and the shim
/// containerd starts for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub name: &'static str,
    /// `io.containerd.runsc.v1` makes containerd run `containerd-shim-runsc-v1`.
    pub runtime_type: &'static str,
}

impl Handler {
    /// The containerd configuration patch registering this handler. kind's node images keep
    /// the version-2 key paths (`io.containerd.grpc.v1.cri`), which containerd 2 migrates on
    /// load, and kind's patches are not version-aware, so this form works on both.
    pub fn containerd_patch(&self) -> String {
        format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{}]\n  runtime_type = \"{}\"",
            self.name, self.runtime_type
        )
    }
}

/// A host file or directory visible inside every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
}

/// What the generated configuration describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    /// `kindest/node:<version>` (optionally `@sha256:…`), the same for every node.
    pub image: String,
    /// Worker nodes besides the single control-plane node; with none, the control plane runs
    /// the pods.
    pub workers: u32,
    pub handlers: Vec<Handler>,
    /// containerd configuration patches besides the handlers' (TOML).
    pub containerd_patches: Vec<String>,
    /// kubeadm configuration patches (YAML documents), e.g. a `KubeletConfiguration`.
    pub kubeadm_patches: Vec<String>,
    pub mounts: Vec<Mount>,
}

impl ClusterConfig {
    /// The configuration file's text.
    pub fn render(&self) -> String {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let mut out = String::new();
        let _ = writeln!(out, "kind: Cluster");
        let _ = writeln!(out, "apiVersion: kind.x-k8s.io/v1alpha4");
        let _ = writeln!(out, "name: {}", q(&self.name));
        let containerd: Vec<String> = self
            .handlers
            .iter()
            .map(Handler::containerd_patch)
            .chain(self.containerd_patches.iter().cloned())
            .collect();
        for (key, patches) in [
            ("containerdConfigPatches", &containerd),
            ("kubeadmConfigPatches", &self.kubeadm_patches),
        ] {
            if patches.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{key}:");
            for patch in patches {
                let _ = writeln!(out, "- |-");
                for line in patch.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        let _ = writeln!(out, "nodes:");
        let roles = std::iter::once("control-plane")
            .chain(std::iter::repeat_n("worker", self.workers as usize));
        for role in roles {
            let _ = writeln!(out, "- role: {role}");
            let _ = writeln!(out, "  image: {}", q(&self.image));
            if !self.mounts.is_empty() {
                let _ = writeln!(out, "  extraMounts:");
                for m in &self.mounts {
                    let _ = writeln!(out, "  - hostPath: {}", q(&m.host_path.to_string_lossy()));
                    let _ = writeln!(
                        out,
                        "    containerPath: {}",
                        q(&m.container_path.to_string_lossy())
                    );
                    let _ = writeln!(out, "    readOnly: true");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runsc() -> Handler {
        Handler {
            name: "runsc",
            runtime_type: "io.containerd.runsc.v1",
        }
    }

    fn kata_clh() -> Handler {
        Handler {
            name: "kata-clh",
            runtime_type: "io.containerd.kata-clh.v2",
        }
    }

    fn mount(host: &str, node: &str) -> Mount {
        Mount {
            host_path: host.into(),
            container_path: node.into(),
        }
    }

    #[test]
    fn a_plain_cluster_is_one_control_plane_node_with_the_image() {
        let config = ClusterConfig {
            name: "sandbox-bench".into(),
            image: "kindest/node:v1.35.0".into(),
            workers: 0,
            handlers: Vec::new(),
            ..ClusterConfig::default()
        };
        assert_eq!(
            config.render(),
            "\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: \"sandbox-bench\"
nodes:
- role: control-plane
  image: \"kindest/node:v1.35.0\"
"
        );
    }

    // The expected text is the one documented in the README ("Running against kind").
    #[test]
    fn runtimes_add_containerd_patches_and_binaries_mounted_into_every_node() {
        let config = ClusterConfig {
            name: "bench".into(),
            image: "kindest/node:v1.35.0".into(),
            workers: 1,
            handlers: vec![runsc(), kata_clh()],
            mounts: vec![
                mount("/usr/local/bin/runsc", "/usr/local/bin/runsc"),
                mount(
                    "/usr/local/bin/containerd-shim-runsc-v1",
                    "/usr/local/bin/containerd-shim-runsc-v1",
                ),
            ],
            ..ClusterConfig::default()
        };
        let expected = r#"kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: "bench"
containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
    runtime_type = "io.containerd.runsc.v1"
- |-
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-clh]
    runtime_type = "io.containerd.kata-clh.v2"
nodes:
- role: control-plane
  image: "kindest/node:v1.35.0"
  extraMounts:
  - hostPath: "/usr/local/bin/runsc"
    containerPath: "/usr/local/bin/runsc"
    readOnly: true
  - hostPath: "/usr/local/bin/containerd-shim-runsc-v1"
    containerPath: "/usr/local/bin/containerd-shim-runsc-v1"
    readOnly: true
- role: worker
  image: "kindest/node:v1.35.0"
  extraMounts:
  - hostPath: "/usr/local/bin/runsc"
    containerPath: "/usr/local/bin/runsc"
    readOnly: true
  - hostPath: "/usr/local/bin/containerd-shim-runsc-v1"
    containerPath: "/usr/local/bin/containerd-shim-runsc-v1"
    readOnly: true
"#;
        assert_eq!(config.render(), expected);
    }

    #[test]
    fn the_yaml_parses_into_the_documented_structure() {
        let config = ClusterConfig {
            name: "odd \"name\"".into(),
            image: "kindest/node:v1.35.0@sha256:abc".into(),
            workers: 3,
            handlers: vec![runsc()],
            containerd_patches: vec!["[a]\n  b = 1".into()],
            kubeadm_patches: vec!["kind: KubeletConfiguration\ncgroupDriver: cgroupfs".into()],
            mounts: vec![mount("/opt/my tools/runsc", "/usr/local/bin/runsc")],
        };
        let doc: serde_json::Value = serde_saphyr::from_str(&config.render()).unwrap();
        assert_eq!(doc["apiVersion"], "kind.x-k8s.io/v1alpha4");
        assert_eq!(doc["name"], "odd \"name\"");
        let nodes = doc["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0]["role"], "control-plane");
        assert!(nodes[1..].iter().all(|n| n["role"] == "worker"));
        assert_eq!(nodes[3]["image"], "kindest/node:v1.35.0@sha256:abc");
        assert_eq!(
            nodes[2]["extraMounts"][0]["hostPath"],
            "/opt/my tools/runsc"
        );
        assert_eq!(nodes[2]["extraMounts"][0]["readOnly"], true);
        assert_eq!(
            doc["containerdConfigPatches"][0],
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]\n  \
             runtime_type = \"io.containerd.runsc.v1\""
        );
        assert_eq!(doc["containerdConfigPatches"][1], "[a]\n  b = 1");
        assert_eq!(
            doc["kubeadmConfigPatches"][0],
            "kind: KubeletConfiguration\ncgroupDriver: cgroupfs"
        );
    }
}
