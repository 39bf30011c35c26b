//! The probe's pod: the port it serves on and its container, shared by the isolation checks
//! (control pods) and the plan (probe templates), neither of which owns the other.

use serde_json::{Value, json};

/// The port the probe serves on inside a pod.
pub const PROBE_PORT: u16 = 8080;

/// The probe container of a pod (on `node`, when given): serves its report, Ready once serving.
pub fn probe_pod_spec(runtime_class: Option<&str>, port: u16, node: Option<&str>) -> Value {
    let mut spec = json!({
        "containers": [{
            "name": "probe",
            "image": sandbox_cluster::node_images::PROBE_IMAGE,
            "imagePullPolicy": "Never",
            "args": ["serve", "--listen", format!("0.0.0.0:{port}")],
            "ports": [{"containerPort": port}],
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": port},
                "periodSeconds": 1
            }
        }],
        "terminationGracePeriodSeconds": 1
    });
    if let Some(node) = node {
        spec["nodeSelector"] = json!({"kubernetes.io/hostname": node});
    }
    if let Some(class) = runtime_class {
        spec["runtimeClassName"] = json!(class);
    }
    spec
}
