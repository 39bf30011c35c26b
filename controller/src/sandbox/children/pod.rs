//! The Sandbox's Pod: name, the Pod built on create, and the metadata reconcile of an existing
//! Pod (spec §2.7).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxWarmPool};
use serde_json::{Map, Value, json};

use super::owner::{
    api_group, controller_of, controller_ref, owner_refs_json, with_controller_ref,
};
use super::pvc::pvc_name;
use super::{annotation, label, name_hash_labels, sandbox_name, string_map_patch};

/// API group of the extension kinds (SandboxClaim, SandboxWarmPool, SandboxTemplate).
pub const EXTENSIONS_GROUP: &str = "extensions.agents.x-k8s.io";

/// The labels copied from Sandbox metadata to the Pod for extension-owned Sandboxes; any of them
/// not currently expected is deleted from the Pod (spec §2.7).
pub const EXTENSION_POD_LABEL_KEYS: [&str; 3] = [
    keys::WARM_POOL_SANDBOX_LABEL,
    keys::CLAIM_UID_LABEL,
    keys::SANDBOX_TEMPLATE_REF_HASH_LABEL,
];

/// The name of the Pod the Sandbox tracks: the `agents.x-k8s.io/pod-name` annotation when it is
/// non-empty, else the Sandbox name (spec §2.7 step 2). New Pods are always named after the
/// Sandbox; the annotation only matters for Pods created or adopted earlier.
#[must_use]
pub fn pod_name(sandbox: &Sandbox) -> String {
    match annotation(&sandbox.metadata, keys::POD_NAME_ANNOTATION) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => sandbox_name(sandbox).to_owned(),
    }
}

/// The `created-by` value allowed on a Pod: the known clients are kept and anything else
/// becomes `unknown`, which bounds label cardinality (spec §2.7, §7).
#[must_use]
pub fn normalize_created_by(value: &str) -> &'static str {
    match value {
        keys::CREATED_BY_GO_CLIENT => keys::CREATED_BY_GO_CLIENT,
        keys::CREATED_BY_PYTHON_CLIENT => keys::CREATED_BY_PYTHON_CLIENT,
        keys::CREATED_BY_CONTROLLER => keys::CREATED_BY_CONTROLLER,
        _ => keys::CREATED_BY_UNKNOWN,
    }
}

/// Whether a podTemplate *label* key is reserved: only the two agents prefixes. Unlike
/// annotations, the trace-context key is an ordinary label upstream (spec §2.7 lists it as a
/// system *annotation* only).
#[must_use]
pub fn is_system_label(key: &str) -> bool {
    key.starts_with(keys::CORE_KEY_PREFIX) || key.starts_with(keys::EXTENSIONS_KEY_PREFIX)
}

/// Whether a podTemplate *annotation* key is reserved: the agents prefixes plus
/// `opentelemetry.io/trace-context` (spec §2.7).
#[must_use]
pub fn is_system_annotation(key: &str) -> bool {
    keys::is_system_key(key)
}

/// The extension labels the Pod should carry, copied from the Sandbox's own labels (spec §2.7).
///
/// Empty unless the Sandbox's controller ownerRef is in group `extensions.agents.x-k8s.io` (any
/// version): bare Sandboxes never get them, so a template's NetworkPolicy never selects them
/// (§3.3). `warm-pool-sandbox` is copied only while a `SandboxWarmPool` is the controller, so it
/// disappears from the Pod once a claim adopts the Sandbox; `sandbox-template-ref-hash` is
/// copied for any extensions owner; `claim-uid` while a `SandboxClaim` is the controller.
/// Empty label values are not copied.
#[must_use]
pub fn extension_pod_labels(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let Some(owner) = controller_of(&sandbox.metadata) else {
        return labels;
    };
    if api_group(&owner.api_version) != EXTENSIONS_GROUP {
        return labels;
    }
    let mut copy = |key: &str| {
        if let Some(value) = label(&sandbox.metadata, key).filter(|v| !v.is_empty()) {
            labels.insert(key.to_owned(), value.to_owned());
        }
    };
    // Only while the warm pool controls the Sandbox does the Pod carry the pool label.
    if owner.kind == SandboxWarmPool::kind(&()) {
        copy(keys::WARM_POOL_SANDBOX_LABEL);
    }
    // Upstream v1.0 also puts the owning claim's UID on the Pod (docs/upstream-differences.md).
    if owner.kind == SandboxClaim::kind(&()) {
        copy(keys::CLAIM_UID_LABEL);
    }
    copy(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL);
    labels
}

/// The normalised `created-by` label the Pod should carry, if the Sandbox has a non-empty one.
fn expected_created_by(sandbox: &Sandbox) -> Option<&'static str> {
    label(&sandbox.metadata, keys::CREATED_BY_LABEL)
        .filter(|v| !v.is_empty())
        .map(normalize_created_by)
}

