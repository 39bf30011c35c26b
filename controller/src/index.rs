//! Secondary indexes over a shared cache: the objects of one kind grouped by a key (a pool's
//! members, a claim's Sandbox, a Sandbox's Pods), oldest first, so that a reconcile looks up
//! what it needs instead of scanning every cached object.
//!
//! An index is fed by the same watch events as its cache's store, right after the store, and
//! before the controllers hear of the change. It holds names only; objects are read from the
//! store, and an entry whose object no longer has the key (the index is a step behind the
//! store for a moment) is skipped. After a relist the index is rebuilt from the new listing
//! and swapped in whole, as the store is.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;

/// The Sandbox cache as the pool and claim controllers read it: the store and its indexes.
#[derive(Clone)]
pub struct Sandboxes {
    pub store: Store<Sandbox>,
    /// By pool ([`pool_member`]).
    pub pool_members: Index<Sandbox>,
    /// By controller UID ([`controller_uid`]).
    pub by_controller: Index<Sandbox>,
}

/// What an object is indexed under, `None` for objects the index leaves out. Keys should
/// carry the namespace ([`key`]).
pub type KeyOf<K> = fn(&K) -> Option<String>;

/// The key of `value` within namespace `ns`.
pub fn key(ns: &str, value: &str) -> String {
    format!("{ns}/{value}")
}

/// Objects of kind `K` by key, oldest first (then by name).
pub struct Index<K: Resource<DynamicType = ()> + 'static> {
    key_of: KeyOf<K>,
    store: Store<K>,
    state: Arc<RwLock<State>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            key_of: self.key_of,
            store: self.store.clone(),
            state: self.state.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Slot {
    created: Option<Timestamp>,
    namespace: String,
    name: String,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<String, BTreeSet<Slot>>,
    /// Each indexed object's key, by (namespace, name), to move it when its key changes.
    key_of_object: HashMap<(String, String), (String, Slot)>,
}

impl Entries {
    fn put(&mut self, key: Option<String>, slot: Slot) {
        let id = (slot.namespace.clone(), slot.name.clone());
        if let Some((old_key, old_slot)) = self.key_of_object.remove(&id) {
            self.take_out(&old_key, &old_slot);
        }
        if let Some(key) = key {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(slot.clone());
            self.key_of_object.insert(id, (key, slot));
        }
    }

    fn take_out(&mut self, key: &str, slot: &Slot) {
        if let Some(set) = self.by_key.get_mut(key) {
            set.remove(slot);
            if set.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    live: Entries,
    /// A relist in progress: filled by its listing, swapped in when it is done.
    relisting: Option<Entries>,
}

impl<K> Index<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// An empty index of the objects in `store`, keyed by `key_of`; feed it with
    /// [`Index::observe`].
    pub fn new(store: Store<K>, key_of: KeyOf<K>) -> Self {
        Self {
            key_of,
            store,
            state: Arc::default(),
        }
    }

    /// Follows one watch event, after the store has applied it.
    pub fn observe(&self, event: &watcher::Event<K>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(obj) => state.live.put((self.key_of)(obj), slot(obj)),
            watcher::Event::Delete(obj) => state.live.put(None, slot(obj)),
            watcher::Event::Init => state.relisting = Some(Entries::default()),
            watcher::Event::InitApply(obj) => {
                if let Some(listing) = state.relisting.as_mut() {
                    listing.put((self.key_of)(obj), slot(obj));
                }
            }
            watcher::Event::InitDone => {
                if let Some(listing) = state.relisting.take() {
                    state.live = listing;
                }
            }
        }
    }

    /// Calls `visit` with each object under `key`, oldest first, until it breaks.
    pub fn scan<B>(&self, key: &str, mut visit: impl FnMut(Arc<K>) -> ControlFlow<B>) -> Option<B> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        for slot in state.live.by_key.get(key)? {
            let Some(obj) = self
                .store
                .get(&ObjectRef::new(&slot.name).within(&slot.namespace))
            else {
                continue;
            };
            if (self.key_of)(&obj).as_deref() != Some(key) {
                continue;
            }
            if let ControlFlow::Break(b) = visit(obj) {
                return Some(b);
            }
        }
        None
    }

    /// Every object under `key`, oldest first.
    pub fn get(&self, key: &str) -> Vec<Arc<K>> {
        let mut all = Vec::new();
        self.scan(key, |obj| {
            all.push(obj);
            ControlFlow::<()>::Continue(())
        });
        all
    }

    /// The first object under `key` that `accept` takes.
    pub fn find(&self, key: &str, mut accept: impl FnMut(&K) -> bool) -> Option<Arc<K>> {
        self.scan(key, |obj| {
            if accept(&obj) {
                ControlFlow::Break(obj)
            } else {
                ControlFlow::Continue(())
            }
        })
    }
}

