//! Builders of the objects cases create, as upstream-shaped JSON turned into typed objects. A
//! case states only what matters to it; everything else is the smallest valid object.

use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};

use crate::fail::Fail;

/// Name of the only container of every Pod the suite asks for.
pub const CONTAINER: &str = "main";

/// A Pod spec with one container running `image`. A short grace period keeps suspend and
/// expiry quick on clusters with real kubelets.
pub fn pod_spec(image: &str) -> Value {
    json!({
        "containers": [{"name": CONTAINER, "image": image}],
        "terminationGracePeriodSeconds": 1
    })
}

/// A container name the CRDs accept (their pod template schema has no pattern for it) but the
/// API server refuses for a Pod: it is not a DNS label.
pub const INVALID_CONTAINER: &str = "Not_A_DNS_Label";

/// [`pod_spec`] with its container named [`INVALID_CONTAINER`]: a Sandbox or template may hold
/// it, a Pod may not.
pub fn invalid_pod_spec(image: &str) -> Value {
    json!({
        "containers": [{"name": INVALID_CONTAINER, "image": image}],
        "terminationGracePeriodSeconds": 1
    })
}

/// `{"podTemplate": {"spec": <pod_spec>}}`, the smallest blueprint.
pub fn blueprint(image: &str) -> Value {
    json!({"podTemplate": {"spec": pod_spec(image)}})
}

/// A v1beta1 Sandbox: the smallest blueprint, with the keys of `spec` laid over it.
pub fn sandbox(name: &str, image: &str, spec: Value) -> Result<Sandbox, Fail> {
    typed(json!({
        "apiVersion": Sandbox::api_version(&()),
        "kind": Sandbox::kind(&()),
        "metadata": {"name": name},
        "spec": overlay(blueprint(image), spec),
    }))
}

/// A v1beta1 SandboxTemplate: the smallest blueprint, with the keys of `spec` laid over it.
pub fn template(name: &str, image: &str, spec: Value) -> Result<SandboxTemplate, Fail> {
    typed(json!({
        "apiVersion": SandboxTemplate::api_version(&()),
        "kind": SandboxTemplate::kind(&()),
        "metadata": {"name": name},
        "spec": overlay(blueprint(image), spec),
    }))
}

/// A v1beta1 SandboxWarmPool of `replicas` Sandboxes from `template`, plus the keys of `spec`.
pub fn warm_pool(
    name: &str,
    template: &str,
    replicas: i32,
    spec: Value,
) -> Result<SandboxWarmPool, Fail> {
    typed(json!({
        "apiVersion": SandboxWarmPool::api_version(&()),
        "kind": SandboxWarmPool::kind(&()),
        "metadata": {"name": name},
        "spec": overlay(
            json!({"replicas": replicas, "sandboxTemplateRef": {"name": template}}),
            spec
        ),
    }))
}

/// A v1beta1 SandboxClaim on `pool`, plus the keys of `spec`.
pub fn claim(name: &str, pool: &str, spec: Value) -> Result<SandboxClaim, Fail> {
    typed(json!({
        "apiVersion": SandboxClaim::api_version(&()),
        "kind": SandboxClaim::kind(&()),
        "metadata": {"name": name},
        "spec": overlay(json!({"warmPoolRef": {"name": pool}}), spec),
    }))
}

/// An RFC 3339 time `seconds` from now (negative: in the past), for `shutdownTime`.
pub fn time_from_now(seconds: i64) -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    let then = now
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(seconds))
        .unwrap_or(now);
    then.to_string()
}

/// `base` with the top-level keys of `extra` set over it (objects only; anything else in
/// `extra` is ignored).
pub fn overlay(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

fn typed<K: DeserializeOwned>(value: Value) -> Result<K, Fail> {
    serde_json::from_value(value)
        .map_err(|e| Fail::check(format!("the suite built an invalid object: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_in_the_smallest_valid_objects() {
        let sb = sandbox("sb", "img", json!({"service": true})).unwrap();
        assert_eq!(sb.spec.blueprint.service, Some(true));
        assert_eq!(
            sb.spec.blueprint.pod_template.spec.containers[0]
                .image
                .as_deref(),
            Some("img")
        );
        let pool = warm_pool("p", "t", 3, json!({})).unwrap();
        assert_eq!(pool.spec.replicas, Some(3));
        assert_eq!(pool.spec.sandbox_template_ref.name, "t");
        let claim = claim("c", "p", json!({"env": [{"name": "A", "value": "1"}]})).unwrap();
        assert_eq!(claim.spec.warm_pool_ref.name, "p");
        assert_eq!(claim.spec.env[0].name, "A");
    }

    #[test]
    fn times_are_rfc3339_and_relative_to_now() {
        let past = time_from_now(-3600);
        let parsed: k8s_openapi::jiff::Timestamp = past.parse().unwrap();
        assert!(parsed < k8s_openapi::jiff::Timestamp::now());
        assert!(past.ends_with('Z'), "{past}");
    }
}
