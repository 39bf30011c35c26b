//! Builders for the objects a Sandbox owns: its Pod, its headless Service and its PVCs
//! (spec §2.5, §2.7–§2.9), plus the secure defaults the extensions apply to the Pod spec (§3.4).
//!
//! Everything here is pure: no I/O, no clocks, no async. The reconciler's `decide` step calls
//! these functions to learn what the children should look like and which writes are needed;
//! `apply` performs them. Every `*_patch` function returns a JSON merge patch
//! (`kube::api::Patch::Merge`) holding only what changes, or `None` when the object is already
//! as it should be, so the controller never sends a no-op write.

mod defaults;
mod owner;
mod pod;
mod pvc;
mod service;

#[cfg(test)]
mod fixtures;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sandbox_api::NameHash;
use sandbox_api::v1beta1::Sandbox;
use serde_json::{Map, Value};

pub use defaults::{SECURE_DEFAULT_NAMESERVERS, apply_secure_defaults, is_secure_by_default};
pub use owner::{
    Ownership, adoption_patch, api_group, controller_of, controller_ref, is_controlled_by,
    may_adopt, ownership, with_controller_ref,
};
pub use pod::{
    EXTENSION_POD_LABEL_KEYS, EXTENSIONS_GROUP, extension_pod_labels, is_system_annotation,
    is_system_label, new_pod, normalize_created_by, pod_metadata_patch, pod_name, pod_volumes,
};
pub use pvc::{new_pvc, pvc_name};
pub use service::{
    adopted_service, new_service, service_adoptable, service_fqdn, service_ports,
    service_repair_patch,
};

/// The Sandbox's name (empty only for a malformed object that never came from the apiserver).
fn sandbox_name(sandbox: &Sandbox) -> &str {
    sandbox.metadata.name.as_deref().unwrap_or_default()
}

/// `NameHash(sandbox.name)`, the value of the name-hash label on every child (spec §2.5).
fn sandbox_name_hash(sandbox: &Sandbox) -> NameHash {
    NameHash::of(sandbox_name(sandbox))
}

/// The single-entry `{sandbox-name-hash: <hash>}` map used as child label and Service selector.
fn name_hash_labels(sandbox: &Sandbox) -> BTreeMap<String, String> {
    BTreeMap::from([(
        sandbox_api::keys::SANDBOX_NAME_HASH_LABEL.to_owned(),
        sandbox_name_hash(sandbox).to_string(),
    )])
}

/// The value of label `key` on an object, if set.
fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// The value of annotation `key` on an object, if set.
fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The merge-patch fragment turning string map `current` into `desired`: changed or new keys
/// with their new value, removed keys as `null`. Empty when the maps are equal.
fn string_map_patch(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, value) in desired {
        if current.get(key) != Some(value) {
            patch.insert(key.clone(), Value::String(value.clone()));
        }
    }
    for key in current.keys() {
        if !desired.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_map_patch_sets_changed_and_nulls_removed_keys() {
        let current = BTreeMap::from([
            ("keep".to_owned(), "same".to_owned()),
            ("change".to_owned(), "old".to_owned()),
            ("drop".to_owned(), "x".to_owned()),
        ]);
        let desired = BTreeMap::from([
            ("keep".to_owned(), "same".to_owned()),
            ("change".to_owned(), "new".to_owned()),
            ("add".to_owned(), "y".to_owned()),
        ]);
        let patch = string_map_patch(&current, &desired);
        assert_eq!(
            Value::Object(patch),
            json!({"change": "new", "add": "y", "drop": null})
        );
        assert!(string_map_patch(&desired, &desired).is_empty());
    }

    #[test]
    fn name_hash_labels_use_the_upstream_test_vector() {
        let sandbox = fixtures::sandbox(|_| {});
        assert_eq!(
            name_hash_labels(&sandbox),
            BTreeMap::from([(
                sandbox_api::keys::SANDBOX_NAME_HASH_LABEL.to_owned(),
                "da1fd924".to_owned()
            )])
        );
    }
}
