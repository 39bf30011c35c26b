//! Sandboxed runtimes in a kind cluster: gVisor (`runsc`) and Kata Containers with Cloud
//! Hypervisor (`kata-clh`), each ending in a RuntimeClass that templates can name.
//!
//! * **gVisor** runs anywhere Docker does (its default platform, systrap, needs no KVM). The
//!   host's `runsc` and `containerd-shim-runsc-v1` are mounted into every node and containerd
//!   learns the `runsc` handler from the cluster config; here we only make sure the running
//!   containerd has it and create the `gvisor` RuntimeClass.
//! * **Kata** needs hardware virtualisation: nodes are privileged containers, so the host's
//!   `/dev/kvm` is what the guest VMs get. kata-deploy (the upstream DaemonSet, pinned by
//!   `KATA_VERSION` in `ci/versions.env`) installs the artefacts on every node and restarts
//!   containerd. Cloud Hypervisor is the one Kata hypervisor reported to work inside kind
//!   (QEMU fails there with `kvm run failed Bad address`), hence `kata-clh`. Without
//!   `/dev/kvm` Kata is skipped with a message, not failed: the rest of the run still works.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Deserialize;

use super::KindError;
use super::config::{ClusterConfig, Handler, Mount};
use super::tools::{Tools, find_on_path};
use crate::binaries::pinned;
use crate::crds::FIELD_MANAGER;

/// The device Kata's VMs need.
pub const KVM_DEVICE: &str = "/dev/kvm";
pub const GVISOR_INSTALL: &str = "https://gvisor.dev/docs/user_guide/install/";
/// The gVisor binaries containerd needs on every node, found on the host's `PATH`.
pub const GVISOR_BINARIES: [&str; 2] = ["runsc", "containerd-shim-runsc-v1"];
/// On containerd's `PATH` inside a kind node.
const NODE_BIN_DIR: &str = "/usr/local/bin";
/// The label kata-deploy puts on a node once Kata is installed there.
pub const KATA_NODE_LABEL: (&str, &str) = ("katacontainers.io/kata-runtime", "true");
/// kata-deploy downloads and installs a few hundred MB per node.
const KATA_INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long containerd gets to come back after a restart.
const CONTAINERD_RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// A sandboxed runtime a scenario asks for (`cluster.kind.runtimes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Runtime {
    Gvisor,
    Kata,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Gvisor => "gvisor",
            Runtime::Kata => "kata",
        }
    }

    /// What templates put in `runtimeClassName`.
    pub fn runtime_class_name(self) -> &'static str {
        match self {
            Runtime::Gvisor => "gvisor",
            Runtime::Kata => "kata-clh",
        }
    }

    /// The containerd handler; the RuntimeClass's `handler` must equal its name, or pod
    /// sandboxes fail with "no runtime for … is configured".
    pub fn handler(self) -> Handler {
        match self {
            Runtime::Gvisor => Handler {
                name: "runsc",
                runtime_type: "io.containerd.runsc.v1",
            },
            Runtime::Kata => Handler {
                name: "kata-clh",
                runtime_type: "io.containerd.kata-clh.v2",
            },
        }
    }

    /// The RuntimeClass: `gvisor` → `runsc` on every node; `kata-clh` → `kata-clh`, only on
    /// nodes kata-deploy has finished, with the VM's fixed cost (kata-deploy's own figures for
    /// Cloud Hypervisor) counted against the node.
    pub fn runtime_class(self) -> RuntimeClass {
        let metadata = ObjectMeta {
            name: Some(self.runtime_class_name().into()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                FIELD_MANAGER.to_string(),
            )])),
            ..ObjectMeta::default()
        };
        match self {
            Runtime::Gvisor => RuntimeClass {
                metadata,
                handler: self.handler().name.into(),
                overhead: None,
                scheduling: None,
            },
            Runtime::Kata => RuntimeClass {
                metadata,
                handler: self.handler().name.into(),
                overhead: Some(Overhead {
                    pod_fixed: Some(BTreeMap::from([
                        ("cpu".to_string(), Quantity("250m".into())),
                        ("memory".to_string(), Quantity("130Mi".into())),
                    ])),
                }),
                scheduling: Some(Scheduling {
                    node_selector: Some(BTreeMap::from([(
                        KATA_NODE_LABEL.0.to_string(),
                        KATA_NODE_LABEL.1.to_string(),
                    )])),
                    tolerations: None,
                }),
            },
        }
    }
}

