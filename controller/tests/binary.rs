//! The `sandbox-controller` binary against a real API server: it takes the leader Lease, serves
//! `/metrics` and the health probes (`/readyz` once it leads with its caches listed), serves
//! the conversion webhook it points the CRDs at, so a `v1alpha1` Sandbox written with
//! `replicas: 0` reads back at `v1beta1` as Suspended, and gives the Lease up on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use sandbox_api::v1beta1::Sandbox;
use serde_json::json;

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_leads_serves_metrics_and_converts_v1alpha1() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("binary", dir.path()).await;

    let (metrics, webhook) = (free_port(), free_port());
    let mut controller = Command::new(env!("CARGO_BIN_EXE_sandbox-controller"))
        .args([
            "--kubeconfig",
            dir.path().join("kubeconfig").to_str().unwrap(),
            "--extensions",
            "--leader-election-namespace=default",
            &format!("--metrics-bind-address=127.0.0.1:{metrics}"),
            &format!("--health-probe-bind-address=127.0.0.1:{metrics}"),
            &format!("--webhook-bind-address=127.0.0.1:{webhook}"),
            &format!("--webhook-url=https://127.0.0.1:{webhook}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Health, then the Lease.
    common::eventually("/healthz", Duration::from_secs(30), || async {
        http_get(metrics, "/healthz").filter(|r| r.ends_with("ok"))
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease = common::eventually("the leader Lease", Duration::from_secs(30), || {
        let leases = leases.clone();
        async move {
            leases
                .get_opt("a3317529.agent-sandbox.x-k8s.io")
                .await
                .ok()
                .flatten()
        }
    })
    .await;
    assert!(
        lease
            .spec
            .unwrap()
            .holder_identity
            .unwrap()
            .starts_with("sandbox-controller_")
    );

    // v1alpha1 in, v1beta1 out, through the webhook.
    let gvk = GroupVersionKind::gvk("agents.x-k8s.io", "v1alpha1", "Sandbox");
    let alpha: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "sandboxes"),
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": "old-client"},
        "spec": {"replicas": 0, "podTemplate": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap();
    common::eventually(
        "a v1alpha1 create through the webhook",
        Duration::from_secs(30),
        || {
            let (alpha, obj) = (alpha.clone(), obj.clone());
            async move { alpha.create(&PostParams::default(), &obj).await.ok() }
        },
    )
    .await;
    let beta: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    let stored = beta.get("old-client").await.unwrap();
    assert_eq!(
        stored.spec.operating_mode,
        Some(sandbox_api::v1beta1::OperatingMode::Suspended),
        "replicas: 0 converts to Suspended"
    );
    let back = alpha.get("old-client").await.unwrap();
    assert_eq!(back.data["spec"]["replicas"], 0, "and back");

    // Metrics with upstream's names, after some reconciles.
    let text = common::eventually("reconcile metrics", Duration::from_secs(30), || async {
        http_get(metrics, "/metrics")
            .filter(|t| t.contains("controller_runtime_reconcile_total{controller=\"sandbox\""))
    })
    .await;
    assert!(text.contains("agent_sandbox_build_info"), "{text}");
    // Ready: it leads and its caches have listed.
    common::eventually("/readyz", Duration::from_secs(30), || async {
        http_get(metrics, "/readyz").filter(|r| r.ends_with("leading, caches synced"))
    })
    .await;

    // SIGTERM, as the kubelet stops a Pod: it stops and gives the lease up for a successor.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(controller.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = controller.wait().unwrap();
    assert!(status.success(), "{status}");
    let released = leases
        .get("a3317529.agent-sandbox.x-k8s.io")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(released.holder_identity, None, "{released:?}");
    assert_eq!(released.lease_duration_seconds, Some(1));
    cluster.stop().unwrap();
}
