//! The generated CRDs carry the facts the upstream spec lists (§2.1, §3.1, §4.1, §5.1): names,
//! versions, deprecation warnings, subresources, printer columns, the CEL rule, defaults, enums
//! and bounds. Also checks the schemas are structural, since the apiserver rejects anything else.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use sandbox_api::crds;
use sandbox_api::v1beta1::{
    ClaimShutdownPolicy, EnvVarsInjectionPolicy, NetworkPolicyManagement, OperatingMode,
    ShutdownPolicy, UpdateStrategyType, VolumeClaimTemplatesPolicy,
};
use serde_json::{Value, json};
use support::{all_crds, crd, own_properties, property, schema, version};

const CORE: &str = "agents.x-k8s.io";
const EXTENSIONS: &str = "extensions.agents.x-k8s.io";

fn by_name(name: &str) -> CustomResourceDefinition {
    all_crds()
        .iter()
        .find(|crd| crd.metadata.name.as_deref() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("no CRD named {name}"))
}

#[test]
fn all_returns_the_four_crds_in_order() {
    let names: Vec<_> = crds::all()
        .into_iter()
        .map(|crd| crd.metadata.name.unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "sandboxes.agents.x-k8s.io",
            "sandboxtemplates.extensions.agents.x-k8s.io",
            "sandboxclaims.extensions.agents.x-k8s.io",
            "sandboxwarmpools.extensions.agents.x-k8s.io",
        ]
    );
    // The per-kind accessors build the same CRDs.
    assert_eq!(
        vec![
            crds::sandbox(),
            crds::sandbox_template(),
            crds::sandbox_claim(),
            crds::sandbox_warm_pool()
        ],
        all_crds()
    );
}

#[test]
fn names_groups_and_scope() {
    let expected = [
        (
            "sandboxes.agents.x-k8s.io",
            CORE,
            "Sandbox",
            "sandboxes",
            "sandbox",
            "sandbox",
        ),
        (
            "sandboxtemplates.extensions.agents.x-k8s.io",
            EXTENSIONS,
            "SandboxTemplate",
            "sandboxtemplates",
            "sandboxtemplate",
            "sandboxtemplate",
        ),
        (
            "sandboxclaims.extensions.agents.x-k8s.io",
            EXTENSIONS,
            "SandboxClaim",
            "sandboxclaims",
            "sandboxclaim",
            "sandboxclaim",
        ),
        (
            "sandboxwarmpools.extensions.agents.x-k8s.io",
            EXTENSIONS,
            "SandboxWarmPool",
            "sandboxwarmpools",
            "sandboxwarmpool",
            "swp",
        ),
    ];
    for (name, group, kind, plural, singular, short) in expected {
        let crd = by_name(name);
        let names = &crd.spec.names;
        assert_eq!(crd.spec.group, group, "{name}");
        assert_eq!(crd.spec.scope, "Namespaced", "{name}");
        assert_eq!(names.kind, kind);
        assert_eq!(
            names.list_kind.as_deref(),
            Some(format!("{kind}List").as_str())
        );
        assert_eq!(names.plural, plural);
        assert_eq!(names.singular.as_deref(), Some(singular));
        assert_eq!(
            names.short_names.as_deref(),
            Some([short.to_string()].as_slice())
        );
        assert_eq!(names.categories, None);
    }
}

#[test]
fn v1beta1_is_the_only_storage_version_and_v1alpha1_is_deprecated() {
    for crd in all_crds() {
        let kind = &crd.spec.names.kind;
        let versions: Vec<_> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(versions, ["v1beta1", "v1alpha1"], "{kind}");

        let beta = version(crd, "v1beta1");
        assert!(
            beta.served && beta.storage,
            "{kind} v1beta1 is served storage"
        );
        assert_eq!(beta.deprecated, None, "{kind} v1beta1 is not deprecated");
        assert_eq!(beta.deprecation_warning, None);

        let alpha = version(crd, "v1alpha1");
        assert!(
            alpha.served && !alpha.storage,
            "{kind} v1alpha1 is served, not stored"
        );
        assert_eq!(alpha.deprecated, Some(true), "{kind}");
        let group = &crd.spec.group;
        assert_eq!(
            alpha.deprecation_warning.as_deref(),
            Some(
                format!(
                    "{group}/v1alpha1 {kind} is deprecated; use {group}/v1beta1 {kind} instead"
                )
                .as_str()
            )
        );
    }
}

