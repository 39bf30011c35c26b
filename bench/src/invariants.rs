//! The invariants a claims controller must keep whatever the cluster does, checked from the
//! harness's own watches (claims, Sandboxes, Pods of the run's namespace), independent of the
//! controller under test. Each event is checked as it arrives, so a double binding that a
//! later write hides is still caught; what can only be judged at the end (every claim served,
//! no orphan) is judged by [`Checker::finish`] and the run's final reads.
//!
//! Pure bookkeeping on events and millisecond stamps: every rule is unit-tested with a
//! constructed violation.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sandbox_api::keys::reason;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use sandbox_reports::{Invariant, Record, Violation};

/// The Ready reasons after which a claim is finished without a Sandbox, as the spec names them:
/// it was refused for good, the API server rejected its Sandbox as invalid, or it expired.
pub const TERMINAL_REASONS: [&str; 6] = [
    reason::INVALID_CONFIGURATION,
    reason::INVALID_METADATA,
    reason::ENV_VARS_INJECTION_REJECTED,
    reason::VOLUME_CLAIM_TEMPLATES_ERROR,
    reason::CLAIM_EXPIRED,
    reason::SANDBOX_EXPIRED,
];

#[derive(Debug, Default)]
struct ClaimSeen {
    name: String,
    /// The first Sandbox its status named.
    bound_to: Option<String>,
    /// The reason of its last Ready condition.
    last_reason: Option<String>,
}

#[derive(Debug, Default)]
struct SandboxSeen {
    name: String,
    /// Every claim (by UID) that has controlled it.
    claims: BTreeSet<String>,
    deleted: bool,
}

/// Everything the watches showed so far, and the violations found in it.
#[derive(Debug, Default)]
pub struct Checker {
    claims: HashMap<String, ClaimSeen>,
    sandboxes: HashMap<String, SandboxSeen>,
    /// Sandbox name → the claim (by UID) whose status named it first.
    named_by: HashMap<String, String>,
    /// Claim UID → the Sandboxes (by UID) it has controlled, in order.
    controlled_by_claim: HashMap<String, Vec<String>>,
    /// Sandbox UID → its live Pods (by UID).
    live_pods: HashMap<String, BTreeSet<String>>,
    violations: Vec<Violation>,
    /// One violation per invariant and object set: a state seen on every later event is
    /// still one violation.
    reported: HashSet<(Invariant, Vec<String>)>,
}

fn uid(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// The controller ownerRef of `meta`, if it is of `kind`.
fn controller_of_kind<'a>(meta: &'a ObjectMeta, kind: &str) -> Option<&'a OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.kind == kind)
}

impl Checker {
    fn violate(&mut self, invariant: Invariant, objects: Vec<String>, at_ms: u64, detail: String) {
        if self.reported.insert((invariant, objects.clone())) {
            self.violations.push(Violation {
                invariant,
                objects,
                at_ms,
                detail,
            });
        }
    }

    /// A claim as the watch shows it at `at_ms`.
    pub fn on_claim(&mut self, claim: &SandboxClaim, at_ms: u64) {
        let claim_uid = uid(&claim.metadata);
        let claim_name = name(&claim.metadata);
        let status = claim.status.as_ref();
        let sandbox = status.map_or("", |s| s.sandbox.name.as_str()).to_string();
        let seen = self.claims.entry(claim_uid.clone()).or_default();
        seen.name.clone_from(&claim_name);
        if let Some(ready) = status
            .into_iter()
            .flat_map(|s| &s.conditions)
            .find(|c| c.type_ == "Ready")
        {
            seen.last_reason = Some(ready.reason.clone());
        }
        if sandbox.is_empty() {
            return;
        }
        let previous = seen.bound_to.clone();
        match previous {
            None => seen.bound_to = Some(sandbox.clone()),
            Some(before) if before != sandbox => {
                let before_deleted = self
                    .sandboxes
                    .values()
                    .any(|s| s.name == before && s.deleted);
                // A claim may move on only once its Sandbox is gone (deleted by someone else).
                if before_deleted {
                    if let Some(seen) = self.claims.get_mut(&claim_uid) {
                        seen.bound_to = Some(sandbox.clone());
                    }
                } else {
                    self.violate(
                        Invariant::ClaimHasOneSandbox,
                        vec![
                            format!("sandboxclaim/{claim_name}"),
                            format!("sandbox/{before}"),
                            format!("sandbox/{sandbox}"),
                        ],
                        at_ms,
                        format!(
                            "status.sandbox changed from {before} to {sandbox} while {before} \
                             still existed"
                        ),
                    );
                }
            }
            Some(_) => {}
        }
        match self.named_by.get(&sandbox) {
            None => {
                self.named_by.insert(sandbox, claim_uid);
            }
            Some(first) if *first != claim_uid => {
                let first_name = self
                    .claims
                    .get(first)
                    .map_or_else(|| first.clone(), |c| c.name.clone());
                self.violate(
                    Invariant::SandboxHasOneClaim,
                    vec![
                        format!("sandbox/{sandbox}"),
                        format!("sandboxclaim/{first_name}"),
                        format!("sandboxclaim/{claim_name}"),
                    ],
                    at_ms,
                    format!("named in the status of {first_name} and of {claim_name}"),
                );
            }
            Some(_) => {}
        }
    }

