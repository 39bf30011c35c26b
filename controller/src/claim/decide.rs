//! The SandboxClaim decision (spec §5.5–5.8): bind a warm Sandbox from the claim's pool or
//! start a cold one, mirror the bound Sandbox's state, and expire the claim. Pure.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use sandbox_api::keys::{condition, event, reason};
use sandbox_api::v1beta1::{
    ClaimSandboxStatus, ClaimShutdownPolicy, Sandbox, SandboxClaim, SandboxClaimStatus,
    SandboxTemplate, SandboxWarmPool,
};
use serde_json::{Value, json};

use super::build::{Rejection, adoption_patch, cold_sandbox, validate_metadata};
use crate::conditions::{self, Desired, FALSE};
use crate::events::Notice;
use crate::patch::merge_diff;

#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub claim: &'a SandboxClaim,
    /// The Sandbox this claim controls, if the cache has one.
    pub bound: Option<&'a Sandbox>,
    /// Whether a Sandbox named after the claim exists that the claim does not control.
    pub name_taken: bool,
    pub pool: Option<&'a SandboxWarmPool>,
    pub template: Option<&'a SandboxTemplate>,
    /// Adoptable members of the claim's pool that no other claim is taking, oldest first.
    pub candidates: &'a [&'a Sandbox],
    pub now: &'a Time,
    pub allowed_label_domains: &'a [&'a str],
}

/// One warm Sandbox the claim may take, with the patch that takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    pub sandbox: String,
    pub patch: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Try these in order; the first one reserved and patched is bound (spec §5.7).
    Adopt(Vec<Adoption>),
    CreateSandbox(Box<Sandbox>),
    DeleteSandbox {
        name: String,
        uid: String,
    },
    DeleteClaim {
        foreground: bool,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub status: Option<Value>,
    pub requeue_after: Option<Duration>,
    /// Returned after applying, for backoff.
    pub error: Option<String>,
    /// This pass turns the claim Ready for the first time since it was last not Ready.
    pub became_ready: bool,
    /// The claim waits for a member of its pool that is still starting: a member becoming
    /// usable should wake it before its retry.
    pub waiting_for_member: bool,
    /// Events to emit once the writes succeed (the binding's own come from applying it).
    pub notices: Vec<Notice>,
}

/// `SandboxAdopted`, after a warm adoption.
pub fn adopted_notice(sandbox: &str) -> Notice {
    Notice::normal(
        event::SANDBOX_ADOPTED,
        event::ACTION_ADOPTION,
        format!("Adopted warm pool Sandbox {sandbox:?}"),
    )
}

/// `SandboxProvisioned`, after a cold create.
pub fn provisioned_notice(sandbox: &str) -> Notice {
    Notice::normal(
        event::SANDBOX_PROVISIONED,
        event::ACTION_PROVISIONING,
        format!("Created Sandbox {sandbox:?}"),
    )
}

/// How long a young claim waits for pool members whose network is not up yet, and how often
/// it looks again (upstream v1.0).
pub const PENDING_NETWORK_WINDOW: Duration = Duration::from_secs(2);
pub const PENDING_NETWORK_RETRY: Duration = Duration::from_millis(100);
/// Warm members one pass tries before it looks again. Each needs its own adoption patch, and
/// in-process reservations already keep concurrent workers apart, so the first one almost
/// always wins: building patches for a whole large pool would cost every claim O(pool size).
pub const MAX_ADOPTION_ATTEMPTS: usize = 4;
/// Retry for a missing pool or template.
pub const MISSING_REFERENCE_RETRY: Duration = Duration::from_secs(60);
const EXPIRY_STEP: Duration = Duration::from_millis(1);

