//! What a claim writes onto Sandboxes: the cold-start Sandbox (spec §5.8), the adoption patch
//! of a warm one (spec §5.7 step 6), and the checks on what a claim may add (spec §5.6).

use crate::sandbox::children::controller_ref;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, EnvVar as PodEnvVar};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sandbox_api::common::{PersistentVolumeClaimTemplate, PodMetadata};
use sandbox_api::keys;
use sandbox_api::v1beta1::{
    EnvVarsInjectionPolicy, Sandbox, SandboxClaim, SandboxSpec, SandboxTemplate,
    VolumeClaimTemplatesPolicy,
};
use serde_json::{Value, json};

use crate::patch::merge_diff;
use crate::sandbox::children::{apply_secure_defaults, is_secure_by_default};

/// Why a claim cannot be served as written; each maps to one Ready reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{0}")]
    InvalidMetadata(String),
    #[error("{0}")]
    EnvVarsInjectionRejected(String),
    #[error("{0}")]
    VolumeClaimTemplatesError(String),
    /// A plain error: retried with backoff, reported as `ReconcilerError`.
    #[error("{0}")]
    Other(String),
}

/// The label domains claims may use when no allowlist is configured (spec §5.6).
pub const DEFAULT_ALLOWED_LABEL_DOMAINS: [&str; 1] = ["sandbox.users.io"];

/// Checks `additionalPodMetadata` against the allowlist rules of spec §5.6.
pub fn validate_metadata(meta: &PodMetadata, allowed_domains: &[&str]) -> Result<(), Rejection> {
    let bad = |m: String| Err(Rejection::InvalidMetadata(m));
    for (key, value) in &meta.labels {
        let Some((prefix, _)) = split_qualified(key) else {
            return bad(format!("label key {key:?} is not a qualified name"));
        };
        let Some(prefix) = prefix else {
            return bad(format!(
                "label key {key:?} needs a prefix from an allowed domain"
            ));
        };
        let prefix = prefix.to_lowercase();
        if !allowed_domains
            .iter()
            .any(|d| prefix == *d || prefix.ends_with(&format!(".{d}")))
        {
            return bad(format!(
                "label key {key:?}: domain {prefix:?} is not allowed"
            ));
        }
        if !is_label_value(value) {
            return bad(format!("label {key:?} has an invalid value {value:?}"));
        }
    }
    for key in meta.annotations.keys() {
        let Some((prefix, _)) = split_qualified(key) else {
            return bad(format!("annotation key {key:?} is not a qualified name"));
        };
        if key == keys::SAFE_TO_EVICT_ANNOTATION {
            continue;
        }
        if let Some(prefix) = prefix {
            let p = prefix.to_lowercase();
            let reserved = ["kubernetes.io", "k8s.io", "agents.x-k8s.io"];
            if reserved
                .iter()
                .any(|r| p == *r || p.ends_with(&format!(".{r}")))
            {
                return bad(format!(
                    "annotation key {key:?} uses the reserved domain {p:?}"
                ));
            }
        }
    }
    Ok(())
}

/// `(prefix, name)` of a qualified name, or `None` when it is not one.
fn split_qualified(key: &str) -> Option<(Option<&str>, &str)> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    (name_ok && prefix_ok).then_some((prefix, name))
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || split_qualified(v).is_some_and(|(p, _)| p.is_none())
}

