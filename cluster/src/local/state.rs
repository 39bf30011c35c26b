//! The state file of a local cluster (`<dir>/cluster.json`): enough to find, check and stop its
//! processes from another invocation of the harness.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ports::Ports;
use super::process::{Component, is_live, start_ticks, stop_group};
use crate::ClusterError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterState {
    pub name: String,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub server: String,
    pub ports: Ports,
    pub nodes: u32,
    /// Whether a real node (kubelet, containerd) runs beside the kwok nodes; stopping it
    /// drains and sweeps it.
    #[serde(default)]
    pub real_node: bool,
    /// The binaries it was started with (the real node's `ctr` and `kubectl` stop it).
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
    /// In start order.
    pub components: Vec<ComponentState>,
}

/// One process, identified by pid and start time so a reused pid is never signalled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentState {
    pub name: String,
    pub pid: u32,
    pub start_ticks: Option<u64>,
    pub log: PathBuf,
}

impl ComponentState {
    pub fn of(c: &Component) -> Self {
        Self {
            name: c.name.to_string(),
            pid: c.pid(),
            start_ticks: start_ticks(c.pid()),
            log: c.log.clone(),
        }
    }

    /// Whether the recorded process is still the one running under this pid.
    pub fn is_alive(&self) -> bool {
        is_live(self.pid) && start_ticks(self.pid) == self.start_ticks
    }

    pub fn stop(&self, grace: Duration) {
        if self.is_alive() {
            stop_group(self.pid, grace, || !self.is_alive());
        }
    }
}

impl ClusterState {
    /// The binaries the cluster was started with, else the default lookup.
    pub fn binaries(&self) -> crate::binaries::Binaries {
        match &self.bin_dir {
            Some(dir) => crate::binaries::Binaries::in_dir(dir.clone(), "the cluster's state"),
            None => crate::binaries::Binaries::locate(None),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), ClusterError> {
        let json = serde_json::to_string_pretty(self).map_err(|e| ClusterError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        std::fs::write(path, json).map_err(|source| ClusterError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Self, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|_| ClusterError::NotRunning {
            state: path.to_path_buf(),
        })?;
        serde_json::from_str(&text).map_err(|e| ClusterError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_pid_whose_start_time_differs_is_not_alive() {
        let me = std::process::id();
        let mut c = ComponentState {
            name: "self".into(),
            pid: me,
            start_ticks: start_ticks(me),
            log: PathBuf::new(),
        };
        assert!(c.is_alive());
        c.start_ticks = c.start_ticks.map(|t| t + 1);
        assert!(!c.is_alive(), "a reused pid must not count as our process");
    }

    #[test]
    fn loading_a_missing_state_file_says_no_cluster_runs_there() {
        let dir = tempfile::tempdir().unwrap();
        let err = ClusterState::load(&dir.path().join("cluster.json")).unwrap_err();
        assert!(matches!(err, ClusterError::NotRunning { .. }), "{err}");
    }
}
