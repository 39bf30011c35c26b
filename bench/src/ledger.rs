//! The ledger: one [`Record`] per claim, stamped as the run goes. The send tasks stamp sends
//! and acknowledgements; the watches stamp what the API shows (bound, sandbox Ready, claim
//! Ready) at the moment each event is received. Both send their stamps to the run's collector
//! task ([`crate::observe::Collector`]), the ledger's one owner, which applies them here in the
//! order they were sent. Everything here is pure bookkeeping on microsecond stamps, so every
//! transition is unit-tested without a cluster.

use std::collections::HashMap;

use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use sandbox_reports::{LaunchType, Record};

/// Name of the `Ready` condition on claims and sandboxes.
const READY: &str = "Ready";

#[derive(Debug, Default)]
pub struct Ledger {
    records: Vec<Record>,
    by_claim: HashMap<String, usize>,
    /// Sandboxes of the run's namespace currently Ready.
    ready_sandboxes: HashMap<String, bool>,
    /// Bound sandbox → the claim it serves.
    claim_of_sandbox: HashMap<String, usize>,
    /// Kept as records change, so progress and the drain, polled while stamps arrive, never
    /// make the collector scan the records while stamps queue behind it.
    counts: Counts,
    /// Claims sent and since Ready or failed.
    settled: usize,
}

/// What a claim event changed, for the workers that wait on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The claim turned Ready (first time).
    ClaimReady(usize),
    Nothing,
}

impl Ledger {
    /// Adds a claim's schedule slot after the others; returns its index.
    pub fn add(&mut self, record: Record) -> usize {
        let index = self.records.len();
        self.add_at(index, record);
        index
    }

    /// Adds a claim's schedule slot at `index`, which its sender chose: slots below it not
    /// added yet stay empty until theirs arrive. An empty slot names no claim, is never sent,
    /// so it counts nowhere and [`Ledger::finish`] drops it.
    pub fn add_at(&mut self, index: usize, record: Record) {
        if self.records.len() <= index {
            self.records
                .resize_with(index + 1, || Record::new("", "", LaunchType::Unknown, 0));
        }
        self.by_claim.insert(record.claim.clone(), index);
        self.update(index, |slot| *slot = record);
    }

    pub fn record(&self, index: usize) -> Option<&Record> {
        self.records.get(index)
    }

    /// Changes record `index` through `change`, keeping the counts; an index the ledger does
    /// not hold (a create answered after the run's records were taken) is ignored.
    fn update<R>(&mut self, index: usize, change: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let record = self.records.get_mut(index)?;
        let before = Tally::of(record);
        let result = change(record);
        let after = Tally::of(record);
        self.counts.sent += after.sent - before.sent;
        self.counts.ready += after.ready - before.ready;
        self.counts.failed += after.failed - before.failed;
        self.settled += after.settled - before.settled;
        Some(result)
    }

    pub fn sent(&mut self, index: usize, at_us: u64) {
        self.update(index, |r| r.sent_us = Some(at_us));
    }

    pub fn acked(&mut self, index: usize, at_us: u64) {
        self.update(index, |r| r.acked_us = Some(at_us));
    }

    /// A claim that failed with `kind` (`create_conflict`, `timeout_unbound`, …); the first
    /// error sticks.
    pub fn failed(&mut self, index: usize, kind: impl Into<String>) {
        self.update(index, |r| {
            r.error.get_or_insert_with(|| kind.into());
        });
    }

