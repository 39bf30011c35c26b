//! Shared caches: one watch per kind, a reflector store every controller reads, and a fan-out
//! of every changed **or deleted** object to the controllers that react to that kind.
//!
//! kube's own shared streams forward only applied objects, never deletions, so a controller
//! fed by them would miss that an owned Pod was deleted or that a pool member went away. This
//! fan-out forwards both.
//!
//! Reconciles wait for the caches they read through [`Synced`], never through kube's
//! `Store::wait_until_ready`: that one keeps a single waker, so of many reconciles waiting on
//! one store before its first listing only the last one is woken, and the others hang for
//! good. A controller restarted with a backlog of claims lost all its workers to that.

use std::sync::Arc;

use futures::{FutureExt, Stream, StreamExt};
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::index::{self, Index};
use crate::quarantine::{self, Lenient, Quarantine};

/// Events buffered per subscriber before the watch waits for slow consumers.
const FANOUT_BUFFER: usize = 4096;

/// Whether a cache holds a full listing; any number of tasks may wait for it.
#[derive(Debug, Clone)]
pub struct Synced {
    kinds: Vec<(String, watch::Receiver<bool>)>,
}

impl Synced {
    /// Synced once every gate in `parts` is.
    pub fn all(parts: impl IntoIterator<Item = Synced>) -> Self {
        Self {
            kinds: parts.into_iter().flat_map(|p| p.kinds).collect(),
        }
    }

    /// A gate opened by hand, for tests and for callers that hold no cache.
    pub fn manual(kind: &str) -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (
            tx,
            Self {
                kinds: vec![(kind.to_string(), rx)],
            },
        )
    }

    /// Waits until every cache has listed once (at once afterwards); returns early only if a
    /// cache's sync task is gone, which ends the process anyway.
    pub async fn wait(&self) {
        for (_, rx) in &self.kinds {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|synced| *synced).await;
        }
    }

    /// The kinds not listed yet, for `/readyz`.
    pub fn pending(&self) -> Vec<&str> {
        self.kinds
            .iter()
            .filter(|(_, rx)| !*rx.borrow())
            .map(|(kind, _)| kind.as_str())
            .collect()
    }
}

/// A cache of every object of kind `K` in the cluster.
pub struct SharedCache<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    pub store: Store<K>,
    synced: Synced,
    // Kept so subscribers can be added after others have started receiving.
    inactive: async_broadcast::InactiveReceiver<Arc<K>>,
    /// What the sync future is built from, once every index is registered.
    parts: Option<Parts<K>>,
    indexes: Vec<Index<K>>,
}

struct Parts<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    api: Api<Lenient<K>>,
    writer: reflector::store::Writer<K>,
    fanout: async_broadcast::Sender<Arc<K>>,
    synced: watch::Sender<bool>,
    quarantine: Quarantine,
    trim: Box<dyn FnMut(&mut K) + Send>,
}

impl<K> SharedCache<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// A cache of `api`; nothing is fetched until [`SharedCache::sync`] is polled. Objects
    /// that do not decode as `K` are reported to `quarantine` and left out.
    pub fn new(api: Api<K>, quarantine: Quarantine) -> Self {
        let (store, writer) = reflector::store();
        let (mut fanout, receiver) = async_broadcast::broadcast(FANOUT_BUFFER);
        // Consumers are controllers that drain their triggers into their own queues; waiting
        // for them is backpressure, never a lost event.
        fanout.set_await_active(false);
        let inactive = receiver.deactivate();
        let (synced_tx, synced) = Synced::manual(&K::kind(&()));
        Self {
            store,
            synced,
            inactive,
            parts: Some(Parts {
                api: Api::<Lenient<K>>::all(api.into_client()),
                writer,
                fanout,
                synced: synced_tx,
                quarantine,
                trim: Box::new(|_| {}),
            }),
            indexes: Vec::new(),
        }
    }

    /// Keeps each object as `trim` leaves it (managed fields are always dropped): for kinds
    /// with many objects of which the controllers read a few fields, such as Pods, or whose
    /// parts many objects share, such as the Sandboxes of one pool.
    pub fn trimmed(mut self, trim: impl FnMut(&mut K) + Send + 'static) -> Self {
        if let Some(parts) = self.parts.as_mut() {
            parts.trim = Box::new(trim);
        }
        self
    }

    /// An index of this cache by `key_of`, kept up to date from the same watch as the store;
    /// register it before taking [`SharedCache::sync`].
    pub fn index(&mut self, key_of: index::KeyOf<K>) -> Index<K> {
        self.register(Index::new(self.store.clone(), key_of))
    }

    /// The same, each key's objects also grouped by `group_of` ([`Index::scan_by_group`]).
    pub fn grouped_index(
        &mut self,
        key_of: index::KeyOf<K>,
        group_of: index::GroupOf<K>,
    ) -> Index<K> {
        self.register(Index::new(self.store.clone(), key_of).grouped_by(group_of))
    }

    fn register(&mut self, index: Index<K>) -> Index<K> {
        self.indexes.push(index.clone());
        index
    }

    /// Opens once the store holds its first full listing.
    pub fn synced(&self) -> Synced {
        self.synced.clone()
    }

    /// Every object that changes or is deleted from now on.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.inactive.activate_cloned()
    }

    /// The future that keeps the store, its indexes and the subscribers fed; poll it for as
    /// long as the controllers run. Taken once.
    pub fn sync(&mut self) -> futures::future::BoxFuture<'static, ()> {
        let Some(parts) = self.parts.take() else {
            return futures::future::pending().boxed();
        };
        let Parts {
            api,
            writer,
            fanout,
            synced,
            quarantine,
            mut trim,
        } = parts;
        let reader = self.store.clone();
        let shared_with_store = self.store.clone();
        let indexes = std::mem::take(&mut self.indexes);
        // A consistent listing, not `any_semantic`'s possibly stale one: a restarted controller
        // must see every adoption its predecessor made, or it adopts a second member.
        watcher(api, watcher::Config::default())
            .default_backoff()
            .filter_map(move |event| {
                let event = event
                    .map(|event| quarantine::sift(event, &reader, &quarantine))
                    .transpose();
                async move { event }
            })
            // No decision reads them, and they are often the larger part of an object: the
            // caches hold every Sandbox and Pod of the cluster.
            .modify(move |object| {
                object.meta_mut().managed_fields = None;
                trim(object);
            })
            .reflect(writer)
            .inspect(move |event| {
                if let Ok(event) = event {
                    // Before the subscribers hear of it: a reconcile the change triggers
                    // finds it in the indexes.
                    for index in &indexes {
                        index.observe(event);
                    }
                    if matches!(event, watcher::Event::InitDone) {
                        synced.send_replace(true);
                    }
                }
            })
            .for_each(move |event| {
                let fanout = fanout.clone();
                let changed = match event {
                    Ok(event) => changed_objects(event, &shared_with_store),
                    Err(e) => {
                        tracing::warn!(error = %e, kind = %K::kind(&()), "watch failed; retrying");
                        Vec::new()
                    }
                };
                async move {
                    for object in changed {
                        // No active subscriber is fine (nobody reacts to this kind yet).
                        drop(fanout.broadcast_direct(object).await);
                    }
                }
            })
            .boxed()
    }
}

