//! SandboxWarmPool (`extensions.agents.x-k8s.io`), spec §4: filling, the scale subresource,
//! replenishment, the update strategies, and members that cannot become Ready.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use sandbox_api::keys::{self, event};
use sandbox_api::name_hash;
use sandbox_api::v1beta1::{Sandbox, SandboxTemplate, SandboxWarmPool};
use serde_json::{Value, json};

use super::{Case, case};
use crate::context::{CaseContext, Probe};
use crate::fail::{ApiContext, Fail, ensure, ensure_eq};
use crate::inspect::{self, WARNING, describe_owners, label};
use crate::objects::{self, CONTAINER};
use crate::release::Release;
use crate::steps::{self, POOL, TEMPLATE, names};

/// How long "nothing else happens" checks watch.
const QUIET: Duration = Duration::from_secs(3);

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "warmpool-gated-members-not-stuck",
            "warmpool",
            "4.4",
            Release::V1_0_12,
            "past readinessGracePeriodSeconds a gated member is neither reported nor replaced; an unschedulable one is reported",
            90,
            gated_members_not_stuck
        ),
        case!(
            "warmpool-fills",
            "warmpool",
            "4.2, 4.3, 4.4",
            Release::V0_5_6,
            "a pool fills to replicas with labelled, pool-controlled Sandboxes; status reports them",
            90,
            fills
        ),
        case!(
            "warmpool-scale-subresource",
            "warmpool",
            "4.1, 4.4",
            Release::V0_5_6,
            "the scale subresource reads and sets replicas; the pool grows and shrinks to follow",
            120,
            scale_subresource
        ),
        case!(
            "warmpool-replenishes-after-adoption",
            "warmpool",
            "4.4, 5.7",
            Release::V0_5_6,
            "after a claim adopts a member the pool creates a replacement",
            90,
            replenishes_after_adoption
        ),
        case!(
            "warmpool-recreate-replaces-stale",
            "warmpool",
            "4.5",
            Release::V0_5_6,
            "updateStrategy Recreate: a template change replaces every unclaimed member",
            120,
            recreate_replaces_stale
        ),
        case!(
            "warmpool-onreplenish-keeps-stale",
            "warmpool",
            "4.5",
            Release::V0_5_6,
            "updateStrategy OnReplenish: a template change leaves the members in place",
            90,
            on_replenish_keeps_stale
        ),
        case!(
            "warmpool-missing-template",
            "warmpool",
            "4.4",
            Release::V1_0_7,
            "a pool whose template is deleted: Warning WarmPoolNotProgressing, members kept; an empty pool stays quiet",
            90,
            missing_template
        ),
    ]
}

/// A pod spec whose container has `VERSION=<version>`: changing it makes members stale.
fn versioned_pod_spec(image: &str, version: &str) -> Value {
    json!({
        "containers": [{"name": CONTAINER, "image": image,
                        "env": [{"name": "VERSION", "value": version}]}],
        "terminationGracePeriodSeconds": 1
    })
}

fn version_of(sandbox: &Sandbox) -> Option<String> {
    sandbox
        .spec
        .blueprint
        .pod_template
        .spec
        .containers
        .iter()
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == "VERSION")
        .and_then(|e| e.value.clone())
}

async fn set_template_version(cx: &CaseContext, version: &str) -> Result<(), Fail> {
    cx.api::<SandboxTemplate>()
        .patch(
            TEMPLATE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"podTemplate": {
                "spec": versioned_pod_spec(&cx.image, version)
            }}})),
        )
        .await
        .during("change the template's pod spec")?;
    Ok(())
}

