//! What the probe reads from inside the sandbox. Every field is raw text or a plain value
//! parsed from it, so a report can be captured once and classified again anywhere.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// `/proc/sys/kernel/osrelease`, e.g. `6.18.44` on the host, `4.4.0` under gVisor.
    pub kernel_release: String,
    /// `/proc/version`.
    pub kernel_version: String,
    /// `/proc/sys/kernel/random/boot_id`: the same as the node's only on a shared kernel.
    pub boot_id: String,
    /// Whether `/proc/cpuinfo` lists the `hypervisor` flag (a guest of some hypervisor).
    pub cpu_hypervisor_flag: bool,
    pub uid: u32,
    /// `CapEff` from `/proc/self/status`, the effective capability mask.
    pub capabilities_effective: u64,
    /// `Seccomp` from `/proc/self/status`: 0 off, 1 strict, 2 filter.
    pub seccomp_mode: u8,
    pub no_new_privs: bool,
    /// Whether a Kubernetes service-account token is mounted at the usual path.
    pub service_account_token: bool,
}

/// Parses `CapEff`, `Seccomp` and `NoNewPrivs` out of `/proc/self/status`.
pub fn parse_status(status: &str) -> (u64, u8, bool) {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
    };
    (
        u64::from_str_radix(field("CapEff:"), 16).unwrap_or(0),
        field("Seccomp:").parse().unwrap_or(0),
        field("NoNewPrivs:") == "1",
    )
}

/// Whether the `flags` line of `/proc/cpuinfo` names `hypervisor`.
pub fn has_hypervisor_flag(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "hypervisor"))
}

/// The service-account token path every Kubernetes Pod gets unless told otherwise.
pub const TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Reads the facts of the system the probe runs on; what cannot be read stays empty.
pub fn read() -> Facts {
    let text = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let status = text("/proc/self/status");
    let (capabilities_effective, seccomp_mode, no_new_privs) = parse_status(&status);
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u32::MAX);
    Facts {
        kernel_release: text("/proc/sys/kernel/osrelease").trim().to_string(),
        kernel_version: text("/proc/version").trim().to_string(),
        boot_id: text("/proc/sys/kernel/random/boot_id").trim().to_string(),
        cpu_hypervisor_flag: has_hypervisor_flag(&text("/proc/cpuinfo")),
        uid,
        capabilities_effective,
        seccomp_mode,
        no_new_privs,
        service_account_token: std::path::Path::new(TOKEN_PATH).exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_parsed() {
        let status = "Name:\tprobe\nUid:\t65534\t65534\t65534\t65534\nCapEff:\t00000000a80425fb\n\
                      NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        assert_eq!(parse_status(status), (0xa80425fb, 2, true));
        assert_eq!(parse_status(""), (0, 0, false));
    }

    #[test]
    fn the_hypervisor_flag_is_a_whole_word_on_a_flags_line() {
        assert!(has_hypervisor_flag(
            "processor: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n"
        ));
        assert!(!has_hypervisor_flag(
            "flags\t\t: fpu vme lahf_lm\nmodel name: hypervisor-ish\n"
        ));
    }

    #[test]
    fn the_facts_of_this_machine_are_readable() {
        let facts = read();
        assert!(!facts.kernel_release.is_empty(), "{facts:?}");
        assert_eq!(facts.boot_id.len(), 36, "{facts:?}");
    }
}
