//! Status writes that can wait, coalesced: one per object per window.
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

    /// Records a status write to `key` at `now`.
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
