//! SandboxClaim (`extensions.agents.x-k8s.io`), spec §5: warm adoption, cold starts, missing
//! references, concurrent claims on a small pool, deletion and the claim lifecycle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use sandbox_api::keys::{self, condition, reason};
use sandbox_api::name_hash;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use serde_json::{Value, json};

use super::{Case, case};
use crate::context::{CaseContext, Probe};
use crate::fail::{ApiContext, Fail, ensure, ensure_eq};
use crate::inspect::{self, bound_sandbox, describe_owners, label};
use crate::objects::{self, CONTAINER};
use crate::release::Release;
use crate::steps::{self, POOL, TEMPLATE, names, uid};

/// The claim of the single-claim cases.
const CLAIM: &str = "claim";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "claim-race",
            "claim",
            "5.7",
            Release::V0_5_6,
            "10 claims racing for a pool of 3: all Ready, no Sandbox shared or doubly controlled",
            150,
            race
        ),
        case!(
            "claim-warm-adoption",
            "claim",
            "5.7, 11.1, 11.2",
            Release::V0_5_6,
            "a claim adopts a Ready pool member, keeps its Pod and becomes its only controller",
            90,
            warm_adoption
        ),
        case!(
            "claim-warm-node-spread",
            "claim",
            "5.7",
            Release::V0_5_6,
            "NodeSpread: a claim adopts from the node holding the most members, not the oldest member",
            150,
            warm_node_spread
        ),
        case!(
            "claim-cold-empty-pool",
            "claim",
            "5.7, 5.8, 11.16",
            Release::V0_5_6,
            "with an empty pool the claim creates a Sandbox named after itself",
            90,
            cold_empty_pool
        ),
        case!(
            "claim-cold-env",
            "claim",
            "5.7, 5.8, 11.17",
            Release::V0_5_6,
            "env forces a cold start with the variables injected, even with Ready members",
            90,
            cold_env
        ),
        case!(
            "claim-adopted-pod-metadata",
            "claim",
            "4.3, 5.6, 5.7, 11.22",
            Release::V0_5_6,
            "adoption turns the warm Pod into the claim's: pool label and safe-to-evict go, claim metadata comes",
            90,
            adopted_pod_metadata
        ),
        case!(
            "claim-rebinds-after-sandbox-deleted",
            "claim",
            "5.9",
            Release::V0_5_6,
            "deleting the bound Sandbox of a live claim makes the claim bind a new one",
            120,
            rebinds_after_sandbox_deleted
        ),
        case!(
            "claim-env-rejected",
            "claim",
            "5.4, 5.8",
            Release::V0_5_6,
            "env on a template with the default policy (Disallowed): Ready=False/EnvVarsInjectionRejected",
            60,
            env_rejected
        ),
        case!(
            "claim-invalid-metadata",
            "claim",
            "5.4, 5.6",
            Release::V0_5_6,
            "an unprefixed label in additionalPodMetadata: Ready=False/InvalidMetadata",
            60,
            invalid_metadata
        ),
        case!(
            "claim-invalid-configuration",
            "claim",
            "5.5",
            Release::V1_0_4,
            "a cold start from a template whose Pod the API server refuses: Ready=False/InvalidConfiguration",
            60,
            invalid_configuration
        ),
        case!(
            "claim-template-not-found",
            "claim",
            "5.4",
            Release::V0_5_6,
            "a pool whose template is missing: Ready=False/TemplateNotFound",
            60,
            template_not_found
        ),
        case!(
            "claim-warmpool-not-found",
            "claim",
            "5.4",
            Release::V0_5_6,
            "a missing pool: Ready=False/WarmPoolNotFound",
            60,
            warm_pool_not_found
        ),
        case!(
            "claim-delete-cascades",
            "claim",
            "5.9",
            Release::V0_5_6,
            "deleting a claim deletes its Sandbox and Pod",
            90,
            delete_cascades
        ),
        case!(
            "claim-shutdown-time-delete",
            "claim",
            "5.2, 5.5",
            Release::V0_5_6,
            "lifecycle.shutdownTime passed with shutdownPolicy Delete deletes the claim",
            90,
            shutdown_time_delete
        ),
        case!(
            "claim-ttl-delete",
            "claim",
            "5.5, 11.12",
            Release::V0_5_6,
            "ttlSecondsAfterFinished with Delete: the claim goes once its Pod has finished",
            90,
            ttl_delete
        ),
        case!(
            "claim-ttl-retain",
            "claim",
            "5.4, 5.5, 11.12",
            Release::V0_5_6,
            "ttlSecondsAfterFinished with Retain: Sandbox deleted, claim kept as ClaimExpired",
            90,
            ttl_retain
        ),
    ]
}

