//! The in-sandbox probe: a small static binary run as a sandbox's container. It reads what the
//! kernel it runs on shows ([`facts`]), classifies the runtime against the node's own kernel
//! ([`classify`]), and reports both as JSON, so the harness can tell from inside a sandbox
//! whether a runtime class gives the isolation it claims. The classification is pure and
//! tested on captured inputs; only [`facts::read`] touches the system.

pub mod classify;
pub mod facts;

pub use classify::{Classification, NodeFacts, Runtime, classify};
pub use facts::Facts;