    /// A Sandbox as the watch shows it at `at_ms`.
    pub fn on_sandbox(&mut self, sandbox: &Sandbox, at_ms: u64) {
        let sandbox_uid = uid(&sandbox.metadata);
        let sandbox_name = name(&sandbox.metadata);
        let owner = controller_of_kind(&sandbox.metadata, "SandboxClaim").map(|r| r.uid.clone());
        let seen = self.sandboxes.entry(sandbox_uid.clone()).or_default();
        seen.name.clone_from(&sandbox_name);
        let Some(owner) = owner else { return };
        if !seen.claims.insert(owner.clone()) {
            return;
        }
        if seen.claims.len() > 1 {
            let objects = std::iter::once(format!("sandbox/{sandbox_name}"))
                .chain(seen.claims.iter().map(|c| format!("sandboxclaim-uid/{c}")))
                .collect();
            self.violate(
                Invariant::SandboxHasOneClaim,
                objects,
                at_ms,
                "controlled by a second claim over its life".into(),
            );
        }
        let owned = self.controlled_by_claim.entry(owner.clone()).or_default();
        owned.push(sandbox_uid);
        let live: Vec<String> = owned
            .iter()
            .filter(|s| self.sandboxes.get(*s).is_some_and(|s| !s.deleted))
            .map(|s| {
                self.sandboxes
                    .get(s)
                    .map_or_else(String::new, |s| s.name.clone())
            })
            .collect();
        if live.len() > 1 {
            let claim_name = self
                .claims
                .get(&owner)
                .map_or_else(|| owner.clone(), |c| c.name.clone());
            let objects = std::iter::once(format!("sandboxclaim/{claim_name}"))
                .chain(live.iter().map(|s| format!("sandbox/{s}")))
                .collect();
            self.violate(
                Invariant::ClaimHasOneSandbox,
                objects,
                at_ms,
                format!("controls {} Sandboxes at once", live.len()),
            );
        }
    }

    /// A Sandbox the watch saw deleted.
    pub fn on_sandbox_deleted(&mut self, sandbox: &Sandbox) {
        let sandbox_uid = uid(&sandbox.metadata);
        let seen = self.sandboxes.entry(sandbox_uid.clone()).or_default();
        seen.name = name(&sandbox.metadata);
        seen.deleted = true;
        self.live_pods.remove(&sandbox_uid);
    }

    /// A watch listed every Sandbox again (after a gap): those it did not list were deleted
    /// while it was away, and no Delete event will come for them.
    pub fn sandboxes_relisted(&mut self, listed: &HashSet<String>) {
        for (uid, seen) in &mut self.sandboxes {
            if !listed.contains(uid) {
                seen.deleted = true;
            }
        }
        self.live_pods.retain(|sandbox, _| listed.contains(sandbox));
    }

    /// A watch listed every Pod again: those it did not list are gone.
    pub fn pods_relisted(&mut self, listed: &HashSet<String>) {
        for pods in self.live_pods.values_mut() {
            pods.retain(|pod| listed.contains(pod));
        }
    }

    /// A Pod as the watch shows it at `at_ms`.
    pub fn on_pod(&mut self, pod: &Pod, at_ms: u64) {
        let Some(owner) = controller_of_kind(&pod.metadata, "Sandbox") else {
            return;
        };
        let (pod_uid, sandbox_uid) = (uid(&pod.metadata), owner.uid.clone());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let live = pod.metadata.deletion_timestamp.is_none()
            && !matches!(phase, Some("Succeeded" | "Failed"));
        let pods = self.live_pods.entry(sandbox_uid).or_default();
        if !live {
            pods.remove(&pod_uid);
            return;
        }
        pods.insert(pod_uid);
        if pods.len() > 1 {
            let count = pods.len();
            self.violate(
                Invariant::OnePodPerSandbox,
                vec![format!("sandbox/{}", owner.name)],
                at_ms,
                format!("{count} live Pods at once"),
            );
        }
    }

