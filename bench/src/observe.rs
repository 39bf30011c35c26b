//! The run's records and the watches that stamp them. One collector task owns the [`Ledger`],
//! the invariant [`Checker`] and the claims' Ready waiters; the send tasks, the watches and
//! the run loop each hold a [`Collector`] handle and stream their stamps to that task over one
//! unbounded channel, so a stamp never waits for anyone and none is dropped while the run's
//! records are open. Each stamp is taken by its sender at the moment of the event, before it
//! is sent: by the send tasks when a create goes out and when it is answered, by the watches
//! (one on the run's claims, one on the sandboxes of its namespace, and, when the run checks
//! invariants, one on its Pods) when an event is received, before anything else is done with
//! it. Questions (counts, whether every sent claim is settled, whether a step broke, the
//! records at the end) travel on the same channel with a reply, so each answer includes every
//! stamp sent before it. The collector tells the claims' waiters (closed loops, churn) when a
//! claim turns Ready. Taking the records ends it: stamps sent after that are dropped.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use sandbox_reports::Record;
use tokio::sync::{mpsc, oneshot};

use crate::clock::RunClock;
use crate::invariants::Checker;
use crate::ledger::{Counts, Ledger, Transition};

/// A claim that turned Ready, by name, with when: what the churn reaper is sent.
pub type ReadyClaim = (String, Instant);

/// A handle on the run's collector: cheap to clone, one per sender. Stamps are sent at once and
/// never wait; questions wait for the collector's answer.
#[derive(Clone)]
pub struct Collector {
    messages: mpsc::UnboundedSender<Message>,
    /// The index the next added record gets: chosen by the sender, so a send task knows its
    /// claim's index without asking.
    next_index: Arc<AtomicUsize>,
    clock: Arc<Clock>,
}

/// The clock stamps are taken on: the run's, once started; until then one started with the
/// collector (no claim exists yet to be stamped).
struct Clock {
    provisional: RunClock,
    run: OnceLock<RunClock>,
}

/// The run's records as the collector held them when they were taken.
#[derive(Debug, Default)]
pub struct Taken {
    pub ledger: Ledger,
    /// The invariants, if the run checks them.
    pub checker: Option<Checker>,
}

/// What the collector is sent: stamps, waiters and questions, in one order. Watched objects
/// travel boxed, so a message stays small.
enum Message {
    /// A claim's schedule slot, at the index its sender chose.
    Add {
        index: usize,
        record: Record,
    },
    Sent {
        index: usize,
        at_us: u64,
    },
    Acked {
        index: usize,
        at_us: u64,
    },
    /// The claim failed with `kind`; the first failure sticks.
    Failed {
        index: usize,
        kind: String,
    },
    /// A claim as its watch showed it, received at `at` (`at_us` on the run's clock).
    Claim {
        claim: Box<SandboxClaim>,
        at: Instant,
        at_us: u64,
    },
    /// A sandbox created or changed, received at `at_us`.
    Sandbox {
        sandbox: Box<Sandbox>,
        at_us: u64,
    },
    SandboxDeleted(Box<Sandbox>),
    /// A whole listing of the namespace's sandboxes, complete at `at_us`.
    SandboxesListed {
        sandboxes: Vec<Sandbox>,
        uids: HashSet<String>,
        at_us: u64,
    },
    /// A step of the Pod watch, received at `at_us`: for the checker only.
    Pods {
        seen: Box<Seen<Pod>>,
        at_us: u64,
    },
    /// Fires when claim `index` turns Ready.
    WaitReady {
        index: usize,
        waiter: oneshot::Sender<()>,
    },
    Counts(oneshot::Sender<Counts>),
    Settled(oneshot::Sender<bool>),
    /// See [`Ledger::step_broke`].
    StepBroke {
        from_us: u64,
        to_us: u64,
        bound_us: u64,
        now_us: u64,
        reply: oneshot::Sender<bool>,
    },
    /// Hands the records over and ends the collector.
    Take(oneshot::Sender<Taken>),
}

