//! Waiting for what only polling can see (a node's kubelet, a containerd config, an iptables
//! rule, a pool's status while showing progress). Where a watch reports the change, kube's
//! `await_condition` is used instead.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Calls `check` every `every` until it yields `Some`, and returns that value; `None` once
/// `timeout` has passed without one. `check` runs at least once, and once more at the
/// deadline's side of the last sleep, so a condition met just in time is not missed.
pub async fn until<T, F, Fut>(timeout: Duration, every: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every.min(deadline - Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_value_and_polls_no_further() {
        let calls = Cell::new(0);
        let found = until(Duration::from_secs(10), Duration::from_secs(1), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(found, Some(3));
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_having_checked_at_it() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let found: Option<()> = until(Duration::from_millis(2500), Duration::from_secs(1), || {
            calls.set(calls.get() + 1);
            async { None }
        })
        .await;
        assert_eq!(found, None);
        // At 0, 1, 2 and 2.5 s: the last check falls on the deadline, not past it.
        assert_eq!(calls.get(), 4);
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn checks_once_even_with_no_time_at_all() {
        let found = until(Duration::ZERO, Duration::from_secs(1), || async { Some(7) }).await;
        assert_eq!(found, Some(7));
    }
}
