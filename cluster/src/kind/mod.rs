//! The `kind` provider: a Kubernetes cluster in Docker containers made by
//! [kind](https://kind.sigs.k8s.io), with real kubelets and container runtimes, so sandboxes
//! run real pods and sandboxed runtimes (gVisor, Kata) can be installed.
//!
//! The provider drives the `kind`, `docker` and `kubectl` command-line tools ([`tools`],
//! [`command`](super::command)):
//!
//! 1. checks the tools (on `PATH`, recent enough, the Docker daemon answering);
//! 2. reuses a cluster of the configured name when asked to, or refuses to touch it;
//! 3. otherwise writes the cluster config ([`config`]) and runs `kind create cluster`, writing
//!    the kubeconfig into the cluster directory (never into `~/.kube/config`);
//! 4. waits until every node is Ready and installs the requested runtimes ([`runtimes`]).
//!
//! A cluster the provider created is deleted by [`KindCluster::delete`], and also when the
//! [`KindCluster`] is dropped (a panic, a Ctrl-C that drops the start-up future); a reused
//! one is left as it was. When start-up fails, kind's logs of the cluster are exported first.

pub mod config;

pub mod runtimes;
pub mod tools;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

pub use super::command::{Command, CommandError};
pub use config::ClusterConfig;
pub use runtimes::Runtime;
pub use tools::{Tool, ToolError, Tools};

use super::{ClusterError, ClusterInfo, connect};
use crate::binaries::pinned;

/// The cluster name when a scenario gives none.
pub const DEFAULT_NAME: &str = "sandbox-bench";

#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(
        "a kind cluster named {name} already exists; delete it with `kind delete cluster \
         --name {name}`, or set cluster.kind.reuse: true to run on it"
    )]
    Exists { name: String },
    #[error("no kind cluster named {name} to reuse; `kind get clusters` lists them")]
    NothingToReuse { name: String },
    #[error("{0}")]
    Runtime(String),
}

/// Everything a kind cluster needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindConfig {
    pub name: String,
    /// The node image; `None`: [`default_image`], decided when the cluster is created.
    pub image: Option<String>,
    pub workers: u32,
    /// Run on an existing cluster of this name (and leave it running) instead of creating one.
    pub reuse: bool,
    pub runtimes: Vec<Runtime>,
    /// Holds the generated kind config, the kubeconfig and, after a failure, kind's logs.
    pub dir: PathBuf,
    /// Upper bound for `kind create cluster --wait` and then for the nodes to be Ready.
    pub timeout: Duration,
    /// The KVM device whose presence decides whether Kata is installed.
    pub kvm: PathBuf,
    /// Where the tools and the gVisor binaries are looked for: [`search_path`] when the config
    /// is made.
    pub search_path: OsString,
}

impl KindConfig {
    pub fn new(name: impl Into<String>, dir: PathBuf) -> Self {
        Self {
            name: name.into(),
            image: None,
            workers: 0,
            reuse: false,
            runtimes: Vec::new(),
            dir,
            timeout: Duration::from_secs(120),
            kvm: runtimes::kvm_device(),
            search_path: search_path(),
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("kind-config.yaml")
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// The pinned binaries' directory (`just setup`: runsc and its shim as the local real node
/// runs them, kubectl), then `PATH`.
fn search_path() -> OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let pinned = crate::binaries::Binaries::locate(None).dir().to_path_buf();
    std::env::join_paths(std::iter::once(pinned).chain(std::env::split_paths(&path)))
        .unwrap_or(path)
}

/// kind's published node image, pulled from its registry (`KIND_NODE_IMAGE`).
pub fn registry_image() -> &'static str {
    pinned("KIND_NODE_IMAGE").unwrap_or("kindest/node:v1.35.0")
}

/// The node image `just setup-kind` builds from the package registries and loads into Docker
/// (`KIND_OFFLINE_NODE_IMAGE`): no registry needed.
pub fn offline_image() -> &'static str {
    pinned("KIND_OFFLINE_NODE_IMAGE").unwrap_or("sandbox-bench.local/kind-node:v1.37.2")
}

