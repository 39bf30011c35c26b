//! Per-object exponential backoff of failed reconciles: an object that keeps failing is
//! retried at 0.5 s, 1 s, 2 s, … up to [`MAX_DELAY`], so one broken object (a quota, a rejected
//! child) does not retry twice a second forever, and a success starts it over.
//!
//! kube's controller retries only when the error policy says so; it keeps no count of its own.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub const FIRST_DELAY: Duration = Duration::from_millis(500);
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Consecutive failures per object (`namespace/name`).
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more failure of `key`.
    pub fn failed(&self, key: &str) {
        *self.failures().entry(key.to_string()).or_default() += 1;
    }

    /// `key` reconciled: its next failure waits [`FIRST_DELAY`] again.
    pub fn succeeded(&self, key: &str) {
        self.failures().remove(key);
    }

    /// How long to wait before retrying `key`, at least `floor`.
    pub fn delay(&self, key: &str, floor: Duration) -> Duration {
        let failures = self.failures().get(key).copied().unwrap_or(1);
        delay_after(failures).max(floor)
    }
}

/// The wait after `failures` consecutive failures (the first waits [`FIRST_DELAY`]).
pub fn delay_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_per_failure_up_to_the_cap() {
        let delays: Vec<u64> = (1..=9).map(|n| delay_after(n).as_millis() as u64).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn failures_are_counted_per_object_and_forgotten_on_success() {
        let b = Backoff::default();
        for _ in 0..3 {
            b.failed("ns/a");
        }
        b.failed("ns/b");
        assert_eq!(b.delay("ns/a", Duration::ZERO), Duration::from_secs(2));
        assert_eq!(b.delay("ns/b", Duration::ZERO), FIRST_DELAY);
        assert_eq!(
            b.delay("ns/b", Duration::from_secs(10)),
            Duration::from_secs(10),
            "a policy's own floor wins when longer"
        );
        b.succeeded("ns/a");
        b.failed("ns/a");
        assert_eq!(b.delay("ns/a", Duration::ZERO), FIRST_DELAY);
    }
}
