//! The SandboxClaim controller (spec §5): gives each claim a Sandbox, warm from its pool when
//! one is Ready, cold from the pool's template otherwise.
//!
//! Adoption is race-free with one write: the adoption patch carries the Sandbox's
//! `resourceVersion`, so of two claims (in this process or another) only one can take a
//! Sandbox. Inside the process, a reservation keeps concurrent workers off the Sandbox another
//! worker is taking, so they do not burn a round trip on a certain conflict. The Sandbox's
//! controller ownerRef is the single record of the binding: a claim that restarts finds its
//! Sandbox by owner UID.
//!
//! The cache lags our own writes, so a claim remembers the Sandbox this process just adopted or
//! created for it (or tried to, when the write got no answer) until the cache shows it
//! controlling that Sandbox ([`bindings`]), and decides nothing before then: a pass on the stale
//! cache would see an unbound claim and bind a second one. A binding the cache does not show
//! in time is settled by reading the Sandbox from the API server, never by forgetting it.

pub mod bindings;
pub mod build;
pub mod decide;
pub mod reservations;
pub mod waiters;

#[cfg(test)]
mod api_writes_tests;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::events::Recorder;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use tokio::sync::mpsc;

use crate::events::{self, Notice};
use crate::index::{self, Index};
use crate::metrics::{ClaimCreation, ClaimLatency, Metrics};
use crate::write;
use bindings::{Binding, Judgement};
use decide::{Action, Observed};

pub use crate::error::Error;

/// Reporting controller of this controller's Events, as upstream names its recorder.
pub const REPORTING_CONTROLLER: &str = "sandboxclaim-controller";

/// Fallback when the cached claim predates our own status write; its update event normally
/// comes first.
const STALE_CLAIM_RETRY: Duration = Duration::from_secs(1);
/// How soon a claim whose new Sandbox the cache does not show yet looks again.
const BINDING_CACHE_RETRY: Duration = Duration::from_millis(50);
/// Retry after losing every candidate to other claims: the cache catches up within milliseconds.
const LOST_RACE_RETRY: Duration = Duration::from_millis(5);

