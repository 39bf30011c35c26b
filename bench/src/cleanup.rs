//! After the run: delete what carries the run's label (its namespace holds everything else
//! the controller made) and report anything still there.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::wait::await_condition;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};

use sandbox_marks::labels::RUN_LABEL;
use sandbox_marks::namespaces;

/// Deletes the run's namespace and waits up to `wait` for it to be gone; then lists anything
/// labelled with the run anywhere in the cluster. Returns the leaks as `Kind namespace/name`.
pub async fn clean_up(
    client: &kube::Client,
    run_id: &str,
    wait: Duration,
) -> Result<Vec<String>, kube::Error> {
    let ns = namespaces::bench(run_id);
    namespaces::delete_of_run(client, &ns, run_id).await?;
    let namespaces_api = Api::<Namespace>::all(client.clone());
    // Watched, not polled; what is still there after `wait` is reported below.
    let gone = await_condition(namespaces_api.clone(), &ns, |n: Option<&Namespace>| {
        n.is_none()
    });
    let _ = tokio::time::timeout(wait, gone).await;
    let selector = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
    let mut leaks = Vec::new();
    for namespace in namespaces_api.list(&selector).await?.items {
        leaks.push(format!(
            "Namespace {}",
            namespace.metadata.name.unwrap_or_default()
        ));
    }
    leaks.extend(labelled::<SandboxClaim>(client, &selector, "SandboxClaim").await?);
    leaks.extend(labelled::<SandboxWarmPool>(client, &selector, "SandboxWarmPool").await?);
    leaks.extend(labelled::<SandboxTemplate>(client, &selector, "SandboxTemplate").await?);
    leaks.extend(labelled::<Sandbox>(client, &selector, "Sandbox").await?);
    Ok(leaks)
}

async fn labelled<K>(
    client: &kube::Client,
    selector: &ListParams,
    kind: &str,
) -> Result<Vec<String>, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    Ok(Api::<K>::all(client.clone())
        .list_metadata(selector)
        .await?
        .items
        .into_iter()
        .map(|o| {
            format!(
                "{kind} {}/{}",
                o.metadata.namespace.unwrap_or_default(),
                o.metadata.name.unwrap_or_default()
            )
        })
        .collect())
}
