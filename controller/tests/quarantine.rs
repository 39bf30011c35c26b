//! One object the controller cannot decode is set aside, not a stall of its whole kind.
//!
//! Before each object was decoded on its own, a claim with an `int32` beyond its range failed
//! the decoding of every claim listing: the claim cache never listed, and no claim in the
//! cluster was served again.

mod common;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::discovery::ApiResource;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_controller::flags::Flags;
use sandbox_controller::quarantine;
use serde_json::json;

/// Lets the API server store an out-of-range `int32`, as servers before kubernetes#136091
/// did: without `format: int32` on `spec.lifecycle.ttlSecondsAfterFinished` the value is only
/// checked to be an integer. (A pool's `replicas` cannot be used: the scale subresource checks
/// its range on its own.)
async fn loosen_claim_ttl(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "sandboxclaims.extensions.agents.x-k8s.io";
    let mut crd = crds.get(name).await.unwrap();
    let version = crd
        .spec
        .versions
        .iter_mut()
        .find(|v| v.name == "v1beta1")
        .unwrap();
    let spec = version
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
        .and_then(|s| s.properties.as_mut())
        .and_then(|p| p.get_mut("spec"))
        .and_then(|s| s.properties.as_mut())
        .and_then(|p| p.get_mut("lifecycle"))
        .and_then(|s| s.properties.as_mut())
        .and_then(|p| p.get_mut("ttlSecondsAfterFinished"))
        .unwrap();
    assert_eq!(spec.format.take().as_deref(), Some("int32"));
    crds.replace(name, &PostParams::default(), &crd)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_claim_is_reported_and_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_cluster, client) = common::cluster_with_crds("quarantine", dir.path()).await;
    loosen_claim_ttl(&client).await;
    let pp = PostParams::default();
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), "default");
    templates
        .create(&pp, &serde_json::from_value(json!({
            "metadata": {"name": "python"},
            "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "registry.invalid/py:3"}]}}}
        })).unwrap())
        .await
        .unwrap();
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), "default");
    pools
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "pool"},
                "spec": {"replicas": 2, "sandboxTemplateRef": {"name": "python"}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The schema change reaches the API server's handlers shortly after the CRD update.
    let ar = ApiResource::erase::<SandboxClaim>(&());
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let claim = |name: &str, ttl: u64| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
            "metadata": {"name": name},
            "spec": {
                "warmPoolRef": {"name": "pool"},
                "lifecycle": {"ttlSecondsAfterFinished": ttl}
            }
        }))
        .unwrap()
    };
    let huge = claim("huge", 3_000_000_000);
    common::eventually(
        "the loosened schema to accept the claim",
        Duration::from_secs(30),
        || {
            let (raw, huge) = (raw.clone(), huge.clone());
            async move { raw.create(&PostParams::default(), &huge).await.ok() }
        },
    )
    .await;
    raw.create(&pp, &claim("fine", 60)).await.unwrap();

    let controller = tokio::spawn(sandbox_controller::run::run(
        client.clone(),
        Flags {
            extensions: true,
            ..Flags::defaults()
        },
        Default::default(),
        Default::default(),
    ));
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), "default");
    common::eventually(
        "the readable claim to be served",
        Duration::from_secs(60),
        || {
            let claims = claims.clone();
            async move {
                let claim = claims.get("fine").await.ok()?;
                let ready = claim
                    .status?
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                ready.then_some(())
            }
        },
    )
    .await;
    let event = common::event_about(&client, "default", quarantine::REASON, "huge").await;
    let kind = event.regarding.as_ref().and_then(|r| r.kind.as_deref());
    assert_eq!(kind, Some("SandboxClaim"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("3000000000"),
        "the Event should say what failed: {note}"
    );
    // The unreadable claim was left alone rather than guessed at: no Sandbox of its own,
    // and the pool's other member still waits in the pool.
    let sandboxes = Api::<Sandbox>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    let owners: Vec<_> = sandboxes
        .items
        .iter()
        .flat_map(|s| s.metadata.owner_references.iter().flatten())
        .map(|o| (o.kind.as_str(), o.name.as_str()))
        .collect();
    assert!(!owners.contains(&("SandboxClaim", "huge")), "{owners:?}");
    controller.abort();
}
