//! The crate's one error type: every failure names what it was doing.

use std::path::PathBuf;

/// Why reading, analysing or rendering a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "unknown phase `{0}` (expected one of acked, bound, sandbox_ready, claim_ready, harness_lag)"
    )]
    UnknownPhase(String),

    #[error("could not encode a record as JSON")]
    EncodeRecord(#[source] serde_json::Error),
    #[error("could not write records")]
    WriteRecords(#[source] std::io::Error),
    #[error("could not read records")]
    ReadRecords(#[source] std::io::Error),
    #[error("records line {line}: not a valid record")]
    DecodeRecord {
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// Only reachable if the histogram bounds in `analysis` are changed to something invalid.
    #[error("could not create a latency histogram")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("could not merge latency histograms")]
    HistogramMerge(#[from] hdrhistogram::AdditionError),

    #[error("invalid SLO `{slo}`: {reason}")]
    InvalidSlo { slo: String, reason: String },

    #[error("{path}: could not read")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: could not write")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results are not valid JSON for schema {expected}")]
    DecodeResults {
        expected: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("results schema is `{found}`, this reader understands `{expected}`")]
    UnsupportedSchema {
        found: String,
        expected: &'static str,
    },
    #[error("could not encode results as JSON")]
    EncodeResults(#[source] serde_json::Error),

    /// `knee.json`, `conformance.json` or `history.json` (named by `what`) is not valid for
    /// its schema.
    #[error("{what} is not valid JSON for schema {expected}")]
    DecodeFile {
        what: &'static str,
        expected: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The same files with a schema this reader does not know; `found` is `(none)` when the
    /// file names none.
    #[error("{what} schema is `{found}`, this reader understands `{expected}`")]
    UnsupportedFileSchema {
        what: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("could not encode {what} as JSON")]
    EncodeFile {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("could not draw chart `{chart}`: {reason}")]
    Chart { chart: &'static str, reason: String },
}
