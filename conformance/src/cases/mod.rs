//! Every conformance case, one module per kind. Each case creates what it needs in its own
//! namespace and asserts only what the Kubernetes API shows.

mod claim;
mod sandbox;
mod template;
mod warmpool;

pub use crate::case::Case;

/// Builds a [`Case`] whose body is the async fn `$body` (timeout in seconds), checking the
/// behaviour upstream introduced in release `$since`.
macro_rules! case {
    ($name:literal, $group:literal, $section:literal, $since:expr, $checks:literal, $timeout:literal, $body:path) => {
        $crate::case::Case {
            name: $name,
            group: $group,
            section: $section,
            since: $since,
            checks: $checks,
            timeout: ::std::time::Duration::from_secs($timeout),
            body: |cx| Box::pin($body(cx)),
        }
    };
}
pub(crate) use case;

/// All cases, in the order they are started.
pub fn all() -> Vec<Case> {
    // The slowest cases first, so the tail of a parallel run is short.
    let mut cases = claim::cases();
    cases.extend(warmpool::cases());
    cases.extend(sandbox::cases());
    cases.extend(template::cases());
    cases
}

/// The cases whose name contains any of `filters` (all cases when `filters` is empty).
pub fn matching(filters: &[String]) -> Vec<Case> {
    all()
        .into_iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn case_names_are_unique_and_fit_a_namespace_name() {
        let mut seen = HashSet::new();
        for case in all() {
            assert!(seen.insert(case.name), "{} listed twice", case.name);
            let namespace = sandbox_marks::namespaces::name(case.name, "abcde");
            assert!(namespace.len() <= 63, "{namespace} is too long");
            assert!(
                case.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not a DNS label",
                case.name
            );
            assert!(
                case.name.starts_with(case.group),
                "{} is not named after its group {}",
                case.name,
                case.group
            );
            assert!(!case.section.is_empty() && !case.checks.is_empty());
        }
    }

    #[test]
    fn every_case_belongs_to_a_known_release_and_every_release_has_cases() {
        use crate::release::Release;
        let known = [
            Release::V0_5_6,
            Release::V1_0_4,
            Release::V1_0_6,
            Release::V1_0_7,
            Release::V1_0_11,
            Release::V1_0_12,
        ];
        let all = all();
        for case in &all {
            assert!(
                known.contains(&case.since) && case.since <= Release::V1_0_12,
                "{} is tagged {}, not a known release",
                case.name,
                case.since
            );
        }
        for release in &known[1..] {
            assert!(
                all.iter().any(|c| c.since == *release),
                "no case checks what {release} introduced"
            );
        }
    }

    #[test]
    fn filters_select_by_substring() {
        let all = all();
        assert_eq!(matching(&[]).len(), all.len());
        let sandbox = matching(&["sandbox-".into()]);
        assert!(!sandbox.is_empty());
        assert!(sandbox.iter().all(|c| c.name.contains("sandbox-")));
        assert!(matching(&["no-such-case".into()]).is_empty());
    }
}
