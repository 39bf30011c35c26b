//! The images the real node runs, built here from the project's own static binaries: the pod
//! sandbox's `pause` and the isolation probe. They are written as OCI archives and imported
//! into the node's containerd ([`crate::local::node`]), and the probe's into kind's
//! nodes; no registry is involved.

use std::path::{Path, PathBuf};

use crate::images::{ImageError, ImageFile, ImageSpec, write_oci_archive};
use crate::local::node::RealNodeConfig;

pub const PAUSE_IMAGE: &str = concat!("sandbox-bench.local/pause:", env!("CARGO_PKG_VERSION"));
pub const PROBE_IMAGE: &str = concat!("sandbox-bench.local/probe:", env!("CARGO_PKG_VERSION"));

/// Environment variable naming the directory with `sandbox-pause`, `sandbox-probe` (both
/// static) and `sandbox-netpol`; `just node-bins` fills `target/node`.
pub const NODE_BIN_DIR_ENV: &str = "SANDBOX_BENCH_NODE_BIN_DIR";

/// Why the node's images could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    #[error(
        "{} is missing: run `just node-bins` (or point {NODE_BIN_DIR_ENV} at a directory \
         holding sandbox-pause, sandbox-probe and sandbox-netpol)",
        .0.display()
    )]
    MissingBinary(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
}

pub fn node_bin_dir() -> PathBuf {
    std::env::var_os(NODE_BIN_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("target/node"), PathBuf::from)
}

/// Builds both archives into `out` and names what the node needs to start.
pub fn prepare(bin_dir: &Path, out: &Path) -> Result<RealNodeConfig, NodeImageError> {
    Ok(RealNodeConfig {
        images: vec![
            archive(bin_dir, out, PAUSE_IMAGE, "sandbox-pause")?,
            archive(bin_dir, out, PROBE_IMAGE, "sandbox-probe")?,
        ],
        pause_image: PAUSE_IMAGE.to_string(),
        netpol: binary(bin_dir, "sandbox-netpol")?,
    })
}

/// Builds the probe image's archive into `out`, for a cluster that brings its own pause image
/// (kind).
pub fn probe_archive(bin_dir: &Path, out: &Path) -> Result<PathBuf, NodeImageError> {
    archive(bin_dir, out, PROBE_IMAGE, "sandbox-probe")
}

/// An image holding only the static `program` as its entrypoint, written to
/// `<out>/<program>.tar`.
fn archive(
    bin_dir: &Path,
    out: &Path,
    name: &str,
    program: &str,
) -> Result<PathBuf, NodeImageError> {
    std::fs::create_dir_all(out).map_err(|source| NodeImageError::Dir {
        path: out.to_path_buf(),
        source,
    })?;
    let spec = ImageSpec {
        name: name.to_string(),
        files: vec![ImageFile {
            path: program.to_string(),
            source: binary(bin_dir, program)?,
            mode: 0o755,
        }],
        entrypoint: vec![format!("/{program}")],
        user: None,
    };
    Ok(write_oci_archive(&spec, &out.join(format!("{program}.tar")))?.archive)
}

fn binary(bin_dir: &Path, name: &str) -> Result<PathBuf, NodeImageError> {
    let path = bin_dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(NodeImageError::MissingBinary(path))
    }
}
