//! `SandboxTemplate` (`extensions.agents.x-k8s.io/v1beta1`): a reusable blueprint plus the
//! network and injection policies that apply to Sandboxes built from it.

use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::SandboxBlueprint;

/// Ingress and egress rules of the per-template NetworkPolicy. The controller sets the Pod
/// selector and policy types itself, so they are not part of this type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Allowed inbound traffic; empty denies all ingress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// Allowed outbound traffic; empty denies all egress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
}

/// Whether the template controller owns the `<template>-network-policy` NetworkPolicy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NetworkPolicyManagement {
    /// Create and update the NetworkPolicy (secure default rules when `networkPolicy` is unset).
    /// The CRD default.
    #[default]
    Managed,
    /// Delete a NetworkPolicy the template controls and leave networking to the user.
    Unmanaged,
}

/// Whether a claim's `env` may be injected into Sandboxes built from this template.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum EnvVarsInjectionPolicy {
    /// New variables may be added; redefining one, or targeting a container with `envFrom`,
    /// is rejected.
    Allowed,
    /// New variables are added and existing ones replaced.
    Overrides,
    /// Any claim `env` is rejected. The CRD default.
    #[default]
    Disallowed,
}

/// Whether a claim's `volumeClaimTemplates` may be merged into the template's (v1beta1 only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VolumeClaimTemplatesPolicy {
    /// Any claim VCT is rejected. The CRD default.
    #[default]
    Disallowed,
    /// Claim VCTs are appended; a name collision is rejected.
    Allowed,
    /// Claim VCTs replace template VCTs of the same name; new names are appended.
    Overrides,
}

/// Desired state of a [`SandboxTemplate`].
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1beta1",
    kind = "SandboxTemplate",
    plural = "sandboxtemplates",
    singular = "sandboxtemplate",
    shortname = "sandboxtemplate",
    namespaced,
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct SandboxTemplateSpec {
    /// Pod template, PVC templates and the Service switch copied into every Sandbox.
    #[serde(flatten)]
    pub blueprint: SandboxBlueprint,
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
    /// The apiserver defaults it to `Disallowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = VolumeClaimTemplatesPolicy::default()))]
    pub volume_claim_templates_policy: Option<VolumeClaimTemplatesPolicy>,
}
