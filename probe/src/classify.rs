//! Which runtime a sandbox runs under, judged from inside against the node's own kernel:
//! a shared kernel (runc) has the node's boot id; gVisor answers with its own fixed kernel
//! identity; a VM runtime (Kata) has a kernel of its own behind a hypervisor.

use serde::{Deserialize, Serialize};

use crate::facts::Facts;

/// gVisor's `uname -v`: the Sentry reports this fixed version whatever the host runs.
pub const GVISOR_KERNEL_VERSION: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

/// What the harness knows of the node, read outside any sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    pub kernel_release: String,
    pub boot_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// The node's kernel, as with runc.
    SharedKernel,
    /// gVisor's user-space kernel.
    Gvisor,
    /// A kernel of its own in a virtual machine, as with Kata.
    VirtualMachine,
    /// Not the node's kernel, but no marker says which isolation it is.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub runtime: Runtime,
    pub shares_node_kernel: bool,
    /// The observations the verdict rests on, for the report.
    pub evidence: Vec<String>,
}

pub fn classify(facts: &Facts, node: &NodeFacts) -> Classification {
    let mut evidence = Vec::new();
    // The boot id is the sharper test: two kernels of the same release still differ in it.
    let shares_node_kernel = if !facts.boot_id.is_empty() && !node.boot_id.is_empty() {
        let same = facts.boot_id == node.boot_id;
        evidence.push(format!(
            "boot_id {} the node's",
            if same { "equals" } else { "differs from" }
        ));
        same
    } else {
        let same = facts.kernel_release == node.kernel_release;
        evidence.push(format!(
            "kernel release {} {} the node's {}",
            facts.kernel_release,
            if same { "equals" } else { "differs from" },
            node.kernel_release
        ));
        same
    };
    let gvisor = facts.kernel_version.contains(GVISOR_KERNEL_VERSION);
    if gvisor {
        evidence.push("kernel version is gVisor's fixed one".into());
    }
    if facts.cpu_hypervisor_flag {
        evidence.push("CPU flags name a hypervisor".into());
    }
    let runtime = if shares_node_kernel {
        Runtime::SharedKernel
    } else if gvisor {
        Runtime::Gvisor
    } else if facts.cpu_hypervisor_flag {
        Runtime::VirtualMachine
    } else {
        Runtime::Unknown
    };
    Classification {
        runtime,
        shares_node_kernel,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node: a VM itself, so even its own containers see the hypervisor flag.
    fn node() -> NodeFacts {
        NodeFacts {
            kernel_release: "6.18.44-fc-v669".into(),
            boot_id: "b2a2d101-1158-4c96-8a1f-d8b50e668a13".into(),
        }
    }

    /// A runc container on that node, as read there.
    fn runc() -> Facts {
        Facts {
            kernel_release: "6.18.44-fc-v669".into(),
            kernel_version: "Linux version 6.18.44-fc-v669 (gcc) #1 SMP".into(),
            boot_id: "b2a2d101-1158-4c96-8a1f-d8b50e668a13".into(),
            cpu_hypervisor_flag: true,
            ..Facts::default()
        }
    }

    /// gVisor (runsc) on the same node.
    fn gvisor() -> Facts {
        Facts {
            kernel_release: "4.4.0".into(),
            kernel_version: format!("Linux version 4.4.0 {GVISOR_KERNEL_VERSION}"),
            boot_id: "2f5e7d3c-51a1-4bd2-9c3f-0a7d1f2b8e11".into(),
            cpu_hypervisor_flag: true,
            ..Facts::default()
        }
    }

    /// A Kata (Cloud Hypervisor) guest.
    fn kata() -> Facts {
        Facts {
            kernel_release: "6.12.28".into(),
            kernel_version: "Linux version 6.12.28 (kata) #1 SMP".into(),
            boot_id: "9b1c3f0e-2d4a-4e5b-8c6d-7e8f9a0b1c2d".into(),
            cpu_hypervisor_flag: true,
            ..Facts::default()
        }
    }

    #[test]
    fn each_runtime_is_recognised_with_its_evidence() {
        let r = classify(&runc(), &node());
        assert_eq!(
            (r.runtime, r.shares_node_kernel),
            (Runtime::SharedKernel, true)
        );
        let g = classify(&gvisor(), &node());
        assert_eq!((g.runtime, g.shares_node_kernel), (Runtime::Gvisor, false));
        assert!(
            g.evidence.iter().any(|e| e.contains("gVisor's fixed")),
            "{g:?}"
        );
        let k = classify(&kata(), &node());
        assert_eq!(
            (k.runtime, k.shares_node_kernel),
            (Runtime::VirtualMachine, false)
        );
    }

    #[test]
    fn a_foreign_kernel_without_markers_is_unknown_and_a_missing_boot_id_falls_back_to_the_release()
    {
        let odd = Facts {
            cpu_hypervisor_flag: false,
            ..kata()
        };
        assert_eq!(classify(&odd, &node()).runtime, Runtime::Unknown);
        let no_id = Facts {
            boot_id: String::new(),
            ..runc()
        };
        let c = classify(&no_id, &node());
        assert_eq!(c.runtime, Runtime::SharedKernel);
        assert!(c.evidence[0].starts_with("kernel release"), "{c:?}");
    }

    #[test]
    fn the_same_release_on_another_boot_is_not_the_nodes_kernel() {
        let other_boot = Facts {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            ..runc()
        };
        assert!(!classify(&other_boot, &node()).shares_node_kernel);
    }
}
