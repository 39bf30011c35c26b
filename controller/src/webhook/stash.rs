//! The lossless round-trip stash (spec §6).
//!
//! Converting v1alpha1 → v1beta1 writes the whole v1alpha1 object as JSON into a per-kind
//! annotation on the hub object, so it lands in etcd. Converting back reads it to restore what
//! the hub cannot express (e.g. a claim's `warmpool` policy) and strips it from the v1alpha1
//! view. Hub fields stay authoritative: the stash only refines mappings that would lose
//! information, and only while the hub still agrees with it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ConversionError;

/// Stores `alpha` as JSON under `key` on `hub_meta`.
///
/// The stored copy omits `metadata.managedFields` (apiserver-owned, rebuilt on every write, and
/// often larger than the rest of the object) and any stash `alpha` carries itself, so stashes
/// never nest inside each other.
pub(crate) fn put<K>(hub_meta: &mut ObjectMeta, key: &str, alpha: &K) -> Result<(), ConversionError>
where
    K: Resource + Serialize + Clone,
{
    let mut copy = alpha.clone();
    let meta = copy.meta_mut();
    meta.managed_fields = None;
    remove(meta, key);
    let json = serde_json::to_string(&copy).map_err(ConversionError::Encode)?;
    insert(hub_meta, key, json);
    Ok(())
}

/// Removes the stash under `key` and returns it decoded.
///
/// A stash that does not decode is dropped and ignored rather than failing the conversion: it
/// only refines the mapping derived from the hub fields, so a damaged annotation must not make
/// the object unreadable at v1alpha1.
pub(crate) fn take<K: DeserializeOwned>(meta: &mut ObjectMeta, key: &str) -> Option<K> {
    let raw = remove(meta, key)?;
    match serde_json::from_str(&raw) {
        Ok(stashed) => Some(stashed),
        Err(error) => {
            tracing::warn!(
                annotation = key,
                name = meta.name.as_deref().unwrap_or_default(),
                namespace = meta.namespace.as_deref().unwrap_or_default(),
                %error,
                "ignoring undecodable v1alpha1 stash"
            );
            None
        }
    }
}

/// Sets annotation `key` to `value`.
pub(crate) fn insert(meta: &mut ObjectMeta, key: &str, value: String) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_owned(), value);
}

/// Removes annotation `key`, dropping the annotation map when it becomes empty so an object
/// that had no annotations before a round trip has none after it.
pub(crate) fn remove(meta: &mut ObjectMeta, key: &str) -> Option<String> {
    let annotations = meta.annotations.as_mut()?;
    let value = annotations.remove(key);
    if value.is_some() && annotations.is_empty() {
        meta.annotations = None;
    }
    value
}

#[cfg(test)]
mod tests {
    use sandbox_api::keys::V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION as KEY;
    use sandbox_api::v1alpha1;

    use super::*;
    use crate::webhook::fixtures;

    #[test]
    fn put_then_take_returns_the_object_without_managed_fields() {
        let mut alpha = fixtures::alpha_warm_pool();
        alpha.metadata.managed_fields = Some(vec![Default::default()]);
        let mut hub_meta = ObjectMeta::default();
        put(&mut hub_meta, KEY, &alpha).unwrap();
        assert!(hub_meta.annotations.as_ref().unwrap().contains_key(KEY));

        let back: v1alpha1::SandboxWarmPool = take(&mut hub_meta, KEY).unwrap();
        alpha.metadata.managed_fields = None;
        assert_eq!(back, alpha);
        assert_eq!(hub_meta.annotations, None, "empty map is dropped");
    }

    #[test]
    fn put_does_not_nest_a_stash_the_alpha_object_carries() {
        let mut alpha = fixtures::alpha_warm_pool();
        insert(&mut alpha.metadata, KEY, "old stash".into());
        let mut hub_meta = ObjectMeta::default();
        put(&mut hub_meta, KEY, &alpha).unwrap();
        let stashed = &hub_meta.annotations.as_ref().unwrap()[KEY];
        assert!(!stashed.contains("old stash"), "{stashed}");
    }

    #[test]
    fn take_drops_an_undecodable_stash() {
        let mut meta = ObjectMeta::default();
        insert(&mut meta, KEY, "{not json".into());
        insert(&mut meta, "keep", "me".into());
        assert!(take::<v1alpha1::SandboxWarmPool>(&mut meta, KEY).is_none());
        let annotations = meta.annotations.unwrap();
        assert!(!annotations.contains_key(KEY));
        assert_eq!(annotations["keep"], "me");
    }

    #[test]
    fn remove_keeps_other_annotations_and_absent_maps() {
        let mut meta = ObjectMeta::default();
        assert_eq!(remove(&mut meta, KEY), None);
        assert_eq!(meta.annotations, None);
        insert(&mut meta, "a", "1".into());
        assert_eq!(remove(&mut meta, KEY), None);
        assert_eq!(meta.annotations.unwrap().len(), 1);
    }
}
