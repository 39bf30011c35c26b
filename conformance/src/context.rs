//! What a case gets to work with: a client, its own namespace, the container image to use, and
//! two ways of observing a controller that acts asynchronously: [`CaseContext::until`] (wait for
//! something to become true) and [`CaseContext::holds`] (check that something stays true).

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fail::{ApiContext, Fail};

/// How often waits poll the API server.
const POLL: Duration = Duration::from_millis(100);

/// One observation of a wait: done (with what was found) or not yet (with what was seen, for
/// the timeout message).
#[derive(Debug)]
pub enum Probe<T> {
    Done(T),
    Waiting(String),
}

#[derive(Clone)]
pub struct CaseContext {
    pub client: kube::Client,
    /// Created for this case alone and deleted after it.
    pub namespace: String,
    /// Image of every container the suite asks for (kwok never pulls it).
    pub image: String,
    /// Longest time a single [`until`](Self::until) waits.
    pub wait: Duration,
}

impl CaseContext {
    /// The API of a namespaced kind in the case's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates `object` in the case's namespace and returns what the API server stored.
    pub async fn create<K>(&self, object: &K) -> Result<K, Fail>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
        <K as Resource>::DynamicType: Default,
    {
        self.api::<K>()
            .create(&PostParams::default(), object)
            .await
            .during(format_args!(
                "create {} {}",
                K::kind(&Default::default()),
                object.name_any()
            ))
    }

    /// Polls `probe` until it reports [`Probe::Done`], for at most [`Self::wait`]. API errors
    /// are retried (the last one is reported on timeout); a check failure ends the wait at once.
    pub async fn until<T, F, Fut>(&self, what: &str, probe: F) -> Result<T, Fail>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, Fail>>,
    {
        self.until_within(what, self.wait, probe).await
    }

    /// [`until`](Self::until) with its own time limit, for waits on something slower than the
    /// controller (the garbage collector).
    pub async fn until_within<T, F, Fut>(
        &self,
        what: &str,
        limit: Duration,
        mut probe: F,
    ) -> Result<T, Fail>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, Fail>>,
    {
        let start = Instant::now();
        let mut last;
        loop {
            match probe().await {
                Ok(Probe::Done(found)) => return Ok(found),
                Ok(Probe::Waiting(seen)) => last = seen,
                Err(Fail::Api(error)) => last = format!("API error: {error}"),
                Err(fail) => return Err(fail),
            }
            if start.elapsed() >= limit {
                return Err(Fail::Check(format!(
                    "timed out after {limit:?} waiting for {what}; last seen: {last}"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `probe` for `window` and fails as soon as it reports a violation (`Err(message)`).
    /// For "nothing else happens" checks: no third Pod, no replaced pool member.
    pub async fn holds<F, Fut>(
        &self,
        what: &str,
        window: Duration,
        mut probe: F,
    ) -> Result<(), Fail>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Result<(), String>, Fail>>,
    {
        let start = Instant::now();
        while start.elapsed() < window {
            match probe().await {
                Ok(Ok(())) | Err(Fail::Api(_)) => {}
                Ok(Err(violation)) => {
                    return Err(Fail::Check(format!(
                        "{what} stopped holding after {:.1}s: {violation}",
                        start.elapsed().as_secs_f64()
                    )));
                }
                Err(fail) => return Err(fail),
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}
