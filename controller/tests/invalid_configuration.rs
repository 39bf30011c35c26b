//! A child the API server rejects as invalid ends in a terminal condition and an Event, not a
//! retry loop: the Sandbox says Ready=False/InvalidConfiguration with the server's message,
//! and the Pod is tried again once the spec changes.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sandbox_api::keys::reason::INVALID_CONFIGURATION;
use sandbox_api::v1beta1::Sandbox;
use sandbox_controller::flags::Flags;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_rejected_as_invalid_is_reported_and_retried_only_after_a_spec_change() {
    let dir = tempfile::tempdir().unwrap();
    let (_cluster, client) = common::cluster_with_crds("invalid", dir.path()).await;
    let controller = tokio::spawn(sandbox_controller::run::run(
        client.clone(),
        Flags::defaults(),
        Default::default(),
        Default::default(),
    ));
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    // The Sandbox schema accepts a container without an image; the Pod validation does not.
    let sb: Sandbox = serde_json::from_value(json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {"name": "agent"},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main"}]}}}
    }))
    .unwrap();
    sandboxes.create(&PostParams::default(), &sb).await.unwrap();

    let rejected = common::eventually(
        "Ready=False/InvalidConfiguration",
        Duration::from_secs(30),
        || {
            let sandboxes = sandboxes.clone();
            async move {
                let sb = sandboxes.get("agent").await.ok()?;
                let ready = sb
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready")?;
                (ready.reason == INVALID_CONFIGURATION).then_some(ready)
            }
        },
    )
    .await;
    assert_eq!(rejected.status, "False");
    assert!(rejected.message.contains("image"), "{}", rejected.message);
    assert_eq!(rejected.observed_generation, Some(1));

    let event = common::event_about(&client, "default", INVALID_CONFIGURATION, "agent").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    // The fix is a new generation, and with it a Pod.
    sandboxes
        .patch(
            "agent",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"podTemplate": {"spec": {"containers": [
                {"name": "main", "image": "registry.invalid/agent:1"}]}}}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    common::eventually("the Pod of the fixed spec", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { pods.get("agent").await.ok() }
    })
    .await;
    controller.abort();
}
