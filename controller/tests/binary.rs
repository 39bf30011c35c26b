//! The `sandbox-controller` binary against a real API server: it takes the leader Lease, serves
//! `/metrics` and the health probes (`/readyz` once it leads with its caches listed), serves
//! the conversion webhook it points the CRDs at, so a `v1alpha1` Sandbox written with
//! `replicas: 0` reads back at `v1beta1` as Suspended, and gives the Lease up on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use sandbox_api::v1beta1::Sandbox;
use serde_json::json;

/// The lines the child has written to stderr so far; each is echoed to the test's stderr too.
fn tee_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            kept.lock().unwrap().push(line);
        }
    });
    lines
}

/// The `addr=` of the first log line containing `message`: the binary binds port 0 and logs
/// the address it got, so no port is picked (and released, and maybe taken) beforehand.
fn logged_address(lines: &Mutex<Vec<String>>, message: &str) -> Option<SocketAddr> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(message))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix("addr="))?
                .parse()
                .ok()
        })
}

fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_leads_serves_metrics_and_converts_v1alpha1() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("binary", dir.path()).await;

    // Every listener on a port the system picks; the webhook's URL follows the port bound.
    let mut controller = Command::new(env!("CARGO_BIN_EXE_sandbox-controller"))
        .args([
            "--kubeconfig",
            dir.path().join("kubeconfig").to_str().unwrap(),
            "--extensions",
            "--leader-election-namespace=default",
            "--metrics-bind-address=127.0.0.1:0",
            "--health-probe-bind-address=127.0.0.1:0",
            "--webhook-bind-address=127.0.0.1:0",
            "--webhook-url=https://127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = tee_stderr(&mut controller);
    // One listener serves both, as they were given the same address.
    let metrics = common::eventually(
        "the endpoints' address in the log",
        Duration::from_secs(30),
        || std::future::ready(logged_address(&log, "serving endpoints")),
    )
    .await;

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
    // The CRDs name the port the webhook bound, not the 0 it was given.
    let webhook = common::eventually(
        "the webhook's address in the log",
        Duration::from_secs(30),
        || std::future::ready(logged_address(&log, "conversion webhook serving")),
    )
    .await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let url = crds
        .get("sandboxes.agents.x-k8s.io")
        .await
        .unwrap()
        .spec
        .conversion
        .and_then(|c| c.webhook?.client_config?.url);
    assert_eq!(url, Some(format!("https://{webhook}/convert")));

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
