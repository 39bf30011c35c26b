//! The SandboxWarmPool controller (spec §4): keeps `replicas` Ready Sandboxes waiting for
//! claims, replaces members that are stale or stuck, and reports the pool's status. The scale
//! subresource lets an HPA or KEDA drive `spec.replicas`.

pub mod build;
pub mod decide;
pub mod shaping;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::events::Recorder;
use kube::api::{Api, Patch};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use sandbox_api::v1beta1::{Sandbox, SandboxTemplate, SandboxWarmPool};

use crate::{events, write};
use decide::{Action, Observed};
use shaping::{PoolShaping, Settings};

pub use crate::error::Error;

/// Writes older than this are assumed lost rather than still on their way to the cache.
const EXPECTATION_TTL: Duration = Duration::from_secs(300);

/// Creates and deletes this controller made that the cache has not reflected yet, per pool.
/// Without them a pass that runs before its own creates are observed would create again.
#[derive(Debug, Default)]
struct Expectations {
    created: HashMap<String, Instant>,
    deleted: HashMap<String, Instant>,
    /// Members claims adopted; the adoption's own event no longer leads to the pool, so a
    /// pass that runs before the cache shows it must not count them.
    departed: HashMap<String, Instant>,
}

/// What a pass must discount: writes in flight that the cache does not show yet.
struct Pending {
    creates: usize,
    deletes: BTreeSet<String>,
    departed: BTreeSet<String>,
}

pub struct Context {
    pub client: kube::Client,
    pub sandboxes: crate::index::Sandboxes,
    pub templates: Store<SandboxTemplate>,
    /// The Sandbox and template caches' first listings.
    pub synced: crate::cache::Synced,
    pub readiness_grace: Duration,
    pub unschedulable_recheck: Duration,
    /// `--enable-warm-pool-eviction`.
    pub safe_to_evict: bool,
    pub shaping: Settings,
    /// `None`: no Events.
    pub recorder: Option<Recorder>,
    expectations: Mutex<HashMap<ObjectRef<SandboxWarmPool>, Expectations>>,
    shaping_state: Mutex<HashMap<ObjectRef<SandboxWarmPool>, PoolShaping>>,
    /// Status writes, one per pool per [`crate::coalesce::POOL_WINDOW`].
    coalescer: crate::coalesce::Coalescer,
    /// Passes, one per pool per [`crate::coalesce::POOL_PASS_INTERVAL`].
    passes: crate::coalesce::Coalescer,
    /// Pools last seen not progressing, so that only changes are reported.
    stalled: Mutex<HashSet<ObjectRef<SandboxWarmPool>>>,
}

/// Upstream's default for `--sandbox-warm-pool-unschedulable-recheck-interval`.
pub const DEFAULT_UNSCHEDULABLE_RECHECK: Duration = Duration::from_secs(60);

impl Context {
    pub fn new(
        client: kube::Client,
        sandboxes: crate::index::Sandboxes,
        templates: Store<SandboxTemplate>,
        synced: crate::cache::Synced,
        readiness_grace: Duration,
    ) -> Self {
        Self {
            client,
            sandboxes,
            templates,
            synced,
            readiness_grace,
            unschedulable_recheck: DEFAULT_UNSCHEDULABLE_RECHECK,
            safe_to_evict: true,
            shaping: Settings::default(),
            recorder: None,
            expectations: Mutex::default(),
            shaping_state: Mutex::default(),
            stalled: Mutex::default(),
            coalescer: crate::coalesce::Coalescer::new(crate::coalesce::POOL_WINDOW),
            passes: crate::coalesce::Coalescer::new(crate::coalesce::POOL_PASS_INTERVAL),
        }
    }

