//! A rule's `from`/`to` entries, resolved against the snapshot to pods and networks.

use k8s_openapi::api::networking::v1::NetworkPolicyPeer;

use std::net::Ipv4Addr;

use crate::cidr::{CidrError, Ipv4Net};
use crate::notes::Notes;
use crate::selector;
use crate::snapshot::{PodView, Snapshot};

/// Where one peer entry lets traffic come from or go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A pod (on any node) and its IP; egress reads its named ports.
    Pod(&'a PodView, Ipv4Addr),
    /// An `ipBlock`: the network minus the `except` networks.
    Block { net: Ipv4Net, except: Vec<Ipv4Net> },
}

/// Resolves one peer of a policy in namespace `policy_ns`. Anything that cannot be taken
/// exactly resolves to nothing, so a peer never stands for more than written.
pub fn resolve<'a>(
    peer: &NetworkPolicyPeer,
    policy_ns: &str,
    snapshot: &'a Snapshot,
    context: &str,
    notes: &mut Notes,
) -> Vec<Target<'a>> {
    if let Some(block) = &peer.ip_block {
        return ip_block(
            &block.cidr,
            block.except.as_deref().unwrap_or(&[]),
            context,
            notes,
        )
        .into_iter()
        .collect();
    }
    if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
        notes.warn(format!(
            "{context}: a peer with no selector and no ipBlock; it matches nothing"
        ));
        return Vec::new();
    }
    snapshot
        .pods
        .iter()
        .filter(|pod| match &peer.namespace_selector {
            // Alone, a podSelector means the policy's own namespace.
            None => pod.namespace == policy_ns,
            // A namespace not (yet) in the cache has unknown labels: selected by nothing.
            Some(sel) => snapshot
                .namespaces
                .get(&pod.namespace)
                .is_some_and(|labels| selector::matches(sel, labels)),
        })
        .filter(|pod| {
            peer.pod_selector
                .as_ref()
                .is_none_or(|sel| selector::matches(sel, &pod.labels))
        })
        .filter_map(|pod| Some(Target::Pod(pod, pod.addressable()?)))
        .collect()
}

fn ip_block<'a>(
    cidr: &str,
    except: &[String],
    context: &str,
    notes: &mut Notes,
) -> Option<Target<'a>> {
    let net = match Ipv4Net::parse(cidr) {
        Ok(net) => net,
        Err(e @ CidrError::Ipv6(_)) => {
            notes.debug(format!("{context}: {e}; ipBlock skipped"));
            return None;
        }
        Err(e @ CidrError::Invalid(_)) => {
            notes.warn(format!("{context}: {e}; ipBlock matches nothing"));
            return None;
        }
    };
    let mut nets = Vec::new();
    for text in except {
        match Ipv4Net::parse(text) {
            Ok(n) => nets.push(n),
            // Dropping an exception would widen the block, so the whole block goes.
            Err(e) => {
                notes.warn(format!("{context}: except {e}; ipBlock matches nothing"));
                return None;
            }
        }
    }
    nets.sort();
    nets.dedup();
    Some(Target::Block { net, except: nets })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::labels;
    use k8s_openapi::api::networking::v1::IPBlock;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn pod(ns: &str, name: &str, app: &str, ip: u8) -> PodView {
        PodView {
            namespace: ns.into(),
            name: name.into(),
            labels: labels(&[("app", app)]),
            node: Some("other".into()),
            host_network: false,
            terminated: false,
            ip: Some(Ipv4Addr::new(10, 0, 0, ip)),
            ports: vec![],
        }
    }

    fn snapshot() -> Snapshot {
        let mut host = pod("a", "host", "web", 50);
        host.host_network = true;
        let mut done = pod("a", "done", "web", 51);
        done.terminated = true;
        let mut pending = pod("a", "pending", "web", 0);
        pending.ip = None;
        Snapshot {
            pods: vec![
                pod("a", "web", "web", 1),
                pod("a", "db", "db", 2),
                pod("b", "web", "web", 3),
                pod("c", "web", "web", 4),
                host,
                done,
                pending,
            ],
            namespaces: [
                ("a".to_string(), labels(&[("team", "x")])),
                ("b".to_string(), labels(&[("team", "y")])),
            ]
            .into(),
            policies: vec![],
        }
    }

    fn app(value: &str) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: Some(labels(&[("app", value)])),
            ..Default::default()
        })
    }

    fn names(targets: &[Target<'_>]) -> Vec<String> {
        targets
            .iter()
            .map(|t| match t {
                Target::Pod(p, _) => format!("{}/{}", p.namespace, p.name),
                Target::Block { net, except } => {
                    let except: Vec<String> = except.iter().map(ToString::to_string).collect();
                    format!("{net} except {}", except.join(","))
                }
            })
            .collect()
    }

    fn run(peer: NetworkPolicyPeer) -> (Vec<String>, Notes) {
        let snap = snapshot();
        let mut notes = Notes::default();
        let got = names(&resolve(&peer, "a", &snap, "t", &mut notes));
        (got, notes)
    }

    #[test]
    fn pod_selector_alone_is_the_policy_namespace() {
        let (got, _) = run(NetworkPolicyPeer {
            pod_selector: app("web"),
            ..Default::default()
        });
        // Not the host-network, finished or IP-less pods with the same labels.
        assert_eq!(got, ["a/web"]);
    }

    #[test]
    fn namespace_selector_alone_is_every_pod_there() {
        let (got, _) = run(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("team", "y")])),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(got, ["b/web"]);
    }

    #[test]
    fn empty_namespace_selector_skips_unknown_namespaces() {
        let (got, _) = run(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: app("web"),
            ..Default::default()
        });
        // Namespace "c" is not in the cache.
        assert_eq!(got, ["a/web", "b/web"]);
    }

    #[test]
    fn both_selectors_intersect() {
        let (got, _) = run(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("team", "x")])),
                ..Default::default()
            }),
            pod_selector: app("db"),
            ..Default::default()
        });
        assert_eq!(got, ["a/db"]);
    }

    #[test]
    fn empty_peer_matches_nothing_and_warns() {
        let (got, notes) = run(NetworkPolicyPeer::default());
        assert!(got.is_empty());
        assert_eq!(notes.warnings.len(), 1);
    }

    #[test]
    fn ip_block_with_sorted_excepts() {
        let (got, notes) = run(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "10.0.0.0/8".into(),
                except: Some(vec!["10.2.0.0/16".into(), "10.1.0.0/16".into()]),
            }),
            ..Default::default()
        });
        assert_eq!(got, ["10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16"]);
        assert!(notes.warnings.is_empty());
    }

    #[test]
    fn ipv6_block_is_skipped_quietly() {
        let (got, notes) = run(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "fd00::/8".into(),
                except: None,
            }),
            ..Default::default()
        });
        assert!(got.is_empty());
        assert!(notes.warnings.is_empty());
        assert_eq!(notes.debug.len(), 1);
    }

    #[test]
    fn bad_cidr_or_bad_except_matches_nothing_and_warns() {
        for (cidr, except) in [("nope", vec![]), ("10.0.0.0/8", vec!["bad".to_string()])] {
            let (got, notes) = run(NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.into(),
                    except: Some(except),
                }),
                ..Default::default()
            });
            assert!(got.is_empty(), "{cidr}");
            assert_eq!(notes.warnings.len(), 1, "{cidr}");
        }
    }
}
