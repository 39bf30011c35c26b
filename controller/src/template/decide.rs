//! The SandboxTemplate controller's decision (spec §3.3): a pure function of the template and
//! the cached `<template>-network-policy` that returns the writes to make, in order.
//!
//! Nothing here performs I/O, and a write that would change nothing is never planned.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use sandbox_api::keys;
use sandbox_api::v1beta1::{NetworkPolicyManagement, SandboxTemplate};
use serde_json::{Value, json};

use super::policy;
use crate::sandbox::children::is_controlled_by;

/// What the caches hold for one template.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub template: &'a SandboxTemplate,
    /// The NetworkPolicy named [`policy::network_policy_name`] in the template's namespace,
    /// whoever owns it.
    pub network_policy: Option<&'a NetworkPolicy>,
}

/// One write, in the order the plan lists them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A merge patch of the template's metadata (the template-ref-hash label).
    PatchTemplate(Value),
    CreateNetworkPolicy(Box<NetworkPolicy>),
    /// A full update of the policy, carrying the cached `resourceVersion`, so a concurrent
    /// change fails with a conflict instead of being overwritten.
    ReplaceNetworkPolicy(Box<NetworkPolicy>),
    /// Deletes the policy only if it is still the one with `uid` (a precondition).
    DeleteNetworkPolicy {
        name: String,
        uid: String,
    },
}

/// Everything one pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// An error to return after applying, so the work is retried with backoff.
    pub error: Option<String>,
}

pub fn decide(o: Observed<'_>) -> Plan {
    // Spec §3.3 step 3: a template being deleted gets nothing, not even its label; garbage
    // collection removes the policy.
    if o.template.metadata.deletion_timestamp.is_some() {
        return Plan::default();
    }
    let mut plan = Plan::default();
    if let Some(patch) = label_patch(o.template) {
        plan.actions.push(Action::PatchTemplate(patch));
    }
    match o.template.spec.network_policy_management {
        Some(NetworkPolicyManagement::Unmanaged) => decide_unmanaged(&o, &mut plan),
        // Spec §3.3 step 6: an absent value means Managed, the CRD default.
        Some(NetworkPolicyManagement::Managed) | None => decide_managed(&o, &mut plan),
    }
    plan
}

/// The merge patch that sets the template-ref-hash label (spec §3.3 step 2), or `None` when
/// the label already has the right value.
fn label_patch(template: &SandboxTemplate) -> Option<Value> {
    let hash = policy::template_ref_hash(template);
    let current = template
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL));
    if current.is_some_and(|v| hash == v.as_str()) {
        return None;
    }
    Some(json!({"metadata": {"labels": {keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: hash.as_str()}}}))
}

fn template_uid(template: &SandboxTemplate) -> &str {
    template.metadata.uid.as_deref().unwrap_or_default()
}

/// The policy, if it exists and the template is its controller (by UID).
fn controlled_policy<'a>(o: &Observed<'a>) -> Option<&'a NetworkPolicy> {
    o.network_policy
        .filter(|np| is_controlled_by(&np.metadata, template_uid(o.template)))
}

/// Spec §3.3 step 5: delete the policy only if the template controls it; a foreign policy of
/// the same name is the user's and stays.
fn decide_unmanaged(o: &Observed<'_>, plan: &mut Plan) {
    let Some(np) = controlled_policy(o) else {
        return;
    };
    if np.metadata.deletion_timestamp.is_some() {
        return; // already going; deleting again would be a no-op write
    }
    plan.actions.push(Action::DeleteNetworkPolicy {
        name: np.metadata.name.clone().unwrap_or_default(),
        uid: np.metadata.uid.clone().unwrap_or_default(),
    });
}

/// Spec §3.3 steps 6–7: create the policy, or bring a controlled one back to the desired spec.
fn decide_managed(o: &Observed<'_>, plan: &mut Plan) {
    let Some(existing) = o.network_policy else {
        plan.actions.push(Action::CreateNetworkPolicy(Box::new(
            policy::new_network_policy(o.template),
        )));
        return;
    };
    if controlled_policy(o).is_none() {
        plan.error = Some(foreign_policy_message(o.template, existing));
        return;
    }
    if existing.metadata.deletion_timestamp.is_some() {
        // Its deletion event re-queues the template, which then creates a fresh policy.
        return;
    }
    let desired = policy::desired_spec(o.template);
    let current = existing.spec.clone().unwrap_or_default();
    if policy::same_spec(&current, &desired) {
        return;
    }
    let mut replacement = existing.clone();
    replacement.spec = Some(desired);
    // Server-side bookkeeping the update must not try to set.
    replacement.metadata.managed_fields = None;
    plan.actions
        .push(Action::ReplaceNetworkPolicy(Box::new(replacement)));
}

fn foreign_policy_message(template: &SandboxTemplate, np: &NetworkPolicy) -> String {
    format!(
        "NetworkPolicy {}/{} exists but is not controlled by SandboxTemplate {}; refusing to update",
        np.metadata.namespace.as_deref().unwrap_or_default(),
        np.metadata.name.as_deref().unwrap_or_default(),
        template.metadata.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
