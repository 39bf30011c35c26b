//! One reflector per watched kind, all namespaces, each waking the enforcer on any event.

use std::sync::Arc;

use futures::{FutureExt, StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::snapshot::Snapshot;

/// The caches a snapshot is read from.
#[derive(Clone)]
pub struct Caches {
    pub pods: Store<Pod>,
    pub namespaces: Store<Namespace>,
    pub policies: Store<NetworkPolicy>,
}

impl Caches {
    /// Starts nothing: returns the caches and the futures that keep them fed (poll them for
    /// as long as the caches are read). `changed` is notified on every add, change, delete
    /// and relist.
    pub fn new(
        client: &kube::Client,
        changed: &Arc<Notify>,
    ) -> (Self, Vec<BoxFuture<'static, ()>>) {
        let (pods, a) = reflect(Api::all(client.clone()), changed.clone());
        let (namespaces, b) = reflect(Api::all(client.clone()), changed.clone());
        let (policies, c) = reflect(Api::all(client.clone()), changed.clone());
        (
            Self {
                pods,
                namespaces,
                policies,
            },
            vec![a, b, c],
        )
    }

    /// Waits until every cache has finished its first list.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.pods.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.policies.wait_until_ready().await?;
        Ok(())
    }

    pub fn snapshot(&self) -> Snapshot {
        let (pods, namespaces, policies) = (
            self.pods.state(),
            self.namespaces.state(),
            self.policies.state(),
        );
        Snapshot::new(
            pods.iter().map(AsRef::as_ref),
            namespaces.iter().map(AsRef::as_ref),
            policies.iter().map(AsRef::as_ref),
        )
    }
}

fn reflect<K>(api: Api<K>, changed: Arc<Notify>) -> (Store<K>, BoxFuture<'static, ()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let feed = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .for_each(move |event| {
            // Deletions matter as much as changes (a deleted policy un-isolates its pods),
            // so every event wakes the enforcer, which debounces.
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, kind = %K::kind(&()), "watch failed; retrying")
                }
            }
            futures::future::ready(())
        })
        .boxed();
    (store, feed)
}
