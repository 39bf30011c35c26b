//! `sandbox-cluster`: the clusters the harness runs on, and what it installs into them.
//!
//! Cluster providers, where the controller under test and the load run:
//!
//! * [`local`]: a real control plane and kwok started as child processes (the default).
//! * [`kind`]: a cluster of Docker containers made with kind, with real kubelets and, on
//!   request, gVisor and Kata runtimes; deleted after the run unless it was reused.
//! * [`existing`]: any cluster reachable through a kubeconfig; nothing is installed or removed.
//!
//! A [`target::Target`] holds whichever of them a command runs on (its [`target::Cluster`]);
//! the rest of the harness sees only [`ClusterInfo`] and a `kube::Client` from [`connect`].
//!
//! Beside them: the pinned binaries a local cluster runs ([`binaries`]), the agent-sandbox CRDs
//! ([`crds`]), the OCI images a real node runs without a registry ([`images`],
//! [`node_images`]), what a process reads of itself in `/proc` ([`procfs`]), polling
//! for what no watch reports ([`poll`]), and the cluster a
//! command was pointed at ([`target`]).

pub mod binaries;
pub mod command;
pub mod crds;
pub mod existing;
pub mod images;
pub mod kind;
pub mod kubeconfig;
pub mod local;
pub mod node_images;
pub mod poll;
pub mod procfs;
pub mod target;

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::binaries::BinaryError;

/// How to reach a cluster that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `local`, `kind`, `kubeconfig`
    pub provider: &'static str,
    pub name: String,
    pub kubeconfig: PathBuf,
    /// The API server URL.
    pub server: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Binary(#[from] BinaryError),
    #[error(transparent)]
    Process(#[from] local::ProcessError),
    #[error(transparent)]
    KwokConfig(#[from] local::KwokConfigError),
    #[error(transparent)]
    Kind(#[from] kind::KindError),
    #[error(transparent)]
    NodeImages(#[from] node_images::NodeImageError),
    #[error("watch {what}: {source}")]
    Watch {
        what: String,
        source: kube::runtime::wait::Error,
    },
    #[error("{source}; kind's logs of the cluster are in {}", logs.display())]
    KindFailed {
        source: Box<ClusterError>,
        logs: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate certificates: {0}")]
    Pki(rcgen::Error),
    #[error("timed out waiting for {what}; component logs are in {logs}")]
    Timeout { what: String, logs: PathBuf },
    #[error("{what}: {source}")]
    Kube { what: String, source: kube::Error },
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error(
        "cluster {name} is already running in {dir}; stop it first with \
         `sandbox-bench cluster down --name {name}`"
    )]
    AlreadyRunning { name: String, dir: PathBuf },
    #[error("no cluster state at {state}: no local cluster was started there, or it was stopped")]
    NotRunning { state: PathBuf },
    #[error("cluster state {path} is unreadable: {message}")]
    State { path: PathBuf, message: String },
    #[error("cluster stopped but left something behind: {0}")]
    LeftBehind(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<kube::Error> for ClusterError {
    fn from(source: kube::Error) -> Self {
        ClusterError::Kube {
            what: "Kubernetes API".into(),
            source,
        }
    }
}

/// The client configuration for `kubeconfig` (its current context unless `context` is given).
pub async fn load_config(
    kubeconfig: &Path,
    context: Option<&str>,
) -> Result<kube::Config, ClusterError> {
    let bad = |message: String| ClusterError::Kubeconfig {
        path: kubeconfig.to_path_buf(),
        message,
    };
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| bad(e.to_string()))?;
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| bad(e.to_string()))
}

/// A client for the cluster in `kubeconfig`.
pub async fn connect(
    kubeconfig: &Path,
    context: Option<&str>,
) -> Result<kube::Client, ClusterError> {
    let config = load_config(kubeconfig, context).await?;
    sandbox_client::client(&config).map_err(|e| ClusterError::Kubeconfig {
        path: kubeconfig.to_path_buf(),
        message: e.to_string(),
    })
}
