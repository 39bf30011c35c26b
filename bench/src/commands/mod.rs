//! One module per `sandbox-bench` command, each a `run` (or, for `cluster`, one function per
//! subcommand) that takes the parsed flags and returns the exit code; `main.rs` only parses and
//! dispatches.

pub mod bench;
pub mod cluster;
pub mod compare;
pub mod conformance;
pub mod knee;
pub mod publish;

pub(crate) fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
