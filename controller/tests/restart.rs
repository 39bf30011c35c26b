//! A controller that starts over a backlog (as after a crash during load) serves all of it:
//! more claims waiting than it has claim workers, a full pool, and nothing in memory.
//!
//! Before the claim and pool reconciles waited for their caches through `cache::Synced`, every
//! worker that asked kube's store for its first listing before it arrived slept for good, and
//! a controller restarted under load left most claims without any status.

mod common;

use std::time::Duration;

use kube::api::{Api, ListParams, PostParams};
use sandbox_api::v1beta1::{SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_controller::flags::Flags;
use serde_json::json;

/// More than the default 50 claim workers, so that a worker lost for good is a claim unserved.
const CLAIMS: usize = 80;
const POOL: i32 = 40;

fn is_ready(c: &SandboxClaim) -> bool {
    c.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn start_controller(client: &kube::Client) -> tokio::task::JoinHandle<()> {
    let flags = Flags {
        extensions: true,
        ..Flags::defaults()
    };
    tokio::spawn(sandbox_controller::run::run(
        client.clone(),
        flags,
        Default::default(),
        Default::default(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_started_over_a_backlog_serves_every_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("restart", dir.path()).await;
    let pp = PostParams::default();
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), "default");
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), "default");
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), "default");
    templates
        .create(&pp, &serde_json::from_value(json!({
            "metadata": {"name": "python"},
            "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "registry.invalid/py:3"}]}}}
        })).unwrap())
        .await
        .unwrap();
    pools
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "pool"},
                "spec": {"replicas": POOL, "sandboxTemplateRef": {"name": "python"}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let pool_full = || {
        let pools = pools.clone();
        async move {
            let s = pools.get("pool").await.ok()?.status?;
            (s.ready_replicas == POOL).then_some(())
        }
    };

    // The first controller fills the pool, then goes away as a crash would take it.
    let first = start_controller(&client);
    common::eventually("the pool to fill", Duration::from_secs(120), pool_full).await;
    first.abort();
    let _ = first.await;

    // The backlog builds up while no controller runs.
    for i in 0..CLAIMS {
        let claim: SandboxClaim = serde_json::from_value(json!({
            "metadata": {"name": format!("c-{i:03}")},
            "spec": {"warmPoolRef": {"name": "pool"}}
        }))
        .unwrap();
        claims.create(&pp, &claim).await.unwrap();
    }

    let second = start_controller(&client);
    let served = async {
        common::eventually("every claim to be Ready", Duration::from_secs(120), || {
            let claims = claims.clone();
            async move {
                let all = claims.list(&ListParams::default()).await.ok()?.items;
                (all.iter().filter(|c| is_ready(c)).count() == CLAIMS).then_some(())
            }
        })
        .await;
        common::eventually("the pool to refill", Duration::from_secs(120), pool_full).await;
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(served)).await;
    if outcome.is_err() {
        let state = common::describe_namespace(&client, "default").await;
        panic!("the restarted controller left claims unserved:\n{state}");
    }
    second.abort();
    cluster.stop().unwrap();
}