pub struct Context {
    pub client: kube::Client,
    pub sandboxes: index::Sandboxes,
    pub pools: Store<SandboxWarmPool>,
    pub templates: Store<SandboxTemplate>,
    /// The Sandbox, pool and template caches' first listings.
    pub synced: crate::cache::Synced,
    pub allowed_label_domains: Vec<String>,
    /// Tells a pool which member a claim adopted (its ownerRef no longer points at the pool).
    pub pool_events: mpsc::UnboundedSender<(ObjectRef<SandboxWarmPool>, String)>,
    pub metrics: Arc<Metrics>,
    /// `None` with `--disable-claim-events`.
    pub recorder: Option<Recorder>,
    /// Claims waiting for a pool member that is still starting.
    pub waiters: waiters::Waiters,
    /// Where adoptions are told, so that their follow-ups (Events among them) wait for the
    /// burst to end.
    pub burst: Arc<crate::burst::Burst>,
    /// The members this process's workers are adopting now.
    reservations: reservations::Reservations,
    /// The Sandbox this process last adopted or created for each claim, until the cache
    /// shows it.
    bindings: bindings::Bindings,
    /// The resourceVersion each claim (by UID) had when we last changed its status, until the
    /// cache shows a newer one.
    status_written_over: Mutex<HashMap<String, (String, Instant)>>,
    /// When this process first saw each claim (by UID), for the startup latency metric. Kept in
    /// memory instead of upstream's annotation: one write less per claim.
    first_seen: Mutex<HashMap<String, Instant>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        sandboxes: index::Sandboxes,
        pools: Store<SandboxWarmPool>,
        templates: Store<SandboxTemplate>,
        synced: crate::cache::Synced,
        pool_events: mpsc::UnboundedSender<(ObjectRef<SandboxWarmPool>, String)>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            sandboxes,
            pools,
            templates,
            synced,
            allowed_label_domains: build::DEFAULT_ALLOWED_LABEL_DOMAINS
                .map(String::from)
                .to_vec(),
            pool_events,
            metrics,
            recorder: None,
            waiters: waiters::Waiters::default(),
            burst: Arc::new(crate::burst::Burst::off()),
            reservations: reservations::Reservations::default(),
            bindings: bindings::Bindings::default(),
            status_written_over: Mutex::default(),
            first_seen: Mutex::default(),
        }
    }

    /// When the claim was first seen; the first call stamps it.
    /// The claim's first Ready: its start-up latency by launch type (warm only when the bound
    /// Sandbox says so), the latencies its annotations ask for, and the end of its clock.
    fn record_ready(
        &self,
        claim: &SandboxClaim,
        bound: Option<&Sandbox>,
        template_name: &str,
        first_seen: Instant,
    ) {
        let launch = bound
            .and_then(|s| s.labels().get(keys::LAUNCH_TYPE_LABEL).cloned())
            .filter(|l| l == keys::LAUNCH_TYPE_WARM)
            .unwrap_or_else(|| keys::LAUNCH_TYPE_COLD.into());
        self.metrics
            .claim_controller_startup_latency_ms
            .get_or_create(&ClaimLatency {
                launch_type: launch.clone(),
                sandbox_template: template_name.to_string(),
            })
            .observe(first_seen.elapsed().as_secs_f64() * 1000.0);
        self.observe_annotated_latencies(claim, &launch, template_name);
        self.forget_first_seen(claim.metadata.uid.as_deref().unwrap_or_default());
    }

    fn first_seen(&self, uid: &str) -> Instant {
        *self
            .first_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(uid.to_string())
            .or_insert_with(Instant::now)
    }

    /// Drops the first-seen time once it has served (Ready) or can no longer (deleting).
    fn forget_first_seen(&self, uid: &str) {
        self.first_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }

    fn count_creation(
        &self,
        claim: &SandboxClaim,
        template: &str,
        launch: &str,
        pool: &str,
        ready: bool,
    ) {
        self.metrics
            .claim_creation
            .get_or_create(&ClaimCreation {
                namespace: claim.namespace().unwrap_or_default(),
                sandbox_template: template.to_string(),
                launch_type: launch.to_string(),
                warmpool_name: pool.to_string(),
                pod_condition: if ready { "ready" } else { "not_ready" }.into(),
                created_by: claim
                    .labels()
                    .get(keys::CREATED_BY_LABEL)
                    .map_or("unknown", |v| {
                        crate::sandbox::children::normalize_created_by(v)
                    })
                    .into(),
            })
            .inc();
    }

    /// The end-to-end latencies upstream measures from the admission webhook's and the
    /// client's timestamp annotations, for claims that carry them.
    fn observe_annotated_latencies(&self, claim: &SandboxClaim, launch: &str, template: &str) {
        let labels = ClaimLatency {
            launch_type: launch.to_string(),
            sandbox_template: template.to_string(),
        };
        let now = k8s_openapi::jiff::Timestamp::now();
        let annotation = |key: &str| claim.annotations().get(key).map(String::as_str);
        for (key, family) in [
            (
                keys::WEBHOOK_FIRST_OBSERVED_AT_ANNOTATION,
                &self.metrics.claim_startup_latency_ms,
            ),
            (
                keys::CLIENT_FIRST_REQUESTED_AT_ANNOTATION,
                &self.metrics.client_claim_startup_latency_ms,
            ),
        ] {
            if let Some(ms) = crate::metrics::ms_since_annotation(annotation(key), now) {
                family.get_or_create(&labels).observe(ms);
            }
        }
    }

    /// Records that the status write replaced the claim at `resource_version`.
    fn wrote_status_over(&self, claim_uid: &str, resource_version: Option<String>) {
        if let Some(rv) = resource_version {
            self.status_written_over
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(claim_uid.to_string(), (rv, Instant::now()));
        }
    }

    /// Whether the cached claim is still the one our last status write replaced.
    fn cache_behind_status_write(&self, claim_uid: &str, resource_version: Option<&str>) -> bool {
        let mut all = self
            .status_written_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some((rv, at)) = all.get(claim_uid) else {
            return false;
        };
        let behind = is_behind(rv, *at, resource_version, Instant::now());
        if !behind {
            all.remove(claim_uid);
        }
        behind
    }

    fn tell(&self, claim: &SandboxClaim, notice: &Notice) {
        events::publish(self.recorder.as_ref(), notice, claim.object_ref(&()));
    }
}