/// §4.2–4.4: a pool of 3 reaches `status.replicas = status.readyReplicas = 3` with Sandboxes
/// named `<pool>-xxxxx`, controlled by the pool, labelled `warm-pool-sandbox=NameHash(pool)`,
/// `sandbox-template-ref-hash=NameHash(template)` and `launch-type=warm`; `status.selector`
/// selects them and `status.observedGeneration` follows `metadata.generation`.
async fn fills(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 3, json!({}), json!({})).await?;
    let pool_uid = steps::uid(&pool)?;
    let members = steps::pool_ready(&cx, &pool, 3).await?;
    for m in &members {
        let name = m.name_any();
        ensure!(
            name.starts_with(&format!("{POOL}-")) && name.len() > POOL.len() + 1,
            "member {name} is not named {POOL}-<suffix>"
        );
        let owner = inspect::controller(&m.metadata).ok_or_else(|| {
            Fail::check(format!(
                "member {name} has no single controller: {}",
                describe_owners(&m.metadata)
            ))
        })?;
        ensure_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.uid.as_str()
            ),
            (
                "extensions.agents.x-k8s.io/v1beta1",
                "SandboxWarmPool",
                POOL,
                pool_uid.as_str()
            ),
            "controller ownerRef of member {name}"
        );
        ensure_eq!(
            label(&m.metadata, keys::SANDBOX_TEMPLATE_REF_HASH_LABEL),
            name_hash(TEMPLATE).as_str(),
            "label {} of member {name}",
            keys::SANDBOX_TEMPLATE_REF_HASH_LABEL
        );
        ensure_eq!(
            label(&m.metadata, keys::LAUNCH_TYPE_LABEL),
            keys::LAUNCH_TYPE_WARM,
            "label {} of member {name}",
            keys::LAUNCH_TYPE_LABEL
        );
    }
    let pool = cx
        .api::<SandboxWarmPool>()
        .get(POOL)
        .await
        .during("get the pool")?;
    let status = pool.status.clone().unwrap_or_default();
    ensure_eq!(
        status.selector,
        format!("{}={}", keys::WARM_POOL_SANDBOX_LABEL, name_hash(POOL)),
        "status.selector of the pool"
    );
    ensure_eq!(
        Some(status.observed_generation),
        pool.metadata.generation,
        "status.observedGeneration vs metadata.generation"
    );
    Ok(())
}

/// §4.1, §4.4 steps 7–8: `GET …/scale` shows `spec.replicas`, `status.replicas` and the pool's
/// selector; writing the scale subresource changes `spec.replicas`, and the pool grows to 3 and
/// then shrinks to 1 to follow.
async fn scale_subresource(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 1, json!({}), json!({})).await?;
    steps::pool_ready(&cx, &pool, 1).await?;
    let api = cx.api::<SandboxWarmPool>();
    let scale = api.get_scale(POOL).await.during("get the pool's scale")?;
    let status = scale.status.unwrap_or_default();
    ensure_eq!(
        (
            scale.spec.and_then(|s| s.replicas),
            status.replicas,
            status.selector.unwrap_or_default()
        ),
        (
            Some(1),
            1,
            format!("{}={}", keys::WARM_POOL_SANDBOX_LABEL, name_hash(POOL))
        ),
        "scale of the pool (spec.replicas, status.replicas, status.selector)"
    );
    for replicas in [3, 1] {
        api.patch_scale(
            POOL,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .during(format_args!("scale the pool to {replicas}"))?;
        let spec_replicas = api.get(POOL).await.during("get the pool")?.spec.replicas;
        ensure_eq!(
            spec_replicas,
            Some(replicas),
            "spec.replicas after scaling to {replicas}"
        );
        steps::pool_ready(&cx, &pool, replicas).await?;
    }
    Ok(())
}

/// §4.4, §5.7 (follow-on effects): when a claim adopts a member, the member leaves the pool and
/// the pool creates a replacement, back to `replicas` Ready members.
async fn replenishes_after_adoption(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 2, json!({}), json!({})).await?;
    let before = names(&steps::pool_ready(&cx, &pool, 2).await?);
    cx.create(&objects::claim("claim", POOL, json!({}))?)
        .await?;
    let claim = steps::claim_ready(&cx, "claim").await?;
    let adopted = inspect::bound_sandbox(&claim).to_string();
    ensure!(
        before.contains(&adopted),
        "the claim was bound to {adopted}, not to a pool member {before:?}"
    );
    let after = names(&steps::pool_ready(&cx, &pool, 2).await?);
    ensure!(
        !after.contains(&adopted),
        "the adopted Sandbox {adopted} is still counted as a pool member: {after:?}"
    );
    Ok(())
}

/// Creates a pool of 2 on a template at VERSION=1 with `pool_spec`, waits for it, and moves the
/// template to VERSION=2. Returns the pool and the names of its members before the change.
async fn pool_then_template_change(
    cx: &CaseContext,
    pool_spec: Value,
) -> Result<(SandboxWarmPool, BTreeSet<String>), Fail> {
    let template_spec = json!({"podTemplate": {"spec": versioned_pod_spec(&cx.image, "1")}});
    let (_, pool) = steps::template_and_pool(cx, 2, template_spec, pool_spec).await?;
    let before = names(&steps::pool_ready(cx, &pool, 2).await?)
        .into_iter()
        .collect();
    set_template_version(cx, "2").await?;
    Ok((pool, before))
}

