//! The Sandbox controller (`agents.x-k8s.io`): one Pod, an optional headless Service and PVCs
//! per Sandbox (spec §2).
//!
//! `reconcile` = [fetch](Context::observe) from the reflector caches → [`decide::decide`] →
//! [`apply::apply`]. The Sandbox is re-queued by its own events and by events of the Pods and
//! Services it controls.

pub mod apply;
pub mod children;
pub mod decide;
pub mod observed_pod;

use std::sync::Arc;
use std::time::Duration;

use crate::events::Recorder;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;

use crate::expectations::Expectations;
use decide::{Observed, Plan};
use observed_pod::ObservedPod;

pub use crate::error::Error;

/// How long to wait before retrying a Sandbox whose namespace is being deleted.
const NAMESPACE_TERMINATING_RETRY: Duration = Duration::from_secs(30);

/// What every Sandbox reconcile shares.
pub struct Context {
    pub client: kube::Client,
    pub pods: Store<ObservedPod>,
    /// The Pod cache by the `sandbox-name-hash` label.
    pub pods_by_sandbox: crate::index::Index<ObservedPod>,
    pub services: Store<Service>,
    pub pvcs: Store<PersistentVolumeClaim>,
    /// The Pod, Service and PVC caches' first listings.
    pub synced: crate::cache::Synced,
    /// `None` with `--disable-sandbox-events`.
    pub recorder: Option<Recorder>,
    pub cluster_domain: String,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Status writes that can wait, one per Sandbox per [`crate::coalesce::SANDBOX_WINDOW`].
    pub coalescer: crate::coalesce::Coalescer,
    /// Pods this controller created that the Pod cache does not show yet.
    pub pod_creates: Expectations<ObjectRef<Pod>>,
    /// Claims adopting members now, shared with the claim controller: follow-ups wait.
    pub burst: Arc<crate::burst::Burst>,
    /// Since when each Sandbox's follow-ups have waited for a burst to end (its end requeues
    /// them).
    pub deferrals: Arc<crate::burst::Deferrals<ObjectRef<Sandbox>>>,
}

/// How long a Pod create may take to reach the cache before it is taken as lost.
pub const POD_CREATE_TTL: Duration = Duration::from_secs(60);

/// Snapshot of the caches for one Sandbox, owned so `decide` can borrow from it; the Pods as
/// the decisions take them.
struct Snapshot {
    labelled_pods: Vec<Pod>,
    named_pod: Option<Pod>,
    pod_create_in_flight: bool,
    service: Option<Arc<Service>>,
    pvcs: Vec<Option<Arc<PersistentVolumeClaim>>>,
}

impl Context {
    /// Waits until the Pod, Service and PVC caches hold a full listing (immediate afterwards).
    async fn children_cached(&self) {
        self.synced.wait().await;
    }

    fn observe(&self, sandbox: &Sandbox) -> Snapshot {
        let ns = sandbox.metadata.namespace.as_deref().unwrap_or_default();
        let name = sandbox.metadata.name.as_deref().unwrap_or_default();
        let hash = sandbox_api::NameHash::of(name);
        // The name-hash label is only an index, ownership decides.
        let labelled_pods = self
            .pods_by_sandbox
            .get(&crate::index::key(ns, hash.as_str()))
            .iter()
            .map(|pod| pod.to_pod())
            .collect();
        let pod_name = children::pod_name(sandbox);
        let named_pod = self
            .pods
            .get(&ObjectRef::new(&pod_name).within(ns))
            .map(|pod| pod.to_pod());
        let pod = ObjectRef::new(&pod_name).within(ns);
        Snapshot {
            labelled_pods,
            pod_create_in_flight: self.pod_creates.in_flight(&pod, named_pod.is_some()),
            named_pod,
            service: self.services.get(&ObjectRef::new(name).within(ns)),
            pvcs: sandbox
                .spec
                .blueprint
                .volume_claim_templates
                .iter()
                .map(|vct| {
                    let pvc = children::pvc_name(&vct.metadata.name, name);
                    self.pvcs.get(&ObjectRef::new(&pvc).within(ns))
                })
                .collect(),
        }
    }
}

/// The Sandbox is Ready for its current spec: a Ready=True written for an earlier generation
/// says nothing about it as it is now. Claims adopt, and pools count as ready, only such
/// members (upstream's open #1513).
pub fn is_ready(sandbox: &Sandbox) -> bool {
    sandbox.status.as_ref().is_some_and(|status| {
        crate::conditions::is_true_at(
            &status.conditions,
            keys::condition::READY,
            sandbox.metadata.generation,
        )
    })
}

pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

