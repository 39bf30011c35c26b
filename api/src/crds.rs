//! CustomResourceDefinitions for the four kinds, generated from the Rust types.
//!
//! Each CRD serves `v1beta1` (storage) and `v1alpha1` (deprecated). kube-derive produces one
//! single-version CRD per Rust type; this module merges them and then normalises the result
//! towards the upstream (controller-gen) shape:
//!
//! * `description`, `title` and `nullable` are removed from every schema node. Upstream ships
//!   its CRDs without descriptions (they would more than double the size of the two CRDs that
//!   embed a full `PodSpec` twice) and never marks anything nullable; with `nullable` an explicit
//!   `null` would be stored instead of pruned and then defaulted.
//! * the root schema declares `apiVersion`, `kind` and `metadata` like upstream does.
//! * `listKind` is spelled out and the conversion strategy is explicit.
//!
//! The generated base uses conversion strategy `None`; [`with_conversion_webhook`] switches a
//! CRD to the upstream `Webhook` strategy once a webhook (and its CA bundle) is available.

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
    JSONSchemaPropsOrBool, JSONSchemaPropsOrStringArray, ServiceReference, ValidationRule,
    WebhookClientConfig, WebhookConversion,
};
use kube::CustomResourceExt;

use crate::{v1alpha1, v1beta1};

/// The version every CRD stores (and converts through).
pub const STORAGE_VERSION: &str = "v1beta1";
/// `ConversionReview` versions the upstream webhook accepts.
pub const CONVERSION_REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
/// Service fronting the upstream conversion webhook.
pub const WEBHOOK_SERVICE_NAME: &str = "agent-sandbox-webhook-service";
/// Namespace of [`WEBHOOK_SERVICE_NAME`].
pub const WEBHOOK_SERVICE_NAMESPACE: &str = "agent-sandbox-system";
/// HTTP path of the conversion endpoint.
pub const WEBHOOK_CONVERT_PATH: &str = "/convert";

/// Errors from rendering the CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The YAML serialiser rejected a CRD.
    #[error("failed to render CRDs as YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// The four CRDs in a fixed order: Sandbox, SandboxTemplate, SandboxClaim, SandboxWarmPool.
#[must_use]
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        sandbox(),
        sandbox_template(),
        sandbox_claim(),
        sandbox_warm_pool(),
    ]
}

/// `sandboxes.agents.x-k8s.io`.
#[must_use]
pub fn sandbox() -> CustomResourceDefinition {
    let mut crd = build(v1beta1::Sandbox::crd(), v1alpha1::Sandbox::crd());
    // kube-derive attaches rules to fields and structs, not to the root, where `metadata.name`
    // is in reach.
    if let Some(root) = root_schema(&mut crd, STORAGE_VERSION) {
        root.x_kubernetes_validations = Some(vec![ValidationRule {
            rule: v1beta1::SERVICE_NAME_LENGTH_RULE.into(),
            message: Some(v1beta1::SERVICE_NAME_LENGTH_MESSAGE.into()),
            optional_old_self: Some(true),
            ..ValidationRule::default()
        }]);
    }
    crd
}

/// The root schema of `version` in `crd`.
fn root_schema<'a>(
    crd: &'a mut CustomResourceDefinition,
    version: &str,
) -> Option<&'a mut JSONSchemaProps> {
    crd.spec
        .versions
        .iter_mut()
        .find(|v| v.name == version)?
        .schema
        .as_mut()?
        .open_api_v3_schema
        .as_mut()
}

/// `sandboxtemplates.extensions.agents.x-k8s.io`.
#[must_use]
pub fn sandbox_template() -> CustomResourceDefinition {
    build(
        v1beta1::SandboxTemplate::crd(),
        v1alpha1::SandboxTemplate::crd(),
    )
}

/// `sandboxclaims.extensions.agents.x-k8s.io`.
#[must_use]
pub fn sandbox_claim() -> CustomResourceDefinition {
    build(v1beta1::SandboxClaim::crd(), v1alpha1::SandboxClaim::crd())
}

/// `sandboxwarmpools.extensions.agents.x-k8s.io`.
#[must_use]
pub fn sandbox_warm_pool() -> CustomResourceDefinition {
    build(
        v1beta1::SandboxWarmPool::crd(),
        v1alpha1::SandboxWarmPool::crd(),
    )
}

/// All CRDs as one multi-document YAML string (deterministic: same types, same bytes).
///
/// This is what `gen-crds` writes to `api/crds/agent-sandbox.yaml`.
pub fn to_yaml() -> Result<String, CrdError> {
    Ok(serde_saphyr::to_string_multiple(&all())?)
}

/// Switches `crd` to the `Webhook` conversion strategy with `client_config`, as upstream ships
/// it. Use [`upstream_webhook_client_config`] for the upstream Service.
#[must_use]
pub fn with_conversion_webhook(
    mut crd: CustomResourceDefinition,
    client_config: WebhookClientConfig,
) -> CustomResourceDefinition {
    crd.spec.conversion = Some(CustomResourceConversion {
        strategy: "Webhook".into(),
        webhook: Some(WebhookConversion {
            client_config: Some(client_config),
            conversion_review_versions: CONVERSION_REVIEW_VERSIONS.map(String::from).to_vec(),
        }),
    });
    crd
}

/// Client config pointing at the upstream webhook Service (`/convert` on
/// `agent-sandbox-webhook-service.agent-sandbox-system`, default port 443).
#[must_use]
pub fn upstream_webhook_client_config(ca_bundle: Option<ByteString>) -> WebhookClientConfig {
    WebhookClientConfig {
        ca_bundle,
        service: Some(ServiceReference {
            name: WEBHOOK_SERVICE_NAME.into(),
            namespace: WEBHOOK_SERVICE_NAMESPACE.into(),
            path: Some(WEBHOOK_CONVERT_PATH.into()),
            port: None,
        }),
        url: None,
    }
}