    fn shaping_state(&self, pool: &ObjectRef<SandboxWarmPool>) -> PoolShaping {
        self.shaping_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pool)
            .cloned()
            .unwrap_or_default()
    }

    fn keep_shaping_state(&self, pool: &ObjectRef<SandboxWarmPool>, state: PoolShaping) {
        self.shaping_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pool.clone(), state);
    }

    fn note_creates(&self, pool: &ObjectRef<SandboxWarmPool>, created: usize) {
        if let Some(state) = self
            .shaping_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(pool)
        {
            state.note_creates(created);
        }
    }

    /// Records whether the pool is stalled now; returns whether it was before.
    fn swap_stalled(&self, pool: &ObjectRef<SandboxWarmPool>, stalled: bool) -> bool {
        let mut all = self.stalled.lock().unwrap_or_else(PoisonError::into_inner);
        if stalled {
            !all.insert(pool.clone())
        } else {
            all.remove(pool)
        }
    }

    /// Forgets writes the cache now shows (by name, whatever their labels: a member can be
    /// adopted before this pool sees it), and returns what is still in flight.
    fn pending(&self, pool: &ObjectRef<SandboxWarmPool>, ns: &str) -> Pending {
        let mut all = self
            .expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let e = all.entry(pool.clone()).or_default();
        let cached = |name: &str| self.sandboxes.store.get(&ObjectRef::new(name).within(ns));
        e.created
            .retain(|name, at| cached(name).is_none() && at.elapsed() < EXPECTATION_TTL);
        e.deleted
            .retain(|name, at| cached(name).is_some() && at.elapsed() < EXPECTATION_TTL);
        e.departed.retain(|name, at| {
            cached(name).is_some_and(|s| pool_of_member(&s).as_ref() == Some(pool))
                && at.elapsed() < EXPECTATION_TTL
        });
        Pending {
            creates: e.created.len(),
            deletes: e.deleted.keys().cloned().collect(),
            departed: e.departed.keys().cloned().collect(),
        }
    }

    /// A claim adopted `member` of `pool`: until the cache shows it, the pool discounts it.
    pub fn expect_departure(&self, pool: &ObjectRef<SandboxWarmPool>, member: String) {
        self.expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(pool.clone())
            .or_default()
            .departed
            .insert(member, Instant::now());
    }

    fn expect(
        &self,
        pool: &ObjectRef<SandboxWarmPool>,
        created: Option<String>,
        deleted: Option<String>,
    ) {
        let mut all = self
            .expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let e = all.entry(pool.clone()).or_default();
        if let Some(name) = created {
            e.created.insert(name, Instant::now());
        }
        if let Some(name) = deleted {
            e.deleted.insert(name, Instant::now());
        }
    }

    /// Drops everything kept about a pool that is going away.
    fn forget(&self, pool: &ObjectRef<SandboxWarmPool>) {
        self.expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pool);
        self.shaping_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pool);
        self.swap_stalled(pool, false);
    }
}

