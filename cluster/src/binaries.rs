//! Finding the pinned Kubernetes, etcd and kwok binaries that `just setup` (`ci/setup`) builds.
//!
//! Lookup order: an explicit directory (CLI flag), then `SANDBOX_BENCH_BIN_DIR`, then the
//! version-keyed cache directory that `ci/setup` writes, computed from the same pinned versions
//! (`ci/versions.env`, compiled in). There is no `PATH` fallback on purpose: a stray binary of
//! another version would make every measured number a lie.

use std::path::{Path, PathBuf};

/// The version set this harness was built against (`ci/versions.env`).
pub const VERSIONS_ENV: &str = include_str!("../../ci/versions.env");

/// Environment variable naming the directory that holds the binaries.
pub const BIN_DIR_ENV: &str = "SANDBOX_BENCH_BIN_DIR";

/// One of the programs a local cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Etcd,
    KubeApiserver,
    KubeControllerManager,
    KubeScheduler,
    Kubectl,
    Kwok,
    Kubelet,
    Containerd,
    ContainerdShimRunc,
    ContainerdShimRunsc,
    Ctr,
    Runsc,
}

impl Binary {
    pub fn file_name(self) -> &'static str {
        match self {
            Binary::Etcd => "etcd",
            Binary::KubeApiserver => "kube-apiserver",
            Binary::KubeControllerManager => "kube-controller-manager",
            Binary::KubeScheduler => "kube-scheduler",
            Binary::Kubectl => "kubectl",
            Binary::Kwok => "kwok",
            Binary::Kubelet => "kubelet",
            Binary::Containerd => "containerd",
            Binary::ContainerdShimRunc => "containerd-shim-runc-v2",
            Binary::ContainerdShimRunsc => "containerd-shim-runsc-v1",
            Binary::Ctr => "ctr",
            Binary::Runsc => "runsc",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error(
        "{binary} not found at {path} (binary directory from {source_of_dir}); \
         run `just setup` to build the pinned binaries, or point {BIN_DIR_ENV} at a directory \
         that has them"
    )]
    Missing {
        binary: &'static str,
        path: PathBuf,
        source_of_dir: &'static str,
    },
    #[error("{path} exists but is not an executable file")]
    NotExecutable { path: PathBuf },
}

/// A directory of pinned binaries, and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
    source: &'static str,
}

impl Binaries {
    /// Uses `explicit` if given, else the environment, else the default cache directory.
    pub fn locate(explicit: Option<PathBuf>) -> Self {
        if let Some(dir) = explicit {
            return Self::in_dir(dir, "--bin-dir");
        }
        if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
            return Self::in_dir(dir.into(), BIN_DIR_ENV);
        }
        Self::in_dir(default_cache_dir(), "the default cache of `just setup`")
    }

    pub fn in_dir(dir: PathBuf, source: &'static str) -> Self {
        Self { dir, source }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `binary`, checked to exist and be executable.
    pub fn path(&self, binary: Binary) -> Result<PathBuf, BinaryError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(binary.file_name());
        let meta = std::fs::metadata(&path).map_err(|_| BinaryError::Missing {
            binary: binary.file_name(),
            path: path.clone(),
            source_of_dir: self.source,
        })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(BinaryError::NotExecutable { path });
        }
        Ok(path)
    }

    /// Checks every binary in `needed` up front, so a cluster never starts half-way.
    pub fn check(&self, needed: &[Binary]) -> Result<(), BinaryError> {
        needed.iter().try_for_each(|b| self.path(*b).map(drop))
    }

    /// kwok's stock Stage files, copied from its module by `ci/setup`.
    pub fn kwok_stages(&self) -> PathBuf {
        self.dir.join("kwok-stages")
    }
}

/// `KEY=value` lookup in [`VERSIONS_ENV`].
pub fn pinned(key: &str) -> Option<&'static str> {
    VERSIONS_ENV.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// The cache key `ci/setup` uses for the pinned version set.
pub fn cache_key() -> String {
    let v = |k| pinned(k).unwrap_or("unknown");
    let gvisor = v("GVISOR_VERSION");
    // A pseudo-version's last part (the commit) is what tells two gVisor builds apart.
    let gvisor = gvisor.rsplit('-').next().unwrap_or(gvisor);
    format!(
        "k8s-{}_etcd-{}_kwok-{}_containerd-{}_gvisor-{gvisor}_{}",
        v("KUBERNETES_VERSION"),
        v("ETCD_VERSION"),
        v("KWOK_VERSION"),
        v("CONTAINERD_VERSION"),
        v("GO_VERSION")
    )
}

/// Where `ci/setup` puts the binaries by default (same rule as the script).
pub fn default_cache_dir() -> PathBuf {
    cache_root().join("bin").join(cache_key())
}

/// The cache key `ci/setup-upstream` uses: the upstream release and the Go that builds it.
pub fn upstream_cache_key() -> String {
    let v = |k| pinned(k).unwrap_or("unknown");
    format!(
        "upstream-agent-sandbox-{}_{}",
        v("UPSTREAM_AGENT_SANDBOX_VERSION"),
        v("GO_VERSION")
    )
}

/// Where `ci/setup-upstream` puts the upstream controller and its CRDs (same rule as the
/// script).
pub fn upstream_cache_dir() -> PathBuf {
    cache_root().join("bin").join(upstream_cache_key())
}

/// `SANDBOX_BENCH_CACHE`, else `$XDG_CACHE_HOME/sandbox-bench`, else
/// `$HOME/.cache/sandbox-bench`: the root both setup scripts use.
fn cache_root() -> PathBuf {
    std::env::var_os("SANDBOX_BENCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("sandbox-bench"))
        })
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/sandbox-bench")))
        .unwrap_or_else(|| PathBuf::from(".cache/sandbox-bench"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_names_every_pinned_version() {
        let key = cache_key();
        assert!(key.starts_with("k8s-v1.37."), "{key}");
        assert!(key.contains("_etcd-v3.6."), "{key}");
        assert!(key.contains("_kwok-v"), "{key}");
        assert!(key.contains("_containerd-v2."), "{key}");
        assert!(key.contains("_gvisor-160fafc42237_"), "{key}");
        assert!(!key.contains("unknown"), "{key}");
    }

    #[test]
    fn the_upstream_cache_key_names_the_release_and_go() {
        let key = upstream_cache_key();
        assert!(key.starts_with("upstream-agent-sandbox-v"), "{key}");
        assert!(key.ends_with(pinned("GO_VERSION").unwrap()), "{key}");
        assert_eq!(
            upstream_cache_dir().parent(),
            default_cache_dir().parent(),
            "both setups share one cache root"
        );
    }

    #[test]
    fn a_missing_binary_is_named_with_its_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let bins = Binaries::in_dir(dir.path().to_path_buf(), "--bin-dir");
        let err = bins.path(Binary::KubeApiserver).unwrap_err().to_string();
        assert!(err.contains("kube-apiserver not found at"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("--bin-dir"), "{err}");
        assert!(err.contains("just setup"), "{err}");
    }

    #[test]
    fn a_file_without_execute_permission_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("etcd"), "not a program").unwrap();
        let bins = Binaries::in_dir(dir.path().to_path_buf(), "--bin-dir");
        let err = bins.path(Binary::Etcd).unwrap_err();
        assert!(matches!(err, BinaryError::NotExecutable { .. }), "{err}");
    }
}
