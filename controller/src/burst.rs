//! Claims first, for the writes that follow an adoption.
//!
//! A warm claim needs two writes (the adoption, the claim's status). The adoption sets off
//! three more that nobody waits for: the adopted Pod's labels follow the Sandbox's
//! `podTemplate.metadata` (spec §2.7), the Sandbox's conditions move to the new generation,
//! and the `SandboxAdopted` Event. Under a burst of claims those follow-ups double what the API
//! server has to do while claims wait on it. So while claims keep adopting members ([`Burst`]:
//! an adoption within the quiet period), the follow-ups wait until the burst is over, each at
//! most [`MAX_DEFERRAL`], so that a load that never stops delays them without starving them.
//! The pool's refill yields to claims the same way (`warmpool::shaping`), with the same quiet
//! period (`--sandbox-warm-pool-claims-first`; `0` turns both off).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a follow-up waits for a burst to end.
pub const MAX_DEFERRAL: Duration = Duration::from_secs(10);

/// When claims last adopted a member, process-wide.
#[derive(Debug)]
pub struct Burst {
    /// How long after the last adoption the burst is over; zero: nothing is ever held.
    quiet: Duration,
    origin: Instant,
    /// Nanoseconds from `origin` to the last adoption, plus one; zero: none yet.
    last_adoption: AtomicU64,
    /// Stores a wake-up for [`Burst::ends`] at each adoption.
    adoption: tokio::sync::Notify,
}