/// Whether `s` is a member of pool `pool` that a claim may adopt (spec §5.7): not being
/// deleted, labelled as a pool member, and controlled by that pool (any API version).
fn adoptable_from(s: &Sandbox, pool: &str, pool_hash: &sandbox_api::NameHash) -> bool {
    let labels = s.labels();
    s.metadata.deletion_timestamp.is_none()
        && labels
            .get(keys::WARM_POOL_SANDBOX_LABEL)
            .is_some_and(|v| *pool_hash == v.as_str())
        && labels.contains_key(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL)
        && crate::sandbox::children::controller_of(&s.metadata).is_some_and(|r| {
            r.kind == SandboxWarmPool::kind(&())
                && crate::sandbox::children::api_group(&r.api_version)
                    == "extensions.agents.x-k8s.io"
                && r.name == pool
        })
}

/// How long a cached claim may lag our own status write before the write is assumed lost.
const STATUS_WRITE_TTL: Duration = Duration::from_secs(10);

/// Whether a cached claim at `cached_rv` is the very version our status write at `written_at`
/// replaced (so the cache has not caught up), within [`STATUS_WRITE_TTL`].
fn is_behind(
    replaced_rv: &str,
    written_at: Instant,
    cached_rv: Option<&str>,
    now: Instant,
) -> bool {
    cached_rv == Some(replaced_rv) && now.duration_since(written_at) < STATUS_WRITE_TTL
}

/// The Sandbox `claim` controls. Ownership decides; names only say where to look first: the
/// one the claim's status records, the one this process just bound it to, and the claim's
/// own name (a cold start). Only when none of them is controlled by the claim (a new claim, or
/// one met after a restart) is the index of Sandboxes by controller asked.
pub fn bound_sandbox(
    sandboxes: &index::Sandboxes,
    claim: &SandboxClaim,
    binding: Option<&str>,
) -> Option<Arc<Sandbox>> {
    let ns = claim.namespace().unwrap_or_default();
    let uid = claim.metadata.uid.as_deref().unwrap_or_default();
    let controlled = |s: &Sandbox| crate::sandbox::children::is_controlled_by(&s.metadata, uid);
    let recorded = claim
        .status
        .as_ref()
        .map(|s| s.sandbox.name.as_str())
        .filter(|n| !n.is_empty());
    let own_name = claim.name_any();
    [recorded, binding, Some(own_name.as_str())]
        .into_iter()
        .flatten()
        .filter_map(|name| sandboxes.store.get(&ObjectRef::new(name).within(&ns)))
        .find(|s| controlled(s))
        .or_else(|| {
            sandboxes
                .by_controller
                .find(&index::key(&ns, uid), controlled)
        })
}

