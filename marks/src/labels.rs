//! The label that ties every object a run creates to that run, and the run's id.

use std::time::{SystemTime, UNIX_EPOCH};

/// Label on everything a run creates: the run id. Cleanup deletes by it and nothing else,
/// and every delete of a run checks it first (see [`crate::guarded_delete`]).
pub const RUN_LABEL: &str = "sandbox-bench/run";

/// Label (key, value) on every kwok node a local cluster of the harness creates. kwok's own
/// `type=kwok` marks any kwok node, the harness's or not; nodes outlive a run's namespace, so
/// they cannot carry the run label, and nodeLoss deletes only nodes carrying this one.
pub const HARNESS_NODE_LABEL: (&str, &str) = ("sandbox-bench/node", "kwok");

/// Label (key, value) kwok itself puts on the nodes it manages, the harness's or not: the
/// local clusters' kwok manages only nodes carrying it, and conformance cases that need kwok
/// to end a Pod look for it.
pub const KWOK_NODE_LABEL: (&str, &str) = ("type", "kwok");

/// A short id, unique enough to keep runs on one cluster apart: five base-36 digits from the
/// clock and the process id.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut n = (nanos ^ (u128::from(std::process::id()) << 40)) % 36u128.pow(5);
    let mut id = String::new();
    for _ in 0..5 {
        let digit = u32::try_from(n % 36).unwrap_or(0);
        id.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    id
}

/// The run id a namespace the harness made belongs to: the last `-`-separated part of its
/// name, as `namespaces::name` and `namespaces::bench` build them (run ids hold no `-`).
/// Callers that hold only a namespace's name get from here the run label value to check it
/// against.
pub fn run_id_of(namespace: &str) -> Option<&str> {
    namespace
        .rsplit_once('-')
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_dns_safe_and_vary() {
        let a = run_id();
        assert_eq!(a.len(), 5);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(a, run_id());
    }
}
