//! The `v1alpha1` API: served but deprecated (every request gets a warning), converted to and
//! from the `v1beta1` hub by the conversion webhook.
//!
//! Value types whose wire shape did not change are re-exported from `v1beta1` / `common`.

mod claim;
mod sandbox;
mod template;
mod warmpool;

pub use crate::common::{
    EmbeddedObjectMetadata, Lifecycle, PersistentVolumeClaimTemplate, PodMetadata, PodTemplate,
    ShutdownPolicy,
};
pub use crate::v1beta1::{
    ClaimLifecycle, ClaimSandboxStatus, ClaimShutdownPolicy, EnvVar, EnvVarsInjectionPolicy,
    NetworkPolicyManagement, NetworkPolicySpec, SandboxClaimStatus, SandboxTemplateRef,
    UpdateStrategy, UpdateStrategyType,
};
pub use claim::{SandboxClaim, SandboxClaimSpec};
pub use sandbox::{DEFAULT_REPLICAS, Sandbox, SandboxSpec, SandboxStatus};
pub use template::{SandboxTemplate, SandboxTemplateSpec};
pub use warmpool::{SandboxWarmPool, SandboxWarmPoolSpec, SandboxWarmPoolStatus};
