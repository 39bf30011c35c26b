//! The `local` provider: a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) and kwok as child processes on loopback, with credentials generated per
//! cluster. No Docker, no images, no network beyond 127.0.0.1.
//!
//! A [`LocalCluster`] owns its processes: dropping it (also while `start` is still running, on
//! a panic, or when a Ctrl-C handler drops the future) stops them all, newest first. A cluster
//! can instead be [detached](LocalCluster::detach) and stopped later from its state file with
//! [`stop_detached`], which is what `sandbox-bench cluster up` / `down` do.

mod components;
mod kwok;
pub mod node;
mod pki;
mod ports;
mod process;
mod state;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{Api, ListParams, PostParams};

pub use components::Layout;
pub use kwok::{KwokConfigError, NODE_LABEL as KWOK_NODE_LABEL, PodReadyDelay};
pub use pki::{ClientIdentity, Pki};
pub use ports::{Ports, free_port, is_listening};
pub use process::{Component, ProcessError};
pub use state::{ClusterState, ComponentState};

use super::{ClusterError, ClusterInfo, connect};
use crate::binaries::{Binaries, Binary};

/// Everything a local cluster needs to start.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub name: String,
    /// Holds the state file, kubeconfig, certificates, etcd data and component logs.
    pub dir: PathBuf,
    pub binaries: Binaries,
    /// Number of kwok nodes.
    pub nodes: u32,
    /// Pods each kwok node accepts.
    pub pods_per_node: u32,
    pub pod_ready: PodReadyDelay,
    /// Upper bound for the whole start-up.
    pub timeout: Duration,
    /// A real node (kubelet, containerd, runc, gVisor) beside the kwok nodes.
    pub real_node: Option<node::RealNodeConfig>,
    /// Users besides the admin, each with a client certificate and a kubeconfig of its own
    /// ([`LocalCluster::kubeconfig_of`]).
    pub clients: Vec<pki::ClientIdentity>,
    /// The API server writes an audit log of the `clients`' requests
    /// ([`LocalCluster::audit_log`]).
    pub audit: bool,
    /// The API server's `GOGC`, how far (in percent) its heap grows past the live heap before
    /// Go collects; `None` leaves the environment's (Go's default is 100). An API server
    /// holding thousands of objects that embed a PodSpec collects every few seconds at the
    /// default, each time taking most of a core for about a second.
    pub apiserver_gogc: Option<u32>,
}

impl LocalConfig {
    pub fn new(name: impl Into<String>, dir: PathBuf, binaries: Binaries) -> Self {
        Self {
            name: name.into(),
            dir,
            binaries,
            nodes: 1,
            pods_per_node: 1000,
            pod_ready: PodReadyDelay::default(),
            timeout: Duration::from_secs(120),
            real_node: None,
            clients: Vec::new(),
            audit: false,
            apiserver_gogc: None,
        }
    }
}

/// The binaries a local cluster runs, checked before anything starts.
pub const REQUIRED: [Binary; 5] = [
    Binary::Etcd,
    Binary::KubeApiserver,
    Binary::KubeControllerManager,
    Binary::KubeScheduler,
    Binary::Kwok,
];

/// How often readiness probes poll.
const POLL: Duration = Duration::from_millis(50);
/// How long a component gets to exit on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running local cluster that owns its processes.
pub struct LocalCluster {
    layout: Layout,
    state: ClusterState,
    /// In start order; stopped in reverse. Locked only briefly: a fault restarts one while
    /// the run reads the others' pids.
    components: std::sync::Mutex<Vec<Component>>,
    client: Option<kube::Client>,
}