/// §4.5 (Recreate): after the template's pod spec changes, every unclaimed member is stale and
/// is replaced: the pool ends with 2 Ready members, none of the old ones, all at the new spec.
async fn recreate_replaces_stale(cx: CaseContext) -> Result<(), Fail> {
    let (pool, before) =
        pool_then_template_change(&cx, json!({"updateStrategy": {"type": "Recreate"}})).await?;
    let (cx, pool, before) = (&cx, &pool, &before);
    cx.until("the pool to replace its stale members", || async move {
        let members = steps::pool_members(cx, pool).await?;
        let fresh = members
            .iter()
            .filter(|m| !before.contains(&m.name_any()) && version_of(m).as_deref() == Some("2"))
            .filter(|m| {
                inspect::has_condition(
                    inspect::sandbox_conditions(m),
                    sandbox_api::keys::condition::READY,
                    "True",
                    sandbox_api::keys::reason::DEPENDENCIES_READY,
                )
            })
            .count();
        Ok(if members.len() == 2 && fresh == 2 {
            Probe::Done(())
        } else {
            let described: Vec<String> = members
                .iter()
                .map(|m| format!("{} (VERSION={:?})", m.name_any(), version_of(m)))
                .collect();
            Probe::Waiting(format!(
                "live members {described:?}, {fresh} new and Ready; old members were {before:?}"
            ))
        })
    })
    .await
}

/// §4.5 (OnReplenish, the default): after the template's pod spec changes, the unclaimed
/// members stay as they are; they are replaced only as they leave the pool.
async fn on_replenish_keeps_stale(cx: CaseContext) -> Result<(), Fail> {
    let (pool, before) = pool_then_template_change(&cx, json!({})).await?;
    let (cx, pool, before) = (&cx, &pool, &before);
    cx.holds(
        "the stale members staying in the pool",
        Duration::from_secs(5),
        || async move {
            let now: BTreeSet<String> = names(&steps::pool_members(cx, pool).await?)
                .into_iter()
                .collect();
            Ok(if now == *before {
                Ok(())
            } else {
                Err(format!("members changed from {before:?} to {now:?}"))
            })
        },
    )
    .await
}

/// The Sandboxes in the namespace that are not being deleted: name by UID.
async fn live_sandboxes(cx: &CaseContext) -> Result<BTreeMap<String, String>, Fail> {
    let list = cx
        .api::<Sandbox>()
        .list(&ListParams::default())
        .await
        .during("list Sandboxes")?;
    Ok(list
        .items
        .into_iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter_map(|s| Some((s.uid()?, s.name_any())))
        .collect())
}

/// The pool of no replicas on a template that never exists.
const IDLE_POOL: &str = "idle";

/// §4.4 (v1.0.7): once its template is gone a pool cannot make members, and says so with a
/// Warning Event `WarmPoolNotProgressing`; it keeps the members it has rather than deleting
/// them. A pool of 0 replicas on a template that never existed needs nothing from it and
/// reports nothing.
async fn missing_template(cx: CaseContext) -> Result<(), Fail> {
    let (_, pool) = steps::template_and_pool(&cx, 2, json!({}), json!({})).await?;
    cx.create(&objects::warm_pool(IDLE_POOL, "missing", 0, json!({}))?)
        .await?;
    let mut members = BTreeMap::new();
    for m in steps::pool_ready(&cx, &pool, 2).await? {
        members.insert(steps::uid(&m)?, m.name_any());
    }
    cx.api::<SandboxTemplate>()
        .delete(TEMPLATE, &DeleteParams::default())
        .await
        .during("delete the pool's template")?;
    steps::event::<SandboxWarmPool>(&cx, POOL, WARNING, event::WARM_POOL_NOT_PROGRESSING).await?;
    steps::no_event::<SandboxWarmPool>(&cx, IDLE_POOL, event::WARM_POOL_NOT_PROGRESSING).await?;
    let (cx, members) = (&cx, &members);
    cx.holds(
        "the pool's members staying without their template",
        QUIET,
        || async move {
            let live = live_sandboxes(cx).await?;
            let lost: Vec<&String> = members
                .iter()
                .filter(|(uid, _)| !live.contains_key(*uid))
                .map(|(_, name)| name)
                .collect();
            Ok(if lost.is_empty() {
                Ok(())
            } else {
                Err(format!("members {lost:?} were deleted"))
            })
        },
    )
    .await
}

/// `readinessGracePeriodSeconds` of the pools of the gated-members case: the least allowed.
const GRACE_SECONDS: u16 = 30;
/// The pool whose member's Pod fits no node: the positive control.
const CONTROL_POOL: &str = "control";
/// The pool whose member's Pod waits on a scheduling gate.
const GATED_POOL: &str = "gated";

