//! The pool members this process's claim workers are adopting, by namespace and name.
//!
//! Two workers must not patch the same member at once: the loser's optimistic lock fails and
//! its claim waits another pass. A reservation keeps the others off a member from the moment a
//! worker picks it until the adoption has reached the cache (the member leaves its pool's
//! index), which [`TTL`] bounds from above.
//!
//! Every unbound claim's pass asks about each candidate it walks past, and under a burst the
//! map holds every adoption of the last [`TTL`] (hundreds at 50 claims/s). So the look-up is by
//! borrowed names under one lock per pass, and expiry walks only the expired entries, oldest
//! first, instead of the whole map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a reservation keeps other workers off a Sandbox: long enough for the adoption to
/// reach the cache, short enough that a crashed attempt is soon forgotten.
pub const TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Reservations {
    inner: Mutex<Held>,
}

/// The reservations held now, locked for one pass.
#[derive(Debug, Default)]
pub struct Held {
    /// Namespace → name → when it was reserved.
    by_name: HashMap<String, HashMap<String, Instant>>,
    /// Every reservation in the order it was made, to expire them oldest first. An entry
    /// released (or reserved again) since is skipped when its turn comes.
    order: VecDeque<(Instant, String, String)>,
}

impl Reservations {
    /// The reservations at `now`, expired ones dropped; held until the guard goes.
    pub fn at(&self, now: Instant) -> MutexGuard<'_, Held> {
        let mut held = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        held.expire(now);
        held
    }

    /// Takes `ns/name` at `now` unless another worker holds it.
    pub fn try_reserve(&self, ns: &str, name: &str, now: Instant) -> bool {
        self.at(now).reserve(ns, name, now)
    }

    pub fn release(&self, ns: &str, name: &str) {
        let mut held = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(names) = held.by_name.get_mut(ns) {
            names.remove(name);
        }
    }
}

impl Held {
    /// Whether another worker holds `ns/name`.
    pub fn holds(&self, ns: &str, name: &str) -> bool {
        self.by_name
            .get(ns)
            .is_some_and(|names| names.contains_key(name))
    }

    fn reserve(&mut self, ns: &str, name: &str, now: Instant) -> bool {
        let names = self.by_name.entry(ns.to_string()).or_default();
        if names.contains_key(name) {
            return false;
        }
        names.insert(name.to_string(), now);
        self.order
            .push_back((now, ns.to_string(), name.to_string()));
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.order.front()
            && now.saturating_duration_since(*at) >= TTL
        {
            let Some((at, ns, name)) = self.order.pop_front() else {
                break;
            };
            let Some(names) = self.by_name.get_mut(&ns) else {
                continue;
            };
            // Only the reservation this entry made: one released and made again since is
            // younger and has an entry of its own further back.
            if names.get(&name) == Some(&at) {
                names.remove(&name);
            }
            if names.is_empty() {
                self.by_name.remove(&ns);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_name.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_held_by_one_worker_until_released() {
        let r = Reservations::default();
        let t0 = Instant::now();
        assert!(r.try_reserve("ns", "m1", t0));
        assert!(!r.try_reserve("ns", "m1", t0));
        assert!(r.at(t0).holds("ns", "m1"));
        // The same name elsewhere is another Sandbox.
        assert!(!r.at(t0).holds("other", "m1"));
        assert!(r.try_reserve("other", "m1", t0));
        r.release("ns", "m1");
        assert!(!r.at(t0).holds("ns", "m1"));
        assert!(r.try_reserve("ns", "m1", t0));
    }

    #[test]
    fn reservations_expire_after_the_ttl_oldest_first() {
        let r = Reservations::default();
        let t0 = Instant::now();
        assert!(r.try_reserve("ns", "old", t0));
        assert!(r.try_reserve("ns", "young", t0 + TTL / 2));
        let just_before = t0 + TTL - Duration::from_millis(1);
        assert!(r.at(just_before).holds("ns", "old"));
        let held = r.at(t0 + TTL);
        assert!(!held.holds("ns", "old"));
        assert!(held.holds("ns", "young"));
        assert_eq!(held.len(), 1);
        drop(held);
        assert_eq!(r.at(t0 + TTL * 2).len(), 0);
        assert!(
            r.at(t0 + TTL * 2).by_name.is_empty(),
            "empty namespaces go too"
        );
    }

    #[test]
    fn a_member_reserved_again_after_a_release_keeps_its_new_reservation() {
        let r = Reservations::default();
        let t0 = Instant::now();
        assert!(r.try_reserve("ns", "m1", t0));
        r.release("ns", "m1");
        let again = t0 + TTL / 2;
        assert!(r.try_reserve("ns", "m1", again));
        // The first reservation's expiry must not end the second one.
        assert!(r.at(t0 + TTL).holds("ns", "m1"));
        assert!(!r.at(again + TTL).holds("ns", "m1"));
    }
}
