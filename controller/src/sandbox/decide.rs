//! The Sandbox controller's decision: a pure function of the cached objects and the clock that
//! returns the writes to make, in order, and the status to report (spec §2.4–§2.11).
//!
//! Nothing here performs I/O. Objects the decision creates are not assumed to exist until their
//! watch events arrive and trigger the next pass, with one exception that upstream shares: a
//! Service created in this pass counts as existing for the Ready condition.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sandbox_api::common::ShutdownPolicy;
use sandbox_api::keys::{self, condition, reason};
use sandbox_api::v1beta1::{OperatingMode, Sandbox, SandboxStatus};
use serde_json::{Value, json};

use super::children::{self, Ownership};
use crate::conditions::{self, Desired, FALSE, TRUE, UNKNOWN};
use crate::events::Notice;
use crate::patch::merge_diff;

/// What the caches hold for one Sandbox.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub sandbox: &'a Sandbox,
    /// Pods in the namespace whose name-hash label equals this Sandbox's, whoever owns them.
    pub labelled_pods: &'a [&'a Pod],
    /// The Pod named [`children::pod_name`], whoever owns it.
    pub named_pod: Option<&'a Pod>,
    /// This process created that Pod and the cache does not show it yet.
    pub pod_create_in_flight: bool,
    /// The Service named after the Sandbox, whoever owns it.
    pub service: Option<&'a Service>,
    /// For each volume claim template, in order, the PVC of that name if it exists.
    pub pvcs: &'a [Option<&'a PersistentVolumeClaim>],
    pub now: &'a Time,
    pub cluster_domain: &'a str,
}

/// One write, in the order the plan lists them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreatePvc(Box<PersistentVolumeClaim>),
    PatchPvc {
        name: String,
        patch: Value,
    },
    CreatePod(Box<Pod>),
    PatchPod {
        name: String,
        patch: Value,
    },
    /// Deletes the Pod only if it is still the one with `uid` (a precondition).
    DeletePod {
        name: String,
        uid: String,
    },
    CreateService(Box<Service>),
    PatchService {
        name: String,
        patch: Value,
    },
    /// Adoption is a full update, as upstream does it, so a concurrent change is not lost.
    ReplaceService(Box<Service>),
    DeleteService {
        name: String,
        uid: String,
    },
    /// A merge patch of the Sandbox's own metadata (the `pod-name` annotation).
    PatchSandbox(Value),
    DeleteSandbox,
}

/// Everything one pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// A merge patch for the status subresource; `None` when status is unchanged.
    pub status: Option<Value>,
    pub requeue_after: Option<Duration>,
    /// A Warning event to record (the `MultiplePods` conflict).
    pub warning: Option<String>,
    /// An error to return after applying, so the work is retried with backoff.
    pub error: Option<String>,
    /// Ready turns True in this pass.
    pub became_ready: bool,
    /// The status write changes no condition's status and no address of a Ready Sandbox, so
    /// it may be coalesced with the next ([`crate::coalesce`]).
    pub status_can_wait: bool,
    /// Writes after `actions` that nobody waits for (an owned Pod's metadata following the
    /// Sandbox's), which may wait for a burst of claims to end ([`crate::burst`]).
    pub follow_ups: Vec<Action>,
    /// Lifecycle Events the status write records (Ready, suspended, expired, the Pod's end):
    /// published only once that write is done, so a write that fails or waits records none
    /// and the pass that makes it records them.
    pub notices: Vec<Notice>,
}

/// Delay before the second expiry pass.
const EXPIRY_STEP: Duration = Duration::from_millis(1);
/// Shortest requeue for a future `shutdownTime`.
const MIN_SHUTDOWN_REQUEUE: Duration = Duration::from_secs(2);

pub fn decide(o: Observed<'_>) -> Plan {
    if o.sandbox.metadata.deletion_timestamp.is_some() {
        return Plan::default(); // garbage collection removes the children
    }
    let current = o.sandbox.status.clone().unwrap_or_default();
    if let Some(until) = expires_in(o.sandbox, o.now) {
        if until.is_zero() {
            return decide_expired(&o, &current);
        }
        let mut plan = decide_live(&o, &current);
        let wait = until.max(MIN_SHUTDOWN_REQUEUE);
        plan.requeue_after = Some(plan.requeue_after.map_or(wait, |r| r.min(wait)));
        return plan;
    }
    decide_live(&o, &current)
}

