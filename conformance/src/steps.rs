//! Steps several cases share: waiting for a Sandbox, a claim or a pool to reach a state,
//! listing what a Sandbox or pool owns, waiting for an object to be gone or for an Event.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use sandbox_api::keys::{self, condition, reason};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::context::{CaseContext, Probe};
use super::inspect::{self, describe, describe_events};
use super::objects;
use crate::fail::{ApiContext, Fail};
use sandbox_marks::labels::KWOK_NODE_LABEL;

/// Name of the SandboxTemplate in cases that need one.
pub const TEMPLATE: &str = "tpl";
/// Name of the SandboxWarmPool in cases that need one.
pub const POOL: &str = "pool";

/// Waits until the Sandbox's condition `type_` has `status` and `reason`.
pub async fn sandbox_condition(
    cx: &CaseContext,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Result<Sandbox, Fail> {
    let api = &cx.api::<Sandbox>();
    cx.until(
        &format!("Sandbox {name} to have {type_}={status}/{reason}"),
        || async move {
            let Some(sb) = api
                .get_opt(name)
                .await
                .during(format_args!("get Sandbox {name}"))?
            else {
                return Ok(Probe::Waiting(format!("Sandbox {name} does not exist")));
            };
            let conditions = inspect::sandbox_conditions(&sb);
            Ok(
                if inspect::has_condition(conditions, type_, status, reason) {
                    Probe::Done(sb)
                } else {
                    Probe::Waiting(describe(conditions))
                },
            )
        },
    )
    .await
}

/// Waits until the Sandbox is Ready=True/DependenciesReady.
pub async fn sandbox_ready(cx: &CaseContext, name: &str) -> Result<Sandbox, Fail> {
    sandbox_condition(
        cx,
        name,
        condition::READY,
        "True",
        reason::DEPENDENCIES_READY,
    )
    .await
}

/// Waits until the object exists and returns it.
pub async fn exists<K>(cx: &CaseContext, name: &str) -> Result<K, Fail>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    <K as Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    let (api, kind) = (&cx.api::<K>(), &kind);
    cx.until(&format!("{kind} {name} to exist"), || async move {
        Ok(
            match api
                .get_opt(name)
                .await
                .during(format_args!("get {kind} {name}"))?
            {
                Some(object) => Probe::Done(object),
                None => Probe::Waiting(format!("no {kind} {name}")),
            },
        )
    })
    .await
}

/// Waits until the object is gone (not found) from the API, for twice the usual time: deletion
/// through ownerRefs waits on the garbage collector, which looks for new kinds (the CRDs) only
/// every 30 s.
pub async fn gone<K>(cx: &CaseContext, name: &str) -> Result<(), Fail>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
    <K as Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    let (api, kind) = (&cx.api::<K>(), &kind);
    let what = format!("{kind} {name} to be deleted");
    cx.until_within(&what, cx.wait * 2, || async move {
        Ok(
            match api
                .get_opt(name)
                .await
                .during(format_args!("get {kind} {name}"))?
            {
                None => Probe::Done(()),
                Some(o) if o.meta().deletion_timestamp.is_some() => {
                    Probe::Waiting(format!("{kind} {name} is terminating"))
                }
                Some(_) => Probe::Waiting(format!("{kind} {name} still exists")),
            },
        )
    })
    .await
}

/// The Pods in the namespace whose controller is the object with `uid`, terminating ones
/// included.
pub async fn owned_pods(cx: &CaseContext, uid: &str) -> Result<Vec<Pod>, Fail> {
    let pods = cx
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .during("list Pods")?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| inspect::controlled_by(&p.metadata, uid))
        .collect())
}

/// Makes `pod` finish successfully: [`end_pod`] in phase `Succeeded`.
pub async fn finish_pod(cx: &CaseContext, pod: &Pod) -> Result<(), Fail> {
    end_pod(cx, pod, "Succeeded").await
}

