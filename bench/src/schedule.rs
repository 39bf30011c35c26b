//! Arrival schedules: when each claim is meant to be sent, computed before the run so that
//! sending never decides anything and latency can be measured from the intended time
//! (no coordinated omission). Pure and seeded: the same shape and seed give the same schedule
//! on every machine and every version, which is why the random source is the project's own
//! ([`SplitMix64`], fixed by its definition) rather than borrowed from a crate whose streams
//! may change between releases.

use std::time::Duration;

use sandbox_reports::splitmix::SplitMix64;

/// The load shapes a scenario can ask for. Every shape is bounded in count and time.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `count` claims at once.
    Burst { count: u32 },
    /// Evenly spaced at `rate` per second for `duration`.
    Constant { rate: f64, duration: Duration },
    /// A Poisson process with mean `rate` per second for `duration`.
    Poisson { rate: f64, duration: Duration },
    /// The rate moves linearly from `from` to `to` per second over `duration`.
    Ramp {
        from: f64,
        to: f64,
        duration: Duration,
    },
    /// Constant rates one after another.
    Step { steps: Vec<(f64, Duration)> },
    /// At most `concurrency` claims in flight; the next is sent when one completes; stops
    /// after `count` claims or `duration`, whichever comes first.
    ClosedLoop {
        concurrency: u32,
        count: u32,
        duration: Duration,
    },
}

/// What the workers follow.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Send claim `i` at `start + offsets[i]`; offsets never decrease.
    Open(Vec<Duration>),
    /// Keep `concurrency` claims in flight until `count` were sent or `duration` passed.
    Closed {
        concurrency: u32,
        count: u32,
        duration: Duration,
    },
}

impl Schedule {
    /// Number of claims, or the upper bound for a closed loop.
    pub fn max_claims(&self) -> usize {
        match self {
            Schedule::Open(offsets) => offsets.len(),
            Schedule::Closed { count, .. } => *count as usize,
        }
    }
}

/// Builds the schedule of `shape`, truncated to `max_claims`.
pub fn schedule(shape: &Shape, seed: u64, max_claims: usize) -> Schedule {
    let mut offsets = match shape {
        Shape::Burst { count } => vec![Duration::ZERO; *count as usize],
        Shape::Constant { rate, duration } => {
            constant(*rate, Duration::ZERO, *duration, max_claims)
        }
        Shape::Poisson { rate, duration } => poisson(*rate, *duration, seed, max_claims),
        Shape::Ramp { from, to, duration } => ramp(*from, *to, *duration, max_claims),
        Shape::Step { steps } => {
            let mut out = Vec::new();
            let mut start = Duration::ZERO;
            for (rate, length) in steps {
                out.extend(constant(
                    *rate,
                    start,
                    *length,
                    max_claims.saturating_sub(out.len()),
                ));
                start += *length;
            }
            out
        }
        Shape::ClosedLoop {
            concurrency,
            count,
            duration,
        } => {
            return Schedule::Closed {
                concurrency: *concurrency,
                count: (*count).min(u32::try_from(max_claims).unwrap_or(u32::MAX)),
                duration: *duration,
            };
        }
    };
    offsets.truncate(max_claims);
    Schedule::Open(offsets)
}

/// `rate` per second from `start` for `length`: arrivals at `start + i / rate`.
fn constant(rate: f64, start: Duration, length: Duration, max: usize) -> Vec<Duration> {
    if rate <= 0.0 {
        return Vec::new();
    }
    let interval = 1.0 / rate;
    (0..)
        .map(|i| f64::from(i) * interval)
        .take_while(|t| *t < length.as_secs_f64())
        .take(max)
        .map(|t| start + Duration::from_secs_f64(t))
        .collect()
}

/// Exponential inter-arrival times with mean `1 / rate`.
fn poisson(rate: f64, length: Duration, seed: u64, max: usize) -> Vec<Duration> {
    if rate <= 0.0 {
        return Vec::new();
    }
    let mut rng = SplitMix64(seed);
    let mut t = 0.0;
    let mut out = Vec::new();
    while out.len() < max {
        // 1 - u is in (0, 1], so the logarithm is finite.
        t += -(1.0 - rng.next_f64()).ln() / rate;
        if t >= length.as_secs_f64() {
            break;
        }
        out.push(Duration::from_secs_f64(t));
    }
    out
}

