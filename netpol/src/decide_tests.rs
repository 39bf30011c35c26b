use super::*;
use crate::ports::{PortMatch, Protocol};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::{Value, json};

fn pod(ns: &str, name: &str, node: &str, ip: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
            {"name": "http", "containerPort": 8080}
        ]}]},
        "status": {"phase": "Running", "podIP": ip}
    }))
    .unwrap()
}

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}
    }))
    .unwrap()
}

fn policy(ns: &str, name: &str, spec: Value) -> NetworkPolicy {
    serde_json::from_value(json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
        .unwrap()
}

/// Pods `a` (10.0.0.2, app=a) and `b` (10.0.0.3, app=b) on node n1 in namespace ns, and `c`
/// (10.0.0.4, app=c) on node n2.
fn decide_with(policies: &[NetworkPolicy], extra: &[Pod]) -> Decision {
    let mut pods = vec![
        pod("ns", "b", "n1", "10.0.0.3", json!({"app": "b"})),
        pod("ns", "a", "n1", "10.0.0.2", json!({"app": "a"})),
        pod("ns", "c", "n2", "10.0.0.4", json!({"app": "c"})),
    ];
    pods.extend(extra.iter().cloned());
    let namespaces = [namespace("ns")];
    decide(&Snapshot::new(&pods, &namespaces, policies), "n1")
}

fn host(ip: [u8; 4]) -> Peer {
    Peer::Net {
        net: Ipv4Net::host(Ipv4Addr::from(ip)),
        except: vec![],
    }
}

fn tcp(port: u16) -> Ports {
    Ports::Only(vec![PortMatch {
        protocol: Protocol::Tcp,
        range: Some((port, port)),
    }])
}

fn find<'a>(d: &'a Decision, name: &str) -> &'a Enforced {
    d.pods.iter().find(|p| p.name == name).expect(name)
}

#[test]
fn no_policy_enforces_nothing() {
    assert!(decide_with(&[], &[]).pods.is_empty());
}

#[test]
fn deny_all_ingress_isolates_only_ingress_of_selected_pods() {
    let d = decide_with(
        &[policy(
            "ns",
            "deny",
            json!({"podSelector": {"matchLabels": {"app": "b"}}}),
        )],
        &[],
    );
    assert_eq!(d.pods.len(), 1);
    let b = find(&d, "b");
    assert_eq!(b.ip, Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(b.ingress, Some(vec![]));
    assert_eq!(b.egress, None);
}

#[test]
fn egress_policy_isolates_only_egress() {
    let d = decide_with(
        &[policy(
            "ns",
            "out",
            json!({"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                   "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.3/32"}}]}]}),
        )],
        &[],
    );
    let a = find(&d, "a");
    assert_eq!(a.ingress, None);
    assert_eq!(
        a.egress,
        Some(vec![Allow {
            peer: host([10, 0, 0, 3]),
            ports: Ports::Any
        }])
    );
}

#[test]
fn pods_elsewhere_host_network_finished_or_without_ip_are_not_enforced() {
    let mut hostnet = pod("ns", "h", "n1", "192.168.0.1", json!({}));
    hostnet.spec.as_mut().unwrap().host_network = Some(true);
    let mut done = pod("ns", "d", "n1", "10.0.0.9", json!({}));
    done.status.as_mut().unwrap().phase = Some("Failed".into());
    let mut pending = pod("ns", "p", "n1", "", json!({}));
    pending.status = None;
    let d = decide_with(
        &[policy("ns", "all", json!({"podSelector": {}}))],
        &[hostnet, done, pending],
    );
    let names: Vec<_> = d.pods.iter().map(|p| p.name.as_str()).collect();
    // Sorted by name; `c` is on n2.
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn policies_in_other_namespaces_do_not_select() {
    let d = decide_with(&[policy("other", "all", json!({"podSelector": {}}))], &[]);
    assert!(d.pods.is_empty());
}

#[test]
fn allowed_traffic_is_the_union_of_selecting_policies() {
    let d = decide_with(
        &[
            policy(
                "ns",
                "from-a",
                json!({"podSelector": {"matchLabels": {"app": "b"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}],
                                    "ports": [{"port": 80}]}]}),
            ),
            policy(
                "ns",
                "from-c",
                json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "c"}}}]}]}),
            ),
        ],
        &[],
    );
    let b = find(&d, "b");
    assert_eq!(
        b.ingress,
        Some(vec![
            Allow {
                peer: host([10, 0, 0, 2]),
                ports: tcp(80)
            },
            // Pod c runs on another node, yet is a peer by its IP.
            Allow {
                peer: host([10, 0, 0, 4]),
                ports: Ports::Any
            },
        ])
    );
    // Pod a is selected only by from-c.
    assert_eq!(
        find(&d, "a").ingress,
        Some(vec![Allow {
            peer: host([10, 0, 0, 4]),
            ports: Ports::Any
        }])
    );
}

