//! The SandboxWarmPool decision (spec §4.4): which members to adopt, replace, create or delete,
//! and the pool's status. Pure: the caches, the writes still in flight and the clock come in.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use sandbox_api::keys::{self, condition, event};
use sandbox_api::v1beta1::{
    Sandbox, SandboxTemplate, SandboxWarmPool, SandboxWarmPoolStatus, UpdateStrategyType,
};
use serde_json::{Value, json};

use super::build::{Staleness, new_member_with};
use super::shaping::{PoolShaping, Settings};
use crate::conditions;
use crate::events::Notice;
use crate::patch::merge_diff;
use crate::sandbox::children::controller_of;
use crate::sandbox::children::controller_ref;
use crate::sandbox::is_ready;

/// What the caches hold for one pool.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub pool: &'a SandboxWarmPool,
    /// Sandboxes in the namespace labelled with this pool's name hash, whoever controls them.
    pub members: &'a [&'a Sandbox],
    /// The referenced template; `None` when it does not exist.
    pub template: Option<&'a SandboxTemplate>,
    /// Members this controller created that the cache does not show yet.
    pub pending_creates: usize,
    /// Members this controller deleted that the cache still shows.
    pub pending_deletes: &'a BTreeSet<String>,
    /// Members a claim adopted that the cache still shows as this pool's.
    pub departed: &'a BTreeSet<String>,
    pub now: &'a Time,
    /// How long a member may take to become Ready before it is replaced, unless the pool
    /// sets its own (`spec.readinessGracePeriodSeconds`).
    pub readiness_grace: Duration,
    /// How often a pool holding unschedulable members looks again.
    pub unschedulable_recheck: Duration,
    /// New members' Pods are marked safe for the cluster autoscaler to evict.
    pub safe_to_evict: bool,
    /// Batch size, replenish hold and refill rate.
    pub shaping: &'a Settings,
    /// This pool's hold and token bucket as the last pass left them.
    pub shaping_state: &'a PoolShaping,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(Box<Sandbox>),
    /// Deletes the member only as the cache saw it: a claim that adopted it since changed its
    /// resourceVersion, and the delete then fails instead of taking the claim's Sandbox.
    Delete {
        name: String,
        uid: String,
        resource_version: String,
    },
    /// A merge patch of a member's metadata (adoption of an orphan, the warm label).
    Patch {
        name: String,
        patch: Value,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Merge patch for the status subresource; `None` when unchanged.
    pub status: Option<Value>,
    pub requeue_after: Option<Duration>,
    /// The shaping state to keep for the next pass.
    pub shaping: PoolShaping,
    /// Why the pool is not progressing: members past the grace period that cannot be
    /// scheduled are held, not replaced. `None` while it progresses.
    pub not_progressing: Option<String>,
}
/// Slack added to a readiness deadline so the requeue lands after it.
const DEADLINE_SLACK: Duration = Duration::from_secs(2);

