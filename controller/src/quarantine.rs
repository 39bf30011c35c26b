//! Objects the controller's types cannot read, set aside one by one instead of failing the
//! decoding of their whole list.
//!
//! A list or watch is decoded in one piece: a single object with, say, an `int32` field out of
//! range (stored by an API server that did not check the format, before kubernetes#136091) or
//! a field written under an older, looser schema would fail every listing of its kind, and
//! every reconcile of that kind would wait for a cache that never lists. Each object is
//! decoded on its own instead ([`Lenient`]); one that fails keeps its metadata and the error
//! ([`Undecodable`]) and is left out of the cache: a change that cannot be read leaves the
//! last readable version in place until the next relist, which lists the object no more. It
//! is reported once per version as a log line, a counter and a Warning Event on the object
//! ([`Quarantine`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::events::Recorder;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::events::{self, Notice};
use crate::metrics::Metrics;

/// The Event reason on an object the controller cannot decode.
pub const REASON: &str = "Undecodable";

/// One object of a list or watch: decoded, or set aside.
#[derive(Debug, Clone)]
pub enum Lenient<K> {
    Decoded(K),
    /// Boxed: metadata alone outweighs most decoded objects' headers, and it is rare.
    Undecodable(Box<Undecodable>),
}

/// An object that did not decode as its kind: its metadata and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    pub metadata: ObjectMeta,
    pub error: String,
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Kept as text (checked, not parsed into a tree) so a failed decode can be followed
        // by a decode of the metadata alone. Needs the object unbuffered: a watch event must
        // name its `type` before its `object`, which the API server's encoding always does.
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match serde_json::from_str::<K>(raw.get()) {
            Ok(object) => Ok(Self::Decoded(object)),
            Err(error) => {
                #[derive(Deserialize)]
                struct Head {
                    #[serde(default)]
                    metadata: ObjectMeta,
                }
                // Metadata the API server wrote cannot fail to decode; if it does, the list
                // fails as it would have without this type.
                let head: Head = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
                Ok(Self::Undecodable(Box::new(Undecodable {
                    metadata: head.metadata,
                    error: error.to_string(),
                })))
            }
        }
    }
}

/// Lists and watches address `Lenient<K>` exactly as they address `K`.
impl<K: Resource<DynamicType = ()>> Resource for Lenient<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Decoded(object) => object.meta(),
            Self::Undecodable(u) => &u.metadata,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::Decoded(object) => object.meta_mut(),
            Self::Undecodable(u) => &mut u.metadata,
        }
    }
}

/// The cache's event for a watcher event, with undecodable objects reported and left out;
/// `None` when nothing is left to tell the cache. `store` is the cache the event goes to: a
/// deleted object that no longer decodes is deleted as the version the cache holds.
pub fn sift<K>(
    event: Event<Lenient<K>>,
    store: &Store<K>,
    quarantine: &Quarantine,
) -> Option<Event<K>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let keep = |object: Lenient<K>| match object {
        Lenient::Decoded(object) => Some(object),
        Lenient::Undecodable(u) => {
            quarantine.report::<K>(&u);
            None
        }
    };
    match event {
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
        Event::InitApply(object) => keep(object).map(Event::InitApply),
        Event::Apply(object) => keep(object).map(Event::Apply),
        Event::Delete(Lenient::Decoded(object)) => Some(Event::Delete(object)),
        Event::Delete(Lenient::Undecodable(u)) => {
            quarantine.forget(&u.metadata);
            let mut key = ObjectRef::new(u.metadata.name.as_deref()?);
            key.namespace = u.metadata.namespace.clone();
            store.get(&key).map(|held| Event::Delete((*held).clone()))
        }
    }
}

/// Reports undecodable objects: once per object version, as a warning log line, the
/// `agent_sandbox_undecodable_objects_total` counter and a Warning Event on the object.
#[derive(Clone, Default)]
pub struct Quarantine {
    recorder: Option<Recorder>,
    metrics: Option<Arc<Metrics>>,
    /// uid → the resourceVersion last reported, so a relist does not report it again.
    reported: Arc<Mutex<HashMap<String, String>>>,
}

impl Quarantine {
    pub fn new(recorder: Option<Recorder>, metrics: Arc<Metrics>) -> Self {
        Self {
            recorder,
            metrics: Some(metrics),
            reported: Default::default(),
        }
    }

    /// Reports `object` (of kind `K`) unless this version of it was reported already;
    /// returns whether it did.
    pub fn report<K: Resource<DynamicType = ()>>(&self, object: &Undecodable) -> bool {
        let meta = &object.metadata;
        let kind = K::kind(&());
        let kind = kind.as_ref();
        let uid = meta.uid.clone().unwrap_or_default();
        let version = meta.resource_version.clone().unwrap_or_default();
        {
            let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            if reported.get(&uid) == Some(&version) {
                return false;
            }
            reported.insert(uid, version);
        }
        tracing::warn!(
            kind,
            namespace = meta.namespace.as_deref().unwrap_or_default(),
            name = meta.name.as_deref().unwrap_or_default(),
            error = %object.error,
            "object cannot be decoded; set aside until it changes"
        );
        if let Some(metrics) = &self.metrics {
            metrics.undecodable(kind);
        }
        events::publish(
            self.recorder.as_ref(),
            &Notice::warning(
                REASON,
                "Decode",
                format!(
                    "the controller cannot read this object and ignores it: {}",
                    object.error
                ),
            ),
            reference::<K>(meta),
        );
        true
    }

