//! Helpers shared by the controller's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use sandbox_bench::binaries::Binaries;
use sandbox_bench::cluster::local::{LocalCluster, LocalConfig};

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
    sandbox_bench::crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("CRDs not installed: {e}"));
    (cluster, client)
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
