//! Controller ownerRefs and adoption rules shared by every child kind (spec §2.5, §2.7–§2.9).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;
use serde_json::{Map, Value, json};

use super::{label, sandbox_name_hash};

/// The controller ownerRef a child of `owner` carries (spec §2.5): kube's
/// `controller_owner_ref` (apiVersion, kind, name, uid, `controller`) with `blockOwnerDeletion`
/// set as upstream sets it, so garbage collection is the only cleanup (there are no
/// finalizers, §11.5). Used for the Sandbox's children, a pool's members, a claim's Sandbox and
/// a template's NetworkPolicy. An owner without a name or uid (never one read from the API
/// server) gives an empty reference, which the API server refuses.
#[must_use]
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        block_owner_deletion: Some(true),
        ..owner.controller_owner_ref(&()).unwrap_or_default()
    }
}

/// The object's controller ownerRef: the first one with `controller: true`, like Go's
/// `metav1.GetControllerOf`.
#[must_use]
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether the object's controller ownerRef has this UID. The UID is authoritative; labels
/// only index (spec §2.7 step 1).
#[must_use]
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// How a child relates to a Sandbox.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ownership<'a> {
    /// The controller ownerRef points at this Sandbox (by UID).
    OwnedBySandbox,
    /// No controller ownerRef: a candidate for adoption (see [`may_adopt`]).
    Unowned,
    /// Another controller owns it; the Sandbox must not touch it.
    OwnedByOther(&'a OwnerReference),
}

/// Classifies the object's controller ownerRef against the Sandbox UID `uid`.
#[must_use]
pub fn ownership<'a>(meta: &'a ObjectMeta, uid: &str) -> Ownership<'a> {
    match controller_of(meta) {
        None => Ownership::Unowned,
        Some(r) if r.uid == uid => Ownership::OwnedBySandbox,
        Some(r) => Ownership::OwnedByOther(r),
    }
}

/// The API group of an `apiVersion` (`group/version`), as Go's `schema.ParseGroupVersion`
/// reads it: empty for the core group (`v1`) and for malformed values with several slashes.
/// Versions are ignored on purpose: v1alpha1-era ownerRefs persist (spec §11.15).
#[must_use]
pub fn api_group(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, version)) if !version.contains('/') => group,
        _ => "",
    }
}

/// Whether an unowned child may be adopted (spec §2.7 step 6, §2.8, §2.9): it carries
/// `agents.x-k8s.io/adoptable: "true"`, or its name-hash tracking label already equals this
/// Sandbox's hash.
#[must_use]
pub fn may_adopt(meta: &ObjectMeta, sandbox: &Sandbox) -> bool {
    label(meta, keys::ADOPTABLE_LABEL) == Some(keys::ADOPTABLE_TRUE)
        || label(meta, keys::SANDBOX_NAME_HASH_LABEL) == Some(sandbox_name_hash(sandbox).as_str())
}

/// The object's ownerRefs with the Sandbox's controller ref upserted, the way
/// controller-runtime's `SetControllerReference` does: a ref to the same object (same group,
/// kind and name, any version) is replaced in place; otherwise the ref is appended. Other
/// owners are kept.
#[must_use]
pub fn with_controller_ref(meta: &ObjectMeta, sandbox: &Sandbox) -> Vec<OwnerReference> {
    let ours = controller_ref(sandbox);
    let mut refs = meta.owner_references.clone().unwrap_or_default();
    match refs.iter_mut().find(|r| refers_to_same_object(r, &ours)) {
        Some(existing) => *existing = ours,
        None => refs.push(ours),
    }
    refs
}

/// Whether two ownerRefs name the same object, ignoring the version and UID.
fn refers_to_same_object(a: &OwnerReference, b: &OwnerReference) -> bool {
    api_group(&a.api_version) == api_group(&b.api_version) && a.kind == b.kind && a.name == b.name
}

/// The merge patch that adopts an unowned child (the PVC path of spec §2.9): its ownerRefs
/// with the Sandbox's controller ref upserted. Merge patches replace lists whole, so the
/// patch carries every ownerRef. Call it only after [`may_adopt`] allowed the adoption.
#[must_use]
pub fn adoption_patch(meta: &ObjectMeta, sandbox: &Sandbox) -> Value {
    json!({"metadata": {"ownerReferences": owner_refs_json(&with_controller_ref(meta, sandbox))}})
}

/// ownerRefs as merge-patch JSON, built by hand so building a patch cannot fail.
pub(super) fn owner_refs_json(refs: &[OwnerReference]) -> Value {
    Value::Array(refs.iter().map(owner_ref_json).collect())
}

