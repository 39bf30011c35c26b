//! The client-side rate limiter claims pass through before they are sent: a token bucket
//! that hands out reservations (like client-go's), so callers queue in arrival order and the
//! delay it imposes shows up as harness lag rather than disappearing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket on an explicit clock, so it is tested without sleeping.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// May go negative: tokens already promised to waiting callers.
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved up; starts full.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            last: Duration::ZERO,
        }
    }

    /// Takes one token at `now` (time since the bucket's epoch) and returns how long the
    /// caller must wait before using it.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The bucket on the real clock.
#[derive(Debug)]
pub struct Limiter {
    bucket: Mutex<TokenBucket>,
    epoch: Instant,
}

impl Limiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            bucket: Mutex::new(TokenBucket::new(rate, burst)),
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

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_spaces_callers_by_the_rate() {
        let mut bucket = TokenBucket::new(100.0, 3);
        let waits: Vec<_> = (0..5).map(|_| bucket.reserve(Duration::ZERO)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        // Reservations queue: the 4th waits one interval, the 5th two.
        assert!((waits[3].as_secs_f64() - 0.010).abs() < 1e-9, "{waits:?}");
        assert!((waits[4].as_secs_f64() - 0.020).abs() < 1e-9, "{waits:?}");
    }

    #[test]
    fn tokens_refill_at_the_rate_up_to_the_burst() {
        let mut bucket = TokenBucket::new(100.0, 2);
        bucket.reserve(Duration::ZERO);
        bucket.reserve(Duration::ZERO);
        assert_eq!(bucket.reserve(10 * MS), Duration::ZERO);
        // A long pause saves up at most `burst` tokens.
        let later = Duration::from_secs(10);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert!(bucket.reserve(later) > Duration::ZERO);
    }

    #[test]
    fn a_clock_that_steps_back_does_not_mint_tokens() {
        let mut bucket = TokenBucket::new(10.0, 1);
        bucket.reserve(Duration::from_secs(5));
        let wait = bucket.reserve(Duration::from_secs(4));
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
    }
}
