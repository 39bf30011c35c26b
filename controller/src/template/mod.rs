//! The SandboxTemplate controller (`extensions.agents.x-k8s.io`): the template-ref-hash label
//! on each template and its `<template>-network-policy` NetworkPolicy (spec §3).
//!
//! `reconcile` = [fetch](Context::observe) from the reflector cache → [`decide::decide`] →
//! [`apply::apply`]. The template is re-queued by its own events and by events of the
//! NetworkPolicy it controls.

pub mod apply;
pub mod decide;
pub mod policy;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use sandbox_api::v1beta1::SandboxTemplate;

use decide::{Observed, Plan};

pub use crate::error::Error;

/// How long to wait before retrying a template whose namespace is being deleted.
const NAMESPACE_TERMINATING_RETRY: Duration = Duration::from_secs(30);
/// How long to wait before retrying after a failed write.
const APPLY_RETRY: Duration = Duration::from_millis(500);
/// How long to wait before looking again at a foreign NetworkPolicy in the way (spec §3.3
/// step 7). Only its owner can clear it, and its removal does not re-queue the template (it is
/// not ours), so the retry is what notices.
const FOREIGN_POLICY_RETRY: Duration = Duration::from_secs(10);

/// What every SandboxTemplate reconcile shares.
pub struct Context {
    pub client: kube::Client,
    pub network_policies: Store<NetworkPolicy>,
    /// The NetworkPolicy cache's first listing.
    pub synced: crate::cache::Synced,
}

impl Context {
    /// Waits until the NetworkPolicy cache holds a full listing (immediate afterwards).
    async fn policies_cached(&self) {
        self.synced.wait().await;
    }

    /// The NetworkPolicy named after the template, whoever owns it.
    fn observe(&self, template: &SandboxTemplate) -> Option<Arc<NetworkPolicy>> {
        let ns = template.metadata.namespace.as_deref().unwrap_or_default();
        let name = policy::network_policy_name(template);
        self.network_policies.get(&ObjectRef::new(&name).within(ns))
    }
}

pub async fn reconcile(
    template: Arc<SandboxTemplate>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    // Deciding from a half-filled cache would create a policy that already exists.
    ctx.policies_cached().await;
    let network_policy = ctx.observe(&template);
    let plan: Plan = decide::decide(Observed {
        template: &template,
        network_policy: network_policy.as_deref(),
    });
    let ns = template.metadata.namespace.as_deref().unwrap_or_default();
    let name = template.metadata.name.as_deref().unwrap_or_default();
    tracing::debug!(template = %format!("{ns}/{name}"), actions = plan.actions.len(), "reconciled");
    match apply::apply(&apply::Apis::namespaced(&ctx.client, ns), name, &plan).await {
        // As the Sandbox controller: wait for the namespace to go instead of backing off.
        Err(e) if e.namespace_terminating() => {
            return Ok(Requeue::requeue(NAMESPACE_TERMINATING_RETRY));
        }
        result => result?,
    }
    if let Some(error) = plan.error {
        return Err(Error::Decided(error));
    }
    Ok(Requeue::await_change())
}

/// Retries failed reconciles: soon after a failed write, slower while a foreign policy is in
/// the way.
/// Logs a failed reconcile and says how soon to retry at the earliest; the retry backs off
/// further per template while it keeps failing.
pub fn error_policy(template: Arc<SandboxTemplate>, error: &Error, _ctx: Arc<Context>) -> Duration {
    tracing::warn!(
        template = template.metadata.name.as_deref().unwrap_or_default(),
        %error,
        "reconcile failed"
    );
    match error {
        Error::Api { .. } => APPLY_RETRY,
        Error::Decided(_) => FOREIGN_POLICY_RETRY,
    }
}