/// One ownerRef as JSON, with the field names and optionality of the API.
fn owner_ref_json(r: &OwnerReference) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), r.api_version.clone().into());
    out.insert("kind".into(), r.kind.clone().into());
    out.insert("name".into(), r.name.clone().into());
    out.insert("uid".into(), r.uid.clone().into());
    if let Some(controller) = r.controller {
        out.insert("controller".into(), controller.into());
    }
    if let Some(block) = r.block_owner_deletion {
        out.insert("blockOwnerDeletion".into(), block.into());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, HASH, NAME, UID};
    use super::*;

    fn meta(value: Value) -> ObjectMeta {
        serde_json::from_value(value).expect("fixture metadata must parse")
    }

    #[test]
    fn controller_ref_points_at_the_v1beta1_sandbox_and_blocks_deletion() {
        let sandbox = fixtures::sandbox(|_| {});
        let owner = controller_ref(&sandbox);
        assert_eq!(
            serde_json::to_value(&owner).expect("serialise"),
            fixtures::sandbox_owner_json()
        );
    }

    #[test]
    fn controller_of_skips_non_controller_refs() {
        let m = meta(json!({"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "uid": "2", "controller": false},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "c", "uid": "3", "controller": true},
        ]}));
        assert_eq!(controller_of(&m).map(|r| r.name.as_str()), Some("c"));
        assert!(is_controlled_by(&m, "3"));
        assert!(!is_controlled_by(&m, "1"));
        assert_eq!(controller_of(&meta(json!({}))), None);
    }

    #[test]
    fn ownership_classifies_by_controller_uid() {
        let ours = meta(json!({"ownerReferences": [fixtures::sandbox_owner_json()]}));
        assert_eq!(ownership(&ours, UID), Ownership::OwnedBySandbox);
        assert!(matches!(
            ownership(&ours, "other-uid"),
            Ownership::OwnedByOther(r) if r.uid == UID
        ));
        // A non-controller ref to the Sandbox does not make it the owner.
        let weak = meta(json!({"ownerReferences": [
            {"apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox", "name": NAME, "uid": UID}
        ]}));
        assert_eq!(ownership(&weak, UID), Ownership::Unowned);
    }

    #[test]
    fn api_group_follows_go_parse_group_version() {
        assert_eq!(
            api_group("extensions.agents.x-k8s.io/v1alpha1"),
            "extensions.agents.x-k8s.io"
        );
        assert_eq!(api_group("v1"), "");
        assert_eq!(api_group(""), "");
        assert_eq!(api_group("a/b/c"), "");
    }

    #[test]
    fn may_adopt_needs_the_adoptable_label_or_our_tracking_label() {
        let sandbox = fixtures::sandbox(|_| {});
        let adoptable = meta(json!({"labels": {"agents.x-k8s.io/adoptable": "true"}}));
        let tracked = meta(json!({"labels": {"agents.x-k8s.io/sandbox-name-hash": HASH}}));
        let other_hash = meta(json!({"labels": {"agents.x-k8s.io/sandbox-name-hash": "00000000"}}));
        let not_true = meta(json!({"labels": {"agents.x-k8s.io/adoptable": "True"}}));
        assert!(may_adopt(&adoptable, &sandbox));
        assert!(may_adopt(&tracked, &sandbox));
        assert!(!may_adopt(&other_hash, &sandbox));
        assert!(!may_adopt(&not_true, &sandbox));
        assert!(!may_adopt(&meta(json!({})), &sandbox));
    }

    #[test]
    fn with_controller_ref_appends_and_keeps_other_owners() {
        let sandbox = fixtures::sandbox(|_| {});
        let m = meta(json!({"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "1"}
        ]}));
        let refs = with_controller_ref(&m, &sandbox);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].name, "keep");
        assert_eq!(refs[1], controller_ref(&sandbox));
    }

    #[test]
    fn with_controller_ref_replaces_a_ref_to_the_same_sandbox_of_any_version() {
        let sandbox = fixtures::sandbox(|_| {});
        let m = meta(json!({"ownerReferences": [
            {"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox", "name": NAME, "uid": "stale"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "1"}
        ]}));
        let refs = with_controller_ref(&m, &sandbox);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0], controller_ref(&sandbox));
        assert_eq!(refs[1].name, "keep");
    }

    #[test]
    fn adoption_patch_carries_the_whole_owner_list() {
        let sandbox = fixtures::sandbox(|_| {});
        let m = meta(json!({"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "1"}
        ]}));
        assert_eq!(
            adoption_patch(&m, &sandbox),
            json!({"metadata": {"ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "1"},
                fixtures::sandbox_owner_json()
            ]}})
        );
    }
}
