//! The watches that stamp what the API shows: one on the run's claims, one on the sandboxes of
//! its namespace. Each event is stamped when it is received, before anything else is done
//! with it, and the claims' waiters (closed loops, churn) are told when a claim turns Ready.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use tokio::sync::{mpsc, oneshot};

use super::clock::RunClock;
use super::ledger::{Ledger, Transition};

/// What the workers, the watches and the reaper share.
pub struct Shared {
    /// Restarted once the watches are synced, just before the first claim is due.
    clock: Mutex<RunClock>,
    ledger: Mutex<Ledger>,
    waiters: Mutex<HashMap<usize, oneshot::Sender<()>>>,
    /// Claims that turned Ready, with when, for the churn reaper.
    on_ready: Option<mpsc::UnboundedSender<(usize, Instant)>>,
}

impl Shared {
    pub fn new(
        clock: RunClock,
        ledger: Ledger,
        on_ready: Option<mpsc::UnboundedSender<(usize, Instant)>>,
    ) -> Self {
        Self {
            clock: Mutex::new(clock),
            ledger: Mutex::new(ledger),
            waiters: Mutex::new(HashMap::new()),
            on_ready,
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
        let transition = self.ledger().on_claim(claim, self.clock().us_at(now));
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

    fn sandbox_event(&self, sandbox: &Sandbox) {
        let now = self.clock().now_us();
        self.ledger().on_sandbox(sandbox, now);
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
    loop {
        match events.try_next().await {
            Ok(Some(Event::Apply(sandbox) | Event::InitApply(sandbox))) => {
                shared.sandbox_event(&sandbox)
            }
            Ok(Some(Event::Delete(sandbox))) => {
                if let Some(name) = &sandbox.metadata.name {
                    shared.ledger().on_sandbox_deleted(name);
                }
            }
            Ok(Some(Event::InitDone)) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Some(Event::Init)) => {}
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "sandbox watch failed; retrying"),
        }
    }
}
