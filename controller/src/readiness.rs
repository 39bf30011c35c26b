//! What `/readyz` answers: whether this replica leads (or waits as a standby) and whether the
//! caches it reconciles from have listed. Written by the leader election and the controllers,
//! read by the health endpoint.

use std::sync::{Arc, Mutex, PoisonError};

use crate::cache::Synced;

/// This replica's part in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Waiting for the lease: ready to take over.
    Standby,
    /// Leading (or running alone without election).
    Leading,
    /// Lost the lease or stopping: about to exit.
    Stopping,
}

#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    role: Role,
    caches: Option<Synced>,
}

/// Running alone, without election.
impl Default for Readiness {
    fn default() -> Self {
        Self::new(Role::Leading)
    }
}

impl Readiness {
    pub fn new(role: Role) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State { role, caches: None })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_role(&self, role: Role) {
        self.state().role = role;
    }

    /// The caches the controllers read, once they are created.
    pub fn watch_caches(&self, caches: Synced) {
        self.state().caches = Some(caches);
    }

    /// `Ok` with what the replica is doing, or `Err` with why it is not ready.
    pub fn check(&self) -> Result<String, String> {
        let state = self.state();
        match state.role {
            Role::Standby => Ok("standby: waiting for the lease".into()),
            Role::Stopping => Err("stopping: not leading any more".into()),
            Role::Leading => {
                let pending = state
                    .caches
                    .as_ref()
                    .map_or_else(|| vec!["all"], |caches| caches.pending());
                if pending.is_empty() {
                    Ok("leading, caches synced".into())
                } else {
                    Err(format!("caches not synced yet: {}", pending.join(", ")))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_as_a_standby_or_as_a_leader_whose_caches_have_listed() {
        let r = Readiness::new(Role::Standby);
        assert!(r.check().is_ok());
        r.set_role(Role::Leading);
        assert_eq!(r.check().unwrap_err(), "caches not synced yet: all");
        let (pods_tx, pods) = Synced::manual("Pod");
        r.watch_caches(pods);
        assert_eq!(r.check().unwrap_err(), "caches not synced yet: Pod");
        pods_tx.send_replace(true);
        assert_eq!(r.check().unwrap(), "leading, caches synced");
        r.set_role(Role::Stopping);
        assert!(r.check().is_err());
    }
}
