//! Decoding a watched Sandbox: every watch event the controller receives goes through this.
//! `Lenient` (the quarantine's per-object decoding) against the plain type, so its cost on
//! the controller's hot path is a number, not a guess.

use criterion::{Criterion, criterion_group, criterion_main};
use kube::core::WatchEvent;
use sandbox_api::v1beta1::Sandbox;
use sandbox_controller::quarantine::Lenient;
use serde_json::json;
use std::hint::black_box;

/// A warm pool member as the API server sends it: metadata with managed fields, a PodSpec,
/// status with conditions.
fn event() -> Vec<u8> {
    let sandbox = json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {
            "name": "warm-abcde", "namespace": "bench-x1y2z", "uid": "0f6c1e7a-8d3b-4c55-9a51-2f0d7a3c9b11",
            "resourceVersion": "123456", "generation": 1, "creationTimestamp": "2026-12-02T08:00:00Z",
            "labels": {"agents.x-k8s.io/sandbox-name-hash": "da1fd924", "agents.x-k8s.io/pool": "warm"},
            "annotations": {"agents.x-k8s.io/pod-name": "warm-abcde"},
            "ownerReferences": [{"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxWarmPool",
                "name": "warm", "uid": "7c1d", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "sandbox-controller", "operation": "Update",
                "apiVersion": "agents.x-k8s.io/v1beta1", "time": "2026-12-02T08:00:01Z",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {}, "f:podIPs": {}}}}]
        },
        "spec": {"podTemplate": {"metadata": {"labels": {"app": "agent"}}, "spec": {
            "automountServiceAccountToken": false,
            "containers": [{"name": "main", "image": "registry.invalid/python:3",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "ports": [{"containerPort": 8888, "protocol": "TCP"}]}]}}},
        "status": {"podIPs": ["10.244.0.9"], "serviceFQDN": "warm-abcde.bench-x1y2z.svc.cluster.local",
            "conditions": [
                {"type": "Suspended", "status": "False", "reason": "NotSuspended", "message": "",
                 "lastTransitionTime": "2026-12-02T08:00:00Z", "observedGeneration": 1},
                {"type": "Ready", "status": "True", "reason": "DependenciesReady", "message": "Pod is Ready",
                 "lastTransitionTime": "2026-12-02T08:00:01Z", "observedGeneration": 1}]}
    });
    // The API server's order: `type` before `object`.
    format!(r#"{{"type":"MODIFIED","object":{sandbox}}}"#).into_bytes()
}

fn watch_decode(c: &mut Criterion) {
    let line = event();
    let mut group = c.benchmark_group("watch_decode");
    group.bench_function("Sandbox", |b| {
        b.iter(|| serde_json::from_slice::<WatchEvent<Sandbox>>(black_box(&line)).unwrap())
    });
    group.bench_function("Lenient<Sandbox>", |b| {
        b.iter(|| serde_json::from_slice::<WatchEvent<Lenient<Sandbox>>>(black_box(&line)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, watch_decode);
criterion_main!(benches);