impl Collector {
    /// Starts the collector task on the current runtime, with an empty ledger. `on_ready` is
    /// told each claim that turns Ready (for the churn reaper); `checker` is fed every event
    /// the watches receive. The task ends when the records are taken, or when every handle
    /// is gone.
    pub fn start(
        on_ready: Option<mpsc::UnboundedSender<ReadyClaim>>,
        checker: Option<Checker>,
    ) -> Self {
        let (messages, inbox) = mpsc::unbounded_channel();
        let state = State {
            ledger: Ledger::default(),
            checker,
            waiters: HashMap::new(),
            on_ready,
        };
        tokio::spawn(collect(inbox, state));
        Self {
            messages,
            next_index: Arc::new(AtomicUsize::new(0)),
            clock: Arc::new(Clock {
                provisional: RunClock::starting_at(Instant::now()),
                run: OnceLock::new(),
            }),
        }
    }

    /// The clock stamps are taken on.
    pub fn clock(&self) -> RunClock {
        *self.clock.run.get().unwrap_or(&self.clock.provisional)
    }

    /// Starts the run's clock now, once: stamps count from here. Called again, it returns the
    /// clock the first call started.
    pub fn start_clock(&self) -> RunClock {
        *self
            .clock
            .run
            .get_or_init(|| RunClock::starting_at(Instant::now()))
    }

    /// Sends `message`; once the records are taken the collector is gone and late stamps are
    /// dropped here.
    fn send(&self, message: Message) {
        let _ = self.messages.send(message);
    }

    /// Adds a claim's schedule slot; returns its index, the next one free. Slots added one
    /// after the other by one sender get consecutive indexes.
    pub fn add(&self, record: Record) -> usize {
        let index = self.next_index.fetch_add(1, Ordering::SeqCst);
        self.send(Message::Add { index, record });
        index
    }

    /// Claim `index` was sent at `at_us`.
    pub fn sent(&self, index: usize, at_us: u64) {
        self.send(Message::Sent { index, at_us });
    }

    /// The API server accepted claim `index` at `at_us`.
    pub fn acked(&self, index: usize, at_us: u64) {
        self.send(Message::Acked { index, at_us });
    }

    /// Claim `index` failed with `kind` (`create_conflict`, `create_timeout`, …).
    pub fn failed(&self, index: usize, kind: impl Into<String>) {
        self.send(Message::Failed {
            index,
            kind: kind.into(),
        });
    }

    /// Resolves when claim `index` turns Ready, if it does after this call.
    pub fn wait_ready(&self, index: usize) -> oneshot::Receiver<()> {
        let (waiter, ready) = oneshot::channel();
        self.send(Message::WaitReady { index, waiter });
        ready
    }

    /// A claim event received at `at`.
    fn claim(&self, claim: SandboxClaim, at: Instant) {
        let at_us = self.clock().us_at(at);
        self.send(Message::Claim {
            claim: Box::new(claim),
            at,
            at_us,
        });
    }

    /// A sandbox created or changed, received at `at`.
    fn sandbox(&self, sandbox: Sandbox, at: Instant) {
        let at_us = self.clock().us_at(at);
        self.send(Message::Sandbox {
            sandbox: Box::new(sandbox),
            at_us,
        });
    }

    fn sandbox_deleted(&self, sandbox: Sandbox) {
        self.send(Message::SandboxDeleted(Box::new(sandbox)));
    }

    /// A whole listing of sandboxes, complete at `at`.
    fn sandboxes_listed(&self, sandboxes: Vec<Sandbox>, uids: HashSet<String>, at: Instant) {
        let at_us = self.clock().us_at(at);
        self.send(Message::SandboxesListed {
            sandboxes,
            uids,
            at_us,
        });
    }

    /// A step of the Pod watch, received at `at`.
    fn pods(&self, seen: Seen<Pod>, at: Instant) {
        let at_us = self.clock().us_at(at);
        self.send(Message::Pods {
            seen: Box::new(seen),
            at_us,
        });
    }