#[test]
fn deprecation_warnings_are_verbatim() {
    // Spelled out once more so a change to the format string above cannot hide a typo.
    let warning = |name: &str| {
        version(&by_name(name), "v1alpha1")
            .deprecation_warning
            .clone()
    };
    assert_eq!(
        warning("sandboxes.agents.x-k8s.io").as_deref(),
        Some(
            "agents.x-k8s.io/v1alpha1 Sandbox is deprecated; use agents.x-k8s.io/v1beta1 Sandbox instead"
        )
    );
    assert_eq!(
        warning("sandboxwarmpools.extensions.agents.x-k8s.io").as_deref(),
        Some(
            "extensions.agents.x-k8s.io/v1alpha1 SandboxWarmPool is deprecated; use extensions.agents.x-k8s.io/v1beta1 SandboxWarmPool instead"
        )
    );
}

/// The subresources of one version as JSON (`null` when there are none).
fn subresources(crd: &CustomResourceDefinition, version_name: &str) -> Value {
    serde_json::to_value(&version(crd, version_name).subresources).expect("serialises")
}

#[test]
fn subresources_match_upstream() {
    let scale = json!({
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector"
        }
    });
    let status_only = json!({ "status": {} });

    let sandbox = crd("Sandbox");
    assert_eq!(
        subresources(&sandbox, "v1beta1"),
        status_only,
        "no scale on v1beta1 Sandbox"
    );
    assert_eq!(subresources(&sandbox, "v1alpha1"), scale);

    let template = crd("SandboxTemplate");
    assert_eq!(subresources(&template, "v1beta1"), Value::Null);
    assert_eq!(subresources(&template, "v1alpha1"), Value::Null);

    let claim = crd("SandboxClaim");
    assert_eq!(subresources(&claim, "v1beta1"), status_only);
    assert_eq!(subresources(&claim, "v1alpha1"), status_only);

    let pool = crd("SandboxWarmPool");
    assert_eq!(subresources(&pool, "v1beta1"), scale);
    assert_eq!(subresources(&pool, "v1alpha1"), scale);
}

fn printer_columns(
    crd: &CustomResourceDefinition,
    version_name: &str,
) -> Vec<(String, String, String)> {
    version(crd, version_name)
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
        .collect()
}

fn columns(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(n, t, p)| (n.to_string(), t.to_string(), p.to_string()))
        .collect()
}

#[test]
fn printer_columns_match_upstream() {
    let ready = ".status.conditions[?(@.type=='Ready')].status";
    let reason = ".status.conditions[?(@.type=='Ready')].reason";
    let age = ("Age", "date", ".metadata.creationTimestamp");

    let sandbox = crd("Sandbox");
    assert_eq!(
        printer_columns(&sandbox, "v1beta1"),
        columns(&[
            ("Ready", "string", ready),
            ("Reason", "string", reason),
            age
        ])
    );
    assert!(printer_columns(&sandbox, "v1alpha1").is_empty());

    let template = crd("SandboxTemplate");
    assert!(printer_columns(&template, "v1beta1").is_empty());
    assert!(printer_columns(&template, "v1alpha1").is_empty());

    let claim = crd("SandboxClaim");
    assert_eq!(
        printer_columns(&claim, "v1beta1"),
        columns(&[
            ("Ready", "string", ready),
            ("Sandbox", "string", ".status.sandbox.name"),
            ("Reason", "string", reason),
            age,
        ])
    );
    assert!(printer_columns(&claim, "v1alpha1").is_empty());

    let pool = crd("SandboxWarmPool");
    let pool_columns = columns(&[
        ("Ready", "integer", ".status.readyReplicas"),
        ("Desired", "integer", ".spec.replicas"),
        age,
    ]);
    assert_eq!(printer_columns(&pool, "v1beta1"), pool_columns);
    assert_eq!(printer_columns(&pool, "v1alpha1"), pool_columns);
}

