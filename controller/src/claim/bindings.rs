//! The Sandbox this process last adopted or created for each claim, kept until the cache
//! shows the claim controlling it.
//!
//! The cache lags our own writes: a pass that runs before the adopted member's (or the new
//! Sandbox's) watch event arrives sees an unbound claim and would bind a second Sandbox. While
//! a binding is remembered, the claim waits for the cache instead of deciding.
//!
//! A binding is never dropped because time passed: a watch that lags for a minute (an API
//! server restarting) must not make the claim adopt a second Sandbox. It ends when the cache
//! shows the claim controlling the Sandbox, or shows it gone or changed by someone else; if the
//! cache shows nothing new for [`VERIFY_AFTER`], the claim reads the Sandbox from the API
//! server once and settles it from that ([`Judgement::Verify`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sandbox_api::v1beta1::Sandbox;

/// How long the cache may show nothing of our write before the API server is asked.
pub const VERIFY_AFTER: Duration = Duration::from_secs(2);

/// One write this process made for a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub sandbox: String,
    /// The Sandbox's resourceVersion our adoption replaced (`None` for a create).
    pub replaced: Option<String>,
    /// When it was written, or last verified.
    pub at: Instant,
}

/// What the cache says about a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The cache shows the claim controlling it: from here on the cache alone decides.
    Shown,
    /// The cache has not caught up yet: wait for its event.
    Wait,
    /// The cache showed nothing new for too long: read the Sandbox from the API server.
    Verify,
    /// The Sandbox is gone, being deleted, or changed by someone else since: decide afresh.
    Lost,
}

/// Judges `binding` against the Sandbox of that name in the cache, for the claim `claim_uid`.
/// Pure.
pub fn judge(
    binding: &Binding,
    cached: Option<&Sandbox>,
    claim_uid: &str,
    now: Instant,
) -> Judgement {
    let overdue = now.duration_since(binding.at) >= VERIFY_AFTER;
    let Some(sandbox) = cached else {
        // Not created in the cache yet, or created and deleted before the cache saw it.
        return if overdue {
            Judgement::Verify
        } else {
            Judgement::Wait
        };
    };
    if crate::sandbox::children::is_controlled_by(&sandbox.metadata, claim_uid) {
        return Judgement::Shown;
    }
    if sandbox.metadata.deletion_timestamp.is_some() {
        return Judgement::Lost;
    }
    let stale = binding.replaced.is_some()
        && sandbox.metadata.resource_version.as_ref() == binding.replaced.as_ref();
    match (stale, overdue) {
        (true, false) => Judgement::Wait,
        (true, true) => Judgement::Verify,
        // The cache is past our write and the claim does not control it: someone changed it.
        (false, _) => Judgement::Lost,
    }
}

#[derive(Debug, Default)]
pub struct Bindings {
    by_claim: Mutex<HashMap<String, Binding>>,
}

impl Bindings {
    fn all(&self) -> std::sync::MutexGuard<'_, HashMap<String, Binding>> {
        self.by_claim.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The claim's binding that the cache may not show yet.
    pub fn get(&self, claim_uid: &str) -> Option<Binding> {
        self.all().get(claim_uid).cloned()
    }

    /// Remembers that `sandbox` was adopted (replacing `replaced`) or created for the claim.
    pub fn remember(&self, claim_uid: &str, sandbox: String, replaced: Option<String>) {
        self.all().insert(
            claim_uid.to_string(),
            Binding {
                sandbox,
                replaced,
                at: Instant::now(),
            },
        );
    }

    /// The API server confirmed the binding: wait for the cache again from now.
    pub fn confirmed(&self, claim_uid: &str) {
        if let Some(b) = self.all().get_mut(claim_uid) {
            b.at = Instant::now();
        }
    }

    /// Once the cache shows the binding, or the claim or its Sandbox is going away.
    pub fn forget(&self, claim_uid: &str) {
        self.all().remove(claim_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sandbox(rv: &str, owner: Option<&str>, deleting: bool) -> Sandbox {
        let mut v = json!({"metadata": {"name": "pool-a", "namespace": "ns", "resourceVersion": rv},
            "spec": {"podTemplate": {"spec": {"containers": []}}}});
        if let Some(uid) = owner {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "extensions.agents.x-k8s.io/v1beta1",
                "kind": "SandboxClaim", "name": "c", "uid": uid, "controller": true}]);
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    fn adopted_at(at: Instant) -> Binding {
        Binding {
            sandbox: "pool-a".into(),
            replaced: Some("10".into()),
            at,
        }
    }

    #[test]
    fn the_cache_showing_the_claim_ends_the_binding() {
        let t0 = Instant::now();
        let ours = sandbox("11", Some("claim"), false);
        assert_eq!(
            judge(&adopted_at(t0), Some(&ours), "claim", t0),
            Judgement::Shown
        );
    }

    #[test]
    fn a_stale_or_missing_sandbox_is_waited_for_then_verified_never_dropped() {
        let t0 = Instant::now();
        let stale = sandbox("10", None, false);
        let soon = t0 + Duration::from_millis(100);
        let late = t0 + VERIFY_AFTER;
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            judge(&adopted_at(t0), Some(&stale), "claim", soon),
            Judgement::Wait
        );
        assert_eq!(
            judge(&adopted_at(t0), Some(&stale), "claim", late),
            Judgement::Verify
        );
        assert_eq!(
            judge(&adopted_at(t0), Some(&stale), "claim", much_later),
            Judgement::Verify,
            "however long the cache lags, the claim asks rather than binds again"
        );
        let created = Binding {
            sandbox: "c".into(),
            replaced: None,
            at: t0,
        };
        assert_eq!(judge(&created, None, "claim", soon), Judgement::Wait);
        assert_eq!(judge(&created, None, "claim", late), Judgement::Verify);
    }

    #[test]
    fn a_sandbox_deleted_or_changed_by_someone_else_is_lost() {
        let t0 = Instant::now();
        let deleting = sandbox("12", None, true);
        assert_eq!(
            judge(&adopted_at(t0), Some(&deleting), "claim", t0),
            Judgement::Lost
        );
        let taken = sandbox("12", Some("other-claim"), false);
        assert_eq!(
            judge(&adopted_at(t0), Some(&taken), "claim", t0),
            Judgement::Lost
        );
    }

    #[test]
    fn bindings_are_kept_per_claim_until_forgotten() {
        let b = Bindings::default();
        assert_eq!(b.get("claim"), None);
        b.remember("claim", "pool-a".into(), Some("10".into()));
        let first = b.get("claim").unwrap();
        assert_eq!(
            (first.sandbox.as_str(), first.replaced.as_deref()),
            ("pool-a", Some("10"))
        );
        assert_eq!(b.get("other"), None, "bindings are per claim");
        b.confirmed("claim");
        assert!(b.get("claim").unwrap().at >= first.at);
        b.remember("claim", "claim".into(), None);
        assert_eq!(b.get("claim").unwrap().sandbox, "claim");
        b.forget("claim");
        assert_eq!(b.get("claim"), None);
    }
}
