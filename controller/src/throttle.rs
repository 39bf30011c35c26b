//! Client-side rate limiting of API requests (`--kube-api-qps`, `--kube-api-burst`), as
//! client-go's token bucket: every request the controller makes (reads, writes, watches,
//! events, the leader Lease) takes one token; tokens accrue at `qps` up to `burst`.
//!
//! It is a tower layer under the kube `Client`. The client funnels requests through one
//! buffer worker that polls readiness before each call, so waiting for a token in
//! `poll_ready` holds the queue in arrival order, as client-go's limiter does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// client-go's QPS when none is configured (`rest.DefaultQPS`): upstream's `--kube-api-qps=0`.
pub const CLIENT_GO_DEFAULT_QPS: f64 = 5.0;

/// A token bucket over a clock the caller passes in, so it can be tested without waiting.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// May go negative: a reservation of a token that has not accrued yet.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Reserves one token and returns how long to wait until it is there (zero: go now).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = self.last.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

/// The limiter `--kube-api-qps`/`--kube-api-burst` ask for: `None` when requests are not
/// limited (a negative QPS, upstream's default). A QPS of 0 is client-go's default of 5.
pub fn limiter(qps: f64, burst: u32) -> Option<ThrottleLayer> {
    let qps = if qps == 0.0 {
        CLIENT_GO_DEFAULT_QPS
    } else {
        qps
    };
    (qps > 0.0).then(|| ThrottleLayer {
        bucket: Arc::new(Mutex::new(TokenBucket::new(qps, burst, Instant::now()))),
    })
}

/// Tower layer that makes every request take a token from one shared bucket.
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl<S> tower::Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttle {
            inner,
            bucket: self.bucket.clone(),
            wait: None,
            permitted: false,
        }
    }
}

pub struct Throttle<S> {
    inner: S,
    bucket: Arc<Mutex<TokenBucket>>,
    /// Until the reserved token is there.
    wait: Option<Pin<Box<Sleep>>>,
    /// A token is held for the next `call`.
    permitted: bool,
}

impl<S, R> tower::Service<R> for Throttle<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.permitted {
            if self.wait.is_none() {
                let now = Instant::now();
                let wait = self
                    .bucket
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .reserve(now);
                if !wait.is_zero() {
                    self.wait = Some(Box::pin(tokio::time::sleep_until(now + wait)));
                }
            }
            if let Some(sleep) = self.wait.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            self.permitted = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.permitted = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_spaces_requests_by_one_over_qps() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        // The 4th and 5th wait for the 1st and 2nd tokens to accrue (100 ms each at 10 QPS).
        assert_eq!(b.reserve(t0).as_millis(), 100);
        assert_eq!(b.reserve(t0).as_millis(), 200);
    }

    #[test]
    fn tokens_accrue_with_time_but_never_beyond_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 2, t0);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        // 50 ms later half a token has accrued: 50 ms more to wait.
        assert_eq!(b.reserve(t0 + 50 * MS).as_millis(), 50);
        // An hour idle refills to the burst of 2, not to 36 000.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert!(!b.reserve(later).is_zero());
    }

    #[test]
    fn an_earlier_clock_reading_takes_nothing_back() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 1, t0 + 10 * MS);
        assert_eq!(b.reserve(t0 + 10 * MS), Duration::ZERO);
        assert_eq!(b.reserve(t0).as_millis(), 1000);
    }

    #[test]
    fn negative_qps_means_no_limiter_and_zero_means_client_gos_default() {
        assert!(limiter(-1.0, 10).is_none());
        assert!(limiter(-0.5, 1).is_none());
        let default = limiter(0.0, 1).unwrap();
        let b = default.bucket.lock().unwrap();
        assert_eq!(b.qps, CLIENT_GO_DEFAULT_QPS);
        assert!(limiter(50.0, 100).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_delays_calls_beyond_the_burst() {
        let layer = limiter(10.0, 2).unwrap();
        let mut svc = layer.layer(tower::service_fn(|_: ()| async {
            Ok::<_, std::convert::Infallible>(Instant::now())
        }));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            at.push(svc.ready().await.unwrap().call(()).await.unwrap() - start);
        }
        let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn services_from_one_layer_share_the_bucket() {
        let layer = limiter(1.0, 1).unwrap();
        let echo = || tower::service_fn(|_: ()| async { Ok::<_, ()>(Instant::now()) });
        let (mut a, mut b) = (layer.layer(echo()), layer.layer(echo()));
        let start = Instant::now();
        let first = a.ready().await.unwrap().call(()).await.unwrap();
        let second = b.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!((first - start).as_millis(), 0);
        assert_eq!((second - start).as_millis(), 1000);
    }
}