/// Creates the template `<pool>-template` whose Pod spec is the smallest one plus the keys of
/// `pod_spec`, and the pool `pool` of one member on it with a readiness grace period of
/// [`GRACE_SECONDS`], checking that the API server kept the grace period.
async fn pool_with_grace(
    cx: &CaseContext,
    pool: &str,
    pod_spec: Value,
) -> Result<SandboxWarmPool, Fail> {
    let template = format!("{pool}-template");
    let spec = objects::overlay(objects::pod_spec(&cx.image), pod_spec);
    cx.create(&objects::template(
        &template,
        &cx.image,
        json!({"podTemplate": {"spec": spec}}),
    )?)
    .await?;
    let created = cx
        .create(&objects::warm_pool(
            pool,
            &template,
            1,
            json!({"readinessGracePeriodSeconds": GRACE_SECONDS}),
        )?)
        .await?;
    ensure_eq!(
        created.spec.readiness_grace_period_seconds,
        Some(i32::from(GRACE_SECONDS)),
        "spec.readinessGracePeriodSeconds of pool {pool} as stored (a CRD without the field drops it)"
    );
    Ok(created)
}

/// Waits until `pool` has exactly one live member and returns it.
async fn only_member(cx: &CaseContext, pool: &SandboxWarmPool) -> Result<Sandbox, Fail> {
    let name = pool.name_any();
    cx.until(&format!("pool {name} to have one member"), || async move {
        let members = steps::pool_members(cx, pool).await?;
        Ok(match members.as_slice() {
            [only] => Probe::Done(only.clone()),
            _ => Probe::Waiting(format!("live members {:?}", names(&members))),
        })
    })
    .await
}

/// §4.4 (v1.0.7, v1.0.12): a member whose Pod waits on a scheduling gate is held back on
/// purpose, not stuck: past the pool's `readinessGracePeriodSeconds` it is neither replaced nor
/// reported. The control pool's member has a Pod that fits no node; its Warning Event
/// `WarmPoolNotProgressing` shows that the grace period has passed and that the controller
/// does report stuck members.
async fn gated_members_not_stuck(cx: CaseContext) -> Result<(), Fail> {
    pool_with_grace(
        &cx,
        CONTROL_POOL,
        json!({"nodeSelector": {"conformance.invalid/none": "x"}}),
    )
    .await?;
    let gated = pool_with_grace(
        &cx,
        GATED_POOL,
        json!({"schedulingGates": [{"name": "conformance.invalid/hold"}]}),
    )
    .await?;
    let member = only_member(&cx, &gated).await?;
    let first_seen = Instant::now();
    let (member_uid, member_name) = (steps::uid(&member)?, member.name_any());
    let grace = Duration::from_secs(u64::from(GRACE_SECONDS));
    steps::event_within::<SandboxWarmPool>(
        &cx,
        CONTROL_POOL,
        WARNING,
        event::WARM_POOL_NOT_PROGRESSING,
        grace * 2 + Duration::from_secs(10),
    )
    .await?;
    // The pools look at their members on their own timers: give the gated one until its member
    // is past the grace period by half as much again (upstream re-checks up to that late).
    let settled = first_seen + grace * 3 / 2 + Duration::from_secs(5);
    let window = settled.saturating_duration_since(Instant::now()).max(QUIET);
    let (cx, gated, member_uid, member_name) = (&cx, &gated, &member_uid, &member_name);
    cx.holds(
        "the gated member staying, unreported",
        window,
        || async move {
            match steps::no_event::<SandboxWarmPool>(
                cx,
                GATED_POOL,
                event::WARM_POOL_NOT_PROGRESSING,
            )
            .await
            {
                Ok(()) => {}
                Err(Fail::Check(reported)) => return Ok(Err(reported)),
                Err(other) => return Err(other),
            }
            let members = steps::pool_members(cx, gated).await?;
            Ok(match members.as_slice() {
                [only] if only.uid().as_deref() == Some(member_uid.as_str()) => Ok(()),
                _ => Err(format!(
                    "member {member_name} was replaced: live members {:?}",
                    names(&members)
                )),
            })
        },
    )
    .await?;
    let member = cx
        .api::<Sandbox>()
        .get(member_name)
        .await
        .during(format_args!("get Sandbox {member_name}"))?;
    let conditions = inspect::sandbox_conditions(&member);
    ensure!(
        !inspect::has_condition(
            conditions,
            keys::condition::READY,
            "True",
            keys::reason::DEPENDENCIES_READY
        ),
        "the gated member {member_name} became Ready, so its Pod was not held by the gate: {}",
        inspect::describe(conditions)
    );
    Ok(())
}
