//! Writes fenced by the leader Lease: a leader's writes stop, on its own clock, before any
//! other replica may take the Lease.
//!
//! A leader paused (SIGSTOP, a stalled VM, a long GC in another language) wakes with
//! reconciles in the middle of their work; the task that notices the lapsed Lease may run
//! after them. Each write therefore asks the [`Fence`] first, at the last moment before it
//! goes on the wire: the fence is open until [`RENEW_DEADLINE`](crate::leader::RENEW_DEADLINE)
//! after the start of the last successful renewal. Another replica may take the Lease only
//! [`LEASE_DURATION`](crate::leader::LEASE_DURATION) after it last saw that renewal, which it
//! cannot have seen before the renewal was sent, so a write the fence lets through leaves by
//! at least the difference (5 s) ahead of any successor. Reads are never fenced: a standby's
//! caches keep listing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::{Either, Ready, ready};
use hyper::{Method, Request};

/// Until when this process may write; closed until leadership is won.
#[derive(Debug)]
pub struct Fence {
    base: Instant,
    /// Nanoseconds after `base` until which writes may go out; 0: closed.
    open_until: AtomicU64,
}

impl Default for Fence {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            open_until: AtomicU64::new(0),
        }
    }
}

impl Fence {
    /// Opens the fence until `until` (a later renewal moves it on).
    pub fn hold_until(&self, until: Instant) {
        let nanos = until.saturating_duration_since(self.base).as_nanos();
        self.open_until.store(
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1),
            Ordering::SeqCst,
        );
    }

    /// Closes the fence: leadership is lost or given up.
    pub fn close(&self) {
        self.open_until.store(0, Ordering::SeqCst);
    }

    /// Whether a write may go out at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        let until = self.open_until.load(Ordering::SeqCst);
        until != 0 && now < self.base + Duration::from_nanos(until)
    }
}

/// A write refused because this process does not hold the Lease (any more).
#[derive(Debug, thiserror::Error)]
#[error("{method} refused: this replica does not hold the leader Lease")]
pub struct NotLeader {
    pub method: Method,
}

/// Whether `method` changes state on the server.
fn writes(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Tower layer that refuses writes while the fence is closed.
#[derive(Debug, Clone)]
pub struct FenceLayer {
    fence: Arc<Fence>,
}

impl FenceLayer {
    pub fn new(fence: Arc<Fence>) -> Self {
        Self { fence }
    }
}

impl<S> tower::Layer<S> for FenceLayer {
    type Service = Fenced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Fenced {
            inner,
            fence: self.fence.clone(),
        }
    }
}

pub struct Fenced<S> {
    inner: S,
    fence: Arc<Fence>,
}

impl<S, B> tower::Service<Request<B>> for Fenced<S>
where
    S: tower::Service<Request<B>>,
    S::Error: From<NotLeader>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if writes(request.method()) && !self.fence.is_open(Instant::now()) {
            let method = request.method().clone();
            return Either::Right(ready(Err(NotLeader { method }.into())));
        }
        Either::Left(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, ServiceExt};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    #[test]
    fn the_fence_is_open_only_until_the_time_it_was_held_for() {
        let fence = Fence::default();
        let now = Instant::now();
        assert!(!fence.is_open(now), "closed until leadership is won");
        fence.hold_until(now + Duration::from_secs(10));
        assert!(fence.is_open(now + Duration::from_secs(9)));
        assert!(!fence.is_open(now + Duration::from_secs(10)));
        fence.close();
        assert!(!fence.is_open(now));
    }

    async fn send(fence: &Arc<Fence>, method: Method) -> Result<&'static str, BoxError> {
        let service = tower::service_fn(|_: Request<()>| async { Ok::<_, BoxError>("sent") });
        FenceLayer::new(fence.clone())
            .layer(service)
            .oneshot(Request::builder().method(method).body(()).unwrap())
            .await
    }

    #[tokio::test]
    async fn writes_wait_for_the_lease_and_reads_do_not() {
        let fence = Arc::new(Fence::default());
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let refused = send(&fence, method.clone()).await.unwrap_err();
            assert!(refused.is::<NotLeader>(), "{method}: {refused}");
        }
        assert_eq!(send(&fence, Method::GET).await.unwrap(), "sent");
        fence.hold_until(Instant::now() + Duration::from_secs(10));
        assert_eq!(send(&fence, Method::PATCH).await.unwrap(), "sent");
        // A leader whose renewals lapsed, as a paused one finds on waking.
        fence.hold_until(Instant::now() - Duration::from_millis(1));
        assert!(send(&fence, Method::PATCH).await.is_err());
    }
}