/// Time left until `shutdownTime` (zero once reached), or `None` without one.
fn expires_in(sandbox: &Sandbox, now: &Time) -> Option<Duration> {
    let at = sandbox.spec.lifecycle.shutdown_time.as_ref()?;
    let left = at.0.duration_since(now.0);
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

fn generation(sandbox: &Sandbox) -> i64 {
    sandbox.metadata.generation.unwrap_or_default()
}

fn uid(sandbox: &Sandbox) -> &str {
    sandbox.metadata.uid.as_deref().unwrap_or_default()
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn pod_uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Whether the API server rejected a child of this generation of the Sandbox as invalid
/// (Ready=False/InvalidConfiguration observed at the current generation): the same writes
/// would be rejected again, so nothing is written until the spec changes.
fn rejected_for_good(sandbox: &Sandbox, current: &SandboxStatus) -> bool {
    conditions::find(&current.conditions, condition::READY).is_some_and(|c| {
        c.reason == reason::INVALID_CONFIGURATION
            && c.observed_generation == Some(generation(sandbox))
    })
}

/// The status write after the API server rejected one of the Sandbox's writes for good:
/// Ready=False/InvalidConfiguration with the server's message, at the current generation, so
/// that [`decide`] stops retrying until the spec changes. `None` when already so.
pub fn rejected_by_server(sandbox: &Sandbox, message: &str, now: &Time) -> Option<Value> {
    let current = sandbox.status.clone().unwrap_or_default();
    let mut status = current.clone();
    conditions::set(
        &mut status.conditions,
        Desired::new(
            condition::READY,
            FALSE,
            reason::INVALID_CONFIGURATION,
            message,
        ),
        generation(sandbox),
        now,
    );
    status_patch(&current, &status)
}

/// Two passes (spec §2.10): first mark Ready=False/SandboxExpired, then tear down.
fn decide_expired(o: &Observed<'_>, current: &SandboxStatus) -> Plan {
    let mut status = current.clone();
    let already = conditions::find(&status.conditions, condition::READY)
        .is_some_and(|c| c.reason == reason::SANDBOX_EXPIRED);
    set_expired(&mut status.conditions, generation(o.sandbox), o.now);
    if !already {
        conditions::remove(&mut status.conditions, condition::POD_SCHEDULED);
        // Under `Delete` the Sandbox is gone before anyone could read the Event.
        let retained = o.sandbox.spec.lifecycle.shutdown_policy != Some(ShutdownPolicy::Delete);
        return Plan {
            status: status_patch(current, &status),
            requeue_after: Some(EXPIRY_STEP),
            notices: retained
                .then(|| {
                    Notice::normal(
                        keys::event::SANDBOX_EXPIRED,
                        keys::event::ACTION_EXPIRY,
                        "Sandbox has expired",
                    )
                })
                .into_iter()
                .collect(),
            ..Plan::default()
        };
    }
    let mut plan = Plan::default();
    let sandbox_uid = uid(o.sandbox);
    if let Some(pod) = o.named_pod
        && children::is_controlled_by(&pod.metadata, sandbox_uid)
        && pod.metadata.deletion_timestamp.is_none()
    {
        plan.actions.push(Action::DeletePod {
            name: name_of(&pod.metadata),
            uid: pod_uid(pod),
        });
    }
    if let Some(svc) = o.service
        && children::is_controlled_by(&svc.metadata, sandbox_uid)
    {
        plan.actions.push(Action::DeleteService {
            name: name_of(&svc.metadata),
            uid: svc.metadata.uid.clone().unwrap_or_default(),
        });
    }
    if o.sandbox.spec.lifecycle.shutdown_policy == Some(ShutdownPolicy::Delete) {
        plan.actions.push(Action::DeleteSandbox);
        return plan;
    }
    // Retain: only the conditions survive (Finished included); no further requeue.
    let reset = SandboxStatus {
        conditions: status.conditions,
        ..SandboxStatus::default()
    };
    plan.status = status_patch(current, &reset);
    plan
}

fn set_expired(conds: &mut Vec<Condition>, generation: i64, now: &Time) {
    conditions::set(
        conds,
        Desired::new(
            condition::READY,
            FALSE,
            reason::SANDBOX_EXPIRED,
            "Sandbox has expired",
        ),
        generation,
        now,
    );
}

/// What the Pod step found and did.
struct PodOutcome<'a> {
    /// The Pod this pass works with (owned, adoptable or foreign), if any.
    pod: Option<&'a Pod>,
    /// Whether [`PodOutcome::pod`] is (or is being made) controlled by the Sandbox.
    owned: bool,
    /// `Some(n)` when `n > 1` Pods are controlled by the Sandbox.
    multiple: Option<usize>,
}

fn decide_live(o: &Observed<'_>, current: &SandboxStatus) -> Plan {
    if rejected_for_good(o.sandbox, current) {
        return Plan::default(); // until the spec changes (a new generation)
    }
    let mut plan = Plan::default();
    let mut errors: Vec<String> = Vec::new();

    decide_pvcs(o, &mut plan, &mut errors);
    let outcome = decide_pod(o, &mut plan, &mut errors);

    let mut status = current.clone();
    status_from_pod(o, &outcome, &mut status);
    let service = if outcome.multiple.is_none() {
        decide_service(o, &mut plan, &mut errors, &mut status)
    } else {
        ServiceOutcome::default()
    };

    let suspended = o.sandbox.spec.operating_mode == Some(OperatingMode::Suspended);
    let generation = generation(o.sandbox);
    let conds = &mut status.conditions;
    conditions::set(
        conds,
        suspended_condition(suspended, &outcome),
        generation,
        o.now,
    );
    match finished_condition(&outcome) {
        Some(c) => {
            conditions::set(conds, c, generation, o.now);
        }
        None => {
            conditions::remove(conds, condition::FINISHED);
        }
    }
    match pod_scheduled_condition(&outcome) {
        Some(c) => {
            conditions::set(conds, c, generation, o.now);
        }
        None => {
            conditions::remove(conds, condition::POD_SCHEDULED);
        }
    }
    let ready = ready_condition(&outcome, &errors, suspended, service);
    let was_multiple = conditions::find(conds, condition::READY)
        .is_some_and(|c| c.reason == reason::MULTIPLE_PODS);
    conditions::set(conds, ready, generation, o.now);

    if let Some(n) = outcome.multiple {
        if !was_multiple {
            plan.warning = Some(multiple_pods_message(n));
        }
    } else if !errors.is_empty() {
        plan.error = Some(errors.join("; "));
    }
    plan.became_ready = !conditions::is_true(&current.conditions, condition::READY)
        && conditions::is_true(&status.conditions, condition::READY);
    plan.notices = ready_transition_notice(current, &status)
        .into_iter()
        .collect();
    if !only_node_name_changed_while_not_ready(current, &status) {
        keep_condition_order(&current.conditions, &mut status.conditions);
        plan.status = status_patch(current, &status);
        plan.status_can_wait = can_wait(current, &status);
    }
    plan
}

/// The Event of a change of the Ready condition worth a line in `kubectl describe`: turning
/// Ready, suspended, or the Pod's end. Nothing when the reason stays (a pass that only
/// rewrites the message records nothing again).
fn ready_transition_notice(current: &SandboxStatus, desired: &SandboxStatus) -> Option<Notice> {
    use keys::event;
    let ready = |s: &SandboxStatus| conditions::find(&s.conditions, condition::READY).cloned();
    let after = ready(desired)?;
    let before = ready(current);
    if before
        .as_ref()
        .is_some_and(|b| b.status == after.status && b.reason == after.reason)
    {
        return None;
    }
    if after.status == TRUE {
        return Some(Notice::normal(
            event::SANDBOX_READY,
            event::ACTION_READY,
            "Sandbox is Ready",
        ));
    }
    match after.reason.as_str() {
        reason::SANDBOX_SUSPENDED => Some(Notice::normal(
            event::SANDBOX_SUSPENDED,
            event::ACTION_SUSPENSION,
            after.message,
        )),
        reason::POD_SUCCEEDED => Some(Notice::normal(
            event::POD_SUCCEEDED,
            event::ACTION_POD_COMPLETION,
            after.message,
        )),
        reason::POD_FAILED => Some(Notice::warning(
            event::POD_FAILED,
            event::ACTION_POD_COMPLETION,
            after.message,
        )),
        _ => None,
    }
}

/// Puts `desired`'s conditions in the order `current` has them (new ones after): a list that
/// differs only in order would otherwise cost a status write that changes nothing.
fn keep_condition_order(current: &[Condition], desired: &mut [Condition]) {
    let position = |c: &Condition| {
        current
            .iter()
            .position(|x| x.type_ == c.type_)
            .unwrap_or(usize::MAX)
    };
    desired.sort_by_key(position);
}

/// Whether going from `current` to `desired` is a detail nobody waits for: Ready, Suspended
/// and Finished keep their status (a reason, a message, an observedGeneration, the mirrored
/// `PodScheduled` may change; a first status that is not Ready counts as keeping it), and a
/// Ready Sandbox keeps its addresses. A Sandbox turning Ready or not Ready, and a suspension
/// or a finish are written at once.
fn can_wait(current: &SandboxStatus, desired: &SandboxStatus) -> bool {
    let flips = [condition::READY, condition::SUSPENDED, condition::FINISHED]
        .into_iter()
        .any(|type_| {
            let status = |s: &SandboxStatus| {
                conditions::find(&s.conditions, type_).map(|c| c.status.clone())
            };
            status(current) != status(desired)
        });
    let ready = conditions::is_true(&desired.conditions, condition::READY);
    let first_not_ready = conditions::find(&current.conditions, condition::READY).is_none()
        && conditions::find(&desired.conditions, condition::READY)
            .is_some_and(|c| c.status == FALSE)
        && conditions::find(&desired.conditions, condition::FINISHED).is_none()
        && !conditions::is_true(&desired.conditions, condition::SUSPENDED);
    (first_not_ready || !flips)
        && !(ready
            && (current.pod_ips != desired.pod_ips || current.service_fqdn != desired.service_fqdn))
}

fn multiple_pods_message(n: usize) -> String {
    format!(
        "multiple Pods ({n}) are controlled by this Sandbox; refusing to choose or create a Pod"
    )
}

/// PVCs from `volumeClaimTemplates` (spec §2.9): created when missing, adopted when allowed,
/// never deleted.
fn decide_pvcs(o: &Observed<'_>, plan: &mut Plan, errors: &mut Vec<String>) {
    let templates = &o.sandbox.spec.blueprint.volume_claim_templates;
    for (i, vct) in templates.iter().enumerate() {
        let existing = o.pvcs.get(i).copied().flatten();
        match existing {
            None => plan
                .actions
                .push(Action::CreatePvc(Box::new(children::new_pvc(
                    o.sandbox, vct,
                )))),
            Some(pvc) => match children::ownership(&pvc.metadata, uid(o.sandbox)) {
                Ownership::OwnedBySandbox => {}
                Ownership::OwnedByOther(_) => errors.push(format!(
                    "PersistentVolumeClaim {} is controlled by another controller",
                    name_of(&pvc.metadata)
                )),
                Ownership::Unowned if children::may_adopt(&pvc.metadata, o.sandbox) => {
                    plan.actions.push(Action::PatchPvc {
                        name: name_of(&pvc.metadata),
                        patch: children::adoption_patch(&pvc.metadata, o.sandbox),
                    })
                }
                Ownership::Unowned => errors.push(format!(
                    "cannot adopt unowned PersistentVolumeClaim {}",
                    name_of(&pvc.metadata)
                )),
            },
        }
    }
}

/// The Pod (spec §2.7).
fn decide_pod<'a>(o: &Observed<'a>, plan: &mut Plan, errors: &mut Vec<String>) -> PodOutcome<'a> {
    let sandbox_uid = uid(o.sandbox);
    let mut owned: Vec<&Pod> = o
        .labelled_pods
        .iter()
        .copied()
        .filter(|p| children::is_controlled_by(&p.metadata, sandbox_uid))
        .collect();
    if let Some(named) = o.named_pod
        && children::is_controlled_by(&named.metadata, sandbox_uid)
        && !owned.iter().any(|p| p.metadata.uid == named.metadata.uid)
    {
        owned.push(named);
    }
    if owned.len() > 1 {
        return PodOutcome {
            pod: None,
            owned: false,
            multiple: Some(owned.len()),
        };
    }

    let annotation = pod_name_annotation(o.sandbox);
    let mut clear_annotation = annotation.is_some() && o.named_pod.is_none();
    let pod = match owned.first() {
        Some(owned_pod) => {
            if annotation.is_some()
                && o.named_pod
                    .is_none_or(|n| n.metadata.uid != owned_pod.metadata.uid)
            {
                clear_annotation = true;
            }
            Some(*owned_pod)
        }
        None => o.named_pod,
    };

    let suspended = o.sandbox.spec.operating_mode == Some(OperatingMode::Suspended);
    if suspended {
        let outcome = match pod {
            Some(p) if children::is_controlled_by(&p.metadata, sandbox_uid) => {
                if p.metadata.deletion_timestamp.is_none() {
                    plan.actions.push(Action::DeletePod {
                        name: name_of(&p.metadata),
                        uid: pod_uid(p),
                    });
                }
                PodOutcome {
                    pod: Some(p),
                    owned: true,
                    multiple: None,
                }
            }
            other => {
                clear_annotation |= annotation.is_some();
                PodOutcome {
                    pod: other,
                    owned: false,
                    multiple: None,
                }
            }
        };
        if clear_annotation {
            plan.actions.push(clear_pod_name_annotation());
        }
        return outcome;
    }

    let Some(pod) = pod else {
        // Our own create is on its way to the cache: creating again would only be refused.
        if o.pod_create_in_flight {
            return PodOutcome {
                pod: None,
                owned: true,
                multiple: None,
            };
        }
        if clear_annotation {
            plan.actions.push(clear_pod_name_annotation());
        }
        plan.actions
            .push(Action::CreatePod(Box::new(children::new_pod(o.sandbox))));
        return PodOutcome {
            pod: None,
            owned: true,
            multiple: None,
        };
    };

    let pod_name = name_of(&pod.metadata);
    let adopt = match children::ownership(&pod.metadata, sandbox_uid) {
        Ownership::OwnedBySandbox => false,
        Ownership::OwnedByOther(_) => {
            if annotation.is_some() {
                plan.actions.push(clear_pod_name_annotation());
            }
            errors.push(format!(
                "Pod {pod_name} is controlled by another controller"
            ));
            return PodOutcome {
                pod: Some(pod),
                owned: false,
                multiple: None,
            };
        }
        Ownership::Unowned if children::may_adopt(&pod.metadata, o.sandbox) => true,
        Ownership::Unowned => {
            if clear_annotation {
                plan.actions.push(clear_pod_name_annotation());
            }
            errors.push(format!("cannot adopt unowned pod {pod_name}"));
            return PodOutcome {
                pod: Some(pod),
                owned: false,
                multiple: None,
            };
        }
    };
    if let Some(patch) = children::pod_metadata_patch(o.sandbox, pod, adopt) {
        let patch = Action::PatchPod {
            name: pod_name.clone(),
            patch,
        };
        // Taking the Pod is the Sandbox's business now; its labels following the template's
        // metadata (after a claim's adoption above all) is nobody's.
        if adopt {
            plan.actions.push(patch);
        } else {
            plan.follow_ups.push(patch);
        }
    }
    // Upstream v1.0 no longer writes the annotation (docs/upstream-differences.md); a legacy
    // value still names the Pod and a stale one is still cleared.
    if clear_annotation {
        plan.actions.push(clear_pod_name_annotation());
    }
    PodOutcome {
        pod: Some(pod),
        owned: true,
        multiple: None,
    }
}

