//! The watches that stamp what the API shows: one on the run's claims, one on the sandboxes of
//! its namespace, and, when the run checks invariants, one on its Pods. Each event is stamped when it is received, before anything else is done
//! with it, and the claims' waiters (closed loops, churn) are told when a claim turns Ready.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use tokio::sync::{mpsc, oneshot};

use crate::clock::RunClock;
use crate::invariants::Checker;
use crate::ledger::{Ledger, Transition};

/// What the workers, the watches and the reaper share.
pub struct Shared {
    /// Restarted once the watches are synced, just before the first claim is due.
    clock: Mutex<RunClock>,
    ledger: Mutex<Ledger>,
    waiters: Mutex<HashMap<usize, oneshot::Sender<()>>>,
    /// Claims that turned Ready, with when, for the churn reaper.
    on_ready: Option<mpsc::UnboundedSender<(usize, Instant)>>,
    /// The invariants, when the run checks them; fed every event the watches receive.
    checker: Mutex<Option<Checker>>,
}

impl Shared {
    pub fn new(
        clock: RunClock,
        ledger: Ledger,
        on_ready: Option<mpsc::UnboundedSender<(usize, Instant)>>,
        checker: Option<Checker>,
    ) -> Self {
        Self {
            clock: Mutex::new(clock),
            ledger: Mutex::new(ledger),
            waiters: Mutex::new(HashMap::new()),
            on_ready,
            checker: Mutex::new(checker),
        }
    }

    /// The invariant checker as it stands, if the run has one; events after this are not
    /// checked.
    pub fn take_checker(&self) -> Option<Checker> {
        self.checker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Hands an event to the checker, if the run has one, at the run clock's `now_us`.
    fn check(&self, now_us: u64, event: impl FnOnce(&mut Checker, u64)) {
        if let Some(checker) = self
            .checker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            event(checker, now_us / 1000);
        }
    }

    pub fn clock(&self) -> RunClock {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the run's clock now: stamps count from here.
    pub fn start_clock(&self) -> RunClock {
        let clock = RunClock::starting_at(Instant::now());
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
        clock
    }

    /// The ledger; a panicked holder cannot have left it half-updated in a way that matters,
    /// as every update is a single field.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves when claim `index` turns Ready.
    pub fn wait_ready(&self, index: usize) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index, tx);
        rx
    }

    /// The ledger as it stands, leaving an empty one for late stamps.
    pub fn take_ledger(&self) -> Ledger {
        std::mem::take(&mut *self.ledger())
    }

    fn claim_event(&self, claim: &SandboxClaim) {
        let now = Instant::now();
        let now_us = self.clock().us_at(now);
        let transition = self.ledger().on_claim(claim, now_us);
        self.check(now_us, |c, ms| c.on_claim(claim, ms));
        if let Transition::ClaimReady(index) = transition {
            if let Some(waiter) = self
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&index)
            {
                let _ = waiter.send(());
            }
            if let Some(tx) = &self.on_ready {
                let _ = tx.send((index, now));
            }
        }
    }

    /// Stamps a Sandbox event; the checker sees it too unless `relisting` (a listing is
    /// checked whole, see [`Seen::Listed`]).
    fn sandbox_event(&self, sandbox: &Sandbox, relisting: bool) {
        let now = self.clock().now_us();
        self.ledger().on_sandbox(sandbox, now);
        if !relisting {
            self.check(now, |c, ms| c.on_sandbox(sandbox, ms));
        }
    }

    fn sandbox_deleted(&self, sandbox: &Sandbox) {
        if let Some(name) = &sandbox.metadata.name {
            self.ledger().on_sandbox_deleted(name);
        }
        self.check(0, |c, _| c.on_sandbox_deleted(sandbox));
    }
}

/// What a watch shows, one step at a time.
enum Seen<K> {
    /// Created or changed.
    Changed(K),
    Deleted(K),
    /// A whole listing: the first, or a relist after a gap in the watch. Objects deleted during
    /// the gap get no Delete event; they are known only by their absence from `uids`, so the
    /// listing is handed over whole, once it is complete.
    Listed {
        objects: Vec<K>,
        uids: HashSet<String>,
    },
}

/// Follows `api` until the task is aborted, handing each step to `on`; `synced` fires after
/// the first listing.
async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    synced: oneshot::Sender<()>,
    mut on: impl FnMut(Seen<K>),
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut synced = Some(synced);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing = Vec::new();
    loop {
        match events.try_next().await {
            Ok(Some(Event::Apply(object))) => on(Seen::Changed(object)),
            Ok(Some(Event::Delete(object))) => on(Seen::Deleted(object)),
            Ok(Some(Event::Init)) => listing.clear(),
            Ok(Some(Event::InitApply(object))) => listing.push(object),
            Ok(Some(Event::InitDone)) => {
                let objects = std::mem::take(&mut listing);
                let uids = objects
                    .iter()
                    .filter_map(|o| o.meta().uid.clone())
                    .collect();
                on(Seen::Listed { objects, uids });
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, %kind, "watch failed; retrying"),
        }
    }
}

/// Watches the run's claims until the task is aborted; `synced` fires after the initial list.
pub async fn watch_claims(
    api: Api<SandboxClaim>,
    selector: String,
    shared: Arc<Shared>,
    synced: oneshot::Sender<()>,
) {
    let config = watcher::Config::default().labels(&selector);
    follow(api, config, synced, |seen| match seen {
        Seen::Changed(claim) => shared.claim_event(&claim),
        Seen::Listed { objects, .. } => objects.iter().for_each(|c| shared.claim_event(c)),
        Seen::Deleted(_) => {}
    })
    .await;
}

/// Watches every sandbox of the run's namespace until the task is aborted.
pub async fn watch_sandboxes(api: Api<Sandbox>, shared: Arc<Shared>, synced: oneshot::Sender<()>) {
    follow(api, watcher::Config::default(), synced, |seen| match seen {
        Seen::Changed(sandbox) => shared.sandbox_event(&sandbox, false),
        Seen::Deleted(sandbox) => shared.sandbox_deleted(&sandbox),
        Seen::Listed { objects, uids } => {
            objects.iter().for_each(|s| shared.sandbox_event(s, true));
            let now = shared.clock().now_us();
            shared.check(now, |c, ms| {
                c.sandboxes_relisted(&uids);
                objects.iter().for_each(|s| c.on_sandbox(s, ms));
            });
        }
    })
    .await;
}

/// Watches every Pod of the run's namespace for the invariant checker, until aborted.
pub async fn watch_pods(api: Api<Pod>, shared: Arc<Shared>, synced: oneshot::Sender<()>) {
    follow(api, watcher::Config::default(), synced, |seen| {
        let now = shared.clock().now_us();
        shared.check(now, |c, ms| match seen {
            Seen::Changed(pod) => c.on_pod(&pod, ms),
            Seen::Deleted(pod) => c.on_pod_deleted(&pod),
            Seen::Listed { objects, uids } => {
                c.pods_relisted(&uids);
                objects.iter().for_each(|p| c.on_pod(p, ms));
            }
        });
    })
    .await;
}