/// A linear ramp: the i-th arrival is where the integral of the rate reaches i.
fn ramp(from: f64, to: f64, length: Duration, max: usize) -> Vec<Duration> {
    let d = length.as_secs_f64();
    if d <= 0.0 {
        return Vec::new();
    }
    let slope = (to - from) / d;
    let total = (from + to) / 2.0 * d;
    (0..)
        .map(f64::from)
        .take_while(|i| *i < total)
        .take(max)
        .filter_map(|i| {
            // Solve from·t + slope·t²/2 = i for t ≥ 0.
            let t = if slope.abs() < f64::EPSILON {
                i / from
            } else {
                (-from + (from * from + 2.0 * slope * i).sqrt()) / slope
            };
            (t.is_finite() && t >= 0.0 && t < d).then(|| Duration::from_secs_f64(t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(s: Schedule) -> Vec<Duration> {
        match s {
            Schedule::Open(v) => v,
            other => panic!("expected an open schedule, got {other:?}"),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_sends_everything_at_once() {
        assert_eq!(
            open(schedule(&Shape::Burst { count: 3 }, 0, 100)),
            vec![Duration::ZERO; 3]
        );
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_ends_before_the_duration() {
        let s = open(schedule(
            &Shape::Constant {
                rate: 4.0,
                duration: SECOND,
            },
            0,
            100,
        ));
        assert_eq!(s, [0, 250, 500, 750].map(Duration::from_millis));
    }

    #[test]
    fn every_schedule_is_bounded_by_max_claims() {
        let s = schedule(
            &Shape::Constant {
                rate: 1000.0,
                duration: 60 * SECOND,
            },
            0,
            10,
        );
        assert_eq!(s.max_claims(), 10);
        let closed = schedule(
            &Shape::ClosedLoop {
                concurrency: 4,
                count: 1000,
                duration: SECOND,
            },
            0,
            7,
        );
        assert_eq!(
            closed,
            Schedule::Closed {
                concurrency: 4,
                count: 7,
                duration: SECOND
            }
        );
    }

    #[test]
    fn poisson_is_reproducible_per_seed_and_has_the_right_mean() {
        let shape = Shape::Poisson {
            rate: 100.0,
            duration: 100 * SECOND,
        };
        let a = open(schedule(&shape, 7, 1_000_000));
        assert_eq!(
            a,
            open(schedule(&shape, 7, 1_000_000)),
            "same seed, same schedule"
        );
        assert_ne!(
            a,
            open(schedule(&shape, 8, 1_000_000)),
            "another seed, another schedule"
        );
        // 10,000 expected; a Poisson count has standard deviation 100.
        assert!((9_600..=10_400).contains(&a.len()), "{} arrivals", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "offsets never decrease");
    }

    #[test]
    fn the_first_poisson_offsets_are_pinned() {
        // Pinned so that a change of the generator, which would silently change every
        // published schedule, fails here.
        let s = open(schedule(
            &Shape::Poisson {
                rate: 10.0,
                duration: SECOND,
            },
            42,
            3,
        ));
        let micros: Vec<u128> = s.iter().map(Duration::as_micros).collect();
        assert_eq!(micros, PINNED_POISSON_MICROS);
    }

    const PINNED_POISSON_MICROS: [u128; 3] = [135_311, 152_735, 185_392];

    #[test]
    fn a_ramp_integrates_the_rate() {
        // 0 → 10 per second over 10 s: 50 claims, denser at the end.
        let s = open(schedule(
            &Shape::Ramp {
                from: 0.0,
                to: 10.0,
                duration: 10 * SECOND,
            },
            0,
            1000,
        ));
        assert_eq!(s.len(), 50);
        let first_half = s.iter().filter(|t| **t < 5 * SECOND).count();
        assert!(
            (12..=13).contains(&first_half),
            "{first_half} in the first half"
        );
        let flat = open(schedule(
            &Shape::Ramp {
                from: 2.0,
                to: 2.0,
                duration: 2 * SECOND,
            },
            0,
            1000,
        ));
        assert_eq!(flat, [0, 500, 1000, 1500].map(Duration::from_millis));
    }

    #[test]
    fn steps_follow_each_other() {
        let s = open(schedule(
            &Shape::Step {
                steps: vec![(2.0, SECOND), (4.0, SECOND)],
            },
            0,
            100,
        ));
        assert_eq!(
            s,
            [0, 500, 1000, 1250, 1500, 1750].map(Duration::from_millis)
        );
    }
}