/// The node image when the scenario names none: the offline image when Docker has it (the
/// machine ran `just setup-kind`), else the registry's.
pub async fn default_image(tools: &Tools) -> &'static str {
    let offline = offline_image();
    let loaded = tools
        .docker()
        .args(["image", "inspect", "--format", "{{.Id}}", offline])
        .run()
        .await
        .is_ok();
    if loaded { offline } else { registry_image() }
}

/// A kind cluster for the length of a run.
pub struct KindCluster {
    config: KindConfig,
    tools: Option<Tools>,
    /// The provider started `kind create` for this cluster, so it is the provider's to delete.
    owned: bool,
    client: Option<kube::Client>,
    info: Option<ClusterInfo>,
    /// Runtimes the config asks for that this cluster could not have.
    skipped: Vec<Runtime>,
}

impl KindCluster {
    pub fn new(config: KindConfig) -> Self {
        Self {
            config,
            tools: None,
            owned: false,
            client: None,
            info: None,
            skipped: Vec::new(),
        }
    }

    /// The runtimes asked for but not installed (each said why when the cluster came up).
    pub fn skipped_runtimes(&self) -> &[Runtime] {
        &self.skipped
    }

    pub fn config(&self) -> &KindConfig {
        &self.config
    }

    /// A client with admin rights, once up.
    pub fn client(&self) -> Option<kube::Client> {
        self.client.clone()
    }

    /// How to reach the cluster, once up.
    pub fn info(&self) -> Option<&ClusterInfo> {
        self.info.as_ref()
    }

    /// True when the cluster was created by this provider (and will be deleted by it).
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// Loads an image archive (`docker save` output) into every node, so pods can use an
    /// image that is in no registry.
    pub async fn load_image_archive(&self, archive: &Path) -> Result<(), ClusterError> {
        let tools = self.tools()?;
        tools
            .kind()
            .args(["load", "image-archive"])
            .arg(archive)
            .args(["--name", &self.config.name])
            .run()
            .await
            .map_err(KindError::from)?;
        Ok(())
    }

    /// Writes kind's logs of the cluster (every node's journal, containerd and kubelet logs,
    /// pod logs) into `dir`.
    pub fn export_logs(&self, dir: &Path) -> Result<(), ClusterError> {
        let tools = self.tools()?;
        tools
            .kind()
            .args(["export", "logs"])
            .arg(dir)
            .args(["--name", &self.config.name])
            .run_blocking()
            .map_err(KindError::from)?;
        Ok(())
    }

    /// Deletes the cluster if this provider created it; a reused cluster is left alone.
    pub fn delete(&mut self) -> Result<(), ClusterError> {
        if !std::mem::take(&mut self.owned) {
            return Ok(());
        }
        eprintln!("deleting kind cluster {}", self.config.name);
        delete_command(self.tools.as_ref(), &self.config.name)
            .run_blocking()
            .map_err(KindError::from)?;
        Ok(())
    }

    /// Leaves the cluster running (to inspect it after a run); returns its kubeconfig.
    pub fn detach(mut self) -> PathBuf {
        if self.owned {
            eprintln!(
                "the kind cluster {name} stays up; delete it with `kind delete cluster --name {name}`",
                name = self.config.name
            );
        }
        self.owned = false;
        self.config.kubeconfig()
    }

    fn tools(&self) -> Result<&Tools, ClusterError> {
        self.tools.as_ref().ok_or_else(|| {
            ClusterError::Invalid(format!(
                "kind cluster {} is not up: its tools were never checked",
                self.config.name
            ))
        })
    }

