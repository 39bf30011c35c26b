//! Sending claims. Open schedules are paced by a dedicated thread that sleeps until each
//! claim's intended time and hands the create to the runtime, so a busy runtime delays the
//! send (which the harness reports as its lag) but never the schedule. Closed loops keep a
//! fixed number of claims in flight. Churn deletes each claim a while after it is Ready.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DeleteParams, GetParams, PostParams};
use sandbox_api::v1beta1::SandboxClaim;
use sandbox_reports::{LaunchType, Record};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::limiter::Limiter;
use crate::observe::{Collector, ReadyClaim};
use crate::plan::{BenchPlan, claim_object};
use sandbox_marks::guarded_delete::{self, Deleted, GuardedDeleteError, RequiredLabel};

/// Longest a single create may take before the claim counts as failed.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every send needs.
pub struct Sender {
    pub api: Api<SandboxClaim>,
    pub collector: Collector,
    pub limiter: Option<Limiter>,
    pub run_id: String,
    /// Set by Ctrl-C: no new claim is sent.
    pub stop: Arc<AtomicBool>,
    /// Claims handed to the runtime whose create is not answered yet; counted up by the
    /// caller of [`Sender::send`] before the hand-off, so a drain never misses a claim that
    /// is about to be sent.
    pub in_flight: AtomicUsize,
}

impl Sender {
    /// Sends claim `index` to `pool`: limiter, stamp, create, stamp. Returns whether the API
    /// server accepted it. The caller has counted the claim into `in_flight`.
    pub async fn send(&self, index: usize, name: &str, pool: &str) -> bool {
        let ok = self.create(index, name, pool).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        ok
    }

    async fn create(&self, index: usize, name: &str, pool: &str) -> bool {
        let claim = claim_object(name, pool, &self.run_id);
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        let clock = self.collector.clock();
        self.collector.sent(index, clock.now_us());
        let result = tokio::time::timeout(
            CREATE_TIMEOUT,
            self.api.create(&PostParams::default(), &claim),
        )
        .await;
        let now = clock.now_us();
        match result {
            Ok(Ok(_)) => {
                self.collector.acked(index, now);
                true
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, claim = name, "create failed");
                self.collector.failed(index, create_error_kind(&error));
                false
            }
            Err(_) => {
                self.collector.failed(index, "create_timeout");
                false
            }
        }
    }

    /// A dry-run create: opens the connection creates will use and warms the API server's
    /// admission path, before anything is measured.
    pub async fn warm_up(&self, pool: &str) -> Result<(), kube::Error> {
        let claim = claim_object("warm-up", pool, &self.run_id);
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        self.api.create(&params, &claim).await.map(|_| ())
    }
}

/// `create_already_exists`, `create_too_many_requests`, `create_transport`: stable, countable.
pub fn create_error_kind(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.reason.is_empty() => {
            format!("create_{}", snake_case(&status.reason))
        }
        kube::Error::Api(status) => format!("create_http_{}", status.code),
        _ => "create_transport".into(),
    }
}

fn snake_case(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    out
}

/// Fires an open schedule whose records are already added (claim `i` at index `i`, offset `i`),
/// each create on `runtime`. Returns when every claim was handed over, or on stop; the creates
/// themselves are still in flight then (see [`Sender::in_flight`]).
pub async fn open_loop(
    sender: Arc<Sender>,
    plan: &BenchPlan,
    offsets: &[Duration],
    runtime: tokio::runtime::Handle,
) {
    let handle = runtime;
    let clock = sender.collector.clock();
    let claims: Vec<(usize, Instant, String, String)> = offsets
        .iter()
        .enumerate()
        .map(|(i, offset)| {
            (
                i,
                clock.at(*offset),
                BenchPlan::claim_name(i),
                plan.pool_of(i).to_string(),
            )
        })
        .collect();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sandbox-bench-pacer".into())
        .spawn(move || {
            for (index, at, name, pool) in claims {
                if sender.stop.load(Ordering::SeqCst) {
                    break;
                }
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                let sender = sender.clone();
                sender.in_flight.fetch_add(1, Ordering::SeqCst);
                handle.spawn(async move { sender.send(index, &name, &pool).await });
            }
            let _ = done_tx.send(());
        })
        .expect("the pacer thread starts");
    let _ = done_rx.await;
}

