//! The in-sandbox probe: a small static binary run as a sandbox's container. It reads what the
//! kernel it runs on shows ([`facts`]), classifies the runtime against the node's own kernel
//! ([`classify`]), and reports both as JSON ([`report`]), once on stdout or over HTTP
//! ([`serve`], routed by [`request`]), so the harness can tell from inside a sandbox whether a
//! runtime class gives the isolation it claims. The classification and the request parsing are
//! pure and tested on captured inputs; only [`facts::read`] and [`report::run`] touch the
//! system. The crate's second binary, `sandbox-pause`, is the Pod sandbox's pause process
//! ([`signals`] serves both as PID 1).

pub mod classify;
pub mod cli;
pub mod facts;
pub mod report;
pub mod request;
pub mod serve;
pub mod signals;

pub use classify::{Classification, NodeFacts, Runtime, classify};
pub use facts::Facts;
pub use report::{Report, ReportRequest};