/// Ends `pod` in the terminal `phase` (`Succeeded` or `Failed`) by writing `status.phase`. Only
/// kwok lets a client own Pod status (a kubelet would write it back), so on any other node the
/// case is skipped with the reason.
pub async fn end_pod(cx: &CaseContext, pod: &Pod, phase: &str) -> Result<(), Fail> {
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let node = kube::Api::<Node>::all(cx.client.clone())
        .get(&node_name)
        .await
        .during(format_args!("get Node {node_name}"))?;
    if inspect::label(&node.metadata, KWOK_NODE_LABEL.0) != KWOK_NODE_LABEL.1 {
        return Err(Fail::skip(format!(
            "the Pod runs on node {node_name}, which is not a kwok node: only kwok lets the \
             suite end a Pod by writing its status"
        )));
    }
    cx.api::<Pod>()
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"phase": phase}})),
        )
        .await
        .during(format_args!(
            "set the phase of Pod {} to {phase}",
            pod.name_any()
        ))?;
    Ok(())
}

/// The nodes a Pod of the suite can land on, by name: Ready, not cordoned, and without a
/// taint that keeps Pods off (the suite's Pods tolerate none).
pub async fn schedulable_nodes(cx: &CaseContext) -> Result<Vec<String>, Fail> {
    let nodes = kube::Api::<Node>::all(cx.client.clone())
        .list(&ListParams::default())
        .await
        .during("list Nodes")?;
    let mut names: Vec<String> = nodes
        .items
        .iter()
        .filter(|node| {
            let spec = node.spec.clone().unwrap_or_default();
            let ready = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let tainted = spec
                .taints
                .unwrap_or_default()
                .iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute");
            ready && !tainted && spec.unschedulable != Some(true)
        })
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    Ok(names)
}

/// A pod spec that runs to completion instead of being restarted.
pub fn run_once_pod_spec(image: &str) -> Value {
    let mut spec = objects::pod_spec(image);
    spec["restartPolicy"] = serde_json::json!("Never");
    spec
}

/// Names of `pods`, for messages.
pub fn names<K: ResourceExt>(objects: &[K]) -> Vec<String> {
    objects.iter().map(ResourceExt::name_any).collect()
}

/// The UID the API server gave an object.
pub fn uid<K: ResourceExt>(object: &K) -> Result<String, Fail> {
    object
        .uid()
        .ok_or_else(|| Fail::check(format!("{} has no uid", object.name_any())))
}

/// Creates the template [`TEMPLATE`] (the smallest blueprint plus `template_spec`) and the pool
/// [`POOL`] of `replicas` on it (plus `pool_spec`).
pub async fn template_and_pool(
    cx: &CaseContext,
    replicas: i32,
    template_spec: Value,
    pool_spec: Value,
) -> Result<(SandboxTemplate, SandboxWarmPool), Fail> {
    let template = cx
        .create(&objects::template(TEMPLATE, &cx.image, template_spec)?)
        .await?;
    let pool = cx
        .create(&objects::warm_pool(POOL, TEMPLATE, replicas, pool_spec)?)
        .await?;
    Ok((template, pool))
}

/// The pool's unclaimed, live members.
pub async fn pool_members(cx: &CaseContext, pool: &SandboxWarmPool) -> Result<Vec<Sandbox>, Fail> {
    let pool_uid = uid(pool)?;
    let pool_name = pool.name_any();
    let selector = format!(
        "{}={}",
        keys::WARM_POOL_SANDBOX_LABEL,
        sandbox_api::name_hash(&pool_name)
    );
    let list = cx
        .api::<Sandbox>()
        .list(&ListParams::default().labels(&selector))
        .await
        .during("list pool Sandboxes")?;
    Ok(list
        .items
        .into_iter()
        .filter(|s| inspect::is_pool_member(s, &pool_name, &pool_uid))
        .collect())
}

/// Waits until the pool reports `replicas` members, all Ready, and exactly that many live
/// members exist; returns them.
pub async fn pool_ready(
    cx: &CaseContext,
    pool: &SandboxWarmPool,
    replicas: i32,
) -> Result<Vec<Sandbox>, Fail> {
    let api = &cx.api::<SandboxWarmPool>();
    let name = &pool.name_any();
    cx.until(
        &format!("SandboxWarmPool {name} to have {replicas} Ready members"),
        || async move {
            let current = api
                .get(name)
                .await
                .during(format_args!("get SandboxWarmPool {name}"))?;
            let status = current.status.clone().unwrap_or_default();
            let members = pool_members(cx, pool).await?;
            let ready = members
                .iter()
                .filter(|m| {
                    inspect::has_condition(
                        inspect::sandbox_conditions(m),
                        condition::READY,
                        "True",
                        reason::DEPENDENCIES_READY,
                    )
                })
                .count();
            let want = usize::try_from(replicas).unwrap_or(0);
            Ok(
                if status.replicas == replicas
                    && status.ready_replicas == replicas
                    && members.len() == want
                    && ready == want
                {
                    Probe::Done(members)
                } else {
                    Probe::Waiting(format!(
                        "status.replicas={} status.readyReplicas={}, {} live members ({ready} Ready): {:?}",
                        status.replicas,
                        status.ready_replicas,
                        members.len(),
                        names(&members)
                    ))
                },
            )
        },
    )
    .await
}

