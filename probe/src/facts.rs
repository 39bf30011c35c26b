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
    // The fields below came later: `serde(default)` keeps reports captured before them
    // readable.
    /// `/proc/1/cmdline` with its NULs as spaces: the node's init when the Pod shares the
    /// host's PID namespace, the sandbox's own first process (pause or the probe) otherwise.
    #[serde(default)]
    pub pid1_cmdline: String,
    /// How many processes `/proc` lists: a handful in a PID namespace of its own, the whole
    /// node's in the host's.
    #[serde(default)]
    pub visible_pids: u32,
    /// Interface names from `/proc/net/dev`, in file order: a host-network Pod sees the
    /// node's bridge (e.g. `cni0`) here, a Pod network only `lo` and its own `eth0`.
    #[serde(default)]
    pub network_interfaces: Vec<String>,
    /// `/proc/sys/kernel/hostname`: the Pod's name in a UTS namespace of its own, the node's
    /// name under `hostNetwork`.
    #[serde(default)]
    pub hostname: String,
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

/// `/proc/<pid>/cmdline` as one line: arguments are NUL-terminated, so the NULs become
/// spaces and the trailing one goes. Invalid UTF-8 is replaced, not refused, since the text
/// is only evidence for a reader.
pub fn parse_cmdline(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .replace('\0', " ")
        .trim()
        .to_string()
}

/// How many of the names in `/proc` are process ids (all digits); the rest are files such as
/// `self`, `net` or `version`.
pub fn count_pids<'a>(names: impl IntoIterator<Item = &'a str>) -> u32 {
    let count = names
        .into_iter()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The interface names of `/proc/net/dev`, in file order. The first two lines are headers;
/// each other line is `name: counters`, where old kernels leave no space after the colon.
pub fn parse_net_dev(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect()
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
        pid1_cmdline: parse_cmdline(&std::fs::read("/proc/1/cmdline").unwrap_or_default()),
        visible_pids: visible_pids(),
        network_interfaces: parse_net_dev(&text("/proc/net/dev")),
        hostname: text("/proc/sys/kernel/hostname").trim().to_string(),
    }
}

/// Counts the process directories of `/proc`; 0 when it cannot be listed.
fn visible_pids() -> u32 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    count_pids(names.iter().map(String::as_str))
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
    fn a_cmdline_reads_as_one_line() {
        assert_eq!(
            parse_cmdline(b"/sbin/init\0splash\0--log-level=info\0"),
            "/sbin/init splash --log-level=info"
        );
        assert_eq!(parse_cmdline(b"/pause\0"), "/pause");
        // A kernel thread or a zombie has an empty cmdline.
        assert_eq!(parse_cmdline(b""), "");
    }

    #[test]
    fn only_numeric_proc_entries_are_processes() {
        let names = ["1", "42", "self", "thread-self", "net", "1x", "", "4194304"];
        assert_eq!(count_pids(names), 3);
    }

    /// `/proc/net/dev` of a host-network Pod on a kind node, as captured there.
    const NET_DEV_HOST: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 8113474   61234    0    0    0     0          0         0  8113474   61234    0    0    0     0       0          0
  eth0: 912003312  402311    0    0    0     0          0         0 31200321  210455    0    0    0     0       0          0
  cni0:  103312    1204    0    0    0     0          0         0   233112    1311    0    0    0     0       0          0
veth5c1a2b3d:3312      41    0    0    0     0          0         0     9912      88    0    0    0     0       0          0
";

    #[test]
    fn interfaces_come_in_file_order_without_headers() {
        assert_eq!(
            parse_net_dev(NET_DEV_HOST),
            ["lo", "eth0", "cni0", "veth5c1a2b3d"]
        );
        assert!(parse_net_dev("").is_empty());
    }

    #[test]
    fn a_report_captured_before_the_new_fields_still_parses() {
        let old = r#"{"kernel_release":"6.18.44","kernel_version":"Linux version 6.18.44",
            "boot_id":"b2a2d101-1158-4c96-8a1f-d8b50e668a13","cpu_hypervisor_flag":true,
            "uid":65534,"capabilities_effective":0,"seccomp_mode":2,"no_new_privs":true,
            "service_account_token":false}"#;
        let facts: Facts = serde_json::from_str(old).expect("old report parses");
        assert_eq!(facts.kernel_release, "6.18.44");
        assert_eq!(facts.visible_pids, 0);
        assert!(facts.network_interfaces.is_empty());
    }

    #[test]
    fn the_facts_of_this_machine_are_readable() {
        let facts = read();
        assert!(!facts.kernel_release.is_empty(), "{facts:?}");
        assert_eq!(facts.boot_id.len(), 36, "{facts:?}");
        // This test process itself is in /proc, and every Linux has a loopback device.
        assert!(facts.visible_pids >= 1, "{facts:?}");
        assert!(
            facts.network_interfaces.iter().any(|i| i == "lo"),
            "{facts:?}"
        );
        assert!(!facts.hostname.is_empty(), "{facts:?}");
    }
}