/// The podTemplate's labels minus system keys: what users may put on the Pod.
fn user_template_labels(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let labels = &sandbox.spec.blueprint.pod_template.metadata.labels;
    without_keys(labels, is_system_label)
}

/// The podTemplate's annotations minus system keys.
fn user_template_annotations(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let annotations = &sandbox.spec.blueprint.pod_template.metadata.annotations;
    without_keys(annotations, is_system_annotation)
}

/// `map` without the keys `reserved` matches.
fn without_keys(
    map: &BTreeMap<String, String>,
    reserved: fn(&str) -> bool,
) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(key, _)| !reserved(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The value of a `propagated-*` annotation: the keys, sorted (BTreeMap order is Go's
/// byte-wise `slices.Sort`), comma-joined.
fn joined_keys(map: &BTreeMap<String, String>) -> String {
    map.keys().map(String::as_str).collect::<Vec<_>>().join(",")
}

/// The Pod's volumes: the template's, minus any that share a name with a volumeClaimTemplate,
/// followed by one PVC volume per template in order (`<vct>` → claim `<vct>-<sandbox>`). PVC
/// volumes win a name clash, as in a StatefulSet (spec §2.7 step 7). Without templates the
/// template's volumes are returned untouched.
#[must_use]
pub fn pod_volumes(sandbox: &Sandbox) -> Option<Vec<Volume>> {
    let template_volumes = sandbox.spec.blueprint.pod_template.spec.volumes.clone();
    let claims = &sandbox.spec.blueprint.volume_claim_templates;
    if claims.is_empty() {
        return template_volumes;
    }
    let claim_volumes = claims.iter().map(|vct| Volume {
        name: vct.metadata.name.clone(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: pvc_name(&vct.metadata.name, sandbox_name(sandbox)),
            read_only: None,
        }),
        ..Volume::default()
    });
    let replaced = |volume: &Volume| claims.iter().any(|vct| vct.metadata.name == volume.name);
    let mut volumes: Vec<Volume> = template_volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|volume| !replaced(volume))
        .collect();
    volumes.extend(claim_volumes);
    Some(volumes)
}

/// The labels of a new Pod (spec §2.7 step 7): non-system template labels, then the forced
/// name-hash label, the extension labels and the normalised `created-by`.
fn new_pod_labels(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let mut labels = user_template_labels(sandbox);
    labels.extend(name_hash_labels(sandbox));
    labels.extend(extension_pod_labels(sandbox));
    if let Some(created_by) = expected_created_by(sandbox) {
        labels.insert(keys::CREATED_BY_LABEL.to_owned(), created_by.to_owned());
    }
    labels
}

/// The annotations of a new Pod: non-system template annotations, plus the two `propagated-*`
/// annotations recording which user keys came from the template (each only when non-empty).
fn new_pod_annotations(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let user_labels = user_template_labels(sandbox);
    let mut annotations = user_template_annotations(sandbox);
    let propagated_annotations = joined_keys(&annotations);
    if !user_labels.is_empty() {
        annotations.insert(
            keys::PROPAGATED_LABELS_ANNOTATION.to_owned(),
            joined_keys(&user_labels),
        );
    }
    if !propagated_annotations.is_empty() {
        annotations.insert(
            keys::PROPAGATED_ANNOTATIONS_ANNOTATION.to_owned(),
            propagated_annotations,
        );
    }
    annotations
}

/// The Pod to create when the Sandbox runs and has none (spec §2.7 step 7): named after the
/// Sandbox (never the `pod-name` annotation), in its namespace, with a copy of the template
/// spec whose volumes include the PVC volumes, and the Sandbox as controller.
#[must_use]
pub fn new_pod(sandbox: &Sandbox) -> Pod {
    let annotations = new_pod_annotations(sandbox);
    let mut spec = PodSpec::clone(&sandbox.spec.blueprint.pod_template.spec);
    spec.volumes = pod_volumes(sandbox);
    Pod {
        metadata: ObjectMeta {
            name: Some(sandbox_name(sandbox).to_owned()),
            namespace: sandbox.metadata.namespace.clone(),
            labels: Some(new_pod_labels(sandbox)),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(sandbox)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The keys listed in a `propagated-*` annotation (comma-separated, empty entries skipped).
fn propagated_keys<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: &str,
) -> impl Iterator<Item = &'a str> {
    annotations
        .get(key)
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty())
}