#[test]
fn the_cel_rules_are_vct_immutability_on_spec_and_the_service_name_at_the_root_of_v1beta1_sandbox()
{
    let rule = "has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)";
    assert_eq!(
        sandbox_api::v1beta1::VOLUME_CLAIM_TEMPLATES_IMMUTABLE_RULE,
        rule
    );

    let mut found = Vec::new();
    for crd in all_crds() {
        for v in &crd.spec.versions {
            let root = schema(crd, &v.name);
            for (path, node) in own_properties(&root) {
                if let Some(rules) = node.get("x-kubernetes-validations") {
                    found.push((
                        crd.spec.names.kind.clone(),
                        v.name.clone(),
                        path,
                        rules.clone(),
                    ));
                }
            }
            if let Some(rules) = root.get("x-kubernetes-validations") {
                found.push((
                    crd.spec.names.kind.clone(),
                    v.name.clone(),
                    String::new(),
                    rules.clone(),
                ));
            }
        }
    }
    found.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        found,
        [
            (
                "Sandbox".to_string(),
                "v1beta1".to_string(),
                String::new(),
                json!([{
                    "rule": sandbox_api::v1beta1::SERVICE_NAME_LENGTH_RULE,
                    "message": sandbox_api::v1beta1::SERVICE_NAME_LENGTH_MESSAGE,
                    "optionalOldSelf": true
                }])
            ),
            (
                "Sandbox".to_string(),
                "v1beta1".to_string(),
                "spec".to_string(),
                json!([{ "rule": rule, "message": "volumeClaimTemplates is immutable" }])
            )
        ]
    );
}

/// Every `default` in this API's own schema (core types excluded), keyed by
/// `(CRD, version, property path)`.
fn own_defaults() -> BTreeMap<(String, String, String), Value> {
    let mut out = BTreeMap::new();
    for crd in all_crds() {
        for v in &crd.spec.versions {
            for (path, node) in own_properties(&schema(crd, &v.name)) {
                if let Some(default) = node.get("default") {
                    out.insert(
                        (crd.spec.names.kind.clone(), v.name.clone(), path),
                        default.clone(),
                    );
                }
            }
        }
    }
    out
}

#[test]
fn defaults_match_upstream_exactly() {
    let expected: BTreeMap<_, _> = [
        ("Sandbox", "v1beta1", "spec.operatingMode", json!("Running")),
        ("Sandbox", "v1beta1", "spec.shutdownPolicy", json!("Retain")),
        ("Sandbox", "v1alpha1", "spec.replicas", json!(1)),
        (
            "Sandbox",
            "v1alpha1",
            "spec.shutdownPolicy",
            json!("Retain"),
        ),
        (
            "SandboxTemplate",
            "v1beta1",
            "spec.networkPolicyManagement",
            json!("Managed"),
        ),
        (
            "SandboxTemplate",
            "v1beta1",
            "spec.envVarsInjectionPolicy",
            json!("Disallowed"),
        ),
        (
            "SandboxTemplate",
            "v1beta1",
            "spec.volumeClaimTemplatesPolicy",
            json!("Disallowed"),
        ),
        (
            "SandboxTemplate",
            "v1alpha1",
            "spec.networkPolicyManagement",
            json!("Managed"),
        ),
        (
            "SandboxTemplate",
            "v1alpha1",
            "spec.envVarsInjectionPolicy",
            json!("Disallowed"),
        ),
        (
            "SandboxClaim",
            "v1beta1",
            "spec.lifecycle.shutdownPolicy",
            json!("Retain"),
        ),
        (
            "SandboxClaim",
            "v1alpha1",
            "spec.lifecycle.shutdownPolicy",
            json!("Retain"),
        ),
        (
            "SandboxClaim",
            "v1alpha1",
            "spec.warmpool",
            json!("default"),
        ),
        ("SandboxWarmPool", "v1beta1", "spec.replicas", json!(1)),
        (
            "SandboxWarmPool",
            "v1beta1",
            "spec.updateStrategy.type",
            json!("OnReplenish"),
        ),
        (
            "SandboxWarmPool",
            "v1alpha1",
            "spec.updateStrategy.type",
            json!("OnReplenish"),
        ),
    ]
    .into_iter()
    .map(|(kind, v, path, default)| ((kind.to_string(), v.to_string(), path.to_string()), default))
    .collect();
    // Exact equality also proves the always-serialised structs (podTemplate.metadata,
    // additionalPodMetadata, status.sandbox, VCT metadata) did not leak a `default: {}`.
    assert_eq!(own_defaults(), expected);
}

