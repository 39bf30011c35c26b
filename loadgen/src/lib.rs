//! `sandbox-bench`: the test-and-benchmark harness for agent-sandbox controllers.
//!
//! Today it provisions clusters ([`cluster`]), installs the agent-sandbox CRDs ([`crds`]) and
//! runs the [`conformance`] suite against a controller; the CLI in `main.rs` exposes them as
//! `sandbox-bench cluster up | down | status` and `sandbox-bench conformance`.

pub mod bench;
pub mod binaries;
pub mod cli;
pub mod cluster;
pub mod conformance;
pub mod controller;
pub mod crds;
pub mod exit;
pub mod faults;
pub mod guarded_delete;
pub mod images;
pub mod knee;
pub mod labels;
pub mod namespaces;
pub mod node_images;
pub mod procfs;
pub mod scenario;
pub mod schedule;
pub mod target;