async fn create_claim(cx: &CaseContext, name: &str, spec: Value) -> Result<SandboxClaim, Fail> {
    cx.create(&objects::claim(name, POOL, spec)?).await
}

async fn get_sandbox(cx: &CaseContext, name: &str) -> Result<Sandbox, Fail> {
    cx.api::<Sandbox>()
        .get(name)
        .await
        .during(format_args!("get Sandbox {name}"))
}

/// Fails unless the Sandbox's only owner is a controller ownerRef to the claim.
fn ensure_claim_is_only_owner(sandbox: &Sandbox, claim: &SandboxClaim) -> Result<(), Fail> {
    let name = sandbox.name_any();
    let claim_uid = uid(claim)?;
    let owners: Vec<_> = sandbox.metadata.owner_references.iter().flatten().collect();
    ensure!(
        owners.len() == 1 && owners[0].controller == Some(true),
        "Sandbox {name} should have exactly one owner, a controller ref to its claim; it has {}",
        describe_owners(&sandbox.metadata)
    );
    ensure_eq!(
        (
            owners[0].api_version.as_str(),
            owners[0].kind.as_str(),
            owners[0].name.as_str(),
            owners[0].uid.as_str()
        ),
        (
            "extensions.agents.x-k8s.io/v1beta1",
            "SandboxClaim",
            claim.name_any().as_str(),
            claim_uid.as_str()
        ),
        "controller ownerRef of Sandbox {name}"
    );
    Ok(())
}

/// §5.7, §11.1, §11.2: a claim on a pool with Ready members is bound to one of them (named
/// `<pool>-xxxxx`, not after the claim); the Sandbox loses the pool label, gets
/// `launch-type=warm` and `claim-uid`, its ownerRefs become exactly one controller ref to the
/// claim, and its Pod is reused, not recreated.
async fn warm_adoption(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 2, json!({}), json!({})).await?;
    let members = steps::pool_ready(&cx, &pool, 2).await?;
    let mut pod_before = BTreeMap::new();
    for m in &members {
        let pods = steps::owned_pods(&cx, &uid(m)?).await?;
        if let [pod] = pods.as_slice() {
            pod_before.insert(m.name_any(), uid(pod)?);
        }
    }
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    let bound = bound_sandbox(&claim).to_string();
    ensure!(
        bound != CLAIM,
        "the claim was cold-started (bound to {bound}) although the pool had Ready members"
    );
    ensure!(
        pod_before.contains_key(&bound),
        "the claim was bound to {bound}, which was not a pool member: {:?}",
        pod_before.keys()
    );
    let sandbox = get_sandbox(&cx, &bound).await?;
    ensure_claim_is_only_owner(&sandbox, &claim)?;
    let sandbox_ips = sandbox.status.clone().unwrap_or_default().pod_ips;
    ensure!(
        !sandbox_ips.is_empty(),
        "the adopted Sandbox {bound} has no podIPs"
    );
    let claim_ips = &claim.status.as_ref().map(|s| s.sandbox.pod_ips.clone());
    ensure_eq!(
        claim_ips.clone().unwrap_or_default(),
        sandbox_ips,
        "status.sandbox.podIPs of the claim (mirrored from the Sandbox)"
    );
    ensure_eq!(
        label(&sandbox.metadata, keys::LAUNCH_TYPE_LABEL),
        keys::LAUNCH_TYPE_WARM,
        "label {} of the adopted Sandbox",
        keys::LAUNCH_TYPE_LABEL
    );
    ensure_eq!(
        label(&sandbox.metadata, keys::WARM_POOL_SANDBOX_LABEL),
        "",
        "label {} of the adopted Sandbox (must be removed)",
        keys::WARM_POOL_SANDBOX_LABEL
    );
    ensure_eq!(
        label(&sandbox.metadata, keys::CLAIM_UID_LABEL),
        uid(&claim)?.as_str(),
        "label {} of the adopted Sandbox",
        keys::CLAIM_UID_LABEL
    );
    let pods = steps::owned_pods(&cx, &uid(&sandbox)?).await?;
    let now: Vec<String> = pods.iter().filter_map(|p| p.uid()).collect();
    ensure_eq!(
        now,
        vec![pod_before[&bound].clone()],
        "Pod UIDs of the adopted Sandbox (the warm Pod must be kept)"
    );
    let cold = cx
        .api::<Sandbox>()
        .get_opt(CLAIM)
        .await
        .during("look for a Sandbox named after the claim")?;
    ensure!(
        cold.is_none(),
        "a Sandbox named after the claim exists next to the adopted one"
    );
    Ok(())
}

