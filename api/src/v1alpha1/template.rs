//! `SandboxTemplate` (`extensions.agents.x-k8s.io/v1alpha1`, deprecated): the v1beta1 shape
//! without `volumeClaimTemplatesPolicy` and with the blueprint fields spelled out.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{PersistentVolumeClaimTemplate, PodTemplate};
use crate::v1beta1::{EnvVarsInjectionPolicy, NetworkPolicyManagement, NetworkPolicySpec};

/// Desired state of a v1alpha1 [`SandboxTemplate`].
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1alpha1",
    kind = "SandboxTemplate",
    plural = "sandboxtemplates",
    singular = "sandboxtemplate",
    shortname = "sandboxtemplate",
    namespaced,
    storage = false,
    served = true,
    deprecated = "extensions.agents.x-k8s.io/v1alpha1 SandboxTemplate is deprecated; use extensions.agents.x-k8s.io/v1beta1 SandboxTemplate instead",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct SandboxTemplateSpec {
    /// The Pod every Sandbox runs.
    pub pod_template: PodTemplate,
    /// PVCs every Sandbox gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub volume_claim_templates: Vec<PersistentVolumeClaimTemplate>,
    /// Custom NetworkPolicy rules; `None` selects the secure default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicySpec>,
    /// The apiserver defaults it to `Managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = NetworkPolicyManagement::default()))]
    pub network_policy_management: Option<NetworkPolicyManagement>,
    /// The apiserver defaults it to `Disallowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = EnvVarsInjectionPolicy::default()))]
    pub env_vars_injection_policy: Option<EnvVarsInjectionPolicy>,
    /// Tri-state headless Service switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
}
