//! `Sandbox` (`agents.x-k8s.io/v1alpha1`, deprecated): like v1beta1, but suspension is expressed
//! as `replicas: 0|1` (with a scale subresource) instead of `operatingMode`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Lifecycle, PersistentVolumeClaimTemplate, PodTemplate, is_zero_i32};

/// `spec.replicas` when unset: the Sandbox runs.
pub const DEFAULT_REPLICAS: i32 = 1;

/// Desired state of a v1alpha1 [`Sandbox`].
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "agents.x-k8s.io",
    version = "v1alpha1",
    kind = "Sandbox",
    plural = "sandboxes",
    singular = "sandbox",
    shortname = "sandbox",
    namespaced,
    storage = false,
    served = true,
    deprecated = "agents.x-k8s.io/v1alpha1 Sandbox is deprecated; use agents.x-k8s.io/v1beta1 Sandbox instead",
    status = "SandboxStatus",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSpec {
    /// The Pod to run.
    pub pod_template: PodTemplate,
    /// PVCs to create alongside the Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub volume_claim_templates: Vec<PersistentVolumeClaimTemplate>,
    /// Scheduled expiry.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// `0` suspends (v1beta1 `Suspended`), `1` runs; the apiserver defaults it to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1), extend("default" = DEFAULT_REPLICAS))]
    pub replicas: Option<i32>,
    /// Tri-state headless Service switch, as in v1beta1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
}

/// Observed state of a v1alpha1 [`Sandbox`]. There is no `nodeName` in this version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStatus {
    /// `<svc>.<ns>.svc.<clusterDomain>`; empty when no Service is in use.
    #[serde(
        rename = "serviceFQDN",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub service_fqdn: String,
    /// Name of the Service in use, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// Same conditions as v1beta1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// `0` or `1`, derived from the operating mode (scale subresource status path).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// `agents.x-k8s.io/sandbox-name-hash=<nameHash>` (scale subresource selector path).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// IPs of the owned Pod.
    #[serde(rename = "podIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<String>,
}