fn pod_name_annotation(sandbox: &Sandbox) -> Option<&str> {
    sandbox
        .metadata
        .annotations
        .as_ref()?
        .get(keys::POD_NAME_ANNOTATION)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Removes the legacy `pod-name` annotation.
fn clear_pod_name_annotation() -> Action {
    Action::PatchSandbox(json!({"metadata": {"annotations": {keys::POD_NAME_ANNOTATION: null}}}))
}

/// Status fields that follow the Pod (spec §2.6 step 6).
fn status_from_pod(o: &Observed<'_>, outcome: &PodOutcome<'_>, status: &mut SandboxStatus) {
    match outcome.pod {
        None => {
            status.pod_ips.clear();
            status.node_name.clear();
        }
        Some(pod) => {
            status.selector = format!(
                "{}={}",
                keys::SANDBOX_NAME_HASH_LABEL,
                sandbox_api::NameHash::of(&name_of(&o.sandbox.metadata))
            );
            if outcome.owned {
                status.pod_ips = pod_ips(pod);
                status.node_name = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default();
            } else {
                status.pod_ips.clear();
                status.node_name.clear();
            }
        }
    }
}

fn pod_ips(pod: &Pod) -> Vec<String> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
        .unwrap_or_default()
}

/// What the Service step means for the Ready condition.
#[derive(Debug, Clone, Copy, Default)]
struct ServiceOutcome {
    required: bool,
    exists: bool,
}

