use serde_json::{Value, json};

use super::super::fixtures::{self, HASH, NAME, NAMESPACE};
use super::*;

const NAME_HASH: &str = "agents.x-k8s.io/sandbox-name-hash";

fn pod_spec(value: Value) -> PodSpec {
    serde_json::from_value(value).expect("fixture PodSpec must parse")
}

/// `(name, protocol, port)` of each Service port, for compact assertions.
fn summary(ports: Option<Vec<ServicePort>>) -> Vec<(String, String, i32)> {
    ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.name.unwrap_or_default(),
                p.protocol.unwrap_or_default(),
                p.port,
            )
        })
        .collect()
}

fn triple(name: &str, protocol: &str, port: i32) -> (String, String, i32) {
    (name.to_owned(), protocol.to_owned(), port)
}

/// A Sandbox whose main container exposes `ports`, with `service` set as given.
fn sandbox_with_ports(ports: Value, service: Option<bool>) -> Sandbox {
    fixtures::sandbox(|v| {
        v["spec"]["podTemplate"]["spec"]["containers"][0]["ports"] = ports;
        if let Some(service) = service {
            v["spec"]["service"] = json!(service);
        }
    })
}

#[test]
fn no_ports_means_no_port_list() {
    assert_eq!(
        service_ports(&pod_spec(json!({"containers": [{"name": "a"}]}))),
        None
    );
    let only_zero =
        pod_spec(json!({"containers": [{"name": "a", "ports": [{"containerPort": 0}]}]}));
    assert_eq!(service_ports(&only_zero), None);
}

#[test]
fn ports_come_from_containers_and_sidecars_only() {
    let spec = pod_spec(json!({
        "containers": [{"name": "main", "ports": [{"containerPort": 8080, "name": "http"}]}],
        "initContainers": [
            {"name": "setup", "ports": [{"containerPort": 9000, "name": "setup"}]},
            {"name": "once", "restartPolicy": "OnFailure", "ports": [{"containerPort": 9001}]},
            {"name": "proxy", "restartPolicy": "Always", "ports": [{"containerPort": 15001, "name": "proxy"}]}
        ]
    }));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![triple("http", "TCP", 8080), triple("proxy", "TCP", 15001)]
    );
}

#[test]
fn ports_are_deduplicated_by_port_and_protocol_and_sorted() {
    let spec = pod_spec(json!({"containers": [
        {"name": "a", "ports": [
            {"containerPort": 9090, "protocol": "UDP"},
            {"containerPort": 53, "protocol": "UDP"},
            {"containerPort": 53},
            {"containerPort": 0, "name": "zero"}
        ]},
        {"name": "b", "ports": [
            {"containerPort": 53, "protocol": "TCP"},
            {"containerPort": 53, "protocol": "SCTP"}
        ]}
    ]}));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![
            triple("p-53-sctp", "SCTP", 53),
            triple("p-53-tcp", "TCP", 53),
            triple("p-53-udp", "UDP", 53),
            triple("p-9090-udp", "UDP", 9090),
        ]
    );
}

#[test]
fn target_port_is_the_port_number() {
    let spec = pod_spec(
        json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"}]}]}),
    );
    let ports = service_ports(&spec).unwrap_or_default();
    assert_eq!(
        serde_json::to_value(&ports).expect("serialise"),
        json!([{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 80}])
    );
}

#[test]
fn the_first_explicit_name_wins_even_after_an_unnamed_duplicate() {
    let spec = pod_spec(json!({"containers": [
        {"name": "a", "ports": [{"containerPort": 80}]},
        {"name": "b", "ports": [{"containerPort": 80, "name": "web"}]},
        {"name": "c", "ports": [{"containerPort": 80, "name": "later"}]}
    ]}));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![triple("web", "TCP", 80)]
    );
}

