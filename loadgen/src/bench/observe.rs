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

use super::clock::RunClock;
use super::invariants::Checker;
use super::ledger::{Ledger, Transition};

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

    /// Stamps a Sandbox event; the checker sees it too unless `relisting` (see
    /// [`Relist`]).
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

/// Watches the run's claims until the task is aborted; `synced` fires after the initial list.
pub async fn watch_claims(
    api: Api<SandboxClaim>,
    selector: String,
    shared: Arc<Shared>,
    synced: oneshot::Sender<()>,
) {
    let config = watcher::Config::default().labels(&selector);
    let mut synced = Some(synced);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    loop {
        match events.try_next().await {
            Ok(Some(Event::Apply(claim) | Event::InitApply(claim))) => shared.claim_event(&claim),
            Ok(Some(Event::InitDone)) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Some(Event::Delete(_) | Event::Init)) => {}
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "claim watch failed; retrying"),
        }
    }
}

/// Watches every sandbox of the run's namespace until the task is aborted.
pub async fn watch_sandboxes(api: Api<Sandbox>, shared: Arc<Shared>, synced: oneshot::Sender<()>) {
    let mut synced = Some(synced);
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist = Relist::default();
    loop {
        match events.try_next().await {
            Ok(Some(Event::Apply(sandbox))) => shared.sandbox_event(&sandbox, false),
            Ok(Some(Event::InitApply(sandbox))) => {
                shared.sandbox_event(&sandbox, true);
                relist.add(sandbox);
            }
            Ok(Some(Event::Delete(sandbox))) => shared.sandbox_deleted(&sandbox),
            Ok(Some(Event::InitDone)) => {
                let (listed, objects) = relist.take();
                let now = shared.clock().now_us();
                shared.check(now, |c, ms| {
                    c.sandboxes_relisted(&listed);
                    objects.iter().for_each(|s| c.on_sandbox(s, ms));
                });
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Some(Event::Init)) => relist = Relist::default(),
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "sandbox watch failed; retrying"),
        }
    }
}

/// Watches every Pod of the run's namespace for the invariant checker, until aborted.
pub async fn watch_pods(api: Api<Pod>, shared: Arc<Shared>, synced: oneshot::Sender<()>) {
    let mut synced = Some(synced);
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist = Relist::default();
    loop {
        match events.try_next().await {
            Ok(Some(Event::Apply(pod))) => {
                let now = shared.clock().now_us();
                shared.check(now, |c, ms| c.on_pod(&pod, ms));
            }
            Ok(Some(Event::InitApply(pod))) => relist.add(pod),
            Ok(Some(Event::Delete(pod))) => shared.check(0, |c, _| c.on_pod_deleted(&pod)),
            Ok(Some(Event::InitDone)) => {
                let (listed, pods) = relist.take();
                let now = shared.clock().now_us();
                shared.check(now, |c, ms| {
                    c.pods_relisted(&listed);
                    pods.iter().for_each(|p| c.on_pod(p, ms));
                });
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Some(Event::Init)) => relist = Relist::default(),
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "pod watch failed; retrying"),
        }
    }
}

/// A watch's listing in progress (its first, or a relist after a gap). The checker sees the
/// listing whole, once it is done: objects deleted during the gap get no Delete event, so they
/// are known only by their absence, and must be forgotten before their successors are checked.
struct Relist<K> {
    uids: HashSet<String>,
    objects: Vec<K>,
}

impl<K> Default for Relist<K> {
    fn default() -> Self {
        Self {
            uids: HashSet::new(),
            objects: Vec::new(),
        }
    }
}

impl<K: kube::Resource> Relist<K> {
    fn add(&mut self, object: K) {
        self.uids.extend(object.meta().uid.clone());
        self.objects.push(object);
    }

    fn take(&mut self) -> (HashSet<String>, Vec<K>) {
        let done = std::mem::take(self);
        (done.uids, done.objects)
    }
}
