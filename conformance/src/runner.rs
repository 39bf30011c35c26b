//! Runs cases with bounded parallelism. Each case gets a fresh namespace, its own task (so a
//! panic fails that case only) and its own timeout (after which its task is aborted); its
//! namespace is deleted as soon as it ends, whatever the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::case::{Case, Outcome};
use super::context::CaseContext;
use super::release::Spec;
use super::report::CaseReport;
use sandbox_marks::namespaces;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Cases running at once.
    pub parallel: usize,
    /// Image of every container the cases ask for.
    pub image: String,
    /// Longest single wait inside a case.
    pub wait: Duration,
    /// Labels and names this run's namespaces.
    pub run_id: String,
    /// The spec checked: cases introduced in a later release are skipped, not run.
    pub spec: Spec,
}

/// Runs `cases` against the cluster behind `client`; calls `on_done` as each one ends and
/// returns the reports in the order of `cases`.
pub async fn run(
    client: &kube::Client,
    cases: &[Case],
    config: &RunnerConfig,
    mut on_done: impl FnMut(&CaseReport),
) -> Vec<CaseReport> {
    let slots = Arc::new(Semaphore::new(config.parallel.max(1)));
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::new();
    for (index, case) in cases.iter().copied().enumerate() {
        let (client, config, slots) = (client.clone(), config.clone(), slots.clone());
        let handle = tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _slot = slots.acquire_owned().await;
            (index, run_one(&client, case, &config).await)
        });
        index_of.insert(handle.id(), index);
    }
    let mut reports: Vec<Option<CaseReport>> = vec![None; cases.len()];
    while let Some(joined) = tasks.join_next_with_id().await {
        let (index, report) = match joined {
            Ok((_, (index, report))) => (index, report),
            // run_one contains case panics; this is a panic in the runner itself.
            Err(e) => {
                let index = index_of.get(&e.id()).copied().unwrap_or(0);
                let case = cases[index];
                (
                    index,
                    report_of(
                        case,
                        failed(format!("the runner failed: {e}")),
                        Duration::ZERO,
                    ),
                )
            }
        };
        on_done(&report);
        reports[index] = Some(report);
    }
    reports.into_iter().flatten().collect()
}

fn failed(message: String) -> Outcome {
    Outcome::Failed(message)
}

fn report_of(case: Case, outcome: Outcome, duration: Duration) -> CaseReport {
    CaseReport {
        name: case.name,
        group: case.group,
        section: case.section,
        since: case.since,
        outcome,
        duration,
    }
}

async fn run_one(client: &kube::Client, case: Case, config: &RunnerConfig) -> CaseReport {
    if let Some(reason) = config.spec.excludes(case.since) {
        return report_of(case, Outcome::Skipped(reason), Duration::ZERO);
    }
    let namespace = match namespaces::create(client, case.name, &config.run_id).await {
        Ok(namespace) => namespace,
        Err(e) => {
            return report_of(
                case,
                failed(format!("could not prepare the case's namespace: {e}")),
                Duration::ZERO,
            );
        }
    };
    let cx = CaseContext {
        client: client.clone(),
        namespace: namespace.clone(),
        image: config.image.clone(),
        wait: config.wait,
    };
    let start = Instant::now();
    let outcome = run_body(case, cx).await;
    let duration = start.elapsed();
    if let Err(error) = namespaces::delete(client, &namespace).await {
        tracing::warn!(%namespace, %error, "could not delete the case's namespace");
    }
    report_of(case, outcome, duration)
}

/// The case body in a task of its own: a panic or a timeout ends this case only.
async fn run_body(case: Case, cx: CaseContext) -> Outcome {
    let task = tokio::spawn((case.body)(cx));
    let abort = task.abort_handle();
    match tokio::time::timeout(case.timeout, task).await {
        Ok(Ok(result)) => Outcome::from(result),
        Ok(Err(e)) if e.is_panic() => failed(format!(
            "the case panicked: {}",
            panic_message(e.into_panic())
        )),
        Ok(Err(e)) => failed(format!("the case was cancelled: {e}")),
        Err(_) => {
            abort.abort();
            failed(format!(
                "the case did not finish within its timeout of {:?}",
                case.timeout
            ))
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fail::Fail;

    fn case(
        name: &'static str,
        timeout: Duration,
        body: fn(CaseContext) -> super::super::case::CaseFuture,
    ) -> Case {
        Case {
            name,
            group: "sandbox",
            section: "0",
            since: crate::Release::V0_5_6,
            checks: "test",
            timeout,
            body,
        }
    }

    /// A context whose client points nowhere; the bodies below never use it.
    fn context() -> CaseContext {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        CaseContext {
            client: kube::Client::try_from(config).unwrap(),
            namespace: "ns".into(),
            image: "img".into(),
            wait: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn panics_timeouts_and_skips_stay_inside_their_case() {
        let pass = case("sandbox-pass", Duration::from_secs(5), |_| {
            Box::pin(async { Ok(()) })
        });
        let panic = case("sandbox-panic", Duration::from_secs(5), |_| {
            Box::pin(async { panic!("boom") })
        });
        let slow = case("sandbox-slow", Duration::from_millis(50), |_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
        });
        let skip = case("sandbox-skip", Duration::from_secs(5), |_| {
            Box::pin(async { Err(Fail::skip("needs a kubelet")) })
        });
        assert_eq!(run_body(pass, context()).await, Outcome::Passed);
        assert_eq!(
            run_body(panic, context()).await,
            Outcome::Failed("the case panicked: boom".into())
        );
        assert_eq!(
            run_body(slow, context()).await,
            Outcome::Failed("the case did not finish within its timeout of 50ms".into())
        );
        assert_eq!(
            run_body(skip, context()).await,
            Outcome::Skipped("needs a kubelet".into())
        );
    }

    #[tokio::test]
    async fn waits_time_out_with_what_was_last_seen() {
        use crate::context::Probe;
        let cx = context();
        let result: Result<(), Fail> = cx
            .until(
                "the answer",
                || async move { Ok(Probe::Waiting("41".into())) },
            )
            .await;
        assert_eq!(
            result,
            Err(Fail::check(
                "timed out after 200ms waiting for the answer; last seen: 41"
            ))
        );
        let polls = &std::sync::atomic::AtomicUsize::new(0);
        let result = cx
            .holds("calm", Duration::from_secs(5), || async move {
                let n = polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(if n < 2 { Ok(()) } else { Err("storm".into()) })
            })
            .await;
        let Err(Fail::Check(message)) = result else {
            panic!("{result:?}")
        };
        assert!(
            message.starts_with("calm stopped holding after"),
            "{message}"
        );
        assert!(message.ends_with(": storm"), "{message}");
    }
}
