//! The deploy manifests against a real API server: they apply cleanly, their arguments are
//! valid flags, and their RBAC is enough: the controller binary, authenticated as the
//! manifests' ServiceAccount, serves a warm claim end to end.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use sandbox_api::v1beta1::SandboxClaim;
use sandbox_controller::flags::Flags;
use serde_json::{Value, json};

const NS: &str = "agent-sandbox-system";

fn documents() -> Vec<Value> {
    common::manifest_documents()
}

#[test]
fn the_deployment_arguments_are_valid_flags() {
    let docs = documents();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let deployment: Deployment = serde_json::from_value(deployment.clone()).unwrap();
    let args = deployment.spec.template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    let flags =
        Flags::try_parse_from(std::iter::once("sandbox-controller".to_string()).chain(args))
            .unwrap();
    assert!(flags.extensions && flags.leader_elect);
    assert_eq!(flags.webhook_bind_address.0.map(|a| a.port()), Some(9443));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_apply_and_their_rbac_is_enough_to_serve_a_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("manifests", dir.path()).await;

    // Server-side apply of every document: the API server validates each one.
    common::apply_documents(&client, documents()).await;

    // A kubeconfig holding only the ServiceAccount's token.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    let token = sas
        .create_token_request("agent-sandbox-controller", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .unwrap();
    let ca = std::fs::read_to_string(dir.path().join("pki/ca.crt")).unwrap();
    let kubeconfig = dir.path().join("sa.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
             users:\n- name: sa\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context: {{cluster: c, user: sa}}\ncurrent-context: c\n",
            cluster.info().server,
            STANDARD.encode(ca)
        ),
    )
    .unwrap();

    // A file, not a pipe: nothing reads a pipe while the controller runs, and a full one would
    // stall it.
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut controller = Command::new(env!("CARGO_BIN_EXE_sandbox-controller"))
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--extensions",
            &format!("--leader-election-namespace={NS}"),
            "--metrics-bind-address=0",
            "--health-probe-bind-address=0",
            // A port the system picks, which the CRDs' webhook URL then names.
            "--webhook-bind-address=127.0.0.1:0",
            "--webhook-url=https://127.0.0.1:0",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();

    let apply = |v: Value| {
        let client = client.clone();
        async move {
            let gvk = kube::api::GroupVersionKind::gvk(
                "extensions.agents.x-k8s.io",
                "v1beta1",
                v["kind"].as_str().unwrap(),
            );
            let plural = format!("{}s", v["kind"].as_str().unwrap().to_lowercase());
            let api: Api<DynamicObject> = Api::namespaced_with(
                client,
                "default",
                &ApiResource::from_gvk_with_plural(&gvk, &plural),
            );
            api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
                .await
                .unwrap();
        }
    };
    apply(json!({"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
        "metadata": {"name": "t"}, "spec": {"podTemplate": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}})).await;
    apply(
        json!({"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxWarmPool",
        "metadata": {"name": "p"}, "spec": {"replicas": 1, "sandboxTemplateRef": {"name": "t"}}}),
    )
    .await;
    apply(
        json!({"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
        "metadata": {"name": "c"}, "spec": {"warmPoolRef": {"name": "p"}}}),
    )
    .await;

    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = claims
            .get("c")
            .await
            .ok()
            .and_then(|c| c.status)
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
        if ready {
            break;
        }
        if Instant::now() > deadline || controller.try_wait().unwrap().is_some() {
            let _ = controller.kill();
            let _ = controller.wait();
            panic!(
                "the claim never became Ready under the manifests' RBAC\n{}\ncontroller log:\n{}",
                common::describe_namespace(&client, "default").await,
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = controller.kill();
    let _ = controller.wait();
    cluster.stop().unwrap();
}
