//! Test objects shared by the `children` tests.

use k8s_openapi::api::core::v1::{Pod, Service};
use sandbox_api::v1beta1::Sandbox;
use serde_json::{Value, json};

/// Name of the fixture Sandbox; `NameHash("sandbox")` is the upstream test vector `da1fd924`.
pub const NAME: &str = "sandbox";
/// `NameHash(NAME)`.
pub const HASH: &str = "da1fd924";
/// Namespace of every fixture object.
pub const NAMESPACE: &str = "team-a";
/// UID of the fixture Sandbox.
pub const UID: &str = "sandbox-uid";

/// A minimal valid Sandbox as JSON, edited by `edit` before it is parsed.
pub fn sandbox(edit: impl FnOnce(&mut Value)) -> Sandbox {
    let mut value = json!({
        "apiVersion": "agents.x-k8s.io/v1beta1",
        "kind": "Sandbox",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": UID},
        "spec": {
            "podTemplate": {
                "spec": {"containers": [{"name": "main", "image": "busybox"}]}
            }
        }
    });
    edit(&mut value);
    serde_json::from_value(value).expect("fixture Sandbox must parse")
}

/// A Pod parsed from `value` (apiVersion/kind are optional for k8s-openapi).
pub fn pod(value: Value) -> Pod {
    serde_json::from_value(value).expect("fixture Pod must parse")
}

/// A Service parsed from `value`.
pub fn service(value: Value) -> Service {
    serde_json::from_value(value).expect("fixture Service must parse")
}

/// The controller ownerRef every child of the fixture Sandbox carries, as JSON.
pub fn sandbox_owner_json() -> Value {
    json!({
        "apiVersion": "agents.x-k8s.io/v1beta1",
        "kind": "Sandbox",
        "name": NAME,
        "uid": UID,
        "controller": true,
        "blockOwnerDeletion": true
    })
}

/// Makes the fixture Sandbox controlled by an object of `api_version`/`kind`.
pub fn owned_by(value: &mut Value, api_version: &str, kind: &str) {
    value["metadata"]["ownerReferences"] = json!([{
        "apiVersion": api_version,
        "kind": kind,
        "name": "owner",
        "uid": "owner-uid",
        "controller": true
    }]);
}
