//! The names of the isolation checks, apart from the checks themselves: the scenario file is
//! validated against them without depending on how the checks run.

/// The checks a scenario may name.
pub const CHECKS: [&str; 8] = [
    "kernel_not_shared",
    "runtime_identified",
    "no_service_account_token",
    "no_host_pid",
    "no_host_network",
    "no_node_files",
    "egress_blocked",
    "sandboxes_isolated",
];