/// The Sandbox's desired podTemplate metadata for a claim: the template's, plus the claim's
/// identity labels, plus `additionalPodMetadata`, which may add keys but never change one the
/// template set (spec §5.6 "no overrides").
pub fn claimed_pod_metadata(
    template_meta: &PodMetadata,
    claim: &SandboxClaim,
) -> Result<PodMetadata, Rejection> {
    let mut meta = template_meta.clone();
    for (map, extra, what) in [
        (
            &mut meta.labels,
            &claim.spec.additional_pod_metadata.labels,
            "label",
        ),
        (
            &mut meta.annotations,
            &claim.spec.additional_pod_metadata.annotations,
            "annotation",
        ),
    ] {
        for (k, v) in extra {
            match map.get(k) {
                Some(existing) if existing != v => {
                    return Err(Rejection::Other(format!(
                        "metadata override conflict: {what} {k:?} is {existing:?} in the template"
                    )));
                }
                _ => {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
    }
    identity_labels(claim, &mut meta.labels, None);
    Ok(meta)
}

/// claim-uid and created-by (copied from the claim, or absent).
fn identity_labels(
    claim: &SandboxClaim,
    labels: &mut BTreeMap<String, String>,
    ref_hash: Option<String>,
) {
    labels.insert(
        keys::CLAIM_UID_LABEL.into(),
        claim.metadata.uid.clone().unwrap_or_default(),
    );
    match claim.labels().get(keys::CREATED_BY_LABEL) {
        Some(v) => labels.insert(keys::CREATED_BY_LABEL.into(), v.clone()),
        None => labels.remove(keys::CREATED_BY_LABEL),
    };
    if let Some(h) = ref_hash {
        labels.insert(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL.into(), h);
    }
}

/// The Sandbox of a cold start: named after the claim, the template's blueprint with the
/// claim's env and volume claim templates merged by the template's policies (spec §5.8).
pub fn cold_sandbox(
    claim: &SandboxClaim,
    template: &SandboxTemplate,
) -> Result<Sandbox, Rejection> {
    let ref_hash = sandbox_api::name_hash(&template.name_any());
    let mut blueprint = template.spec.blueprint.clone();
    blueprint.volume_claim_templates = merge_vcts(
        &blueprint.volume_claim_templates,
        &claim.spec.volume_claim_templates,
        template
            .spec
            .volume_claim_templates_policy
            .unwrap_or_default(),
    )?;
    let spec = Arc::make_mut(&mut blueprint.pod_template.spec);
    inject_env(
        &mut spec.containers,
        &mut spec.init_containers,
        claim,
        template.spec.env_vars_injection_policy.unwrap_or_default(),
    )?;
    let mut meta = claimed_pod_metadata(&blueprint.pod_template.metadata, claim)?;
    meta.labels.insert(
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL.into(),
        ref_hash.clone(),
    );
    blueprint.pod_template.metadata = meta;
    apply_secure_defaults(
        Arc::make_mut(&mut blueprint.pod_template.spec),
        is_secure_by_default(&template.spec),
    );

    let mut labels = BTreeMap::from([(
        keys::LAUNCH_TYPE_LABEL.to_string(),
        keys::LAUNCH_TYPE_COLD.to_string(),
    )]);
    identity_labels(claim, &mut labels, Some(ref_hash));
    Ok(Sandbox {
        metadata: ObjectMeta {
            name: Some(claim.name_any()),
            namespace: claim.namespace(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                keys::SANDBOX_TEMPLATE_REF_ANNOTATION.to_string(),
                template.name_any(),
            )])),
            owner_references: Some(vec![controller_ref(claim)]),
            ..ObjectMeta::default()
        },
        spec: SandboxSpec {
            blueprint,
            ..SandboxSpec::default()
        },
        status: None,
    })
}

fn merge_vcts(
    template: &[PersistentVolumeClaimTemplate],
    claim: &[PersistentVolumeClaimTemplate],
    policy: VolumeClaimTemplatesPolicy,
) -> Result<Vec<PersistentVolumeClaimTemplate>, Rejection> {
    let bad = |m: String| Rejection::VolumeClaimTemplatesError(m);
    for list in [template, claim] {
        let mut seen = std::collections::BTreeSet::new();
        for v in list {
            if v.metadata.name.is_empty() || !seen.insert(&v.metadata.name) {
                return Err(bad(format!(
                    "volume claim template names must be non-empty and unique: {:?}",
                    v.metadata.name
                )));
            }
        }
    }
    if claim.is_empty() {
        return Ok(template.to_vec());
    }
    match policy {
        VolumeClaimTemplatesPolicy::Disallowed => Err(bad(
            "the template does not allow claims to add volume claim templates".into(),
        )),
        VolumeClaimTemplatesPolicy::Allowed => {
            if let Some(clash) = claim
                .iter()
                .find(|c| template.iter().any(|t| t.metadata.name == c.metadata.name))
            {
                return Err(bad(format!(
                    "volume claim template {:?} would override the template's",
                    clash.metadata.name
                )));
            }
            Ok(template.iter().chain(claim).cloned().collect())
        }
        VolumeClaimTemplatesPolicy::Overrides => {
            let mut merged: Vec<_> = template
                .iter()
                .map(|t| {
                    claim
                        .iter()
                        .find(|c| c.metadata.name == t.metadata.name)
                        .unwrap_or(t)
                        .clone()
                })
                .collect();
            merged.extend(
                claim
                    .iter()
                    .filter(|c| !template.iter().any(|t| t.metadata.name == c.metadata.name))
                    .cloned(),
            );
            Ok(merged)
        }
    }
}