pub fn decide(o: Observed<'_>) -> Plan {
    let claim = o.claim;
    if claim.metadata.deletion_timestamp.is_some() {
        return Plan::default();
    }
    let current = claim.status.clone().unwrap_or_default();
    let generation = claim.metadata.generation.unwrap_or_default();
    let expire_in = expires_in(claim, &current, o.now);
    if expire_in == Some(Duration::ZERO) {
        return decide_expired(&o, &current, generation);
    }

    let mut status = current.clone();
    let mut plan = Plan::default();
    if let Some(sandbox) = o.bound {
        mirror(&mut status, sandbox, generation, o.now);
    } else if o.name_taken {
        let message = format!(
            "sandbox {:?} is not controlled by claim {:?}",
            claim.name_any(),
            claim.name_any()
        );
        set_not_ready(
            &mut status,
            reason::RECONCILER_ERROR,
            format!("Error seen: {message}"),
            generation,
            o.now,
        );
        plan.error = Some(message);
    } else if rejected_for_good(claim, &current) {
        return plan; // until the spec changes (a new generation)
    } else {
        match bind(&o, &mut plan) {
            Binding::Pending(after) => {
                plan.requeue_after = Some(after);
                plan.waiting_for_member = true;
                return plan; // no status write while waiting
            }
            Binding::Adopting => return plan, // the Sandbox's update event brings the next pass
            Binding::Created(name) => {
                status.sandbox = ClaimSandboxStatus {
                    name,
                    ..ClaimSandboxStatus::default()
                };
                set_not_ready(
                    &mut status,
                    reason::SANDBOX_NOT_READY,
                    "Sandbox is not ready".into(),
                    generation,
                    o.now,
                );
            }
            Binding::Failed {
                why,
                message,
                retry,
                error,
            } => {
                set_not_ready(&mut status, why, message, generation, o.now);
                plan.requeue_after = retry;
                plan.error = error;
            }
        }
    }
    if let Some(left) = expire_in {
        plan.requeue_after = Some(plan.requeue_after.map_or(left, |r| r.min(left)));
    }
    plan.became_ready = !conditions::is_true(&current.conditions, condition::READY)
        && conditions::is_true(&status.conditions, condition::READY);
    plan.status = status_patch(&current, &status);
    plan
}

/// Whether the API server rejected this generation's Sandbox as invalid (Ready=False/
/// InvalidConfiguration observed at the current generation, with no Sandbox bound): creating
/// it again would be rejected again.
fn rejected_for_good(claim: &SandboxClaim, current: &SandboxClaimStatus) -> bool {
    current.sandbox.name.is_empty()
        && conditions::find(&current.conditions, condition::READY).is_some_and(|c| {
            c.reason == reason::INVALID_CONFIGURATION
                && c.observed_generation == claim.metadata.generation
        })
}

/// The status write after the API server rejected the claim's Sandbox for good:
/// Ready=False/InvalidConfiguration with the server's message at the current generation, so
/// that [`decide`] stops retrying until the spec changes. `None` when already so.
pub fn rejected_by_server(claim: &SandboxClaim, message: &str, now: &Time) -> Option<Value> {
    let current = claim.status.clone().unwrap_or_default();
    let mut status = current.clone();
    set_not_ready(
        &mut status,
        reason::INVALID_CONFIGURATION,
        message.to_string(),
        claim.metadata.generation.unwrap_or_default(),
        now,
    );
    status_patch(&current, &status)
}

/// How the claim got (or did not get) a Sandbox in this pass.
enum Binding {
    Pending(Duration),
    Adopting,
    Created(String),
    Failed {
        why: &'static str,
        message: String,
        retry: Option<Duration>,
        error: Option<String>,
    },
}

fn rejected(r: Rejection) -> Binding {
    let (why, error) = match &r {
        Rejection::InvalidMetadata(_) => (reason::INVALID_METADATA, None),
        Rejection::EnvVarsInjectionRejected(_) => (reason::ENV_VARS_INJECTION_REJECTED, None),
        Rejection::VolumeClaimTemplatesError(_) => (reason::VOLUME_CLAIM_TEMPLATES_ERROR, None),
        Rejection::Other(m) => (reason::RECONCILER_ERROR, Some(m.clone())),
    };
    let message = match why {
        reason::RECONCILER_ERROR => format!("Error seen: {r}"),
        _ => r.to_string(),
    };
    Binding::Failed {
        why,
        message,
        retry: None,
        error,
    }
}

