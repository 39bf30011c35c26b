//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Enforces Kubernetes NetworkPolicy for the pods of one node with iptables.
#[derive(Debug, Clone, Parser)]
#[command(name = "sandbox-netpol", version)]
pub struct Flags {
    /// Kubeconfig of the cluster to watch.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// This node's name: only pods with this spec.nodeName are enforced.
    #[arg(long)]
    pub node: String,
    /// Name of the chain jumped to from FORWARD; per-pod chains are named `<prefix>-…`.
    #[arg(long, default_value = "SBNP", value_parser = chain_prefix)]
    pub chain_prefix: String,
    #[arg(long, default_value = "iptables-restore")]
    pub iptables_restore: String,
    #[arg(long, default_value = "iptables")]
    pub iptables: String,
    /// Quiet time after a change before the rules are recomputed, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub debounce_ms: u64,
}

impl Flags {
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }
}

/// iptables chain names are at most 28 characters; per-pod sub-chains add up to 16
/// (`-E-<n>-<k>`), so the prefix gets 12. Letters, digits and `_` only, so that `-`
/// separates our suffixes unambiguously.
fn chain_prefix(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 12 {
        return Err("must be 1 to 12 characters".into());
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("only letters, digits and '_'".into());
    }
    Ok(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("sandbox-netpol").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let f = parse(&["--kubeconfig", "k", "--node", "n"]).unwrap();
        assert_eq!(f.chain_prefix, "SBNP");
        assert_eq!(f.iptables, "iptables");
        assert_eq!(f.iptables_restore, "iptables-restore");
        assert_eq!(f.debounce(), Duration::from_millis(100));
    }

    #[test]
    fn node_and_kubeconfig_are_required() {
        assert!(parse(&["--node", "n"]).is_err());
        assert!(parse(&["--kubeconfig", "k"]).is_err());
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["", "A-B", "THIRTEEN_CHRS", "a b"] {
            assert!(
                parse(&["--kubeconfig", "k", "--node", "n", "--chain-prefix", bad]).is_err(),
                "{bad}"
            );
        }
        let ok = parse(&["--kubeconfig", "k", "--node", "n", "--chain-prefix", "NP_1"]).unwrap();
        assert_eq!(ok.chain_prefix, "NP_1");
    }
}
