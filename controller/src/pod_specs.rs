//! One copy of each distinct PodSpec among the cached Sandboxes.
//!
//! The Sandbox cache holds every Sandbox of the cluster, and the members of a warm pool all
//! carry their template's PodSpec: thousands of equal specs, about 4 KiB each in memory for one
//! container, most of a cached Sandbox. As each Sandbox enters the cache its spec is swapped for
//! an equal one already held, so a pool's members share one. Specs are held weakly: one that no
//! cached Sandbox uses any more is forgotten.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, Weak};

use k8s_openapi::api::core::v1::PodSpec;

/// How many specs are added between two sweeps of the forgotten ones.
const SWEEP_EVERY: usize = 1024;

/// The distinct specs seen, by a hash of their JSON.
#[derive(Default)]
pub struct PodSpecs {
    by_hash: HashMap<u64, Vec<Weak<PodSpec>>>,
    added_since_sweep: usize,
}

impl PodSpecs {
    /// An equal spec already held, or `spec` itself, held from now on.
    pub fn share(&mut self, spec: Arc<PodSpec>) -> Arc<PodSpec> {
        let Some(hash) = json_hash(&spec) else {
            return spec;
        };
        let held = self.by_hash.entry(hash).or_default();
        if let Some(equal) = held
            .iter()
            .filter_map(Weak::upgrade)
            .find(|held| **held == *spec)
        {
            return equal;
        }
        held.retain(|held| held.strong_count() > 0);
        held.push(Arc::downgrade(&spec));
        self.added_since_sweep += 1;
        if self.added_since_sweep >= SWEEP_EVERY {
            self.sweep();
        }
        spec
    }

    /// Forgets the specs no Sandbox uses any more.
    fn sweep(&mut self) {
        self.by_hash.retain(|_, held| {
            held.retain(|held| held.strong_count() > 0);
            !held.is_empty()
        });
        self.added_since_sweep = 0;
    }

    /// Specs held (alive or not yet swept), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_hash.values().map(Vec::len).sum()
    }
}

/// A hash of the spec's JSON, written straight into the hasher (equal specs serialise alike:
/// maps are ordered); `None` if it does not serialise, which leaves the spec unshared.
fn json_hash(spec: &PodSpec) -> Option<u64> {
    struct Hashing(DefaultHasher);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(DefaultHasher::new());
    serde_json::to_writer(&mut hashing, spec).ok()?;
    Some(hashing.0.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;

    fn spec(image: &str) -> Arc<PodSpec> {
        Arc::new(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        })
    }

    #[test]
    fn equal_specs_become_one() {
        let mut specs = PodSpecs::default();
        let first = specs.share(spec("python:3"));
        let second = specs.share(spec("python:3"));
        assert!(Arc::ptr_eq(&first, &second));
        let other = specs.share(spec("node:22"));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other.containers[0].image.as_deref(), Some("node:22"));
        assert_eq!(specs.len(), 2);
    }

    #[test]
    fn a_spec_nobody_holds_is_forgotten() {
        let mut specs = PodSpecs::default();
        drop(specs.share(spec("python:3")));
        // Not handed out again: the next one is held in its place.
        let again = specs.share(spec("python:3"));
        assert_eq!(Arc::strong_count(&again), 1);
        assert_eq!(specs.len(), 1);
        drop(again);
        for n in 0..SWEEP_EVERY {
            drop(specs.share(spec(&format!("image-{n}"))));
        }
        // Without the sweep every spec ever seen would still be listed.
        assert!(specs.len() < SWEEP_EVERY, "{} held", specs.len());
    }
}