/// The headless Service (spec §2.8), with its tri-state `service` switch.
fn decide_service(
    o: &Observed<'_>,
    plan: &mut Plan,
    errors: &mut Vec<String>,
    status: &mut SandboxStatus,
) -> ServiceOutcome {
    let want = o.sandbox.spec.blueprint.service;
    let name = name_of(&o.sandbox.metadata);
    let in_use = |status: &mut SandboxStatus| {
        status.service = name.clone();
        status.service_fqdn = children::service_fqdn(o.sandbox, o.cluster_domain);
    };
    let clear = |status: &mut SandboxStatus| {
        status.service.clear();
        status.service_fqdn.clear();
    };
    let Some(svc) = o.service else {
        if want == Some(true) {
            plan.actions
                .push(Action::CreateService(Box::new(children::new_service(
                    o.sandbox,
                ))));
            in_use(status);
            return ServiceOutcome {
                required: true,
                exists: true,
            };
        }
        clear(status);
        return ServiceOutcome {
            required: want == Some(true),
            exists: false,
        };
    };
    let ownership = children::ownership(&svc.metadata, uid(o.sandbox));
    if want == Some(false) {
        if ownership == Ownership::OwnedBySandbox {
            plan.actions.push(Action::DeleteService {
                name: name_of(&svc.metadata),
                uid: svc.metadata.uid.clone().unwrap_or_default(),
            });
        }
        clear(status);
        return ServiceOutcome::default();
    }
    match ownership {
        Ownership::OwnedByOther(_) => {
            errors.push(format!(
                "Service {name} is controlled by another controller"
            ));
            ServiceOutcome {
                required: want == Some(true),
                exists: false,
            }
        }
        Ownership::Unowned if want.is_none() => {
            clear(status);
            ServiceOutcome::default()
        }
        Ownership::Unowned => {
            if children::service_adoptable(svc, o.sandbox) {
                plan.actions
                    .push(Action::ReplaceService(Box::new(children::adopted_service(
                        o.sandbox, svc,
                    ))));
                in_use(status);
                ServiceOutcome {
                    required: true,
                    exists: true,
                }
            } else {
                errors.push(format!("cannot adopt unowned Service {name}"));
                ServiceOutcome {
                    required: true,
                    exists: false,
                }
            }
        }
        Ownership::OwnedBySandbox => {
            if let Some(patch) = children::service_repair_patch(o.sandbox, svc, want == Some(true))
            {
                plan.actions.push(Action::PatchService {
                    name: name.clone(),
                    patch,
                });
            }
            in_use(status);
            ServiceOutcome {
                required: true,
                exists: true,
            }
        }
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn pod_condition<'p>(
    pod: &'p Pod,
    type_: &str,
) -> Option<&'p k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn suspended_condition(suspended: bool, outcome: &PodOutcome<'_>) -> Desired<'static> {
    let (status, why, message) = match (suspended, outcome.pod, outcome.owned) {
        (false, _, _) => (FALSE, reason::NOT_SUSPENDED, "Sandbox is not suspended"),
        (true, None, _) => (TRUE, reason::POD_TERMINATED, "Pod is terminated"),
        (true, Some(_), false) => (
            FALSE,
            reason::POD_NOT_OWNED,
            "Pod is not owned by this Sandbox",
        ),
        (true, Some(_), true) => (FALSE, reason::POD_TERMINATING, "Pod is terminating"),
    };
    Desired::new(condition::SUSPENDED, status, why, message)
}

