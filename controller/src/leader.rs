//! Leader election by Lease (`coordination.k8s.io/v1`), so several replicas can run and only
//! one reconciles. The lease name is upstream's, so our controller and upstream's never lead
//! at the same time in one namespace.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

pub const LEASE_NAME: &str = "a3317529.agent-sandbox.x-k8s.io";
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_EVERY: Duration = Duration::from_secs(2);

/// Whether `holder` may take or keep `lease` at `now`: it is free, ours, or expired.
pub fn may_hold(lease: &Lease, holder: &str, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else { return true };
    let current = spec.holder_identity.as_deref().unwrap_or_default();
    if current.is_empty() || current == holder {
        return true;
    }
    let duration = spec
        .lease_duration_seconds
        .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
    spec.renew_time.as_ref().is_none_or(|renewed| {
        renewed.0 + std::time::Duration::from_secs(duration.max(0) as u64) < now
    })
}

/// Takes or renews the lease once; `Ok(true)` when `holder` leads afterwards. The write carries
/// the read's resourceVersion, so two candidates never both win.
pub async fn try_lead(leases: &Api<Lease>, holder: &str) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let mut spec = json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": LEASE_DURATION.as_secs(),
        "renewTime": MicroTime(now),
    });
    match leases.get_opt(LEASE_NAME).await? {
        None => {
            spec["acquireTime"] = json!(MicroTime(now));
            let lease: Lease =
                serde_json::from_value(json!({"metadata": {"name": LEASE_NAME}, "spec": spec}))
                    .map_err(kube::Error::SerdeError)?;
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(lease) if may_hold(&lease, holder, now) => {
            let patch = json!({
                "metadata": {"resourceVersion": lease.metadata.resource_version},
                "spec": spec,
            });
            match leases
                .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(_) => Ok(false),
    }
}

/// Waits until `holder` leads, then runs `work` while renewing the lease. Returns when `work`
/// ends or leadership is lost; the caller then exits, so a new leader never overlaps this one.
pub async fn lead<F: Future<Output = ()>>(leases: Api<Lease>, holder: String, work: F) {
    while !try_lead(&leases, &holder).await.unwrap_or(false) {
        tokio::time::sleep(RENEW_EVERY).await;
    }
    tracing::info!(%holder, lease = LEASE_NAME, "became leader");
    let renew = async {
        let mut last_renewed = std::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match try_lead(&leases, &holder).await {
                Ok(true) => last_renewed = std::time::Instant::now(),
                Ok(false) => return tracing::error!("another replica took the lease"),
                Err(error) if last_renewed.elapsed() + RENEW_EVERY >= LEASE_DURATION => {
                    return tracing::error!(%error, "could not renew the lease in time");
                }
                Err(error) => tracing::warn!(%error, "lease renewal failed; retrying"),
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = renew => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64) -> Lease {
        let renewed = Timestamp::from_second(1_800_000_000 - renewed_secs_ago).unwrap();
        serde_json::from_value(json!({"metadata": {"name": LEASE_NAME},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": MicroTime(renewed)}}))
        .unwrap()
    }

    #[test]
    fn a_lease_is_taken_when_free_ours_or_expired_only() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        assert!(may_hold(&lease("", 0), "me", now), "free");
        assert!(may_hold(&lease("me", 0), "me", now), "ours");
        assert!(!may_hold(&lease("other", 5), "me", now), "held and fresh");
        assert!(may_hold(&lease("other", 20), "me", now), "expired");
    }
}
