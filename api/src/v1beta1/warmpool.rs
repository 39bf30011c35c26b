//! `SandboxWarmPool` (`extensions.agents.x-k8s.io/v1beta1`): keeps `replicas` pre-started
//! Sandboxes from one template ready for claims to adopt.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Reference to a `SandboxTemplate` in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxTemplateRef {
    /// Template name.
    pub name: String,
}

/// How pool members built from an outdated template are replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum UpdateStrategyType {
    /// Delete stale unclaimed members immediately.
    Recreate,
    /// Keep stale members until they leave the pool. The CRD default, and the behaviour for a
    /// missing value.
    #[default]
    OnReplenish,
}

/// Replacement policy for stale pool members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// The apiserver defaults it to `OnReplenish`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = UpdateStrategyType::default()))]
    pub type_: Option<UpdateStrategyType>,
}

/// Replica count a v1beta1 pool gets when `replicas` is unset.
pub const DEFAULT_REPLICAS: i32 = 1;

/// Desired state of a [`SandboxWarmPool`].
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.agents.x-k8s.io",
    version = "v1beta1",
    kind = "SandboxWarmPool",
    plural = "sandboxwarmpools",
    singular = "sandboxwarmpool",
    shortname = "swp",
    namespaced,
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
    /// Number of unclaimed members to keep; the apiserver defaults it to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("default" = DEFAULT_REPLICAS))]
    pub replicas: Option<i32>,
    /// The template members are built from. Changing it makes every member stale.
    pub sandbox_template_ref: SandboxTemplateRef,
    /// Replacement policy for stale members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    /// How long a member may stay unschedulable before the pool reports it stuck, overriding
    /// the controller's `--sandbox-warm-pool-readiness-grace-period` for this pool (upstream
    /// v1.0.12). Changing it does not make members stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30))]
    pub readiness_grace_period_seconds: Option<i32>,
}

/// Observed state of a [`SandboxWarmPool`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxWarmPoolStatus {
    /// Number of active (non-terminating) members.
    #[serde(default, skip_serializing_if = "crate::common::is_zero_i32")]
    pub replicas: i32,
    /// Active members whose Ready condition is True at their current generation.
    #[serde(default, skip_serializing_if = "crate::common::is_zero_i32")]
    pub ready_replicas: i32,
    /// Of those, the members built from the current template: the rollout of a template
    /// change is done when this reaches `replicas` (ours; upstream's open ask #1327).
    #[serde(default, skip_serializing_if = "crate::common::is_zero_i32")]
    pub updated_ready_replicas: i32,
    /// `Progressing`: False while the pool cannot make progress towards `replicas` (its
    /// template is missing, or members are unschedulable past the grace period), with the
    /// reason; True otherwise (ours; upstream's open ask #1326).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    /// `agents.x-k8s.io/warm-pool-sandbox=<NameHash(pool.name)>`, for the scale subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// `metadata.generation` seen by the last reconcile.
    #[serde(default, skip_serializing_if = "crate::common::is_zero_i64")]
    #[schemars(range(min = 0))]
    pub observed_generation: i64,
}
