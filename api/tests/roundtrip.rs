//! Upstream-shaped JSON must survive `JSON → our type → JSON` unchanged, for every kind at both
//! versions. The fixtures under `tests/fixtures/` are written by hand from the upstream spec,
//! follow Go's `encoding/json` output, and populate every field of this API's own types (a test
//! below checks that against the generated CRD schema).

mod support;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use sandbox_api::common::{PodTemplate, SandboxBlueprint};
use sandbox_api::{v1alpha1, v1beta1};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::{crd, first_difference, fixture, own_properties, schema};

/// Deserialises `input` as `T`, serialises it back and asserts nothing changed.
fn round_trip<T: Serialize + DeserializeOwned>(input: &Value) -> T {
    let typed: T = serde_json::from_value(input.clone())
        .unwrap_or_else(|e| panic!("fixture does not deserialise: {e}"));
    let output = serde_json::to_value(&typed).expect("serialises");
    if let Some(diff) = first_difference(&output, input, "") {
        panic!("round trip changed the object at {diff}");
    }
    typed
}

/// Asserts the fixture sets every property of this API's own types that the CRD declares, so a
/// field we forgot to populate cannot hide from the round trip.
fn assert_fixture_populates_schema(fixture: &Value, crd_schema: &Value) {
    let missing: Vec<String> = own_properties(crd_schema)
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !is_set(fixture, path))
        .collect();
    assert!(
        missing.is_empty(),
        "fixture leaves these fields unset: {missing:?}"
    );
}

/// Whether a dotted path (`name[]` = any element of the array `name`) is set in a JSON document.
fn is_set(doc: &Value, dotted: &str) -> bool {
    fn walk(node: &Value, steps: &[&str]) -> bool {
        let Some((step, rest)) = steps.split_first() else {
            return true;
        };
        match step.strip_suffix("[]") {
            Some(name) => node
                .get(name)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|item| walk(item, rest))),
            None => node.get(*step).is_some_and(|child| walk(child, rest)),
        }
    }
    walk(doc, &dotted.split('.').collect::<Vec<_>>())
}

#[test]
fn v1beta1_sandbox_round_trips() {
    let input = fixture("v1beta1", "sandbox");
    assert_fixture_populates_schema(&input, &schema(&crd("Sandbox"), "v1beta1"));
    let sandbox: v1beta1::Sandbox = round_trip(&input);

    let spec = &sandbox.spec;
    assert_eq!(spec.operating_mode, Some(v1beta1::OperatingMode::Suspended));
    assert_eq!(
        spec.lifecycle.shutdown_policy,
        Some(v1beta1::ShutdownPolicy::Delete)
    );
    assert_eq!(spec.blueprint.service, Some(true));
    assert_eq!(
        spec.blueprint.volume_claim_templates[0].metadata.name,
        "workspace"
    );
    let container = &spec.blueprint.pod_template.spec.containers[0];
    assert_eq!(container.ports.as_ref().map(Vec::len), Some(2));
    let status = sandbox.status.expect("status");
    assert_eq!(status.service_fqdn, "my-sandbox.default.svc.cluster.local");
    assert_eq!(status.pod_ips, ["10.0.0.12", "fd00::12"]);
    assert_eq!(status.conditions.len(), 3);
    assert_eq!(
        status.selector,
        format!(
            "agents.x-k8s.io/sandbox-name-hash={}",
            sandbox_api::name_hash("my-sandbox")
        )
    );
}

#[test]
fn v1beta1_sandbox_template_round_trips() {
    let input = fixture("v1beta1", "sandboxtemplate");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxTemplate"), "v1beta1"));
    let template: v1beta1::SandboxTemplate = round_trip(&input);

    let spec = &template.spec;
    assert_eq!(spec.blueprint.service, Some(false));
    assert_eq!(
        spec.network_policy_management,
        Some(v1beta1::NetworkPolicyManagement::Unmanaged)
    );
    assert_eq!(
        spec.env_vars_injection_policy,
        Some(v1beta1::EnvVarsInjectionPolicy::Overrides)
    );
    assert_eq!(
        spec.volume_claim_templates_policy,
        Some(v1beta1::VolumeClaimTemplatesPolicy::Allowed)
    );
    let policy = spec.network_policy.as_ref().expect("networkPolicy");
    assert_eq!((policy.ingress.len(), policy.egress.len()), (1, 1));
}

