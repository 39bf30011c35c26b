//! Client-side rate limiting of API requests (`--kube-api-qps`, `--kube-api-burst`), as
//! client-go's token bucket ([`sandbox_client::TokenBucket`]): every request the controller
//! makes (reads, writes, watches, events, the leader Lease) takes one token; tokens accrue at
//! `qps` up to `burst`.
//!
//! It is a tower layer under the kube `Client`. The client funnels requests through one
//! buffer worker that polls readiness before each call, so waiting for a token in
//! `poll_ready` holds the queue in arrival order, as client-go's limiter does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use sandbox_client::TokenBucket;
use tokio::time::{Instant, Sleep};

/// client-go's QPS when none is configured (`rest.DefaultQPS`): upstream's `--kube-api-qps=0`.
pub const CLIENT_GO_DEFAULT_QPS: f64 = 5.0;

/// The limiter `--kube-api-qps`/`--kube-api-burst` ask for: `None` when requests are not
/// limited (a negative QPS, upstream's default). A QPS of 0 is client-go's default of 5.
pub fn limiter(qps: f64, burst: u32) -> Option<ThrottleLayer> {
    let qps = if qps == 0.0 {
        CLIENT_GO_DEFAULT_QPS
    } else {
        qps
    };
    (qps > 0.0).then(|| ThrottleLayer {
        bucket: Arc::new(Clocked {
            bucket: Mutex::new(TokenBucket::new(qps, f64::from(burst))),
            epoch: Instant::now(),
        }),
    })
}

/// The bucket on tokio's clock (paused in tests), its epoch the layer's creation.
#[derive(Debug)]
struct Clocked {
    bucket: Mutex<TokenBucket>,
    epoch: Instant,
}

impl Clocked {
    /// Reserves one token at `now`; how long to wait for it.
    fn reserve(&self, now: Instant) -> Duration {
        self.bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(now.saturating_duration_since(self.epoch))
    }
}

/// Tower layer that makes every request take a token from one shared bucket.
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    bucket: Arc<Clocked>,
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
    bucket: Arc<Clocked>,
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
                let wait = self.bucket.reserve(now);
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

    #[test]
    fn negative_qps_means_no_limiter_and_zero_means_client_gos_default() {
        assert!(limiter(-1.0, 10).is_none());
        assert!(limiter(-0.5, 1).is_none());
        let default = limiter(0.0, 1).unwrap();
        let b = default.bucket.bucket.lock().unwrap();
        assert_eq!(b.rate(), CLIENT_GO_DEFAULT_QPS);
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
