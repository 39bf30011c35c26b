//! The `agent-sandbox-config` ConfigMap against a real API server, through the binary: a bad
//! value stops the controller with exit 2 naming the key; `disable-sandbox-events: "true"`
//! silences the Sandbox controller's Events; without the ConfigMap the same controller records
//! them (the positive control).

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sandbox_api::v1beta1::Sandbox;
use serde_json::json;

const NS: &str = "agent-sandbox-system";

fn controller(kubeconfig: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbox-controller"));
    command
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--leader-elect=false",
            "--metrics-bind-address=0",
            "--health-probe-bind-address=0",
        ])
        .env("POD_NAMESPACE", NS)
        .stdout(Stdio::null());
    command
}

async fn set_config(client: &kube::Client, data: &[(&str, &str)]) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let _ = api
        .delete("agent-sandbox-config", &DeleteParams::default())
        .await;
    let data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let config: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "agent-sandbox-config"}, "data": data
    }))
    .unwrap();
    api.create(&PostParams::default(), &config).await.unwrap();
}

async fn ready_sandbox(client: &kube::Client, name: &str) {
    let api: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    let sandbox: Sandbox = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &sandbox).await.unwrap();
    common::eventually(
        &format!("Sandbox {name} Ready"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let sb = api.get(name).await.ok()?;
                let conditions = sb.status?.conditions;
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
                    .then_some(())
            }
        },
    )
    .await;
}

/// Reasons of the Events about Sandbox `name`.
async fn reasons(client: &kube::Client, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let selector = format!("involvedObject.name={name},involvedObject.kind=Sandbox");
    events
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_map_tunes_the_controller_and_a_bad_value_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("config-map", dir.path()).await;
    let kubeconfig = dir.path().join("kubeconfig");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();

    // A value that does not parse: exit 2 before anything runs, the key named.
    set_config(&client, &[("sandbox-warm-pool-max-refill-rate", "fast")]).await;
    let out = controller(&kubeconfig)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ConfigMap agent-sandbox-system/agent-sandbox-config key \"sandbox-warm-pool-max-refill-rate\""),
        "{stderr}"
    );

    // Events off by the ConfigMap.
    set_config(&client, &[("disable-sandbox-events", "true")]).await;
    let quiet = controller(&kubeconfig)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ready_sandbox(&client, "quiet").await;
    // Suspending takes the Pod's deletion and two more status writes: the Events of the
    // first writes, had they been on, are written by the time it is done.
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    sandboxes
        .patch(
            "quiet",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"operatingMode": "Suspended"}})),
        )
        .await
        .unwrap();
    common::eventually("Sandbox quiet suspended", Duration::from_secs(60), || {
        let api = sandboxes.clone();
        async move {
            let conditions = api.get("quiet").await.ok()?.status?.conditions;
            conditions
                .iter()
                .any(|c| c.type_ == "Suspended" && c.status == "True")
                .then_some(())
        }
    })
    .await;
    stop(quiet);

    // The control: the same controller without the ConfigMap records them.
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .delete("agent-sandbox-config", &DeleteParams::default())
        .await
        .unwrap();
    let loud = controller(&kubeconfig)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ready_sandbox(&client, "loud").await;
    common::eventually(
        "SandboxPodCreated and SandboxReady about Sandbox loud",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let seen = reasons(&client, "loud").await;
                (seen.iter().any(|r| r == "SandboxPodCreated")
                    && seen.iter().any(|r| r == "SandboxReady"))
                .then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        reasons(&client, "quiet").await,
        Vec::<String>::new(),
        "no Event while the ConfigMap switched them off"
    );
    stop(loud);
    cluster.stop().unwrap();
}