#[test]
fn a_rule_without_peers_allows_every_peer() {
    let d = decide_with(
        &[policy(
            "ns",
            "web",
            json!({"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{"ports": [{"port": 443}]}]}),
        )],
        &[],
    );
    assert_eq!(
        find(&d, "a").ingress,
        Some(vec![Allow {
            peer: Peer::Any,
            ports: tcp(443)
        }])
    );
}

#[test]
fn ingress_named_port_resolves_against_the_protected_pod() {
    let d = decide_with(
        &[policy(
            "ns",
            "named",
            json!({"podSelector": {"matchLabels": {"app": "a"}},
                   "ingress": [{"ports": [{"port": "http"}]}, {"ports": [{"port": "nope"}]}]}),
        )],
        &[],
    );
    // The rule naming a port the pod lacks allows nothing.
    assert_eq!(
        find(&d, "a").ingress,
        Some(vec![Allow {
            peer: Peer::Any,
            ports: tcp(8080)
        }])
    );
}

#[test]
fn egress_named_port_resolves_per_peer_pod_and_never_for_blocks() {
    let mut other = pod("ns", "z", "n2", "10.0.0.5", json!({"app": "z"}));
    other.spec.as_mut().unwrap().containers[0].ports = None;
    let d = decide_with(
        &[policy(
            "ns",
            "named",
            json!({"podSelector": {"matchLabels": {"app": "a"}}, "egress": [
                {"to": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "z"]}]}}],
                 "ports": [{"port": "http"}]},
                {"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}], "ports": [{"port": "http"}]},
                {"ports": [{"port": "http"}]}
            ]}),
        )],
        &[other],
    );
    let a = find(&d, "a");
    // b has port "http"; z does not; the ipBlock and the any-peer rule cannot resolve it.
    assert_eq!(
        a.egress,
        Some(vec![Allow {
            peer: host([10, 0, 0, 3]),
            ports: tcp(8080)
        }])
    );
    assert_eq!(a.ingress, Some(vec![]));
    assert_eq!(d.notes.warnings.len(), 2, "{:?}", d.notes.warnings);
}

#[test]
fn ip_block_except_is_kept() {
    let d = decide_with(
        &[policy(
            "ns",
            "blk",
            json!({"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.4/32"]}}]}
            ]}),
        )],
        &[],
    );
    assert_eq!(
        find(&d, "a").ingress,
        Some(vec![Allow {
            peer: Peer::Net {
                net: Ipv4Net::parse("10.0.0.0/24").unwrap(),
                except: vec![Ipv4Net::parse("10.0.0.4/32").unwrap()]
            },
            ports: Ports::Any
        }])
    );
}

#[test]
fn a_policy_without_spec_does_not_hide_the_others() {
    let mut broken = policy("ns", "broken", json!({"podSelector": {}}));
    broken.spec = None;
    let d = decide_with(
        &[broken, policy("ns", "deny", json!({"podSelector": {}}))],
        &[],
    );
    assert_eq!(d.pods.len(), 2);
}

#[test]
fn repeated_allows_collapse() {
    let rule = json!({"from": [{"podSelector": {"matchLabels": {"app": "b"}}}]});
    let d = decide_with(
        &[policy(
            "ns",
            "dup",
            json!({"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [rule, rule]}),
        )],
        &[],
    );
    assert_eq!(find(&d, "a").ingress.as_ref().map(Vec::len), Some(1));
}
