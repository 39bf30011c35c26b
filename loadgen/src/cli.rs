//! Command-line interface of `sandbox-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sandbox-bench",
    version,
    about = "Test-and-benchmark harness for agent-sandbox controllers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop and inspect a local cluster (real control plane + kwok nodes).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a local cluster, install the agent-sandbox CRDs and print its kubeconfig.
    Up(UpArgs),
    /// Stop a local cluster started by `up`.
    Down(Target),
    /// Show whether a local cluster's components run and its API server is ready.
    Status(Target),
}

/// Which local cluster: by name (under `runs/clusters/`) or by directory.
#[derive(Debug, Args)]
pub struct Target {
    /// Cluster name: lowercase letters, digits and '-'.
    #[arg(long, default_value = "local", value_parser = parse_name)]
    pub name: String,
    /// Cluster directory (default: runs/clusters/<name>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl Target {
    pub fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/clusters").join(&self.name))
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub target: Target,
    /// Number of kwok (fake) nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub nodes: u32,
    /// Pods each kwok node accepts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pods_per_node: u32,
    /// Time a pod on a kwok node takes to become Ready after it is scheduled (e.g. 0s, 250ms).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub pod_ready_delay: Duration,
    /// Extra random delay, drawn per pod uniformly from [0, jitter].
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub pod_ready_jitter: Duration,
    /// Directory holding the pinned binaries (default: $SANDBOX_BENCH_BIN_DIR, then the
    /// cache that `just setup` fills).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Give up if the cluster is not ready within this time.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Do not install the agent-sandbox CRDs.
    #[arg(long)]
    pub no_crds: bool,
    /// Stay in the foreground and stop the cluster on Ctrl-C, instead of returning.
    #[arg(long)]
    pub foreground: bool,
}

/// Cluster names become directory names and kubeconfig context names.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a valid cluster name: use 1-63 lowercase letters, digits and '-', \
             not starting or ending with '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cluster_names_are_checked() {
        assert!(parse_name("dev-1").is_ok());
        for bad in ["", "Dev", "a/b", "-x", "x-", "a_b", "../x"] {
            assert!(parse_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_flags_are_rejected_with_the_flag_named() {
        let err = Cli::try_parse_from(["sandbox-bench", "cluster", "up", "--nodes", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--nodes"), "{err}");
        let err = Cli::try_parse_from([
            "sandbox-bench",
            "cluster",
            "up",
            "--pod-ready-delay",
            "soon",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--pod-ready-delay"), "{err}");
    }

    #[test]
    fn the_default_directory_follows_the_name() {
        let cli =
            Cli::try_parse_from(["sandbox-bench", "cluster", "down", "--name", "dev"]).unwrap();
        let Command::Cluster(ClusterCommand::Down(target)) = cli.command else {
            panic!("parsed the wrong command");
        };
        assert_eq!(target.dir(), PathBuf::from("runs/clusters/dev"));
    }
}
