//! Leader election by Lease (`coordination.k8s.io/v1`), so several replicas can run and only
//! one reconciles. The lease name is upstream's, so our controller and upstream's never lead
//! at the same time in one namespace.
//!
//! What keeps two replicas from leading at once:
//! - every take and renewal carries the read's `resourceVersion`, so of two candidates one wins;
//! - another holder's lease counts as expired only after this process has seen it unchanged
//!   for its whole duration on its own monotonic clock, never by comparing the holder's
//!   `renewTime` with our wall clock (the machines' clocks may disagree);
//! - a leader that has not renewed within [`RENEW_DEADLINE`] (shorter than the lease) stops its
//!   work before anyone else may take over: every renewal has its own timeout, on a client that
//!   no reconcile rate limit delays;
//! - on SIGTERM the leader stops its work, then gives the lease up, so a successor need not
//!   wait for it to expire.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::fence::Fence;

pub const LEASE_NAME: &str = sandbox_api::keys::LEADER_LEASE_NAME;
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// A leader that has not renewed for this long stops working (client-go's `RenewDeadline`).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// One read-and-write of the lease must finish within this.
pub const RENEW_TIMEOUT: Duration = Duration::from_secs(4);

/// Another holder's lease as this process last saw it change, on this process's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    holder: String,
    /// The lease's `renewTime` as written, compared only for change.
    renew_time: Option<String>,
    duration: Duration,
    since: Instant,
}

/// What a candidate may do with the lease it just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Free, already ours, or expired: write it.
    Take,
    /// Held by another replica that renewed within its duration.
    Wait,
}

/// Decides on `lease`, read at `now`, given what was `seen` of it before; returns the
/// verdict and what to remember of it. A holder named by `predecessor` (this Pod's earlier
/// process: same Pod name, another pid) is dead, since a Pod's container starts again only
/// after the last one ended, and its lease is taken at once. Pure.
pub fn judge(
    lease: &Lease,
    holder: &str,
    predecessor: Option<&str>,
    seen: Option<&Observed>,
    now: Instant,
) -> (Verdict, Option<Observed>) {
    let Some(spec) = &lease.spec else {
        return (Verdict::Take, None);
    };
    let current = spec.holder_identity.as_deref().unwrap_or_default();
    let ours_before = predecessor.is_some_and(|prefix| current.starts_with(prefix));
    if current.is_empty() || current == holder || ours_before {
        return (Verdict::Take, None);
    }
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(LEASE_DURATION, Duration::from_secs);
    let renew_time = spec.renew_time.as_ref().map(|t| t.0.to_string());
    let observed = match seen {
        Some(o) if o.holder == current && o.renew_time == renew_time => o.clone(),
        // New to us, or renewed since: its duration counts from now.
        _ => Observed {
            holder: current.to_string(),
            renew_time,
            duration,
            since: now,
        },
    };
    let verdict = if now.duration_since(observed.since) > observed.duration {
        Verdict::Take
    } else {
        Verdict::Wait
    };
    (verdict, Some(observed))
}

/// A candidate for the lease: its identity and what it has seen of other holders.
pub struct Candidate {
    leases: Api<Lease>,
    holder: String,
    /// `<pod name>_`, when the Pod's name is known: earlier processes of this Pod hold as that.
    predecessor: Option<String>,
    seen: Option<Observed>,
}

/// This process's identity: `<pod name>_<pid>`; and, when the Pod's name is known (`POD_NAME`),
/// the prefix its earlier processes held the lease as.
pub fn identity(pod_name: Option<&str>, pid: u32) -> (String, Option<String>) {
    match pod_name {
        Some(pod) => (format!("{pod}_{pid}"), Some(format!("{pod}_"))),
        None => (format!("sandbox-controller_{pid}"), None),
    }
}