    async fn bring_up(&mut self) -> Result<ClusterInfo, ClusterError> {
        let tools = Tools::find_in(&self.config.search_path)
            .await
            .map_err(KindError::from)?;
        eprintln!(
            "kind {}, docker {}, kubectl {}",
            tools.kind.version, tools.docker.version, tools.kubectl.version
        );
        self.tools = Some(tools.clone());
        let config = self.config.clone();
        std::fs::create_dir_all(&config.dir).map_err(|source| ClusterError::Io {
            path: config.dir.clone(),
            source,
        })?;
        let image = match &config.image {
            Some(image) => image.clone(),
            None => default_image(&tools).await.to_string(),
        };
        let offline = image == offline_image();
        eprintln!(
            "node image: {image}{}",
            match (&config.image, offline) {
                (Some(_), _) => " (the scenario's)",
                (None, true) => " (built offline by `just setup-kind`)",
                (None, false) =>
                    " (kind's, from its registry; `just setup-kind` builds one offline)",
            }
        );
        let registry = !offline;
        let (install, skipped) = runtimes::plan(&config.runtimes, &config.kvm, registry);
        for message in &skipped {
            eprintln!("{message}");
        }
        self.skipped = config
            .runtimes
            .iter()
            .filter(|r| !install.contains(r))
            .copied()
            .collect();
        let exists = cluster_names(&tools).await?.contains(&config.name);
        let expected_nodes = match (exists, config.reuse) {
            (true, false) => {
                return Err(KindError::Exists {
                    name: config.name.clone(),
                }
                .into());
            }
            (false, true) => {
                return Err(KindError::NothingToReuse {
                    name: config.name.clone(),
                }
                .into());
            }
            (true, true) => {
                eprintln!("reusing the kind cluster {}", config.name);
                let kubeconfig = tools
                    .kind()
                    .args(["get", "kubeconfig", "--name", &config.name])
                    .run()
                    .await
                    .map_err(KindError::from)?
                    .stdout;
                write_private(&config.kubeconfig(), &kubeconfig)?;
                None
            }
            (false, false) => {
                self.create(&tools, &image, &install).await?;
                Some(config.workers as usize + 1)
            }
        };
        let client = connect(&config.kubeconfig(), None).await?;
        self.client = Some(client.clone());
        let deadline = Instant::now() + config.timeout;
        wait_for_nodes(&client, expected_nodes, deadline, &config.logs()).await?;
        wait_for_workloads(&client, deadline, &config.logs()).await?;
        for runtime in install {
            runtimes::install(runtime, &tools, &config.name, &config.kubeconfig(), &client).await?;
        }
        let server = super::load_config(&config.kubeconfig(), None)
            .await?
            .cluster_url
            .to_string();
        Ok(ClusterInfo {
            provider: "kind",
            name: config.name.clone(),
            kubeconfig: config.kubeconfig(),
            server,
        })
    }

    async fn create(
        &mut self,
        tools: &Tools,
        image: &str,
        install: &[Runtime],
    ) -> Result<(), ClusterError> {
        let config = &self.config;
        let mut cluster = ClusterConfig {
            name: config.name.clone(),
            image: image.to_string(),
            workers: config.workers,
            handlers: install.iter().map(|r| r.handler()).collect(),
            ..ClusterConfig::default()
        };
        if install.contains(&Runtime::Gvisor) {
            cluster
                .mounts
                .extend(runtimes::gvisor_mounts(&config.search_path)?);
            if runtimes::cgroup_v1() {
                runtimes::gvisor_on_cgroup_v1(&mut cluster, &config.dir)?;
            }
        }
        let file = config.config_file();
        std::fs::write(&file, cluster.render()).map_err(|source| ClusterError::Io {
            path: file.clone(),
            source,
        })?;
        eprintln!(
            "creating kind cluster {} ({}, {} worker(s)); config: {}",
            config.name,
            image,
            config.workers,
            file.display()
        );
        // From here on the name is ours: whatever `kind create` leaves behind, even when it is
        // killed half-way, is deleted.
        self.owned = true;
        tools
            .kind()
            .args(["create", "cluster", "--name", &config.name, "--config"])
            .arg(&file)
            .arg("--kubeconfig")
            .arg(config.kubeconfig())
            .arg(format!("--wait={}s", config.timeout.as_secs()))
            .run()
            .await
            .map_err(KindError::from)?;
        Ok(())
    }
}

