//! `Sandbox` (`agents.x-k8s.io/v1beta1`): one stateful singleton Pod with a stable identity,
//! optional headless Service and PVCs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Lifecycle, SandboxBlueprint};

/// Whether the Sandbox should have a running Pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OperatingMode {
    /// Keep a Pod running (re-created from the current podTemplate if it is gone). The CRD
    /// default.
    #[default]
    Running,
    /// Delete the Pod; keep the Sandbox, its Service and PVCs.
    Suspended,
}

/// Desired state of a [`Sandbox`].
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "agents.x-k8s.io",
    version = "v1beta1",
    kind = "Sandbox",
    plural = "sandboxes",
    singular = "sandbox",
    shortname = "sandbox",
    namespaced,
    status = "SandboxStatus",
    derive = "PartialEq",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(VOLUME_CLAIM_TEMPLATES_IMMUTABLE_RULE).message(VOLUME_CLAIM_TEMPLATES_IMMUTABLE_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct SandboxSpec {
    /// Pod template, PVC templates and the Service switch.
    #[serde(flatten)]
    pub blueprint: SandboxBlueprint,
    /// Scheduled expiry.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// Running or Suspended; the apiserver defaults it to `Running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = OperatingMode::default()))]
    pub operating_mode: Option<OperatingMode>,
}

/// CEL rule on `Sandbox.spec` (v1beta1 only): PVC templates can be neither added, removed nor
/// changed after creation, because the PVCs they describe are never re-created.
pub const VOLUME_CLAIM_TEMPLATES_IMMUTABLE_RULE: &str = "has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)";

/// Message the apiserver returns when [`VOLUME_CLAIM_TEMPLATES_IMMUTABLE_RULE`] fails.
pub const VOLUME_CLAIM_TEMPLATES_IMMUTABLE_MESSAGE: &str = "volumeClaimTemplates is immutable";

/// Root-level CEL rule on `Sandbox` (v1beta1 only, upstream v1.0.6): the headless Service is
/// named after the Sandbox and a Service name is a DNS label, so a name over 63 characters is
/// refused when `spec.service` is true, on create and when an update turns the Service on.
/// A Sandbox that already had the Service on before the rule existed keeps accepting updates
/// (its status among them): `oldSelf` is optional, so the rule runs on create too.
pub const SERVICE_NAME_LENGTH_RULE: &str = "!(has(self.spec.service) && self.spec.service) || size(self.metadata.name) <= 63 || oldSelf.optMap(o, has(o.spec.service) && o.spec.service).orValue(false)";

/// Message the apiserver returns when [`SERVICE_NAME_LENGTH_RULE`] fails.
pub const SERVICE_NAME_LENGTH_MESSAGE: &str =
    "metadata.name must be no more than 63 characters when spec.service is true";

/// Observed state of a [`Sandbox`].
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
    /// Name of the Service in use (always the Sandbox name), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// `Ready`, `Suspended`, and while they apply `Finished` and `PodScheduled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// `agents.x-k8s.io/sandbox-name-hash=<nameHash>`; set once a Pod is seen. SDKs parse it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// IPs of the owned Pod; empty when there is none.
    #[serde(rename = "podIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<String>,
    /// Node of the owned Pod; empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
}
