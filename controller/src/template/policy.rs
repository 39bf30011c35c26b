//! The NetworkPolicy a SandboxTemplate manages (spec §3.3 steps 4–7): its name, its desired
//! spec (the template's rules or the secure default), its controller ownerRef, and the semantic
//! comparison that decides whether an existing policy needs an update.
//!
//! Everything here is pure.

use crate::sandbox::children::controller_ref;
use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use sandbox_api::keys;
use sandbox_api::v1beta1::SandboxTemplate;

/// Suffix of the managed NetworkPolicy's name (spec §3.3 step 4).
pub const NETWORK_POLICY_SUFFIX: &str = "-network-policy";

/// Pod label of the sandbox router, the only Pods the secure default admits (spec §3.3 step 6).
pub const ROUTER_POD_LABEL: (&str, &str) = ("app", "sandbox-router");
/// Namespace label selecting the namespace the router runs in (spec §3.3 step 6).
pub const ROUTER_NAMESPACE_LABEL: (&str, &str) =
    ("kubernetes.io/metadata.name", "agent-sandbox-system");

/// Egress the secure default allows: all of IPv4 except the RFC 1918 private ranges and
/// link-local addresses (where cloud metadata services live) (spec §3.3 step 6).
pub const PUBLIC_IPV4: (&str, &[&str]) = (
    "0.0.0.0/0",
    &[
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
    ],
);
/// Egress the secure default allows: all of IPv6 except unique-local and link-local addresses
/// (spec §3.3 step 6).
pub const PUBLIC_IPV6: (&str, &[&str]) = ("::/0", &["fc00::/7", "fe80::/10"]);

/// The protocol the API server fills into a NetworkPolicy port that names none.
const DEFAULT_PORT_PROTOCOL: &str = "TCP";

/// `<template>-network-policy`, in the template's namespace (spec §3.3 step 4).
#[must_use]
pub fn network_policy_name(template: &SandboxTemplate) -> String {
    format!("{}{NETWORK_POLICY_SUFFIX}", template_name(template))
}

fn template_name(template: &SandboxTemplate) -> &str {
    template.metadata.name.as_deref().unwrap_or_default()
}

/// `NameHash(template.name)`, the value of the template-ref-hash label on the template and on
/// the Pods its policy selects.
#[must_use]
pub fn template_ref_hash(template: &SandboxTemplate) -> sandbox_api::NameHash {
    sandbox_api::NameHash::of(template_name(template))
}

/// The spec the policy should have (spec §3.3 step 6): it selects the template's Pods by the
/// template-ref-hash label, governs both directions, and carries the template's rules verbatim,
/// or the secure default when the template has no `networkPolicy`.
#[must_use]
pub fn desired_spec(template: &SandboxTemplate) -> NetworkPolicySpec {
    let (ingress, egress) = match &template.spec.network_policy {
        Some(rules) => (rules.ingress.clone(), rules.egress.clone()),
        None => (
            vec![secure_default_ingress()],
            vec![secure_default_egress()],
        ),
    };
    NetworkPolicySpec {
        pod_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                keys::SANDBOX_TEMPLATE_REF_HASH_LABEL.to_owned(),
                template_ref_hash(template).to_string(),
            )])),
            match_expressions: None,
        }),
        policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
        // An empty list is written as absent, as Go's omitempty does; both deny everything
        // because the policy type is listed.
        ingress: non_empty(ingress),
        egress: non_empty(egress),
    }
}

/// The policy to create when none exists: the desired spec, owned by the template.
#[must_use]
pub fn new_network_policy(template: &SandboxTemplate) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(network_policy_name(template)),
            namespace: template.metadata.namespace.clone(),
            owner_references: Some(vec![controller_ref(template)]),
            ..ObjectMeta::default()
        },
        spec: Some(desired_spec(template)),
    }
}

/// The secure default's one ingress rule: only the sandbox router, from its namespace. Both
/// selectors sit in the same peer, so both must match.
#[must_use]
pub fn secure_default_ingress() -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(match_label(ROUTER_POD_LABEL)),
            namespace_selector: Some(match_label(ROUTER_NAMESPACE_LABEL)),
            ip_block: None,
        }]),
        ports: None,
    }
}

