//! Claims waiting for a pool member to become usable (Ready, with an IP), woken one per member
//! as members become usable, instead of only by their periodic retry.
//!
//! A claim that finds only members still starting retries every 100 ms (upstream's interval).
//! The member's own update event is the moment it becomes adoptable, so the oldest waiting
//! claim of that pool is woken by it: at most one claim per member, since one member serves one
//! claim and waking every waiter would only make them race for it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sandbox_api::keys::condition;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxWarmPool};

use crate::conditions;

#[derive(Debug, Default)]
pub struct Waiters {
    by_pool: Mutex<HashMap<ObjectRef<SandboxWarmPool>, VecDeque<ObjectRef<SandboxClaim>>>>,
}

/// The pool of claim `c`.
pub fn pool_of(c: &SandboxClaim) -> ObjectRef<SandboxWarmPool> {
    ObjectRef::new(&c.spec.warm_pool_ref.name).within(&c.namespace().unwrap_or_default())
}

/// The pool whose waiting claims `s` can serve: `s` is a member (its controller is a pool),
/// not being deleted, Ready and with an IP.
pub fn usable_member_of(s: &Sandbox) -> Option<ObjectRef<SandboxWarmPool>> {
    let owner = crate::sandbox::children::controller_of(&s.metadata)?;
    let status = s.status.as_ref()?;
    let usable = owner.kind == SandboxWarmPool::kind(&())
        && s.metadata.deletion_timestamp.is_none()
        && conditions::is_true(&status.conditions, condition::READY)
        && !status.pod_ips.is_empty();
    usable.then(|| ObjectRef::new(&owner.name).within(&s.namespace().unwrap_or_default()))
}

impl Waiters {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        HashMap<ObjectRef<SandboxWarmPool>, VecDeque<ObjectRef<SandboxClaim>>>,
    > {
        self.by_pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `claim` waits for a member of its pool (once, however often it says so).
    pub fn wait(&self, claim: &SandboxClaim) {
        let me = ObjectRef::from_obj(claim);
        let mut all = self.lock();
        let queue = all.entry(pool_of(claim)).or_default();
        if !queue.contains(&me) {
            queue.push_back(me);
        }
    }

    /// `claim` no longer waits (bound, cold, gone).
    pub fn stop_waiting(&self, claim: &SandboxClaim) {
        let me = ObjectRef::from_obj(claim);
        let pool = pool_of(claim);
        let mut all = self.lock();
        if let Some(queue) = all.get_mut(&pool) {
            queue.retain(|c| *c != me);
            if queue.is_empty() {
                all.remove(&pool);
            }
        }
    }

    /// The claim to wake for this Sandbox event: the longest-waiting claim of its pool, if the
    /// Sandbox is a usable member.
    pub fn wake_for(&self, s: &Sandbox) -> Option<ObjectRef<SandboxClaim>> {
        let pool = usable_member_of(s)?;
        let mut all = self.lock();
        let queue = all.get_mut(&pool)?;
        let claim = queue.pop_front();
        if queue.is_empty() {
            all.remove(&pool);
        }
        claim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(name: &str, pool: &str) -> SandboxClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"warmPoolRef": {"name": pool}}
        }))
        .unwrap()
    }

    fn member(pool: &str, ready: bool, ip: bool) -> Sandbox {
        let mut v = json!({
            "metadata": {"name": "m", "namespace": "ns", "ownerReferences": [{
                "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxWarmPool",
                "name": pool, "uid": "u", "controller": true}]},
            "spec": {"podTemplate": {"spec": {"containers": []}}},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        });
        if ip {
            v["status"]["podIPs"] = json!(["10.0.0.1"]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn woken(w: &Waiters, s: &Sandbox) -> Option<String> {
        w.wake_for(s).map(|c| c.name)
    }

    #[test]
    fn only_a_ready_member_with_an_ip_is_usable() {
        assert_eq!(
            usable_member_of(&member("pool", true, true)),
            Some(ObjectRef::new("pool").within("ns"))
        );
        assert_eq!(usable_member_of(&member("pool", true, false)), None);
        assert_eq!(usable_member_of(&member("pool", false, true)), None);
        let mut claimed = member("pool", true, true);
        claimed.metadata.owner_references.as_mut().unwrap()[0].kind = "SandboxClaim".into();
        assert_eq!(usable_member_of(&claimed), None, "already adopted");
    }

    #[test]
    fn each_usable_member_wakes_the_longest_waiting_claim_of_its_pool() {
        let w = Waiters::default();
        w.wait(&claim("first", "pool"));
        w.wait(&claim("second", "pool"));
        w.wait(&claim("first", "pool"));
        w.wait(&claim("elsewhere", "other"));
        let ready = member("pool", true, true);
        assert_eq!(
            woken(&w, &member("pool", false, false)),
            None,
            "not usable yet"
        );
        assert_eq!(woken(&w, &ready).as_deref(), Some("first"));
        assert_eq!(woken(&w, &ready).as_deref(), Some("second"), "once each");
        assert_eq!(woken(&w, &ready), None);
        assert_eq!(
            woken(&w, &member("other", true, true)).as_deref(),
            Some("elsewhere")
        );
    }

    #[test]
    fn a_claim_that_stopped_waiting_is_not_woken() {
        let w = Waiters::default();
        w.wait(&claim("bound", "pool"));
        w.wait(&claim("still", "pool"));
        w.stop_waiting(&claim("bound", "pool"));
        w.stop_waiting(&claim("never-waited", "pool"));
        assert_eq!(
            woken(&w, &member("pool", true, true)).as_deref(),
            Some("still")
        );
        assert!(w.lock().is_empty(), "empty queues are dropped");
    }
}
