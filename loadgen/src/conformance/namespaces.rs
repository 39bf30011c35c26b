//! The namespaces cases run in: one per case, labelled with the run so that cleanup deletes
//! exactly what this run created and nothing else.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

/// Label on every namespace of a run: the run id.
pub const RUN_LABEL: &str = "sandbox-bench/run";
/// Label on every namespace of a run: the case it belongs to.
pub const CASE_LABEL: &str = "sandbox-bench/case";

/// How long a fresh namespace may take to get its `default` ServiceAccount, without which the
/// API server refuses Pods.
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// The namespace of `case` in run `run_id`.
pub fn name(case: &str, run_id: &str) -> String {
    format!("conformance-{case}-{run_id}")
}

/// A short id, unique enough to keep runs on one cluster apart: five base-36 digits from the
/// clock and the process id.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut n = (nanos ^ (u128::from(std::process::id()) << 40)) % 36u128.pow(5);
    let mut id = String::new();
    for _ in 0..5 {
        let digit = u32::try_from(n % 36).unwrap_or(0);
        id.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    id
}

/// Creates the namespace of `case` and waits until Pods can be created in it.
pub async fn create(client: &kube::Client, case: &str, run_id: &str) -> Result<String, String> {
    let namespace = name(case, run_id);
    let object: Namespace = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": {RUN_LABEL: run_id, CASE_LABEL: case}}
    }))
    .map_err(|e| format!("namespace object: {e}"))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| format!("create namespace {namespace}: {e}"))?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let start = Instant::now();
    loop {
        if matches!(accounts.get_opt("default").await, Ok(Some(_))) {
            return Ok(namespace);
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
    fn run_ids_are_short_dns_safe_and_vary() {
        let a = run_id();
        assert_eq!(a.len(), 5);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(a, run_id());
        assert_eq!(name("claim-race", "abcde"), "conformance-claim-race-abcde");
    }
}
