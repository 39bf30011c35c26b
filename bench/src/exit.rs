//! Exit codes of `sandbox-bench`, distinct so CI can tell what went wrong.

/// Everything worked (and, for checks, everything passed).
pub const OK: u8 = 0;
/// A check failed: an SLO breach, a conformance failure.
pub const CHECK_FAILED: u8 = 1;
/// Bad input: a CLI flag, a scenario file. Nothing was started.
pub const BAD_INPUT: u8 = 2;
/// The environment failed: a missing binary, a cluster that would not start.
pub const INFRASTRUCTURE: u8 = 3;
/// An isolation check failed: a sandbox showed what its runtime class must hide, or a
/// positive control showed nothing (so the check could not have failed). Takes precedence
/// over an SLO breach.
pub const ISOLATION_FAILED: u8 = 4;
/// Interrupted (Ctrl-C); whatever was started has been stopped.
pub const INTERRUPTED: u8 = 130;