#[test]
fn schema_defaults_agree_with_rust_defaults() {
    let defaults = own_defaults();
    let get =
        |kind: &str, v: &str, path: &str| defaults[&(kind.into(), v.into(), path.into())].clone();
    fn json(value: impl serde::Serialize) -> Value {
        serde_json::to_value(value).expect("serialises")
    }
    assert_eq!(
        get("Sandbox", "v1beta1", "spec.operatingMode"),
        json(OperatingMode::default())
    );
    assert_eq!(
        get("Sandbox", "v1beta1", "spec.shutdownPolicy"),
        json(ShutdownPolicy::default())
    );
    assert_eq!(
        get("SandboxTemplate", "v1beta1", "spec.networkPolicyManagement"),
        json(NetworkPolicyManagement::default())
    );
    assert_eq!(
        get("SandboxTemplate", "v1beta1", "spec.envVarsInjectionPolicy"),
        json(EnvVarsInjectionPolicy::default())
    );
    assert_eq!(
        get(
            "SandboxTemplate",
            "v1beta1",
            "spec.volumeClaimTemplatesPolicy"
        ),
        json(VolumeClaimTemplatesPolicy::default())
    );
    assert_eq!(
        get("SandboxClaim", "v1beta1", "spec.lifecycle.shutdownPolicy"),
        json(ClaimShutdownPolicy::default())
    );
    assert_eq!(
        get("SandboxWarmPool", "v1beta1", "spec.updateStrategy.type"),
        json(UpdateStrategyType::default())
    );
}

#[test]
fn enums_match_upstream() {
    let cases = [
        (
            crd("Sandbox"),
            "v1beta1",
            "spec.operatingMode",
            json!(["Running", "Suspended"]),
        ),
        (
            crd("Sandbox"),
            "v1beta1",
            "spec.shutdownPolicy",
            json!(["Delete", "Retain"]),
        ),
        (
            crd("Sandbox"),
            "v1alpha1",
            "spec.shutdownPolicy",
            json!(["Delete", "Retain"]),
        ),
        (
            crd("Sandbox"),
            "v1beta1",
            "status.conditions[].status",
            json!(["True", "False", "Unknown"]),
        ),
        (
            crd("SandboxTemplate"),
            "v1beta1",
            "spec.networkPolicyManagement",
            json!(["Managed", "Unmanaged"]),
        ),
        (
            crd("SandboxTemplate"),
            "v1beta1",
            "spec.envVarsInjectionPolicy",
            json!(["Allowed", "Overrides", "Disallowed"]),
        ),
        (
            crd("SandboxTemplate"),
            "v1beta1",
            "spec.volumeClaimTemplatesPolicy",
            json!(["Disallowed", "Allowed", "Overrides"]),
        ),
        (
            crd("SandboxTemplate"),
            "v1alpha1",
            "spec.envVarsInjectionPolicy",
            json!(["Allowed", "Overrides", "Disallowed"]),
        ),
        (
            crd("SandboxClaim"),
            "v1beta1",
            "spec.lifecycle.shutdownPolicy",
            json!(["Delete", "DeleteForeground", "Retain"]),
        ),
        (
            crd("SandboxClaim"),
            "v1alpha1",
            "spec.lifecycle.shutdownPolicy",
            json!(["Delete", "DeleteForeground", "Retain"]),
        ),
        (
            crd("SandboxWarmPool"),
            "v1beta1",
            "spec.updateStrategy.type",
            json!(["Recreate", "OnReplenish"]),
        ),
        (
            crd("SandboxWarmPool"),
            "v1alpha1",
            "spec.updateStrategy.type",
            json!(["Recreate", "OnReplenish"]),
        ),
    ];
    for (crd, v, path, values) in cases {
        let node = property(&schema(&crd, v), path);
        assert_eq!(node["enum"], values, "{} {v} {path}", crd.spec.names.kind);
        assert_eq!(node["type"], "string");
    }
    // The v1alpha1 `warmpool` is free-form (any pool name), not an enum.
    let warmpool = property(&schema(&crd("SandboxClaim"), "v1alpha1"), "spec.warmpool");
    assert!(warmpool.get("enum").is_none());
}

