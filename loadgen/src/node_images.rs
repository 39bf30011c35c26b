//! The images the real node runs, built here from the project's own static binaries: the pod
//! sandbox's `pause` and the isolation probe. They are written as OCI archives and imported
//! into the node's containerd ([`crate::cluster::local::node`]); no registry is involved.

use std::path::{Path, PathBuf};

use crate::cluster::local::node::RealNodeConfig;
use crate::images::{ImageFile, ImageSpec, write_oci_archive};

pub const PAUSE_IMAGE: &str = concat!("sandbox-bench.local/pause:", env!("CARGO_PKG_VERSION"));
pub const PROBE_IMAGE: &str = concat!("sandbox-bench.local/probe:", env!("CARGO_PKG_VERSION"));

/// Environment variable naming the directory with `sandbox-pause`, `sandbox-probe` (both
/// static) and `sandbox-netpol`; `just node-bins` fills `target/node`.
pub const NODE_BIN_DIR_ENV: &str = "SANDBOX_BENCH_NODE_BIN_DIR";

pub fn node_bin_dir() -> PathBuf {
    std::env::var_os(NODE_BIN_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("target/node"), PathBuf::from)
}

/// Builds both archives into `out` and names what the node needs to start.
pub fn prepare(bin_dir: &Path, out: &Path) -> Result<RealNodeConfig, String> {
    let binary = |name: &str| {
        let path = bin_dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing: run `just node-bins` (or point {NODE_BIN_DIR_ENV} at a \
                 directory holding sandbox-pause, sandbox-probe and sandbox-netpol)",
                path.display()
            ))
        }
    };
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut images = Vec::new();
    for (name, program, archive) in [
        (PAUSE_IMAGE, "sandbox-pause", "pause.tar"),
        (PROBE_IMAGE, "sandbox-probe", "probe.tar"),
    ] {
        let spec = ImageSpec {
            name: name.to_string(),
            files: vec![ImageFile {
                path: program.to_string(),
                source: binary(program)?,
                mode: 0o755,
            }],
            entrypoint: vec![format!("/{program}")],
            user: None,
        };
        let built = write_oci_archive(&spec, &out.join(archive)).map_err(|e| e.to_string())?;
        images.push(built.archive);
    }
    Ok(RealNodeConfig {
        images,
        pause_image: PAUSE_IMAGE.to_string(),
        netpol: binary("sandbox-netpol")?,
    })
}