#[test]
fn v1beta1_sandbox_claim_round_trips() {
    let input = fixture("v1beta1", "sandboxclaim");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxClaim"), "v1beta1"));
    let claim: v1beta1::SandboxClaim = round_trip(&input);

    let spec = &claim.spec;
    assert_eq!(spec.warm_pool_ref.name, "my-warm-pool");
    let lifecycle = spec.lifecycle.as_ref().expect("lifecycle");
    assert_eq!(lifecycle.ttl_seconds_after_finished, Some(300));
    assert_eq!(
        lifecycle.shutdown_policy,
        Some(v1beta1::ClaimShutdownPolicy::DeleteForeground)
    );
    assert_eq!(spec.env[0].container_name, "");
    assert_eq!(spec.env[1].container_name, "proxy");
    assert_eq!(
        spec.additional_pod_metadata.labels["sandbox.users.io/owner"],
        "alice"
    );
    let status = claim.status.expect("status");
    assert_eq!(status.sandbox.name, "my-warm-pool-x7k2p");
    assert_eq!(
        status.conditions[1].type_,
        sandbox_api::keys::condition::READY
    );
}

#[test]
fn v1beta1_sandbox_warm_pool_round_trips() {
    let input = fixture("v1beta1", "sandboxwarmpool");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxWarmPool"), "v1beta1"));
    let pool: v1beta1::SandboxWarmPool = round_trip(&input);

    assert_eq!(pool.spec.replicas, Some(3));
    assert_eq!(
        pool.spec.update_strategy.and_then(|s| s.type_),
        Some(v1beta1::UpdateStrategyType::Recreate)
    );
    let status = pool.status.expect("status");
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.observed_generation
        ),
        (3, 2, 4)
    );
}

#[test]
fn v1alpha1_sandbox_round_trips() {
    let input = fixture("v1alpha1", "sandbox");
    assert_fixture_populates_schema(&input, &schema(&crd("Sandbox"), "v1alpha1"));
    let sandbox: v1alpha1::Sandbox = round_trip(&input);

    assert_eq!(sandbox.spec.replicas, Some(1));
    assert_eq!(sandbox.spec.service, Some(false));
    assert_eq!(
        sandbox.spec.lifecycle.shutdown_policy,
        Some(v1alpha1::ShutdownPolicy::Retain)
    );
    assert_eq!(sandbox.status.expect("status").replicas, 1);
}

#[test]
fn v1alpha1_sandbox_template_round_trips() {
    let input = fixture("v1alpha1", "sandboxtemplate");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxTemplate"), "v1alpha1"));
    let template: v1alpha1::SandboxTemplate = round_trip(&input);

    assert_eq!(template.spec.service, Some(true));
    assert_eq!(
        template.spec.env_vars_injection_policy,
        Some(v1alpha1::EnvVarsInjectionPolicy::Allowed)
    );
    assert_eq!(
        template.spec.volume_claim_templates[0].metadata.name,
        "cache"
    );
}

#[test]
fn v1alpha1_sandbox_claim_round_trips() {
    let input = fixture("v1alpha1", "sandboxclaim");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxClaim"), "v1alpha1"));
    let claim: v1alpha1::SandboxClaim = round_trip(&input);

    assert_eq!(claim.spec.sandbox_template_ref.name, "python-runtime");
    assert_eq!(
        claim.spec.warm_pool.as_deref(),
        Some(sandbox_api::keys::WARM_POOL_POLICY_NONE)
    );
    // A zero TTL is a real value (expire as soon as Finished), not an absent one.
    assert_eq!(
        claim
            .spec
            .lifecycle
            .and_then(|l| l.ttl_seconds_after_finished),
        Some(0)
    );
}

