//! Client-side rate limiting, as client-go's `flowcontrol` token bucket: tokens accrue at a
//! rate up to a burst, and a caller either reserves one (waiting, possibly in a queue of
//! callers, for it to accrue) or takes the whole tokens that are there.
//!
//! The clock is explicit: every call passes `now`, the time since an epoch the caller chooses
//! (when it made the bucket, the Unix epoch, a tokio `Instant`), so the arithmetic is tested
//! without sleeping and each program keeps its own clock. The bucket starts full, its last
//! reading at zero.

use std::time::Duration;

/// Tolerance for float sums of token fractions (0.4 + 0.6 is a whole token).
const FLOAT_NOISE: f64 = 1e-6;

/// A token bucket on an explicit clock: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Negative after reservations of tokens that have not accrued yet: tokens promised to
    /// callers that wait for them.
    tokens: f64,
    /// The latest clock reading seen.
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `rate` tokens per second holding at most `burst` (at least one).
    ///
    /// A rate that is not positive adds no tokens: the burst is all there is, and a
    /// reservation beyond it waits for ever ([`Duration::MAX`]). Callers that give a rate of 0
    /// another meaning (no limit, a default) decide that before making a bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: Duration::ZERO,
        }
    }

    /// Tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Adds what accrued since the last reading, up to the burst. A reading earlier than the
    /// last one adds nothing and takes nothing back.
    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.max(0.0)).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Takes one token at `now` and returns how long the caller must wait before using it
    /// (zero: go now). When none is there the bucket goes negative, so callers queue in the
    /// order they reserved, each waiting for the token promised to it.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate).unwrap_or(Duration::MAX)
        }
    }

    /// Takes up to `want` whole tokens at `now` and returns how many it took: never more than
    /// are there, so the bucket never goes negative.
    pub fn take(&mut self, want: usize, now: Duration) -> usize {
        self.refill(now);
        // Whole tokens, forgiving float noise; below `want` the cast is exact, and `want`
        // bounds it above.
        let whole = (self.tokens + FLOAT_NOISE).floor().max(0.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let granted = if whole < want as f64 {
            whole as usize
        } else {
            want
        };
        self.tokens -= granted as f64;
        granted
    }

    /// How long after the last reading until a whole token is there (zero: one is), rounded
    /// up to the microsecond so that a caller coming back then never comes just before it.
    pub fn next_token(&self) -> Duration {
        if self.tokens + FLOAT_NOISE >= 1.0 {
            return Duration::ZERO;
        }
        if self.rate <= 0.0 {
            return Duration::MAX;
        }
        let wait = (1.0 - self.tokens) / self.rate;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micros = (wait * 1e6 - FLOAT_NOISE).ceil() as u64;
        Duration::from_micros(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SECOND: Duration = Duration::from_secs(1);

    fn close(a: Duration, secs: f64) -> bool {
        (a.as_secs_f64() - secs).abs() < 1e-9
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_reservations_queue_by_the_rate() {
        let mut b = TokenBucket::new(10.0, 3.0);
        for _ in 0..3 {
            assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        }
        // The 4th and 5th wait for the 1st and 2nd tokens to accrue (100 ms each at 10/s):
        // the bucket is negative, holding promises.
        assert_eq!(b.reserve(Duration::ZERO).as_millis(), 100);
        assert_eq!(b.reserve(Duration::ZERO).as_millis(), 200);
        // 150 ms on, a 6th waits for the third token to accrue, at 300 ms.
        assert!(close(b.reserve(150 * MS), 0.150));
    }

    #[test]
    fn fractional_waits_are_exact_to_the_nanosecond() {
        let mut b = TokenBucket::new(100.0, 3.0);
        let waits: Vec<_> = (0..5).map(|_| b.reserve(Duration::ZERO)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert!(close(waits[3], 0.010), "{waits:?}");
        assert!(close(waits[4], 0.020), "{waits:?}");
    }

    #[test]
    fn tokens_accrue_with_time_but_never_beyond_the_burst() {
        let mut b = TokenBucket::new(10.0, 2.0);
        assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        // 50 ms later half a token has accrued: 50 ms more to wait.
        assert_eq!(b.reserve(50 * MS).as_millis(), 50);
        // An hour idle refills to the burst of 2, not to 36 000.
        let later = Duration::from_secs(3600);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert!(!b.reserve(later).is_zero());
    }

    #[test]
    fn an_earlier_clock_reading_takes_nothing_back_and_mints_nothing() {
        let mut b = TokenBucket::new(1.0, 1.0);
        assert_eq!(b.reserve(10 * MS), Duration::ZERO);
        assert_eq!(b.reserve(Duration::ZERO).as_millis(), 1000);
        let mut b = TokenBucket::new(10.0, 1.0);
        b.reserve(5 * SECOND);
        assert!(close(b.reserve(4 * SECOND), 0.1));
        // Time resumes from the latest reading, not the earlier one.
        let mut b = TokenBucket::new(1.0, 1.0);
        assert_eq!(b.take(1, 10 * SECOND), 1);
        assert_eq!(b.take(1, 9 * SECOND), 0);
        assert_eq!(b.take(1, 10 * SECOND + 500 * MS), 0);
        assert_eq!(b.take(1, 11 * SECOND), 1);
    }

    #[test]
    fn a_burst_below_one_holds_one_token() {
        let mut b = TokenBucket::new(0.5, 0.0);
        assert_eq!(b.take(3, Duration::ZERO), 1);
        assert_eq!(b.reserve(Duration::ZERO), 2 * SECOND);
        let mut b = TokenBucket::new(0.5, 0.5);
        assert_eq!(b.take(3, Duration::ZERO), 1);
        assert_eq!(b.next_token(), 2 * SECOND);
    }

    #[test]
    fn take_grants_what_is_there_and_never_goes_negative() {
        let mut b = TokenBucket::new(4.0, 4.0);
        // A partial grant: four of ten.
        assert_eq!(b.take(10, Duration::ZERO), 4);
        assert_eq!(b.next_token(), 250 * MS);
        // Empty: nothing, and the wait counts down from the new reading.
        assert_eq!(b.take(6, 100 * MS), 0);
        assert_eq!(b.next_token(), 150 * MS);
        assert_eq!(b.take(6, 250 * MS), 1);
        assert_eq!(b.next_token(), 250 * MS);
        // Long idle: the burst, no more.
        assert_eq!(b.take(6, 60 * SECOND), 4);
        // Wanting less than is there takes only that.
        assert_eq!(b.take(1, 120 * SECOND), 1);
        assert_eq!(b.next_token(), Duration::ZERO);
        assert_eq!(b.take(0, 120 * SECOND), 0);
        assert_eq!(b.take(9, 120 * SECOND), 3);
    }

    #[test]
    fn fractions_that_add_up_to_a_whole_token_are_one() {
        let mut b = TokenBucket::new(10.0, 1.0);
        assert_eq!(b.take(1, Duration::ZERO), 1);
        // 0.4 + 0.6 of a token in float arithmetic: still a whole one.
        assert_eq!(b.take(1, 40 * MS), 0);
        assert_eq!(b.take(1, 100 * MS), 1);
    }

    #[test]
    fn reservations_and_takes_share_the_tokens() {
        let mut b = TokenBucket::new(1.0, 2.0);
        assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        assert_eq!(b.reserve(Duration::ZERO), SECOND);
        // One token is promised: nothing to take until it is paid back and another accrues.
        assert_eq!(b.take(1, SECOND), 0);
        assert_eq!(b.next_token(), SECOND);
        assert_eq!(b.take(1, 2 * SECOND), 1);
    }

    #[test]
    fn without_a_positive_rate_the_burst_is_all_there_is() {
        for rate in [0.0, -1.0] {
            let mut b = TokenBucket::new(rate, 2.0);
            assert_eq!(b.rate(), rate);
            assert_eq!(b.take(1, Duration::ZERO), 1);
            assert_eq!(b.next_token(), Duration::ZERO);
            assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
            assert_eq!(b.take(1, Duration::from_secs(3600)), 0);
            assert_eq!(b.next_token(), Duration::MAX);
            assert_eq!(b.reserve(Duration::from_secs(3600)), Duration::MAX);
        }
    }
}
