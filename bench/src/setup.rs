//! Before the load: the run's namespace, its templates and warm pools, and the wait until
//! every pool is full of Ready sandboxes.

use std::cell::RefCell;
use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use sandbox_api::v1beta1::{SandboxTemplate, SandboxWarmPool};
use serde::de::DeserializeOwned;

use crate::plan::{BenchPlan, pool_object, template_object};
use sandbox_marks::labels::RUN_LABEL;
use sandbox_marks::namespaces::{self, NamespaceError};

/// Why the run's namespace, templates or pools could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Object(#[from] InvalidObject),
    #[error("{action} {kind} {name}: {source}")]
    Api {
        action: &'static str,
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error(
        "the warm pools were not full after {}: {ready} of {wanted} sandboxes Ready",
        humantime::format_duration(*.waited)
    )]
    PoolsNotFull {
        waited: Duration,
        ready: u64,
        wanted: u64,
    },
}

/// An object the harness built as JSON did not decode as its kind: a bug in the harness.
#[derive(Debug, thiserror::Error)]
#[error("the harness built an invalid object: {0}")]
pub struct InvalidObject(#[from] serde_json::Error);

/// How long the pools may take to fill: generous, growing with their size.
pub fn fill_timeout(plan: &BenchPlan) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(200) * plan.warm_sandboxes()
}

/// Creates the namespace, templates and pools.
pub async fn create(
    client: &kube::Client,
    plan: &BenchPlan,
    run_id: &str,
) -> Result<(), SetupError> {
    let ns = namespaces::bench(run_id);
    namespaces::create_labelled(client, &ns, [(RUN_LABEL, run_id)]).await?;
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), &ns);
    for t in &plan.templates {
        templates
            .create(&PostParams::default(), &typed(template_object(t, run_id))?)
            .await
            .map_err(|source| SetupError::Api {
                action: "create",
                kind: "SandboxTemplate",
                name: t.name.clone(),
                source,
            })?;
    }
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), &ns);
    for p in &plan.pools {
        pools
            .create(&PostParams::default(), &typed(pool_object(p, run_id))?)
            .await
            .map_err(|source| SetupError::Api {
                action: "create",
                kind: "SandboxWarmPool",
                name: p.name.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Waits until every pool reports all its replicas Ready; `progress` gets (ready, wanted).
pub async fn wait_for_pools(
    client: &kube::Client,
    plan: &BenchPlan,
    run_id: &str,
    timeout: Duration,
    progress: impl FnMut(u64, u64),
) -> Result<(), SetupError> {
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), &namespaces::bench(run_id));
    let wanted = u64::from(plan.warm_sandboxes());
    // Each look reports its progress; the future it runs in holds the callback mutably.
    let progress = RefCell::new(progress);
    let full = sandbox_cluster::poll::until(timeout, Duration::from_millis(250), || async {
        match pools_ready(&pools, plan).await {
            Ok((ready, full)) => {
                (progress.borrow_mut())(ready, wanted);
                full.then_some(Ok(()))
            }
            Err(e) => Some(Err(e)),
        }
    })
    .await;
    match full {
        Some(done) => done,
        None => Err(SetupError::PoolsNotFull {
            waited: Duration::from_secs(timeout.as_secs()),
            ready: pools_ready(&pools, plan).await?.0,
            wanted,
        }),
    }
}

/// Ready members over every pool (each counted up to its replicas), and whether all are full.
async fn pools_ready(
    pools: &Api<SandboxWarmPool>,
    plan: &BenchPlan,
) -> Result<(u64, bool), SetupError> {
    let mut ready = 0u64;
    let mut full = true;
    for p in &plan.pools {
        let pool = pools.get(&p.name).await.map_err(|source| SetupError::Api {
            action: "read",
            kind: "SandboxWarmPool",
            name: p.name.clone(),
            source,
        })?;
        let status = pool.status.unwrap_or_default();
        let pool_ready = u32::try_from(status.ready_replicas).unwrap_or(0);
        ready += u64::from(pool_ready.min(p.replicas));
        full &= pool_ready >= p.replicas;
    }
    Ok((ready, full))
}

/// An object the harness built as JSON, typed for its API.
pub fn typed<K: DeserializeOwned>(value: serde_json::Value) -> Result<K, InvalidObject> {
    Ok(serde_json::from_value(value)?)
}