fn finished_condition(outcome: &PodOutcome<'_>) -> Option<Desired<'static>> {
    let pod = outcome.pod.filter(|_| outcome.owned)?;
    match phase(pod) {
        "Succeeded" => Some(Desired::new(
            condition::FINISHED,
            TRUE,
            reason::POD_SUCCEEDED,
            "Pod completed successfully",
        )),
        "Failed" => Some(Desired::new(
            condition::FINISHED,
            TRUE,
            reason::POD_FAILED,
            "Pod failed",
        )),
        _ => None,
    }
}

fn pod_scheduled_condition<'p>(outcome: &PodOutcome<'p>) -> Option<Desired<'p>> {
    let pod = outcome.pod.filter(|_| outcome.owned)?;
    Some(match pod_condition(pod, "PodScheduled") {
        None => Desired::new(
            condition::POD_SCHEDULED,
            UNKNOWN,
            reason::POD_SCHEDULING_UNKNOWN,
            "",
        ),
        Some(c) => {
            let why = match c.reason.as_deref() {
                Some(r) if !r.is_empty() => r,
                _ if c.status == TRUE => reason::POD_SCHEDULED,
                _ => reason::POD_SCHEDULING_UNKNOWN,
            };
            Desired::new(
                condition::POD_SCHEDULED,
                c.status.as_str(),
                why,
                c.message.clone().unwrap_or_default(),
            )
        }
    })
}