/// Waits until the claim's Ready condition has `status` and `reason`.
pub async fn claim_condition(
    cx: &CaseContext,
    name: &str,
    status: &str,
    reason: &str,
) -> Result<SandboxClaim, Fail> {
    let api = &cx.api::<SandboxClaim>();
    cx.until(
        &format!("SandboxClaim {name} to have Ready={status}/{reason}"),
        || async move {
            let Some(claim) = api
                .get_opt(name)
                .await
                .during(format_args!("get SandboxClaim {name}"))?
            else {
                return Ok(Probe::Waiting(format!(
                    "SandboxClaim {name} does not exist"
                )));
            };
            let conditions = inspect::claim_conditions(&claim);
            Ok(
                if inspect::has_condition(conditions, condition::READY, status, reason) {
                    Probe::Done(claim)
                } else {
                    Probe::Waiting(format!(
                        "{}; status.sandbox.name={:?}",
                        describe(conditions),
                        inspect::bound_sandbox(&claim)
                    ))
                },
            )
        },
    )
    .await
}

/// Waits until the claim is Ready=True with a bound Sandbox.
pub async fn claim_ready(cx: &CaseContext, name: &str) -> Result<SandboxClaim, Fail> {
    let claim = claim_condition(cx, name, "True", reason::DEPENDENCIES_READY).await?;
    if inspect::bound_sandbox(&claim).is_empty() {
        return Err(Fail::check(format!(
            "SandboxClaim {name} is Ready but status.sandbox.name is empty"
        )));
    }
    Ok(claim)
}

/// The Events in the case's namespace about the `K` object `name`, as core/v1 shows them (a
/// controller writing events.k8s.io Events has its `regarding` shown as `involvedObject`).
pub async fn events_about<K>(cx: &CaseContext, name: &str) -> Result<Vec<Event>, Fail>
where
    K: Resource,
    <K as Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    let events = cx
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .during("list Events")?;
    Ok(events
        .items
        .into_iter()
        .filter(|e| inspect::regards(e, &kind, name))
        .collect())
}

/// Waits until an Event of `type_` with `reason` about the `K` object `name` exists; returns it.
pub async fn event<K>(
    cx: &CaseContext,
    name: &str,
    type_: &str,
    reason: &str,
) -> Result<Event, Fail>
where
    K: Resource,
    <K as Resource>::DynamicType: Default,
{
    event_within::<K>(cx, name, type_, reason, cx.wait).await
}

/// [`event`] with its own time limit, for Events that come only after a controller's own
/// timer (a grace period).
pub async fn event_within<K>(
    cx: &CaseContext,
    name: &str,
    type_: &str,
    reason: &str,
    limit: Duration,
) -> Result<Event, Fail>
where
    K: Resource,
    <K as Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    let what = format!("a {type_} Event {reason} about {kind} {name}");
    let kind = &kind;
    cx.until_within(&what, limit, || async move {
        let events = events_about::<K>(cx, name).await?;
        Ok(
            match events.iter().find(|e| inspect::is_event(e, type_, reason)) {
                Some(found) => Probe::Done(found.clone()),
                None => Probe::Waiting(format!(
                    "Events about {kind} {name}: {}",
                    describe_events(&events)
                )),
            },
        )
    })
    .await
}

/// Fails if an Event with `reason` (of any type) about the `K` object `name` exists.
pub async fn no_event<K>(cx: &CaseContext, name: &str, reason: &str) -> Result<(), Fail>
where
    K: Resource,
    <K as Resource>::DynamicType: Default,
{
    let events = events_about::<K>(cx, name).await?;
    let found: Vec<Event> = events
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(Fail::check(format!(
            "{} {name} has Events {}, want none with reason {reason}",
            K::kind(&Default::default()),
            describe_events(&found)
        )))
    }
}
