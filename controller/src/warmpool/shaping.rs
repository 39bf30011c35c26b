//! How fast a pool refills (upstream's `--sandbox-warm-pool-replenish-delay` and
//! `--sandbox-warm-pool-max-refill-rate`): per-pool state that the decision reads and returns,
//! so the decision stays pure and the clock comes in.
//!
//! The delay defers the *start* of refill after members leave the pool, re-armed on every
//! departure, so a burst of claims adopting members gets the API server first. The rate shapes
//! the *flow* once refill runs: a token bucket of one second of creates.
//!
//! Claims first (ours, on by default): while claims keep taking members, refill yields to
//! them for as long as the pool still holds more Ready members than its reserve. Each
//! departure re-arms a short quiet period; refill starts once no member has left for that
//! long (the burst is over). When the Ready members fall to the reserve mid-burst, refill
//! replaces each member that leaves, holding the pool at its reserve so that it never runs
//! dry for the sake of priority, and fills the rest once the burst is over: refilling a whole
//! deficit at once (up to a batch of 300 creates, each with its Pod, scheduling and status
//! writes) would stall the burst's claims behind it for seconds.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use sandbox_client::TokenBucket;

/// The settings, from the flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Most creates or deletes one pass issues (`--sandbox-warm-pool-max-batch-size`).
    pub max_batch: usize,
    /// `0`: replenish at once.
    pub replenish_delay: Duration,
    /// Creates per second per pool; `0`: unpaced.
    pub max_refill_rate: f64,
    /// Claims first: how long refill waits after the last departure while the pool holds more
    /// Ready members than `claims_first_reserve`; `0`: off.
    pub claims_first: Duration,
    /// The share of `replicas` (rounded up) kept Ready before refill stops yielding.
    pub claims_first_reserve: f64,
}

/// `--sandbox-warm-pool-claims-first`'s default: long enough to span the gaps between the
/// claims of a burst, short enough that a pool is refilling a second after the burst.
pub const DEFAULT_CLAIMS_FIRST: Duration = Duration::from_secs(1);
/// `--sandbox-warm-pool-claims-first-reserve`'s default.
pub const DEFAULT_CLAIMS_FIRST_RESERVE: f64 = 0.25;

impl Default for Settings {
    /// Upstream's defaults (batches of 300, no hold, no pacing), and claims first.
    fn default() -> Self {
        Self {
            max_batch: 300,
            replenish_delay: Duration::ZERO,
            max_refill_rate: 0.0,
            claims_first: DEFAULT_CLAIMS_FIRST,
            claims_first_reserve: DEFAULT_CLAIMS_FIRST_RESERVE,
        }
    }
}

impl Settings {
    /// The Ready members a pool of `desired` keeps before claims-first stops holding refill.
    fn reserve(&self, desired: usize) -> usize {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let reserve = (desired as f64 * self.claims_first_reserve.clamp(0.0, 1.0)).ceil() as usize;
        reserve
    }
}

/// How far a pass may refill the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// Create members until the pool (active, terminating and in-flight creates) counts this
    /// many: `0` while refill is held, the reserve while a burst has drained the pool to it,
    /// else the desired replicas.
    pub up_to: usize,
    /// When to look again because the hold ends (zero: no hold).
    pub recheck: Duration,
}

impl Refill {
    fn full(desired: usize) -> Self {
        Self {
            up_to: desired,
            recheck: Duration::ZERO,
        }
    }
}

/// One pool's shaping state; empty until the pool is first seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolShaping {
    hold: Option<Hold>,
    /// The refill pace, its clock the time since the Unix epoch.
    bucket: Option<TokenBucket>,
}

#[derive(Debug, Clone, PartialEq)]
struct Hold {
    /// Active members at the last pass, plus the creates issued since (which the cache may
    /// not show yet), so that only a real departure reads as a drop.
    last_members: usize,
    /// The replenish delay's end.
    defer_until: Option<Timestamp>,
    /// The claims-first quiet period's end.
    quiet_until: Option<Timestamp>,
}

