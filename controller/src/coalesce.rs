//! Status writes that can wait, coalesced: one per object per window; and a pool's passes,
//! paced the same way.
//!
//! A new pool member's status passes through several not-Ready states within a second (Pod
//! created, Pending, scheduled, Running) before it turns Ready, and a pool's counts change
//! with every member. Writing each state costs the API server a PATCH that nobody waits for.
//! A write that changes no condition's status (a message, a reason, a count, an
//! observedGeneration) is held until the window since the object's last status write (or
//! since this process first held one back) has passed; the pass that ends the hold writes
//! whatever the status is by then. A write that flips a condition (a Sandbox turning Ready,
//! above all) goes at once. So a new member whose Pod is Ready within the window gets one
//! status write, Ready, instead of one per state its Pod went through.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long after a Sandbox's status write its next non-urgent one waits.
pub const SANDBOX_WINDOW: Duration = Duration::from_secs(1);
/// The same for a pool's status.
pub const POOL_WINDOW: Duration = Duration::from_secs(1);
/// How long after a pool's pass its next one waits. Every claim's adoption sets off a pass
/// over all of the pool's members; paced, a burst of claims costs the pool a few passes a
/// second whatever its rate, and nothing waits on them: the pool's status is coalesced
/// ([`POOL_WINDOW`]) and its refill yields to claims for longer (`warmpool::shaping`).
pub const POOL_PASS_INTERVAL: Duration = Duration::from_millis(200);

/// When each object's status was last written (or first held back), by key (namespace/name).
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    last_write: Mutex<HashMap<String, Instant>>,
}

impl Coalescer {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last_write: Mutex::default(),
        }
    }

    /// How long a write to `key` that can wait should wait at `now` (`None`: write now). The
    /// first write held for an object starts its window.
    pub fn hold(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut last = self.lock();
        let since = now.saturating_duration_since(*last.entry(key.to_string()).or_insert(now));
        (since < self.window).then(|| self.window - since)
    }

    /// How long work on `key` should still wait at `now`: the rest of the window since it was
    /// last done ([`Coalescer::wrote`]). `None`: do it now, as for an object never done before.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(*self.lock().get(key)?);
        (since < self.window).then(|| self.window - since)
    }

    /// Records a status write to `key` (or, for a pacer, a pass over it) at `now`.
    pub fn wrote(&self, key: &str, now: Instant) {
        let mut last = self.lock();
        // Entries older than the window hold nothing back; dropping them keeps the map to
        // the objects written recently.
        if last.len() > 1024 {
            last.retain(|_, at| now.saturating_duration_since(*at) < self.window);
        }
        last.insert(key.to_string(), now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.last_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_within_the_window_waits_for_its_remainder() {
        let c = Coalescer::new(Duration::from_millis(500));
        let t0 = Instant::now();
        assert_eq!(
            c.hold("ns/a", t0),
            Some(Duration::from_millis(500)),
            "the first write held starts the window"
        );
        assert_eq!(c.hold("ns/a", t0 + Duration::from_millis(500)), None);
        c.wrote("ns/a", t0);
        assert_eq!(
            c.hold("ns/a", t0 + Duration::from_millis(200)),
            Some(Duration::from_millis(300))
        );
        assert_eq!(c.hold("ns/a", t0 + Duration::from_millis(500)), None);
        c.wrote("ns/b", t0);
        assert_eq!(
            c.hold("ns/b", t0 + Duration::from_millis(400)),
            Some(Duration::from_millis(100)),
            "each object has its own window"
        );
    }

    #[test]
    fn work_done_before_waits_for_the_rest_of_its_window_and_new_work_goes_at_once() {
        let c = Coalescer::new(Duration::from_millis(200));
        let t0 = Instant::now();
        assert_eq!(c.remaining("ns/a", t0), None, "never done: go now");
        assert_eq!(c.remaining("ns/a", t0), None, "asking starts no window");
        c.wrote("ns/a", t0);
        assert_eq!(
            c.remaining("ns/a", t0 + Duration::from_millis(50)),
            Some(Duration::from_millis(150))
        );
        assert_eq!(c.remaining("ns/a", t0 + Duration::from_millis(200)), None);
        assert_eq!(
            c.remaining("ns/b", t0),
            None,
            "each object has its own window"
        );
    }

    #[test]
    fn old_entries_are_dropped_once_the_map_grows() {
        let c = Coalescer::new(Duration::from_millis(10));
        let t0 = Instant::now();
        for i in 0..1100 {
            c.wrote(&format!("ns/{i}"), t0);
        }
        c.wrote("ns/late", t0 + Duration::from_secs(1));
        assert_eq!(c.lock().len(), 1);
    }
}