    /// Asks the collector; `None` once it is gone (the records were taken).
    async fn ask<T>(&self, question: impl FnOnce(oneshot::Sender<T>) -> Message) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.send(question(reply));
        answer.await.ok()
    }

    /// Claims sent, Ready and failed so far: for progress. Zero once the records are taken.
    pub async fn counts(&self) -> Counts {
        self.ask(Message::Counts).await.unwrap_or_default()
    }

    /// Whether every claim sent so far is Ready or failed (true once the records are taken).
    pub async fn settled(&self) -> bool {
        self.ask(Message::Settled).await.unwrap_or(true)
    }

    /// Whether the warm claims intended in `[from_us, to_us)` and sent so far already put
    /// claim Ready p99 above `bound_us` at `now_us` (see [`Ledger::step_broke`]).
    pub async fn step_broke(&self, from_us: u64, to_us: u64, bound_us: u64, now_us: u64) -> bool {
        self.ask(|reply| Message::StepBroke {
            from_us,
            to_us,
            bound_us,
            now_us,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// The ledger and the checker with every stamp sent before this call, and the collector's
    /// end: stamps sent after it are dropped, and taking again gives empty records.
    pub async fn take(&self) -> Taken {
        self.ask(Message::Take).await.unwrap_or_default()
    }
}

/// What the collector task owns.
struct State {
    ledger: Ledger,
    checker: Option<Checker>,
    waiters: HashMap<usize, oneshot::Sender<()>>,
    on_ready: Option<mpsc::UnboundedSender<ReadyClaim>>,
}

/// The collector task: applies each message in the order it was sent, until the records are
/// taken or every handle is gone.
async fn collect(mut inbox: mpsc::UnboundedReceiver<Message>, mut state: State) {
    while let Some(message) = inbox.recv().await {
        if state.apply(message).is_break() {
            return;
        }
    }
}

impl State {
    /// Applies one message; breaks once the records are taken.
    fn apply(&mut self, message: Message) -> ControlFlow<()> {
        match message {
            Message::Add { index, record } => self.ledger.add_at(index, record),
            Message::Sent { index, at_us } => self.ledger.sent(index, at_us),
            Message::Acked { index, at_us } => self.ledger.acked(index, at_us),
            Message::Failed { index, kind } => self.ledger.failed(index, kind),
            Message::Claim { claim, at, at_us } => self.claim(&claim, at, at_us),
            Message::Sandbox { sandbox, at_us } => {
                self.ledger.on_sandbox(&sandbox, at_us);
                self.check(at_us, |c, ms| c.on_sandbox(&sandbox, ms));
            }
            Message::SandboxDeleted(sandbox) => {
                if let Some(name) = &sandbox.metadata.name {
                    self.ledger.on_sandbox_deleted(name);
                }
                self.check(0, |c, _| c.on_sandbox_deleted(&sandbox));
            }
            Message::SandboxesListed {
                sandboxes,
                uids,
                at_us,
            } => {
                for sandbox in &sandboxes {
                    self.ledger.on_sandbox(sandbox, at_us);
                }
                // A listing is checked whole, see [`Seen::Listed`].
                self.check(at_us, |c, ms| {
                    c.sandboxes_relisted(&uids);
                    sandboxes.iter().for_each(|s| c.on_sandbox(s, ms));
                });
            }
            Message::Pods { seen, at_us } => self.check(at_us, |c, ms| match *seen {
                Seen::Changed(pod) => c.on_pod(&pod, ms),
                Seen::Deleted(pod) => c.on_pod_deleted(&pod),
                Seen::Listed { objects, uids } => {
                    c.pods_relisted(&uids);
                    objects.iter().for_each(|p| c.on_pod(p, ms));
                }
            }),
            Message::WaitReady { index, waiter } => {
                self.waiters.insert(index, waiter);
            }
            Message::Counts(reply) => {
                let _ = reply.send(self.ledger.counts());
            }
            Message::Settled(reply) => {
                let _ = reply.send(self.ledger.settled());
            }
            Message::StepBroke {
                from_us,
                to_us,
                bound_us,
                now_us,
                reply,
            } => {
                let _ = reply.send(self.ledger.step_broke(from_us, to_us, bound_us, now_us));
            }
            Message::Take(reply) => {
                let _ = reply.send(Taken {
                    ledger: std::mem::take(&mut self.ledger),
                    checker: self.checker.take(),
                });
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// Hands an event to the checker, if the run has one, at the run clock's `at_us`.
    fn check(&mut self, at_us: u64, event: impl FnOnce(&mut Checker, u64)) {
        if let Some(checker) = self.checker.as_mut() {
            event(checker, at_us / 1000);
        }
    }

    fn claim(&mut self, claim: &SandboxClaim, at: Instant, at_us: u64) {
        let transition = self.ledger.on_claim(claim, at_us);
        self.check(at_us, |c, ms| c.on_claim(claim, ms));
        if let Transition::ClaimReady(index) = transition {
            if let Some(waiter) = self.waiters.remove(&index) {
                let _ = waiter.send(());
            }
            if let (Some(tx), Some(name)) = (&self.on_ready, &claim.metadata.name) {
                let _ = tx.send((name.clone(), at));
            }
        }
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

/// Follows `api` until the task is aborted, handing each step to `on` with the moment it was
/// received (a listing's, when it is complete); `synced` fires after the first listing.
async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    synced: oneshot::Sender<()>,
    mut on: impl FnMut(Seen<K>, Instant),
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut synced = Some(synced);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing = Vec::new();
    loop {
        let event = events.try_next().await;
        let at = Instant::now();
        match event {
            Ok(Some(Event::Apply(object))) => on(Seen::Changed(object), at),
            Ok(Some(Event::Delete(object))) => on(Seen::Deleted(object), at),
            Ok(Some(Event::Init)) => listing.clear(),
            Ok(Some(Event::InitApply(object))) => listing.push(object),
            Ok(Some(Event::InitDone)) => {
                let objects = std::mem::take(&mut listing);
                let uids = objects
                    .iter()
                    .filter_map(|o| o.meta().uid.clone())
                    .collect();
                on(Seen::Listed { objects, uids }, at);
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
    collector: Collector,
    synced: oneshot::Sender<()>,
) {
    let config = watcher::Config::default().labels(&selector);
    follow(api, config, synced, |seen, at| match seen {
        Seen::Changed(claim) => collector.claim(claim, at),
        Seen::Listed { objects, .. } => objects.into_iter().for_each(|c| collector.claim(c, at)),
        Seen::Deleted(_) => {}
    })
    .await;
}

/// Watches every sandbox of the run's namespace until the task is aborted.
pub async fn watch_sandboxes(api: Api<Sandbox>, collector: Collector, synced: oneshot::Sender<()>) {
    follow(
        api,
        watcher::Config::default(),
        synced,
        |seen, at| match seen {
            Seen::Changed(sandbox) => collector.sandbox(sandbox, at),
            Seen::Deleted(sandbox) => collector.sandbox_deleted(sandbox),
            Seen::Listed { objects, uids } => collector.sandboxes_listed(objects, uids, at),
        },
    )
    .await;
}

/// Watches every Pod of the run's namespace for the invariant checker, until aborted.
pub async fn watch_pods(api: Api<Pod>, collector: Collector, synced: oneshot::Sender<()>) {
    follow(api, watcher::Config::default(), synced, |seen, at| {
        collector.pods(seen, at);
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures::{claim, sandbox};
    use sandbox_reports::LaunchType;

    fn record(name: &str, intended_us: u64) -> Record {
        Record::new(name, "pool", LaunchType::Unknown, intended_us)
    }

    #[tokio::test]
    async fn a_question_sees_every_stamp_sent_before_it() {
        let collector = Collector::start(None, None);
        let (a, b, c) = (
            collector.add(record("a", 0)),
            collector.add(record("b", 1)),
            collector.add(record("c", 2)),
        );
        assert_eq!((a, b, c), (0, 1, 2));
        for index in [a, b, c] {
            collector.sent(index, 10);
        }
        collector.acked(a, 20);
        collector.failed(b, "create_conflict");
        collector.failed(b, "later");
        // A sandbox made Ready by another sender, then the claim bound to it and Ready.
        let watch = collector.clone();
        let at = Instant::now();
        watch.sandbox(sandbox("pool-x", true), at);
        watch.claim(claim("a", "pool-x", true), at);
        let counts = collector.counts().await;
        assert_eq!(
            counts,
            Counts {
                sent: 3,
                ready: 1,
                failed: 1
            }
        );
        assert!(!collector.settled().await);
        collector.failed(c, "create_timeout");
        assert!(collector.settled().await);
        let taken = collector.take().await;
        let r = taken.ledger.record(a).unwrap();
        assert_eq!((r.acked_us, r.launch), (Some(20), LaunchType::Warm));
        assert_eq!(
            taken.ledger.record(b).unwrap().error.as_deref(),
            Some("create_conflict")
        );
    }

    #[tokio::test]
    async fn indexes_are_the_senders_even_when_their_slots_arrive_out_of_order() {
        let collector = Collector::start(None, None);
        // Two closed-loop workers: the first picks its index, the second picks and adds
        // before the first adds.
        let first = collector.next_index.fetch_add(1, Ordering::SeqCst);
        let second = collector.add(record("second", 5));
        collector.send(Message::Add {
            index: first,
            record: record("first", 4),
        });
        collector.sent(first, 7);
        collector.sent(second, 8);
        let ledger = collector.take().await.ledger;
        let first = ledger.record(first).unwrap();
        let second = ledger.record(second).unwrap();
        assert_eq!((first.claim.as_str(), first.sent_us), ("first", Some(7)));
        assert_eq!((second.claim.as_str(), second.sent_us), ("second", Some(8)));
    }

    #[tokio::test]
    async fn waiters_and_the_reaper_are_told_when_a_claim_turns_ready() {
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let collector = Collector::start(Some(ready_tx), Some(Checker::default()));
        let index = collector.add(record("c-1", 0));
        let mut ready = collector.wait_ready(index);
        collector.sent(index, 1);
        collector.claim(claim("c-1", "c-1", false), Instant::now());
        collector.counts().await;
        assert_eq!(ready.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        assert!(ready_rx.try_recv().is_err());
        let at = Instant::now();
        collector.claim(claim("c-1", "c-1", true), at);
        // Awaited, not polled: the collector tells the waiter without being asked anything.
        ready.await.unwrap();
        assert_eq!(ready_rx.recv().await, Some(("c-1".to_string(), at)));
        // Later events do not turn it Ready again.
        collector.claim(claim("c-1", "c-1", true), Instant::now());
        collector.counts().await;
        assert!(ready_rx.try_recv().is_err());
        assert!(collector.take().await.checker.is_some());
    }

    #[tokio::test]
    async fn stamps_after_the_records_are_taken_are_dropped() {
        let collector = Collector::start(None, Some(Checker::default()));
        let index = collector.add(record("c-1", 0));
        collector.sent(index, 1);
        let taken = collector.take().await;
        assert_eq!(taken.ledger.counts().sent, 1);
        assert!(taken.checker.is_some());
        // The collector is gone: late stamps are dropped, questions get empty answers.
        collector.acked(index, 2);
        collector.claim(claim("c-1", "c-1", true), Instant::now());
        let late = collector.add(record("late", 3));
        collector.sent(late, 4);
        assert_eq!(collector.counts().await, Counts::default());
        assert!(collector.settled().await);
        assert!(!collector.step_broke(0, 10, 1, 100).await);
        let again = collector.take().await;
        assert!(again.ledger.record(0).is_none() && again.checker.is_none());
        assert_eq!(taken.ledger.record(index).unwrap().acked_us, None);
    }

    #[tokio::test]
    async fn the_breaker_judges_the_claims_sent_so_far() {
        let collector = Collector::start(None, None);
        let warm = |name: &str, intended| Record::new(name, "pool", LaunchType::Warm, intended);
        let (a, b) = (collector.add(warm("a", 0)), collector.add(warm("b", 1000)));
        // Nothing sent: not judged, however late.
        assert!(!collector.step_broke(0, 2000, 500, 10_000).await);
        collector.sent(a, 10);
        assert!(collector.step_broke(0, 2000, 500, 10_000).await);
        collector.sent(b, 1010);
        collector.claim(claim("a", "pool-a", true), Instant::now());
        assert!(!collector.step_broke(0, 2000, 1_000_000, 10_000).await);
    }

    #[test]
    fn the_run_clock_starts_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let collector = Collector::start(None, None);
        let provisional = collector.clock().start();
        let started = collector.start_clock().start();
        assert!(started >= provisional);
        assert_eq!(collector.clone().start_clock().start(), started);
        assert_eq!(collector.clock().start(), started);
    }
}
