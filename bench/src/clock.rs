//! The run's monotonic clock: every stamp is microseconds since the moment firing started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    start: Instant,
}

impl RunClock {
    pub fn starting_at(start: Instant) -> Self {
        Self { start }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Microseconds from the start to now.
    pub fn now_us(&self) -> u64 {
        self.us_at(Instant::now())
    }

    /// Microseconds from the start to `at` (zero before the start).
    pub fn us_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// The instant `offset` after the start.
    pub fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }

    /// Waits until `offset` after the start or until `stop` is set, whichever comes first
    /// (looking at `stop` every 250 ms at most); returns whether `stop` ended the wait early.
    pub async fn wait_until(&self, offset: Duration, stop: &AtomicBool) -> bool {
        loop {
            let left = self.at(offset).saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if stop.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(left.min(Duration::from_millis(250))).await;
        }
    }
}
