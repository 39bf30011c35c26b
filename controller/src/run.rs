//! Wiring: one shared cache per kind, one `kube::runtime::Controller` per kind.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use tokio::task::JoinSet;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::cache::{SharedCache, Synced};
use crate::flags::Flags;
use crate::metrics::Metrics;
use crate::{claim, sandbox, template, warmpool};

/// The API client, from `--kubeconfig` or the environment, limited on the client side by
/// `--kube-api-qps` and `--kube-api-burst` when a QPS is set.
pub async fn client(flags: &Flags) -> anyhow::Result<kube::Client> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(
        match crate::throttle::limiter(flags.kube_api_qps, flags.kube_api_burst) {
            Some(limit) => builder.with_layer(&limit).build(),
            None => builder.build(),
        },
    )
}

/// Runs every controller until the future is dropped.
pub async fn run(client: kube::Client, flags: Flags, metrics: Arc<Metrics>) {
    let mut sandboxes = SharedCache::<Sandbox>::new(Api::all(client.clone()));
    let mut pods = SharedCache::<Pod>::new(Api::all(client.clone()));
    let mut services = SharedCache::<Service>::new(Api::all(client.clone()));
    let mut pvcs = SharedCache::<PersistentVolumeClaim>::new(Api::all(client.clone()));
    metrics.sandboxes.watch(sandboxes.store.clone());

    let ctx = Arc::new(sandbox::Context {
        client: client.clone(),
        pods: pods.store.clone(),
        services: services.store.clone(),
        pvcs: pvcs.store.clone(),
        synced: Synced::all([pods.synced(), services.synced(), pvcs.synced()]),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: keys::SANDBOX_REPORTING_CONTROLLER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        cluster_domain: flags.cluster_domain.clone(),
        metrics: metrics.clone(),
    });
    let sandbox_controller =
        Controller::for_shared_stream(sandboxes.subscribe(), sandboxes.store.clone())
            .owns_shared_stream(pods.subscribe())
            .owns_shared_stream(services.subscribe())
            .with_config(config(flags.sandbox_concurrent_workers))
            .run(
                timed("sandbox", &metrics, sandbox::reconcile),
                sandbox::error_policy,
                ctx,
            )
            .for_each(|_| async {});

    // Every cache and controller is its own task, so that watch decoding, cache scans and
    // reconciles spread over the runtime's threads instead of sharing one.
    let mut tasks = JoinSet::new();
    if flags.extensions {
        extensions(&client, &flags, &sandboxes, &metrics, &mut tasks);
    }
    tasks.spawn(sandbox_controller);
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

/// `reconcile` with its duration and result recorded under `controller`.
fn timed<K, C, E, F, Fut>(
    controller: &'static str,
    metrics: &Arc<Metrics>,
    reconcile: F,
) -> impl FnMut(
    Arc<K>,
    Arc<C>,
) -> futures::future::BoxFuture<'static, Result<kube::runtime::controller::Action, E>>
+ use<K, C, E, F, Fut>
where
    F: Fn(Arc<K>, Arc<C>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<kube::runtime::controller::Action, E>> + Send + 'static,
    K: Send + Sync + 'static,
    C: Send + Sync + 'static,
    E: Send + 'static,
{
    let metrics = metrics.clone();
    move |object, ctx| {
        let (metrics, reconcile) = (metrics.clone(), reconcile.clone());
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

fn config(workers: u16) -> ControllerConfig {
    ControllerConfig::default().concurrency(workers)
}

/// The SandboxTemplate, SandboxWarmPool and SandboxClaim controllers (`--extensions`),
/// subscribed to the shared Sandbox cache now, spawned into `tasks` with their caches.
fn extensions(
    client: &kube::Client,
    flags: &Flags,
    sandboxes: &SharedCache<Sandbox>,
    metrics: &Arc<Metrics>,
    tasks: &mut JoinSet<()>,
) {
    let mut templates = SharedCache::<SandboxTemplate>::new(Api::all(client.clone()));
    let mut pools = SharedCache::<SandboxWarmPool>::new(Api::all(client.clone()));
    let mut claims = SharedCache::<SandboxClaim>::new(Api::all(client.clone()));
    let mut network_policies = SharedCache::<NetworkPolicy>::new(Api::all(client.clone()));

    let template_ctx = Arc::new(template::Context {
        client: client.clone(),
        network_policies: network_policies.store.clone(),
        synced: network_policies.synced(),
    });
    let template_controller =
        Controller::for_shared_stream(templates.subscribe(), templates.store.clone())
            .owns_shared_stream(network_policies.subscribe())
            .with_config(config(flags.sandbox_template_concurrent_workers))
            .run(
                timed("sandboxtemplate", metrics, template::reconcile),
                template::error_policy,
                template_ctx,
            )
            .for_each(|_| async {});

    let (pool_events, adopted_from) = tokio::sync::mpsc::unbounded_channel();
    let mut pool_ctx = warmpool::Context::new(
        client.clone(),
        sandboxes.store.clone(),
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
    let pool_controller = Controller::for_shared_stream(pools.subscribe(), pools.store.clone())
        .watches_shared_stream(sandboxes.subscribe(), |s: Arc<Sandbox>| {
            warmpool::pools_of_member(&s)
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
        .with_config(config(flags.sandbox_warm_pool_concurrent_workers))
        .run(
            timed("sandboxwarmpool", metrics, warmpool::reconcile),
            warmpool::error_policy,
            pool_ctx,
        )
        .for_each(|_| async {});

    let mut claim_ctx = claim::Context::new(
        client.clone(),
        sandboxes.store.clone(),
        pools.store.clone(),
        templates.store.clone(),
        Synced::all([sandboxes.synced(), pools.synced(), templates.synced()]),
        pool_events,
        metrics.clone(),
    );
    claim_ctx.recorder = (!flags.disable_claim_events)
        .then(|| crate::events::recorder(client, claim::REPORTING_CONTROLLER));
    let claim_ctx = Arc::new(claim_ctx);
    let waiting = claim_ctx.clone();
    let claim_controller = Controller::for_shared_stream(claims.subscribe(), claims.store.clone())
        .owns_shared_stream(sandboxes.subscribe())
        // A pool member becoming usable wakes a claim waiting for one, not its next retry.
        .watches_shared_stream(sandboxes.subscribe(), move |s: Arc<Sandbox>| {
            waiting.waiters.wake_for(&s)
        })
        .with_config(config(flags.sandbox_claim_concurrent_workers))
        .run(
            timed("sandboxclaim", metrics, claim::reconcile),
            claim::error_policy,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    async fn block_for_100ms(_: Arc<()>, _: Arc<()>) -> Result<Requeue, std::io::Error> {
        // Blocking on purpose: only separate tasks on separate threads can overlap this.
        std::thread::sleep(Duration::from_millis(100));
        Ok(Requeue::await_change())
    }

    type Requeue = kube::runtime::controller::Action;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reconciles_run_in_parallel_on_their_own_tasks_and_are_timed() {
        let metrics = Arc::new(Metrics::new());
        let mut reconcile = timed("test", &metrics, block_for_100ms);
        let start = Instant::now();
        let (a, b) = futures::join!(
            reconcile(Arc::new(()), Arc::new(())),
            reconcile(Arc::new(()), Arc::new(()))
        );
        let elapsed = start.elapsed();
        assert!(a.is_ok() && b.is_ok());
        assert!(
            elapsed < Duration::from_millis(190),
            "two 100 ms reconciles took {elapsed:?}: they ran one after the other"
        );
        assert!(
            metrics.encode().contains(
                "controller_runtime_reconcile_total{controller=\"test\",result=\"success\"} 2"
            ),
            "{}",
            metrics.encode()
        );
    }

    async fn panics(_: Arc<()>, _: Arc<()>) -> Result<Requeue, std::io::Error> {
        panic!("bug in a reconcile");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_reconcile_still_panics_its_controller() {
        let metrics = Arc::new(Metrics::new());
        let mut reconcile = timed("test", &metrics, panics);
        let outer = tokio::spawn(reconcile(Arc::new(()), Arc::new(())));
        let err = outer.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_reconcile_aborts_its_task() {
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = finished.clone();
        let task = AbortOnDrop(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        drop(task);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst));
    }
}