pub fn decide(o: Observed<'_>) -> Plan {
    let pool = o.pool;
    if pool.metadata.deletion_timestamp.is_some() {
        return Plan::default(); // members go with the pool through garbage collection
    }
    let pool_uid = pool.metadata.uid.clone().unwrap_or_default();
    let recreate = pool.spec.update_strategy.as_ref().and_then(|s| s.type_)
        == Some(UpdateStrategyType::Recreate);
    let mut plan = Plan {
        shaping: o.shaping_state.clone(),
        ..Plan::default()
    };
    let mut terminating = 0usize;
    let mut active: Vec<&Sandbox> = Vec::new();
    let staleness = o.template.map(Staleness::of);

    for &member in o.members {
        // Runs for every member of the pool on every pass: nothing here allocates unless the
        // member needs a write.
        let name = member.metadata.name.as_deref().unwrap_or_default();
        let controller = controller_of(&member.metadata);
        let owned = controller.is_some_and(|r| r.uid == pool_uid);
        if member.metadata.deletion_timestamp.is_some()
            || (owned && o.pending_deletes.contains(name))
        {
            terminating += usize::from(owned);
            continue;
        }
        if (controller.is_some() && !owned) || o.departed.contains(name) {
            continue; // adopted by a claim; the cache has not seen all of it yet
        }
        let orphan = controller.is_none();
        if let Some(staleness) = &staleness
            && (recreate || orphan)
            && staleness.is_stale(member)
        {
            plan.actions.push(delete(member));
            terminating += usize::from(owned);
            continue;
        }
        if orphan {
            plan.actions.push(Action::Patch {
                name: name.to_string(),
                patch: json!({"metadata": {
                    "ownerReferences": [controller_ref(pool)],
                    "labels": {keys::LAUNCH_TYPE_LABEL: keys::LAUNCH_TYPE_WARM},
                }}),
            });
        } else if member
            .labels()
            .get(keys::LAUNCH_TYPE_LABEL)
            .map(String::as_str)
            != Some(keys::LAUNCH_TYPE_WARM)
        {
            plan.actions.push(Action::Patch {
                name: name.to_string(),
                patch: json!({"metadata": {"labels": {keys::LAUNCH_TYPE_LABEL: keys::LAUNCH_TYPE_WARM}}}),
            });
        }
        active.push(member);
    }

    // Members not Ready within the grace period are replaced, unless they cannot be scheduled
    // at all: a replacement would not schedule either, so they are held (spec §4.4 step 5).
    // Members whose Pods wait on scheduling gates wait on purpose (a queue such as Kueue
    // admits them): they are neither replaced nor reported stuck (upstream v1.0.7).
    let grace = readiness_grace(pool, o.readiness_grace);
    let mut earliest: Option<Duration> = None;
    let mut unschedulable = 0usize;
    active.retain(|m| {
        if is_ready(m) || is_scheduling_gated(m) {
            return true;
        }
        let age = age(m, o.now);
        if age <= grace {
            let left = grace - age + DEADLINE_SLACK;
            earliest = Some(earliest.map_or(left, |e| e.min(left)));
            return true;
        }
        if is_unschedulable(m) {
            unschedulable += 1;
            return true;
        }
        plan.actions.push(delete(m));
        terminating += 1;
        false
    });
    plan.requeue_after = earliest;

    let desired = usize::try_from(
        pool.spec
            .replicas
            .unwrap_or(sandbox_api::v1beta1::DEFAULT_REPLICAS),
    )
    .unwrap_or(0);
    // A missing template is why nothing can be created, so it is the reason given; a pool
    // scaled to zero needs no template (upstream v1.0.7).
    let template_missing = o.template.is_none() && desired > 0;
    if template_missing {
        plan.not_progressing = Some(format!(
            "SandboxTemplate {:?} not found; keeping the {} existing sandboxes and creating none \
             until it exists",
            pool.spec.sandbox_template_ref.name,
            active.len()
        ));
        requeue_within(&mut plan, o.unschedulable_recheck);
    } else if unschedulable > 0 {
        plan.not_progressing = Some(format!(
            "{unschedulable}/{desired} sandboxes are unschedulable past the {} readiness grace \
             period; holding them instead of replacing (replacements would be equally \
             unschedulable)",
            go_duration(grace)
        ));
        requeue_within(&mut plan, o.unschedulable_recheck);
    }
    let current = active.len();
    let total = current + terminating + o.pending_creates;
    let now = o.now.0;
    // Members that just left (adopted by claims) hold replacements back for a while, keyed on
    // the active count so a drop still draining as terminating members keeps the hold armed.
    let ready = active.iter().filter(|m| is_ready(m)).count();
    let refill = plan
        .shaping
        .observe_members(current, ready, desired, now, o.shaping);
    if let Some(template) = o.template {
        if !refill.recheck.is_zero() && current < desired {
            requeue_within(&mut plan, refill.recheck);
        }
        if total < refill.up_to {
            let deficit = (refill.up_to - total).min(o.shaping.max_batch);
            let (granted, wait) = plan
                .shaping
                .take_tokens(deficit, now, o.shaping.max_refill_rate);
            // An empty bucket creates nothing, so no watch event will wake the pool: the
            // next token will. A partial grant is woken by its own creates.
            if granted == 0 {
                requeue_within(&mut plan, wait);
            }
            for _ in 0..granted {
                plan.actions.push(Action::Create(Box::new(new_member_with(
                    pool,
                    template,
                    o.safe_to_evict,
                ))));
            }
        }
    }
    if current > desired {
        // Not Ready first, then newest first (spec §4.4 step 8).
        let mut victims = active.clone();
        victims.sort_by(|a, b| {
            is_ready(a)
                .cmp(&is_ready(b))
                .then_with(|| created(b).cmp(&created(a)))
        });
        for m in victims
            .into_iter()
            .take((current - desired).min(o.shaping.max_batch))
        {
            plan.actions.push(delete(m));
        }
    }

    let updated_ready = staleness.as_ref().map_or(0, |staleness| {
        active
            .iter()
            .filter(|m| is_ready(m) && !staleness.is_stale(m))
            .count()
    });
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let status = SandboxWarmPoolStatus {
        replicas: count(current),
        ready_replicas: count(ready),
        updated_ready_replicas: count(updated_ready),
        conditions: progressing(
            pool,
            template_missing,
            plan.not_progressing.as_deref(),
            o.now,
        ),
        selector: format!(
            "{}={}",
            keys::WARM_POOL_SANDBOX_LABEL,
            sandbox_api::name_hash(&pool.name_any())
        ),
        observed_generation: pool.metadata.generation.unwrap_or_default(),
    };
    let before = serde_json::to_value(pool.status.clone().unwrap_or_default()).unwrap_or_default();
    let after = serde_json::to_value(&status).unwrap_or_default();
    plan.status = merge_diff(&before, &after).map(|d| json!({ "status": d }));
    plan
}