/// Ready, in upstream's order of precedence (spec §2.4).
fn ready_condition(
    outcome: &PodOutcome<'_>,
    errors: &[String],
    suspended: bool,
    service: ServiceOutcome,
) -> Desired<'static> {
    let not_ready = |why, message: String| Desired::new(condition::READY, FALSE, why, message);
    if let Some(n) = outcome.multiple {
        return not_ready(reason::MULTIPLE_PODS, multiple_pods_message(n));
    }
    if !errors.is_empty() {
        return not_ready(
            reason::RECONCILER_ERROR,
            format!("Error seen: {}", errors.join("; ")),
        );
    }
    if suspended {
        let message = if outcome.pod.is_some() {
            "Sandbox is suspending"
        } else {
            "Sandbox is suspended"
        };
        return not_ready(reason::SANDBOX_SUSPENDED, message.into());
    }
    let pod = outcome.pod;
    match pod.map(phase) {
        Some("Succeeded") => {
            return not_ready(reason::POD_SUCCEEDED, "Pod completed successfully".into());
        }
        Some("Failed") => return not_ready(reason::POD_FAILED, "Pod failed".into()),
        _ => {}
    }
    let (pod_ok, mut message) = match pod {
        None => (false, "Pod does not exist".to_string()),
        // Its containers are being stopped: no longer worth sending work to (upstream v1.0.11).
        Some(p) if p.metadata.deletion_timestamp.is_some() => {
            (false, "Pod is terminating".to_string())
        }
        Some(p) if phase(p) != "Running" => (false, format!("Pod exists with phase: {}", phase(p))),
        Some(p) if pod_condition(p, "Ready").is_none_or(|c| c.status != TRUE) => {
            (false, "Pod is Running but not Ready".to_string())
        }
        Some(p) if pod_ips(p).is_empty() => {
            (false, "Pod is Ready but has no podIPs yet".to_string())
        }
        Some(_) => (true, "Pod is Ready".to_string()),
    };
    let mut ok = pod_ok;
    if service.required {
        message.push_str(if service.exists {
            "; Service Exists"
        } else {
            "; Service does not exist"
        });
        ok &= service.exists;
    }
    if ok {
        Desired::new(condition::READY, TRUE, reason::DEPENDENCIES_READY, message)
    } else {
        not_ready(reason::DEPENDENCIES_NOT_READY, message)
    }
}

/// Upstream skips a write whose only change is `nodeName` while Ready is not True: the node
/// rides along with the next write.
fn only_node_name_changed_while_not_ready(
    current: &SandboxStatus,
    desired: &SandboxStatus,
) -> bool {
    current.node_name != desired.node_name
        && !conditions::is_true(&desired.conditions, condition::READY)
        && SandboxStatus {
            node_name: String::new(),
            ..current.clone()
        } == SandboxStatus {
            node_name: String::new(),
            ..desired.clone()
        }
}

/// The status merge patch, `None` when nothing changed.
fn status_patch(current: &SandboxStatus, desired: &SandboxStatus) -> Option<Value> {
    // Most passes change nothing; comparing first spares them two conversions to JSON.
    if current == desired {
        return None;
    }
    let (old, new) = (
        serde_json::to_value(current).ok()?,
        serde_json::to_value(desired).ok()?,
    );
    merge_diff(&old, &new).map(|diff| json!({ "status": diff }))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
