//! The namespaces runs work in (one per conformance case, one per bench run), labelled with
//! the run so that cleanup deletes exactly what this run created and nothing else.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use crate::labels::{RUN_LABEL, run_id, run_id_of};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, GetParams, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::guarded_delete::{self, GuardedDeleteError, RequiredLabel};

/// Label on every namespace of a run: the case it belongs to.
pub const CASE_LABEL: &str = "sandbox-bench/case";

/// How long a fresh namespace may take to get its `default` ServiceAccount, without which the
/// API server refuses Pods.
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// Why a namespace could not be made ready for a run.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("create namespace {namespace}: {source}")]
    Create {
        namespace: String,
        source: kube::Error,
    },
    #[error("watch the default ServiceAccount of namespace {namespace}: {source}")]
    Watch {
        namespace: String,
        source: kube::runtime::wait::Error,
    },
    #[error(
        "namespace {namespace} got no default ServiceAccount within {}s",
        SERVICE_ACCOUNT_WAIT.as_secs()
    )]
    NoServiceAccount { namespace: String },
}

/// The namespace of conformance `case` in run `run_id`.
pub fn name(case: &str, run_id: &str) -> String {
    format!("conformance-{case}-{run_id}")
}

/// The namespace of bench run `run_id`.
pub fn bench(run_id: &str) -> String {
    format!("bench-{run_id}")
}

/// Creates the namespace of `case` and waits until Pods can be created in it.
pub async fn create(
    client: &kube::Client,
    case: &str,
    run_id: &str,
) -> Result<String, NamespaceError> {
    let namespace = name(case, run_id);
    let labels = [(RUN_LABEL, run_id), (CASE_LABEL, case)];
    create_labelled(client, &namespace, labels).await?;
    Ok(namespace)
}

/// Creates `namespace` with `labels` and waits until Pods can be created in it.
pub async fn create_labelled<'a>(
    client: &kube::Client,
    namespace: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), NamespaceError> {
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_string()),
            labels: Some(
                labels
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .map_err(|source| NamespaceError::Create {
            namespace: namespace.to_string(),
            source,
        })?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let created = await_condition(accounts, "default", conditions::is_created());
    tokio::time::timeout(SERVICE_ACCOUNT_WAIT, created)
        .await
        .map_err(|_| NamespaceError::NoServiceAccount {
            namespace: namespace.to_string(),
        })?
        .map_err(|source| NamespaceError::Watch {
            namespace: namespace.to_string(),
            source,
        })?;
    Ok(())
}

/// Starts deleting a namespace of the harness (not waiting for it to go); a missing one is
/// fine. The run it must belong to is read from its name ([`run_id_of`]); one without that
/// run's label is refused and left in place.
pub async fn delete(client: &kube::Client, namespace: &str) -> Result<(), GuardedDeleteError> {
    let required = RequiredLabel::run_of_namespace(namespace)?;
    delete_checked(client, namespace, &required).await
}

/// Starts deleting `namespace` if it carries the run label of run `run_id` (not waiting for it
/// to go); a missing one is fine, one without the label is refused and left in place.
pub async fn delete_of_run(
    client: &kube::Client,
    namespace: &str,
    run_id: &str,
) -> Result<(), GuardedDeleteError> {
    delete_checked(client, namespace, &RequiredLabel::run(run_id)).await
}

async fn delete_checked(
    client: &kube::Client,
    namespace: &str,
    required: &RequiredLabel,
) -> Result<(), GuardedDeleteError> {
    guarded_delete::delete_named(
        &Api::<Namespace>::all(client.clone()),
        namespace,
        required,
        &GetParams::default(),
        &DeleteParams::background(),
    )
    .await
    .map(|_| ())
}

/// Deletes every namespace of run `run_id` and, given `wait`, waits up to that long for them
/// to be gone. Returns the ones still present.
pub async fn sweep(
    client: &kube::Client,
    run_id: &str,
    wait: Option<Duration>,
) -> Result<Vec<String>, kube::Error> {
    let api = Api::<Namespace>::all(client.clone());
    let required = RequiredLabel::run(run_id);
    let selector = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
    let start = Instant::now();
    loop {
        let left: Vec<Namespace> = api.list(&selector).await?.items;
        for ns in &left {
            if ns.metadata.deletion_timestamp.is_none() {
                // Listed by the label, so the check holds; it is made all the same, on the
                // object listed, and pins the delete to its uid.
                let checked = required.check(ns).map_err(GuardedDeleteError::from)?;
                guarded_delete::delete(&api, &checked, &DeleteParams::background()).await?;
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

    #[test]
    fn the_run_id_is_read_back_from_the_names_the_harness_gives() {
        assert_eq!(run_id_of(&name("claim-race", "abcde")), Some("abcde"));
        assert_eq!(run_id_of(&bench("x1y2z")), Some("x1y2z"));
        assert_eq!(run_id_of("default"), None);
        assert_eq!(run_id_of("trailing-"), None);
    }
}
