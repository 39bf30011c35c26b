//! Creates this process made that its caches have not shown yet. A pass that runs before its
//! own create reaches the cache would create again and get `409 AlreadyExists`: a write the
//! API server pays for in full, and under load, when the caches lag most, several per object.
//!
//! An expectation ends when the cache shows the object or after its time to live, so a create
//! that was lost (or an object deleted before the cache saw it) is made again eventually.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Creates in flight by key (`namespace/name` as an `ObjectRef`, or any key).
#[derive(Debug)]
pub struct Expectations<Key> {
    ttl: Duration,
    created: Mutex<HashMap<Key, Instant>>,
}

impl<Key: Eq + Hash> Expectations<Key> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            created: Mutex::default(),
        }
    }

    fn created(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.created.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object `key` was created (or found to exist) just now.
    pub fn created_now(&self, key: Key) {
        self.created_at(key, Instant::now());
    }

    fn created_at(&self, key: Key, at: Instant) {
        self.created().insert(key, at);
    }

    /// Whether a create of `key` is still on its way to the cache: `cached` is whether the
    /// cache shows the object now. An expectation the cache has met, or that outlived its time
    /// to live, is forgotten.
    pub fn in_flight(&self, key: &Key, cached: bool) -> bool {
        self.in_flight_at(key, cached, Instant::now())
    }

    fn in_flight_at(&self, key: &Key, cached: bool, now: Instant) -> bool {
        let mut created = self.created();
        match created.get(key) {
            Some(at) if !cached && now.duration_since(*at) < self.ttl => true,
            Some(_) => {
                created.remove(key);
                false
            }
            None => false,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.created().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn a_create_is_in_flight_until_the_cache_shows_it() {
        let e = Expectations::new(TTL);
        let t0 = Instant::now();
        assert!(!e.in_flight_at(&"ns/a", false, t0), "nothing created yet");
        e.created_at("ns/a", t0);
        assert!(e.in_flight_at(&"ns/a", false, t0 + Duration::from_secs(1)));
        assert!(!e.in_flight_at(&"ns/b", false, t0), "another object");
        assert!(!e.in_flight_at(&"ns/a", true, t0 + Duration::from_secs(2)));
        assert_eq!(e.len(), 0, "met expectations are forgotten");
        assert!(!e.in_flight_at(&"ns/a", false, t0 + Duration::from_secs(3)));
    }

    #[test]
    fn a_create_the_cache_never_shows_expires() {
        let e = Expectations::new(TTL);
        let t0 = Instant::now();
        e.created_at("ns/a", t0);
        assert!(e.in_flight_at(&"ns/a", false, t0 + TTL - Duration::from_millis(1)));
        assert!(!e.in_flight_at(&"ns/a", false, t0 + TTL));
        assert_eq!(e.len(), 0);
    }
}
