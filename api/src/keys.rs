//! Every well-known string the upstream controllers put on objects: label and annotation keys,
//! their well-known values, condition types and reasons, event reasons, and controller names.
//!
//! Values are copied exactly from the upstream spec (§2, §5, §6, §7). Mixed Go/Rust fleets share
//! these keys, so a typo here is a wire incompatibility.

/// Key prefix of the core group; keys under it are "system" keys (never copied from a
/// `podTemplate` to the Pod).
pub const CORE_KEY_PREFIX: &str = "agents.x-k8s.io/";
/// Key prefix of the extensions group; keys under it are "system" keys too.
pub const EXTENSIONS_KEY_PREFIX: &str = "extensions.agents.x-k8s.io/";

/// Whether a label or annotation key is a "system" key (§2.7): anything under
/// `agents.x-k8s.io/` or `extensions.agents.x-k8s.io/`, plus the trace-context annotation.
/// System keys in user `podTemplate` metadata are silently dropped rather than reaching the Pod.
#[must_use]
pub fn is_system_key(key: &str) -> bool {
    key.starts_with(CORE_KEY_PREFIX)
        || key.starts_with(EXTENSIONS_KEY_PREFIX)
        || key == TRACE_CONTEXT_ANNOTATION
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

/// Label on a Sandbox's Pod, Service and PVCs: `NameHash(sandbox.name)`. It is the Service
/// selector, the Pod cache index and the watch predicate; the owner UID stays authoritative.
pub const SANDBOX_NAME_HASH_LABEL: &str = "agents.x-k8s.io/sandbox-name-hash";

/// Label set by an external party on an unowned Pod/Service/PVC: `"true"` authorises the core
/// controller to adopt it.
pub const ADOPTABLE_LABEL: &str = "agents.x-k8s.io/adoptable";

/// Label on a warm Sandbox (and its podTemplate and Pod): `NameHash(pool.name)`. Marks pool
/// membership; removed when a claim adopts the Sandbox. `SandboxWarmPool.status.selector` uses it.
pub const WARM_POOL_SANDBOX_LABEL: &str = "agents.x-k8s.io/warm-pool-sandbox";

/// Label on extension-built Sandboxes, their Pods and on SandboxTemplates:
/// `NameHash(template.name)`. The template's NetworkPolicy selects Pods through it.
pub const SANDBOX_TEMPLATE_REF_HASH_LABEL: &str = "agents.x-k8s.io/sandbox-template-ref-hash";

/// Label on pool Sandboxes: hash of the template's blueprint, used for staleness. Removed on
/// adoption.
pub const SANDBOX_TEMPLATE_HASH_LABEL: &str = "agents.x-k8s.io/sandbox-template-hash";

/// Deprecated label on pool Sandboxes: hash of the template's podTemplate. Removed on adoption.
pub const SANDBOX_POD_TEMPLATE_HASH_LABEL: &str = "agents.x-k8s.io/sandbox-pod-template-hash";

/// Label on Sandboxes: how the Sandbox reached its claim, [`LAUNCH_TYPE_WARM`] or
/// [`LAUNCH_TYPE_COLD`].
pub const LAUNCH_TYPE_LABEL: &str = "agents.x-k8s.io/launch-type";

/// Label on claims, Sandboxes and Pods naming the client that created the object; see the
/// `CREATED_BY_*` values. The core controller normalises unknown values on the Pod.
pub const CREATED_BY_LABEL: &str = "agents.x-k8s.io/created-by";

/// Label on claim-owned Sandboxes and their podTemplate (never the Pod): the owning claim's UID.
pub const CLAIM_UID_LABEL: &str = "agents.x-k8s.io/claim-uid";

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

/// Annotation on a Sandbox: name of its backing Pod. Only ever set if absent.
pub const POD_NAME_ANNOTATION: &str = "agents.x-k8s.io/pod-name";

/// Annotation on a Pod: sorted, comma-joined label keys propagated from the podTemplate, so
/// keys later removed from the template can be removed from the Pod.
pub const PROPAGATED_LABELS_ANNOTATION: &str = "agents.x-k8s.io/propagated-labels";

/// Annotation on a Pod: sorted, comma-joined annotation keys propagated from the podTemplate.
pub const PROPAGATED_ANNOTATIONS_ANNOTATION: &str = "agents.x-k8s.io/propagated-annotations";

/// Annotation on pool- and claim-built Sandboxes: the SandboxTemplate name (used by metrics).
pub const SANDBOX_TEMPLATE_REF_ANNOTATION: &str = "agents.x-k8s.io/sandbox-template-ref";

/// Annotation on a claim: the warm Sandbox assigned to it, recorded before adoption so a crash
/// resumes the same adoption. Older controllers wrote a *label* with the same key.
pub const SANDBOX_NAME_ANNOTATION: &str = "agents.x-k8s.io/sandbox-name";

/// Annotation on a claim: RFC3339Nano time the controller first observed it.
pub const CONTROLLER_FIRST_OBSERVED_AT_ANNOTATION: &str =
    "agents.x-k8s.io/controller-first-observed-at";

/// Annotation on a claim: RFC3339Nano time it first became Ready, or
/// [`CLAIM_FIRST_READY_AT_UNKNOWN`]. Guards the once-per-claim latency metrics.
pub const CLAIM_FIRST_READY_AT_ANNOTATION: &str = "agents.x-k8s.io/claim-first-ready-at";

/// Annotation on a claim, written by an external admission webhook (nothing upstream writes it):
/// start time for the claim startup histogram.
pub const WEBHOOK_FIRST_OBSERVED_AT_ANNOTATION: &str = "agents.x-k8s.io/webhook-first-observed-at";

/// Annotation on a claim, written by the Go/Python SDKs: start time for the client histogram.
pub const CLIENT_FIRST_REQUESTED_AT_ANNOTATION: &str = "agents.x-k8s.io/client-first-requested-at";

/// Annotation defined upstream but unused; kept so nobody reuses the key for something else.
pub const CREATION_LATENCY_RECORDED_ANNOTATION: &str = "agents.x-k8s.io/creation-latency-recorded";

/// Annotation on Sandboxes and claims (when tracing is on): a JSON W3C trace-context carrier.
/// It is a system key even though it lives outside the agents domain.
pub const TRACE_CONTEXT_ANNOTATION: &str = "opentelemetry.io/trace-context";

/// Cluster-autoscaler annotation the pool puts on unclaimed warm podTemplates (`"true"`) unless
/// the template sets it; adoption drops it again.
pub const SAFE_TO_EVICT_ANNOTATION: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

// Conversion-webhook round-trip stashes (§6): the full v1alpha1 JSON, kept on the v1beta1 object.

/// Stash annotation on a v1beta1 Sandbox holding its v1alpha1 form.
pub const V1ALPHA1_SANDBOX_STATE_ANNOTATION: &str = "api.agents.x-k8s.io/v1alpha1-sandbox-state";
/// Stash annotation on a v1beta1 SandboxClaim holding its v1alpha1 form.
pub const V1ALPHA1_SANDBOXCLAIM_STATE_ANNOTATION: &str =
    "api.agents.x-k8s.io/v1alpha1-sandboxclaim-state";
/// Stash annotation on a v1beta1 SandboxTemplate holding its v1alpha1 form.
pub const V1ALPHA1_SANDBOXTEMPLATE_STATE_ANNOTATION: &str =
    "api.agents.x-k8s.io/v1alpha1-sandboxtemplate-state";
/// Stash annotation on a v1beta1 SandboxWarmPool holding its v1alpha1 form.
pub const V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION: &str =
    "api.agents.x-k8s.io/v1alpha1-sandboxwarmpool-state";
/// Annotation on the *v1alpha1* view of a SandboxTemplate carrying the v1beta1-only
/// `volumeClaimTemplatesPolicy`, restored (and removed) on conversion back.
pub const V1BETA1_VOLUME_CLAIM_TEMPLATES_POLICY_ANNOTATION: &str =
    "api.agents.x-k8s.io/v1beta1-volume-claim-templates-policy";
/// Annotation on the *v1alpha1* view of a SandboxWarmPool carrying the v1beta1-only
/// `readinessGracePeriodSeconds`, restored (and removed) on conversion back.
pub const V1BETA1_READINESS_GRACE_PERIOD_ANNOTATION: &str =
    "api.agents.x-k8s.io/v1beta1-readiness-grace-period-seconds";

// Storage-migration tooling (operational, not controller behaviour).

/// Annotation on the `shadow-pool-<template>` pools created by the migration bootstrap.
pub const MIGRATION_SHADOW_ANNOTATION: &str = "agents.x-k8s.io/migration-shadow";
/// Annotation on a shadow pool naming the template it stands in for.
pub const MIGRATION_SOURCE_TEMPLATE_ANNOTATION: &str = "agents.x-k8s.io/migration-source-template";
/// Annotation touched on every object to force a storage-version rewrite.
pub const STORAGE_MIGRATED_AT_ANNOTATION: &str = "agents.x-k8s.io/storage-migrated-at";
/// Name prefix of the pools a v1alpha1 claim without a specific pool converts to.
pub const SHADOW_POOL_PREFIX: &str = "shadow-pool-";

// ---------------------------------------------------------------------------------------------
// Well-known values
// ---------------------------------------------------------------------------------------------

/// [`LAUNCH_TYPE_LABEL`] value: the Sandbox was adopted from a warm pool.
pub const LAUNCH_TYPE_WARM: &str = "warm";
/// [`LAUNCH_TYPE_LABEL`] value: the Sandbox was created for its claim (cold start).
pub const LAUNCH_TYPE_COLD: &str = "cold";

/// [`CREATED_BY_LABEL`] value set by the Go SDK.
pub const CREATED_BY_GO_CLIENT: &str = "go-client";
/// [`CREATED_BY_LABEL`] value set by the Python SDK.
pub const CREATED_BY_PYTHON_CLIENT: &str = "python-client";
/// [`CREATED_BY_LABEL`] value set by the warm pool on the Sandboxes it creates.
pub const CREATED_BY_CONTROLLER: &str = "controller";
/// [`CREATED_BY_LABEL`] value any other creator is normalised to on the Pod.
pub const CREATED_BY_UNKNOWN: &str = "unknown";

/// [`ADOPTABLE_LABEL`] value that authorises adoption.
pub const ADOPTABLE_TRUE: &str = "true";

/// [`CLAIM_FIRST_READY_AT_ANNOTATION`] sentinel back-filled when a claim was already Ready.
pub const CLAIM_FIRST_READY_AT_UNKNOWN: &str = "unknown";

/// v1alpha1 `SandboxClaim.spec.warmpool` value: never use a warm pool.
pub const WARM_POOL_POLICY_NONE: &str = "none";
/// v1alpha1 `SandboxClaim.spec.warmpool` value (and its default): use the default pool.
pub const WARM_POOL_POLICY_DEFAULT: &str = "default";

// ---------------------------------------------------------------------------------------------
// Controllers
// ---------------------------------------------------------------------------------------------

/// Field manager the core controller uses for its creates.
pub const FIELD_MANAGER: &str = "sandbox-controller";

/// The leader election Lease, upstream's name: our controller and upstream's never lead at
/// the same time in one namespace.
pub const LEADER_LEASE_NAME: &str = "a3317529.agent-sandbox.x-k8s.io";
/// Reporting controller of the core Sandbox controller's events.
pub const SANDBOX_REPORTING_CONTROLLER: &str = "sandbox-controller";
/// Reporting controller of the warm-pool controller's events.
pub const WARM_POOL_REPORTING_CONTROLLER: &str = "sandboxwarmpool-controller";

/// Condition types used in Sandbox and SandboxClaim status.
pub mod condition {
    /// Whether the Sandbox (or the claim's bound Sandbox) is usable. Always present after the
    /// first reconcile.
    pub const READY: &str = "Ready";
    /// Whether a Sandbox in `Suspended` mode has finished suspending. Always present.
    pub const SUSPENDED: &str = "Suspended";
    /// Present only while the owned Pod is in a terminal phase; mirrored onto claims.
    pub const FINISHED: &str = "Finished";
    /// Mirrors the owned Pod's `PodScheduled` condition.
    pub const POD_SCHEDULED: &str = "PodScheduled";
    /// A warm pool's: whether it can make progress towards `replicas`.
    pub const PROGRESSING: &str = "Progressing";
}

/// Condition reasons (§2.4 for Sandboxes, §5.4 for claims). A claim forwards its Sandbox's Ready
/// reason verbatim, so the Sandbox reasons also appear on claims.
pub mod reason {
    // Sandbox `Ready`.

    /// Ready=False: more than one Pod is controlled by the Sandbox; nothing is created or chosen.
    pub const MULTIPLE_PODS: &str = "MultiplePods";
    /// Ready=False: any other reconcile error (message `Error seen: <err>`). Also a claim reason.
    pub const RECONCILER_ERROR: &str = "ReconcilerError";
    /// Ready=False: `operatingMode` is `Suspended`.
    pub const SANDBOX_SUSPENDED: &str = "SandboxSuspended";
    /// Ready=False / Finished=True: the Pod completed successfully.
    pub const POD_SUCCEEDED: &str = "PodSucceeded";
    /// Ready=False / Finished=True: the Pod failed.
    pub const POD_FAILED: &str = "PodFailed";
    /// Ready=True: Pod running, ready, has IPs, and the Service exists if required.
    pub const DEPENDENCIES_READY: &str = "DependenciesReady";
    /// Ready=False: some dependency (Pod, IPs, Service) is not there yet.
    pub const DEPENDENCIES_NOT_READY: &str = "DependenciesNotReady";
    /// Ready=False: `shutdownTime` passed. On claims: the bound Sandbox expired on its own.
    pub const SANDBOX_EXPIRED: &str = "SandboxExpired";
    /// Ready=False, terminal for the object's generation: the API server rejected a child (or,
    /// for a claim, its Sandbox) as invalid, so retrying the same spec cannot succeed (upstream
    /// v1.0.4, #1630). Also the Warning Event's reason. A claim bound to such a Sandbox
    /// forwards it.
    pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";

    // SandboxWarmPool `Progressing` (upstream's open ask #1326).

    /// Progressing=True: nothing stops the pool from reaching `replicas`.
    pub const WARM_POOL_PROGRESSING: &str = "WarmPoolProgressing";
    /// Progressing=False: members are unschedulable past the readiness grace period.
    pub const WARM_POOL_NOT_PROGRESSING: &str = "WarmPoolNotProgressing";
    /// Progressing=False: the pool's SandboxTemplate does not exist.
    pub const SANDBOX_TEMPLATE_ERROR: &str = "SandboxTemplateError";

    // Sandbox `Suspended`.

    /// Suspended=False: mode is Running.
    pub const NOT_SUSPENDED: &str = "NotSuspended";
    /// Suspended=Unknown: the Pod lookup failed.
    pub const POD_STATE_UNKNOWN: &str = "PodStateUnknown";
    /// Suspended=True: no Pod is left.
    pub const POD_TERMINATED: &str = "PodTerminated";
    /// Suspended=False: a Pod exists but is not owned by this Sandbox.
    pub const POD_NOT_OWNED: &str = "PodNotOwned";
    /// Suspended=False: the owned Pod is still present or terminating.
    pub const POD_TERMINATING: &str = "PodTerminating";
    /// Deprecated upstream and unused; listed so the string is not reused.
    pub const POD_NOT_TERMINATED: &str = "PodNotTerminated";

    // Sandbox `PodScheduled`.

    /// PodScheduled=True when the Pod's own condition has no reason.
    pub const POD_SCHEDULED: &str = "PodScheduled";
    /// PodScheduled not True (or unknown) and the Pod gave no reason.
    pub const POD_SCHEDULING_UNKNOWN: &str = "PodSchedulingUnknown";

    // SandboxClaim `Ready`.

    /// A Sandbox is bound but has no Ready condition yet.
    pub const SANDBOX_NOT_READY: &str = "SandboxNotReady";
    /// No Sandbox and no error.
    pub const SANDBOX_MISSING: &str = "SandboxMissing";
    /// The pool's template is missing (`SandboxTemplate "<n>" not found`).
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    /// The pool is missing (`SandboxWarmPool "<n>" not found`).
    pub const WARM_POOL_NOT_FOUND: &str = "WarmPoolNotFound";
    /// `additionalPodMetadata` failed validation.
    pub const INVALID_METADATA: &str = "InvalidMetadata";
    /// `env` rejected by the template's `envVarsInjectionPolicy`.
    pub const ENV_VARS_INJECTION_REJECTED: &str = "EnvVarsInjectionRejected";
    /// Claim `volumeClaimTemplates` rejected (policy, override, empty or duplicate name).
    pub const VOLUME_CLAIM_TEMPLATES_ERROR: &str = "VolumeClaimTemplatesError";
    /// Persistent contention during warm adoption (benign, retried).
    pub const ADOPTION_CONFLICT: &str = "AdoptionConflict";
    /// A cold create hit AlreadyExists (informer cache lag).
    pub const SANDBOX_CREATE_PENDING: &str = "SandboxCreatePending";
    /// The claim expired (or, under Retain, its Sandbox is not owned by it).
    pub const CLAIM_EXPIRED: &str = "ClaimExpired";
}

/// Event reasons and actions (events.k8s.io).
pub mod event {
    /// Warning from the core controller when several Pods are owned (reason = [`super::reason::MULTIPLE_PODS`]).
    pub const MULTIPLE_PODS: &str = "MultiplePods";
    /// Warning from the pool: members are unschedulable past the readiness grace period.
    pub const WARM_POOL_NOT_PROGRESSING: &str = "WarmPoolNotProgressing";
    /// Normal from the pool when the not-progressing state clears.
    pub const WARM_POOL_PROGRESSING: &str = "WarmPoolProgressing";
    /// Normal from the claim controller after a warm adoption.
    pub const SANDBOX_ADOPTED: &str = "SandboxAdopted";
    /// Normal from the claim controller after a cold create.
    pub const SANDBOX_PROVISIONED: &str = "SandboxProvisioned";
    /// Normal from the claim controller when the claim expires or is deleted on expiry.
    pub const CLAIM_EXPIRED: &str = "ClaimExpired";

    // The Sandbox controller's lifecycle Events (upstream v1.0.4, #1532); the Ready reasons
    // they follow share their names.

    /// Normal: the Sandbox's Pod was created.
    pub const SANDBOX_POD_CREATED: &str = "SandboxPodCreated";
    /// Warning: creating the Sandbox's Pod failed.
    pub const SANDBOX_POD_CREATE_FAILED: &str = "SandboxPodCreateFailed";
    /// Normal: the Sandbox turned Ready.
    pub const SANDBOX_READY: &str = "SandboxReady";
    /// Normal: the Sandbox is not Ready because `operatingMode` is `Suspended`.
    pub const SANDBOX_SUSPENDED: &str = super::reason::SANDBOX_SUSPENDED;
    /// Normal: `shutdownTime` passed under the `Retain` policy (`Delete` removes the Sandbox).
    pub const SANDBOX_EXPIRED: &str = super::reason::SANDBOX_EXPIRED;
    /// Normal: the Pod completed successfully.
    pub const POD_SUCCEEDED: &str = super::reason::POD_SUCCEEDED;
    /// Warning: the Pod failed.
    pub const POD_FAILED: &str = super::reason::POD_FAILED;

    /// Action of the reconcile-time events (`MultiplePods`, pool progress).
    pub const ACTION_RECONCILING: &str = "Reconciling";
    /// Action of `SandboxAdopted`.
    pub const ACTION_ADOPTION: &str = "Adoption";
    /// Action of `SandboxProvisioned`.
    pub const ACTION_PROVISIONING: &str = "Provisioning";
    /// Action of `ClaimExpired` when the claim is first marked expired.
    pub const ACTION_CLAIM_EXPIRED: &str = "Claim Expired";
    /// Action of `ClaimExpired` when the claim is deleted on expiry.
    pub const ACTION_DELETING: &str = "Deleting";
    /// Action of `SandboxPodCreated` and `SandboxPodCreateFailed`.
    pub const ACTION_POD_CREATION: &str = "PodCreation";
    /// Action of `SandboxReady`.
    pub const ACTION_READY: &str = "Ready";
    /// Action of `SandboxSuspended`.
    pub const ACTION_SUSPENSION: &str = "Suspension";
    /// Action of `SandboxExpired`.
    pub const ACTION_EXPIRY: &str = "Expiry";
    /// Action of `PodSucceeded` and `PodFailed`.
    pub const ACTION_POD_COMPLETION: &str = "PodCompletion";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_keys_cover_both_groups_and_trace_context() {
        assert!(is_system_key(SANDBOX_NAME_HASH_LABEL));
        assert!(is_system_key(CLAIM_UID_LABEL));
        assert!(is_system_key("extensions.agents.x-k8s.io/anything"));
        assert!(is_system_key(TRACE_CONTEXT_ANNOTATION));
        // The autoscaler key must reach the Pod, and lookalike domains are not system keys.
        assert!(!is_system_key(SAFE_TO_EVICT_ANNOTATION));
        assert!(!is_system_key("api.agents.x-k8s.io/v1alpha1-sandbox-state"));
        assert!(!is_system_key("sandbox.users.io/team"));
        assert!(!is_system_key("agents.x-k8s.io"));
    }

    #[test]
    fn every_agents_key_is_under_a_known_domain() {
        let keys = [
            SANDBOX_NAME_HASH_LABEL,
            ADOPTABLE_LABEL,
            WARM_POOL_SANDBOX_LABEL,
            SANDBOX_TEMPLATE_REF_HASH_LABEL,
            SANDBOX_TEMPLATE_HASH_LABEL,
            SANDBOX_POD_TEMPLATE_HASH_LABEL,
            LAUNCH_TYPE_LABEL,
            CREATED_BY_LABEL,
            CLAIM_UID_LABEL,
            POD_NAME_ANNOTATION,
            PROPAGATED_LABELS_ANNOTATION,
            PROPAGATED_ANNOTATIONS_ANNOTATION,
            SANDBOX_TEMPLATE_REF_ANNOTATION,
            SANDBOX_NAME_ANNOTATION,
            CONTROLLER_FIRST_OBSERVED_AT_ANNOTATION,
            CLAIM_FIRST_READY_AT_ANNOTATION,
            WEBHOOK_FIRST_OBSERVED_AT_ANNOTATION,
            CLIENT_FIRST_REQUESTED_AT_ANNOTATION,
            CREATION_LATENCY_RECORDED_ANNOTATION,
            MIGRATION_SHADOW_ANNOTATION,
            MIGRATION_SOURCE_TEMPLATE_ANNOTATION,
            STORAGE_MIGRATED_AT_ANNOTATION,
        ];
        for key in keys {
            assert!(key.starts_with(CORE_KEY_PREFIX), "{key}");
            assert!(is_system_key(key), "{key}");
        }
        let stashes = [
            V1ALPHA1_SANDBOX_STATE_ANNOTATION,
            V1ALPHA1_SANDBOXCLAIM_STATE_ANNOTATION,
            V1ALPHA1_SANDBOXTEMPLATE_STATE_ANNOTATION,
            V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION,
            V1BETA1_VOLUME_CLAIM_TEMPLATES_POLICY_ANNOTATION,
            V1BETA1_READINESS_GRACE_PERIOD_ANNOTATION,
        ];
        for key in stashes {
            assert!(key.starts_with("api.agents.x-k8s.io/"), "{key}");
        }
    }
}