fn inject_env(
    containers: &mut [Container],
    init_containers: &mut Option<Vec<Container>>,
    claim: &SandboxClaim,
    policy: EnvVarsInjectionPolicy,
) -> Result<(), Rejection> {
    if claim.spec.env.is_empty() {
        return Ok(());
    }
    if policy == EnvVarsInjectionPolicy::Disallowed {
        return Err(Rejection::EnvVarsInjectionRejected(
            "the template does not allow claims to inject environment variables".into(),
        ));
    }
    for var in &claim.spec.env {
        let target = if var.container_name.is_empty() {
            containers.first_mut()
        } else {
            containers
                .iter_mut()
                .chain(init_containers.iter_mut().flatten())
                .find(|c| c.name == var.container_name)
        };
        let Some(container) = target else {
            return Err(Rejection::Other(format!(
                "container {:?} not found",
                var.container_name
            )));
        };
        if policy == EnvVarsInjectionPolicy::Allowed
            && container.env_from.as_ref().is_some_and(|e| !e.is_empty())
        {
            return Err(Rejection::EnvVarsInjectionRejected(format!(
                "container {:?} uses envFrom; injection is only allowed with the Overrides policy",
                container.name
            )));
        }
        let env = container.env.get_or_insert_with(Vec::new);
        let new = PodEnvVar {
            name: var.name.clone(),
            value: Some(var.value.clone()),
            value_from: None,
        };
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(_) if policy == EnvVarsInjectionPolicy::Allowed => {
                return Err(Rejection::Other(format!(
                    "environment variable {:?} is already set in container {:?}",
                    var.name, container.name
                )));
            }
            Some(existing) => *existing = new,
            None => env.push(new),
        }
    }
    Ok(())
}

/// The optimistic-locked merge patch that moves a warm Sandbox from its pool to `claim`
/// (spec §5.7 step 6): pool labels removed, the claim as the only owner, podTemplate metadata
/// set to exactly the template's plus the claim's. `resourceVersion` makes the write fail with
/// 409 if anyone changed the Sandbox since the cache saw it, so two claims never take one.
pub fn adoption_patch(
    claim: &SandboxClaim,
    sandbox: &Sandbox,
    template: &SandboxTemplate,
) -> Result<Value, Rejection> {
    let mut desired = claimed_pod_metadata(&template.spec.blueprint.pod_template.metadata, claim)?;
    let ref_hash = sandbox
        .labels()
        .get(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL)
        .cloned()
        .unwrap_or_else(|| sandbox_api::name_hash(&template.name_any()));
    desired.labels.insert(
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL.into(),
        ref_hash.clone(),
    );
    let current =
        serde_json::to_value(&sandbox.spec.blueprint.pod_template.metadata).unwrap_or_default();
    let wanted = serde_json::to_value(&desired).unwrap_or_default();
    let mut labels = json!({
        keys::WARM_POOL_SANDBOX_LABEL: null,
        keys::SANDBOX_POD_TEMPLATE_HASH_LABEL: null,
        keys::SANDBOX_TEMPLATE_HASH_LABEL: null,
        keys::LAUNCH_TYPE_LABEL: keys::LAUNCH_TYPE_WARM,
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: ref_hash,
        keys::CLAIM_UID_LABEL: claim.metadata.uid.clone().unwrap_or_default(),
    });
    labels[keys::CREATED_BY_LABEL] = claim
        .labels()
        .get(keys::CREATED_BY_LABEL)
        .map_or(Value::Null, |v| Value::String(v.clone()));
    let mut patch = json!({
        "metadata": {
            "resourceVersion": sandbox.resource_version(),
            "labels": labels,
            "ownerReferences": [controller_ref(claim)],
        }
    });
    if let Some(diff) = merge_diff(&current, &wanted) {
        patch["spec"] = json!({"podTemplate": {"metadata": diff}});
    }
    Ok(patch)
}
