//! Replicas behind the webhook Service share one CA through a Secret, against a real API
//! server: two replicas starting at once, authenticated as the deploy manifests'
//! ServiceAccount with only the manifests' RBAC, race to create it and end with the same CA,
//! the CRDs' `caBundle` is that CA, and each replica's own serving certificate verifies against
//! the bundle by a real TLS handshake under the Service's DNS name. A Secret that exists but
//! holds no usable CA stops a replica with an error naming the Secret and key, and is left
//! alone.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::ByteString;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use sandbox_cluster::local::LocalCluster;
use sandbox_controller::webhook::Server;
use sandbox_controller::webhook::ca_secret::{CERT_KEY, KEY_KEY, SECRET_NAME};
use sandbox_controller::webhook::wire::{self, Endpoint};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The controller's namespace in the manifests, where the webhook Service and CA Secret live.
const NS: &str = "agent-sandbox-system";
const SERVICE: &str = "agent-sandbox-webhook-service";
const SERVICE_ACCOUNT: &str = "agent-sandbox-controller";

fn endpoint(namespace: &str) -> Endpoint {
    Endpoint::Service {
        name: SERVICE.to_owned(),
        namespace: namespace.to_owned(),
    }
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

/// The `caBundle` of every agent-sandbox CRD, which must all be the same.
async fn ca_bundle(client: &kube::Client) -> Vec<u8> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut bundles = Vec::new();
    for crd in sandbox_api::crds::all() {
        let name = crd.metadata.name.unwrap();
        let stored = crds.get(&name).await.unwrap();
        let bundle = stored
            .spec
            .conversion
            .and_then(|c| c.webhook)
            .and_then(|w| w.client_config)
            .and_then(|c| c.ca_bundle)
            .unwrap_or_else(|| panic!("CRD {name} has no caBundle"));
        bundles.push(bundle.0);
    }
    bundles.dedup();
    assert_eq!(bundles.len(), 1, "the CRDs trust different CAs");
    bundles.remove(0)
}

/// Runs `server`, completes a TLS handshake with it trusting only `bundle` and expecting the
/// Service's DNS name (as the API server does), checks `/healthz`, and returns the serving
/// certificate it presented.
async fn handshake(server: Server, bundle: &[u8], namespace: &str) -> CertificateDer<'static> {
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(server.run());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bundle) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(format!("{SERVICE}.{namespace}.svc")).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("the replica at {addr} is not trusted by the caBundle: {e}"));
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    task.abort();
    presented
}

/// Server-side applies the manifests' Namespace, ServiceAccount and RBAC.
async fn apply_rbac(client: &kube::Client) {
    let kinds = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let docs = common::manifest_documents()
        .into_iter()
        .filter(|doc| doc["kind"].as_str().is_some_and(|k| kinds.contains(&k)));
    common::apply_documents(client, docs).await;
}

/// A client authenticated as the manifests' ServiceAccount, once its RBAC is in effect.
async fn service_account_client(
    cluster: &LocalCluster,
    admin: &kube::Client,
    dir: &std::path::Path,
) -> kube::Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), NS);
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    let token = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let ca = std::fs::read(dir.join("pki/ca.crt")).unwrap();
    let kubeconfig: Kubeconfig = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": cluster.info().server, "certificate-authority-data": STANDARD.encode(ca)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "c"
    }))
    .unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    // The RBAC authorizer learns of new bindings from a watch: wait until it grants what a
    // replica does.
    let crd = sandbox_api::crds::all()[0].metadata.name.clone().unwrap();
    let needed = [
        json!({"namespace": NS, "resource": "secrets", "verb": "create"}),
        json!({"namespace": NS, "resource": "secrets", "verb": "get", "name": SECRET_NAME}),
        json!({"group": "apiextensions.k8s.io", "resource": "customresourcedefinitions",
               "verb": "patch", "name": crd}),
    ];
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for attributes in needed {
        let review: SelfSubjectAccessReview =
            serde_json::from_value(json!({"spec": {"resourceAttributes": attributes}})).unwrap();
        common::eventually(
            &format!("the manifests' RBAC to allow {attributes}"),
            Duration::from_secs(30),
            || {
                let (reviews, review) = (reviews.clone(), review.clone());
                async move {
                    let answer = reviews.create(&PostParams::default(), &review).await;
                    answer.ok()?.status?.allowed.then_some(())
                }
            },
        )
        .await;
    }
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_one_ca_from_a_secret_and_the_crds_trust_each_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("webhook-ca", dir.path()).await;
    apply_rbac(&client).await;
    let replica = service_account_client(&cluster, &client, dir.path()).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);

    // Two replicas start together: both generate a CA and race to create the Secret; the
    // loser reads the winner's.
    let shared = endpoint(NS);
    let (one, two) = tokio::join!(
        wire::start(&replica, loopback(), &shared),
        wire::start(&replica, loopback(), &shared),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    // A third, later (a restarted Pod), finds the Secret at once.
    let three = wire::start(&replica, loopback(), &shared).await.unwrap();

    let secret = secrets.get(SECRET_NAME).await.unwrap();
    let data = secret.data.clone().unwrap();
    let stored_ca = &data[CERT_KEY].0;
    assert!(data.contains_key(KEY_KEY));
    assert_eq!(secret.immutable, Some(true));
    let bundle = ca_bundle(&client).await;
    assert_eq!(&bundle, stored_ca, "the CRDs trust the CA in the Secret");

    let mut presented = Vec::new();
    for server in [one, two, three] {
        presented.push(handshake(server, &bundle, NS).await);
    }
    let distinct = |a: usize, b: usize| presented[a] != presented[b];
    assert!(
        distinct(0, 1) && distinct(0, 2) && distinct(1, 2),
        "each replica signs its own serving certificate"
    );

    // A Secret that holds no usable CA stops the replica, names itself and the key, and is
    // neither replaced nor written to the CRDs.
    let broken = "broken-ca";
    create_namespace(&client, broken).await;
    let garbage: Secret = serde_json::from_value(json!({
        "metadata": {"name": SECRET_NAME},
        "data": {CERT_KEY: "bm90IGEgY2VydGlmaWNhdGU=", KEY_KEY: "bm90IGEga2V5"}
    }))
    .unwrap();
    let broken_secrets: Api<Secret> = Api::namespaced(client.clone(), broken);
    broken_secrets
        .create(&PostParams::default(), &garbage)
        .await
        .unwrap();
    let error = match wire::start(&client, loopback(), &endpoint(broken)).await {
        Ok(_) => panic!("a replica started on a malformed CA Secret"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains(&format!("Secret {broken}/{SECRET_NAME}, key {CERT_KEY}")),
        "{error}"
    );
    let after = broken_secrets.get(SECRET_NAME).await.unwrap().data.unwrap();
    assert_eq!(
        after[CERT_KEY],
        ByteString(b"not a certificate".to_vec()),
        "the malformed Secret was left as it was"
    );
    assert_eq!(
        ca_bundle(&client).await,
        bundle,
        "the CRDs were not touched"
    );

    cluster.stop().unwrap();
}
