//! The decision: for each pod this node enforces, the traffic its policies allow in each
//! direction it is isolated in.

use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};

use crate::cidr::Ipv4Net;
use crate::notes::Notes;
use crate::peers::{self, Target};
use crate::policy;
use crate::ports::{self, Ports};
use crate::snapshot::{PodView, Snapshot};

/// The other end of an allowed flow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// The rule names no peers: any address.
    Any,
    /// A network (a pod is its /32) minus `except`.
    Net { net: Ipv4Net, except: Vec<Ipv4Net> },
}

/// One allowed (peer, ports) pair. `ports` is never `Ports::Only(vec![])`: such pairs allow
/// nothing and are left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Allow {
    pub peer: Peer,
    pub ports: Ports,
}

/// A pod this node enforces policy for. `None` for a direction it is not isolated in;
/// `Some(vec![])` for a direction where nothing is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforced {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub ingress: Option<Vec<Allow>>,
    pub egress: Option<Vec<Allow>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Isolated pods of this node, by namespace and name.
    pub pods: Vec<Enforced>,
    pub notes: Notes,
}

/// Decides for every pod on `node` that has an IP, is not host-network and has not finished.
pub fn decide(snapshot: &Snapshot, node: &str) -> Decision {
    let mut notes = Notes::default();
    let mut pods: Vec<Enforced> = snapshot
        .pods
        .iter()
        .filter(|pod| pod.node.as_deref() == Some(node))
        .filter_map(|pod| enforce(pod, snapshot, &mut notes))
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Decision { pods, notes }
}

/// The enforcement for one local pod, or `None` if it is not addressable or not isolated.
fn enforce(pod: &PodView, snapshot: &Snapshot, notes: &mut Notes) -> Option<Enforced> {
    let ip = pod.addressable()?;
    let selecting: Vec<&NetworkPolicy> = snapshot
        .policies
        .iter()
        .filter(|p| policy::selects(p, pod))
        .collect();
    let mut ingress: Option<Vec<Allow>> = None;
    let mut egress: Option<Vec<Allow>> = None;
    for p in selecting {
        let dirs = policy::directions(p);
        let Some(spec) = &p.spec else { continue };
        let ns = p.metadata.namespace.as_deref().unwrap_or_default();
        let name = p.metadata.name.as_deref().unwrap_or_default();
        if dirs.ingress {
            let allows = ingress.get_or_insert_with(Vec::new);
            for (i, rule) in spec.ingress.iter().flatten().enumerate() {
                let context = format!("policy {ns}/{name} ingress[{i}]");
                let rule = Rule {
                    peers: rule.from.as_deref().unwrap_or_default(),
                    ports: rule.ports.as_deref().unwrap_or_default(),
                };
                allows.extend(ingress_rule(&rule, pod, ns, snapshot, &context, notes));
            }
        }
        if dirs.egress {
            let allows = egress.get_or_insert_with(Vec::new);
            for (i, rule) in spec.egress.iter().flatten().enumerate() {
                let context = format!("policy {ns}/{name} egress[{i}]");
                let rule = Rule {
                    peers: rule.to.as_deref().unwrap_or_default(),
                    ports: rule.ports.as_deref().unwrap_or_default(),
                };
                allows.extend(egress_rule(&rule, ns, snapshot, &context, notes));
            }
        }
    }
    if ingress.is_none() && egress.is_none() {
        return None;
    }
    // A union: order and repeats do not change what is allowed, and sorting keeps the
    // rendered text stable between runs.
    for allows in [&mut ingress, &mut egress].into_iter().flatten() {
        allows.sort();
        allows.dedup();
    }
    Some(Enforced {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        ip,
        ingress,
        egress,
    })
}

/// One ingress or egress rule; empty `peers` means every peer, empty `ports` every port.
struct Rule<'a> {
    peers: &'a [NetworkPolicyPeer],
    ports: &'a [NetworkPolicyPort],
}

/// Ingress: named ports resolve against the pod being protected, the same for every peer.
fn ingress_rule(
    rule: &Rule<'_>,
    pod: &PodView,
    policy_ns: &str,
    snapshot: &Snapshot,
    context: &str,
    notes: &mut Notes,
) -> Vec<Allow> {
    let ports = ports::resolve(rule.ports, Some(&pod.ports), context, notes);
    if ports == Ports::Only(vec![]) {
        return Vec::new();
    }
    if rule.peers.is_empty() {
        return vec![Allow {
            peer: Peer::Any,
            ports,
        }];
    }
    targets(rule.peers, policy_ns, snapshot, context, notes)
        .into_iter()
        .map(|target| Allow {
            peer: peer_of(&target),
            ports: ports.clone(),
        })
        .collect()
}

/// Egress: named ports resolve against each destination pod; towards an `ipBlock` or any
/// address they cannot be resolved, and allow nothing.
fn egress_rule(
    rule: &Rule<'_>,
    policy_ns: &str,
    snapshot: &Snapshot,
    context: &str,
    notes: &mut Notes,
) -> Vec<Allow> {
    let destinations: Vec<(Peer, Option<&[_]>)> = if rule.peers.is_empty() {
        vec![(Peer::Any, None)]
    } else {
        targets(rule.peers, policy_ns, snapshot, context, notes)
            .iter()
            .map(|target| {
                let named = match target {
                    Target::Pod(pod, _) => Some(pod.ports.as_slice()),
                    Target::Block { .. } => None,
                };
                (peer_of(target), named)
            })
            .collect()
    };
    destinations
        .into_iter()
        .filter_map(|(peer, named)| {
            let ports = ports::resolve(rule.ports, named, context, notes);
            (ports != Ports::Only(vec![])).then_some(Allow { peer, ports })
        })
        .collect()
}

fn targets<'a>(
    peers: &[NetworkPolicyPeer],
    policy_ns: &str,
    snapshot: &'a Snapshot,
    context: &str,
    notes: &mut Notes,
) -> Vec<Target<'a>> {
    peers
        .iter()
        .flat_map(|peer| peers::resolve(peer, policy_ns, snapshot, context, notes))
        .collect()
}

fn peer_of(target: &Target<'_>) -> Peer {
    match target {
        Target::Pod(_, ip) => Peer::Net {
            net: Ipv4Net::host(*ip),
            except: Vec::new(),
        },
        Target::Block { net, except } => Peer::Net {
            net: *net,
            except: except.clone(),
        },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
