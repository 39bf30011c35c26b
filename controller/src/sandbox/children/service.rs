//! The Sandbox's headless Service, named after the Sandbox (spec §2.5, §2.8).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, PodSpec, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;
use serde_json::{Map, Value, json};

use super::owner::{controller_ref, may_adopt, with_controller_ref};
use super::{label, name_hash_labels, sandbox_name, sandbox_name_hash, string_map_patch};

/// Protocol of a container port that does not name one.
const DEFAULT_PROTOCOL: &str = "TCP";

/// Init-container restart policy that makes it a sidecar whose ports the Service exposes.
const SIDECAR_RESTART_POLICY: &str = "Always";

/// `clusterIP` of a headless Service.
const CLUSTER_IP_NONE: &str = "None";

/// The containers whose ports the Service exposes: regular containers, then sidecars (init
/// containers with `restartPolicy: Always`); plain init containers exit before serving.
fn serving_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some(SIDECAR_RESTART_POLICY));
    spec.containers.iter().chain(sidecars)
}

/// The Service ports for a Pod spec (spec §2.8), or `None` when no container declares a port
/// (a Service without ports is valid, §11.14).
///
/// * Ports of containers and sidecar init containers; port 0 is skipped; protocol defaults to
///   TCP; one Service port per (port, protocol), sorted by port then protocol.
/// * Names: the first explicit container-port name seen for a (port, protocol), in container
///   order, unless an earlier (port, protocol) already took that name — the apiserver resolves
///   named target ports to the first match, so the first one keeps it.
/// * Unnamed ports get `p-<port>-<protocol in lowercase>`, suffixed `-2`, `-3`, … until the name
///   is free, so generated names never shadow explicit ones.
/// * `targetPort` is the port number.
#[must_use]
pub fn service_ports(spec: &PodSpec) -> Option<Vec<ServicePort>> {
    let mut explicit_names: BTreeMap<(i32, String), Option<String>> = BTreeMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for container_port in serving_containers(spec).flat_map(|c| c.ports.iter().flatten()) {
        if container_port.container_port == 0 {
            continue;
        }
        let protocol = container_port
            .protocol
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_PROTOCOL);
        let entry = explicit_names
            .entry((container_port.container_port, protocol.to_owned()))
            .or_default();
        let Some(name) = container_port.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if entry.is_none() && taken.insert(name.to_owned()) {
            *entry = Some(name.to_owned());
        }
    }
    if explicit_names.is_empty() {
        return None;
    }
    let ports = explicit_names
        .into_iter()
        .map(|((port, protocol), name)| {
            let name = name.unwrap_or_else(|| generated_port_name(port, &protocol, &taken));
            taken.insert(name.clone());
            ServicePort {
                name: Some(name),
                protocol: Some(protocol),
                port,
                target_port: Some(IntOrString::Int(port)),
                ..ServicePort::default()
            }
        })
        .collect();
    Some(ports)
}

/// `p-<port>-<protocol>`, or the first of `…-2`, `…-3`, … not in `taken`.
fn generated_port_name(port: i32, protocol: &str, taken: &HashSet<String>) -> String {
    let base = format!("p-{port}-{}", protocol.to_lowercase());
    if !taken.contains(&base) {
        return base;
    }
    (2u32..)
        .map(|suffix| format!("{base}-{suffix}"))
        .find(|name| !taken.contains(name))
        .unwrap_or(base)
}

