//! Isolation results: each check's verdict on the sandbox under test and on its positive
//! control. A check passes only when the sandbox hides what it must *and* the control shows
//! it, so a check that could not have failed (a probe that sees nothing anywhere) is caught.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationReport {
    /// The RuntimeClass of the sandboxes under test.
    pub runtime_class: String,
    /// The RuntimeClass of the positive controls.
    pub control_runtime_class: String,
    pub checks: Vec<IsolationCheck>,
    /// The probes' raw reports by role (`sandbox`, `control`, `peer`, …), for the record.
    #[serde(default)]
    pub probes: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationCheck {
    /// Stable name, as written in scenario files (`kernel_not_shared`, `egress_blocked`, …).
    pub name: String,
    pub status: CheckStatus,
    /// What the sandbox under test showed.
    pub sandbox: String,
    /// What the positive control showed.
    pub control: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Hidden from the sandbox, shown to the control.
    Pass,
    /// The sandbox showed what it must not.
    Breach,
    /// The control did not show it either: the check could not have failed.
    ControlFailed,
    /// A probe's report is missing.
    NoReport,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Breach => "breach",
            CheckStatus::ControlFailed => "control failed",
            CheckStatus::NoReport => "no report",
        }
    }
}

impl IsolationReport {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.status == CheckStatus::Pass)
    }
}