fn since(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

impl PoolShaping {
    /// Records this pass's active and Ready member counts and returns how far the pool may
    /// refill now. The first pass of a pool never holds: an initial fill or a scale-up is not
    /// a departure.
    pub fn observe_members(
        &mut self,
        current: usize,
        ready: usize,
        desired: usize,
        now: Timestamp,
        settings: &Settings,
    ) -> Refill {
        let (delay, quiet) = (settings.replenish_delay, settings.claims_first);
        if delay.is_zero() && quiet.is_zero() {
            return Refill::full(desired);
        }
        let Some(hold) = self.hold.as_mut() else {
            self.hold = Some(Hold {
                last_members: current,
                defer_until: None,
                quiet_until: None,
            });
            return Refill::full(desired);
        };
        let dropped = current < hold.last_members;
        hold.last_members = current;
        if current >= desired {
            hold.defer_until = None;
            hold.quiet_until = None;
            return Refill::full(desired);
        }
        if dropped {
            hold.defer_until = (!delay.is_zero()).then(|| now + delay);
            hold.quiet_until = (!quiet.is_zero()).then(|| now + quiet);
        }
        let left = |until: Option<Timestamp>| until.map_or(Duration::ZERO, |u| since(u, now));
        let (delay_left, quiet_left) = (left(hold.defer_until), left(hold.quiet_until));
        let reserve = settings.reserve(desired);
        let above_reserve = ready > reserve;
        // Upstream's delay holds every replacement; claims first holds them while the pool is
        // above its reserve, and at the reserve refills it to there.
        if !delay_left.is_zero() {
            let recheck = if above_reserve {
                delay_left.max(quiet_left)
            } else {
                delay_left
            };
            return Refill { up_to: 0, recheck };
        }
        if quiet_left.is_zero() {
            return Refill::full(desired);
        }
        Refill {
            up_to: if above_reserve { 0 } else { reserve },
            recheck: quiet_left,
        }
    }

    /// Counts `created` replacements into the member baseline (when a hold is tracked).
    pub fn note_creates(&mut self, created: usize) {
        if let Some(hold) = self.hold.as_mut() {
            hold.last_members += created;
        }
    }

    /// Grants up to `want` creates at `rate` per second, and when it grants fewer, how long
    /// until the next whole token (the requeue that keeps a paced refill going). A rate of 0
    /// grants everything. A new bucket starts full: small deficits go at once.
    pub fn take_tokens(&mut self, want: usize, now: Timestamp, rate: f64) -> (usize, Duration) {
        if rate <= 0.0 || want == 0 {
            return (want, Duration::ZERO);
        }
        // One second of creates, at least one; the rate is the flag's, fixed for the process.
        let bucket = self
            .bucket
            .get_or_insert_with(|| TokenBucket::new(rate, rate));
        let granted = bucket.take(want, since(now, Timestamp::UNIX_EPOCH));
        if granted >= want {
            return (granted, Duration::ZERO);
        }
        (granted, bucket.next_token())
    }
}

/// Batch sizes for `count` writes issued in parallel batches that double while they succeed,
/// starting at one: 1, 2, 4, … with the remainder last.
pub fn slow_start(count: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut left, mut next) = (count, 1usize);
    while left > 0 {
        let size = next.min(left);
        sizes.push(size);
        left -= size;
        next = next.saturating_mul(2);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_doubles_from_one_and_ends_with_the_remainder() {
        assert_eq!(slow_start(0), Vec::<usize>::new());
        assert_eq!(slow_start(1), [1]);
        assert_eq!(slow_start(10), [1, 2, 4, 3]);
        assert_eq!(slow_start(300), [1, 2, 4, 8, 16, 32, 64, 128, 45]);
        assert_eq!(slow_start(300).iter().sum::<usize>(), 300);
    }

    const DELAY: Duration = Duration::from_secs(5);

    /// A replenish delay alone (claims first off).
    fn delay(d: Duration) -> Settings {
        Settings {
            replenish_delay: d,
            claims_first: Duration::ZERO,
            ..Settings::default()
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
    }

    /// Nothing created; look again after `recheck`.
    fn held(recheck: Duration) -> Refill {
        Refill { up_to: 0, recheck }
    }

    fn full(desired: usize) -> Refill {
        Refill::full(desired)
    }

    #[test]
    fn without_a_delay_nothing_is_ever_held() {
        let mut s = PoolShaping::default();
        let off = delay(Duration::ZERO);
        assert_eq!(s.observe_members(5, 0, 5, t(0), &off), full(5));
        assert_eq!(s.observe_members(1, 0, 5, t(1), &off), full(5));
        assert_eq!(s, PoolShaping::default(), "no state kept");
    }

    #[test]
    fn the_first_pass_fills_at_once_and_a_drop_holds_for_the_delay() {
        let mut s = PoolShaping::default();
        let settings = delay(DELAY);
        assert_eq!(s.observe_members(0, 0, 5, t(0), &settings), full(5));
        s.note_creates(5);
        // The cache catches up: no drop.
        assert_eq!(s.observe_members(5, 0, 5, t(100), &settings), full(5));
        // Two members adopted.
        assert_eq!(s.observe_members(3, 0, 5, t(1000), &settings), held(DELAY));
        // No further drop: the hold runs down.
        assert_eq!(
            s.observe_members(3, 0, 5, t(3000), &settings),
            held(Duration::from_secs(3))
        );
        assert_eq!(s.observe_members(3, 0, 5, t(6000), &settings), full(5));
    }

    #[test]
    fn every_drop_re_arms_the_hold_and_a_full_pool_clears_it() {
        let mut s = PoolShaping::default();
        let settings = delay(DELAY);
        s.observe_members(5, 0, 5, t(0), &settings);
        assert_eq!(s.observe_members(4, 0, 5, t(1000), &settings), held(DELAY));
        assert_eq!(
            s.observe_members(3, 0, 5, t(4000), &settings),
            held(DELAY),
            "re-armed"
        );
        assert_eq!(
            s.observe_members(3, 0, 5, t(8000), &settings),
            held(Duration::from_secs(1))
        );
        // Scaled down to what is left: nothing to hold.
        assert_eq!(s.observe_members(3, 0, 3, t(8500), &settings), full(3));
        assert_eq!(s.observe_members(3, 0, 5, t(8600), &settings), full(5));
    }

    #[test]
    fn claims_first_holds_while_ready_members_exceed_the_reserve_and_members_keep_leaving() {
        let settings = Settings::default(); // 1 s quiet period, a quarter in reserve
        let mut s = PoolShaping::default();
        s.observe_members(8, 8, 8, t(0), &settings);
        assert_eq!(
            s.observe_members(6, 6, 8, t(100), &settings),
            held(Duration::from_secs(1))
        );
        // Another departure re-arms it.
        assert_eq!(
            s.observe_members(5, 5, 8, t(600), &settings),
            held(Duration::from_secs(1))
        );
        assert_eq!(
            s.observe_members(5, 5, 8, t(1100), &settings),
            held(Duration::from_millis(500))
        );
        // Quiet long enough: refill.
        assert_eq!(s.observe_members(5, 5, 8, t(1600), &settings), full(8));
    }

    #[test]
    fn a_burst_that_drains_the_pool_to_its_reserve_holds_it_there_until_the_burst_is_over() {
        let settings = Settings::default();
        let mut s = PoolShaping::default();
        s.observe_members(8, 8, 8, t(0), &settings);
        // Two Ready left of 8 is the reserve: refill keeps the pool at two while members
        // keep leaving, and looks again when the quiet period ends.
        let at_reserve = Refill {
            up_to: 2,
            recheck: Duration::from_secs(1),
        };
        assert_eq!(s.observe_members(2, 2, 8, t(100), &settings), at_reserve);
        assert_eq!(s.observe_members(1, 1, 8, t(200), &settings), at_reserve);
        s.note_creates(1);
        // The replacement is cached, not Ready yet; the burst goes on.
        assert_eq!(
            s.observe_members(2, 1, 8, t(700), &settings),
            Refill {
                up_to: 2,
                recheck: Duration::from_millis(500)
            }
        );
        // No departure for the quiet period: the rest.
        assert_eq!(s.observe_members(2, 2, 8, t(1200), &settings), full(8));
    }

    #[test]
    fn a_replenish_delay_holds_even_a_pool_at_its_reserve() {
        let settings = Settings {
            replenish_delay: DELAY,
            ..Settings::default()
        };
        let mut s = PoolShaping::default();
        s.observe_members(8, 8, 8, t(0), &settings);
        assert_eq!(s.observe_members(1, 1, 8, t(100), &settings), held(DELAY));
        assert_eq!(
            s.observe_members(1, 1, 8, t(4100), &settings),
            held(Duration::from_secs(1))
        );
        assert_eq!(s.observe_members(1, 1, 8, t(5100), &settings), full(8));
    }

    #[test]
    fn creates_not_yet_cached_do_not_read_as_a_drop() {
        let mut s = PoolShaping::default();
        let settings = delay(DELAY);
        s.observe_members(3, 0, 5, t(0), &settings);
        s.note_creates(2);
        // Still 5 expected (3 + 2 in flight); the cache shows 4: that is a real departure.
        assert_eq!(s.observe_members(4, 0, 5, t(100), &settings), held(DELAY));
        let mut quiet = PoolShaping::default();
        quiet.observe_members(3, 0, 5, t(0), &settings);
        // Without creates noted, 3 → 3 is no drop.
        assert_eq!(quiet.observe_members(3, 0, 5, t(100), &settings), full(5));
    }

    #[test]
    fn no_rate_grants_the_whole_deficit() {
        let mut s = PoolShaping::default();
        assert_eq!(s.take_tokens(300, t(0), 0.0), (300, Duration::ZERO));
        assert_eq!(s.bucket, None);
    }

    #[test]
    fn the_bucket_starts_with_one_second_of_creates_then_paces() {
        let mut s = PoolShaping::default();
        assert_eq!(
            s.take_tokens(10, t(0), 4.0),
            (4, Duration::from_millis(250))
        );
        // Empty: nothing until the next token, 250 ms at 4/s.
        assert_eq!(
            s.take_tokens(6, t(100), 4.0),
            (0, Duration::from_millis(150))
        );
        assert_eq!(
            s.take_tokens(6, t(250), 4.0),
            (1, Duration::from_millis(250))
        );
        // A long idle time refills one second's worth, no more.
        assert_eq!(s.take_tokens(6, t(60_000), 4.0).0, 4);
    }

    #[test]
    fn a_slow_rate_still_holds_one_token() {
        let mut s = PoolShaping::default();
        assert_eq!(s.take_tokens(3, t(0), 0.5), (1, Duration::from_secs(2)));
        assert_eq!(s.take_tokens(3, t(1000), 0.5), (0, Duration::from_secs(1)));
        assert_eq!(s.take_tokens(3, t(2000), 0.5).0, 1);
    }
}