impl Candidate {
    /// `leases` should come from a client without a rate limit: a renewal must not queue
    /// behind reconciles.
    pub fn new(leases: Api<Lease>, (holder, predecessor): (String, Option<String>)) -> Self {
        Self {
            leases,
            holder,
            predecessor,
            seen: None,
        }
    }

    /// Takes or renews the lease once, within [`RENEW_TIMEOUT`]; `Ok(true)` when this
    /// candidate leads afterwards.
    pub async fn try_lead(&mut self) -> Result<bool, kube::Error> {
        match tokio::time::timeout(RENEW_TIMEOUT, self.try_lead_once()).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(
                format!("lease request took longer than {RENEW_TIMEOUT:?}").into(),
            )),
        }
    }

    async fn try_lead_once(&mut self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let mut spec = json!({
            "holderIdentity": self.holder,
            "leaseDurationSeconds": LEASE_DURATION.as_secs(),
            "renewTime": MicroTime(now),
        });
        let Some(lease) = self.leases.get_opt(LEASE_NAME).await? else {
            spec["acquireTime"] = json!(MicroTime(now));
            let lease: Lease =
                serde_json::from_value(json!({"metadata": {"name": LEASE_NAME}, "spec": spec}))
                    .map_err(kube::Error::SerdeError)?;
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let (verdict, seen) = judge(
            &lease,
            &self.holder,
            self.predecessor.as_deref(),
            self.seen.as_ref(),
            Instant::now(),
        );
        self.seen = seen;
        if verdict == Verdict::Wait {
            return Ok(false);
        }
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.holder.as_str());
        if !ours {
            spec["acquireTime"] = json!(MicroTime(now));
        }
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": spec,
        });
        match self
            .leases
            .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up if this candidate still holds it, so that another replica can take
    /// it at once (client-go's release on cancel).
    pub async fn release(&self) -> Result<(), kube::Error> {
        let release = async {
            let Some(lease) = self.leases.get_opt(LEASE_NAME).await? else {
                return Ok(());
            };
            let held = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(self.holder.as_str());
            if !held {
                return Ok(());
            }
            let patch = json!({
                "metadata": {"resourceVersion": lease.metadata.resource_version},
                "spec": {"holderIdentity": null, "leaseDurationSeconds": 1,
                         "renewTime": MicroTime(Timestamp::now())},
            });
            self.leases
                .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        };
        match tokio::time::timeout(RENEW_TIMEOUT, release).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service("lease release timed out".into())),
        }
    }
}

