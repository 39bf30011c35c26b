//! The Sandbox controller against a real API server (local cluster, kwok node): a Sandbox gets
//! its Pod and becomes Ready, is suspended and resumed, gets its Pod back after the Pod is
//! deleted, and gets its headless Service when asked.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use sandbox_api::v1beta1::Sandbox;
use sandbox_controller::flags::Flags;
use serde_json::{Value, json};

fn condition(sb: &Sandbox, type_: &str) -> Option<(String, String)> {
    let c = sb
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_runs_suspends_resumes_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("controller", dir.path()).await;
    let flags = Flags {
        sandbox_concurrent_workers: 10,
        ..Flags::defaults()
    };
    let controller = tokio::spawn(sandbox_controller::run::run(
        client.clone(),
        flags,
        Default::default(),
        Default::default(),
    ));

    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let sb: Sandbox = serde_json::from_value(json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {"name": "agent"},
        "spec": {"podTemplate": {"metadata": {"labels": {"team": "a"}},
                 "spec": {"containers": [{"name": "main", "image": "registry.invalid/agent:1",
                                          "ports": [{"containerPort": 8888}]}]}}}
    }))
    .unwrap();
    sandboxes.create(&PostParams::default(), &sb).await.unwrap();

    let ready = |want: &'static str| {
        let sandboxes = sandboxes.clone();
        move || {
            let sandboxes = sandboxes.clone();
            async move {
                let sb = sandboxes.get("agent").await.ok()?;
                (condition(&sb, "Ready")?.1 == want).then_some(sb)
            }
        }
    };
    let sb = common::eventually(
        "Ready/DependenciesReady",
        Duration::from_secs(30),
        ready("DependenciesReady"),
    )
    .await;
    let status = sb.status.clone().unwrap();
    assert!(status.pod_ips[0].starts_with("10.244."), "{status:?}");
    assert!(status.node_name.starts_with("kwok-node-"), "{status:?}");
    let pod = pods.get("agent").await.unwrap();
    let labels = pod.metadata.labels.clone().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(
        labels[sandbox_api::keys::SANDBOX_NAME_HASH_LABEL],
        sandbox_api::name_hash("agent")
    );
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("Sandbox", Some(true))
    );

    // A Pod deleted while Running is recreated.
    let old_uid = pod.metadata.uid.clone().unwrap();
    pods.delete("agent", &DeleteParams::default())
        .await
        .unwrap();
    common::eventually("a new Pod", Duration::from_secs(30), || {
        let pods = pods.clone();
        let old_uid = old_uid.clone();
        async move {
            let p = pods.get("agent").await.ok()?;
            (p.metadata.uid.as_deref() != Some(&old_uid)).then_some(())
        }
    })
    .await;
    common::eventually(
        "Ready again after the Pod was replaced",
        Duration::from_secs(30),
        ready("DependenciesReady"),
    )
    .await;

    // Suspend: the Pod goes, the condition says so.
    let patch = |v: Value| Patch::Merge(json!({"spec": v}));
    sandboxes
        .patch(
            "agent",
            &PatchParams::default(),
            &patch(json!({"operatingMode": "Suspended"})),
        )
        .await
        .unwrap();
    let sb = common::eventually("suspended", Duration::from_secs(30), || {
        let sandboxes = sandboxes.clone();
        async move {
            let sb = sandboxes.get("agent").await.ok()?;
            (condition(&sb, "Suspended")? == ("True".into(), "PodTerminated".into())).then_some(sb)
        }
    })
    .await;
    assert_eq!(condition(&sb, "Ready").unwrap().1, "SandboxSuspended");
    assert!(pods.get_opt("agent").await.unwrap().is_none());

    // Resume with a Service: a new Pod and a headless Service.
    sandboxes
        .patch(
            "agent",
            &PatchParams::default(),
            &patch(json!({"operatingMode": "Running", "service": true})),
        )
        .await
        .unwrap();
    let sb = common::eventually(
        "Ready with a Service",
        Duration::from_secs(30),
        ready("DependenciesReady"),
    )
    .await;
    let status = sb.status.unwrap();
    assert_eq!(status.service, "agent");
    assert_eq!(status.service_fqdn, "agent.default.svc.cluster.local");
    let svc = services.get("agent").await.unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
    assert_eq!(spec.ports.unwrap()[0].port, 8888);
    assert_eq!(
        condition(&sandboxes.get("agent").await.unwrap(), "Suspended")
            .unwrap()
            .1,
        "NotSuspended"
    );

    controller.abort();
    cluster.stop().unwrap();
}