fn bind(o: &Observed<'_>, plan: &mut Plan) -> Binding {
    let claim = o.claim;
    if let Err(r) = validate_metadata(&claim.spec.additional_pod_metadata, o.allowed_label_domains)
    {
        return rejected(r);
    }
    let pool_name = &claim.spec.warm_pool_ref.name;
    if o.pool.is_none() {
        return Binding::Failed {
            why: reason::WARM_POOL_NOT_FOUND,
            message: format!("SandboxWarmPool {pool_name:?} not found"),
            retry: Some(MISSING_REFERENCE_RETRY),
            error: None,
        };
    }
    let Some(template) = o.template else {
        let name = o
            .pool
            .map(|p| p.spec.sandbox_template_ref.name.clone())
            .unwrap_or_default();
        return Binding::Failed {
            why: reason::TEMPLATE_NOT_FOUND,
            message: format!("SandboxTemplate {name:?} not found"),
            retry: Some(MISSING_REFERENCE_RETRY),
            error: None,
        };
    };
    // env and volume claim templates change the Pod, so only a cold start can serve them.
    let forced_cold = !claim.spec.env.is_empty() || !claim.spec.volume_claim_templates.is_empty();
    if !forced_cold {
        let (usable, pending): (Vec<&Sandbox>, Vec<&Sandbox>) =
            o.candidates.iter().copied().partition(|s| is_usable(s));
        if !usable.is_empty() {
            let adoptions: Result<Vec<Adoption>, Rejection> = usable
                .iter()
                .take(MAX_ADOPTION_ATTEMPTS)
                .map(|s| {
                    Ok(Adoption {
                        sandbox: s.name_any(),
                        patch: adoption_patch(claim, s, template)?,
                    })
                })
                .collect();
            return match adoptions {
                Ok(list) => {
                    plan.actions.push(Action::Adopt(list));
                    Binding::Adopting
                }
                Err(r) => rejected(r),
            };
        }
        let age = claim
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|c| Duration::try_from(o.now.0.duration_since(c.0)).ok())
            .unwrap_or_default();
        if !pending.is_empty() && age < PENDING_NETWORK_WINDOW {
            return Binding::Pending(PENDING_NETWORK_RETRY.min(PENDING_NETWORK_WINDOW - age));
        }
    }
    match cold_sandbox(claim, template) {
        Ok(sandbox) => {
            plan.actions.push(Action::CreateSandbox(Box::new(sandbox)));
            Binding::Created(claim.name_any())
        }
        Err(r) => rejected(r),
    }
}

/// Whether a member can serve a claim now: Ready, with its Pod's IPs known.
pub fn is_usable(s: &Sandbox) -> bool {
    crate::sandbox::is_ready(s) && has_ips(s)
}

fn has_ips(s: &Sandbox) -> bool {
    s.status.as_ref().is_some_and(|st| !st.pod_ips.is_empty())
}

/// `min(shutdownTime, Finished.lastTransitionTime + ttlSecondsAfterFinished)` from now; zero
/// once reached, `None` without either (spec §5.5 step 5).
fn expires_in(claim: &SandboxClaim, status: &SandboxClaimStatus, now: &Time) -> Option<Duration> {
    let lifecycle = claim.spec.lifecycle.as_ref()?;
    let by_ttl = lifecycle.ttl_seconds_after_finished.and_then(|ttl| {
        let finished = conditions::find(&status.conditions, condition::FINISHED)?;
        (finished.status == conditions::TRUE).then(|| {
            finished.last_transition_time.0
                + std::time::Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
        })
    });
    let at = match (lifecycle.shutdown_time.as_ref().map(|t| t.0), by_ttl) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some(Duration::try_from(at.duration_since(now.0)).unwrap_or(Duration::ZERO))
}

