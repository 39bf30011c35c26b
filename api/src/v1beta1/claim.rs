//! `SandboxClaim` (`extensions.agents.x-k8s.io/v1beta1`): a request for a Sandbox, served from
//! a warm pool when possible and cold-started otherwise.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{PersistentVolumeClaimTemplate, PodMetadata};
use crate::schema::NoDefaultFor;

/// Reference to a `SandboxWarmPool` in the claim's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmPoolRef {
    /// Pool name. The pool's `sandboxTemplateRef` is the only way a claim picks a template.
    pub name: String,
}

/// What happens to a claim when it expires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ClaimShutdownPolicy {
    /// Delete the claim (its Sandbox goes by garbage collection).
    Delete,
    /// Delete the claim with foreground propagation, so it stays visible until its Sandbox and
    /// Pod are gone.
    DeleteForeground,
    /// Delete the Sandbox but keep the claim. The CRD default.
    #[default]
    Retain,
}

/// Claim-level expiry. Not copied to the Sandbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimLifecycle {
    /// When the claim expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_time: Option<Time>,
    /// Expire this long after the mirrored `Finished` condition's lastTransitionTime (the
    /// earlier of this and `shutdownTime` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// What to do at expiry; the apiserver defaults it to `Retain` when `lifecycle` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = ClaimShutdownPolicy::default()))]
    pub shutdown_policy: Option<ClaimShutdownPolicy>,
}

/// An environment variable injected into the claimed Sandbox's Pod (cold start only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Variable value.
    pub value: String,
    /// Target container (init or regular); empty means `containers[0]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
}

/// Desired state of a [`SandboxClaim`].
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1beta1",
    kind = "SandboxClaim",
    plural = "sandboxclaims",
    singular = "sandboxclaim",
    shortname = "sandboxclaim",
    namespaced,
    status = "SandboxClaimStatus",
    derive = "PartialEq",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status"
    ),
    printcolumn(name = "Sandbox", type_ = "string", json_path = ".status.sandbox.name"),
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
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefaultFor("additionalPodMetadata"))]
pub struct SandboxClaimSpec {
    /// The pool to adopt from (and, through it, the template to cold-start from).
    pub warm_pool_ref: WarmPoolRef,
    /// Claim-level expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<ClaimLifecycle>,
    /// Extra Pod labels/annotations; may add keys but never override template values. Upstream
    /// always serialises it.
    #[serde(default)]
    pub additional_pod_metadata: PodMetadata,
    /// Environment variables to inject; any entry forces a cold start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub env: Vec<EnvVar>,
    /// Extra PVCs, merged per the template's `volumeClaimTemplatesPolicy`; forces a cold start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub volume_claim_templates: Vec<PersistentVolumeClaimTemplate>,
}

/// The Sandbox a claim is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSandboxStatus {
    /// Name of the bound Sandbox: the claim name after a cold start, `<pool>-xxxxx` after a warm
    /// adoption.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Mirrored from the Sandbox's `status.podIPs`.
    #[serde(rename = "podIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<String>,
    /// Mirrored from the Sandbox's `status.serviceFQDN` (added upstream in v1.0).
    #[serde(
        rename = "serviceFQDN",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub service_fqdn: String,
}

/// Observed state of a [`SandboxClaim`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefaultFor("sandbox"))]
pub struct SandboxClaimStatus {
    /// `Ready` and, when mirrored from the Sandbox, `Finished`; sorted by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The bound Sandbox. Upstream always serialises it.
    #[serde(default)]
    pub sandbox: ClaimSandboxStatus,
}