impl LocalCluster {
    /// Starts every component and waits until the cluster is usable: API `/readyz` ok, the
    /// `default` ServiceAccount exists, and every kwok node is Ready.
    pub async fn start(config: LocalConfig) -> Result<Self, ClusterError> {
        config.binaries.check(&REQUIRED)?;
        if let Some(real) = &config.real_node {
            node::check_prerequisites(&config.binaries, real)?;
        }
        let layout = Layout::new(config.dir.clone());
        refuse_if_running(&layout)?;
        prepare_dir(&layout)?;

        let pki = pki::Pki::generate(&config.clients).map_err(ClusterError::Pki)?;
        for (file, pem) in [
            ("ca.crt", &pki.ca_cert),
            ("apiserver.crt", &pki.serving_cert),
            ("apiserver.key", &pki.serving_key),
            ("admin.crt", &pki.admin_cert),
            ("admin.key", &pki.admin_key),
            ("sa.key", &pki.service_account_key),
            ("sa.pub", &pki.service_account_pub),
        ] {
            write(&layout.pki(file), pem)?;
        }
        let ports = Ports::allocate().map_err(|source| ClusterError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })?;
        let server = format!("https://127.0.0.1:{}", ports.apiserver);
        write(
            &layout.kubeconfig(),
            &super::kubeconfig::render(
                &config.name,
                &server,
                &pki.ca_cert,
                &pki.admin_cert,
                &pki.admin_key,
            ),
        )?;
        let dir = layout.client_kubeconfigs();
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir, source })?;
        for client in &pki.clients {
            let name = &client.identity.name;
            write(
                &layout.client_kubeconfig(name),
                &super::kubeconfig::render(
                    &config.name,
                    &server,
                    &pki.ca_cert,
                    &client.cert,
                    &client.key,
                ),
            )?;
        }
        if config.audit {
            let users: Vec<String> = config.clients.iter().map(|c| c.name.clone()).collect();
            write(&layout.audit_policy(), &components::audit_policy(&users))?;
        }
        write(
            &layout.scheduler_config(),
            &components::scheduler_config(&layout),
        )?;
        write(
            &layout.kwok_config(),
            &kwok::render_config(&config.binaries.kwok_stages(), config.pod_ready)?,
        )?;

        let mut cluster = Self {
            state: ClusterState {
                name: config.name.clone(),
                dir: config.dir.clone(),
                kubeconfig: layout.kubeconfig(),
                server,
                ports,
                nodes: config.nodes,
                real_node: config.real_node.is_some(),
                bin_dir: Some(config.binaries.dir().to_path_buf()),
                components: Vec::new(),
            },
            layout,
            components: std::sync::Mutex::new(Vec::new()),
            client: None,
        };
        let deadline = Instant::now() + config.timeout;
        cluster.start_components(&config, deadline).await?;
        cluster.state.save(&cluster.layout.state())?;
        Ok(cluster)
    }

    async fn start_components(
        &mut self,
        config: &LocalConfig,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let (layout, ports) = (self.layout.clone(), self.state.ports);
        let bins = &config.binaries;

        self.spawn(
            "etcd",
            &bins.path(Binary::Etcd)?,
            components::etcd_args(&layout, &ports),
        )?;
        let health = format!("127.0.0.1:{}", ports.etcd_client);
        self.wait_for("etcd /health", deadline, || etcd_healthy(&health))
            .await?;

        let gogc: Vec<(&str, String)> = config
            .apiserver_gogc
            .map(|percent| ("GOGC", percent.to_string()))
            .into_iter()
            .collect();
        self.spawn_with_env(
            "kube-apiserver",
            &bins.path(Binary::KubeApiserver)?,
            components::apiserver_args(&layout, &ports, config.audit),
            &gogc,
        )?;
        let client = connect(&layout.kubeconfig(), None).await?;
        self.client = Some(client.clone());
        self.wait_for("kube-apiserver /readyz", deadline, || {
            api_ready(client.clone())
        })
        .await?;

        self.spawn(
            "kube-controller-manager",
            &bins.path(Binary::KubeControllerManager)?,
            components::controller_manager_args(&layout, &ports),
        )?;
        self.spawn(
            "kube-scheduler",
            &bins.path(Binary::KubeScheduler)?,
            components::scheduler_args(&layout, &ports),
        )?;

        if let Some(real) = &config.real_node {
            self.start_real_node(config, real, &client, deadline)
                .await?;
        }

        let nodes: Api<Node> = Api::all(client.clone());
        for i in 0..config.nodes {
            let node = kwok::node(&format!("kwok-node-{i}"), config.pods_per_node)
                .map_err(|e| ClusterError::Invalid(format!("kwok node object: {e}")))?;
            create_or_keep(&nodes, &node).await?;
        }
        self.spawn(
            "kwok",
            &bins.path(Binary::Kwok)?,
            components::kwok_args(&layout),
        )?;

        let want = config.nodes;
        self.wait_for(&format!("{want} kwok node(s) Ready"), deadline, || {
            kwok_nodes_ready(nodes.clone(), want)
        })
        .await?;
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        self.wait_for("ServiceAccount default/default", deadline, || {
            let sa = sa.clone();
            async move { Ok(sa.get_opt("default").await?.is_some()) }
        })
        .await
    }

    /// See [`node`] for the order and why.
    async fn start_real_node(
        &mut self,
        config: &LocalConfig,
        real: &node::RealNodeConfig,
        client: &kube::Client,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let bins = &config.binaries;
        let layout = node::NodeLayout::new(&self.layout.dir);
        let io = |source| ClusterError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        };
        let kubelet_ports = node::config::KubeletPorts {
            serving: ports::free_port().map_err(io)?,
            healthz: ports::free_port().map_err(io)?,
        };
        node::write_configs(
            &layout,
            bins,
            &real.pause_image,
            &self.layout.pki("ca.crt"),
            kubelet_ports,
        )?;
        node::make_bridge()?;
        self.spawn_with_env(
            "containerd",
            &bins.path(Binary::Containerd)?,
            vec![format!("--config={}", layout.containerd_config().display())],
            &node::containerd_env(bins),
        )?;
        self.wait_for("containerd", deadline, || async {
            Ok(node::containerd_ready(bins, &layout).await)
        })
        .await?;
        node::import_images(bins, &layout, &real.images).await?;
        self.spawn(
            "kubelet",
            &bins.path(Binary::Kubelet)?,
            node::config::kubelet_args(&layout, &self.layout.kubeconfig(), node::NODE_NAME),
        )?;
        let nodes: Api<Node> = Api::all(client.clone());
        self.wait_for("the real node Ready", deadline, || {
            node_ready(nodes.clone(), node::NODE_NAME)
        })
        .await?;
        let classes: Api<RuntimeClass> = Api::all(client.clone());
        for (name, handler) in node::config::runtime_classes() {
            let class = RuntimeClass {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                handler: handler.into(),
                ..Default::default()
            };
            match classes.create(&PostParams::default(), &class).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(source) => {
                    return Err(ClusterError::Kube {
                        what: format!("create RuntimeClass {name}"),
                        source,
                    });
                }
            }
        }
        self.spawn(
            "sandbox-netpol",
            &real.netpol,
            vec![
                format!("--kubeconfig={}", self.layout.kubeconfig().display()),
                format!("--node={}", node::NODE_NAME),
            ],
        )?;
        self.wait_for(
            "NetworkPolicy enforcement on the real node",
            deadline,
            || async { Ok(node::netpol_active().await) },
        )
        .await
    }

    fn spawn(
        &mut self,
        name: &'static str,
        program: &Path,
        args: Vec<String>,
    ) -> Result<(), ClusterError> {
        self.spawn_with_env(name, program, args, &[])
    }

    fn spawn_with_env(
        &mut self,
        name: &'static str,
        program: &Path,
        args: Vec<String>,
        env: &[(&str, String)],
    ) -> Result<(), ClusterError> {
        // client-go's switch to HTTP/1.1, empty: the cluster's own components keep HTTP/2
        // whatever the harness (and the controller under test) was started with.
        let env: Vec<(&str, String)> = std::iter::once(("DISABLE_HTTP2", String::new()))
            .chain(env.iter().cloned())
            .collect();
        let component =
            Component::spawn_with_env(name, program, &args, &env, self.layout.log(name))?;
        self.state.components.push(ComponentState::of(&component));
        self.components_mut().push(component);
        Ok(())
    }

    /// Polls `check` until it returns true, failing early if any component exits.
    async fn wait_for<F, Fut>(
        &mut self,
        what: &str,
        deadline: Instant,
        mut check: F,
    ) -> Result<(), ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, kube::Error>>,
    {
        loop {
            for c in self.components_mut().iter_mut() {
                c.ensure_running()?;
            }
            if matches!(check().await, Ok(true)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: what.to_string(),
                    logs: self.layout.logs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn info(&self) -> ClusterInfo {
        ClusterInfo {
            provider: "local",
            name: self.state.name.clone(),
            kubeconfig: self.state.kubeconfig.clone(),
            server: self.state.server.clone(),
        }
    }

    /// The cluster as `cluster status` and the state file know it, with the pids running now.
    pub fn state(&self) -> ClusterState {
        let mut state = self.state.clone();
        state.components = self
            .components_mut()
            .iter()
            .map(ComponentState::of)
            .collect();
        state
    }

    fn components_mut(&self) -> std::sync::MutexGuard<'_, Vec<Component>> {
        self.components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `act` on the component `name` (`etcd`, `kube-apiserver`, `kwok`, …).
    fn with_component<T>(
        &self,
        name: &str,
        act: impl FnOnce(&mut Component) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        let mut all = self.components_mut();
        let c = all
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| ClusterError::Invalid(format!("no component {name}")))?;
        act(c)
    }

    /// SIGKILLs the component `name`, as a crash would; returns the pid it had.
    pub fn kill(&self, name: &str) -> Result<u32, ClusterError> {
        self.with_component(name, |c| {
            let pid = c.pid();
            c.kill();
            Ok(pid)
        })
    }

    /// Starts the component `name` again, on the same ports and data, after [`kill`](Self::kill); returns
    /// its new pid.
    pub fn start_again(&self, name: &str) -> Result<u32, ClusterError> {
        let pid = self.with_component(name, |c| {
            c.respawn()?;
            Ok(c.pid())
        })?;
        // `cluster down` of a kept cluster finds the new process by the state file.
        self.state().save(&self.layout.state())?;
        Ok(pid)
    }

    /// A client with admin rights.
    pub fn client(&self) -> Option<kube::Client> {
        self.client.clone()
    }

    /// The kubeconfig of one of the [`LocalConfig::clients`], by name.
    pub fn kubeconfig_of(&self, client: &str) -> PathBuf {
        self.layout.client_kubeconfig(client)
    }

    /// The API server's audit log, written when the cluster was started with
    /// [`LocalConfig::audit`].
    pub fn audit_log(&self) -> PathBuf {
        self.layout.audit_log()
    }

    /// Stops every component, newest first, removes etcd's data (nothing reuses it: every
    /// start begins afresh) and checks that none of the cluster's ports is still accepting
    /// connections. The logs, certificates and kubeconfigs stay.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.stop_components();
        let _ = std::fs::remove_file(self.layout.state());
        remove_data(&self.layout)?;
        check_ports_released(&self.state.ports)
    }

    fn stop_components(&mut self) {
        if self.components_mut().is_empty() {
            // Already stopped (`stop` ran before `drop`), or detached.
            return;
        }
        let real_node = self.state.real_node.then(|| self.drain_real_node());
        while let Some(mut c) = self.components_mut().pop() {
            c.stop(STOP_GRACE);
        }
        if real_node.is_some() {
            node::sweep(&node::NodeLayout::new(&self.layout.dir));
        }
    }

    /// Deletes the real node's pods while its kubelet still runs; see [`node::drain`].
    fn drain_real_node(&self) {
        for problem in node::drain(
            &self.state.binaries(),
            &node::NodeLayout::new(&self.layout.dir),
            &self.layout.kubeconfig(),
        ) {
            tracing::warn!("real node: {problem}");
        }
    }

    /// Leaves the processes running (for `cluster up`); [`stop_detached`] ends them later.
    pub fn detach(self) -> ClusterState {
        let state = self.state();
        self.components_mut().drain(..).for_each(Component::detach);
        state
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop_components();
    }
}