#[test]
fn a_name_taken_by_another_port_is_not_reused() {
    // Container order decides who keeps "web", not port order.
    let spec = pod_spec(json!({"containers": [
        {"name": "a", "ports": [{"containerPort": 9000, "name": "web"}]},
        {"name": "b", "ports": [{"containerPort": 80, "name": "web"}]}
    ]}));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![triple("p-80-tcp", "TCP", 80), triple("web", "TCP", 9000)]
    );
}

#[test]
fn a_later_explicit_name_is_used_when_the_first_one_was_taken() {
    let spec = pod_spec(json!({"containers": [
        {"name": "a", "ports": [{"containerPort": 9000, "name": "web"}]},
        {"name": "b", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 80, "name": "alt"}]}
    ]}));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![triple("alt", "TCP", 80), triple("web", "TCP", 9000)]
    );
}

#[test]
fn generated_names_step_around_explicit_ones() {
    let spec = pod_spec(json!({"containers": [{"name": "a", "ports": [
        {"containerPort": 81, "name": "p-80-tcp"},
        {"containerPort": 82, "name": "p-80-tcp-2"},
        {"containerPort": 80}
    ]}]}));
    assert_eq!(
        summary(service_ports(&spec)),
        vec![
            triple("p-80-tcp-3", "TCP", 80),
            triple("p-80-tcp", "TCP", 81),
            triple("p-80-tcp-2", "TCP", 82),
        ]
    );
}

#[test]
fn new_service_is_headless_and_selects_the_name_hash() {
    let sandbox = sandbox_with_ports(json!([{"containerPort": 8888}]), Some(true));
    assert_eq!(
        serde_json::to_value(new_service(&sandbox)).expect("serialise"),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": NAME,
                "namespace": NAMESPACE,
                "labels": {NAME_HASH: HASH},
                "ownerReferences": [fixtures::sandbox_owner_json()]
            },
            "spec": {
                "clusterIP": "None",
                "selector": {NAME_HASH: HASH},
                "ports": [{"name": "p-8888-tcp", "protocol": "TCP", "port": 8888, "targetPort": 8888}]
            }
        })
    );
}

#[test]
fn new_service_without_ports_omits_them() {
    let sandbox = fixtures::sandbox(|_| {});
    let svc = new_service(&sandbox);
    assert_eq!(svc.spec.and_then(|s| s.ports), None);
}

#[test]
fn an_up_to_date_service_needs_no_repair() {
    let sandbox = sandbox_with_ports(json!([{"containerPort": 80, "name": "http"}]), Some(true));
    let mut svc = new_service(&sandbox);
    assert_eq!(service_repair_patch(&sandbox, &svc, true), None);
    // Fields the apiserver fills in are not drift.
    if let Some(port) = svc
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .and_then(|p| p.first_mut())
    {
        port.node_port = Some(30080);
        port.app_protocol = Some("http".to_owned());
    }
    assert_eq!(service_repair_patch(&sandbox, &svc, true), None);
}

#[test]
fn repair_restores_the_label_and_the_exact_selector() {
    let sandbox = fixtures::sandbox(|_| {});
    let svc = fixtures::service(json!({
        "metadata": {"name": NAME, "labels": {NAME_HASH: "wrong", "extra": "kept"}},
        "spec": {"clusterIP": "None", "selector": {NAME_HASH: "wrong", "app": "hijack"}}
    }));
    assert_eq!(
        service_repair_patch(&sandbox, &svc, false),
        Some(json!({
            "metadata": {"labels": {NAME_HASH: HASH}},
            "spec": {"selector": {NAME_HASH: HASH, "app": null}}
        }))
    );
}

#[test]
fn ports_are_repaired_only_when_asked() {
    let sandbox = sandbox_with_ports(json!([{"containerPort": 80}]), Some(true));
    let svc = fixtures::service(json!({
        "metadata": {"name": NAME, "labels": {NAME_HASH: HASH}},
        "spec": {
            "clusterIP": "None",
            "selector": {NAME_HASH: HASH},
            "ports": [{"name": "old", "protocol": "TCP", "port": 80, "targetPort": 80}]
        }
    }));
    assert_eq!(service_repair_patch(&sandbox, &svc, false), None);
    assert_eq!(
        service_repair_patch(&sandbox, &svc, true),
        Some(json!({"spec": {"ports": [
            {"name": "p-80-tcp", "protocol": "TCP", "port": 80, "targetPort": 80}
        ]}}))
    );
}

