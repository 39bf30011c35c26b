//! Secondary indexes over a shared cache: the objects of one kind grouped by a key (a pool's
//! members, a claim's Sandbox, a Sandbox's Pods), oldest first, so that a reconcile looks up
//! what it needs instead of scanning every cached object.
//!
//! A grouped index also keeps each key's objects by a second value (a pool's members by the
//! node they run on) and ranks the groups by size, for the claims' NodeSpread order.
//!
//! An index is fed by the same watch events as its cache's store, right after the store, and
//! before the controllers hear of the change. It holds the store's own `Arc` of each object,
//! so a visit reads the objects in order without a lookup, a copy or an allocation per object
//! (a pool's pass visits every member, once per claim); it hands out each object as it last
//! placed it, which is the store's version or, for the moment between the two, the one
//! before. After a relist the index is rebuilt from the store's new listing and swapped in
//! whole, as the store is.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// By pool ([`pool_member`]), grouped by node ([`node_name`]).
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
    /// What a grouped index groups each key's objects by; `None` for a plain index.
    group_of: Option<GroupOf<K>>,
    store: Store<K>,
    state: Arc<RwLock<Entries<K>>>,
}

/// The group of an object within its key, `None` for an object that has none (yet).
pub type GroupOf<K> = fn(&K) -> Option<String>;

impl<K: Resource<DynamicType = ()> + 'static> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            key_of: self.key_of,
            group_of: self.group_of,
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

/// Where an object sits in the index: its key, and its group in a grouped index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    key: String,
    group: Option<Option<String>>,
}

/// The objects under one key, each as the store holds it, by slot.
struct Bucket<K> {
    /// All of them, oldest first.
    all: BTreeMap<Slot, Arc<K>>,
    /// A grouped index only: each group's objects, oldest first (objects without a group
    /// under `None`) ...
    groups: HashMap<Option<String>, BTreeMap<Slot, Arc<K>>>,
    /// ... and the groups in the order [`Index::scan_by_group`] visits them.
    ranked: BTreeSet<Rank>,
}

impl<K> Default for Bucket<K> {
    fn default() -> Self {
        Self {
            all: BTreeMap::new(),
            groups: HashMap::new(),
            ranked: BTreeSet::new(),
        }
    }
}

/// A group's rank within its key: groups first (objects without one last), the largest
/// first, then the one holding the oldest object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    ungrouped: bool,
    size: Reverse<usize>,
    oldest: Slot,
    group: Option<String>,
}

impl Rank {
    fn of<K>(group: &Option<String>, objects: &BTreeMap<Slot, Arc<K>>) -> Option<Self> {
        Some(Rank {
            ungrouped: group.is_none(),
            size: Reverse(objects.len()),
            oldest: objects.first_key_value()?.0.clone(),
            group: group.clone(),
        })
    }
}

impl<K> Bucket<K> {
    fn insert(&mut self, group: &Option<Option<String>>, slot: Slot, obj: Arc<K>) {
        if let Some(group) = group {
            self.regroup(group, |objects| {
                objects.insert(slot.clone(), obj.clone());
            });
        }
        self.all.insert(slot, obj);
    }

    fn remove(&mut self, group: &Option<Option<String>>, slot: &Slot) {
        if let Some(group) = group {
            self.regroup(group, |objects| {
                objects.remove(slot);
            });
        }
        self.all.remove(slot);
    }

    /// A newer version of an object that stays where it is.
    fn refresh(&mut self, group: &Option<Option<String>>, slot: &Slot, obj: Arc<K>) {
        let grouped = group
            .as_ref()
            .and_then(|group| self.groups.get_mut(group)?.get_mut(slot));
        if let Some(held) = grouped {
            *held = obj.clone();
        }
        if let Some(held) = self.all.get_mut(slot) {
            *held = obj;
        }
    }

    /// Changes one group's objects, keeping its rank in step.
    fn regroup(
        &mut self,
        group: &Option<String>,
        change: impl FnOnce(&mut BTreeMap<Slot, Arc<K>>),
    ) {
        let objects = self.groups.entry(group.clone()).or_default();
        if let Some(rank) = Rank::of(group, objects) {
            self.ranked.remove(&rank);
        }
        change(objects);
        match Rank::of(group, objects) {
            Some(rank) => {
                self.ranked.insert(rank);
            }
            None => {
                self.groups.remove(group);
            }
        }
    }
}

struct Entries<K> {
    by_key: HashMap<String, Bucket<K>>,
    /// Each indexed object's place, by (namespace, name), to move it when its key or group
    /// changes.
    place_of_object: HashMap<(String, String), (Place, Slot)>,
}

impl<K> Default for Entries<K> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            place_of_object: HashMap::new(),
        }
    }
}