/// The labels an existing Pod should end up with (spec §2.7, "metadata reconcile"), applied in
/// upstream's order so interactions match: force the name hash, upsert user template labels,
/// drop previously propagated keys (system keys an older controller leaked, except the name
/// hash; user keys the template no longer has), then set or delete the extension labels and
/// `created-by`. Keys the controller never propagated and does not manage are left alone.
fn reconciled_pod_labels(
    sandbox: &Sandbox,
    current_labels: &BTreeMap<String, String>,
    current_annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let template_labels = &sandbox.spec.blueprint.pod_template.metadata.labels;
    let mut labels = current_labels.clone();
    labels.extend(name_hash_labels(sandbox));
    labels.extend(user_template_labels(sandbox));
    for key in propagated_keys(current_annotations, keys::PROPAGATED_LABELS_ANNOTATION) {
        let scrub = if is_system_label(key) {
            key != keys::SANDBOX_NAME_HASH_LABEL
        } else {
            !template_labels.contains_key(key)
        };
        if scrub {
            labels.remove(key);
        }
    }
    let extension = extension_pod_labels(sandbox);
    for key in EXTENSION_POD_LABEL_KEYS {
        match extension.get(key) {
            Some(value) => labels.insert(key.to_owned(), value.clone()),
            None => labels.remove(key),
        };
    }
    match expected_created_by(sandbox) {
        Some(value) => labels.insert(keys::CREATED_BY_LABEL.to_owned(), value.to_owned()),
        None => labels.remove(keys::CREATED_BY_LABEL),
    };
    labels
}

/// Whether the controller writes this system annotation itself, so the propagated-key scrub
/// must leave it alone.
fn is_controller_managed_pod_annotation(key: &str) -> bool {
    key == keys::PROPAGATED_LABELS_ANNOTATION || key == keys::PROPAGATED_ANNOTATIONS_ANNOTATION
}

/// Sets a `propagated-*` annotation to `value` unless it already reads so. An absent annotation
/// reads as the empty string, so an empty list is never *added*, but a non-empty one is, and an
/// existing annotation whose list became empty is rewritten to `""` rather than removed.
fn rewrite_propagated(annotations: &mut BTreeMap<String, String>, key: &str, value: String) {
    if annotations.get(key).map(String::as_str).unwrap_or_default() != value {
        annotations.insert(key.to_owned(), value);
    }
}

/// The annotations an existing Pod should end up with (spec §2.7, "metadata reconcile"): upsert
/// user template annotations, drop previously propagated keys (system keys except the two
/// `propagated-*` ones; user keys the template no longer has), then rewrite both `propagated-*`
/// annotations.
fn reconciled_pod_annotations(
    sandbox: &Sandbox,
    current_annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let template_annotations = &sandbox.spec.blueprint.pod_template.metadata.annotations;
    let user_annotations = user_template_annotations(sandbox);
    let mut annotations = current_annotations.clone();
    annotations.extend(user_annotations.clone());
    for key in propagated_keys(current_annotations, keys::PROPAGATED_ANNOTATIONS_ANNOTATION) {
        let scrub = if is_system_annotation(key) {
            !is_controller_managed_pod_annotation(key)
        } else {
            !template_annotations.contains_key(key)
        };
        if scrub {
            annotations.remove(key);
        }
    }
    let label_keys = joined_keys(&user_template_labels(sandbox));
    rewrite_propagated(
        &mut annotations,
        keys::PROPAGATED_LABELS_ANNOTATION,
        label_keys,
    );
    rewrite_propagated(
        &mut annotations,
        keys::PROPAGATED_ANNOTATIONS_ANNOTATION,
        joined_keys(&user_annotations),
    );
    annotations
}

/// The merge patch that reconciles an existing Pod's metadata with the Sandbox (spec §2.7
/// step 6), or `None` when the Pod already matches and nothing is to be adopted.
///
/// The patch holds label/annotation changes (`null` deletes a key) and, when `adopt` is set,
/// the Pod's full ownerRef list with the Sandbox as controller (merge patches replace lists).
/// Pass `adopt` only for an unowned Pod that [`super::may_adopt`] accepts. The Pod spec is never
/// patched: template spec edits only reach Pods created later (§11.13).
///
/// Upstream deletes and re-adds some keys in one pass (e.g. a leaked extension label that is
/// still expected) and then sends a patch even though nothing changed; comparing the final
/// state instead means such passes write nothing, with the same end result.
#[must_use]
pub fn pod_metadata_patch(sandbox: &Sandbox, pod: &Pod, adopt: bool) -> Option<Value> {
    let current_labels = pod.metadata.labels.clone().unwrap_or_default();
    let current_annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let labels = reconciled_pod_labels(sandbox, &current_labels, &current_annotations);
    let annotations = reconciled_pod_annotations(sandbox, &current_annotations);

    let mut metadata = Map::new();
    let label_patch = string_map_patch(&current_labels, &labels);
    if !label_patch.is_empty() {
        metadata.insert("labels".into(), Value::Object(label_patch));
    }
    let annotation_patch = string_map_patch(&current_annotations, &annotations);
    if !annotation_patch.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotation_patch));
    }
    if adopt {
        let refs = with_controller_ref(&pod.metadata, sandbox);
        if pod.metadata.owner_references.as_ref() != Some(&refs) {
            metadata.insert("ownerReferences".into(), owner_refs_json(&refs));
        }
    }
    (!metadata.is_empty()).then(|| json!({ "metadata": metadata }))
}

#[cfg(test)]
mod tests;
