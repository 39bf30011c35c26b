//! Warm pools and claims against a real API server (local cluster, kwok node): a pool fills
//! to `replicas`, a claim adopts a warm member and the pool replenishes, a claim with env
//! starts cold, concurrent claims never share a Sandbox, and deleting a claim removes its
//! Sandbox through garbage collection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use kube::api::{Api, DeleteParams, PostParams};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_controller::flags::Flags;
use serde_json::json;

/// The bound Sandbox's name once the claim is Ready.
fn ready(c: &SandboxClaim) -> Option<String> {
    let status = c.status.as_ref()?;
    status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
        .then(|| status.sandbox.name.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_adopt_warm_sandboxes_and_the_pool_replenishes() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("claims", dir.path()).await;
    let flags = Flags {
        extensions: true,
        ..Flags::defaults()
    };
    let controller = tokio::spawn(sandbox_controller::run::run(
        client.clone(),
        flags,
        Default::default(),
        Default::default(),
    ));

    let pp = PostParams::default();
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), "default");
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), "default");
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), "default");
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    templates
        .create(&pp, &serde_json::from_value(json!({
            "metadata": {"name": "python"},
            "spec": {"envVarsInjectionPolicy": "Overrides",
                     "podTemplate": {"spec": {"containers": [{"name": "main", "image": "registry.invalid/py:3"}]}}}
        })).unwrap())
        .await
        .unwrap();
    pools
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "pool"},
                "spec": {"replicas": 3, "sandboxTemplateRef": {"name": "python"}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let pool_ready = |n: i32| {
        let pools = pools.clone();
        move || {
            let pools = pools.clone();
            async move {
                let p = pools.get("pool").await.ok()?;
                let s = p.status?;
                (s.ready_replicas == n && s.replicas == n).then_some(())
            }
        }
    };
    common::eventually("the pool to fill", Duration::from_secs(60), pool_ready(3)).await;

    // Warm: bound to a pool member, not a new Sandbox named after the claim.
    claims
        .create(
            &pp,
            &serde_json::from_value(
                json!({"metadata": {"name": "warm"}, "spec": {"warmPoolRef": {"name": "pool"}}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let bound = common::eventually(
        "the warm claim to be Ready",
        Duration::from_secs(60),
        || {
            let claims = claims.clone();
            async move { ready(&claims.get("warm").await.ok()?) }
        },
    )
    .await;
    assert!(bound.starts_with("pool-"), "bound to {bound}");
    let sb = sandboxes.get(&bound).await.unwrap();
    let labels = sb.metadata.labels.clone().unwrap();
    assert_eq!(labels[sandbox_api::keys::LAUNCH_TYPE_LABEL], "warm");
    assert!(!labels.contains_key(sandbox_api::keys::WARM_POOL_SANDBOX_LABEL));
    assert_eq!(
        sb.metadata.owner_references.unwrap()[0].kind,
        "SandboxClaim"
    );
    common::eventually(
        "the pool to replenish",
        Duration::from_secs(60),
        pool_ready(3),
    )
    .await;

    // Cold: env forces a new Sandbox named after the claim.
    claims
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "cold"},
            "spec": {"warmPoolRef": {"name": "pool"}, "env": [{"name": "TASK", "value": "42"}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let cold = common::eventually(
        "the cold claim to be Ready",
        Duration::from_secs(60),
        || {
            let claims = claims.clone();
            async move { ready(&claims.get("cold").await.ok()?) }
        },
    )
    .await;
    assert_eq!(cold, "cold");
    let env = sandboxes
        .get("cold")
        .await
        .unwrap()
        .spec
        .blueprint
        .pod_template
        .spec
        .containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "TASK" && e.value.as_deref() == Some("42"))
    );

    // Concurrent claims on a pool of three: all served, no Sandbox shared.
    for i in 0..6 {
        let claims = claims.clone();
        let claim: SandboxClaim =
            serde_json::from_value(json!({"metadata": {"name": format!("burst-{i}")},
            "spec": {"warmPoolRef": {"name": "pool"}}}))
            .unwrap();
        claims.create(&PostParams::default(), &claim).await.unwrap();
    }
    let mut names = HashSet::new();
    for i in 0..6 {
        let name = format!("burst-{i}");
        let bound = common::eventually(
            &format!("{name} to be Ready"),
            Duration::from_secs(60),
            || {
                let claims = claims.clone();
                let name = name.clone();
                async move { ready(&claims.get(&name).await.ok()?) }
            },
        )
        .await;
        assert!(names.insert(bound.clone()), "{bound} bound twice");
    }
    for s in sandboxes.list(&Default::default()).await.unwrap().items {
        let owners = s.metadata.owner_references.unwrap_or_default();
        assert!(owners.iter().filter(|o| o.controller == Some(true)).count() <= 1);
    }

    // Deleting the claim deletes its Sandbox (garbage collection, no finalizers).
    claims
        .delete("warm", &DeleteParams::default())
        .await
        .unwrap();
    common::eventually(
        "the adopted Sandbox to be collected",
        Duration::from_secs(60),
        || {
            let sandboxes = sandboxes.clone();
            let bound = bound.clone();
            async move {
                sandboxes
                    .get_opt(&bound)
                    .await
                    .ok()?
                    .is_none()
                    .then_some(())
            }
        },
    )
    .await;

    controller.abort();
    cluster.stop().unwrap();
}