/// The secure default's one egress rule: the public internet only. Cluster DNS sits in a
/// private range, so it is blocked on purpose (spec §3.3 step 6; the Pods get public
/// nameservers instead, §3.4).
#[must_use]
pub fn secure_default_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![ip_block(PUBLIC_IPV4), ip_block(PUBLIC_IPV6)]),
        ports: None,
    }
}

fn match_label((key, value): (&str, &str)) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        match_expressions: None,
    }
}

fn ip_block((cidr, except): (&str, &[&str])) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: Some(except.iter().map(|&c| c.to_owned()).collect()),
        }),
        namespace_selector: None,
        pod_selector: None,
    }
}

/// Whether two specs mean the same policy, the way Go's `equality.Semantic.DeepEqual` compares
/// them (an empty list or map equals an absent one; the top-level Pod selector is a value, so
/// absent equals `{}`), and additionally treating a port without a protocol as `TCP`, which the
/// API server fills in. Without the latter, a template rule naming a port but no protocol
/// would differ from the stored policy on every pass and cause an endless stream of no-op
/// updates.
#[must_use]
pub fn same_spec(a: &NetworkPolicySpec, b: &NetworkPolicySpec) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(spec: &NetworkPolicySpec) -> NetworkPolicySpec {
    NetworkPolicySpec {
        pod_selector: Some(normalized_selector(
            spec.pod_selector
                .as_ref()
                .unwrap_or(&LabelSelector::default()),
        )),
        policy_types: non_empty(spec.policy_types.clone().unwrap_or_default()),
        ingress: non_empty(
            spec.ingress
                .iter()
                .flatten()
                .map(|rule| NetworkPolicyIngressRule {
                    from: normalized_peers(rule.from.as_deref()),
                    ports: normalized_ports(rule.ports.as_deref()),
                })
                .collect(),
        ),
        egress: non_empty(
            spec.egress
                .iter()
                .flatten()
                .map(|rule| NetworkPolicyEgressRule {
                    to: normalized_peers(rule.to.as_deref()),
                    ports: normalized_ports(rule.ports.as_deref()),
                })
                .collect(),
        ),
    }
}

fn normalized_peers(peers: Option<&[NetworkPolicyPeer]>) -> Option<Vec<NetworkPolicyPeer>> {
    let peers = peers
        .unwrap_or_default()
        .iter()
        .map(|peer| NetworkPolicyPeer {
            // Peer selectors are pointers in Go: absent ("none") and `{}` ("all") stay distinct.
            pod_selector: peer.pod_selector.as_ref().map(normalized_selector),
            namespace_selector: peer.namespace_selector.as_ref().map(normalized_selector),
            ip_block: peer.ip_block.as_ref().map(|block| IPBlock {
                cidr: block.cidr.clone(),
                except: non_empty(block.except.clone().unwrap_or_default()),
            }),
        });
    non_empty(peers.collect())
}

fn normalized_ports(ports: Option<&[NetworkPolicyPort]>) -> Option<Vec<NetworkPolicyPort>> {
    let ports = ports
        .unwrap_or_default()
        .iter()
        .map(|port| NetworkPolicyPort {
            protocol: Some(
                port.protocol
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PORT_PROTOCOL.to_owned()),
            ),
            ..port.clone()
        });
    non_empty(ports.collect())
}

