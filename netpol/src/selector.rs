//! Label selector matching (`matchLabels` and `matchExpressions`), as Kubernetes defines it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Labels of one object.
pub type Labels = BTreeMap<String, String>;

/// Whether `labels` satisfy `selector`. Every term must hold; an empty selector matches all.
pub fn matches(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|req| requirement(req, labels))
}

fn requirement(req: &LabelSelectorRequirement, labels: &Labels) -> bool {
    let value = labels.get(&req.key);
    let listed = |v: &String| req.values.iter().flatten().any(|x| x == v);
    match req.operator.as_str() {
        "In" => value.is_some_and(listed),
        // An absent key is "not in" any set, as in Kubernetes.
        "NotIn" => !value.is_some_and(listed),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // The API server rejects other operators; should one slip through, selecting
        // nothing is the choice that never widens a peer set.
        _ => false,
    }
}

/// Labels from pairs, for tests across the crate.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(matches(&LabelSelector::default(), &labels(&[])));
        assert!(matches(&LabelSelector::default(), &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web"), ("tier", "front")])),
            ..Default::default()
        };
        assert!(matches(
            &sel,
            &labels(&[("app", "web"), ("tier", "front"), ("x", "y")])
        ));
        assert!(!matches(&sel, &labels(&[("app", "web")])));
        assert!(!matches(&sel, &labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn in_needs_a_listed_value() {
        let sel = expr("app", "In", &["a", "b"]);
        assert!(matches(&sel, &labels(&[("app", "b")])));
        assert!(!matches(&sel, &labels(&[("app", "c")])));
        assert!(!matches(&sel, &labels(&[])));
    }

    #[test]
    fn not_in_matches_absent_keys() {
        let sel = expr("app", "NotIn", &["a"]);
        assert!(matches(&sel, &labels(&[])));
        assert!(matches(&sel, &labels(&[("app", "b")])));
        assert!(!matches(&sel, &labels(&[("app", "a")])));
    }

    #[test]
    fn exists_and_does_not_exist() {
        let present = labels(&[("app", "x")]);
        assert!(matches(&expr("app", "Exists", &[]), &present));
        assert!(!matches(&expr("app", "Exists", &[]), &labels(&[])));
        assert!(!matches(&expr("app", "DoesNotExist", &[]), &present));
        assert!(matches(&expr("app", "DoesNotExist", &[]), &labels(&[])));
    }

    #[test]
    fn unknown_operator_matches_nothing() {
        assert!(!matches(
            &expr("app", "Gt", &["1"]),
            &labels(&[("app", "2")])
        ));
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let mut sel = expr("tier", "In", &["front"]);
        sel.match_labels = Some(labels(&[("app", "web")]));
        assert!(matches(&sel, &labels(&[("app", "web"), ("tier", "front")])));
        assert!(!matches(&sel, &labels(&[("app", "web"), ("tier", "back")])));
        assert!(!matches(&sel, &labels(&[("app", "db"), ("tier", "front")])));
    }
}