/// A label under the default allowed domain, as a claim may add it.
const CLAIM_LABEL: &str = "sandbox.users.io/team";

/// §4.3, §2.7 (extension labels), §5.6, §5.7 (follow-on effects), §11.22: a warm member's Pod
/// carries `warm-pool-sandbox=NameHash(pool)` and `safe-to-evict: "true"`; once a claim with
/// additionalPodMetadata adopts it, the same Pod loses both, keeps
/// `sandbox-template-ref-hash`, and gains the claim's label and annotation.
async fn adopted_pod_metadata(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 1, json!({}), json!({})).await?;
    let members = steps::pool_ready(&cx, &pool, 1).await?;
    let member_uid = uid(&members[0])?;
    let pods = steps::owned_pods(&cx, &member_uid).await?;
    let [warm_pod] = pods.as_slice() else {
        return Err(Fail::check(format!(
            "pool member {} should have one Pod, has {:?}",
            members[0].name_any(),
            names(&pods)
        )));
    };
    ensure_eq!(
        label(&warm_pod.metadata, keys::WARM_POOL_SANDBOX_LABEL),
        name_hash(POOL).as_str(),
        "label {} of the warm Pod",
        keys::WARM_POOL_SANDBOX_LABEL
    );
    ensure_eq!(
        inspect::annotation(&warm_pod.metadata, keys::SAFE_TO_EVICT_ANNOTATION),
        "true",
        "annotation {} of the warm Pod",
        keys::SAFE_TO_EVICT_ANNOTATION
    );
    let pod_name = warm_pod.name_any();
    let pod_uid = uid(warm_pod)?;

    create_claim(
        &cx,
        CLAIM,
        json!({"additionalPodMetadata": {
            "labels": {CLAIM_LABEL: "a"},
            "annotations": {"note": "x"}
        }}),
    )
    .await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    ensure_eq!(
        bound_sandbox(&claim),
        members[0].name_any(),
        "the Sandbox the claim adopted"
    );
    let (cx, pods, pod_name) = (&cx, &cx.api::<Pod>(), &pod_name);
    let pod = cx
        .until(
            "the adopted Pod's metadata to be the claim's",
            || async move {
                let pod = pods
                    .get(pod_name)
                    .await
                    .during(format_args!("get Pod {pod_name}"))?;
                let m = &pod.metadata;
                let seen = format!(
                    "labels {:?}, annotations {:?}",
                    m.labels.clone().unwrap_or_default(),
                    m.annotations.clone().unwrap_or_default()
                );
                let done = label(m, CLAIM_LABEL) == "a"
                    && inspect::annotation(m, "note") == "x"
                    && label(m, keys::WARM_POOL_SANDBOX_LABEL).is_empty()
                    && inspect::annotation(m, keys::SAFE_TO_EVICT_ANNOTATION).is_empty();
                Ok(if done {
                    Probe::Done(pod)
                } else {
                    Probe::Waiting(seen)
                })
            },
        )
        .await?;
    ensure_eq!(
        pod.uid(),
        Some(pod_uid),
        "UID of Pod {pod_name} (adoption must not recreate it)"
    );
    ensure_eq!(
        label(&pod.metadata, keys::SANDBOX_TEMPLATE_REF_HASH_LABEL),
        name_hash(TEMPLATE).as_str(),
        "label {} of the adopted Pod",
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL
    );
    Ok(())
}

