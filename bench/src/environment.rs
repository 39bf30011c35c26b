//! The environment fingerprint in `results.json`: enough to tell whether two runs compare.

use sandbox_reports::{Environment, Machine};

use crate::controller::ControllerKind;
use sandbox_cluster::binaries::pinned;

/// What ran: the API server's version as it reports itself, etcd and kwok when the run
/// started them (and the `GOGC` it gave the API server), the controller under test and this
/// machine.
pub async fn fingerprint(
    client: &kube::Client,
    local: bool,
    apiserver_gogc: Option<u32>,
    controller: ControllerKind,
    nodes: u64,
) -> Environment {
    let kubernetes = client.apiserver_version().await.ok().map(|v| v.git_version);
    Environment {
        kubernetes,
        etcd: local.then(|| pinned("ETCD_VERSION").unwrap_or("unknown").to_string()),
        kwok: local.then(|| pinned("KWOK_VERSION").unwrap_or("unknown").to_string()),
        controller: Some(controller_version(controller)),
        nodes,
        apiserver_gogc: apiserver_gogc.filter(|_| local),
        machine: machine(),
        commit: commit(),
    }
}

/// The controller under test and its version: `reference 0.1.0`, `upstream v1.0.3` (the
/// pinned release), `external` (whatever runs in the cluster).
pub fn controller_version(controller: ControllerKind) -> String {
    match controller {
        ControllerKind::Reference => format!("reference {}", env!("CARGO_PKG_VERSION")),
        ControllerKind::Upstream => format!(
            "upstream {}",
            pinned("UPSTREAM_AGENT_SANDBOX_VERSION").unwrap_or("unknown")
        ),
        ControllerKind::External => "external".into(),
        ControllerKind::Floor | ControllerKind::SpecFloor => {
            format!("{} {}", controller.name(), env!("CARGO_PKG_VERSION"))
        }
    }
}

/// The commit this build of sandbox-bench was made from (`build.rs`), if it was built in a
/// git checkout.
pub fn commit() -> Option<String> {
    option_env!("SANDBOX_BENCH_COMMIT").map(str::to_string)
}

pub fn machine() -> Machine {
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(mem_total_bytes)
        .unwrap_or(0);
    let kernel = nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy()
            )
        })
        .unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism()
            .map_or(0, |n| u32::try_from(n.get()).unwrap_or(0)),
        memory_bytes,
        kernel,
    }
}

fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_meminfo() {
        assert_eq!(
            mem_total_bytes("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(mem_total_bytes("nothing"), None);
        assert_eq!(
            controller_version(ControllerKind::Reference),
            format!("reference {}", env!("CARGO_PKG_VERSION"))
        );
        // This test is built in the project's git checkout.
        let commit = commit().expect("built in a git checkout");
        assert!(
            commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
            "{commit}"
        );
        let m = machine();
        assert!(
            m.cores >= 1 && m.memory_bytes > 0 && m.kernel.starts_with("Linux"),
            "{m:?}"
        );
    }
}