#[test]
fn numeric_bounds_match_upstream() {
    // (crd, version, path, minimum, maximum, format)
    let cases = [
        (
            crd("Sandbox"),
            "v1alpha1",
            "spec.replicas",
            json!(0.0),
            json!(1.0),
            "int32",
        ),
        (
            crd("Sandbox"),
            "v1alpha1",
            "status.replicas",
            json!(0.0),
            Value::Null,
            "int32",
        ),
        (
            crd("Sandbox"),
            "v1beta1",
            "status.conditions[].observedGeneration",
            json!(0),
            Value::Null,
            "int64",
        ),
        (
            crd("SandboxClaim"),
            "v1beta1",
            "spec.lifecycle.ttlSecondsAfterFinished",
            json!(0.0),
            Value::Null,
            "int32",
        ),
        (
            crd("SandboxWarmPool"),
            "v1beta1",
            "spec.replicas",
            json!(0.0),
            Value::Null,
            "int32",
        ),
        (
            crd("SandboxWarmPool"),
            "v1alpha1",
            "spec.replicas",
            json!(0.0),
            Value::Null,
            "int32",
        ),
        (
            crd("SandboxWarmPool"),
            "v1beta1",
            "status.observedGeneration",
            json!(0.0),
            Value::Null,
            "int64",
        ),
    ];
    for (crd, v, path, min, max, format) in cases {
        let node = property(&schema(&crd, v), path);
        let label = format!("{} {v} {path}", crd.spec.names.kind);
        assert_eq!(node["minimum"].as_f64(), min.as_f64(), "{label} minimum");
        assert_eq!(node["maximum"].as_f64(), max.as_f64(), "{label} maximum");
        assert_eq!(node["format"], format, "{label} format");
    }
}

#[test]
fn required_fields_match_upstream() {
    let cases = [
        (crd("Sandbox"), "v1beta1", "spec", json!(["podTemplate"])),
        (
            crd("Sandbox"),
            "v1beta1",
            "spec.podTemplate",
            json!(["spec"]),
        ),
        (
            crd("Sandbox"),
            "v1beta1",
            "spec.volumeClaimTemplates[]",
            json!(["spec"]),
        ),
        (crd("Sandbox"), "v1alpha1", "spec", json!(["podTemplate"])),
        (
            crd("SandboxTemplate"),
            "v1beta1",
            "spec",
            json!(["podTemplate"]),
        ),
        (
            crd("SandboxTemplate"),
            "v1alpha1",
            "spec",
            json!(["podTemplate"]),
        ),
        (
            crd("SandboxClaim"),
            "v1beta1",
            "spec",
            json!(["warmPoolRef"]),
        ),
        (
            crd("SandboxClaim"),
            "v1beta1",
            "spec.warmPoolRef",
            json!(["name"]),
        ),
        (
            crd("SandboxClaim"),
            "v1beta1",
            "spec.env[]",
            json!(["name", "value"]),
        ),
        (
            crd("SandboxClaim"),
            "v1alpha1",
            "spec",
            json!(["sandboxTemplateRef"]),
        ),
        (
            crd("SandboxWarmPool"),
            "v1beta1",
            "spec",
            json!(["sandboxTemplateRef"]),
        ),
        (
            crd("SandboxWarmPool"),
            "v1beta1",
            "spec.sandboxTemplateRef",
            json!(["name"]),
        ),
        (
            crd("SandboxWarmPool"),
            "v1alpha1",
            "spec",
            json!(["replicas", "sandboxTemplateRef"]),
        ),
        (
            crd("Sandbox"),
            "v1beta1",
            "status.conditions[]",
            json!(["lastTransitionTime", "message", "reason", "status", "type"]),
        ),
    ];
    for (crd, v, path, required) in cases {
        let node = property(&schema(&crd, v), path);
        assert_eq!(
            node["required"], required,
            "{} {v} {path}",
            crd.spec.names.kind
        );
    }
    for crd in all_crds() {
        for v in &crd.spec.versions {
            assert_eq!(schema(crd, &v.name)["required"], json!(["spec"]));
        }
    }
}

#[test]
fn list_types_and_formats_match_upstream() {
    let atomic = [
        (crd("Sandbox"), "v1beta1", "spec.volumeClaimTemplates"),
        (crd("Sandbox"), "v1alpha1", "spec.volumeClaimTemplates"),
        (
            crd("SandboxTemplate"),
            "v1beta1",
            "spec.volumeClaimTemplates",
        ),
        (
            crd("SandboxTemplate"),
            "v1alpha1",
            "spec.volumeClaimTemplates",
        ),
        (crd("SandboxClaim"), "v1beta1", "spec.env"),
        (crd("SandboxClaim"), "v1beta1", "spec.volumeClaimTemplates"),
        (crd("SandboxClaim"), "v1alpha1", "spec.env"),
    ];
    for (crd, v, path) in atomic {
        let node = property(&schema(&crd, v), path);
        assert_eq!(
            node["x-kubernetes-list-type"], "atomic",
            "{} {v} {path}",
            crd.spec.names.kind
        );
    }
    let sandbox = schema(&crd("Sandbox"), "v1beta1");
    let shutdown_time = property(&sandbox, "spec.shutdownTime");
    assert_eq!(
        (&shutdown_time["type"], &shutdown_time["format"]),
        (&json!("string"), &json!("date-time"))
    );
    // `service` is a tri-state *bool: a plain boolean that may be absent, never nullable.
    assert_eq!(
        property(&sandbox, "spec.service"),
        json!({ "type": "boolean" })
    );
    let claim = schema(&crd("SandboxClaim"), "v1beta1");
    assert_eq!(
        property(&claim, "spec.lifecycle.shutdownTime")["format"],
        "date-time"
    );
    // Quantities inside VCTs are int-or-string, as the apiserver requires.
    let storage = &property(
        &sandbox,
        "spec.volumeClaimTemplates[].spec.resources.requests",
    )["additionalProperties"];
    assert_eq!(storage["x-kubernetes-int-or-string"], true);
}

