//! Helpers shared by the controller's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::local::{LocalCluster, LocalConfig};

/// A local cluster (real API server, one kwok node) with the agent-sandbox CRDs installed,
/// from the pinned binaries `just setup` builds.
pub async fn cluster_with_crds(name: &str, dir: &std::path::Path) -> (LocalCluster, kube::Client) {
    let cluster = LocalCluster::start(LocalConfig::new(
        name,
        dir.to_path_buf(),
        Binaries::locate(None),
    ))
    .await
    .unwrap_or_else(|e| panic!("local cluster {name} did not start: {e}"));
    let client = cluster.client().expect("a started cluster has a client");
    sandbox_cluster::crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("CRDs not installed: {e}"));
    (cluster, client)
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    sandbox_cluster::poll::until(timeout, Duration::from_millis(50), f)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// The claims, Sandboxes and Pods in `ns` with their status, for a failing test to print.
pub async fn describe_namespace(client: &kube::Client, ns: &str) -> String {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams};
    use sandbox_api::v1beta1::{Sandbox, SandboxClaim};

    async fn list<K>(client: &kube::Client, ns: &str) -> String
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + serde::Serialize,
        K::DynamicType: Default,
    {
        let kind = K::kind(&K::DynamicType::default()).to_string();
        match Api::<K>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list
                .items
                .iter()
                .map(|o| {
                    let v = serde_json::to_value(o).unwrap_or_default();
                    format!(
                        "{kind} {}: owners {} status {}\n",
                        v["metadata"]["name"], v["metadata"]["ownerReferences"], v["status"]
                    )
                })
                .collect(),
            Err(e) => format!("{kind}: list failed: {e}\n"),
        }
    }
    [
        list::<SandboxClaim>(client, ns).await,
        list::<Sandbox>(client, ns).await,
        list::<Pod>(client, ns).await,
    ]
    .concat()
}

/// The documents of `deploy/controller.yaml`.
pub fn manifest_documents() -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(include_str!("../../../deploy/controller.yaml"))
        .expect("deploy/controller.yaml parses")
}

/// Server-side applies `docs` (any kinds the API server serves), each through discovery; the
/// API server validates every one.
pub async fn apply_documents(
    client: &kube::Client,
    docs: impl IntoIterator<Item = serde_json::Value>,
) {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::discovery::{Discovery, Scope};

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let kind = doc["kind"].as_str().unwrap();
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                doc["metadata"]["namespace"].as_str().unwrap(),
                &resource,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = doc["metadata"]["name"].as_str().unwrap();
        api.patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&doc),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    }
}

/// The first Event in `namespace` with `reason` about the object named `name`, once there.
pub async fn event_about(
    client: &kube::Client,
    namespace: &str,
    reason: &str,
    name: &str,
) -> k8s_openapi::api::events::v1::Event {
    use kube::api::{Api, ListParams};
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), namespace);
    eventually(
        &format!("a {reason} Event about {name}"),
        Duration::from_secs(30),
        || {
            let events = events.clone();
            async move {
                events
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items
                    .into_iter()
                    .find(|e| {
                        e.reason.as_deref() == Some(reason)
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    })
            }
        },
    )
    .await
}
