//! Fully populated objects of every kind at both versions, shared by the conversion tests.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use sandbox_api::{v1alpha1, v1beta1};

/// Decodes a typed object from JSON, panicking on a fixture typo.
pub(crate) fn typed<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("fixture decodes")
}

/// Metadata every fixture shares; `name` varies per kind.
pub(crate) fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "team-a",
        "uid": "0b6c4f1e-1f2a-4c55-9d61-6f0f4a3b2c1d",
        "resourceVersion": "4711",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"app": "agent"},
        "annotations": {"note": "keep me"}
    })
}

fn pod_template() -> Value {
    json!({
        "spec": {
            "containers": [{"name": "main", "image": "busybox:1.37", "args": ["sleep", "inf"]}],
            "nodeSelector": {"pool": "sandboxes"}
        },
        "metadata": {"labels": {"tier": "sandbox"}, "annotations": {"a": "b"}}
    })
}

fn volume_claim_templates() -> Value {
    json!([{
        "metadata": {"name": "workspace", "labels": {"data": "yes"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}
        }
    }])
}

fn ready_condition() -> Value {
    json!([{
        "type": "Ready",
        "status": "True",
        "reason": "DependenciesReady",
        "message": "",
        "observedGeneration": 3,
        "lastTransitionTime": "2026-01-02T03:05:00Z"
    }])
}

/// A running v1alpha1 Sandbox with every field set.
pub(crate) fn alpha_sandbox() -> v1alpha1::Sandbox {
    typed(json!({
        "apiVersion": "agents.x-k8s.io/v1alpha1",
        "kind": "Sandbox",
        "metadata": metadata("sb-1"),
        "spec": {
            "podTemplate": pod_template(),
            "volumeClaimTemplates": volume_claim_templates(),
            "shutdownTime": "2026-02-01T00:00:00Z",
            "shutdownPolicy": "Delete",
            "replicas": 1,
            "service": true
        },
        "status": {
            "serviceFQDN": "sb-1.team-a.svc.cluster.local",
            "service": "sb-1",
            "conditions": ready_condition(),
            "replicas": 1,
            "selector": "agents.x-k8s.io/sandbox-name-hash=1a2b3c4d",
            "podIPs": ["10.0.0.7"]
        }
    }))
}

/// A running v1beta1 Sandbox with every field v1alpha1 can express set (and `nodeName` empty).
pub(crate) fn beta_sandbox() -> v1beta1::Sandbox {
    typed(json!({
        "apiVersion": "agents.x-k8s.io/v1beta1",
        "kind": "Sandbox",
        "metadata": metadata("sb-1"),
        "spec": {
            "podTemplate": pod_template(),
            "volumeClaimTemplates": volume_claim_templates(),
            "service": false,
            "shutdownTime": "2026-02-01T00:00:00Z",
            "shutdownPolicy": "Retain",
            "operatingMode": "Running"
        },
        "status": {
            "serviceFQDN": "sb-1.team-a.svc.cluster.local",
            "service": "sb-1",
            "conditions": ready_condition(),
            "selector": "agents.x-k8s.io/sandbox-name-hash=1a2b3c4d",
            "podIPs": ["10.0.0.7"]
        }
    }))
}

/// A v1alpha1 claim for template `python`, bound to `status_sandbox` (empty: unbound).
pub(crate) fn alpha_claim(warmpool: Option<&str>, status_sandbox: &str) -> v1alpha1::SandboxClaim {
    let mut spec = json!({
        "sandboxTemplateRef": {"name": "python"},
        "lifecycle": {
            "shutdownTime": "2026-02-01T00:00:00Z",
            "ttlSecondsAfterFinished": 60,
            "shutdownPolicy": "DeleteForeground"
        },
        "additionalPodMetadata": {"labels": {"user": "alice"}},
        "env": [{"name": "MODE", "value": "fast", "containerName": "main"}]
    });
    if let Some(warmpool) = warmpool {
        spec["warmpool"] = json!(warmpool);
    }
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1alpha1",
        "kind": "SandboxClaim",
        "metadata": metadata("claim-1"),
        "spec": spec,
        "status": claim_status(status_sandbox)
    }))
}

/// A v1beta1 claim on pool `pool`, bound to `status_sandbox` (empty: unbound), without
/// `volumeClaimTemplates` (which v1alpha1 cannot express).
pub(crate) fn beta_claim(pool: &str, status_sandbox: &str) -> v1beta1::SandboxClaim {
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxClaim",
        "metadata": metadata("claim-1"),
        "spec": {
            "warmPoolRef": {"name": pool},
            "lifecycle": {"ttlSecondsAfterFinished": 30, "shutdownPolicy": "Delete"},
            "additionalPodMetadata": {"annotations": {"team": "a"}},
            "env": [{"name": "MODE", "value": "slow"}]
        },
        "status": claim_status(status_sandbox)
    }))
}

fn claim_status(sandbox: &str) -> Value {
    json!({
        "conditions": ready_condition(),
        "sandbox": {
            "name": sandbox,
            "podIPs": ["10.0.0.9"],
            "serviceFQDN": "x.team-a.svc.cluster.local"
        }
    })
}

fn template_spec() -> Value {
    json!({
        "podTemplate": pod_template(),
        "volumeClaimTemplates": volume_claim_templates(),
        "networkPolicy": {
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
        },
        "networkPolicyManagement": "Unmanaged",
        "envVarsInjectionPolicy": "Overrides",
        "service": true
    })
}

/// A v1alpha1 template with every field set and no policy annotation.
pub(crate) fn alpha_template() -> v1alpha1::SandboxTemplate {
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1alpha1",
        "kind": "SandboxTemplate",
        "metadata": metadata("python"),
        "spec": template_spec()
    }))
}

/// A v1beta1 template with every field set, including `volumeClaimTemplatesPolicy: Allowed`.
pub(crate) fn beta_template() -> v1beta1::SandboxTemplate {
    let mut spec = template_spec();
    spec["volumeClaimTemplatesPolicy"] = json!("Allowed");
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxTemplate",
        "metadata": metadata("python"),
        "spec": spec
    }))
}

/// A v1alpha1 pool of 3 with a status.
pub(crate) fn alpha_warm_pool() -> v1alpha1::SandboxWarmPool {
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1alpha1",
        "kind": "SandboxWarmPool",
        "metadata": metadata("pool-a"),
        "spec": {
            "replicas": 3,
            "sandboxTemplateRef": {"name": "python"},
            "updateStrategy": {"type": "Recreate"}
        },
        "status": {"replicas": 3, "readyReplicas": 2, "selector": "agents.x-k8s.io/warm-pool-sandbox=99"}
    }))
}

/// A v1beta1 pool of 2 with a status but without `observedGeneration` (which v1alpha1 cannot
/// express).
pub(crate) fn beta_warm_pool() -> v1beta1::SandboxWarmPool {
    typed(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxWarmPool",
        "metadata": metadata("pool-a"),
        "spec": {
            "replicas": 2,
            "sandboxTemplateRef": {"name": "python"},
            "updateStrategy": {"type": "OnReplenish"}
        },
        "status": {"replicas": 2, "readyReplicas": 1, "selector": "agents.x-k8s.io/warm-pool-sandbox=99"}
    }))
}

/// The annotations of `meta` without `key`, to compare objects modulo the stash.
pub(crate) fn without(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let mut meta = meta.clone();
    crate::webhook::stash::remove(&mut meta, key);
    meta
}