/// Waits until `candidate` leads, calls `became_leader`, then runs `work` while renewing the
/// lease. Returns when `work` ends, `stop` resolves, or leadership is lost (not renewed within
/// [`RENEW_DEADLINE`], or taken); `work` is dropped first, then the lease is released. The
/// caller then exits, so a new leader never overlaps this one.
///
/// `fence` is opened for [`RENEW_DEADLINE`] from the start of each successful take or renewal
/// and closed when leadership ends, before the lease is released (see [`crate::fence`]).
pub async fn lead<F: Future<Output = ()>>(
    mut candidate: Candidate,
    work: F,
    became_leader: impl FnOnce(),
    stop: impl Future<Output = ()>,
    fence: &Fence,
) {
    let waiting = async {
        loop {
            let asked = Instant::now();
            if candidate.try_lead().await.unwrap_or(false) {
                fence.hold_until(asked + RENEW_DEADLINE);
                break asked;
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    };
    tokio::pin!(stop);
    let won = tokio::select! {
        won = waiting => won,
        () = &mut stop => return,
    };
    tracing::info!(holder = %candidate.holder, lease = LEASE_NAME, "became leader");
    became_leader();
    let renew = async {
        // When the last successful renewal was sent: others count the lease from no earlier.
        let mut last_renewed = won;
        loop {
            let deadline = last_renewed + RENEW_DEADLINE;
            tokio::select! {
                () = tokio::time::sleep(RENEW_EVERY) => {}
                // A process paused past its deadline wakes here first and stops.
                () = tokio::time::sleep_until(deadline.into()) => {
                    return tracing::error!("could not renew the lease within its deadline");
                }
            }
            if Instant::now() >= deadline {
                return tracing::error!("could not renew the lease within its deadline");
            }
            let asked = Instant::now();
            match candidate.try_lead().await {
                Ok(true) => {
                    last_renewed = asked;
                    fence.hold_until(asked + RENEW_DEADLINE);
                }
                Ok(false) => return tracing::error!("another replica took the lease"),
                Err(error) => tracing::warn!(%error, "lease renewal failed; retrying"),
            }
        }
    };
    let stopped = tokio::select! {
        () = work => false,
        () = renew => false,
        () = stop => true,
    };
    // `work` is dropped here, and the fence closed, before the lease is given up.
    fence.close();
    if stopped {
        match candidate.release().await {
            Ok(()) => tracing::info!("released the lease"),
            Err(error) => tracing::warn!(%error, "could not release the lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: i64) -> Lease {
        let renewed = Timestamp::from_second(1_800_000_000 + renewed).unwrap();
        serde_json::from_value(json!({"metadata": {"name": LEASE_NAME},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": MicroTime(renewed)}}))
        .unwrap()
    }

    #[test]
    fn a_free_or_own_lease_is_taken_at_once() {
        let now = Instant::now();
        assert_eq!(judge(&lease("", 0), "me", None, None, now).0, Verdict::Take);
        assert_eq!(
            judge(&lease("me", 0), "me", None, None, now).0,
            Verdict::Take
        );
        let empty: Lease = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(judge(&empty, "me", None, None, now).0, Verdict::Take);
    }

    #[test]
    fn another_holder_expires_only_after_we_saw_it_unchanged_for_its_duration() {
        let t0 = Instant::now();
        // However old its renewTime reads by our wall clock, we have only just seen it.
        let (verdict, seen) = judge(&lease("other", -3600), "me", None, None, t0);
        assert_eq!(verdict, Verdict::Wait);
        let seen = seen.unwrap();
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            judge(&lease("other", -3600), "me", None, Some(&seen), later).0,
            Verdict::Wait
        );
        let expired = t0 + Duration::from_secs(16);
        assert_eq!(
            judge(&lease("other", -3600), "me", None, Some(&seen), expired).0,
            Verdict::Take
        );
        // A renewal in between starts its duration again.
        let (verdict, renewed) = judge(&lease("other", 2), "me", None, Some(&seen), expired);
        assert_eq!(verdict, Verdict::Wait);
        assert_eq!(renewed.unwrap().since, expired);
        // So does a new holder.
        assert_eq!(
            judge(&lease("third", -3600), "me", None, Some(&seen), expired).0,
            Verdict::Wait
        );
    }

    #[test]
    fn a_restarted_pod_takes_its_dead_predecessors_lease_at_once() {
        let now = Instant::now();
        let (me, predecessor) = identity(Some("ctrl-0"), 200);
        assert_eq!(me, "ctrl-0_200");
        let prefix = predecessor.as_deref();
        assert_eq!(
            judge(&lease("ctrl-0_100", 0), &me, prefix, None, now).0,
            Verdict::Take
        );
        // Another Pod's lease is not ours, however alike the names.
        assert_eq!(
            judge(&lease("ctrl-01_100", 0), &me, prefix, None, now).0,
            Verdict::Wait
        );
        assert_eq!(
            judge(&lease("ctrl-1_100", 0), &me, prefix, None, now).0,
            Verdict::Wait
        );
        // Without a Pod name two processes on one machine would look alike: no shortcut.
        let (anonymous, none) = identity(None, 200);
        assert_eq!(none, None);
        assert_eq!(
            judge(
                &lease("sandbox-controller_100", 0),
                &anonymous,
                None,
                None,
                now
            )
            .0,
            Verdict::Wait
        );
    }
}
