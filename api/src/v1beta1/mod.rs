//! The `v1beta1` API: storage version and conversion hub of all four kinds.

mod claim;
mod sandbox;
mod template;
mod warmpool;

pub use crate::common::{
    EmbeddedObjectMetadata, Lifecycle, PersistentVolumeClaimTemplate, PodMetadata, PodTemplate,
    SandboxBlueprint, ShutdownPolicy,
};
pub use claim::{
    ClaimLifecycle, ClaimSandboxStatus, ClaimShutdownPolicy, EnvVar, SandboxClaim,
    SandboxClaimSpec, SandboxClaimStatus, WarmPoolRef,
};
pub use sandbox::{
    OperatingMode, SERVICE_NAME_LENGTH_MESSAGE, SERVICE_NAME_LENGTH_RULE, Sandbox, SandboxSpec,
    SandboxStatus, VOLUME_CLAIM_TEMPLATES_IMMUTABLE_MESSAGE, VOLUME_CLAIM_TEMPLATES_IMMUTABLE_RULE,
};
pub use template::{
    EnvVarsInjectionPolicy, NetworkPolicyManagement, NetworkPolicySpec, SandboxTemplate,
    SandboxTemplateSpec, VolumeClaimTemplatesPolicy,
};
pub use warmpool::{
    DEFAULT_REPLICAS, SandboxTemplateRef, SandboxWarmPool, SandboxWarmPoolSpec,
    SandboxWarmPoolStatus, UpdateStrategy, UpdateStrategyType,
};