    pub fn on_pod_deleted(&mut self, pod: &Pod) {
        if let Some(owner) = controller_of_kind(&pod.metadata, "Sandbox")
            && let Some(pods) = self.live_pods.get_mut(&owner.uid)
        {
            pods.remove(&uid(&pod.metadata));
        }
    }

    /// The last Ready reason the watch showed for the claim named `claim`.
    fn last_reason(&self, claim: &str) -> Option<&str> {
        self.claims
            .values()
            .find(|c| c.name == claim)
            .and_then(|c| c.last_reason.as_deref())
    }

    /// Judges every claim of the run at `now_ms`: each one the API acknowledged must have
    /// turned Ready no later than `recovery_ms` after both its intended time and the last
    /// fault's repair (`last_fault_ms`), or ended with a terminal reason. Returns every
    /// violation seen over the run.
    pub fn finish(
        mut self,
        records: &[Record],
        last_fault_ms: u64,
        recovery_ms: u64,
        now_ms: u64,
    ) -> Vec<Violation> {
        for r in records.iter().filter(|r| r.acked_us.is_some()) {
            let due_ms = (r.intended_us / 1000).max(last_fault_ms) + recovery_ms;
            let reason = self.last_reason(&r.claim).map(str::to_string);
            let objects = vec![format!("sandboxclaim/{}", r.claim)];
            match r.claim_ready_us.map(|us| us / 1000) {
                Some(ready_ms) if ready_ms > due_ms => self.violate(
                    Invariant::ClaimServed,
                    objects,
                    ready_ms,
                    format!(
                        "Ready at {ready_ms} ms, {} ms past its bound",
                        ready_ms - due_ms
                    ),
                ),
                Some(_) => {}
                None if reason
                    .as_deref()
                    .is_some_and(|why| TERMINAL_REASONS.contains(&why)) => {}
                None => self.violate(
                    Invariant::ClaimServed,
                    objects,
                    now_ms,
                    match reason {
                        Some(why) => format!("never Ready (last reason {why})"),
                        None => "never Ready, no status".into(),
                    },
                ),
            }
        }
        self.violations.sort_by_key(|v| (v.at_ms, v.invariant));
        self.violations
    }
}

/// Sandboxes of the run that no live claim or pool controls, from one read of each at `at_ms`:
/// `sandboxes` as (name, controller UID, being deleted), `owners` the UIDs of the claims and
/// pools that exist.
pub fn orphans(
    sandboxes: &[(String, Option<String>, bool)],
    owners: &BTreeSet<String>,
    at_ms: u64,
) -> Vec<Violation> {
    sandboxes
        .iter()
        .filter(|(_, _, deleting)| !deleting)
        .filter(|(_, owner, _)| owner.as_ref().is_none_or(|o| !owners.contains(o)))
        .map(|(sandbox, owner, _)| Violation {
            invariant: Invariant::NoOrphanSandbox,
            objects: vec![format!("sandbox/{sandbox}")],
            at_ms,
            detail: match owner {
                Some(uid) => format!("its controller {uid} no longer exists"),
                None => "has no controller".into(),
            },
        })
        .collect()
}

/// Pools below their replica count, from `(name, replicas, ready)` read at `at_ms`.
pub fn unfilled_pools(pools: &[(String, u32, u32)], at_ms: u64) -> Vec<Violation> {
    pools
        .iter()
        .filter(|(_, replicas, ready)| ready < replicas)
        .map(|(pool, replicas, ready)| Violation {
            invariant: Invariant::PoolRefilled,
            objects: vec![format!("sandboxwarmpool/{pool}")],
            at_ms,
            detail: format!("{ready} of {replicas} Ready at the recovery bound"),
        })
        .collect()
}