pub async fn reconcile(pool: Arc<SandboxWarmPool>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    ctx.synced.wait().await;
    let ns = pool.namespace().unwrap_or_default();
    let name = pool.name_any();
    let key = ObjectRef::from_obj(pool.as_ref());
    if pool.metadata.deletion_timestamp.is_some() {
        ctx.forget(&key);
        return Ok(Requeue::await_change());
    }
    let pool_key = format!("{ns}/{name}");
    let started = Instant::now();
    // Triggers within the interval (an adoption each) are served by one pass at its end.
    if let Some(wait) = ctx.passes.remaining(&pool_key, started) {
        return Ok(Requeue::requeue(wait));
    }
    ctx.passes.wrote(&pool_key, started);
    let hash = sandbox_api::NameHash::of(&name);
    let members = ctx
        .sandboxes
        .pool_members
        .get(&crate::index::key(&ns, hash.as_str()));
    let template = ctx
        .templates
        .get(&ObjectRef::new(&pool.spec.sandbox_template_ref.name).within(&ns));
    let pending = ctx.pending(&key, &ns);
    let refs: Vec<&Sandbox> = members.iter().map(AsRef::as_ref).collect();
    let shaping_state = ctx.shaping_state(&key);
    let plan = decide::decide(Observed {
        pool: &pool,
        members: &refs,
        template: template.as_deref(),
        pending_creates: pending.creates,
        pending_deletes: &pending.deletes,
        departed: &pending.departed,
        now: &crate::sandbox::now(),
        readiness_grace: ctx.readiness_grace,
        unschedulable_recheck: ctx.unschedulable_recheck,
        safe_to_evict: ctx.safe_to_evict,
        shaping: &ctx.shaping,
        shaping_state: &shaping_state,
    });
    ctx.keep_shaping_state(&key, plan.shaping.clone());
    let was_stalled = ctx.swap_stalled(&key, plan.not_progressing.is_some());
    if let Some(notice) = decide::progress_notice(was_stalled, plan.not_progressing.as_deref()) {
        events::publish(ctx.recorder.as_ref(), &notice, pool.object_ref(&()));
    }

    let sandboxes: Api<Sandbox> = Api::namespaced(ctx.client.clone(), &ns);
    let (pp, patch_params) = (write::post(), write::merge());
    let fail = Error::api;
    let mut creates = Vec::new();
    for action in &plan.actions {
        match action {
            // Issued together below: one at a time, a deficit of n takes n round trips.
            Action::Create(member) => creates.push(member.as_ref()),
            Action::Delete {
                name: member,
                uid,
                resource_version,
            } => {
                match sandboxes
                    .delete(member, &write::delete_if_unchanged(uid, resource_version))
                    .await
                {
                    Ok(_) => ctx.expect(&key, None, Some(member.clone())),
                    // Gone already, changed since (adopted by a claim), or replaced by a
                    // namesake: the preconditions protect each; the next pass decides again.
                    Err(e) if write::is_not_found(&e) || write::is_status(&e, 409) => {}
                    Err(e) => return Err(fail(format!("delete member {member}"))(e)),
                }
            }
            Action::Patch {
                name: member,
                patch,
            } => {
                sandboxes
                    .patch(member, &patch_params, &Patch::Merge(patch))
                    .await
                    .map_err(fail(format!("patch member {member}")))?;
            }
        }
    }
    // In batches of 1, 2, 4, … as upstream's slowStartBatch: a deficit of n takes about
    // log2(n) round trips, and a failing create (quota, admission) stops after few attempts.
    let mut remaining = creates.as_slice();
    for size in shaping::slow_start(creates.len()) {
        let (batch, rest) = remaining.split_at(size);
        remaining = rest;
        let results =
            futures::future::join_all(batch.iter().map(|member| sandboxes.create(&pp, member)))
                .await;
        let mut failed = None;
        for result in results {
            match result {
                Ok(created) => {
                    ctx.expect(&key, Some(created.name_any()), None);
                    ctx.note_creates(&key, 1);
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            return Err(fail(format!("create a member of pool {name}"))(e));
        }
    }
    let mut requeue = plan.requeue_after;
    if let Some(status) = &plan.status {
        // Counts change with every member; once the pool has a status, its updates are
        // coalesced to one per window (the pass that ends the hold writes the latest).
        let now = Instant::now();
        match ctx.coalescer.hold(&pool_key, now) {
            Some(wait) if pool.status.is_some() => {
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            }
            _ => {
                Api::<SandboxWarmPool>::namespaced(ctx.client.clone(), &ns)
                    .patch_status(&name, &patch_params, &Patch::Merge(status))
                    .await
                    .map_err(fail(format!("patch status of pool {name}")))?;
                ctx.coalescer.wrote(&pool_key, now);
            }
        }
    }
    Ok(requeue.map_or_else(Requeue::await_change, Requeue::requeue))
}

/// Logs a failed reconcile; the retry backs off per pool from no floor of its own.
pub fn error_policy(pool: Arc<SandboxWarmPool>, error: &Error, _ctx: Arc<Context>) -> Duration {
    tracing::warn!(pool = %pool.name_any(), %error, "reconcile failed");
    Duration::ZERO
}

/// The pool a Sandbox event concerns: its controlling pool. A member that a claim adopted no
/// longer leads here; the claim controller tells its old pool directly (see
/// [`Context::expect_departure`]).
pub fn pool_of_member(sandbox: &Sandbox) -> Option<ObjectRef<SandboxWarmPool>> {
    let owner = crate::sandbox::children::controller_of(&sandbox.metadata)?;
    (owner.kind == SandboxWarmPool::kind(&()))
        .then(|| ObjectRef::new(&owner.name).within(&sandbox.namespace().unwrap_or_default()))
}
