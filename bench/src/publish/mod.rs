//! `sandbox-bench publish`'s file work around `sandbox_reports::history`, which models and
//! renders the site without touching files:
//!
//! * [`find`]: the run directories under the given paths, each read and its schema checked.
//! * [`site`]: the site's `history.json` (loaded, upgraded or refused) and every file a
//!   publish writes, planned in memory first and then written each to a temporary name and
//!   renamed, so a failure leaves no half-written file and a refusal writes nothing.

pub mod find;
pub mod site;

/// Why a publish did not happen; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A run or the site that cannot be read as what it claims to be (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// Reading or writing files failed (exit 3).
    #[error("{0}")]
    Io(String),
}
