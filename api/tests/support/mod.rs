//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test crate uses a different subset

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion,
};
use serde_json::Value;
use std::sync::OnceLock;

/// `crds::all()`, generated once per test binary (schema generation is slow in debug builds).
pub fn all_crds() -> &'static [CustomResourceDefinition] {
    static CRDS: OnceLock<Vec<CustomResourceDefinition>> = OnceLock::new();
    CRDS.get_or_init(sandbox_api::crds::all)
}

/// The generated CRD for `kind`.
pub fn crd(kind: &str) -> CustomResourceDefinition {
    all_crds()
        .iter()
        .find(|crd| crd.spec.names.kind == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"))
}

/// Reads `tests/fixtures/<version>/<kind>.json`.
pub fn fixture(version: &str, kind: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{version}/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The version entry `name` of `crd`.
pub fn version<'a>(
    crd: &'a CustomResourceDefinition,
    name: &str,
) -> &'a CustomResourceDefinitionVersion {
    crd.spec
        .versions
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{} has no version {name}", crd.spec.names.kind))
}

/// The openAPIV3Schema of `crd` at `version_name`, as JSON.
pub fn schema(crd: &CustomResourceDefinition, version_name: &str) -> Value {
    let schema = version(crd, version_name)
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema");
    serde_json::to_value(schema).expect("schema serialises")
}

/// The schema node for a dotted property path such as `spec.lifecycle.shutdownPolicy`
/// (`[]` steps into array items), cloned out of the schema.
pub fn property(schema: &Value, dotted: &str) -> Value {
    let mut node = schema;
    for step in dotted.split('.') {
        node = match step.strip_suffix("[]") {
            Some(name) => &node["properties"][name]["items"],
            None => &node["properties"][step],
        };
        assert!(
            !node.is_null(),
            "schema has no property {dotted} (stuck at {step})"
        );
    }
    node.clone()
}

/// Schema subtrees that are Kubernetes core types (k8s-openapi), not part of this API.
pub const CORE_TYPE_PATHS: &[&str] = &[
    "spec.podTemplate.spec",
    "spec.volumeClaimTemplates[].spec",
    "spec.networkPolicy.ingress",
    "spec.networkPolicy.egress",
];

/// Every property path of this API's own types in `schema` (core-type subtrees are leaves),
/// with the node it names.
pub fn own_properties(schema: &Value) -> Vec<(String, Value)> {
    fn walk(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        if CORE_TYPE_PATHS.contains(&path) {
            return;
        }
        if let Some(properties) = node["properties"].as_object() {
            for (name, child) in properties {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                out.push((child_path.clone(), child.clone()));
                walk(child, &child_path, out);
            }
        }
        if node["items"].is_object() {
            walk(&node["items"], &format!("{path}[]"), out);
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

/// The first place where `actual` and `expected` differ, as a readable path.
pub fn first_difference(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for key in a.keys().chain(e.keys()) {
                let child = format!("{path}.{key}");
                match (a.get(key), e.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(diff) = first_difference(x, y, &child) {
                            return Some(diff);
                        }
                    }
                    (Some(_), None) => return Some(format!("{child}: added by round trip")),
                    (None, Some(_)) => return Some(format!("{child}: lost in round trip")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        _ if actual == expected => None,
        _ => Some(format!("{path}: {actual} != {expected}")),
    }
}