impl KindCluster {
    /// Creates the cluster (or checks the one to reuse) and waits until it accepts work. On
    /// failure, a cluster it created is deleted, its logs exported first.
    pub async fn up(&mut self) -> Result<ClusterInfo, ClusterError> {
        match self.bring_up().await {
            Ok(info) => {
                self.info = Some(info.clone());
                Ok(info)
            }
            Err(error) => {
                let logs = self.config.logs();
                // Logs only exist once kind has made node containers.
                let exported = self.owned && self.export_logs(&logs).is_ok();
                if let Err(e) = self.delete() {
                    eprintln!("warning: {e}");
                }
                Err(if exported {
                    ClusterError::KindFailed {
                        source: Box::new(error),
                        logs,
                    }
                } else {
                    error
                })
            }
        }
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if let Err(e) = self.delete() {
            eprintln!("warning: {e}");
        }
    }
}

/// `kind delete cluster --name N`, with the checked `kind` or, before the check got that far,
/// whatever `kind` is on `PATH`.
fn delete_command(tools: Option<&Tools>, name: &str) -> Command {
    tools
        .map_or_else(|| Command::new(Tool::Kind.program()), Tools::kind)
        .args(["delete", "cluster", "--name", name])
}

async fn cluster_names(tools: &Tools) -> Result<Vec<String>, ClusterError> {
    let out = tools
        .kind()
        .args(["get", "clusters"])
        .run()
        .await
        .map_err(KindError::from)?;
    Ok(parse_cluster_names(&out.stdout))
}

/// The names `kind get clusters` prints, one a line (with none it prints nothing on stdout
/// and "No kind clusters found." on stderr).
pub fn parse_cluster_names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Waits until `expected` nodes (or, for a reused cluster, every node there is) are Ready.
async fn wait_for_nodes(
    client: &kube::Client,
    expected: Option<usize>,
    deadline: Instant,
    logs: &Path,
) -> Result<(), ClusterError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let left = deadline.saturating_duration_since(Instant::now());
    let ready = crate::poll::until(left, Duration::from_secs(1), || async {
        let list = nodes.list(&ListParams::default()).await.ok()?;
        let ready = list.items.iter().filter(|n| node_ready(n)).count();
        let want = expected.unwrap_or(list.items.len()).max(1);
        (ready >= want).then_some(())
    });
    ready.await.ok_or_else(|| ClusterError::Timeout {
        what: format!(
            "{} kind node(s) Ready",
            expected.map_or("all".into(), |n| n.to_string())
        ),
        logs: logs.to_path_buf(),
    })
}