impl<K> Entries<K> {
    /// Puts `slot`'s object at `place` as `obj`; `None`: takes it out of the index.
    fn put(&mut self, placed: Option<(Place, Arc<K>)>, slot: Slot) {
        let id = (slot.namespace.clone(), slot.name.clone());
        // Most events (a status write) move nothing: leave the sets and ranks alone.
        if let (Some((place, obj)), Some((old, old_slot))) =
            (&placed, self.place_of_object.get(&id))
            && (place, &slot) == (old, old_slot)
        {
            if let Some(bucket) = self.by_key.get_mut(&place.key) {
                bucket.refresh(&place.group, &slot, obj.clone());
            }
            return;
        }
        if let Some((old, old_slot)) = self.place_of_object.remove(&id) {
            self.take_out(&old, &old_slot);
        }
        if let Some((place, obj)) = placed {
            self.by_key.entry(place.key.clone()).or_default().insert(
                &place.group,
                slot.clone(),
                obj,
            );
            self.place_of_object.insert(id, (place, slot));
        }
    }

    fn take_out(&mut self, place: &Place, slot: &Slot) {
        if let Some(bucket) = self.by_key.get_mut(&place.key) {
            bucket.remove(&place.group, slot);
            if bucket.all.is_empty() {
                self.by_key.remove(&place.key);
            }
        }
    }
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
            group_of: None,
            store,
            state: Arc::default(),
        }
    }

    /// The same index, its keys' objects also grouped by `group_of` for
    /// [`Index::scan_by_group`].
    pub fn grouped_by(mut self, group_of: GroupOf<K>) -> Self {
        self.group_of = Some(group_of);
        self
    }

    /// Where `obj` goes (`None`: it is left out).
    fn place(&self, obj: &K) -> Option<Place> {
        Some(Place {
            key: (self.key_of)(obj)?,
            group: self.group_of.map(|group_of| group_of(obj)),
        })
    }

    /// Follows one watch event, after the store has applied it.
    pub fn observe(&self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(obj) => {
                // The store's own copy, which the index hands out.
                let placed = self
                    .place(obj)
                    .and_then(|place| Some((place, self.store.get(&ObjectRef::from_obj(obj))?)));
                self.write().put(placed, slot(obj));
            }
            watcher::Event::Delete(obj) => self.write().put(None, slot(obj)),
            // The store swaps a relist in whole once it is done; so does the index, from it.
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            watcher::Event::InitDone => {
                let mut listing = Entries::default();
                for obj in self.store.state() {
                    let placed = self.place(&obj).map(|place| (place, obj.clone()));
                    listing.put(placed, slot(obj.as_ref()));
                }
                *self.write() = listing;
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries<K>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `visit` with each object under `key`, oldest first, until it breaks.
    pub fn scan<B>(&self, key: &str, visit: impl FnMut(Arc<K>) -> ControlFlow<B>) -> Option<B> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        visit_all(&state.by_key.get(key)?.all, visit)
    }

    /// Calls `visit` with each object under `key` group by group until it breaks: the largest
    /// group first (on a tie, the one holding the oldest object), each group oldest first,
    /// the objects without a group last. A plain index has no groups and visits nothing.
    pub fn scan_by_group<B>(
        &self,
        key: &str,
        mut visit: impl FnMut(Arc<K>) -> ControlFlow<B>,
    ) -> Option<B> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let bucket = state.by_key.get(key)?;
        bucket
            .ranked
            .iter()
            .find_map(|rank| visit_all(bucket.groups.get(&rank.group)?, &mut visit))
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

/// Calls `visit` with each of `objects` in order until it breaks.
fn visit_all<K, B>(
    objects: &BTreeMap<Slot, Arc<K>>,
    mut visit: impl FnMut(Arc<K>) -> ControlFlow<B>,
) -> Option<B> {
    objects.values().find_map(|obj| match visit(obj.clone()) {
        ControlFlow::Break(b) => Some(b),
        ControlFlow::Continue(()) => None,
    })
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

/// A Sandbox's node (`status.nodeName`): how a pool's members are grouped for the claims'
/// NodeSpread order.
pub fn node_name(s: &Sandbox) -> Option<String> {
    s.status
        .as_ref()
        .map(|status| status.node_name.clone())
        .filter(|node| !node.is_empty())
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
        let state = f.index.state.read().unwrap();
        assert!(state.by_key.is_empty() && state.place_of_object.is_empty());
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
    fn the_index_hands_out_the_stores_own_latest_object() {
        let mut f = Fixture::new();
        f.event(watcher::Event::Apply(cm("x", Some("a"), 1)));
        let mut changed = cm("x", Some("a"), 1);
        changed.data = Some([("k".to_string(), "v".to_string())].into());
        // A change that moves nothing still replaces the object the index hands out.
        f.event(watcher::Event::Apply(changed));
        let listed = f.index.get("ns/a");
        let stored = f
            .index
            .store
            .get(&ObjectRef::new("x").within("ns"))
            .unwrap();
        assert!(Arc::ptr_eq(&listed[0], &stored), "no copy of its own");
        assert!(listed[0].data.is_some());
    }

    fn node_of(cm: &ConfigMap) -> Option<String> {
        cm.metadata.annotations.as_ref()?.get("node").cloned()
    }

    fn on(mut cm: ConfigMap, node: &str) -> ConfigMap {
        cm.metadata.annotations = Some([("node".to_string(), node.to_string())].into());
        cm
    }

    fn by_group(index: &Index<ConfigMap>, key: &str) -> Vec<String> {
        let mut seen = Vec::new();
        index.scan_by_group(key, |c| {
            seen.push(c.metadata.name.clone().unwrap());
            ControlFlow::<()>::Continue(())
        });
        seen
    }

    #[test]
    fn a_grouped_index_visits_the_largest_group_first_and_the_ungrouped_last() {
        let (store, mut writer) = reflector::store();
        let index = Index::new(store, group_of).grouped_by(node_of);
        let mut feed = |event: watcher::Event<ConfigMap>| {
            writer.apply_watcher_event(&event);
            index.observe(&event);
        };
        feed(watcher::Event::Apply(on(cm("a1", Some("g"), 1), "a")));
        feed(watcher::Event::Apply(on(cm("a2", Some("g"), 2), "a")));
        feed(watcher::Event::Apply(on(cm("b1", Some("g"), 3), "b")));
        feed(watcher::Event::Apply(on(cm("b2", Some("g"), 4), "b")));
        feed(watcher::Event::Apply(on(cm("b3", Some("g"), 5), "b")));
        feed(watcher::Event::Apply(cm("none", Some("g"), 0)));
        feed(watcher::Event::Apply(on(
            cm("elsewhere", Some("h"), 0),
            "b",
        )));
        // b holds three, a two: b's oldest first, then a's, then the one without a node.
        assert_eq!(
            by_group(&index, "ns/g"),
            ["b1", "b2", "b3", "a1", "a2", "none"]
        );
        // The plain order is untouched.
        assert_eq!(
            index
                .get("ns/g")
                .iter()
                .map(|c| c.metadata.name.clone().unwrap())
                .collect::<Vec<_>>(),
            ["none", "a1", "a2", "b1", "b2", "b3"]
        );
        // b3 moves to a: a is now the larger group.
        feed(watcher::Event::Apply(on(cm("b3", Some("g"), 5), "a")));
        assert_eq!(
            by_group(&index, "ns/g"),
            ["a1", "a2", "b3", "b1", "b2", "none"]
        );
        // a2 goes: two each, and the group holding the oldest member comes first.
        feed(watcher::Event::Delete(on(cm("a2", Some("g"), 2), "a")));
        assert_eq!(by_group(&index, "ns/g"), ["a1", "b3", "b1", "b2", "none"]);
        // A member that gets its node later joins that node's group.
        feed(watcher::Event::Apply(on(cm("none", Some("g"), 0), "b")));
        assert_eq!(by_group(&index, "ns/g"), ["none", "b1", "b2", "a1", "b3"]);
        assert!(by_group(&index, "ns/other").is_empty());
        // A change within its group replaces the object the group hands out.
        let mut changed = on(cm("b1", Some("g"), 3), "b");
        changed.data = Some([("k".to_string(), "v".to_string())].into());
        feed(watcher::Event::Apply(changed));
        let b1 = index.scan_by_group("ns/g", |c| {
            (c.metadata.name.as_deref() == Some("b1"))
                .then_some(c)
                .map_or(ControlFlow::Continue(()), ControlFlow::Break)
        });
        assert!(b1.unwrap().data.is_some());
    }

    #[test]
    fn a_plain_index_has_no_groups_to_visit() {
        let mut f = Fixture::new();
        f.event(watcher::Event::Apply(on(cm("x", Some("g"), 1), "a")));
        assert_eq!(f.names("ns/g"), ["x"]);
        assert!(by_group(&f.index, "ns/g").is_empty());
    }

    #[test]
    fn a_grouped_index_is_rebuilt_by_a_relist() {
        let (store, mut writer) = reflector::store();
        let index = Index::new(store, group_of).grouped_by(node_of);
        for event in [
            watcher::Event::Apply(on(cm("old", Some("g"), 1), "a")),
            watcher::Event::Init,
            watcher::Event::InitApply(on(cm("x", Some("g"), 2), "b")),
            watcher::Event::InitApply(on(cm("y", Some("g"), 3), "b")),
            watcher::Event::InitApply(on(cm("z", Some("g"), 1), "c")),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            index.observe(&event);
        }
        assert_eq!(by_group(&index, "ns/g"), ["x", "y", "z"]);
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
