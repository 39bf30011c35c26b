//! `SandboxClaim` (`extensions.agents.x-k8s.io/v1alpha1`, deprecated): names a template
//! directly and picks a pool through the free-form `warmpool` policy.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::PodMetadata;
use crate::keys::WARM_POOL_POLICY_DEFAULT;
use crate::schema::NoDefaultFor;
use crate::v1beta1::{ClaimLifecycle, EnvVar, SandboxClaimStatus, SandboxTemplateRef};

/// Desired state of a v1alpha1 [`SandboxClaim`].
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1alpha1",
    kind = "SandboxClaim",
    plural = "sandboxclaims",
    singular = "sandboxclaim",
    shortname = "sandboxclaim",
    namespaced,
    storage = false,
    served = true,
    deprecated = "extensions.agents.x-k8s.io/v1alpha1 SandboxClaim is deprecated; use extensions.agents.x-k8s.io/v1beta1 SandboxClaim instead",
    status = "SandboxClaimStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefaultFor("additionalPodMetadata"))]
pub struct SandboxClaimSpec {
    /// The template to build the Sandbox from.
    pub sandbox_template_ref: SandboxTemplateRef,
    /// Claim-level expiry, as in v1beta1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<ClaimLifecycle>,
    /// `none`, `default` or a pool name; the apiserver defaults it to `default`. Not an enum on
    /// the wire, because any pool name is allowed.
    #[serde(rename = "warmpool", default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = WARM_POOL_POLICY_DEFAULT))]
    pub warm_pool: Option<String>,
    /// Extra Pod labels/annotations, as in v1beta1. Upstream always serialises it.
    #[serde(default)]
    pub additional_pod_metadata: PodMetadata,
    /// Environment variables to inject; any entry forces a cold start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub env: Vec<EnvVar>,
}