/// The pool's conditions with `Progressing` as this pass finds it: False for a missing
/// template (`SandboxTemplateError`) or members stuck unschedulable (`WarmPoolNotProgressing`),
/// with the same message as the Event; True otherwise.
fn progressing(
    pool: &SandboxWarmPool,
    template_missing: bool,
    not_progressing: Option<&str>,
    now: &Time,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    use keys::reason;
    let desired = match not_progressing {
        Some(why) if template_missing => conditions::Desired::new(
            condition::PROGRESSING,
            conditions::FALSE,
            reason::SANDBOX_TEMPLATE_ERROR,
            why,
        ),
        Some(why) => conditions::Desired::new(
            condition::PROGRESSING,
            conditions::FALSE,
            reason::WARM_POOL_NOT_PROGRESSING,
            why,
        ),
        None => conditions::Desired::new(
            condition::PROGRESSING,
            conditions::TRUE,
            reason::WARM_POOL_PROGRESSING,
            "Warm pool is progressing",
        ),
    };
    let mut conds = pool
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    conditions::set(
        &mut conds,
        desired,
        pool.metadata.generation.unwrap_or_default(),
        now,
    );
    conds
}

/// The Event for a change in the pool's progress; upstream emits transitions only.
pub fn progress_notice(was_stalled: bool, not_progressing: Option<&str>) -> Option<Notice> {
    match (was_stalled, not_progressing) {
        (false, Some(why)) => Some(Notice::warning(
            event::WARM_POOL_NOT_PROGRESSING,
            event::ACTION_RECONCILING,
            why,
        )),
        (true, None) => Some(Notice::normal(
            event::WARM_POOL_PROGRESSING,
            event::ACTION_RECONCILING,
            "Warm pool is progressing again",
        )),
        _ => None,
    }
}

/// A duration as Go prints it (`5m0s`, `1h0m0s`, `1.5s`, `300ms`), for upstream's messages.
pub fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        let ms = d.as_secs_f64() * 1000.0;
        return format!("{}ms", trim_float(ms));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let s = trim_float(
        f64::from(u32::try_from(secs % 60).unwrap_or(0)) + f64::from(d.subsec_nanos()) / 1e9,
    );
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Requeues no later than `after`.
fn requeue_within(plan: &mut Plan, after: Duration) {
    plan.requeue_after = Some(plan.requeue_after.map_or(after, |r| r.min(after)));
}

fn delete(m: &Sandbox) -> Action {
    Action::Delete {
        name: m.name_any(),
        uid: m.metadata.uid.clone().unwrap_or_default(),
        resource_version: m.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// The pool's own grace period (`spec.readinessGracePeriodSeconds`, at least 30 s by the
/// CRD), else the controller's.
fn readiness_grace(pool: &SandboxWarmPool, default: Duration) -> Duration {
    pool.spec
        .readiness_grace_period_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(default, Duration::from_secs)
}

/// The member's mirrored `PodScheduled` condition is False for `reason`.
fn pod_scheduled_false_for(m: &Sandbox, reason: &str) -> bool {
    m.status.as_ref().is_some_and(|s| {
        conditions::find(&s.conditions, condition::POD_SCHEDULED)
            .is_some_and(|c| c.status == conditions::FALSE && c.reason == reason)
    })
}

fn is_unschedulable(m: &Sandbox) -> bool {
    pod_scheduled_false_for(m, "Unschedulable")
}

/// The API server marks a Pod created with scheduling gates `PodScheduled=False/SchedulingGated`
/// until the gates are removed.
fn is_scheduling_gated(m: &Sandbox) -> bool {
    pod_scheduled_false_for(m, "SchedulingGated")
}

fn created(m: &Sandbox) -> Option<k8s_openapi::jiff::Timestamp> {
    m.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

fn age(m: &Sandbox, now: &Time) -> Duration {
    created(m)
        .and_then(|c| Duration::try_from(now.0.duration_since(c)).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