/// What the subscribers hear of one watch event, as the store's own objects wherever the store
/// holds them: a copy per object in flight would double the memory of a cache being listed
/// (thousands of Sandboxes at once). A listing reaches them whole once the store has it; a
/// deleted object, which the store no longer holds, is passed on as the event carried it.
fn changed_objects<K>(event: watcher::Event<K>, store: &Store<K>) -> Vec<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    match event {
        watcher::Event::Apply(object) => {
            vec![
                store
                    .get(&ObjectRef::from_obj(&object))
                    .unwrap_or_else(|| Arc::new(object)),
            ]
        }
        watcher::Event::Delete(object) => vec![Arc::new(object)],
        watcher::Event::InitDone => store.state(),
        watcher::Event::Init | watcher::Event::InitApply(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_waiter_is_released_when_the_caches_sync() {
        let (pods_tx, pods) = Synced::manual("Pod");
        let (sandboxes_tx, sandboxes) = Synced::manual("Sandbox");
        let both = Synced::all([pods, sandboxes]);
        assert_eq!(both.pending(), ["Pod", "Sandbox"]);
        // Many reconciles wait at once, as a restarted controller's workers do.
        let waiters: Vec<_> = (0..64)
            .map(|_| {
                let both = both.clone();
                tokio::spawn(async move { both.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        pods_tx.send_replace(true);
        assert_eq!(both.pending(), ["Sandbox"]);
        sandboxes_tx.send_replace(true);
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("a waiter was never woken")
                .unwrap();
        }
        assert!(both.pending().is_empty());
        // Afterwards waiting is immediate.
        tokio::time::timeout(Duration::from_millis(100), both.wait())
            .await
            .unwrap();
    }

    fn config_map(name: &str) -> k8s_openapi::api::core::v1::ConfigMap {
        k8s_openapi::api::core::v1::ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn subscribers_get_the_objects_the_store_holds_not_copies() {
        let (store, mut writer) = reflector::store();
        let mut feed = |event: watcher::Event<_>| {
            writer.apply_watcher_event(&event);
            changed_objects(event, &store)
        };
        // A listing is passed on whole once the store has swapped it in.
        assert!(feed(watcher::Event::Init).is_empty());
        assert!(feed(watcher::Event::InitApply(config_map("a"))).is_empty());
        assert!(feed(watcher::Event::InitApply(config_map("b"))).is_empty());
        let listed = feed(watcher::Event::InitDone);
        assert_eq!(listed.len(), 2);
        for object in &listed {
            let held = store.get(&ObjectRef::from_obj(&**object)).unwrap();
            assert!(Arc::ptr_eq(object, &held));
        }
        // A change is the store's new object.
        let applied = feed(watcher::Event::Apply(config_map("c")));
        let held = store.get(&ObjectRef::new("c").within("ns")).unwrap();
        assert!(Arc::ptr_eq(&applied[0], &held));
        // A deletion still reaches the subscribers, though the store has let it go.
        let deleted = feed(watcher::Event::Delete(config_map("a")));
        assert_eq!(deleted[0].metadata.name.as_deref(), Some("a"));
        assert!(store.get(&ObjectRef::new("a").within("ns")).is_none());
    }
}
