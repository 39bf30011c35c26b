//! `SandboxWarmPool` (`extensions.agents.x-k8s.io/v1alpha1`, deprecated): `replicas` is a
//! required plain integer and the status has no `observedGeneration`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::is_zero_i32;
use crate::v1beta1::{SandboxTemplateRef, UpdateStrategy};

/// Desired state of a v1alpha1 [`SandboxWarmPool`].
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1alpha1",
    kind = "SandboxWarmPool",
    plural = "sandboxwarmpools",
    singular = "sandboxwarmpool",
    shortname = "swp",
    namespaced,
    storage = false,
    served = true,
    deprecated = "extensions.agents.x-k8s.io/v1alpha1 SandboxWarmPool is deprecated; use extensions.agents.x-k8s.io/v1beta1 SandboxWarmPool instead",
    status = "SandboxWarmPoolStatus",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SandboxWarmPoolSpec {
    /// Number of unclaimed members to keep. Required in this version, with no default.
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// The template members are built from.
    pub sandbox_template_ref: SandboxTemplateRef,
    /// Replacement policy for stale members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
}

/// Observed state of a v1alpha1 [`SandboxWarmPool`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxWarmPoolStatus {
    /// Number of active members.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub replicas: i32,
    /// Active members whose Ready condition is True.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    /// `agents.x-k8s.io/warm-pool-sandbox=<NameHash(pool.name)>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
}