#[test]
fn a_named_target_port_counts_as_drift() {
    let sandbox = sandbox_with_ports(json!([{"containerPort": 80, "name": "http"}]), Some(true));
    let svc = fixtures::service(json!({
        "metadata": {"name": NAME, "labels": {NAME_HASH: HASH}},
        "spec": {
            "selector": {NAME_HASH: HASH},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}]
        }
    }));
    assert!(service_repair_patch(&sandbox, &svc, true).is_some());
}

#[test]
fn ports_are_removed_when_the_pod_exposes_none() {
    let sandbox = fixtures::sandbox(|_| {});
    let svc = fixtures::service(json!({
        "metadata": {"name": NAME, "labels": {NAME_HASH: HASH}},
        "spec": {
            "selector": {NAME_HASH: HASH},
            "ports": [{"name": "x", "protocol": "TCP", "port": 1, "targetPort": 1}]
        }
    }));
    assert_eq!(
        service_repair_patch(&sandbox, &svc, true),
        Some(json!({"spec": {"ports": null}}))
    );
}

#[test]
fn a_service_without_selector_or_labels_gets_both() {
    let sandbox = fixtures::sandbox(|_| {});
    let svc = fixtures::service(json!({"metadata": {"name": NAME}}));
    assert_eq!(
        service_repair_patch(&sandbox, &svc, true),
        Some(json!({
            "metadata": {"labels": {NAME_HASH: HASH}},
            "spec": {"selector": {NAME_HASH: HASH}}
        }))
    );
}

#[test]
fn only_headless_or_unassigned_services_are_adoptable() {
    let sandbox = fixtures::sandbox(|_| {});
    let with_ip = |ip: Value| {
        fixtures::service(json!({
            "metadata": {"name": NAME, "labels": {"agents.x-k8s.io/adoptable": "true"}},
            "spec": {"clusterIP": ip}
        }))
    };
    assert!(service_adoptable(&with_ip(json!("None")), &sandbox));
    assert!(service_adoptable(&with_ip(json!("")), &sandbox));
    assert!(service_adoptable(&with_ip(Value::Null), &sandbox));
    assert!(!service_adoptable(&with_ip(json!("10.0.0.7")), &sandbox));
    let unlabelled =
        fixtures::service(json!({"metadata": {"name": NAME}, "spec": {"clusterIP": "None"}}));
    assert!(!service_adoptable(&unlabelled, &sandbox));
}

#[test]
fn adopted_service_rewrites_label_selector_ports_and_owner() {
    let sandbox = sandbox_with_ports(json!([{"containerPort": 80}]), Some(true));
    let svc = fixtures::service(json!({
        "metadata": {
            "name": NAME,
            "resourceVersion": "42",
            "labels": {"agents.x-k8s.io/adoptable": "true"}
        },
        "spec": {"clusterIP": "None", "selector": {"app": "x"}, "ports": [{"port": 1}]}
    }));
    let adopted = serde_json::to_value(adopted_service(&sandbox, &svc)).expect("serialise");
    assert_eq!(
        adopted,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": NAME,
                "resourceVersion": "42",
                "labels": {"agents.x-k8s.io/adoptable": "true", NAME_HASH: HASH},
                "ownerReferences": [fixtures::sandbox_owner_json()]
            },
            "spec": {
                "clusterIP": "None",
                "selector": {NAME_HASH: HASH},
                "ports": [{"name": "p-80-tcp", "protocol": "TCP", "port": 80, "targetPort": 80}]
            }
        })
    );
}

#[test]
fn fqdn_is_name_namespace_svc_domain() {
    let sandbox = fixtures::sandbox(|_| {});
    assert_eq!(
        service_fqdn(&sandbox, "cluster.local"),
        "sandbox.team-a.svc.cluster.local"
    );
}