#[test]
fn v1alpha1_sandbox_warm_pool_round_trips() {
    let input = fixture("v1alpha1", "sandboxwarmpool");
    assert_fixture_populates_schema(&input, &schema(&crd("SandboxWarmPool"), "v1alpha1"));
    let pool: v1alpha1::SandboxWarmPool = round_trip(&input);

    assert_eq!(pool.spec.replicas, 2);
    assert_eq!(pool.status.expect("status").ready_replicas, 1);
}

#[test]
fn v1alpha1_suspended_sandbox_keeps_zero_replicas() {
    let mut input = fixture("v1alpha1", "sandbox");
    input["spec"]["replicas"] = json!(0);
    let sandbox: v1alpha1::Sandbox = round_trip(&input);
    assert_eq!(sandbox.spec.replicas, Some(0));
}

/// A Sandbox built in Rust serialises the way the Go types would: the podTemplate `metadata`
/// struct is always present, empty lists and unset pointers are omitted.
#[test]
fn minimal_sandbox_serialises_like_go() {
    let spec = v1beta1::SandboxSpec {
        blueprint: SandboxBlueprint {
            pod_template: PodTemplate {
                spec: PodSpec {
                    containers: vec![Container {
                        name: "main".into(),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }
                .into(),
                ..PodTemplate::default()
            },
            ..SandboxBlueprint::default()
        },
        ..v1beta1::SandboxSpec::default()
    };
    let sandbox = v1beta1::Sandbox::new("s", spec);
    assert_eq!(
        serde_json::to_value(&sandbox).expect("serialises"),
        json!({
            "apiVersion": "agents.x-k8s.io/v1beta1",
            "kind": "Sandbox",
            "metadata": { "name": "s" },
            "spec": { "podTemplate": { "spec": { "containers": [{ "name": "main" }] }, "metadata": {} } }
        })
    );
}

/// Go never omits non-pointer struct fields, so empty claims carry `additionalPodMetadata: {}`
/// and an empty status carries `sandbox: {}`.
#[test]
fn empty_claim_structs_serialise_like_go() {
    let spec = v1beta1::SandboxClaimSpec {
        warm_pool_ref: v1beta1::WarmPoolRef {
            name: "pool".into(),
        },
        ..v1beta1::SandboxClaimSpec::default()
    };
    assert_eq!(
        serde_json::to_value(&spec).expect("serialises"),
        json!({ "warmPoolRef": { "name": "pool" }, "additionalPodMetadata": {} })
    );
    assert_eq!(
        serde_json::to_value(v1beta1::SandboxClaimStatus::default()).expect("serialises"),
        json!({ "sandbox": {} })
    );
    assert_eq!(
        serde_json::to_value(v1beta1::SandboxWarmPoolStatus::default()).expect("serialises"),
        json!({})
    );
}

/// Objects written by older clients may lack the always-serialised structs; they still read.
#[test]
fn absent_always_serialised_structs_default_on_read() {
    let spec: v1beta1::SandboxSpec = serde_json::from_value(json!({
        "podTemplate": { "spec": { "containers": [] } },
        "volumeClaimTemplates": [{ "spec": {} }]
    }))
    .expect("deserialises");
    assert!(spec.blueprint.pod_template.metadata.is_empty());
    assert_eq!(spec.blueprint.volume_claim_templates[0].metadata.name, "");
    assert_eq!(spec.operating_mode, None);
    assert_eq!(
        spec.operating_mode.unwrap_or_default(),
        v1beta1::OperatingMode::Running
    );
}

#[test]
fn unknown_enum_values_are_rejected() {
    let result = serde_json::from_value::<v1beta1::SandboxSpec>(json!({
        "podTemplate": { "spec": { "containers": [] } },
        "operatingMode": "Paused"
    }));
    assert!(result.is_err(), "operatingMode is a closed enum");
}