/// The apiserver only accepts structural schemas: every node typed (unless int-or-string or
/// preserve-unknown-fields), no `$ref`, no combinators at all here, nothing `nullable`.
#[test]
fn schemas_are_structural_and_stripped() {
    fn walk(node: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(object) = node.as_object() else {
            problems.push(format!("{path}: not an object"));
            return;
        };
        for banned in [
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "description",
            "title",
            "nullable",
        ] {
            if object.contains_key(banned) {
                problems.push(format!("{path}: has {banned}"));
            }
        }
        let untyped_ok = object.get("x-kubernetes-int-or-string") == Some(&json!(true))
            || object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        match object.get("type").and_then(Value::as_str) {
            None if !untyped_ok => problems.push(format!("{path}: no type")),
            Some(t) if object.contains_key("properties") && t != "object" => {
                problems.push(format!("{path}: properties on type {t}"));
            }
            Some(t) if object.contains_key("items") && t != "array" => {
                problems.push(format!("{path}: items on type {t}"));
            }
            _ => {}
        }
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                walk(child, &format!("{path}.{name}"), problems);
            }
        }
        if let Some(items) = object.get("items") {
            walk(items, &format!("{path}[]"), problems);
        }
        if let Some(additional) = object.get("additionalProperties").filter(|a| a.is_object()) {
            walk(additional, &format!("{path}{{}}"), problems);
        }
    }
    for crd in all_crds() {
        for v in &crd.spec.versions {
            let mut problems = Vec::new();
            walk(&schema(crd, &v.name), "", &mut problems);
            assert!(
                problems.is_empty(),
                "{} {}: {problems:?}",
                crd.spec.names.kind,
                v.name
            );
        }
    }
}

#[test]
fn root_schema_declares_type_meta_like_controller_gen() {
    for crd in all_crds() {
        for v in &crd.spec.versions {
            let root = schema(crd, &v.name);
            assert_eq!(root["type"], "object");
            assert_eq!(
                root["properties"]["apiVersion"],
                json!({ "type": "string" })
            );
            assert_eq!(root["properties"]["kind"], json!({ "type": "string" }));
            assert_eq!(root["properties"]["metadata"], json!({ "type": "object" }));
            let has_status = crd.spec.names.kind != "SandboxTemplate";
            assert_eq!(root["properties"].get("status").is_some(), has_status);
        }
    }
}

#[test]
fn conversion_is_none_until_a_webhook_is_configured() {
    for crd in all_crds() {
        let conversion = crd.spec.conversion.as_ref().expect("explicit conversion");
        assert_eq!(conversion.strategy, "None");
        assert!(conversion.webhook.is_none());
    }
}

#[test]
fn with_conversion_webhook_produces_the_upstream_stanza() {
    let config = crds::upstream_webhook_client_config(Some(ByteString(b"ca".to_vec())));
    let converted = crds::with_conversion_webhook(crd("Sandbox"), config);
    assert_eq!(
        serde_json::to_value(&converted.spec.conversion).expect("serialises"),
        json!({
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {
                    "caBundle": "Y2E=",
                    "service": {
                        "name": "agent-sandbox-webhook-service",
                        "namespace": "agent-sandbox-system",
                        "path": "/convert"
                    }
                }
            }
        })
    );
    // Only the conversion stanza changes.
    let mut back = converted;
    back.spec.conversion = crd("Sandbox").spec.conversion;
    assert_eq!(back, crd("Sandbox"));
}