/// Keeps `concurrency` claims in flight: each worker sends a claim, waits until it is Ready
/// (or `wait` passes), and sends the next, until `count` claims were sent or `duration` passed.
pub async fn closed_loop(
    sender: Arc<Sender>,
    plan: &BenchPlan,
    concurrency: u32,
    count: u32,
    duration: Duration,
    wait: Duration,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let end = sender.collector.clock().start() + duration;
    let pools = plan.claim_pools.clone();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (sender, next, pools) = (sender.clone(), next.clone(), pools.clone());
        workers.spawn(async move {
            loop {
                if sender.stop.load(Ordering::SeqCst) || Instant::now() >= end {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count as usize {
                    return;
                }
                let name = BenchPlan::claim_name(i);
                let pool = &pools[i % pools.len()];
                let intended = sender.collector.clock().now_us();
                let index = sender.collector.add(Record::new(
                    &name,
                    pool.as_str(),
                    LaunchType::Unknown,
                    intended,
                ));
                let ready = sender.collector.wait_ready(index);
                sender.in_flight.fetch_add(1, Ordering::SeqCst);
                if sender.send(index, &name, pool).await {
                    let _ = tokio::time::timeout(wait, ready).await;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// Deletes each claim `hold` after it turned Ready (the collector sends its name and when),
/// until the channel closes or the task is aborted; the deletions' own tasks end with it. Each
/// delete is guarded: the claim must carry the run label of the run its namespace is named
/// after, and the delete is pinned to the uid checked. The check reads the claim's metadata
/// from the API server's cache (no etcd read on this path); a refused claim is logged, as a
/// failed delete is, and left in place.
pub async fn reap(
    api: Api<SandboxClaim>,
    hold: Duration,
    mut ready: mpsc::UnboundedReceiver<ReadyClaim>,
) {
    let required = match RequiredLabel::run_of_namespace(api.namespace().unwrap_or_default()) {
        Ok(required) => Arc::new(required),
        Err(refusal) => {
            tracing::warn!(%refusal, "churn deletes no claim");
            return;
        }
    };
    let mut deletions = JoinSet::new();
    while let Some((name, at)) = ready.recv().await {
        let (api, required) = (api.clone(), required.clone());
        deletions.spawn(async move {
            tokio::time::sleep_until((at + hold).into()).await;
            if let Err(error) = delete_claim(&api, &name, &required).await {
                tracing::warn!(%error, claim = name, "could not delete a held claim");
            }
        });
        // Reap finished deletions as we go, so the set stays small.
        while deletions.try_join_next().is_some() {}
    }
    while deletions.join_next().await.is_some() {}
}

/// Deletes the held claim `name` if it carries `required`.
async fn delete_claim(
    api: &Api<SandboxClaim>,
    name: &str,
    required: &RequiredLabel,
) -> Result<Deleted, GuardedDeleteError> {
    guarded_delete::delete_named(
        api,
        name,
        required,
        &GetParams::any(),
        &DeleteParams::background(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(reason: &str, code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("m", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn create_errors_become_stable_kinds() {
        assert_eq!(
            create_error_kind(&api_error("AlreadyExists", 409)),
            "create_already_exists"
        );
        assert_eq!(
            create_error_kind(&api_error("TooManyRequests", 429)),
            "create_too_many_requests"
        );
        assert_eq!(create_error_kind(&api_error("", 500)), "create_http_500");
        assert_eq!(snake_case("NotFound"), "not_found");
    }
}