/// The members of pool `pool` in `ns` a claim may try, in upstream's NodeSpread order (spec
/// §5.7 step 5: the node holding the most members first, so claims spread over the nodes;
/// on a node, and between nodes holding as many, oldest first; members not on a node yet
/// last): adoptable, not reserved by another worker, and read only until
/// [`decide::MAX_ADOPTION_ATTEMPTS`] usable ones are found, so a claim costs the same
/// whatever the pool's size.
pub fn candidates(
    members: &Index<Sandbox>,
    ns: &str,
    pool: &str,
    reserved: &reservations::Held,
) -> Vec<Arc<Sandbox>> {
    let pool_hash = sandbox_api::NameHash::of(pool);
    let mut found = Vec::new();
    let mut usable = 0;
    members.scan_by_group(&index::key(ns, pool_hash.as_str()), |s| {
        if adoptable_from(&s, pool, &pool_hash)
            && !reserved.holds(ns, s.metadata.name.as_deref().unwrap_or_default())
        {
            usable += usize::from(decide::is_usable(&s));
            found.push(s);
        }
        if usable >= decide::MAX_ADOPTION_ATTEMPTS {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

pub async fn reconcile(claim: Arc<SandboxClaim>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    ctx.synced.wait().await;
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    if claim.metadata.deletion_timestamp.is_some() {
        ctx.forget_first_seen(&uid);
        ctx.bindings.forget(&uid);
        ctx.waiters.stop_waiting(&claim);
        ctx.cache_behind_status_write(&uid, None);
        return Ok(Requeue::await_change());
    }
    // A claim older than our own last status write would repeat that write (and count its
    // first Ready twice); its update event is on the way and brings the next pass.
    if ctx.cache_behind_status_write(&uid, claim.resource_version().as_deref()) {
        return Ok(Requeue::requeue(STALE_CLAIM_RETRY));
    }
    let first_seen = ctx.first_seen(&uid);

    let binding = ctx.bindings.get(&uid);
    let bound = bound_sandbox(
        &ctx.sandboxes,
        &claim,
        binding.as_ref().map(|b| b.sandbox.as_str()),
    );
    if let Some(binding) = binding
        && let Some(wait) = settle_binding(&ctx, &ns, &uid, &binding, bound.is_some()).await?
    {
        return Ok(wait);
    }
    let named = ctx.sandboxes.store.get(&ObjectRef::new(&name).within(&ns));
    let name_taken = bound.is_none() && named.is_some();
    let pool_name = &claim.spec.warm_pool_ref.name;
    let pool = ctx.pools.get(&ObjectRef::new(pool_name).within(&ns));
    let template = pool.as_ref().and_then(|p| {
        ctx.templates
            .get(&ObjectRef::new(&p.spec.sandbox_template_ref.name).within(&ns))
    });
    let candidates = if bound.is_none() && pool.is_some() {
        let reserved = ctx.reservations.at(Instant::now());
        candidates(&ctx.sandboxes.pool_members, &ns, pool_name, &reserved)
    } else {
        Vec::new()
    };
    let candidate_refs: Vec<&Sandbox> = candidates.iter().map(AsRef::as_ref).collect();
    let template_name = template
        .as_ref()
        .map_or_else(|| "__unknown__".to_string(), |t| t.name_any());
    let domains: Vec<&str> = ctx
        .allowed_label_domains
        .iter()
        .map(String::as_str)
        .collect();
    let observed = Observed {
        claim: &claim,
        bound: bound.as_deref(),
        name_taken,
        pool: pool.as_deref(),
        template: template.as_deref(),
        candidates: &candidate_refs,
        now: &crate::sandbox::now(),
        allowed_label_domains: &domains,
    };
    let mut plan = decide::decide(observed);

    if plan.waiting_for_member {
        ctx.waiters.wait(&claim);
    } else {
        ctx.waiters.stop_waiting(&claim);
    }

    let fail = Error::api;
    let sandboxes: Api<Sandbox> = Api::namespaced(ctx.client.clone(), &ns);
    let claims: Api<SandboxClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let patch_params = write::merge();
    let mut adopted_now = None;
    for action in &plan.actions {
        match action {
            Action::Adopt(adoptions) => {
                let Some(adopted) = adopt(
                    &ctx,
                    &sandboxes,
                    &ns,
                    &uid,
                    pool_name,
                    adoptions,
                    &patch_params,
                )
                .await?
                else {
                    return Ok(Requeue::requeue(LOST_RACE_RETRY));
                };
                ctx.burst.adopted(Instant::now());
                events::publish_after(
                    &ctx.burst,
                    ctx.recorder.as_ref(),
                    &decide::adopted_notice(&adopted.name_any()),
                    claim.object_ref(&()),
                );
                adopted_now = Some(Arc::new(adopted));
                ctx.count_creation(
                    &claim,
                    &template_name,
                    keys::LAUNCH_TYPE_WARM,
                    pool_name,
                    true,
                );
            }
            Action::CreateSandbox(sandbox) => {
                match sandboxes.create(&write::post(), sandbox).await {
                    Ok(created) => {
                        ctx.bindings.remember(&uid, created.name_any(), None);
                        ctx.tell(&claim, &decide::provisioned_notice(&created.name_any()));
                        ctx.count_creation(
                            &claim,
                            &template_name,
                            keys::LAUNCH_TYPE_COLD,
                            pool_name,
                            false,
                        );
                    }
                    // The cache has not caught up with our own create; look again shortly.
                    Err(e) if write::is_status(&e, 409) => {
                        return Ok(Requeue::requeue(Duration::from_millis(200)));
                    }
                    // No answer: the create may have landed. Settle that before deciding again.
                    Err(e) if !matches!(e, kube::Error::Api(_)) => {
                        ctx.bindings.remember(&uid, sandbox.name_any(), None);
                        return Err(fail(format!("create Sandbox for claim {name}"))(e));
                    }
                    Err(e) if write::is_permanent(&e) => {
                        let error = fail(format!("create Sandbox for claim {name}"))(e);
                        return rejected(&ctx, &claims, &claim, &error).await;
                    }
                    Err(e) => return Err(fail(format!("create Sandbox for claim {name}"))(e)),
                }
            }
            Action::DeleteSandbox { name: sandbox, uid } => {
                match sandboxes.delete(sandbox, &write::delete_if(uid)).await {
                    Err(e) if write::is_not_found(&e) || write::is_status(&e, 409) => {}
                    Err(e) => return Err(fail(format!("delete Sandbox {sandbox}"))(e)),
                    Ok(_) => {}
                }
            }
            Action::DeleteClaim { foreground } => {
                // Told before the claim goes, as upstream does.
                for notice in &plan.notices {
                    ctx.tell(&claim, notice);
                }
                let dp = DeleteParams {
                    propagation_policy: foreground.then_some(PropagationPolicy::Foreground),
                    ..DeleteParams::default()
                };
                match claims.delete(&name, &dp).await {
                    Err(e) if write::is_not_found(&e) => {}
                    Err(e) => return Err(fail(format!("delete expired claim {name}"))(e)),
                    Ok(_) => {}
                }
                return Ok(Requeue::await_change());
            }
        }
    }
    // The adoption's response is the Sandbox as the claim now controls it: mirror it in this
    // pass instead of waiting for its watch event to come back through the cache.
    let mut bound_now = bound.clone();
    if let Some(adopted) = adopted_now {
        let mirrored = decide::decide(Observed {
            bound: Some(&adopted),
            candidates: &[],
            ..observed
        });
        plan.status = mirrored.status;
        plan.became_ready = mirrored.became_ready;
        plan.requeue_after = mirrored.requeue_after;
        bound_now = Some(adopted);
    }
    if let Some(status) = &plan.status {
        let written = claims
            .patch_status(&name, &patch_params, &Patch::Merge(status))
            .await
            .map_err(fail(format!("patch status of claim {name}")))?;
        if written.resource_version() != claim.resource_version() {
            ctx.wrote_status_over(&uid, claim.resource_version());
        }
        if plan.became_ready {
            ctx.record_ready(&claim, bound_now.as_deref(), &template_name, first_seen);
        }
    }
    for notice in &plan.notices {
        ctx.tell(&claim, notice);
    }
    if let Some(error) = plan.error {
        return Err(Error::Decided(error));
    }
    Ok(plan
        .requeue_after
        .map_or_else(Requeue::await_change, Requeue::requeue))
}

/// A Sandbox this process adopted or created for the claim (`binding`) and that the cache may
/// not show as the claim's yet: until it does (the member still looks like the pool's, the
/// new one is absent), deciding would bind a second one. `Some` is the wait before the next
/// pass; `None` lets the claim decide now. `bound`: the cache already shows a Sandbox as the
/// claim's.
async fn settle_binding(
    ctx: &Context,
    ns: &str,
    uid: &str,
    binding: &Binding,
    bound: bool,
) -> Result<Option<Requeue>, Error> {
    let cached = ctx
        .sandboxes
        .store
        .get(&ObjectRef::new(&binding.sandbox).within(ns));
    let judgement = if bound {
        Judgement::Shown
    } else {
        bindings::judge(binding, cached.as_deref(), uid, Instant::now())
    };
    match judgement {
        Judgement::Shown | Judgement::Lost => ctx.bindings.forget(uid),
        Judgement::Wait => return Ok(Some(Requeue::requeue(BINDING_CACHE_RETRY))),
        Judgement::Verify => {
            let sandboxes: Api<Sandbox> = Api::namespaced(ctx.client.clone(), ns);
            let live = sandboxes
                .get_opt(&binding.sandbox)
                .await
                .map_err(Error::api(format!(
                    "read Sandbox {} to settle a binding",
                    binding.sandbox
                )))?;
            let ours = live.as_ref().is_some_and(|s| {
                s.metadata.deletion_timestamp.is_none()
                    && crate::sandbox::children::is_controlled_by(&s.metadata, uid)
            });
            if ours {
                // The write holds; the cache is behind. Wait for it, never bind again.
                ctx.bindings.confirmed(uid);
                return Ok(Some(Requeue::requeue(BINDING_CACHE_RETRY)));
            }
            ctx.bindings.forget(uid);
            if live.is_some() {
                // Not ours (our write never landed, or was undone): once the cache shows
                // it as it is, the claim decides afresh.
                return Ok(Some(Requeue::requeue(BINDING_CACHE_RETRY)));
            }
        }
    }
    Ok(None)
}

/// The API server rejected the claim's Sandbox for good: Ready=False/InvalidConfiguration
/// with its message and a Warning Event, then nothing more until the spec changes (the
/// condition, at this generation, tells every later pass so, across restarts).
async fn rejected(
    ctx: &Context,
    claims: &Api<SandboxClaim>,
    claim: &SandboxClaim,
    error: &Error,
) -> Result<Requeue, Error> {
    let name = claim.name_any();
    let message = error.to_string();
    tracing::warn!(claim = %name, %message, "rejected by the API server; waiting for the spec to change");
    if let Some(status) = decide::rejected_by_server(claim, &message, &crate::sandbox::now()) {
        claims
            .patch_status(&name, &write::merge(), &Patch::Merge(&status))
            .await
            .map_err(|source| Error::Api {
                what: format!("patch status of claim {name}"),
                source,
            })?;
        ctx.tell(
            claim,
            &crate::events::Notice::warning(
                keys::reason::INVALID_CONFIGURATION,
                keys::event::ACTION_RECONCILING,
                message,
            ),
        );
    }
    Ok(Requeue::await_change())
}

/// Tries the adoptions in order; returns the Sandbox adopted, as the API returned it, if one
/// was, and remembers it as the claim's binding. A patch that got no answer may have landed:
/// it is remembered too, so that the claim settles it before trying another member.
async fn adopt(
    ctx: &Context,
    sandboxes: &Api<Sandbox>,
    ns: &str,
    claim_uid: &str,
    pool: &str,
    adoptions: &[decide::Adoption],
    params: &PatchParams,
) -> Result<Option<Sandbox>, Error> {
    for a in adoptions {
        if !ctx.reservations.try_reserve(ns, &a.sandbox, Instant::now()) {
            continue;
        }
        let replaced = a.patch["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        match sandboxes
            .patch(&a.sandbox, params, &Patch::Merge(&a.patch))
            .await
        {
            Ok(adopted) => {
                ctx.bindings
                    .remember(claim_uid, adopted.name_any(), replaced);
                // The member left the pool; its ownerRef no longer leads the pool to it.
                let _ = ctx
                    .pool_events
                    .send((ObjectRef::new(pool).within(ns), a.sandbox.clone()));
                return Ok(Some(adopted));
            }
            // Someone else changed or took it first: try the next one.
            Err(e) if write::is_status(&e, 409) || write::is_not_found(&e) => {
                ctx.reservations.release(ns, &a.sandbox)
            }
            Err(e) => {
                if !matches!(e, kube::Error::Api(_)) {
                    ctx.bindings
                        .remember(claim_uid, a.sandbox.clone(), replaced);
                }
                ctx.reservations.release(ns, &a.sandbox);
                return Err(Error::Api {
                    what: format!("adopt Sandbox {}", a.sandbox),
                    source: e,
                });
            }
        }
    }
    Ok(None)
}

/// Logs a failed reconcile; the retry backs off per claim from no floor of its own.
pub fn error_policy(claim: Arc<SandboxClaim>, error: &Error, _ctx: Arc<Context>) -> Duration {
    tracing::warn!(claim = %claim.name_any(), %error, "reconcile failed");
    Duration::ZERO
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn sandbox(name: &str, owner_uid: Option<&str>) -> Sandbox {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"podTemplate": {"spec": {"containers": []}}}
        });
        if let Some(uid) = owner_uid {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion":
                "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim", "name": "c",
                "uid": uid, "controller": true}]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn claim(status_name: &str) -> SandboxClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "ns", "uid": "claim-uid"},
            "spec": {"warmPoolRef": {"name": "pool"}},
            "status": {"sandbox": {"name": status_name}}
        }))
        .unwrap()
    }

    /// A Sandbox cache with its indexes.
    fn store(objects: Vec<Sandbox>) -> index::Sandboxes {
        let (store, mut writer) = kube::runtime::reflector::store();
        let cache = index::Sandboxes {
            by_controller: Index::new(store.clone(), index::controller_uid::<Sandbox>),
            pool_members: Index::new(store.clone(), index::pool_member)
                .grouped_by(index::node_name),
            store,
        };
        for o in objects {
            let event = Event::Apply(o);
            writer.apply_watcher_event(&event);
            cache.by_controller.observe(&event);
            cache.pool_members.observe(&event);
        }
        cache
    }

    /// A member of pool `pool` created `age` seconds before the others' epoch.
    fn member(name: &str, created: i64, ready: bool) -> Sandbox {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns",
                "creationTimestamp": k8s_openapi::jiff::Timestamp::from_second(created).unwrap().to_string(),
                "labels": {keys::WARM_POOL_SANDBOX_LABEL: sandbox_api::NameHash::of("pool").to_string(),
                           keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: "t"},
                "ownerReferences": [{"apiVersion": "extensions.agents.x-k8s.io/v1beta1",
                    "kind": "SandboxWarmPool", "name": "pool", "uid": "pool-uid", "controller": true}]},
            "spec": {"podTemplate": {"spec": {"containers": []}}},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": "R", "message": "", "lastTransitionTime": "2026-12-02T08:00:00Z"}]}
        });
        if ready {
            v["status"]["podIPs"] = json!(["10.0.0.1"]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn names(found: &[Arc<Sandbox>]) -> Vec<String> {
        found.iter().map(|s| s.name_any()).collect()
    }

    #[test]
    fn candidates_are_the_oldest_adoptable_members_up_to_the_attempts_a_pass_makes() {
        let mut all: Vec<Sandbox> = (0..10)
            .map(|i| member(&format!("m{i}"), 100 - i, true))
            .collect();
        all.push(member("starting", 1, false));
        let mut deleting = member("deleting", 0, true);
        deleting.metadata.deletion_timestamp = deleting.metadata.creation_timestamp.clone();
        all.push(deleting);
        all.push(sandbox("claimed", Some("claim-uid")));
        let cache = store(all);
        let reservations = reservations::Reservations::default();
        let now = Instant::now();
        assert!(reservations.try_reserve("ns", "m9", now));
        let reserved = reservations.at(now);
        let found = candidates(&cache.pool_members, "ns", "pool", &reserved);
        // Oldest first; the starting member is passed on (decide may wait for it), the
        // deleting and reserved ones are not, and the scan ends at the fourth usable member.
        assert_eq!(names(&found), ["starting", "m8", "m7", "m6", "m5"]);
        assert!(candidates(&cache.pool_members, "ns", "other", &reserved).is_empty());
        assert!(candidates(&cache.pool_members, "elsewhere", "pool", &reserved).is_empty());
    }

    fn on(mut s: Sandbox, node: &str) -> Sandbox {
        s.status.get_or_insert_default().node_name = node.into();
        s
    }

    #[test]
    fn candidates_come_from_the_node_holding_the_most_members_first() {
        // NodeSpread (spec §5.7 step 5): node-b holds three members, node-a two (the oldest
        // of them all), so a claim tries node-b's first, oldest first, then node-a's; a
        // member without a node comes last.
        let cache = store(vec![
            on(member("a-old", 1, true), "node-a"),
            on(member("a-new", 5, true), "node-a"),
            on(member("b-old", 2, true), "node-b"),
            on(member("b-mid", 3, false), "node-b"),
            on(member("b-new", 4, true), "node-b"),
            member("unplaced", 0, true),
        ]);
        let none = reservations::Held::default();
        let found = candidates(&cache.pool_members, "ns", "pool", &none);
        assert_eq!(names(&found), ["b-old", "b-mid", "b-new", "a-old", "a-new"]);
        // A member taken by another worker still counts for its node, but is not offered.
        let reservations = reservations::Reservations::default();
        let now = Instant::now();
        assert!(reservations.try_reserve("ns", "b-old", now));
        let reserved = reservations.at(now);
        let found = candidates(&cache.pool_members, "ns", "pool", &reserved);
        assert_eq!(
            names(&found),
            ["b-mid", "b-new", "a-old", "a-new", "unplaced"]
        );
    }

    fn name(s: Option<Arc<Sandbox>>) -> Option<String> {
        s.map(|s| s.name_any())
    }

    #[test]
    fn the_bound_sandbox_is_found_by_ownership_whichever_way_it_is_looked_up() {
        let cache = store(vec![
            sandbox("pool-a", Some("claim-uid")),
            sandbox("pool-b", Some("other-uid")),
            sandbox("pool-c", None),
        ]);
        // Recorded in the status, adopted in this process, or found by scanning.
        assert_eq!(
            name(bound_sandbox(&cache, &claim("pool-a"), None)),
            Some("pool-a".into())
        );
        assert_eq!(
            name(bound_sandbox(&cache, &claim(""), Some("pool-a"))),
            Some("pool-a".into())
        );
        assert_eq!(
            name(bound_sandbox(&cache, &claim(""), None)),
            Some("pool-a".into())
        );
        // A name that leads to someone else's Sandbox is not trusted: the scan decides.
        assert_eq!(
            name(bound_sandbox(&cache, &claim("pool-b"), Some("pool-c"))),
            Some("pool-a".into())
        );
        let unbound = store(vec![
            sandbox("pool-b", Some("other-uid")),
            sandbox("c", None),
        ]);
        assert_eq!(name(bound_sandbox(&unbound, &claim("pool-b"), None)), None);
    }

    #[test]
    fn a_cached_claim_is_behind_only_while_it_is_the_version_our_write_replaced() {
        let t0 = Instant::now();
        let soon = t0 + Duration::from_millis(50);
        assert!(is_behind("41", t0, Some("41"), soon));
        assert!(
            !is_behind("41", t0, Some("42"), soon),
            "the cache caught up"
        );
        assert!(!is_behind("41", t0, None, soon));
        assert!(
            !is_behind("41", t0, Some("41"), t0 + STATUS_WRITE_TTL),
            "a write never observed is assumed lost, not waited for forever"
        );
    }

    #[test]
    fn a_cold_sandbox_named_after_the_claim_is_found_directly() {
        let cache = store(vec![sandbox("c", Some("claim-uid"))]);
        assert_eq!(
            name(bound_sandbox(&cache, &claim(""), None)),
            Some("c".into())
        );
    }
}