fn slot<K: Resource>(obj: &K) -> Slot {
    let meta = obj.meta();
    Slot {
        created: meta.creation_timestamp.as_ref().map(|t| t.0),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// A Sandbox under its pool's name hash (the `warm-pool-sandbox` label) while it is a pool
/// member: the members a pool counts and a claim adopts from.
pub fn pool_member(s: &Sandbox) -> Option<String> {
    let hash = s
        .meta()
        .labels
        .as_ref()?
        .get(keys::WARM_POOL_SANDBOX_LABEL)?;
    Some(key(s.meta().namespace.as_deref().unwrap_or_default(), hash))
}

/// An object under the UID of its controller: the Sandbox a claim controls.
pub fn controller_uid<K: Resource>(obj: &K) -> Option<String> {
    let owner = obj
        .meta()
        .owner_references
        .as_deref()?
        .iter()
        .find(|r| r.controller == Some(true))?;
    Some(key(
        obj.meta().namespace.as_deref().unwrap_or_default(),
        &owner.uid,
    ))
}

/// A Pod under its Sandbox's name hash (the `sandbox-name-hash` label), where the Sandbox
/// controller looks for the Pods it may own.
pub fn sandbox_name_hash<K: Resource>(obj: &K) -> Option<String> {
    let hash = obj
        .meta()
        .labels
        .as_ref()?
        .get(keys::SANDBOX_NAME_HASH_LABEL)?;
    Some(key(
        obj.meta().namespace.as_deref().unwrap_or_default(),
        hash,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::runtime::reflector;

    fn cm(name: &str, group: Option<&str>, created_s: i64) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created_s).unwrap()));
        if let Some(g) = group {
            cm.metadata.labels = Some([("group".to_string(), g.to_string())].into());
        }
        cm
    }

    fn group_of(cm: &ConfigMap) -> Option<String> {
        Some(key("ns", cm.metadata.labels.as_ref()?.get("group")?))
    }

    struct Fixture {
        writer: reflector::store::Writer<ConfigMap>,
        index: Index<ConfigMap>,
    }

    impl Fixture {
        fn new() -> Self {
            let (store, writer) = reflector::store();
            Self {
                writer,
                index: Index::new(store, group_of),
            }
        }

        fn event(&mut self, event: watcher::Event<ConfigMap>) {
            self.writer.apply_watcher_event(&event);
            self.index.observe(&event);
        }

        fn names(&self, key: &str) -> Vec<String> {
            self.index
                .get(key)
                .iter()
                .map(|c| c.metadata.name.clone().unwrap())
                .collect()
        }
    }

    #[test]
    fn objects_are_listed_under_their_key_oldest_first() {
        let mut f = Fixture::new();
        f.event(watcher::Event::Apply(cm("c", Some("a"), 30)));
        f.event(watcher::Event::Apply(cm("b", Some("a"), 10)));
        f.event(watcher::Event::Apply(cm("z", Some("b"), 5)));
        f.event(watcher::Event::Apply(cm("a", Some("a"), 10)));
        f.event(watcher::Event::Apply(cm("none", None, 1)));
        assert_eq!(f.names("ns/a"), ["a", "b", "c"]);
        assert_eq!(f.names("ns/b"), ["z"]);
        assert!(f.names("ns/none").is_empty());
        assert!(f.names("other/a").is_empty());
    }

    #[test]
    fn an_object_moves_with_its_key_and_leaves_when_deleted() {
        let mut f = Fixture::new();
        f.event(watcher::Event::Apply(cm("x", Some("a"), 1)));
        f.event(watcher::Event::Apply(cm("x", Some("b"), 1)));
        assert!(f.names("ns/a").is_empty());
        assert_eq!(f.names("ns/b"), ["x"]);
        f.event(watcher::Event::Apply(cm("x", None, 1)));
        assert!(f.names("ns/b").is_empty());
        f.event(watcher::Event::Apply(cm("x", Some("a"), 1)));
        f.event(watcher::Event::Delete(cm("x", Some("a"), 1)));
        assert!(f.names("ns/a").is_empty());
        assert!(f.index.state.read().unwrap().live.by_key.is_empty());
    }

    #[test]
    fn a_relist_replaces_the_index_when_it_is_done() {
        let mut f = Fixture::new();
        f.event(watcher::Event::Apply(cm("gone", Some("a"), 1)));
        f.event(watcher::Event::Init);
        f.event(watcher::Event::InitApply(cm("new", Some("a"), 2)));
        // Until the listing is complete, the old entries stand (as the store's do).
        assert_eq!(f.names("ns/a"), ["gone"]);
        f.event(watcher::Event::InitDone);
        assert_eq!(f.names("ns/a"), ["new"]);
    }

    #[test]
    fn an_entry_the_store_has_moved_on_from_is_skipped() {
        let (store, mut writer) = reflector::store();
        let index = Index::new(store, group_of);
        let first = watcher::Event::Apply(cm("x", Some("a"), 1));
        writer.apply_watcher_event(&first);
        index.observe(&first);
        // The store sees the change before the index does.
        writer.apply_watcher_event(&watcher::Event::Apply(cm("x", Some("b"), 1)));
        assert!(index.get("ns/a").is_empty());
    }

    #[test]
    fn find_stops_at_the_first_accepted_object() {
        let mut f = Fixture::new();
        for (name, t) in [("a", 1), ("b", 2), ("c", 3)] {
            f.event(watcher::Event::Apply(cm(name, Some("g"), t)));
        }
        let mut seen = 0;
        let found = f.index.find("ns/g", |c| {
            seen += 1;
            c.metadata.name.as_deref() == Some("b")
        });
        assert_eq!(found.unwrap().metadata.name.as_deref(), Some("b"));
        assert_eq!(seen, 2);
    }
}