/// §5.9: if the bound Sandbox of a live, unexpired claim is deleted, the claim clears the stale
/// reference and binds a new Sandbox (warm or cold) that it alone controls, and is Ready again.
async fn rebinds_after_sandbox_deleted(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 2, json!({}), json!({})).await?;
    steps::pool_ready(&cx, &pool, 2).await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    let first = bound_sandbox(&claim).to_string();
    let first_uid = uid(&get_sandbox(&cx, &first).await?)?;
    cx.api::<Sandbox>()
        .delete(&first, &DeleteParams::default())
        .await
        .during(format_args!("delete the bound Sandbox {first}"))?;
    let (cx, claims, sandboxes, first_uid) = (
        &cx,
        &cx.api::<SandboxClaim>(),
        &cx.api::<Sandbox>(),
        &first_uid,
    );
    // A cold replacement named after the claim waits for the old Pod's garbage collection.
    cx.until_within(
        "the claim to be Ready with a new Sandbox",
        cx.wait * 2,
        || async move {
            let claim = claims.get(CLAIM).await.during("get the claim")?;
            let ready = inspect::has_condition(
                inspect::claim_conditions(&claim),
                condition::READY,
                "True",
                reason::DEPENDENCIES_READY,
            );
            let bound = bound_sandbox(&claim);
            let sandbox = if bound.is_empty() {
                None
            } else {
                sandboxes
                    .get_opt(bound)
                    .await
                    .during("get the bound Sandbox")?
            };
            let fresh = sandbox.as_ref().is_some_and(|s| {
                s.uid().as_deref() != Some(first_uid.as_str())
                    && inspect::controller(&s.metadata)
                        .is_some_and(|o| claim.uid().as_deref() == Some(o.uid.as_str()))
            });
            Ok(if ready && fresh {
                Probe::Done(())
            } else {
                Probe::Waiting(format!(
                    "{}; status.sandbox.name={bound:?} ({})",
                    inspect::describe(inspect::claim_conditions(&claim)),
                    match &sandbox {
                        None => "missing".to_string(),
                        Some(s) => describe_owners(&s.metadata),
                    }
                ))
            })
        },
    )
    .await
}

/// §5.4, §5.8 (env): `env` on a claim whose template keeps the default
/// `envVarsInjectionPolicy` (Disallowed) is rejected: Ready=False/EnvVarsInjectionRejected, and
/// no Sandbox is created.
async fn env_rejected(cx: CaseContext) -> Result<(), Fail> {
    steps::template_and_pool(&cx, 0, json!({}), json!({})).await?;
    create_claim(
        &cx,
        CLAIM,
        json!({"env": [{"name": "TASK", "value": "42"}]}),
    )
    .await?;
    steps::claim_condition(&cx, CLAIM, "False", reason::ENV_VARS_INJECTION_REJECTED).await?;
    let sandbox = cx
        .api::<Sandbox>()
        .get_opt(CLAIM)
        .await
        .during("look for a Sandbox named after the claim")?;
    ensure!(
        sandbox.is_none(),
        "a Sandbox was created for the rejected claim"
    );
    Ok(())
}

/// §5.4, §5.6: a label without a prefix in `additionalPodMetadata` fails validation:
/// Ready=False/InvalidMetadata, and no Sandbox is created.
async fn invalid_metadata(cx: CaseContext) -> Result<(), Fail> {
    steps::template_and_pool(&cx, 0, json!({}), json!({})).await?;
    create_claim(
        &cx,
        CLAIM,
        json!({"additionalPodMetadata": {"labels": {"team": "a"}}}),
    )
    .await?;
    steps::claim_condition(&cx, CLAIM, "False", reason::INVALID_METADATA).await?;
    let sandbox = cx
        .api::<Sandbox>()
        .get_opt(CLAIM)
        .await
        .during("look for a Sandbox named after the claim")?;
    ensure!(
        sandbox.is_none(),
        "a Sandbox was created for the invalid claim"
    );
    Ok(())
}