/// The headless Service to create when `spec.service` is `true` and none exists (spec §2.8):
/// named after the Sandbox, `clusterIP: None`, selecting and labelled with the name hash,
/// exposing [`service_ports`], with the Sandbox as controller.
#[must_use]
pub fn new_service(sandbox: &Sandbox) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(sandbox_name(sandbox).to_owned()),
            namespace: sandbox.metadata.namespace.clone(),
            labels: Some(name_hash_labels(sandbox)),
            owner_references: Some(vec![controller_ref(sandbox)]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(CLUSTER_IP_NONE.to_owned()),
            selector: Some(name_hash_labels(sandbox)),
            ports: service_ports(&sandbox.spec.blueprint.pod_template.spec),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Whether an *unowned* Service may be adopted (spec §2.8): it is marked adoptable or already
/// tracked by this Sandbox ([`may_adopt`]), and it is headless or has no `clusterIP` yet —
/// `clusterIP` is immutable, so a Service with a real one can never become headless.
#[must_use]
pub fn service_adoptable(svc: &Service, sandbox: &Sandbox) -> bool {
    let cluster_ip = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    may_adopt(&svc.metadata, sandbox) && matches!(cluster_ip, None | Some("" | CLUSTER_IP_NONE))
}

/// The Service to write back with a full Update when adopting it (spec §2.8): the name-hash
/// label set (other labels kept), the selector and ports replaced by the desired ones, and the
/// Sandbox upserted as controller. Everything else, including `resourceVersion`, is kept, so
/// the Update is optimistically locked. Check [`service_adoptable`] first.
#[must_use]
pub fn adopted_service(sandbox: &Sandbox, svc: &Service) -> Service {
    let mut adopted = svc.clone();
    adopted
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend(name_hash_labels(sandbox));
    adopted.metadata.owner_references = Some(with_controller_ref(&svc.metadata, sandbox));
    let spec = adopted.spec.get_or_insert_with(ServiceSpec::default);
    spec.selector = Some(name_hash_labels(sandbox));
    spec.ports = service_ports(&sandbox.spec.blueprint.pod_template.spec);
    adopted
}

/// The merge patch repairing drift on an owned Service (spec §2.8), or `None` when there is
/// none: the name-hash label, the selector (exactly `{name-hash: <hash>}`; extra keys are
/// removed) and — only when `repair_ports`, i.e. `spec.service == true` — the ports. Ports are
/// compared on name, protocol, port and targetPort only, so apiserver-assigned fields such as
/// `nodePort` or `appProtocol` do not count as drift.
#[must_use]
pub fn service_repair_patch(sandbox: &Sandbox, svc: &Service, repair_ports: bool) -> Option<Value> {
    let hash = sandbox_name_hash(sandbox);
    let mut patch = Map::new();
    if label(&svc.metadata, keys::SANDBOX_NAME_HASH_LABEL) != Some(hash.as_str()) {
        patch.insert(
            "metadata".into(),
            json!({"labels": {keys::SANDBOX_NAME_HASH_LABEL: hash.as_str()}}),
        );
    }

    let mut spec_patch = Map::new();
    let current_spec = svc.spec.clone().unwrap_or_default();
    let selector_patch = string_map_patch(
        &current_spec.selector.unwrap_or_default(),
        &name_hash_labels(sandbox),
    );
    if !selector_patch.is_empty() {
        spec_patch.insert("selector".into(), Value::Object(selector_patch));
    }
    if repair_ports {
        let desired = service_ports(&sandbox.spec.blueprint.pod_template.spec).unwrap_or_default();
        let current = current_spec.ports.unwrap_or_default();
        if !ports_equal(&current, &desired) {
            spec_patch.insert("ports".into(), ports_json(&desired));
        }
    }
    if !spec_patch.is_empty() {
        patch.insert("spec".into(), Value::Object(spec_patch));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// Whether two port lists match on the fields the controller sets (order matters).
fn ports_equal(current: &[ServicePort], desired: &[ServicePort]) -> bool {
    current.len() == desired.len()
        && current
            .iter()
            .zip(desired)
            .all(|(a, b)| port_identity(a) == port_identity(b))
}

/// The fields [`ports_equal`] compares, with unset values read as Go's zero values.
fn port_identity(port: &ServicePort) -> (&str, &str, i32, IntOrString) {
    (
        port.name.as_deref().unwrap_or_default(),
        port.protocol.as_deref().unwrap_or_default(),
        port.port,
        port.target_port.clone().unwrap_or(IntOrString::Int(0)),
    )
}

/// Desired ports as merge-patch JSON, built by hand so building a patch cannot fail. An empty
/// list becomes `null`, which removes `ports` (upstream's desired list is nil then).
fn ports_json(ports: &[ServicePort]) -> Value {
    if ports.is_empty() {
        return Value::Null;
    }
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut out = Map::new();
                if let Some(name) = &p.name {
                    out.insert("name".into(), name.clone().into());
                }
                if let Some(protocol) = &p.protocol {
                    out.insert("protocol".into(), protocol.clone().into());
                }
                out.insert("port".into(), p.port.into());
                match &p.target_port {
                    Some(IntOrString::Int(n)) => out.insert("targetPort".into(), (*n).into()),
                    Some(IntOrString::String(s)) => {
                        out.insert("targetPort".into(), s.clone().into())
                    }
                    None => None,
                };
                Value::Object(out)
            })
            .collect(),
    )
}

/// The Service's DNS name recorded in `status.serviceFQDN` (spec §2.3):
/// `<sandbox>.<namespace>.svc.<cluster domain>`.
#[must_use]
pub fn service_fqdn(sandbox: &Sandbox, cluster_domain: &str) -> String {
    let namespace = sandbox.metadata.namespace.as_deref().unwrap_or_default();
    format!("{}.{namespace}.svc.{cluster_domain}", sandbox_name(sandbox))
}

#[cfg(test)]
mod tests;
