//! The Sandbox this process last adopted or created for each claim, kept until the cache
//! shows the claim controlling it.
//!
//! The cache lags our own writes: a pass that runs before the adopted member's (or the new
//! Sandbox's) watch event arrives sees an unbound claim and would bind a second Sandbox. While
//! a binding is remembered, the claim waits for the cache instead of deciding. A binding the
//! cache never shows (its Sandbox deleted before the event came) is forgotten after
//! [`BINDING_TTL`], and the claim decides afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A watch event normally arrives within milliseconds; one unseen this long is assumed lost.
pub const BINDING_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Bindings {
    /// Sandbox name and when it was bound, by claim UID.
    by_claim: Mutex<HashMap<String, (String, Instant)>>,
}

impl Bindings {
    /// The Sandbox bound to the claim that the cache may not show yet.
    pub fn get(&self, claim_uid: &str) -> Option<String> {
        self.get_at(claim_uid, Instant::now())
    }

    fn get_at(&self, claim_uid: &str, now: Instant) -> Option<String> {
        let mut all = self.by_claim.lock().unwrap_or_else(PoisonError::into_inner);
        let (sandbox, at) = all.get(claim_uid)?;
        if now.duration_since(*at) < BINDING_TTL {
            return Some(sandbox.clone());
        }
        all.remove(claim_uid);
        None
    }

    pub fn remember(&self, claim_uid: &str, sandbox: String) {
        self.by_claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(claim_uid.to_string(), (sandbox, Instant::now()));
    }

    /// Once the cache shows the binding, or the claim or its Sandbox is going away.
    pub fn forget(&self, claim_uid: &str) {
        self.by_claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(claim_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_is_kept_until_forgotten_or_too_old_to_be_on_its_way() {
        let b = Bindings::default();
        assert_eq!(b.get("claim"), None);
        b.remember("claim", "pool-abc".into());
        assert_eq!(b.get("claim").as_deref(), Some("pool-abc"));
        assert_eq!(b.get("other"), None, "bindings are per claim");
        // The latest binding of a claim replaces an earlier one.
        b.remember("claim", "claim".into());
        assert_eq!(b.get("claim").as_deref(), Some("claim"));
        b.forget("claim");
        assert_eq!(b.get("claim"), None);

        b.remember("claim", "pool-abc".into());
        let later = Instant::now() + BINDING_TTL;
        assert_eq!(b.get_at("claim", later), None, "an event this late is lost");
        assert_eq!(b.get("claim"), None, "and the binding is dropped, not kept");
    }
}