/// Stops a cluster started by another process, from its state file in `dir`.
pub fn stop_detached(dir: &Path) -> Result<ClusterState, ClusterError> {
    let layout = Layout::new(dir.to_path_buf());
    let state = ClusterState::load(&layout.state())?;
    let node_layout = node::NodeLayout::new(dir);
    if state.real_node {
        for problem in node::drain(&state.binaries(), &node_layout, &state.kubeconfig) {
            tracing::warn!("real node: {problem}");
        }
    }
    for c in state.components.iter().rev() {
        c.stop(STOP_GRACE);
    }
    if state.real_node {
        node::sweep(&node_layout);
    }
    std::fs::remove_file(layout.state()).map_err(|source| ClusterError::Io {
        path: layout.state(),
        source,
    })?;
    remove_data(&layout)?;
    check_ports_released(&state.ports)?;
    Ok(state)
}

/// Removes a stopped cluster's etcd data: hundreds of megabytes after a long run, and no start
/// reads it ([`prepare_dir`]).
fn remove_data(layout: &Layout) -> Result<(), ClusterError> {
    let data = layout.etcd_data();
    match std::fs::remove_dir_all(&data) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(ClusterError::Io { path: data, source })
        }
        _ => Ok(()),
    }
}

/// Reads the state of a cluster in `dir`, with which of its components are still alive.
pub fn status(dir: &Path) -> Result<(ClusterState, Vec<(String, bool)>), ClusterError> {
    let state = ClusterState::load(&Layout::new(dir.to_path_buf()).state())?;
    let alive = state
        .components
        .iter()
        .map(|c| (c.name.clone(), c.is_alive()))
        .collect();
    Ok((state, alive))
}

