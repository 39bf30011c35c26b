//! Wiring: one shared cache per kind, one `kube::runtime::Controller` per kind.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use tokio::task::JoinSet;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::backoff::Backoff;
use crate::burst::Burst;
use crate::cache::{SharedCache, Synced};
use crate::fence::{Fence, FenceLayer};
use crate::flags::Flags;
use crate::index;
use crate::metrics::Metrics;
use crate::pod_specs::PodSpecs;
use crate::quarantine::Quarantine;
use crate::readiness::Readiness;
use crate::sandbox::observed_pod::ObservedPod;
use crate::{claim, sandbox, template, warmpool};

/// The API client, from `--kubeconfig` or the environment, limited on the client side by
/// `--kube-api-qps` and `--kube-api-burst` when a QPS is set, and with writes refused while
/// `fence` is closed (leader election on and the Lease not held).
pub async fn client(flags: &Flags, fence: Option<Arc<Fence>>) -> anyhow::Result<kube::Client> {
    let config = kube_config(flags).await?;
    let builder = sandbox_client::builder(&config)?;
    let limit = crate::throttle::limiter(flags.kube_api_qps, flags.kube_api_burst);
    // The fence outermost: it asks after any wait for a token, just before the request leaves.
    let fence = fence.map(FenceLayer::new);
    Ok(match (limit, fence) {
        (Some(limit), Some(fence)) => builder.with_layer(&limit).with_layer(&fence).build(),
        (Some(limit), None) => builder.with_layer(&limit).build(),
        (None, Some(fence)) => builder.with_layer(&fence).build(),
        (None, None) => builder.build(),
    })
}

/// A client for the leader Lease alone: no client-side rate limit, and every request bounded
/// by [`leader::RENEW_TIMEOUT`](crate::leader::RENEW_TIMEOUT) (kube sets no read timeout).
pub async fn lease_client(flags: &Flags) -> anyhow::Result<kube::Client> {
    let mut config = kube_config(flags).await?;
    config.read_timeout = Some(crate::leader::RENEW_TIMEOUT);
    config.write_timeout = Some(crate::leader::RENEW_TIMEOUT);
    config.connect_timeout = Some(crate::leader::RENEW_TIMEOUT);
    Ok(kube::client::ClientBuilder::try_from(config)?.build())
}

async fn kube_config(flags: &Flags) -> anyhow::Result<kube::Config> {
    let mut config = match &flags.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    config.headers.push((
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_str(&user_agent())?,
    ));
    Ok(config)
}

/// `sandbox-controller/<version> (<identity>)`: the process's leader identity, so an audit
/// log tells replicas (and restarts of one) apart.
fn user_agent() -> String {
    let pod = std::env::var("POD_NAME").ok().filter(|n| !n.is_empty());
    let (identity, _) = crate::leader::identity(pod.as_deref(), std::process::id());
    format!(
        "sandbox-controller/{} ({identity})",
        env!("CARGO_PKG_VERSION")
    )
}

/// The clients the controllers use: one for their requests, one for the caches' watches.
/// Apart, each has a connection of its own, and watch events do not queue behind a burst of
/// writes on a shared HTTP/2 connection; the same client twice shares one.
#[derive(Clone)]
pub struct Clients {
    pub requests: kube::Client,
    pub watches: kube::Client,
}

impl From<kube::Client> for Clients {
    fn from(client: kube::Client) -> Self {
        Self {
            requests: client.clone(),
            watches: client,
        }
    }
}