/// Whether Kata can run on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KataDecision {
    Install,
    /// Why not, as printed.
    Skip(String),
}

/// Kata needs `kvm` (`/dev/kvm` outside tests) to exist, and a registry: kata-deploy's
/// manifests and installer image are downloaded (`registry` is false on the offline node image).
pub fn kata_decision(kvm: &Path, registry: bool) -> KataDecision {
    if !registry {
        KataDecision::Skip(
            "skipping Kata: the offline node image has no registry to fetch kata-deploy's \
             manifests and installer from (a kindest/node image with registry access does)"
                .into(),
        )
    } else if kvm.exists() {
        KataDecision::Install
    } else {
        KataDecision::Skip(format!(
            "skipping Kata: no {} on this host (Kata runs each pod in a VM and needs \
             hardware virtualisation)",
            kvm.display()
        ))
    }
}

/// The runtimes to install out of those `requested`, in order and once each, with a message
/// for each one skipped.
pub fn plan(requested: &[Runtime], kvm: &Path, registry: bool) -> (Vec<Runtime>, Vec<String>) {
    let (mut install, mut skipped) = (Vec::new(), Vec::new());
    for &runtime in requested {
        if install.contains(&runtime) {
            continue;
        }
        match (runtime, kata_decision(kvm, registry)) {
            (Runtime::Kata, KataDecision::Skip(why)) => skipped.push(why),
            _ => install.push(runtime),
        }
    }
    (install, skipped)
}

/// The host's gVisor binaries, each mounted read-only at the same name in the node's
/// `/usr/local/bin`.
pub fn gvisor_mounts(path_var: &OsStr) -> Result<Vec<Mount>, KindError> {
    GVISOR_BINARIES
        .iter()
        .map(|binary| {
            let host_path = find_on_path(binary, path_var).ok_or_else(|| {
                KindError::Runtime(format!(
                    "gVisor needs {binary} on this host's PATH (it is mounted into every \
                     node); install runsc and containerd-shim-runsc-v1 from {GVISOR_INSTALL}"
                ))
            })?;
            Ok(Mount {
                host_path,
                container_path: Path::new(NODE_BIN_DIR).join(binary),
            })
        })
        .collect()
}

