//! The summaries `results.json` stores: each phase's latency distribution (percentiles, CDF
//! points, histogram bins), overall and per launch type, and the run's error counts. Plain
//! serde data, apart from `results.rs` so that the analysis that computes them and the SLO
//! checks that read them need not depend on the results file, which depends on both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{LaunchType, Phase};

/// One phase's latency, over all claims and per launch type (types without samples omitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub phase: Phase,
    pub overall: LatencyDistribution,
    pub by_launch: BTreeMap<LaunchType, LatencyDistribution>,
}

/// Milliseconds with microsecond precision, from a 3-significant-digit HDR histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyDistribution {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Kept for completeness; latency is never summarised by its mean in reports.
    pub mean_ms: f64,
    /// Points of the cumulative distribution, quantile ascending, ending at the maximum.
    pub cdf: Vec<CdfPoint>,
    /// Sample counts in bins of equal width on a log axis (four per doubling).
    pub histogram: Vec<HistogramBin>,
}

impl LatencyDistribution {
    /// The summarised percentile by its usual name (50, 90, 99, 99.9, 100 for max).
    pub fn percentile_ms(&self, percentile: f64) -> Option<f64> {
        match percentile {
            50.0 => Some(self.p50_ms),
            90.0 => Some(self.p90_ms),
            99.0 => Some(self.p99_ms),
            99.9 => Some(self.p999_ms),
            100.0 => Some(self.max_ms),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    /// `0.0 ..= 1.0`.
    pub quantile: f64,
    pub ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistogramBin {
    /// `[low_ms, high_ms)`.
    pub low_ms: f64,
    pub high_ms: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// All claims in the run.
    pub claims: u64,
    /// Claims that carry an error.
    pub failed: u64,
    pub by_kind: BTreeMap<String, u64>,
}