fn refuse_if_running(layout: &Layout) -> Result<(), ClusterError> {
    if let Ok(state) = ClusterState::load(&layout.state())
        && state.components.iter().any(ComponentState::is_alive)
    {
        return Err(ClusterError::AlreadyRunning {
            name: state.name,
            dir: layout.dir.clone(),
        });
    }
    Ok(())
}

/// Fresh data, certificates and logs for every start; nothing of an earlier run is reused.
fn prepare_dir(layout: &Layout) -> Result<(), ClusterError> {
    for dir in [layout.etcd_data(), layout.dir.join("pki"), layout.logs()] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| ClusterError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir, source })?;
    }
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<(), ClusterError> {
    std::fs::write(path, contents).map_err(|source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn check_ports_released(ports: &Ports) -> Result<(), ClusterError> {
    let busy: Vec<u16> = ports
        .all()
        .into_iter()
        .filter(|p| is_listening(*p))
        .collect();
    if busy.is_empty() {
        Ok(())
    } else {
        Err(ClusterError::LeftBehind(format!(
            "ports still accepting connections after stop: {busy:?}"
        )))
    }
}

/// etcd's `/health` over plain HTTP/1.0 on loopback (no TLS, so no HTTP client is needed).
async fn etcd_healthy(addr: &str) -> Result<bool, kube::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response.contains(r#""health":"true""#))
    };
    Ok(tokio::time::timeout(Duration::from_secs(1), probe)
        .await
        .is_ok_and(|r| r.unwrap_or(false)))
}

async fn api_ready(client: kube::Client) -> Result<bool, kube::Error> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    Ok(client.request_text(request).await? == "ok")
}

async fn kwok_nodes_ready(nodes: Api<Node>, want: u32) -> Result<bool, kube::Error> {
    let selector = format!("{}={}", kwok::NODE_LABEL.0, kwok::NODE_LABEL.1);
    let list = nodes.list(&ListParams::default().labels(&selector)).await?;
    let ready = list.items.iter().filter(|n| is_ready(n)).count();
    Ok(ready >= want as usize)
}

async fn node_ready(nodes: Api<Node>, name: &str) -> Result<bool, kube::Error> {
    Ok(nodes.get_opt(name).await?.is_some_and(|n| is_ready(&n)))
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn create_or_keep(nodes: &Api<Node>, node: &Node) -> Result<(), ClusterError> {
    match nodes.create(&PostParams::default(), node).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(ClusterError::Kube {
            what: "create kwok node".into(),
            source,
        }),
    }
}
