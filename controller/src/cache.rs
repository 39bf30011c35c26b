//! Shared caches: one watch per kind, a reflector store every controller reads, and a fan-out
//! of every changed **or deleted** object to the controllers that react to that kind.
//!
//! kube's own shared streams forward only applied objects, never deletions, so a controller
//! fed by them would miss that an owned Pod was deleted or that a pool member went away. This
//! fan-out forwards both.

use std::sync::Arc;

use futures::{FutureExt, Stream, StreamExt};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

/// Events buffered per subscriber before the watch waits for slow consumers.
const FANOUT_BUFFER: usize = 4096;

/// A cache of every object of kind `K` in the cluster.
pub struct SharedCache<K: kube::Resource<DynamicType = ()> + 'static> {
    pub store: Store<K>,
    // Kept so subscribers can be added after others have started receiving.
    inactive: async_broadcast::InactiveReceiver<Arc<K>>,
    sync: Option<futures::future::BoxFuture<'static, ()>>,
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
    /// A cache of `api`; nothing is fetched until [`SharedCache::sync`] is polled.
    pub fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store();
        let (mut sender, receiver) = async_broadcast::broadcast(FANOUT_BUFFER);
        // Consumers are controllers that drain their triggers into their own queues; waiting
        // for them is backpressure, never a lost event.
        sender.set_await_active(false);
        let inactive = receiver.deactivate();
        let fanout = sender;
        let sync = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .reflect(writer)
            .touched_objects()
            .for_each(move |object| {
                let fanout = fanout.clone();
                async move {
                    match object {
                        // No active subscriber is fine (nobody reacts to this kind yet).
                        Ok(obj) => drop(fanout.broadcast_direct(Arc::new(obj)).await),
                        Err(e) => {
                            tracing::warn!(error = %e, kind = %K::kind(&()), "watch failed; retrying")
                        }
                    }
                }
            })
            .boxed();
        Self {
            store,
            inactive,
            sync: Some(sync),
        }
    }

    /// Every object that changes or is deleted from now on.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.inactive.activate_cloned()
    }

    /// The future that keeps the store and the subscribers fed; poll it for as long as the
    /// controllers run. Taken once.
    pub fn sync(&mut self) -> futures::future::BoxFuture<'static, ()> {
        self.sync
            .take()
            .unwrap_or_else(|| futures::future::pending().boxed())
    }
}