    /// A claim event from the watch, received at `now_us`.
    pub fn on_claim(&mut self, claim: &SandboxClaim, now_us: u64) -> Transition {
        let Some(name) = claim.metadata.name.as_deref() else {
            return Transition::Nothing;
        };
        let Some(&index) = self.by_claim.get(name) else {
            return Transition::Nothing;
        };
        let status = claim.status.as_ref();
        let sandbox = status.map_or("", |s| s.sandbox.name.as_str());
        let ready = status.is_some_and(|s| is_true(&s.conditions, READY));
        let binds = !sandbox.is_empty() && self.records[index].bound_us.is_none();
        if binds {
            self.claim_of_sandbox.insert(sandbox.to_string(), index);
        }
        let sandbox_ready = self.ready_sandboxes.get(sandbox) == Some(&true);
        self.update(index, |record| {
            if binds {
                record.bound_us = Some(now_us);
                // A cold start creates a Sandbox named after the claim; adoption keeps the
                // pool member's generated name.
                record.launch = if sandbox == name {
                    LaunchType::Cold
                } else {
                    LaunchType::Warm
                };
                if sandbox_ready {
                    record.sandbox_ready_us = Some(now_us);
                }
            }
            if ready && record.claim_ready_us.is_none() {
                // One event can carry several transitions; each is stamped when first seen.
                record.bound_us.get_or_insert(now_us);
                record.sandbox_ready_us.get_or_insert(now_us);
                record.claim_ready_us = Some(now_us);
                return Transition::ClaimReady(index);
            }
            Transition::Nothing
        })
        .unwrap_or(Transition::Nothing)
    }

    /// A sandbox event from the watch, received at `now_us`.
    pub fn on_sandbox(&mut self, sandbox: &Sandbox, now_us: u64) {
        let Some(name) = sandbox.metadata.name.as_deref() else {
            return;
        };
        let ready = sandbox
            .status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY));
        self.ready_sandboxes.insert(name.to_string(), ready);
        if ready && let Some(&index) = self.claim_of_sandbox.get(name) {
            self.records[index].sandbox_ready_us.get_or_insert(now_us);
        }
    }

    /// A sandbox deleted from the namespace.
    pub fn on_sandbox_deleted(&mut self, name: &str) {
        self.ready_sandboxes.remove(name);
    }

    /// Claims sent, Ready and failed: for progress.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Whether every claim that was sent is Ready or failed.
    pub fn settled(&self) -> bool {
        self.settled == self.counts.sent
    }

    /// Whether the warm claims intended in `[from_us, to_us)` and sent so far already put
    /// their claim Ready p99 above `bound_us` at `now_us`: more than 1 % of them were Ready later
    /// than the bound after their intended time, failed, or are still not Ready that long after
    /// it. A claim not sent yet is not judged: the step is the controller's to break, and a
    /// claim sent late is judged from its intended time as soon as it goes out.
    pub fn step_broke(&self, from_us: u64, to_us: u64, bound_us: u64, now_us: u64) -> bool {
        let mut claims = 0usize;
        let mut late = 0usize;
        for r in self
            .records
            .iter()
            .filter(|r| (from_us..to_us).contains(&r.intended_us))
            .filter(|r| r.launch != LaunchType::Cold && r.sent_us.is_some())
        {
            claims += 1;
            let deadline = r.intended_us.saturating_add(bound_us);
            let is_late = match r.claim_ready_us {
                Some(ready) => ready > deadline,
                None => r.error.is_some() || now_us > deadline,
            };
            late += usize::from(is_late);
        }
        late * 100 > claims
    }

    /// Ends the run: claims sent but never Ready get a timeout naming the phase they stopped
    /// at; claims never sent (an interrupted run) are dropped. Returns the records.
    pub fn finish(self) -> Vec<Record> {
        self.records
            .into_iter()
            .filter(|r| r.sent_us.is_some() || r.error.is_some())
            .map(|mut r| {
                if r.error.is_none() && r.claim_ready_us.is_none() {
                    r.error = Some(
                        if r.acked_us.is_none() {
                            "timeout_unacknowledged"
                        } else if r.bound_us.is_none() {
                            "timeout_unbound"
                        } else if r.sandbox_ready_us.is_none() {
                            "timeout_sandbox_not_ready"
                        } else {
                            "timeout_claim_not_ready"
                        }
                        .into(),
                    );
                }
                r
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: usize,
    pub ready: usize,
    pub failed: usize,
}

/// What one record contributes to the counts.
struct Tally {
    sent: usize,
    ready: usize,
    failed: usize,
    settled: usize,
}

impl Tally {
    fn of(r: &Record) -> Self {
        let sent = r.sent_us.is_some();
        let done = r.claim_ready_us.is_some() || r.error.is_some();
        Self {
            sent: usize::from(sent),
            ready: usize::from(r.claim_ready_us.is_some()),
            failed: usize::from(r.error.is_some()),
            settled: usize::from(sent && done),
        }
    }
}

fn is_true(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    kind: &str,
) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == kind && c.status == "True")
}

