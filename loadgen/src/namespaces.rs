//! The namespaces runs work in (one per conformance case, one per bench run), labelled with
//! the run so that cleanup deletes exactly what this run created and nothing else.

use std::time::{Duration, Instant};

pub use crate::labels::{RUN_LABEL, run_id};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

/// Label on every namespace of a run: the case it belongs to.
pub const CASE_LABEL: &str = "sandbox-bench/case";

/// How long a fresh namespace may take to get its `default` ServiceAccount, without which the
/// API server refuses Pods.
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// The namespace of `case` in run `run_id`.
pub fn name(case: &str, run_id: &str) -> String {
    format!("conformance-{case}-{run_id}")
}

/// Creates the namespace of `case` and waits until Pods can be created in it.
pub async fn create(client: &kube::Client, case: &str, run_id: &str) -> Result<String, String> {
    let namespace = name(case, run_id);
    create_labelled(
        client,
        &namespace,
        json!({RUN_LABEL: run_id, CASE_LABEL: case}),
    )
    .await?;
    Ok(namespace)
}

/// Creates `namespace` with `labels` and waits until Pods can be created in it.
pub async fn create_labelled(
    client: &kube::Client,
    namespace: &str,
    labels: serde_json::Value,
) -> Result<(), String> {
    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": namespace, "labels": labels}}))
            .map_err(|e| format!("namespace object: {e}"))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| format!("create namespace {namespace}: {e}"))?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    loop {
        if matches!(accounts.get_opt("default").await, Ok(Some(_))) {
            return Ok(());
        }
        if start.elapsed() > SERVICE_ACCOUNT_WAIT {
            return Err(format!(
                "namespace {namespace} got no default ServiceAccount within {}s",
                SERVICE_ACCOUNT_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts deleting a namespace (not waiting for it to go); a missing one is fine.
pub async fn delete(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
    match Api::<Namespace>::all(client.clone())
        .delete(namespace, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every namespace of run `run_id` and, given `wait`, waits up to that long for them
/// to be gone. Returns the ones still present.
pub async fn sweep(
    client: &kube::Client,
    run_id: &str,
    wait: Option<Duration>,
) -> Result<Vec<String>, kube::Error> {
    let api = Api::<Namespace>::all(client.clone());
    let selector = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
    let start = Instant::now();
    loop {
        let left: Vec<Namespace> = api.list(&selector).await?.items;
        for ns in &left {
            if ns.metadata.deletion_timestamp.is_none()
                && let Some(name) = &ns.metadata.name
            {
                delete(client, name).await?;
            }
        }
        let names: Vec<String> = left.into_iter().filter_map(|n| n.metadata.name).collect();
        match wait {
            Some(limit) if !names.is_empty() && start.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => return Ok(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_named_by_case_and_run() {
        assert_eq!(name("claim-race", "abcde"), "conformance-claim-race-abcde");
    }
}