/// Whether this host mounts cgroup v1 (no `cgroup.controllers` at the unified root), as kind's
/// nodes then do.
pub fn cgroup_v1() -> bool {
    !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Where the node reads runsc's options from ([`gvisor_on_cgroup_v1`]).
const NODE_RUNSC_CONFIG: &str = "/etc/containerd/runsc.toml";

/// gVisor in kind nodes on a cgroup-v1 host: runsc cannot place its sandbox in the cgroups
/// that the systemd driver names there, so the node's containerd and kubelet use the cgroupfs
/// driver, and runsc leaves cgroups to containerd (`ignore-cgroups`, from a runsc.toml
/// written into `dir` and mounted into every node).
pub fn gvisor_on_cgroup_v1(cluster: &mut ClusterConfig, dir: &Path) -> Result<(), KindError> {
    let runsc_config = dir.join("runsc.toml");
    std::fs::write(
        &runsc_config,
        "[runsc_config]\n  ignore-cgroups = \"true\"\n",
    )
    .map_err(|e| KindError::Runtime(format!("cannot write {}: {e}", runsc_config.display())))?;
    let cri = "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes";
    let runsc = Runtime::Gvisor.handler().name;
    cluster.containerd_patches.push(format!(
        "[{cri}.runc.options]\n  SystemdCgroup = false\n\
         [{cri}.test-handler.options]\n  SystemdCgroup = false\n\
         [{cri}.{runsc}.options]\n  TypeUrl = \"io.containerd.runsc.v1.options\"\n  \
         ConfigPath = \"{NODE_RUNSC_CONFIG}\""
    ));
    cluster
        .kubeadm_patches
        .push("kind: KubeletConfiguration\ncgroupDriver: cgroupfs".into());
    cluster.mounts.push(Mount {
        host_path: std::path::absolute(&runsc_config).unwrap_or(runsc_config),
        container_path: NODE_RUNSC_CONFIG.into(),
    });
    Ok(())
}

/// The upstream manifests kata-deploy is applied from, at Kata release `version`: its RBAC
/// and its DaemonSet (namespace `kube-system`).
pub fn kata_deploy_manifests(version: &str) -> [String; 2] {
    let base = format!(
        "https://raw.githubusercontent.com/kata-containers/kata-containers/{version}/tools/packaging/kata-deploy"
    );
    [
        format!("{base}/kata-rbac/base/kata-rbac.yaml"),
        format!("{base}/kata-deploy/base/kata-deploy.yaml"),
    ]
}

/// Whether a containerd configuration (a file, or `containerd config dump`) has a runtime
/// table for `handler`, under the version-2 key path or its version-3 migration.
pub fn handler_configured(containerd_config: &str, handler: &str) -> bool {
    let endings = [
        format!(".runtimes.{handler}]"),
        format!(".runtimes.'{handler}']"),
        format!(".runtimes.\"{handler}\"]"),
    ];
    containerd_config.lines().map(str::trim).any(|line| {
        line.starts_with("[plugins") && endings.iter().any(|end| line.ends_with(end.as_str()))
    })
}

/// Makes `runtime` usable on the cluster `name` and creates its RuntimeClass.
pub async fn install(
    runtime: Runtime,
    tools: &Tools,
    name: &str,
    kubeconfig: &Path,
    client: &kube::Client,
) -> Result<(), KindError> {
    match runtime {
        Runtime::Gvisor => {
            for node in nodes(tools, name).await? {
                ensure_handler(tools, &node, name, runtime.handler().name).await?;
            }
        }
        Runtime::Kata => install_kata(tools, kubeconfig, client).await?,
    }
    apply_runtime_class(client, &runtime.runtime_class()).await?;
    eprintln!(
        "runtime {}: RuntimeClass {} ready (handler {})",
        runtime.name(),
        runtime.runtime_class_name(),
        runtime.handler().name
    );
    Ok(())
}

/// The node containers of the cluster.
pub async fn nodes(tools: &Tools, name: &str) -> Result<Vec<String>, KindError> {
    let out = tools
        .kind()
        .args(["get", "nodes", "--name", name])
        .run()
        .await?;
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Makes sure the running containerd on `node` knows `handler`, restarting containerd when
/// its configuration file has the handler but the running process does not (it started
/// before the configuration was written).
async fn ensure_handler(
    tools: &Tools,
    node: &str,
    cluster: &str,
    handler: &str,
) -> Result<(), KindError> {
    let exec = |args: &[&str]| tools.docker().args(["exec", node]).args(args);
    for binary in GVISOR_BINARIES {
        let path = format!("{NODE_BIN_DIR}/{binary}");
        if exec(&["test", "-x", path.as_str()]).run().await.is_err() {
            return Err(KindError::Runtime(format!(
                "node {node}: {path} is missing, so gVisor cannot run there; the cluster was \
                 made without gVisor (a reused cluster?): delete it with `kind delete cluster \
                 --name {cluster}` and run again"
            )));
        }
    }
    let live = exec(&["containerd", "config", "dump"]).run().await?.stdout;
    if handler_configured(&live, handler) {
        return Ok(());
    }
    let file = exec(&["cat", "/etc/containerd/config.toml"])
        .run()
        .await?
        .stdout;
    if !handler_configured(&file, handler) {
        return Err(KindError::Runtime(format!(
            "node {node}: containerd has no {handler} runtime handler; the cluster was made \
             without gVisor (a reused cluster?): delete it with `kind delete cluster --name \
             {cluster}` and run again"
        )));
    }
    eprintln!("node {node}: restarting containerd to load the {handler} handler");
    exec(&["systemctl", "restart", "containerd"]).run().await?;
    let configured = crate::poll::until(CONTAINERD_RESTART_TIMEOUT, Duration::from_secs(1), || {
        let dump = exec(&["containerd", "config", "dump"]);
        async move {
            let dump = dump.run().await.ok()?;
            handler_configured(&dump.stdout, handler).then_some(())
        }
    });
    configured.await.ok_or_else(|| {
        KindError::Runtime(format!(
            "node {node}: containerd did not come back with the {handler} handler within {}s \
             of a restart",
            CONTAINERD_RESTART_TIMEOUT.as_secs()
        ))
    })
}

/// Applies kata-deploy, waits for its DaemonSet and for every node to be labelled by it.
async fn install_kata(
    tools: &Tools,
    kubeconfig: &Path,
    client: &kube::Client,
) -> Result<(), KindError> {
    let version = pinned("KATA_VERSION").ok_or_else(|| {
        KindError::Runtime("ci/versions.env has no KATA_VERSION to install Kata from".into())
    })?;
    let kubectl = || tools.kubectl().arg("--kubeconfig").arg(kubeconfig);
    for manifest in kata_deploy_manifests(version) {
        kubectl().args(["apply", "-f", &manifest]).run().await?;
    }
    eprintln!("runtime kata: kata-deploy {version} applied; waiting for it on every node");
    kubectl()
        .args([
            "-n",
            "kube-system",
            "rollout",
            "status",
            "daemonset/kata-deploy",
        ])
        .arg(format!("--timeout={}s", KATA_INSTALL_TIMEOUT.as_secs()))
        .run()
        .await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let labelled = crate::poll::until(KATA_INSTALL_TIMEOUT, Duration::from_secs(5), || async {
        match unlabelled_kata_nodes(&nodes).await {
            Ok(waiting) if waiting.is_empty() => Some(Ok(())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    })
    .await;
    match labelled {
        Some(done) => done,
        None => Err(KindError::Runtime(format!(
            "kata-deploy did not finish within {} min on node(s) {}; see `kubectl -n \
             kube-system logs daemonset/kata-deploy`",
            KATA_INSTALL_TIMEOUT.as_secs() / 60,
            unlabelled_kata_nodes(&nodes).await?.join(", ")
        ))),
    }
}

/// The nodes kata-deploy has not labelled as ready for Kata yet.
async fn unlabelled_kata_nodes(nodes: &Api<Node>) -> Result<Vec<String>, KindError> {
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| KindError::Runtime(format!("list nodes: {e}")))?;
    Ok(list
        .items
        .iter()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(KATA_NODE_LABEL.0))
                .is_none_or(|v| v != KATA_NODE_LABEL.1)
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect())
}

async fn apply_runtime_class(client: &kube::Client, class: &RuntimeClass) -> Result<(), KindError> {
    let api: Api<RuntimeClass> = Api::all(client.clone());
    let name = class.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(class),
    )
    .await
    .map_err(|e| KindError::Runtime(format!("apply RuntimeClass {name}: {e}")))?;
    Ok(())
}

/// `/dev/kvm`, as a path to inject in tests.
pub fn kvm_device() -> PathBuf {
    PathBuf::from(KVM_DEVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gvisor_runtime_class_names_the_runsc_handler() {
        let class = serde_json::to_value(Runtime::Gvisor.runtime_class()).unwrap();
        assert_eq!(
            class,
            serde_json::json!({
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {
                    "name": "gvisor",
                    "labels": {"app.kubernetes.io/managed-by": "sandbox-bench"}
                },
                "handler": "runsc"
            })
        );
    }

    #[test]
    fn the_kata_runtime_class_schedules_on_kata_nodes_and_counts_the_vm() {
        let class = serde_json::to_value(Runtime::Kata.runtime_class()).unwrap();
        assert_eq!(class["metadata"]["name"], "kata-clh");
        assert_eq!(class["handler"], "kata-clh");
        assert_eq!(
            class["scheduling"],
            serde_json::json!({"nodeSelector": {"katacontainers.io/kata-runtime": "true"}})
        );
        assert_eq!(
            class["overhead"],
            serde_json::json!({"podFixed": {"cpu": "250m", "memory": "130Mi"}})
        );
    }

    #[test]
    fn handlers_match_the_containerd_shims() {
        let gvisor = Runtime::Gvisor.handler();
        assert_eq!(
            (gvisor.name, gvisor.runtime_type),
            ("runsc", "io.containerd.runsc.v1")
        );
        let kata = Runtime::Kata.handler();
        assert_eq!(
            (kata.name, kata.runtime_type),
            ("kata-clh", "io.containerd.kata-clh.v2")
        );
        for runtime in [Runtime::Gvisor, Runtime::Kata] {
            assert_eq!(runtime.runtime_class().handler, runtime.handler().name);
        }
    }

    #[test]
    fn kata_is_installed_only_where_kvm_exists() {
        let dir = tempfile::tempdir().unwrap();
        let kvm = dir.path().join("kvm");
        let requested = [Runtime::Gvisor, Runtime::Kata, Runtime::Gvisor];
        let (install, skipped) = plan(&requested, &kvm, true);
        assert_eq!(install, [Runtime::Gvisor]);
        assert_eq!(
            skipped,
            [format!(
                "skipping Kata: no {} on this host (Kata runs each pod in a VM and needs \
                 hardware virtualisation)",
                kvm.display()
            )]
        );
        assert!(skipped[0].starts_with("skipping Kata: no "));
        std::fs::write(&kvm, "").unwrap();
        assert_eq!(kata_decision(&kvm, true), KataDecision::Install);
        let (install, skipped) = plan(&requested, &kvm, true);
        assert_eq!(install, [Runtime::Gvisor, Runtime::Kata]);
        assert!(skipped.is_empty());
        let (install, skipped) = plan(&requested, &kvm, false);
        assert_eq!(install, [Runtime::Gvisor], "no registry, no Kata");
        assert!(skipped[0].contains("offline node image"), "{skipped:?}");
    }

    #[test]
    fn gvisor_on_cgroup_v1_uses_the_cgroupfs_driver_and_a_runsc_config_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = ClusterConfig {
            handlers: vec![Runtime::Gvisor.handler()],
            ..ClusterConfig::default()
        };
        gvisor_on_cgroup_v1(&mut cluster, dir.path()).unwrap();
        let written = std::fs::read_to_string(dir.path().join("runsc.toml")).unwrap();
        assert!(written.contains("ignore-cgroups = \"true\""), "{written}");
        let doc: serde_json::Value = serde_saphyr::from_str(&cluster.render()).unwrap();
        let patches = doc["containerdConfigPatches"].to_string();
        assert!(
            patches.contains("runtimes.runc.options]\\n  SystemdCgroup = false"),
            "{patches}"
        );
        assert!(
            patches.contains("ConfigPath = \\\"/etc/containerd/runsc.toml\\\""),
            "{patches}"
        );
        assert_eq!(
            doc["kubeadmConfigPatches"][0],
            "kind: KubeletConfiguration\ncgroupDriver: cgroupfs"
        );
        let mount = cluster.mounts.last().unwrap();
        assert_eq!(mount.host_path, dir.path().join("runsc.toml"));
        assert_eq!(
            mount.container_path,
            Path::new("/etc/containerd/runsc.toml")
        );
    }

    #[test]
    fn gvisor_binaries_come_from_the_host_path_or_the_error_says_where_to_get_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let runsc = dir.path().join("runsc");
        std::fs::write(&runsc, "").unwrap();
        std::fs::set_permissions(&runsc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = gvisor_mounts(dir.path().as_os_str())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("gVisor needs containerd-shim-runsc-v1 on this host's PATH"),
            "{err}"
        );
        assert!(err.contains(GVISOR_INSTALL), "{err}");
        let shim = dir.path().join("containerd-shim-runsc-v1");
        std::fs::copy(&runsc, &shim).unwrap();
        let mounts = gvisor_mounts(dir.path().as_os_str()).unwrap();
        assert_eq!(
            mounts,
            [
                Mount {
                    host_path: runsc,
                    container_path: "/usr/local/bin/runsc".into()
                },
                Mount {
                    host_path: shim,
                    container_path: "/usr/local/bin/containerd-shim-runsc-v1".into()
                },
            ]
        );
    }

    #[test]
    fn kata_deploy_comes_from_the_pinned_release() {
        let version = pinned("KATA_VERSION").expect("KATA_VERSION in ci/versions.env");
        let [rbac, deploy] = kata_deploy_manifests(version);
        assert_eq!(
            rbac,
            format!(
                "https://raw.githubusercontent.com/kata-containers/kata-containers/{version}/tools/packaging/kata-deploy/kata-rbac/base/kata-rbac.yaml"
            )
        );
        assert!(
            deploy.ends_with("/kata-deploy/base/kata-deploy.yaml"),
            "{deploy}"
        );
    }

    #[test]
    fn a_handler_is_found_in_file_and_dumped_configurations() {
        // /etc/containerd/config.toml of a node made with the runsc patch (version 2 keys).
        let file = "version = 2\n\
            [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
            [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]\n  runtime_type = \"io.containerd.runsc.v1\"\n";
        assert!(handler_configured(file, "runsc"));
        // `containerd config dump` of containerd 2 (migrated to version 3 keys).
        let dump = "version = 3\n\
            [plugins]\n  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]\n    runtime_type = 'io.containerd.runsc.v1'\n";
        assert!(handler_configured(dump, "runsc"));
        assert!(!handler_configured(dump, "kata-clh"));
        // A longer name that merely ends the same way is not the handler.
        let other = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.my-runsc]\n";
        assert!(!handler_configured(other, "runsc"));
        assert!(!handler_configured("# runtimes.runsc]\n", "runsc"));
    }
}