/// §5.5 (v1.0.4): a claim cold-started (the pool has no members) from a template whose Pod the
/// API server refuses as invalid (a container name that is not a DNS label, which the CRDs
/// accept) ends Ready=False/InvalidConfiguration rather than waiting for a Pod that cannot be.
async fn invalid_configuration(cx: CaseContext) -> Result<(), Fail> {
    steps::template_and_pool(
        &cx,
        0,
        json!({"podTemplate": {"spec": objects::invalid_pod_spec(&cx.image)}}),
        json!({}),
    )
    .await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    steps::claim_condition(&cx, CLAIM, "False", reason::INVALID_CONFIGURATION).await?;
    Ok(())
}

/// Checks a cold-started Sandbox: named after the claim, `launch-type=cold`, labelled with the
/// template's name hash, annotated with the template's name, controlled by the claim alone.
fn ensure_cold(sandbox: &Sandbox, claim: &SandboxClaim) -> Result<(), Fail> {
    ensure_claim_is_only_owner(sandbox, claim)?;
    ensure_eq!(
        label(&sandbox.metadata, keys::LAUNCH_TYPE_LABEL),
        keys::LAUNCH_TYPE_COLD,
        "label {} of the cold Sandbox",
        keys::LAUNCH_TYPE_LABEL
    );
    ensure_eq!(
        label(&sandbox.metadata, keys::SANDBOX_TEMPLATE_REF_HASH_LABEL),
        name_hash(TEMPLATE).as_str(),
        "label {} of the cold Sandbox",
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL
    );
    ensure_eq!(
        inspect::annotation(&sandbox.metadata, keys::SANDBOX_TEMPLATE_REF_ANNOTATION),
        TEMPLATE,
        "annotation {} of the cold Sandbox",
        keys::SANDBOX_TEMPLATE_REF_ANNOTATION
    );
    Ok(())
}

/// §5.7 step 8, §5.8, §11.16: a claim never waits for an empty pool: it creates a Sandbox named
/// after itself from the pool's template and becomes Ready.
/// A blueprint whose Pods may run on `node` only.
fn blueprint_on(cx: &CaseContext, node: &str) -> Value {
    let mut spec = objects::pod_spec(&cx.image);
    spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}});
    json!({"podTemplate": {"spec": spec}})
}

/// The node each Sandbox runs on (`status.nodeName`), by name.
fn nodes_of(sandboxes: &[Sandbox]) -> BTreeMap<String, String> {
    sandboxes
        .iter()
        .map(|s| {
            let node = s.status.as_ref().map(|st| st.node_name.clone());
            (s.name_any(), node.unwrap_or_default())
        })
        .collect()
}