    /// Drops what is remembered of a deleted object.
    fn forget(&self, meta: &ObjectMeta) {
        if let Some(uid) = &meta.uid {
            self.reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(uid);
        }
    }
}

fn reference<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{ObjectList, WatchEvent};
    use kube::runtime::reflector;
    use sandbox_api::v1beta1::SandboxWarmPool;
    use serde_json::json;

    fn pool(name: &str, uid: &str, replicas: serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
            "kind": "SandboxWarmPool",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "7"},
            "spec": {"replicas": replicas, "sandboxTemplateRef": {"name": "python"}}
        })
    }

    fn undecodable(name: &str, uid: &str) -> Lenient<SandboxWarmPool> {
        serde_json::from_value(pool(name, uid, json!(3_000_000_000u64))).unwrap()
    }

    #[test]
    fn one_bad_object_does_not_fail_its_list() {
        let list = json!({
            "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
            "kind": "SandboxWarmPoolList",
            "metadata": {"resourceVersion": "9"},
            "items": [pool("good", "u1", json!(3)), pool("huge", "u2", json!(3_000_000_000u64))]
        });
        // The same bytes fail as a list of the plain type.
        let text = list.to_string();
        assert!(serde_json::from_str::<ObjectList<SandboxWarmPool>>(&text).is_err());

        let list: ObjectList<Lenient<SandboxWarmPool>> = serde_json::from_str(&text).unwrap();
        let [good, huge] = &list.items[..] else {
            panic!("two items expected: {:?}", list.items)
        };
        assert!(matches!(good, Lenient::Decoded(p) if p.spec.replicas == Some(3)));
        let Lenient::Undecodable(huge) = huge else {
            panic!("the out-of-range pool decoded: {huge:?}")
        };
        assert_eq!(huge.metadata.name.as_deref(), Some("huge"));
        assert!(huge.error.contains("3000000000"), "{}", huge.error);
    }

    #[test]
    fn watch_events_decode_through_kubes_own_type() {
        // In the API server's order (Go encodes `type` before `object`), which lets serde
        // hand the object to `Lenient` unbuffered.
        let object = pool("huge", "u2", json!(-1e30));
        let line = format!(r#"{{"type":"MODIFIED","object":{object}}}"#);
        let event: WatchEvent<Lenient<SandboxWarmPool>> =
            serde_json::from_slice(line.as_bytes()).unwrap();
        assert!(matches!(
            event,
            WatchEvent::Modified(Lenient::Undecodable(_))
        ));
    }

    #[test]
    fn lenient_objects_are_addressed_like_their_kind() {
        assert_eq!(
            Lenient::<SandboxWarmPool>::url_path(&(), Some("ns")),
            SandboxWarmPool::url_path(&(), Some("ns"))
        );
        assert_eq!(undecodable("huge", "u2").meta().uid.as_deref(), Some("u2"));
    }

    #[test]
    fn sift_leaves_undecodable_objects_out_and_deletes_the_held_version() {
        let (store, mut writer) = reflector::store::<SandboxWarmPool>();
        let good: SandboxWarmPool = serde_json::from_value(pool("p", "u1", json!(3))).unwrap();
        writer.apply_watcher_event(&Event::Apply(good.clone()));
        let quarantine = Quarantine::default();

        for event in [
            Event::Apply(undecodable("p", "u1")),
            Event::InitApply(undecodable("q", "u3")),
        ] {
            assert!(sift(event, &store, &quarantine).is_none());
        }
        assert!(matches!(
            sift(Event::InitApply(Lenient::Decoded(good.clone())), &store, &quarantine),
            Some(Event::InitApply(p)) if p == good
        ));
        // Deleted while undecodable: the cache drops the version it holds.
        assert!(matches!(
            sift(Event::Delete(undecodable("p", "u1")), &store, &quarantine),
            Some(Event::Delete(p)) if p == good
        ));
        // Never held: nothing to tell the cache.
        assert!(sift(Event::Delete(undecodable("q", "u3")), &store, &quarantine).is_none());
        assert!(matches!(
            sift(Event::InitDone, &store, &quarantine),
            Some(Event::InitDone)
        ));
    }

    #[test]
    fn each_version_is_reported_once() {
        let quarantine = Quarantine::default();
        let Lenient::Undecodable(mut huge) = undecodable("huge", "u2") else {
            unreachable!()
        };
        assert!(quarantine.report::<SandboxWarmPool>(&huge));
        assert!(
            !quarantine.report::<SandboxWarmPool>(&huge),
            "a relist reports it again"
        );
        huge.metadata.resource_version = Some("8".into());
        assert!(quarantine.report::<SandboxWarmPool>(&huge));
        // Deleted and recreated under the same name: a new uid, reported again.
        quarantine.forget(&huge.metadata);
        assert!(quarantine.report::<SandboxWarmPool>(&huge));
    }
}
