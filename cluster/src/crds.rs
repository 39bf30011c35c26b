//! Installing the agent-sandbox CRDs (from `sandbox-api`) and waiting until the API server
//! serves them.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::ClusterError;

/// Field manager for everything the harness applies.
pub const FIELD_MANAGER: &str = "sandbox-bench";

/// Server-side applies every CRD and waits until each is `Established`.
pub async fn install(
    client: &kube::Client,
    timeout: Duration,
) -> Result<Vec<String>, ClusterError> {
    apply(client, sandbox_api::crds::all(), timeout).await
}

/// Server-side applies `crds` (ours or another controller's) and waits until each is
/// `Established`.
pub async fn apply(
    client: &kube::Client,
    crds: impl IntoIterator<Item = CustomResourceDefinition>,
    timeout: Duration,
) -> Result<Vec<String>, ClusterError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| ClusterError::Kube {
                what: format!("apply CRD {name}"),
                source,
            })?;
        names.push(name);
    }
    let deadline = Instant::now() + timeout;
    for name in &names {
        let established = await_condition(api.clone(), name, conditions::is_crd_established());
        tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            established,
        )
        .await
        .map_err(|_| ClusterError::Timeout {
            what: format!("CRD {name} to become Established"),
            logs: "the API server log".into(),
        })?
        .map_err(|source| ClusterError::Watch {
            what: format!("CRD {name}"),
            source,
        })?;
    }
    Ok(names)
}
