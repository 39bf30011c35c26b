//! Reliability results: the faults a run injected while the load ran, and the invariants the
//! harness checked from its own watches, each violation with the objects and the time it was
//! seen. A run with a violation fails (exit code 1), whatever its latencies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every fault the run fired, in the order they fired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultsReport {
    pub fired: Vec<FaultRecord>,
    /// How many of each kind fired, by the scenario's name of the kind (`controllerKill`, …).
    pub counts: BTreeMap<String, u64>,
    /// Faults the scenario asked for that could not be carried out, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FaultRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The scenario's name of the kind: `controllerKill`, `apiserverRestart`, …
    pub kind: String,
    /// When it struck, in ms since the first claim was due.
    pub at_ms: u64,
    /// When what it broke was back (restarted, resumed), if it restores anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_ms: Option<u64>,
    /// What it hit (`pid 4242`, `node kwok-node-1, 12 pods`), or why it could not.
    pub detail: String,
}

impl FaultsReport {
    pub fn record(&mut self, fault: FaultRecord) {
        *self.counts.entry(fault.kind.clone()).or_default() += 1;
        self.fired.push(fault);
    }

    /// When the last fault's damage was repaired (or it struck), in ms; 0 without faults.
    pub fn last_restored_ms(&self) -> u64 {
        self.fired
            .iter()
            .map(|f| f.restored_ms.unwrap_or(f.at_ms))
            .max()
            .unwrap_or(0)
    }
}

/// The invariants checked and what broke them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvariantsReport {
    /// The invariants this run checked, by name.
    pub checked: Vec<Invariant>,
    /// How long after the last fault every claim had to be Ready, in ms.
    pub recovery_bound_ms: u64,
    pub violations: Vec<Violation>,
}

impl InvariantsReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations of `invariant`.
    pub fn of(&self, invariant: Invariant) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(move |v| v.invariant == invariant)
    }
}

/// What must hold whatever the cluster does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// No Sandbox is ever bound to two claims.
    SandboxHasOneClaim,
    /// No claim is bound to two Sandboxes over its life, unless its Sandbox was deleted first.
    ClaimHasOneSandbox,
    /// Every acknowledged claim is Ready within the recovery bound after the last fault, or
    /// ends with a terminal reason the spec names.
    ClaimServed,
    /// No Sandbox ever has two live Pods.
    OnePodPerSandbox,
    /// Every Sandbox of the run is controlled by a live claim or pool once the load is over.
    NoOrphanSandbox,
    /// Every pool is back at its replica count (Ready) within the recovery bound.
    PoolRefilled,
    /// No write by a controller replica lands after another replica took the leader Lease
    /// (judged from the API server's audit log, on a local cluster with replicas).
    LeaderFenced,
}

impl Invariant {
    pub const ALL: [Invariant; 7] = [
        Invariant::SandboxHasOneClaim,
        Invariant::ClaimHasOneSandbox,
        Invariant::ClaimServed,
        Invariant::OnePodPerSandbox,
        Invariant::NoOrphanSandbox,
        Invariant::PoolRefilled,
        Invariant::LeaderFenced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::SandboxHasOneClaim => "sandbox_has_one_claim",
            Invariant::ClaimHasOneSandbox => "claim_has_one_sandbox",
            Invariant::ClaimServed => "claim_served",
            Invariant::OnePodPerSandbox => "one_pod_per_sandbox",
            Invariant::NoOrphanSandbox => "no_orphan_sandbox",
            Invariant::PoolRefilled => "pool_refilled",
            Invariant::LeaderFenced => "leader_fenced",
        }
    }

    /// What the invariant promises, for reports.
    pub fn promise(self) -> &'static str {
        match self {
            Invariant::SandboxHasOneClaim => "no Sandbox is bound to two claims",
            Invariant::ClaimHasOneSandbox => "no claim is bound to two Sandboxes",
            Invariant::ClaimServed => "every claim is Ready within the recovery bound",
            Invariant::OnePodPerSandbox => "no Sandbox has two live Pods",
            Invariant::NoOrphanSandbox => "every Sandbox has a live owner",
            Invariant::PoolRefilled => "every pool returns to its replica count",
            Invariant::LeaderFenced => {
                "no replica writes after another replica took the leader Lease"
            }
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken invariant: which, the objects involved, when it was seen, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: Invariant,
    /// `kind/name` of each object involved.
    pub objects: Vec<String>,
    /// When the harness saw it, in ms since the first claim was due.
    pub at_ms: u64,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_counts_follow_the_records_and_the_last_repair_is_found() {
        let mut faults = FaultsReport::default();
        faults.record(FaultRecord {
            kind: "controllerKill".into(),
            at_ms: 5_000,
            restored_ms: Some(5_500),
            detail: "pid 1".into(),
        });
        faults.record(FaultRecord {
            kind: "controllerKill".into(),
            at_ms: 10_000,
            restored_ms: Some(10_500),
            detail: "pid 2".into(),
        });
        faults.record(FaultRecord {
            kind: "podKill".into(),
            at_ms: 12_000,
            restored_ms: None,
            detail: "3 pods".into(),
        });
        assert_eq!(faults.counts["controllerKill"], 2);
        assert_eq!(faults.counts["podKill"], 1);
        assert_eq!(faults.last_restored_ms(), 12_000);
        assert_eq!(FaultsReport::default().last_restored_ms(), 0);
    }

    #[test]
    fn invariants_round_trip_by_their_snake_case_names() {
        for invariant in Invariant::ALL {
            let json = serde_json::to_string(&invariant).unwrap();
            assert_eq!(json, format!("\"{}\"", invariant.as_str()));
            assert_eq!(serde_json::from_str::<Invariant>(&json).unwrap(), invariant);
        }
        let report = InvariantsReport {
            checked: Invariant::ALL.to_vec(),
            recovery_bound_ms: 60_000,
            violations: vec![Violation {
                invariant: Invariant::ClaimServed,
                objects: vec!["sandboxclaim/c-1".into()],
                at_ms: 1,
                detail: "never Ready".into(),
            }],
        };
        assert!(!report.passed());
        assert_eq!(report.of(Invariant::ClaimServed).count(), 1);
        assert_eq!(report.of(Invariant::PoolRefilled).count(), 0);
    }
}