/// Merges the storage-version CRD with the deprecated one and normalises the result.
///
/// `kube::core::crd::merge_crds` would do the merge too, but it reports mismatched groups or
/// kinds as a runtime error; here both inputs come from types in this crate, and the
/// `crd_facts` tests pin that they agree.
fn build(
    storage: CustomResourceDefinition,
    deprecated: CustomResourceDefinition,
) -> CustomResourceDefinition {
    let mut crd = storage;
    for version in &mut crd.spec.versions {
        version.storage = true;
    }
    crd.spec
        .versions
        .extend(deprecated.spec.versions.into_iter().map(|mut version| {
            version.storage = false;
            version
        }));

    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    crd.spec.conversion = Some(CustomResourceConversion {
        strategy: "None".into(),
        webhook: None,
    });

    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|validation| validation.open_api_v3_schema.as_mut())
        {
            strip_annotations(schema);
            declare_type_meta(schema);
        }
    }
    crd
}

/// Adds the `apiVersion`/`kind`/`metadata` properties every controller-gen root schema has.
fn declare_type_meta(root: &mut JSONSchemaProps) {
    let properties = root.properties.get_or_insert_with(Default::default);
    for (name, type_) in [
        ("apiVersion", "string"),
        ("kind", "string"),
        ("metadata", "object"),
    ] {
        properties
            .entry(name.into())
            .or_insert_with(|| JSONSchemaProps {
                type_: Some(type_.into()),
                ..JSONSchemaProps::default()
            });
    }
}

/// Recursively removes `description`, `title` and `nullable` (see the module docs for why).
fn strip_annotations(schema: &mut JSONSchemaProps) {
    schema.description = None;
    schema.title = None;
    schema.nullable = None;

    let maps = [
        schema.properties.as_mut(),
        schema.pattern_properties.as_mut(),
        schema.definitions.as_mut(),
    ];
    for child in maps.into_iter().flatten().flat_map(|map| map.values_mut()) {
        strip_annotations(child);
    }
    let lists = [
        schema.all_of.as_mut(),
        schema.any_of.as_mut(),
        schema.one_of.as_mut(),
    ];
    for child in lists.into_iter().flatten().flat_map(|list| list.iter_mut()) {
        strip_annotations(child);
    }
    if let Some(not) = schema.not.as_mut() {
        strip_annotations(not);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(items)) => strip_annotations(items),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(strip_annotations)
        }
        None => {}
    }
    for child in [
        schema.additional_properties.as_mut(),
        schema.additional_items.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        if let JSONSchemaPropsOrBool::Schema(child) = child {
            strip_annotations(child);
        }
    }
    for dependency in schema
        .dependencies
        .iter_mut()
        .flat_map(|map| map.values_mut())
    {
        if let JSONSchemaPropsOrStringArray::Schema(child) = dependency {
            strip_annotations(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed copy other tools (kubectl, Helm, CI) consume.
    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/agent-sandbox.yaml");

    #[test]
    fn committed_yaml_is_up_to_date() {
        let generated = to_yaml().expect("CRDs render");
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "{COMMITTED} is out of date with the Rust types; regenerate it with `just crds` \
             (cargo run -p sandbox-api --bin gen-crds)"
        );
    }

    #[test]
    fn yaml_is_deterministic_and_parses_back_to_the_same_crds() {
        let yaml = to_yaml().expect("CRDs render");
        assert_eq!(yaml, to_yaml().expect("CRDs render"));
        let parsed: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&yaml).expect("YAML parses");
        assert_eq!(parsed, all());
    }

    #[test]
    fn merged_versions_share_group_kind_and_scope() {
        let pairs = [
            (v1beta1::Sandbox::crd(), v1alpha1::Sandbox::crd()),
            (
                v1beta1::SandboxTemplate::crd(),
                v1alpha1::SandboxTemplate::crd(),
            ),
            (v1beta1::SandboxClaim::crd(), v1alpha1::SandboxClaim::crd()),
            (
                v1beta1::SandboxWarmPool::crd(),
                v1alpha1::SandboxWarmPool::crd(),
            ),
        ];
        for (beta, alpha) in pairs {
            assert_eq!(beta.metadata.name, alpha.metadata.name);
            assert_eq!(beta.spec.group, alpha.spec.group);
            assert_eq!(beta.spec.names, alpha.spec.names);
            assert_eq!(beta.spec.scope, alpha.spec.scope);
            assert_eq!(beta.spec.versions[0].name, STORAGE_VERSION);
        }
    }

    #[test]
    fn strip_annotations_reaches_nested_schemas() {
        let leaf = || JSONSchemaProps {
            description: Some("doc".into()),
            nullable: Some(true),
            title: Some("t".into()),
            type_: Some("string".into()),
            ..JSONSchemaProps::default()
        };
        let mut schema = JSONSchemaProps {
            description: Some("root".into()),
            properties: Some([("a".to_string(), leaf())].into()),
            items: Some(JSONSchemaPropsOrArray::Schema(Box::new(leaf()))),
            additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(leaf()))),
            any_of: Some(vec![leaf()]),
            ..JSONSchemaProps::default()
        };
        strip_annotations(&mut schema);
        let text = serde_json::to_string(&schema).expect("serialises");
        assert!(!text.contains("description"), "{text}");
        assert!(!text.contains("nullable"), "{text}");
        assert!(!text.contains("title"), "{text}");
        assert!(text.contains("\"type\":\"string\""), "{text}");
    }
}