/// Counts of violations by invariant, for the summary line.
pub fn tally(violations: &[Violation]) -> BTreeMap<Invariant, usize> {
    let mut out = BTreeMap::new();
    for v in violations {
        *out.entry(v.invariant).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_reports::LaunchType;
    use serde_json::json;

    fn claim(name: &str, uid: &str, sandbox: &str, reason: Option<&str>) -> SandboxClaim {
        let mut status = json!({"sandbox": {"name": sandbox}});
        if let Some(why) = reason {
            status["conditions"] = json!([{"type": "Ready", "status": "False", "reason": why,
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
            "spec": {"warmPoolRef": {"name": "pool"}},
            "status": status
        }))
        .unwrap()
    }

    fn sandbox(name: &str, uid: &str, owner: Option<(&str, &str)>) -> Sandbox {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
            "spec": {"podTemplate": {"spec": {"containers": []}}}
        });
        if let Some((kind, owner_uid)) = owner {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "x/v1", "kind": kind,
                "name": "o", "uid": owner_uid, "controller": true}]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(uid: &str, sandbox_uid: &str, deleting: bool) -> Pod {
        let mut v = json!({"metadata": {"name": format!("p-{uid}"), "namespace": "ns",
            "uid": uid, "ownerReferences": [{"apiVersion": "agents.x-k8s.io/v1beta1",
            "kind": "Sandbox", "name": "sb", "uid": sandbox_uid, "controller": true}]}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    fn record(claim: &str, intended_ms: u64, ready_ms: Option<u64>) -> Record {
        let mut r = Record::new(claim, "pool", LaunchType::Warm, intended_ms * 1000);
        r.acked_us = Some(intended_ms * 1000 + 5_000);
        r.claim_ready_us = ready_ms.map(|ms| ms * 1000);
        r
    }

    fn kinds(violations: &[Violation]) -> Vec<Invariant> {
        violations.iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn two_claims_naming_one_sandbox_is_a_double_binding() {
        let mut c = Checker::default();
        c.on_claim(&claim("a", "ua", "pool-x", None), 10);
        c.on_claim(&claim("a", "ua", "pool-x", None), 11);
        assert!(c.violations.is_empty(), "the same claim again is fine");
        c.on_claim(&claim("b", "ub", "pool-x", None), 20);
        c.on_claim(&claim("b", "ub", "pool-x", None), 21);
        assert_eq!(kinds(&c.violations), [Invariant::SandboxHasOneClaim]);
        assert_eq!(c.violations[0].at_ms, 20);
        assert!(
            c.violations[0]
                .objects
                .contains(&"sandboxclaim/b".to_string())
        );
    }

    #[test]
    fn a_sandbox_controlled_by_a_second_claim_is_a_double_binding() {
        let mut c = Checker::default();
        c.on_sandbox(&sandbox("pool-x", "s1", Some(("SandboxWarmPool", "p"))), 1);
        c.on_sandbox(&sandbox("pool-x", "s1", Some(("SandboxClaim", "ua"))), 2);
        assert!(
            c.violations.is_empty(),
            "adoption from the pool is one binding"
        );
        c.on_sandbox(&sandbox("pool-x", "s1", Some(("SandboxClaim", "ub"))), 3);
        assert_eq!(kinds(&c.violations), [Invariant::SandboxHasOneClaim]);
    }

    #[test]
    fn a_claim_holding_two_live_sandboxes_is_caught_and_a_replacement_is_not() {
        let mut c = Checker::default();
        c.on_sandbox(&sandbox("pool-x", "s1", Some(("SandboxClaim", "ua"))), 1);
        c.on_sandbox(&sandbox("a", "s2", Some(("SandboxClaim", "ua"))), 2);
        assert_eq!(kinds(&c.violations), [Invariant::ClaimHasOneSandbox]);

        let mut replaced = Checker::default();
        let first = sandbox("pool-x", "s1", Some(("SandboxClaim", "ua")));
        replaced.on_sandbox(&first, 1);
        replaced.on_sandbox_deleted(&first);
        replaced.on_sandbox(&sandbox("a", "s2", Some(("SandboxClaim", "ua"))), 2);
        assert!(replaced.violations.is_empty(), "{:?}", replaced.violations);
    }

    #[test]
    fn a_claim_status_moving_to_another_sandbox_is_caught_unless_the_first_was_deleted() {
        let mut c = Checker::default();
        c.on_sandbox(&sandbox("pool-x", "s1", None), 1);
        c.on_claim(&claim("a", "ua", "pool-x", None), 2);
        c.on_claim(&claim("a", "ua", "pool-y", None), 3);
        assert_eq!(kinds(&c.violations), [Invariant::ClaimHasOneSandbox]);

        let mut after_delete = Checker::default();
        let first = sandbox("pool-x", "s1", None);
        after_delete.on_sandbox(&first, 1);
        after_delete.on_claim(&claim("a", "ua", "pool-x", None), 2);
        after_delete.on_sandbox_deleted(&first);
        after_delete.on_claim(&claim("a", "ua", "a", None), 3);
        assert!(after_delete.violations.is_empty());
    }

    #[test]
    fn two_live_pods_of_one_sandbox_are_caught_and_a_replaced_pod_is_not() {
        let mut c = Checker::default();
        c.on_pod(&pod("p1", "s1", false), 1);
        c.on_pod(&pod("p1", "s1", true), 2);
        c.on_pod(&pod("p2", "s1", false), 3);
        assert!(c.violations.is_empty(), "the first was terminating");
        c.on_pod_deleted(&pod("p1", "s1", true));
        c.on_pod(&pod("p3", "s1", false), 4);
        assert_eq!(kinds(&c.violations), [Invariant::OnePodPerSandbox]);
        assert_eq!(c.violations[0].at_ms, 4);
    }

    #[test]
    fn a_relist_forgets_pods_and_sandboxes_deleted_during_a_watch_gap() {
        let mut c = Checker::default();
        c.on_pod(&pod("p1", "s1", false), 1);
        // The watch was away while p1 went; the relist shows only its namesake's successor.
        c.pods_relisted(&HashSet::new());
        c.on_pod(&pod("p2", "s1", false), 2);
        assert!(c.violations.is_empty(), "{:?}", c.violations);

        let mut gap = Checker::default();
        gap.on_sandbox(&sandbox("pool-x", "s1", Some(("SandboxClaim", "ua"))), 1);
        gap.sandboxes_relisted(&HashSet::new());
        gap.on_sandbox(&sandbox("a", "s2", Some(("SandboxClaim", "ua"))), 2);
        assert!(gap.violations.is_empty(), "s1 was deleted in the gap");
    }

    #[test]
    fn a_claim_never_ready_or_ready_past_the_bound_is_not_served() {
        let mut c = Checker::default();
        c.on_claim(
            &claim("refused", "u3", "", Some(reason::INVALID_METADATA)),
            1,
        );
        c.on_claim(&claim("stuck", "u4", "", Some("SandboxNotReady")), 1);
        let mut unsent = Record::new("unsent", "pool", LaunchType::Unknown, 0);
        unsent.error = Some("create_failed".into());
        let records = vec![
            record("on-time", 1_000, Some(2_000)),
            // The last fault was repaired at 10 s: 10 s + 30 s bound.
            record("late-but-within", 1_000, Some(39_000)),
            record("late", 1_000, Some(41_000)),
            record("refused", 1_000, None),
            record("stuck", 1_000, None),
            record("silent", 1_000, None),
            unsent,
        ];
        let violations = c.finish(&records, 10_000, 30_000, 90_000);
        let objects: Vec<&str> = violations.iter().map(|v| v.objects[0].as_str()).collect();
        assert_eq!(
            objects,
            [
                "sandboxclaim/late",
                "sandboxclaim/stuck",
                "sandboxclaim/silent"
            ]
        );
        assert!(
            violations
                .iter()
                .all(|v| v.invariant == Invariant::ClaimServed)
        );
        assert_eq!(
            violations[1].detail,
            "never Ready (last reason SandboxNotReady)"
        );
        assert_eq!(violations[2].detail, "never Ready, no status");
    }

    #[test]
    fn orphans_are_sandboxes_without_a_live_controller() {
        let owners: BTreeSet<String> = ["claim-1".to_string(), "pool-1".into()].into();
        let found = orphans(
            &[
                ("a".into(), Some("claim-1".into()), false),
                ("b".into(), Some("pool-1".into()), false),
                ("c".into(), Some("gone".into()), false),
                ("d".into(), None, false),
                ("e".into(), Some("gone".into()), true),
            ],
            &owners,
            7,
        );
        let objects: Vec<&str> = found.iter().map(|v| v.objects[0].as_str()).collect();
        assert_eq!(objects, ["sandbox/c", "sandbox/d"]);
        assert!(
            found
                .iter()
                .all(|v| v.invariant == Invariant::NoOrphanSandbox)
        );
    }

    #[test]
    fn a_pool_below_its_replicas_is_not_refilled() {
        let found = unfilled_pools(&[("full".into(), 10, 10), ("short".into(), 10, 7)], 5);
        assert_eq!(kinds(&found), [Invariant::PoolRefilled]);
        assert_eq!(found[0].detail, "7 of 10 Ready at the recovery bound");
        assert_eq!(tally(&found)[&Invariant::PoolRefilled], 1);
    }
}
