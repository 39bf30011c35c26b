//! What a decision wants said about the policies it could not take at face value. The
//! decision is pure, so it collects these instead of logging; the caller logs them.

use std::collections::BTreeSet;

/// Warnings (something is enforced more strictly than written) and debug notes (something
/// is deliberately out of scope, such as IPv6). Sets, so repeats across pods say it once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    pub warnings: BTreeSet<String>,
    pub debug: BTreeSet<String>,
}

impl Notes {
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.insert(message.into());
    }

    pub fn debug(&mut self, message: impl Into<String>) {
        self.debug.insert(message.into());
    }
}
