//! The cluster as the decision sees it: only the fields NetworkPolicy semantics read, taken
//! from the watched objects so the decision itself is pure and testable without a cluster.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::selector::Labels;

/// One container port that a named policy port can resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    /// `TCP`, `UDP` or `SCTP` as written in the pod spec (defaulted to `TCP`).
    pub protocol: String,
    pub port: u16,
}

/// A pod, reduced to what policies read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub node: Option<String>,
    pub host_network: bool,
    /// `Succeeded` or `Failed`: its IP may already belong to another pod.
    pub terminated: bool,
    /// The IPv4 pod IP, if one is assigned.
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<NamedPort>,
}

/// Everything one decision reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pods: Vec<PodView>,
    /// Namespace labels by namespace name.
    pub namespaces: BTreeMap<String, Labels>,
    pub policies: Vec<NetworkPolicy>,
}

impl PodView {
    /// Whether this pod's IP may stand for it in a peer set or a per-pod rule: it has a
    /// live IPv4 address of its own (a host-network pod's "IP" is the node's).
    pub fn addressable(&self) -> Option<Ipv4Addr> {
        self.ip.filter(|_| !self.host_network && !self.terminated)
    }
}

impl From<&Pod> for PodView {
    fn from(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        // Ports of ordinary containers and of sidecars (init containers that keep running);
        // other init containers have exited before the pod serves anything.
        let containers = spec.into_iter().flat_map(|s| {
            s.containers.iter().chain(
                s.init_containers
                    .iter()
                    .flatten()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
        });
        let ports = containers
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                Some(NamedPort {
                    name: p.name.clone()?,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: u16::try_from(p.container_port).ok()?,
                })
            })
            .collect();
        // `podIPs` lists every family; `podIP` is the first. Take the IPv4 one.
        let ips = status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|ip| ip.ip.as_str())
            .chain(status.and_then(|s| s.pod_ip.as_deref()));
        let ip = ips.filter_map(|ip| ip.parse::<Ipv4Addr>().ok()).next();
        let phase = status.and_then(|s| s.phase.as_deref());
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            terminated: matches!(phase, Some("Succeeded" | "Failed")),
            ip,
            ports,
        }
    }
}

impl Snapshot {
    /// A snapshot of the watched objects.
    pub fn new<'a>(
        pods: impl IntoIterator<Item = &'a Pod>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
    ) -> Self {
        Self {
            pods: pods.into_iter().map(PodView::from).collect(),
            namespaces: namespaces
                .into_iter()
                .map(|ns| {
                    (
                        ns.metadata.name.clone().unwrap_or_default(),
                        ns.metadata.labels.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            policies: policies.into_iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> PodView {
        PodView::from(&serde_json::from_value::<Pod>(value).unwrap())
    }

    #[test]
    fn reads_the_fields_policies_need() {
        let view = pod(json!({
            "metadata": {"namespace": "ns", "name": "p", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "n1",
                "containers": [{"name": "c", "ports": [
                    {"name": "http", "containerPort": 8080},
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"containerPort": 9000}
                ]}],
                "initContainers": [
                    {"name": "side", "restartPolicy": "Always", "ports": [{"name": "m", "containerPort": 9100}]},
                    {"name": "once", "ports": [{"name": "gone", "containerPort": 1}]}
                ]
            },
            "status": {"phase": "Running", "podIP": "fd00::1", "podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.5"}]}
        }));
        assert_eq!(view.namespace, "ns");
        assert_eq!(view.node.as_deref(), Some("n1"));
        assert_eq!(view.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(view.ip, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(view.addressable(), Some(Ipv4Addr::new(10, 0, 0, 5)));
        let names: Vec<_> = view
            .ports
            .iter()
            .map(|p| (p.name.as_str(), p.protocol.as_str(), p.port))
            .collect();
        assert_eq!(
            names,
            [
                ("http", "TCP", 8080),
                ("dns", "UDP", 53),
                ("m", "TCP", 9100)
            ]
        );
    }

    #[test]
    fn host_network_and_finished_pods_are_not_addressable() {
        let host = pod(json!({
            "metadata": {"name": "h"},
            "spec": {"hostNetwork": true, "containers": []},
            "status": {"podIP": "192.168.1.1"}
        }));
        assert!(host.host_network);
        assert_eq!(host.addressable(), None);
        let done = pod(json!({
            "metadata": {"name": "d"},
            "spec": {"containers": []},
            "status": {"phase": "Succeeded", "podIP": "10.0.0.9"}
        }));
        assert!(done.terminated);
        assert_eq!(done.addressable(), None);
        let pending = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        assert_eq!(pending.ip, None);
    }
}