async fn warm_node_spread(cx: CaseContext) -> Result<(), Fail> {
    let nodes = steps::schedulable_nodes(&cx).await?;
    let [older_node, newer_node, ..] = nodes.as_slice() else {
        return Err(Fail::skip(format!(
            "needs two schedulable nodes, the cluster has {}: {nodes:?}",
            nodes.len()
        )));
    };
    // The pool's two oldest members run on one node ...
    let (_, pool) =
        steps::template_and_pool(&cx, 2, blueprint_on(&cx, older_node), json!({})).await?;
    let older = nodes_of(&steps::pool_ready(&cx, &pool, 2).await?);
    ensure!(
        older.values().all(|n| n == older_node),
        "the first members run elsewhere than {older_node}: {older:?}"
    );
    // ... and three newer ones on the other: the template changes, and the pool (OnReplenish)
    // keeps its members and makes the new ones from the changed template.
    cx.api::<sandbox_api::v1beta1::SandboxTemplate>()
        .patch(
            steps::TEMPLATE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": blueprint_on(&cx, newer_node)})),
        )
        .await
        .during("move the template's Pods to the second node")?;
    cx.api::<sandbox_api::v1beta1::SandboxWarmPool>()
        .patch(
            POOL,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .during("scale the pool to 5")?;
    let members = nodes_of(&steps::pool_ready(&cx, &pool, 5).await?);
    let on_newer = members.values().filter(|n| *n == newer_node).count();
    ensure!(
        on_newer == 3 && members.len() == 5,
        "want 2 members on {older_node} and 3 on {newer_node}: {members:?}"
    );
    // Oldest first would take a member on the first node; NodeSpread takes one on the node
    // holding the most.
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    let bound = bound_sandbox(&claim).to_string();
    ensure!(
        members.get(&bound) == Some(newer_node),
        "the claim adopted {bound}, on {:?}; NodeSpread takes a member of {newer_node}, the \
         node holding the most members ({members:?})",
        members.get(&bound)
    );
    Ok(())
}

async fn cold_empty_pool(cx: CaseContext) -> Result<(), Fail> {
    steps::template_and_pool(&cx, 0, json!({}), json!({})).await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    ensure_eq!(bound_sandbox(&claim), CLAIM, "status.sandbox.name");
    ensure_cold(&get_sandbox(&cx, CLAIM).await?, &claim)
}

/// §5.7 step 4, §5.8 (env), §11.17: `env` on a claim forces a cold start even when the pool has
/// Ready members; with `envVarsInjectionPolicy: Allowed` the variable is added to the first
/// container; the pool keeps its member.
async fn cold_env(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(
        &cx,
        1,
        json!({"envVarsInjectionPolicy": "Allowed"}),
        json!({}),
    )
    .await?;
    let before = names(&steps::pool_ready(&cx, &pool, 1).await?);
    create_claim(
        &cx,
        CLAIM,
        json!({"env": [{"name": "TASK", "value": "42"}]}),
    )
    .await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    ensure_eq!(
        bound_sandbox(&claim),
        CLAIM,
        "status.sandbox.name (env must force a cold start)"
    );
    let sandbox = get_sandbox(&cx, CLAIM).await?;
    ensure_cold(&sandbox, &claim)?;
    let env: Vec<(String, Option<String>)> = sandbox
        .spec
        .blueprint
        .pod_template
        .spec
        .containers
        .iter()
        .filter(|c| c.name == CONTAINER)
        .flat_map(|c| c.env.iter().flatten())
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    ensure!(
        env.contains(&("TASK".into(), Some("42".into()))),
        "container {CONTAINER} of Sandbox {CLAIM} lacks TASK=42: {env:?}"
    );
    let after = names(&steps::pool_members(&cx, &pool).await?);
    ensure_eq!(after, before, "pool members after the cold start");
    Ok(())
}

/// §5.4 (`TemplateNotFound`): a claim on a pool whose template does not exist is
/// Ready=False/TemplateNotFound with message `SandboxTemplate "<name>" not found`.
async fn template_not_found(cx: CaseContext) -> Result<(), Fail> {
    cx.create(&objects::warm_pool(POOL, "missing", 1, json!({}))?)
        .await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_condition(&cx, CLAIM, "False", reason::TEMPLATE_NOT_FOUND).await?;
    let message = inspect::condition(inspect::claim_conditions(&claim), condition::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure_eq!(
        message,
        "SandboxTemplate \"missing\" not found",
        "Ready message"
    );
    Ok(())
}

/// §5.4 (`WarmPoolNotFound`): a claim on a pool that does not exist is
/// Ready=False/WarmPoolNotFound with message `SandboxWarmPool "<name>" not found`.
async fn warm_pool_not_found(cx: CaseContext) -> Result<(), Fail> {
    cx.create(&objects::claim(CLAIM, "missing", json!({}))?)
        .await?;
    let claim = steps::claim_condition(&cx, CLAIM, "False", reason::WARM_POOL_NOT_FOUND).await?;
    let message = inspect::condition(inspect::claim_conditions(&claim), condition::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure_eq!(
        message,
        "SandboxWarmPool \"missing\" not found",
        "Ready message"
    );
    Ok(())
}

/// Claims racing for the pool.
const RACERS: usize = 10;
/// Members of the raced pool.
const RACE_POOL: i32 = 3;

/// §5.7 (race handling), DESIGN "never two claims on one sandbox, never a leaked sandbox": 10
/// claims created at once on a pool of 3 all become Ready, each bound to a different Sandbox
/// that it alone controls; no Sandbox has two controllers; claims control exactly 10
/// Sandboxes with one Pod each, so no Pod exists beyond the claim count.
async fn race(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, RACE_POOL, json!({}), json!({})).await?;
    steps::pool_ready(&cx, &pool, RACE_POOL).await?;
    let claim_names: Vec<String> = (0..RACERS).map(|i| format!("racer-{i}")).collect();
    let mut creates = tokio::task::JoinSet::new();
    for name in &claim_names {
        let (cx, name) = (cx.clone(), name.clone());
        creates.spawn(async move { create_claim(&cx, &name, json!({})).await });
    }
    while let Some(created) = creates.join_next().await {
        created.map_err(|e| Fail::check(format!("creating a claim panicked: {e}")))??;
    }
    let mut claims = Vec::new();
    for name in &claim_names {
        claims.push(steps::claim_ready(&cx, name).await?);
    }
    check_race_invariants(&cx, &claims).await?;
    let (cx, claims) = (&cx, &claims);
    cx.holds(
        "the race invariants after every claim is Ready",
        Duration::from_secs(2),
        || async move {
            Ok(check_race_invariants(cx, claims)
                .await
                .map_err(|f| f.to_string()))
        },
    )
    .await
}

async fn check_race_invariants(cx: &CaseContext, claims: &[SandboxClaim]) -> Result<(), Fail> {
    let mut bound_to: BTreeMap<String, String> = BTreeMap::new();
    for claim in claims {
        let sandbox = bound_sandbox(claim).to_string();
        if let Some(other) = bound_to.insert(sandbox.clone(), claim.name_any()) {
            return Err(Fail::check(format!(
                "Sandbox {sandbox} is bound to both {other} and {}",
                claim.name_any()
            )));
        }
    }
    let claim_uids: BTreeSet<String> = claims.iter().filter_map(|c| c.uid()).collect();
    let sandboxes = cx
        .api::<Sandbox>()
        .list(&ListParams::default())
        .await
        .during("list Sandboxes")?;
    let mut claimed = Vec::new();
    for s in &sandboxes.items {
        let controllers = inspect::controllers(&s.metadata);
        ensure!(
            controllers.len() <= 1,
            "Sandbox {} has {} controllers: {}",
            s.name_any(),
            controllers.len(),
            describe_owners(&s.metadata)
        );
        if controllers
            .first()
            .is_some_and(|o| claim_uids.contains(&o.uid))
        {
            claimed.push(s);
        }
    }
    ensure!(
        claimed.len() == claims.len(),
        "claims control {} Sandboxes, want {} (one each): {:?}",
        claimed.len(),
        claims.len(),
        claimed.iter().map(|s| s.name_any()).collect::<Vec<_>>()
    );
    for claim in claims {
        let sandbox = claimed
            .iter()
            .find(|s| s.name_any() == bound_sandbox(claim))
            .ok_or_else(|| {
                Fail::check(format!(
                    "claim {} reports Sandbox {:?}, which it does not control",
                    claim.name_any(),
                    bound_sandbox(claim)
                ))
            })?;
        ensure_claim_is_only_owner(sandbox, claim)?;
    }
    let mut pods = 0;
    for s in &claimed {
        let owned = steps::owned_pods(cx, &uid(*s)?).await?;
        ensure!(
            owned.len() == 1,
            "claimed Sandbox {} has {} Pods: {:?}",
            s.name_any(),
            owned.len(),
            names(&owned)
        );
        pods += owned.len();
    }
    ensure!(
        pods <= claims.len(),
        "{pods} Pods for {} claims",
        claims.len()
    );
    Ok(())
}

/// §5.9: deleting a claim deletes (by garbage collection) its Sandbox and the Sandbox's Pod.
async fn delete_cascades(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 1, json!({}), json!({})).await?;
    steps::pool_ready(&cx, &pool, 1).await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    let bound = bound_sandbox(&claim).to_string();
    let pods = steps::owned_pods(&cx, &uid(&get_sandbox(&cx, &bound).await?)?).await?;
    cx.api::<SandboxClaim>()
        .delete(CLAIM, &DeleteParams::default())
        .await
        .during("delete the claim")?;
    steps::gone::<Sandbox>(&cx, &bound).await?;
    for pod in names(&pods) {
        steps::gone::<Pod>(&cx, &pod).await?;
    }
    Ok(())
}

/// §5.2, §5.5 step 5: a claim whose `lifecycle.shutdownTime` has passed under
/// `shutdownPolicy: Delete` is deleted, and its Sandbox with it.
async fn shutdown_time_delete(cx: CaseContext) -> Result<(), Fail> {
    steps::template_and_pool(&cx, 0, json!({}), json!({})).await?;
    create_claim(&cx, CLAIM, json!({})).await?;
    let claim = steps::claim_ready(&cx, CLAIM).await?;
    let bound = bound_sandbox(&claim).to_string();
    cx.api::<SandboxClaim>()
        .patch(
            CLAIM,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"lifecycle": {
                "shutdownTime": objects::time_from_now(-3600),
                "shutdownPolicy": "Delete"
            }}})),
        )
        .await
        .during("move the claim's shutdownTime into the past")?;
    steps::gone::<SandboxClaim>(&cx, CLAIM).await?;
    steps::gone::<Sandbox>(&cx, &bound).await
}

