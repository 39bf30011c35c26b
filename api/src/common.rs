//! Value types shared by several kinds and by both API versions.
//!
//! Upstream declares these once per version with identical wire shapes; we declare them once.
//!
//! # Optionality conventions (mirroring Go's `encoding/json`)
//!
//! * `*T` with `omitempty` → `Option<T>`, omitted when `None`.
//! * `[]T` / `map` / `string` / integers with `omitempty` → plain Rust values, omitted when empty
//!   or zero. Go cannot tell "absent" from "empty" for these, and CEL `has()` checks on the
//!   apiserver depend on empty lists being omitted, so neither do we.
//! * a struct field without a pointer → a plain struct with `#[serde(default)]` that is always
//!   serialised (Go's `omitempty` never omits a struct).
//! * a non-pointer enum string with `omitempty` → `Option<Enum>` (the empty string is not a valid
//!   enum value); the CRD default appears as the schema `default`, and each enum's `Default` impl
//!   returns that same value so `field.unwrap_or_default()` yields the effective value.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::NoDefaultFor;

/// Labels and annotations for a Pod built from a template. Only these two fields of object
/// metadata are honoured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodMetadata {
    /// Labels to put on the Pod (system keys are dropped by the core controller).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to put on the Pod (system keys are dropped by the core controller).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl PodMetadata {
    /// True when there are neither labels nor annotations.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }
}

/// The subset of object metadata a PersistentVolumeClaim template may set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedObjectMetadata {
    /// Template name; the PVC is named `<name>-<sandbox name>` and the Pod volume `<name>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Labels copied to the PVC.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations copied to the PVC.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The Pod a Sandbox runs: a full core/v1 `PodSpec` plus Pod labels and annotations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefaultFor("metadata"))]
pub struct PodTemplate {
    /// Spec of the Pod. Edits only affect Pods created later (existing Pod specs are never
    /// updated).
    ///
    /// Shared, not owned: the members of a warm pool carry the same spec, and a controller's
    /// cache holds every Sandbox of the cluster, so it keeps one copy per distinct spec (a
    /// PodSpec with one container is about 4 KiB in memory). The JSON is a plain PodSpec;
    /// change it through `Arc::make_mut`.
    pub spec: Arc<PodSpec>,
    /// Pod labels and annotations. Upstream serialises this even when empty (no `omitempty`).
    #[serde(default)]
    pub metadata: PodMetadata,
}

/// A PersistentVolumeClaim created once per Sandbox (`<metadata.name>-<sandbox name>`) and
/// mounted into the Pod as volume `<metadata.name>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = NoDefaultFor("metadata"))]
pub struct PersistentVolumeClaimTemplate {
    /// Name, labels and annotations of the claim. Always serialised, like upstream.
    #[serde(default)]
    pub metadata: EmbeddedObjectMetadata,
    /// Spec of the PersistentVolumeClaim.
    pub spec: PersistentVolumeClaimSpec,
}

/// Everything needed to stamp out a Sandbox; shared by `Sandbox.spec` and
/// `SandboxTemplate.spec` (v1beta1 only, where it is inlined into both).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxBlueprint {
    /// The Pod to run.
    pub pod_template: PodTemplate,
    /// PVCs to create alongside the Pod. Immutable on a Sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub volume_claim_templates: Vec<PersistentVolumeClaimTemplate>,
    /// Tri-state headless Service switch: `Some(true)` creates one, `Some(false)` deletes an
    /// owned one, `None` keeps an owned one but never creates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
}

/// What happens to a Sandbox when its `shutdownTime` passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ShutdownPolicy {
    /// Delete the Sandbox object (children go by garbage collection).
    Delete,
    /// Delete the Pod and Service but keep the Sandbox (and its PVCs). The CRD default.
    #[default]
    Retain,
}

/// Scheduled expiry of a Sandbox; inlined into the Sandbox spec (both versions).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// When the Sandbox expires. Moving it into the future again "un-expires" the Sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_time: Option<Time>,
    /// What to do at expiry; the apiserver defaults it to `Retain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = ShutdownPolicy::default()))]
    pub shutdown_policy: Option<ShutdownPolicy>,
}

/// Go's `omitempty` for an `int32` (serde hands skip predicates a reference).
pub(crate) fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

/// Go's `omitempty` for an `int64` (serde hands skip predicates a reference).
pub(crate) fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}