/// Waits until the cluster can run a workload: the `default` ServiceAccount exists (the
/// controller manager makes one per namespace, and a Pod created before it is refused) and
/// CoreDNS has rolled out (a Sandbox's Service is looked up by name). A Ready node is not
/// enough: kind's `--wait` ends with the control plane, some seconds before both.
async fn wait_for_workloads(
    client: &kube::Client,
    deadline: Instant,
    logs: &Path,
) -> Result<(), ClusterError> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::runtime::wait::{await_condition, conditions};
    let timeout = |what: &str| ClusterError::Timeout {
        what: what.to_string(),
        logs: logs.to_path_buf(),
    };
    let left = || deadline.saturating_duration_since(Instant::now());
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let account = await_condition(accounts, "default", conditions::is_created());
    tokio::time::timeout(left(), account)
        .await
        .map_err(|_| timeout("the default ServiceAccount"))?
        .map_err(|source| ClusterError::Watch {
            what: "ServiceAccounts".into(),
            source,
        })?;
    // kubeadm made the Deployment before `kind create` returned; a cluster without one (not
    // kind's, as in the provider's own tests) has no DNS to wait for.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "kube-system");
    let exists = deployments
        .get_metadata_opt("coredns")
        .await
        .map_err(|source| ClusterError::Kube {
            what: "read kube-system/coredns".into(),
            source,
        })?
        .is_some();
    if !exists {
        return Ok(());
    }
    let dns = await_condition(
        deployments,
        "coredns",
        conditions::is_deployment_completed(),
    );
    tokio::time::timeout(left(), dns)
        .await
        .map_err(|_| timeout("CoreDNS (kube-system/coredns) rolled out"))?
        .map_err(|source| ClusterError::Watch {
            what: "kube-system/coredns".into(),
            source,
        })?;
    Ok(())
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Writes a file only its owner can read: a kubeconfig holds credentials.
fn write_private(path: &Path, contents: &str) -> Result<(), ClusterError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|source| ClusterError::Io {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_read_one_a_line() {
        assert_eq!(
            parse_cluster_names("kind\nsandbox-bench\n"),
            ["kind", "sandbox-bench"]
        );
        assert!(parse_cluster_names("").is_empty());
    }

    #[test]
    fn the_default_config_uses_the_pinned_image_and_keeps_files_in_its_directory() {
        let config = KindConfig::new("bench", PathBuf::from("runs/x/cluster"));
        assert_eq!(config.image, None, "decided at creation");
        assert_eq!(registry_image(), pinned("KIND_NODE_IMAGE").unwrap());
        assert!(registry_image().starts_with("kindest/node:v"));
        assert_eq!(offline_image(), pinned("KIND_OFFLINE_NODE_IMAGE").unwrap());
        assert_eq!(config.kubeconfig(), Path::new("runs/x/cluster/kubeconfig"));
        assert_eq!(
            config.config_file(),
            Path::new("runs/x/cluster/kind-config.yaml")
        );
        assert_eq!(config.kvm, Path::new("/dev/kvm"));
        assert!(!config.reuse);
    }

    #[test]
    fn deletion_names_the_cluster() {
        assert_eq!(
            delete_command(None, "bench").line(),
            "kind delete cluster --name bench"
        );
    }

    #[test]
    fn a_cluster_that_never_came_up_is_not_deleted_on_drop() {
        // Nothing was created, so dropping runs no command (this machine may have no kind).
        let cluster = KindCluster::new(KindConfig::new("never-created", PathBuf::from("x")));
        assert!(!cluster.owned());
        drop(cluster);
    }

    #[test]
    fn a_detached_cluster_is_no_longer_deleted() {
        let mut cluster = KindCluster::new(KindConfig::new("kept", PathBuf::from("runs/k")));
        cluster.owned = true;
        assert_eq!(cluster.detach(), Path::new("runs/k/kubeconfig"));
    }

    #[test]
    fn a_private_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kubeconfig");
        write_private(&file, "apiVersion: v1\n").unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// Fake `kind`, `docker` and `kubectl` in a directory of their own: each records its
    /// arguments in `calls`; `kind get clusters` prints `clusters`; `kind create` does what
    /// `create` says.
    struct FakeTools {
        dir: tempfile::TempDir,
    }

    impl FakeTools {
        fn new(clusters: &str, create: &str) -> Self {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let calls = dir.path().join("calls");
            let kind = format!(
                "#!/bin/sh\necho \"$*\" >> {calls}\ncase \"$1 $2\" in\n\
                 'version '*) echo 'kind v0.31.0 go1.25.5 linux/amd64' ;;\n\
                 'get clusters') printf '{clusters}' ;;\n\
                 'create cluster') {create} ;;\n\
                 'export logs') mkdir -p \"$3\" ;;\n\
                 esac\n",
                calls = calls.display()
            );
            let scripts = [
                ("kind", kind),
                ("docker", "#!/bin/sh\necho 28.5.1\n".to_string()),
                (
                    "kubectl",
                    "#!/bin/sh\necho '{\"clientVersion\":{\"gitVersion\":\"v1.35.0\"}}'\n"
                        .to_string(),
                ),
            ];
            for (name, text) in scripts {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            Self { dir }
        }

        fn config(&self, name: &str) -> KindConfig {
            let mut config = KindConfig::new(name, self.dir.path().join("cluster"));
            config.search_path = self.dir.path().as_os_str().to_os_string();
            config
        }

        /// The `kind` calls after the version check, in order.
        fn kind_calls(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("calls"))
                .unwrap_or_default()
                .lines()
                .filter(|l| *l != "version")
                .map(str::to_string)
                .collect()
        }
    }

    #[tokio::test]
    async fn a_failed_create_exports_the_logs_and_deletes_what_kind_left() {
        let fake = FakeTools::new(
            "",
            "echo 'ERROR: failed to create cluster: boom' >&2; exit 1",
        );
        let config = fake.config("t");
        let (file, kubeconfig, logs) = (config.config_file(), config.kubeconfig(), config.logs());
        let mut cluster = KindCluster::new(config);
        let err = cluster.up().await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ClusterError::KindFailed { .. }), "{err:?}");
        assert!(
            message.contains("create cluster --name t --config"),
            "{message}"
        );
        assert!(
            message
                .contains("failed (exit status: 1); stderr: ERROR: failed to create cluster: boom"),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                "kind's logs of the cluster are in {}",
                logs.display()
            )),
            "{message}"
        );
        assert_eq!(
            fake.kind_calls(),
            [
                "get clusters".to_string(),
                format!(
                    "create cluster --name t --config {} --kubeconfig {} --wait=120s",
                    file.display(),
                    kubeconfig.display()
                ),
                format!("export logs {} --name t", logs.display()),
                "delete cluster --name t".to_string(),
            ]
        );
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("name: \"t\"")
        );
        assert!(!cluster.owned());
    }

    #[tokio::test]
    async fn an_existing_cluster_is_refused_unless_reuse_is_asked() {
        let fake = FakeTools::new("other\\nt\\n", "exit 0");
        let mut cluster = KindCluster::new(fake.config("t"));
        let err = cluster.up().await.unwrap_err().to_string();
        assert_eq!(
            err,
            "a kind cluster named t already exists; delete it with `kind delete cluster --name \
             t`, or set cluster.kind.reuse: true to run on it"
        );
        drop(cluster);
        assert_eq!(
            fake.kind_calls(),
            ["get clusters"],
            "nothing created or deleted"
        );

        let fake = FakeTools::new("other\\n", "exit 0");
        let mut config = fake.config("t");
        config.reuse = true;
        let err = KindCluster::new(config).up().await.unwrap_err().to_string();
        assert_eq!(
            err,
            "no kind cluster named t to reuse; `kind get clusters` lists them"
        );
    }

    #[tokio::test]
    async fn an_interrupted_create_is_killed_and_the_cluster_deleted() {
        let fake = FakeTools::new("", "sleep 30");
        let mut cluster = KindCluster::new(fake.config("t"));
        let started = Instant::now();
        let up = tokio::time::timeout(Duration::from_secs(2), cluster.up()).await;
        assert!(up.is_err(), "create should still be running");
        drop(cluster);
        assert!(started.elapsed() < Duration::from_secs(10));
        let calls = fake.kind_calls();
        assert_eq!(
            calls.last().map(String::as_str),
            Some("delete cluster --name t"),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn gvisor_without_runsc_on_the_host_fails_before_anything_is_created() {
        let fake = FakeTools::new("", "exit 0");
        let mut config = fake.config("t");
        config.runtimes = vec![Runtime::Gvisor];
        let err = KindCluster::new(config).up().await.unwrap_err().to_string();
        assert!(
            err.starts_with("gVisor needs runsc on this host's PATH"),
            "{err}"
        );
        assert_eq!(fake.kind_calls(), ["get clusters"]);
    }

    #[tokio::test]
    async fn image_archives_are_loaded_into_the_named_cluster() {
        let fake = FakeTools::new("", "exit 0");
        let mut cluster = KindCluster::new(fake.config("t"));
        let archive = Path::new("/tmp/sandbox.tar");
        assert!(
            cluster.load_image_archive(archive).await.is_err(),
            "not up yet"
        );
        cluster.tools = Some(Tools::find_in(fake.dir.path().as_os_str()).await.unwrap());
        cluster.load_image_archive(archive).await.unwrap();
        assert_eq!(
            fake.kind_calls(),
            ["load image-archive /tmp/sandbox.tar --name t"]
        );
    }
}