/// Creates a cold claim with `ttlSecondsAfterFinished: 1` and `policy`, waits for it, and
/// finishes its Pod by setting `status.phase: Succeeded` (possible only where kwok, not a
/// kubelet, owns Pod status). Returns the claim and its Sandbox's name.
async fn finish_claimed_pod(
    cx: &CaseContext,
    policy: &str,
) -> Result<(SandboxClaim, String), Fail> {
    let template_spec = json!({"podTemplate": {"spec": steps::run_once_pod_spec(&cx.image)}});
    steps::template_and_pool(cx, 0, template_spec, json!({})).await?;
    create_claim(
        cx,
        CLAIM,
        json!({"lifecycle": {"ttlSecondsAfterFinished": 1, "shutdownPolicy": policy}}),
    )
    .await?;
    let claim = steps::claim_ready(cx, CLAIM).await?;
    let bound = bound_sandbox(&claim).to_string();
    let pods = steps::owned_pods(cx, &uid(&get_sandbox(cx, &bound).await?)?).await?;
    let [pod] = pods.as_slice() else {
        return Err(Fail::check(format!(
            "Sandbox {bound} should have one Pod, has {:?}",
            names(&pods)
        )));
    };
    steps::finish_pod(cx, pod).await?;
    Ok((claim, bound))
}