/// Claims and sandboxes as the watches show them, for the ledger's and the collector's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
    use serde_json::json;

    /// Claim `name` bound to `sandbox`, Ready or not.
    pub fn claim(name: &str, sandbox: &str, ready: bool) -> SandboxClaim {
        serde_json::from_value(json!({
            "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
            "kind": "SandboxClaim",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"warmPoolRef": {"name": "pool"}},
            "status": {"sandbox": {"name": sandbox}, "conditions": [condition(ready)]}
        }))
        .unwrap()
    }

    /// Sandbox `name`, Ready or not.
    pub fn sandbox(name: &str, ready: bool) -> Sandbox {
        serde_json::from_value(json!({
            "apiVersion": "agents.x-k8s.io/v1beta1",
            "kind": "Sandbox",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"podTemplate": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"conditions": [condition(ready)]}
        }))
        .unwrap()
    }

    fn condition(ready: bool) -> serde_json::Value {
        json!({
            "type": "Ready",
            "status": if ready { "True" } else { "False" },
            "reason": "R",
            "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{claim, sandbox};
    use super::*;

    fn ledger_with(names: &[&str]) -> Ledger {
        let mut ledger = Ledger::default();
        for (i, name) in names.iter().enumerate() {
            let index = ledger.add(Record::new(*name, "pool", LaunchType::Unknown, i as u64));
            ledger.sent(index, 10 + i as u64);
        }
        ledger
    }

    #[test]
    fn a_warm_adoption_stamps_bound_and_sandbox_ready_together() {
        let mut ledger = ledger_with(&["c-1"]);
        ledger.on_sandbox(&sandbox("pool-abcde", true), 50);
        assert_eq!(
            ledger.on_claim(&claim("c-1", "", false), 60),
            Transition::Nothing
        );
        assert_eq!(
            ledger.on_claim(&claim("c-1", "pool-abcde", false), 70),
            Transition::Nothing
        );
        let r = ledger.record(0).unwrap();
        assert_eq!(
            (r.bound_us, r.sandbox_ready_us, r.launch),
            (Some(70), Some(70), LaunchType::Warm)
        );
        assert_eq!(
            ledger.on_claim(&claim("c-1", "pool-abcde", true), 90),
            Transition::ClaimReady(0)
        );
        // Later events change nothing.
        assert_eq!(
            ledger.on_claim(&claim("c-1", "pool-abcde", true), 99),
            Transition::Nothing
        );
        assert_eq!(ledger.record(0).unwrap().claim_ready_us, Some(90));
    }

    #[test]
    fn a_cold_start_waits_for_its_sandbox_to_turn_ready() {
        let mut ledger = ledger_with(&["c-1"]);
        ledger.on_claim(&claim("c-1", "c-1", false), 20);
        ledger.on_sandbox(&sandbox("c-1", false), 30);
        assert_eq!(ledger.record(0).unwrap().sandbox_ready_us, None);
        assert_eq!(ledger.record(0).unwrap().launch, LaunchType::Cold);
        ledger.on_sandbox(&sandbox("c-1", true), 40);
        ledger.on_sandbox(&sandbox("c-1", true), 45);
        assert_eq!(ledger.record(0).unwrap().sandbox_ready_us, Some(40));
    }

    #[test]
    fn one_event_with_everything_stamps_every_phase_and_unknown_claims_are_ignored() {
        let mut ledger = ledger_with(&["c-1"]);
        assert_eq!(
            ledger.on_claim(&claim("c-1", "c-1", true), 80),
            Transition::ClaimReady(0)
        );
        let r = ledger.record(0).unwrap();
        assert_eq!(
            (r.bound_us, r.sandbox_ready_us, r.claim_ready_us),
            (Some(80), Some(80), Some(80))
        );
        assert_eq!(
            ledger.on_claim(&claim("other", "x", true), 90),
            Transition::Nothing
        );
    }

    #[test]
    fn a_step_breaks_once_more_than_one_percent_of_its_claims_are_late() {
        let mut ledger = Ledger::default();
        for i in 0..200u64 {
            ledger.add(Record::new(
                format!("c-{i}"),
                "warm",
                LaunchType::Warm,
                i * 1000,
            ));
        }
        let bound = 1_000_000;
        // Nothing sent yet, long past every bound: the harness's lag is not the step's.
        assert!(!ledger.step_broke(0, 200_000, bound, 5_000_000));
        for i in 0..200usize {
            ledger.sent(i, i as u64 * 1000);
        }
        // Nothing Ready yet, but within the bound: not broken.
        assert!(!ledger.step_broke(0, 200_000, bound, 1_000_000));
        for i in 0..198usize {
            ledger.update(i, |r| r.claim_ready_us = Some(r.intended_us + 50_000));
        }
        // Two of 200 still waiting past their bound is 1 %: not more than it.
        assert!(!ledger.step_broke(0, 200_000, bound, 1_300_000));
        ledger.update(5, |r| r.claim_ready_us = Some(r.intended_us + 1_500_000));
        assert!(ledger.step_broke(0, 200_000, bound, 1_300_000));
        // Another step's claims are not counted.
        assert!(!ledger.step_broke(200_000, 400_000, bound, 1_300_000));
    }

    #[test]
    fn finishing_names_the_phase_a_claim_stopped_at_and_drops_unsent_slots() {
        let mut ledger = ledger_with(&["a", "b", "c", "d", "e"]);
        ledger.acked(1, 1);
        ledger.acked(2, 1);
        ledger.on_claim(&claim("c", "c", false), 5);
        ledger.acked(3, 1);
        ledger.failed(3, "create_conflict");
        ledger.failed(3, "later");
        ledger.add(Record::new("never-sent", "pool", LaunchType::Unknown, 9));
        assert!(!ledger.settled());
        assert_eq!(
            ledger.counts(),
            Counts {
                sent: 5,
                ready: 0,
                failed: 1
            }
        );
        let errors: Vec<_> = ledger
            .finish()
            .into_iter()
            .map(|r| r.error.unwrap())
            .collect();
        assert_eq!(
            errors,
            [
                "timeout_unacknowledged",
                "timeout_unbound",
                "timeout_sandbox_not_ready",
                "create_conflict",
                "timeout_unacknowledged"
            ]
        );
    }

    #[test]
    fn slots_added_out_of_order_land_at_their_index() {
        let mut ledger = Ledger::default();
        ledger.add_at(2, Record::new("c", "pool", LaunchType::Unknown, 3));
        ledger.sent(2, 30);
        assert_eq!(ledger.record(1).unwrap().claim, "");
        assert_eq!(ledger.counts().sent, 1);
        ledger.add_at(0, Record::new("a", "pool", LaunchType::Unknown, 1));
        ledger.add_at(1, Record::new("b", "pool", LaunchType::Unknown, 2));
        ledger.sent(1, 20);
        assert_eq!(
            ledger.on_claim(&claim("c", "c", true), 40),
            Transition::ClaimReady(2)
        );
        let claims: Vec<_> = ledger.finish().into_iter().map(|r| r.claim).collect();
        assert_eq!(claims, ["b", "c"]);
    }

    #[test]
    fn settled_once_every_sent_claim_is_ready_or_failed() {
        let mut ledger = ledger_with(&["a", "b"]);
        ledger.on_claim(&claim("a", "a", true), 5);
        ledger.failed(1, "create_forbidden");
        assert!(ledger.settled());
    }
}
