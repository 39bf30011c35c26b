//! `net.bridge.bridge-nf-call-iptables`: without it, pod-to-pod frames switched by the
//! bridge never reach iptables' FORWARD chain, and no rule here would see them.

use std::path::Path;

/// Where the switch lives; per network namespace on current kernels.
pub const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Turns the switch at `path` on.
pub fn enable_bridge_netfilter(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist: the br_netfilter module is not loaded (modprobe br_netfilter)",
            path.display()
        );
    }
    std::fs::write(path, "1\n")
        .map_err(|e| anyhow::anyhow!("cannot enable {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_the_module() {
        let err = enable_bridge_netfilter(Path::new("/nonexistent/bridge-nf-call-iptables"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("br_netfilter"), "{err}");
    }

    #[test]
    fn writes_one() {
        let dir = std::env::temp_dir().join(format!("sbnp-sysctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("switch");
        std::fs::write(&file, "0\n").unwrap();
        enable_bridge_netfilter(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