fn normalized_selector(selector: &LabelSelector) -> LabelSelector {
    let expressions =
        selector
            .match_expressions
            .iter()
            .flatten()
            .map(|r| LabelSelectorRequirement {
                values: non_empty(r.values.clone().unwrap_or_default()),
                ..r.clone()
            });
    LabelSelector {
        match_labels: selector.match_labels.clone().filter(|m| !m.is_empty()),
        match_expressions: non_empty(expressions.collect()),
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn template(edit: impl FnOnce(&mut Value)) -> SandboxTemplate {
        let mut v = json!({
            "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
            "metadata": {"name": "python", "namespace": "team-a", "uid": "tpl-uid"},
            "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "x"}]}}}
        });
        edit(&mut v);
        serde_json::from_value(v).expect("fixture template must parse")
    }

    fn spec(v: Value) -> NetworkPolicySpec {
        serde_json::from_value(v).expect("fixture spec must parse")
    }

    #[test]
    fn the_policy_is_named_after_the_template() {
        assert_eq!(
            network_policy_name(&template(|_| {})),
            "python-network-policy"
        );
    }

    #[test]
    fn the_secure_default_admits_the_router_and_the_public_internet_only() {
        let hash = sandbox_api::name_hash("python");
        let got = serde_json::to_value(desired_spec(&template(|_| {}))).expect("serialise");
        assert_eq!(
            got,
            json!({
                "podSelector": {"matchLabels": {"agents.x-k8s.io/sandbox-template-ref-hash": hash}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{
                    "podSelector": {"matchLabels": {"app": "sandbox-router"}},
                    "namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "agent-sandbox-system"}}
                }]}],
                "egress": [{"to": [
                    {"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}},
                    {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}}
                ]}]
            })
        );
    }

    #[test]
    fn custom_rules_are_used_verbatim() {
        let rules = json!({
            "ingress": [{"ports": [{"port": 8080}]}],
            "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}]
        });
        let t = template(|v| v["spec"]["networkPolicy"] = rules.clone());
        let got = serde_json::to_value(desired_spec(&t)).expect("serialise");
        assert_eq!(got["ingress"], rules["ingress"]);
        assert_eq!(got["egress"], rules["egress"]);
        assert_eq!(got["policyTypes"], json!(["Ingress", "Egress"]));
    }

    #[test]
    fn empty_custom_rules_deny_everything() {
        let t = template(|v| v["spec"]["networkPolicy"] = json!({}));
        let got = desired_spec(&t);
        assert_eq!((got.ingress, got.egress), (None, None));
        assert_eq!(
            got.policy_types,
            Some(vec!["Ingress".into(), "Egress".into()])
        );
    }

    #[test]
    fn a_new_policy_is_controlled_by_the_template() {
        let np = new_network_policy(&template(|_| {}));
        assert_eq!(np.metadata.name.as_deref(), Some("python-network-policy"));
        assert_eq!(np.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            serde_json::to_value(np.metadata.owner_references).expect("serialise"),
            json!([{"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
                    "name": "python", "uid": "tpl-uid", "controller": true,
                    "blockOwnerDeletion": true}])
        );
    }

    #[test]
    fn empty_and_absent_lists_and_maps_are_the_same() {
        let a = spec(json!({
            "podSelector": {},
            "ingress": [{"from": [{"ipBlock": {"cidr": "1.2.3.0/24", "except": []}}], "ports": []}],
            "egress": []
        }));
        let b = spec(json!({
            "podSelector": {"matchLabels": {}, "matchExpressions": []},
            "policyTypes": [],
            "ingress": [{"from": [{"ipBlock": {"cidr": "1.2.3.0/24"}}]}]
        }));
        assert!(same_spec(&a, &b));
        let nothing = spec(json!({"podSelector": {}, "ingress": [], "egress": []}));
        assert!(same_spec(&spec(json!({})), &nothing));
    }

    #[test]
    fn a_port_without_protocol_is_tcp() {
        let bare = spec(json!({"ingress": [{"ports": [{"port": 80}]}]}));
        let tcp = spec(json!({"ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}]}));
        let udp = spec(json!({"ingress": [{"ports": [{"port": 80, "protocol": "UDP"}]}]}));
        assert!(same_spec(&bare, &tcp));
        assert!(!same_spec(&bare, &udp));
    }

    #[test]
    fn an_empty_peer_selector_is_not_an_absent_one() {
        let all = spec(json!({"ingress": [{"from": [{"namespaceSelector": {}}]}]}));
        let pods = spec(json!({"ingress": [{"from": [{"podSelector": {}}]}]}));
        assert!(!same_spec(&all, &pods));
    }

    #[test]
    fn rule_order_and_values_matter() {
        let a = spec(json!({"policyTypes": ["Ingress", "Egress"]}));
        let b = spec(json!({"policyTypes": ["Egress", "Ingress"]}));
        assert!(!same_spec(&a, &b));
        let x = spec(json!({"podSelector": {"matchExpressions": [
            {"key": "k", "operator": "In", "values": ["a"]}]}}));
        let y = spec(json!({"podSelector": {"matchExpressions": [
            {"key": "k", "operator": "In", "values": ["b"]}]}}));
        assert!(!same_spec(&x, &y));
        let z = spec(json!({"podSelector": {"matchExpressions": [
            {"key": "k", "operator": "Exists", "values": []}]}}));
        let w = spec(json!({"podSelector": {"matchExpressions": [
            {"key": "k", "operator": "Exists"}]}}));
        assert!(same_spec(&z, &w));
    }
}
