//! `knee.json`: where each controller gives way under a stepped warm-claim load. The harness
//! fills it from its bench runs (`sandbox-bench knee`); `render::knee` turns it into
//! `knee.md` and `knee.html`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::steps::StepSummary;

/// The schema of `knee.json`.
pub const KNEE_SCHEMA: &str = "sandbox-bench/knee/v1";

/// Every controller's knees and steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KneeReport {
    pub schema: String,
    pub scenario: String,
    pub controllers: BTreeMap<String, ControllerKnee>,
}

/// One controller's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerKnee {
    pub knee_100ms: f64,
    pub knee_1s: f64,
    /// The claims sent before the first step, in no step and no knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<StepSummary>,
    pub steps: Vec<StepSummary>,
    /// CPU seconds per claim over the whole load, by process (kube-apiserver, etcd, the
    /// controller or the floor).
    pub cpu_seconds_per_claim: BTreeMap<String, f64>,
    /// API writes (POST, PUT, PATCH, DELETE, by every client) per claim over the whole load.
    pub writes_per_claim: f64,
    /// The same writes by `VERB resource[/subresource]`, every response code together.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes_by_request: BTreeMap<String, f64>,
    /// The run's own directory, with its `report.html`.
    pub run: String,
}

/// Which knee a bound names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knee {
    /// Claim Ready p99 ≤ 100 ms.
    Ms100,
    /// Claim Ready p99 < 1 s.
    S1,
}

impl KneeReport {
    /// Parses `knee.json`, refusing any schema but [`KNEE_SCHEMA`] by name.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        crate::schema::decode(text, "knee.json", KNEE_SCHEMA)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, ReportError> {
        crate::schema::encode(self, "knee.json")
    }
}

impl ControllerKnee {
    pub fn knee(&self, which: Knee) -> f64 {
        match which {
            Knee::Ms100 => self.knee_100ms,
            Knee::S1 => self.knee_1s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_knee;

    #[test]
    fn knee_json_round_trips_and_other_schemas_are_refused() {
        let report = sample_knee();
        let json = report.to_json().unwrap();
        assert!(json.starts_with("{\n  \"schema\": \"sandbox-bench/knee/v1\","));
        assert_eq!(KneeReport::from_json(&json).unwrap(), report);
        let other = json.replace("sandbox-bench/knee/v1", "sandbox-bench/knee/v2");
        assert!(matches!(
            KneeReport::from_json(&other),
            Err(ReportError::UnsupportedFileSchema { found, .. }) if found == "sandbox-bench/knee/v2"
        ));
    }
}