pub async fn reconcile(sandbox: Arc<Sandbox>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    // Deciding from a half-filled cache would create children that already exist.
    ctx.children_cached().await;
    let snapshot = ctx.observe(&sandbox);
    let labelled: Vec<&Pod> = snapshot.labelled_pods.iter().collect();
    let pvcs: Vec<Option<&PersistentVolumeClaim>> =
        snapshot.pvcs.iter().map(|p| p.as_deref()).collect();
    let now = now();
    let mut plan: Plan = decide::decide(Observed {
        sandbox: &sandbox,
        labelled_pods: &labelled,
        named_pod: snapshot.named_pod.as_ref(),
        pod_create_in_flight: snapshot.pod_create_in_flight,
        service: snapshot.service.as_deref(),
        pvcs: &pvcs,
        now: &now,
        cluster_domain: &ctx.cluster_domain,
    });
    let ns = sandbox.metadata.namespace.as_deref().unwrap_or_default();
    let name = sandbox.metadata.name.as_deref().unwrap_or_default();
    tracing::debug!(sandbox = %format!("{ns}/{name}"), actions = plan.actions.len(),
        status = plan.status.is_some(), "reconciled");
    let key = || format!("{ns}/{name}");
    let started = std::time::Instant::now();
    let status_can_wait = plan.status.is_some() && plan.status_can_wait;
    if (status_can_wait || !plan.follow_ups.is_empty())
        && let Some(wait) =
            ctx.deferrals
                .hold(&ObjectRef::from_obj(sandbox.as_ref()), started, &ctx.burst)
    {
        plan.follow_ups.clear();
        if status_can_wait {
            plan.status = None;
        }
        plan.requeue_after = Some(plan.requeue_after.map_or(wait, |r| r.min(wait)));
    }
    if plan.status.is_some()
        && plan.status_can_wait
        && let Some(wait) = ctx.coalescer.hold(&key(), started)
    {
        plan.status = None;
        plan.requeue_after = Some(plan.requeue_after.map_or(wait, |r| r.min(wait)));
    }
    let apis = apply::Apis::namespaced(&ctx.client, ns);
    let mut notices = Vec::new();
    let applied = apply::apply(&apis, name, &plan, &ctx.pod_creates, &mut notices).await;
    if applied.is_ok() && plan.status.is_some() {
        notices.append(&mut plan.notices);
    }
    // Nobody waits for these: they yield to a burst of claims, like the claims' own Events.
    for notice in &notices {
        crate::events::publish_after(
            &ctx.burst,
            ctx.recorder.as_ref(),
            notice,
            sandbox.object_ref(&()),
        );
    }
    match applied {
        // As upstream v1.0: wait for the namespace to go instead of backing off on errors.
        Err(e) if e.namespace_terminating() => {
            return Ok(Requeue::requeue(NAMESPACE_TERMINATING_RETRY));
        }
        Err(e) if e.permanent() => return rejected(&ctx, &apis, &sandbox, &e).await,
        result => result?,
    }
    if plan.status.is_some() {
        ctx.coalescer.wrote(&key(), started);
    }
    if plan.became_ready && plan.status.is_some() {
        record_creation_latency(&ctx, &sandbox);
    }
    if let Some(note) = &plan.warning {
        let notice = crate::events::Notice::warning(
            keys::event::MULTIPLE_PODS,
            keys::event::ACTION_RECONCILING,
            note.clone(),
        );
        crate::events::publish(ctx.recorder.as_ref(), &notice, sandbox.object_ref(&()));
    }
    if let Some(error) = plan.error {
        return Err(Error::Decided(error));
    }
    Ok(plan
        .requeue_after
        .map_or_else(Requeue::await_change, Requeue::requeue))
}

/// The API server rejected one of the Sandbox's writes for good: Ready=False/
/// InvalidConfiguration with its message and a Warning Event, then nothing more until the spec
/// changes (the condition, at this generation, tells every later pass so, across restarts).
async fn rejected(
    ctx: &Context,
    apis: &apply::Apis,
    sandbox: &Sandbox,
    error: &apply::ApplyError,
) -> Result<Requeue, Error> {
    let message = error.to_string();
    tracing::warn!(
        sandbox = sandbox.metadata.name.as_deref().unwrap_or_default(),
        %message,
        "rejected by the API server; waiting for the spec to change"
    );
    let name = sandbox.metadata.name.as_deref().unwrap_or_default();
    if let Some(status) = decide::rejected_by_server(sandbox, &message, &now()) {
        apis.sandboxes
            .patch_status(
                name,
                &crate::write::merge(),
                &kube::api::Patch::Merge(&status),
            )
            .await
            .map_err(|source| apply::ApplyError {
                what: format!("patch status of Sandbox {name}"),
                source,
            })?;
        let notice = crate::events::Notice::warning(
            keys::reason::INVALID_CONFIGURATION,
            keys::event::ACTION_RECONCILING,
            message,
        );
        crate::events::publish(ctx.recorder.as_ref(), &notice, sandbox.object_ref(&()));
    }
    Ok(Requeue::await_change())
}

/// `agent_sandbox_creation_latency_ms`: creation to first Ready. Creation times have one-second
/// resolution, so this is coarse by nature; the harness measures claims precisely instead.
fn record_creation_latency(ctx: &Context, sandbox: &Sandbox) {
    let Some(created) = sandbox.metadata.creation_timestamp.as_ref() else {
        return;
    };
    let elapsed = now().0.duration_since(created.0);
    let labels = sandbox.metadata.labels.as_ref();
    let launch = labels
        .and_then(|l| l.get(keys::LAUNCH_TYPE_LABEL))
        .filter(|l| l.as_str() == keys::LAUNCH_TYPE_WARM)
        .map_or(keys::LAUNCH_TYPE_COLD, |_| keys::LAUNCH_TYPE_WARM);
    ctx.metrics
        .creation_latency_ms
        .get_or_create(&crate::metrics::SandboxLatency {
            namespace: sandbox.metadata.namespace.clone().unwrap_or_default(),
            launch_type: launch.into(),
            sandbox_template: sandbox
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::SANDBOX_TEMPLATE_REF_ANNOTATION))
                .cloned()
                .unwrap_or_else(|| "__unknown__".into()),
        })
        .observe(elapsed.as_secs_f64() * 1000.0);
}

/// Logs a failed reconcile; the retry backs off per Sandbox from no floor of its own.
pub fn error_policy(sandbox: Arc<Sandbox>, error: &Error, _ctx: Arc<Context>) -> Duration {
    tracing::warn!(
        sandbox = sandbox.metadata.name.as_deref().unwrap_or_default(),
        %error,
        "reconcile failed"
    );
    Duration::ZERO
}