/// Runs every controller until the future is dropped; `readiness` learns when the caches
/// have listed.
pub async fn run(
    clients: impl Into<Clients>,
    flags: Flags,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) {
    let clients: Clients = clients.into();
    let (client, watches) = (clients.requests.clone(), clients.watches.clone());
    let quarantine = Quarantine::new(
        Some(crate::events::recorder(
            &client,
            keys::SANDBOX_REPORTING_CONTROLLER,
        )),
        metrics.clone(),
    );
    let mut pod_specs = PodSpecs::default();
    let mut sandboxes = SharedCache::<Sandbox>::new(Api::all(watches.clone()), quarantine.clone())
        .trimmed(move |sandbox| {
            let spec = &mut sandbox.spec.blueprint.pod_template.spec;
            *spec = pod_specs.share(spec.clone());
        });
    let mut pods = SharedCache::<ObservedPod>::new(Api::all(watches.clone()), quarantine.clone());
    let mut services = SharedCache::<Service>::new(Api::all(watches.clone()), quarantine.clone());
    let mut pvcs =
        SharedCache::<PersistentVolumeClaim>::new(Api::all(watches.clone()), quarantine.clone());
    metrics.sandboxes.watch(sandboxes.store.clone());
    let indexed = index::Sandboxes {
        store: sandboxes.store.clone(),
        pool_members: sandboxes.grouped_index(index::pool_member, index::node_name),
        by_controller: sandboxes.index(index::controller_uid::<Sandbox>),
    };
    let pods_by_sandbox = pods.index(index::sandbox_name_hash::<ObservedPod>);

    // Follow-ups of adoptions, like refill, yield to a burst of claims for the same quiet period.
    let burst = Arc::new(Burst::new(flags.sandbox_warm_pool_claims_first));
    let deferrals = Arc::new(crate::burst::Deferrals::default());
    let ctx = Arc::new(sandbox::Context {
        client: client.clone(),
        pods: pods.store.clone(),
        pods_by_sandbox,
        services: services.store.clone(),
        pvcs: pvcs.store.clone(),
        synced: Synced::all([pods.synced(), services.synced(), pvcs.synced()]),
        recorder: (!flags.disable_sandbox_events)
            .then(|| crate::events::recorder(&client, keys::SANDBOX_REPORTING_CONTROLLER)),
        cluster_domain: flags.cluster_domain.clone(),
        metrics: metrics.clone(),
        coalescer: crate::coalesce::Coalescer::new(crate::coalesce::SANDBOX_WINDOW),
        pod_creates: crate::expectations::Expectations::new(sandbox::POD_CREATE_TTL),
        burst: burst.clone(),
        deferrals: deferrals.clone(),
    });
    // Sandboxes whose follow-ups wait are looked at again when the burst ends.
    let (burst_over, deferred) = tokio::sync::mpsc::unbounded_channel();
    let wake_deferred = {
        let (burst, deferrals) = (burst.clone(), deferrals.clone());
        async move {
            loop {
                burst.ends().await;
                for sandbox in deferrals.held() {
                    if burst_over.send(sandbox).is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Each controller counts its own objects' failures: kinds share names.
    let backoff = Arc::new(Backoff::default());
    let sandbox_controller =
        Controller::for_shared_stream(sandboxes.subscribe(), sandboxes.store.clone())
            .owns_shared_stream(pods.subscribe())
            .owns_shared_stream(services.subscribe())
            .reconcile_on(UnboundedReceiverStream::new(deferred))
            .reconcile_all_on(resync())
            .with_config(config(flags.sandbox_concurrent_workers))
            .run(
                timed("sandbox", &metrics, &backoff, sandbox::reconcile),
                backing_off(backoff.clone(), sandbox::error_policy),
                ctx,
            )
            .for_each(|_| async {});

    // Every cache and controller is its own task, so that watch decoding, cache scans and
    // reconciles spread over the runtime's threads instead of sharing one.
    let mut tasks = JoinSet::new();
    let mut synced = vec![
        sandboxes.synced(),
        pods.synced(),
        services.synced(),
        pvcs.synced(),
    ];
    if flags.extensions {
        synced.extend(extensions(
            &clients,
            &flags,
            &sandboxes,
            &indexed,
            &Shared {
                metrics: metrics.clone(),
                quarantine: quarantine.clone(),
                burst: burst.clone(),
            },
            &mut tasks,
        ));
    }
    readiness.watch_caches(Synced::all(synced));
    tasks.spawn(sandbox_controller);
    tasks.spawn(wake_deferred);
    for sync in [sandboxes.sync(), pods.sync(), services.sync(), pvcs.sync()] {
        tasks.spawn(sync);
    }
    // Dropping `run` drops the set, which aborts every task (leadership lost, shutdown).
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// The key an object's failures are counted under.
fn backoff_key<K: kube::Resource>(object: &K) -> String {
    let meta = object.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// An error policy that retries no sooner than `policy` says, and later the more often the
/// object has failed in a row (counted by [`timed`] with the same `backoff`).
pub fn backing_off<K, E, C>(
    backoff: Arc<Backoff>,
    policy: impl Fn(Arc<K>, &E, Arc<C>) -> Duration,
) -> impl Fn(Arc<K>, &E, Arc<C>) -> kube::runtime::controller::Action
where
    K: kube::Resource,
{
    move |object, error, ctx| {
        let key = backoff_key(object.as_ref());
        let floor = policy(object, error, ctx);
        kube::runtime::controller::Action::requeue(backoff.delay(&key, floor))
    }
}

/// `reconcile` with its duration and result recorded under `controller`, and its failures
/// counted in `backoff`.
pub fn timed<K, C, E, F, Fut>(
    controller: &'static str,
    metrics: &Arc<Metrics>,
    backoff: &Arc<Backoff>,
    reconcile: F,
) -> impl FnMut(
    Arc<K>,
    Arc<C>,
) -> futures::future::BoxFuture<'static, Result<kube::runtime::controller::Action, E>>
+ use<K, C, E, F, Fut>
where
    F: Fn(Arc<K>, Arc<C>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<kube::runtime::controller::Action, E>> + Send + 'static,
    K: kube::Resource + Send + Sync + 'static,
    C: Send + Sync + 'static,
    E: Send + 'static,
{
    let (metrics, backoff) = (metrics.clone(), backoff.clone());
    move |object, ctx| {
        let (metrics, backoff, reconcile) = (metrics.clone(), backoff.clone(), reconcile.clone());
        let key = backoff_key(object.as_ref());
        Box::pin(async move {
            let start = std::time::Instant::now();
            // Its own task: kube's runner polls every reconcile of a controller from one task,
            // which would keep the reconciles (and their cache scans) on one thread.
            let task = AbortOnDrop(tokio::spawn(reconcile(object, ctx)));
            let result = match task.join().await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down, which drops us too.
                Err(_) => futures::future::pending().await,
            };
            metrics.reconciled(controller, result.is_ok(), start.elapsed().as_secs_f64());
            match &result {
                Ok(_) => backoff.succeeded(&key),
                Err(_) => backoff.failed(&key),
            }
            result
        })
    }
}

/// A task that is aborted when the reconcile waiting for it is dropped (e.g. on losing the
/// lease), as the reconcile would have been before it had its own task.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often every object is reconciled whatever the watches said: a relist after a watch gap
/// replaces a cache without an event for what was deleted meanwhile, so an owner whose child
/// vanished then would otherwise not look again.
pub const RESYNC_EVERY: Duration = Duration::from_secs(300);

/// A tick every [`RESYNC_EVERY`], the first one period from now.
fn resync() -> impl futures::Stream<Item = ()> + Send + 'static {
    let start = tokio::time::Instant::now() + RESYNC_EVERY;
    tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(start, RESYNC_EVERY))
        .map(|_| ())
}

fn config(workers: u16) -> ControllerConfig {
    ControllerConfig::default().concurrency(workers)
}

/// What the controllers of one process share besides the clients and caches.
struct Shared {
    metrics: Arc<Metrics>,
    quarantine: Quarantine,
    /// Claims adopting pool members now ([`crate::burst`]).
    burst: Arc<Burst>,
}

/// The SandboxTemplate, SandboxWarmPool and SandboxClaim controllers (`--extensions`),
/// subscribed to the shared Sandbox cache now, spawned into `tasks` with their caches, whose
/// sync gates it returns.
fn extensions(
    clients: &Clients,
    flags: &Flags,
    sandboxes: &SharedCache<Sandbox>,
    indexed: &index::Sandboxes,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
) -> [Synced; 4] {
    let (client, watches) = (&clients.requests, &clients.watches);
    let (metrics, quarantine) = (&shared.metrics, &shared.quarantine);
    let mut templates =
        SharedCache::<SandboxTemplate>::new(Api::all(watches.clone()), quarantine.clone());
    let mut pools =
        SharedCache::<SandboxWarmPool>::new(Api::all(watches.clone()), quarantine.clone());
    let mut claims =
        SharedCache::<SandboxClaim>::new(Api::all(watches.clone()), quarantine.clone());
    let mut network_policies =
        SharedCache::<NetworkPolicy>::new(Api::all(watches.clone()), quarantine.clone());

    let template_ctx = Arc::new(template::Context {
        client: client.clone(),
        network_policies: network_policies.store.clone(),
        synced: network_policies.synced(),
    });
    let backoff = Arc::new(Backoff::default());
    let template_controller =
        Controller::for_shared_stream(templates.subscribe(), templates.store.clone())
            .owns_shared_stream(network_policies.subscribe())
            .reconcile_all_on(resync())
            .with_config(config(flags.sandbox_template_concurrent_workers))
            .run(
                timed("sandboxtemplate", metrics, &backoff, template::reconcile),
                backing_off(backoff.clone(), template::error_policy),
                template_ctx,
            )
            .for_each(|_| async {});

    let (pool_events, adopted_from) = tokio::sync::mpsc::unbounded_channel();
    let mut pool_ctx = warmpool::Context::new(
        client.clone(),
        indexed.clone(),
        templates.store.clone(),
        Synced::all([sandboxes.synced(), templates.synced()]),
        flags.sandbox_warm_pool_readiness_grace_period,
    );
    pool_ctx.unschedulable_recheck = flags.sandbox_warm_pool_unschedulable_recheck_interval;
    pool_ctx.safe_to_evict = flags.enable_warm_pool_eviction;
    pool_ctx.shaping = warmpool::shaping::Settings {
        max_batch: usize::try_from(flags.sandbox_warm_pool_max_batch_size).unwrap_or(usize::MAX),
        replenish_delay: flags.sandbox_warm_pool_replenish_delay,
        max_refill_rate: flags.sandbox_warm_pool_max_refill_rate,
        claims_first: flags.sandbox_warm_pool_claims_first,
        claims_first_reserve: flags.sandbox_warm_pool_claims_first_reserve,
    };
    pool_ctx.recorder = Some(crate::events::recorder(
        client,
        keys::WARM_POOL_REPORTING_CONTROLLER,
    ));
    let pool_ctx = Arc::new(pool_ctx);
    let pools_store = pools.store.clone();
    // A claim's adoption: the pool discounts the member at once and looks again.
    let departures = {
        let pool_ctx = pool_ctx.clone();
        UnboundedReceiverStream::new(adopted_from).map(move |(pool, member)| {
            pool_ctx.expect_departure(&pool, member);
            pool
        })
    };
    let backoff = Arc::new(Backoff::default());
    let pool_controller = Controller::for_shared_stream(pools.subscribe(), pools.store.clone())
        .watches_shared_stream(sandboxes.subscribe(), |s: Arc<Sandbox>| {
            warmpool::pool_of_member(&s)
        })
        // A template change concerns every pool that uses it.
        .watches_shared_stream(templates.subscribe(), move |t: Arc<SandboxTemplate>| {
            let ns = t.metadata.namespace.clone().unwrap_or_default();
            let name = t.metadata.name.clone().unwrap_or_default();
            pools_store
                .state()
                .into_iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
                .filter(|p| p.spec.sandbox_template_ref.name == name)
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(departures)
        .reconcile_all_on(resync())
        .with_config(config(flags.sandbox_warm_pool_concurrent_workers))
        .run(
            timed("sandboxwarmpool", metrics, &backoff, warmpool::reconcile),
            backing_off(backoff.clone(), warmpool::error_policy),
            pool_ctx,
        )
        .for_each(|_| async {});

    let mut claim_ctx = claim::Context::new(
        client.clone(),
        indexed.clone(),
        pools.store.clone(),
        templates.store.clone(),
        Synced::all([sandboxes.synced(), pools.synced(), templates.synced()]),
        pool_events,
        metrics.clone(),
    );
    claim_ctx.burst = shared.burst.clone();
    claim_ctx.recorder = (!flags.disable_claim_events)
        .then(|| crate::events::recorder(client, claim::REPORTING_CONTROLLER));
    let claim_ctx = Arc::new(claim_ctx);
    let waiting = claim_ctx.clone();
    let backoff = Arc::new(Backoff::default());
    let claim_controller = Controller::for_shared_stream(claims.subscribe(), claims.store.clone())
        .owns_shared_stream(sandboxes.subscribe())
        // A pool member becoming usable wakes a claim waiting for one, not its next retry.
        .watches_shared_stream(sandboxes.subscribe(), move |s: Arc<Sandbox>| {
            waiting.waiters.wake_for(&s)
        })
        .reconcile_all_on(resync())
        .with_config(config(flags.sandbox_claim_concurrent_workers))
        .run(
            timed("sandboxclaim", metrics, &backoff, claim::reconcile),
            backing_off(backoff.clone(), claim::error_policy),
            claim_ctx,
        )
        .for_each(|_| async {});

    tasks.spawn(template_controller);
    tasks.spawn(pool_controller);
    tasks.spawn(claim_controller);
    for sync in [
        templates.sync(),
        pools.sync(),
        claims.sync(),
        network_policies.sync(),
    ] {
        tasks.spawn(sync);
    }
    [
        templates.synced(),
        pools.synced(),
        claims.synced(),
        network_policies.synced(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::sync::{Condvar, Mutex};

    type Requeue = kube::runtime::controller::Action;

    fn object(name: &str) -> Arc<ConfigMap> {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        Arc::new(cm)
    }

    /// Two threads meeting: each arrives and waits (blocking its thread, on purpose) until the
    /// other has arrived too, or gives up after a while.
    #[derive(Default)]
    struct Meeting {
        arrived: Mutex<u32>,
        all_here: Condvar,
    }

    impl Meeting {
        fn meet(&self) -> bool {
            let mut arrived = self.arrived.lock().unwrap();
            *arrived += 1;
            self.all_here.notify_all();
            let (arrived, timeout) = self
                .all_here
                .wait_timeout_while(arrived, Duration::from_secs(5), |n| *n < 2)
                .unwrap();
            !timeout.timed_out() && *arrived >= 2
        }
    }

    async fn meet(_: Arc<ConfigMap>, meeting: Arc<Meeting>) -> Result<Requeue, std::io::Error> {
        if meeting.meet() {
            Ok(Requeue::await_change())
        } else {
            Err(std::io::Error::other("ran alone"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reconciles_run_in_parallel_on_their_own_tasks_and_are_timed() {
        let metrics = Arc::new(Metrics::new());
        let backoff = Arc::new(Backoff::default());
        let mut reconcile = timed("test", &metrics, &backoff, meet);
        let meeting = Arc::new(Meeting::default());
        // Both block their threads until the other arrives: only reconciles on two threads at
        // once can both succeed.
        let (a, b) = futures::join!(
            reconcile(object("a"), meeting.clone()),
            reconcile(object("b"), meeting.clone())
        );
        assert!(
            a.is_ok() && b.is_ok(),
            "the reconciles ran one after the other"
        );
        assert!(
            metrics.encode().contains(
                "controller_runtime_reconcile_total{controller=\"test\",result=\"success\"} 2"
            ),
            "{}",
            metrics.encode()
        );
    }

    async fn fails(_: Arc<ConfigMap>, _: Arc<()>) -> Result<Requeue, std::io::Error> {
        Err(std::io::Error::other("rejected"))
    }

    async fn succeeds(_: Arc<ConfigMap>, _: Arc<()>) -> Result<Requeue, std::io::Error> {
        Ok(Requeue::await_change())
    }

    #[tokio::test]
    async fn failures_back_off_per_object_and_a_success_starts_over() {
        let metrics = Arc::new(Metrics::new());
        let backoff = Arc::new(Backoff::default());
        let mut failing = timed("test", &metrics, &backoff, fails);
        let mut passing = timed("test", &metrics, &backoff, succeeds);
        let policy = backing_off(
            backoff.clone(),
            |_: Arc<ConfigMap>, _: &std::io::Error, _: Arc<()>| Duration::ZERO,
        );
        let error = std::io::Error::other("x");
        for _ in 0..3 {
            let _ = failing(object("a"), Arc::new(())).await;
        }
        let _ = failing(object("b"), Arc::new(())).await;
        assert_eq!(
            policy(object("a"), &error, Arc::new(())),
            Requeue::requeue(Duration::from_secs(2))
        );
        assert_eq!(
            policy(object("b"), &error, Arc::new(())),
            Requeue::requeue(crate::backoff::FIRST_DELAY)
        );
        let _ = passing(object("a"), Arc::new(())).await;
        let _ = failing(object("a"), Arc::new(())).await;
        assert_eq!(
            policy(object("a"), &error, Arc::new(())),
            Requeue::requeue(crate::backoff::FIRST_DELAY)
        );
    }

    async fn panics(_: Arc<ConfigMap>, _: Arc<()>) -> Result<Requeue, std::io::Error> {
        panic!("bug in a reconcile");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_reconcile_still_panics_its_controller() {
        let metrics = Arc::new(Metrics::new());
        let mut reconcile = timed("test", &metrics, &Default::default(), panics);
        let outer = tokio::spawn(reconcile(object("a"), Arc::new(())));
        let err = outer.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
    }

    /// Tells, when dropped, that the task holding it ended.
    struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_reconcile_aborts_its_task() {
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = finished.clone();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
        let task = AbortOnDrop(tokio::spawn(async move {
            let _signal = DropSignal(Some(dropped_tx));
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_secs(3600)).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        started.await.unwrap();
        drop(task);
        tokio::time::timeout(Duration::from_secs(10), dropped)
            .await
            .expect("the task was not aborted")
            .unwrap();
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst));
    }
}
