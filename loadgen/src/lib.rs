//! `sandbox-bench`: the test-and-benchmark harness for agent-sandbox controllers.
//!
//! Today it provisions clusters ([`cluster`]) and installs the agent-sandbox CRDs ([`crds`]);
//! the CLI in `main.rs` exposes them as `sandbox-bench cluster up | down | status`.

pub mod binaries;
pub mod cli;
pub mod cluster;
pub mod crds;
pub mod exit;