impl Burst {
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            origin: Instant::now(),
            last_adoption: AtomicU64::new(0),
            adoption: tokio::sync::Notify::new(),
        }
    }

    /// A burst that never holds anything back.
    pub fn off() -> Self {
        Self::new(Duration::ZERO)
    }

    /// A claim adopted a pool member at `now`.
    pub fn adopted(&self, now: Instant) {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        let at = u64::try_from(since).unwrap_or(u64::MAX - 1) + 1;
        self.last_adoption.fetch_max(at, Ordering::Relaxed);
        self.adoption.notify_one();
    }

    /// How long work first held back at `held_since` should still wait at `now`: until the
    /// burst is over, and never past `held_since + MAX_DEFERRAL`. `None`: go now.
    pub fn hold(&self, held_since: Instant, now: Instant) -> Option<Duration> {
        if self.quiet.is_zero() {
            return None;
        }
        let last = self.last_adoption.load(Ordering::Relaxed).checked_sub(1)?;
        let over = self.origin + Duration::from_nanos(last) + self.quiet;
        let until = over.min(held_since + MAX_DEFERRAL);
        (until > now).then(|| until - now)
    }

    /// Returns once work held back from now may go.
    pub async fn over(&self) {
        let since = Instant::now();
        while let Some(wait) = self.hold(since, Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Returns when a burst has ended (or held work for [`MAX_DEFERRAL`]) since the last
    /// call: after an adoption, once the quiet period has passed without one.
    pub async fn ends(&self) {
        self.adoption.notified().await;
        self.over().await;
    }
}

/// Per object (by key, e.g. an `ObjectRef`), since when its follow-ups have been held back.
#[derive(Debug)]
pub struct Deferrals<Key> {
    since: Mutex<HashMap<Key, Instant>>,
}

impl<Key> Default for Deferrals<Key> {
    fn default() -> Self {
        Self {
            since: Mutex::default(),
        }
    }
}

impl<Key: Eq + std::hash::Hash + Clone> Deferrals<Key> {
    /// Whether `key`'s follow-ups should wait at `now` and, if so, how long at most (until its
    /// [`MAX_DEFERRAL`] is spent; the end of the burst comes sooner and is told by
    /// [`Deferrals::held`] after [`Burst::ends`]). `None`: write them now. An object's first
    /// hold starts its deferral; the hold that lets them go forgets it.
    pub fn hold(&self, key: &Key, now: Instant, burst: &Burst) -> Option<Duration> {
        let mut since = self.lock();
        let held_since = match since.get(key) {
            Some(at) => *at,
            None => {
                burst.hold(now, now)?;
                // Objects deleted while held are long past their deferral; dropping them
                // keeps the map to the objects held now.
                if since.len() > 1024 {
                    since.retain(|_, at| now.saturating_duration_since(*at) < MAX_DEFERRAL);
                }
                since.insert(key.clone(), now);
                now
            }
        };
        if burst.hold(held_since, now).is_none() {
            since.remove(key);
            return None;
        }
        Some((held_since + MAX_DEFERRAL).saturating_duration_since(now))
    }

    /// The keys of the objects held now, to look at again when a burst ends.
    pub fn held(&self) -> Vec<Key> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.since.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(1);

    #[test]
    fn nothing_is_held_before_any_adoption_or_when_off() {
        let t0 = Instant::now();
        assert_eq!(Burst::new(QUIET).hold(t0, t0), None);
        let off = Burst::off();
        off.adopted(t0);
        assert_eq!(off.hold(t0, t0), None);
    }

    #[test]
    fn work_waits_until_no_claim_has_adopted_for_the_quiet_period() {
        let burst = Burst::new(QUIET);
        let t0 = Instant::now();
        burst.adopted(t0);
        assert_eq!(burst.hold(t0, t0), Some(QUIET));
        let t1 = t0 + Duration::from_millis(600);
        burst.adopted(t1);
        assert_eq!(
            burst.hold(t0, t1 + Duration::from_millis(500)),
            Some(Duration::from_millis(500)),
            "each adoption re-arms the quiet period"
        );
        assert_eq!(burst.hold(t0, t1 + QUIET), None);
    }

    #[test]
    fn an_older_adoption_reported_late_does_not_shorten_the_burst() {
        let burst = Burst::new(QUIET);
        let t0 = Instant::now();
        burst.adopted(t0 + Duration::from_millis(800));
        burst.adopted(t0);
        assert_eq!(burst.hold(t0, t0 + Duration::from_millis(800)), Some(QUIET));
    }

    #[test]
    fn a_load_that_never_stops_holds_work_for_at_most_the_deferral() {
        let burst = Burst::new(QUIET);
        let t0 = Instant::now();
        let mut now = t0;
        while now < t0 + MAX_DEFERRAL {
            burst.adopted(now);
            assert!(burst.hold(t0, now).is_some());
            now += Duration::from_millis(100);
        }
        burst.adopted(t0 + MAX_DEFERRAL);
        assert_eq!(
            burst.hold(t0, t0 + MAX_DEFERRAL - Duration::from_millis(1)),
            Some(Duration::from_millis(1))
        );
        assert_eq!(burst.hold(t0, t0 + MAX_DEFERRAL), None);
    }

    #[test]
    fn an_object_is_held_from_its_first_hold_and_released_when_the_burst_ends() {
        let burst = Burst::new(QUIET);
        let t0 = Instant::now();
        let deferrals = Deferrals::<&str>::default();
        assert_eq!(deferrals.hold(&"ns/a", t0, &burst), None, "no burst");
        assert!(deferrals.lock().is_empty());
        burst.adopted(t0);
        assert_eq!(
            deferrals.hold(&"ns/a", t0, &burst),
            Some(MAX_DEFERRAL),
            "held at most its deferral; the burst's end is told apart"
        );
        assert_eq!(deferrals.held(), ["ns/a"]);
        assert_eq!(
            deferrals.hold(&"ns/a", t0 + QUIET, &burst),
            None,
            "the burst is over"
        );
        assert!(deferrals.held().is_empty(), "released");
        let t1 = t0 + QUIET;
        burst.adopted(t1);
        assert!(deferrals.hold(&"ns/a", t1, &burst).is_some());
        let t9 = t1 + Duration::from_secs(9);
        burst.adopted(t9);
        assert_eq!(
            deferrals.hold(&"ns/a", t9, &burst),
            Some(Duration::from_secs(1)),
            "what is left of the first hold's deferral"
        );
        assert_eq!(
            deferrals.hold(&"ns/b", t9, &burst),
            Some(MAX_DEFERRAL),
            "another object's deferral starts at its own first hold"
        );
        let t11 = t1 + MAX_DEFERRAL;
        assert_eq!(deferrals.hold(&"ns/a", t11, &burst), None);
        assert_eq!(deferrals.held(), ["ns/b"]);
        burst.adopted(t11);
        assert_eq!(
            deferrals.hold(&"ns/a", t11, &burst),
            Some(MAX_DEFERRAL),
            "a later follow-up of the same object is held afresh"
        );
    }

    #[tokio::test]
    async fn the_end_of_a_burst_is_told_once_no_claim_has_adopted_for_the_quiet_period() {
        let quiet = Duration::from_millis(300);
        let burst = Burst::new(quiet);
        let mut ends = std::pin::pin!(burst.ends());
        assert!(
            futures::poll!(ends.as_mut()).is_pending(),
            "no burst, no end"
        );
        // Two adoptions 200 ms apart; the end is told a quiet period after the later one.
        let first = Instant::now();
        burst.adopted(first);
        let last = first + Duration::from_millis(200);
        burst.adopted(last);
        tokio::time::timeout(Duration::from_secs(10), ends)
            .await
            .expect("the burst ends");
        assert!(
            Instant::now() >= last + quiet,
            "not before the quiet period after the last adoption"
        );
    }
}