/// §5.5 step 5, §11.12 (Delete): once the claim mirrors `Finished` from its Sandbox (the Pod
/// succeeded) and `ttlSecondsAfterFinished` has passed, a claim with `shutdownPolicy: Delete` is
/// deleted, and its Sandbox with it.
async fn ttl_delete(cx: CaseContext) -> Result<(), Fail> {
    let (_, bound) = finish_claimed_pod(&cx, "Delete").await?;
    steps::gone::<SandboxClaim>(&cx, CLAIM).await?;
    steps::gone::<Sandbox>(&cx, &bound).await
}

/// §5.4 (`ClaimExpired`), §5.5 step 5, §11.12 (Retain): after the TTL, a claim with
/// `shutdownPolicy: Retain` deletes its Sandbox but stays, Ready=False/ClaimExpired, keeping
/// the mirrored `Finished` condition.
async fn ttl_retain(cx: CaseContext) -> Result<(), Fail> {
    let (_, bound) = finish_claimed_pod(&cx, "Retain").await?;
    steps::claim_condition(&cx, CLAIM, "False", reason::CLAIM_EXPIRED).await?;
    steps::gone::<Sandbox>(&cx, &bound).await?;
    let claims = &cx.api::<SandboxClaim>();
    cx.holds(
        "the expired claim staying under Retain",
        Duration::from_secs(2),
        || async move {
            Ok(match claims.get_opt(CLAIM).await.during("get the claim")? {
                None => Err("the claim was deleted".into()),
                Some(c) if c.metadata.deletion_timestamp.is_some() => {
                    Err("the claim is being deleted".into())
                }
                Some(_) => Ok(()),
            })
        },
    )
    .await?;
    let claim = claims.get(CLAIM).await.during("get the claim")?;
    let conditions = inspect::claim_conditions(&claim);
    ensure!(
        inspect::has_condition(
            conditions,
            condition::FINISHED,
            "True",
            reason::POD_SUCCEEDED
        ),
        "the expired claim should keep Finished=True/PodSucceeded; it has {}",
        inspect::describe(conditions)
    );
    Ok(())
}
