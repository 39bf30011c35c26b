//! Which policies select a pod, and in which directions they isolate it.

use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::selector;
use crate::snapshot::PodView;

/// The directions a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Directions {
    pub ingress: bool,
    pub egress: bool,
}

/// `policyTypes`, defaulted as the API server does when it is empty: Ingress always, and
/// Egress when the policy has egress rules.
pub fn directions(policy: &NetworkPolicy) -> Directions {
    let Some(spec) = &policy.spec else {
        return Directions::default();
    };
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => Directions {
            ingress: types.iter().any(|t| t == "Ingress"),
            egress: types.iter().any(|t| t == "Egress"),
        },
        _ => Directions {
            ingress: true,
            egress: spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
        },
    }
}

/// Whether `policy` selects `pod`: same namespace, and its podSelector (absent is empty,
/// so every pod) matches.
pub fn selects(policy: &NetworkPolicy, pod: &PodView) -> bool {
    policy.metadata.namespace.as_deref() == Some(pod.namespace.as_str())
        && policy.spec.as_ref().is_some_and(|spec| {
            spec.pod_selector
                .as_ref()
                .is_none_or(|sel| selector::matches(sel, &pod.labels))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": "p"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn pod(ns: &str, app: &str) -> PodView {
        PodView {
            namespace: ns.into(),
            name: "x".into(),
            labels: [("app".to_string(), app.to_string())].into(),
            node: None,
            host_network: false,
            terminated: false,
            ip: None,
            ports: vec![],
        }
    }

    #[test]
    fn defaulting_without_policy_types() {
        let ingress_only = policy(json!({"podSelector": {}}));
        assert_eq!(
            directions(&ingress_only),
            Directions {
                ingress: true,
                egress: false
            }
        );
        let with_egress = policy(json!({"podSelector": {}, "egress": [{}]}));
        assert_eq!(
            directions(&with_egress),
            Directions {
                ingress: true,
                egress: true
            }
        );
        let empty_egress = policy(json!({"podSelector": {}, "egress": [], "policyTypes": []}));
        assert_eq!(
            directions(&empty_egress),
            Directions {
                ingress: true,
                egress: false
            }
        );
    }

    #[test]
    fn explicit_policy_types_win() {
        let egress_only = policy(json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert_eq!(
            directions(&egress_only),
            Directions {
                ingress: false,
                egress: true
            }
        );
    }

    #[test]
    fn no_spec_isolates_nothing() {
        let mut p = policy(json!({"podSelector": {}}));
        p.spec = None;
        assert_eq!(directions(&p), Directions::default());
        assert!(!selects(&p, &pod("ns", "web")));
    }

    #[test]
    fn absent_pod_selector_selects_every_pod() {
        let p = policy(json!({}));
        assert!(selects(&p, &pod("ns", "anything")));
    }

    #[test]
    fn selects_by_namespace_and_labels() {
        let p = policy(json!({"podSelector": {"matchLabels": {"app": "web"}}}));
        assert!(selects(&p, &pod("ns", "web")));
        assert!(!selects(&p, &pod("ns", "db")));
        assert!(!selects(&p, &pod("other", "web")));
    }
}
