//! The client-side rate limiter claims pass through before they are sent: a token bucket
//! ([`sandbox_client::TokenBucket`]) that hands out reservations (like client-go's), so
//! callers queue in arrival order and the delay it imposes shows up as harness lag rather than
//! disappearing.

use std::sync::Mutex;
use std::time::Instant;

use sandbox_client::TokenBucket;

/// The bucket on the real clock, its epoch the limiter's creation.
#[derive(Debug)]
pub struct Limiter {
    bucket: Mutex<TokenBucket>,
    epoch: Instant,
}

impl Limiter {
    /// `rate` claims per second (the scenario's `clientQps`, above 0), at most `burst` saved
    /// up; starts full.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            bucket: Mutex::new(TokenBucket::new(rate, f64::from(burst))),
            epoch: Instant::now(),
        }
    }

    /// Waits for this caller's turn.
    pub async fn acquire(&self) {
        let wait = {
            let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
            bucket.reserve(self.epoch.elapsed())
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_burst_goes_at_once() {
        let limiter = Limiter::new(1.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }
}