fn decide_expired(o: &Observed<'_>, current: &SandboxClaimStatus, generation: i64) -> Plan {
    let already = conditions::find(&current.conditions, condition::READY)
        .is_some_and(|c| c.reason == reason::CLAIM_EXPIRED);
    let mut status = current.clone();
    if !already {
        set_not_ready(
            &mut status,
            reason::CLAIM_EXPIRED,
            "Claim expired. Sandbox cleanup initiated.".into(),
            generation,
            o.now,
        );
        return Plan {
            status: status_patch(current, &status),
            requeue_after: Some(EXPIRY_STEP),
            notices: vec![Notice::normal(
                event::CLAIM_EXPIRED,
                event::ACTION_CLAIM_EXPIRED,
                "Claim expired",
            )],
            ..Plan::default()
        };
    }
    let policy = o
        .claim
        .spec
        .lifecycle
        .as_ref()
        .and_then(|l| l.shutdown_policy)
        .unwrap_or_default();
    let mut plan = Plan::default();
    let deleting = |policy: &str| {
        Notice::normal(
            event::CLAIM_EXPIRED,
            event::ACTION_DELETING,
            format!("Deleting Claim (ShutdownPolicy={policy})"),
        )
    };
    match policy {
        ClaimShutdownPolicy::Delete => {
            plan.notices.push(deleting("Delete"));
            plan.actions.push(Action::DeleteClaim { foreground: false });
        }
        ClaimShutdownPolicy::DeleteForeground => {
            plan.notices.push(deleting("DeleteForeground"));
            plan.actions.push(Action::DeleteClaim { foreground: true });
        }
        ClaimShutdownPolicy::Retain => {
            if let Some(sb) = o.bound.filter(|s| s.metadata.deletion_timestamp.is_none()) {
                plan.actions.push(Action::DeleteSandbox {
                    name: sb.name_any(),
                    uid: sb.metadata.uid.clone().unwrap_or_default(),
                });
            }
        }
    }
    plan
}

/// Ready=False with `why` and `message`, at `generation`.
fn set_not_ready(
    status: &mut SandboxClaimStatus,
    why: &'static str,
    message: String,
    generation: i64,
    now: &Time,
) {
    conditions::set(
        &mut status.conditions,
        Desired::new(condition::READY, FALSE, why, message),
        generation,
        now,
    );
}

/// Mirrors the bound Sandbox: its Ready (with its transition time) and Finished conditions,
/// name, IPs and FQDN (spec §5.3, §5.4).
fn mirror(status: &mut SandboxClaimStatus, sandbox: &Sandbox, generation: i64, now: &Time) {
    let sb = sandbox.status.clone().unwrap_or_default();
    match conditions::find(&sb.conditions, condition::READY) {
        Some(c) if c.reason == reason::SANDBOX_EXPIRED => set_not_ready(
            status,
            reason::SANDBOX_EXPIRED,
            "Underlying Sandbox resource has expired independently of the Claim.".into(),
            generation,
            now,
        ),
        Some(c) => replace(
            &mut status.conditions,
            Condition {
                observed_generation: Some(generation),
                ..c.clone()
            },
        ),
        None => set_not_ready(
            status,
            reason::SANDBOX_NOT_READY,
            "Sandbox is not ready".into(),
            generation,
            now,
        ),
    }
    match conditions::find(&sb.conditions, condition::FINISHED) {
        Some(c) => replace(&mut status.conditions, c.clone()),
        None => {
            conditions::remove(&mut status.conditions, condition::FINISHED);
        }
    }
    status.sandbox = ClaimSandboxStatus {
        name: sandbox.name_any(),
        pod_ips: sb.pod_ips,
        service_fqdn: sb.service_fqdn,
    };
}

fn replace(conds: &mut Vec<Condition>, c: Condition) {
    match conds.iter_mut().find(|x| x.type_ == c.type_) {
        Some(slot) => *slot = c,
        None => conds.push(c),
    }
}

/// The status merge patch, conditions sorted by type as upstream writes them.
fn status_patch(current: &SandboxClaimStatus, desired: &SandboxClaimStatus) -> Option<Value> {
    let mut desired = desired.clone();
    desired.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    let old = serde_json::to_value(current).ok()?;
    let new = serde_json::to_value(&desired).ok()?;
    merge_diff(&old, &new).map(|d| json!({ "status": d }))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
