//! Schema fragments schemars cannot derive on its own, shared by the versioned types.

use schemars::{Schema, SchemaGenerator, json_schema, transform::Transform};

/// Schema for `[]metav1.Condition`.
///
/// k8s-openapi's `Condition` schema carries types only; the upstream CRDs (controller-gen) also
/// carry the validation markers from apimachinery's `Condition` type. We repeat them so the
/// apiserver validates status conditions exactly as it does for the Go controller.
pub(crate) fn conditions(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": { "type": "string", "format": "date-time" },
                "message": { "type": "string", "maxLength": 32768 },
                "observedGeneration": { "type": "integer", "format": "int64", "minimum": 0 },
                "reason": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1024,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "status": { "type": "string", "enum": ["True", "False", "Unknown"] },
                "type": {
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                }
            }
        }
    })
}

/// Container-level transform that removes the `default` schemars emits for one
/// `#[serde(default)]` property.
///
/// Go struct fields without a pointer (`metadata`, `additionalPodMetadata`, …) are always
/// serialised, so we model them as non-`Option` with `#[serde(default)]`. schemars turns that
/// into `default: {}`, which the upstream CRDs do not have; dropping it keeps the apiserver from
/// materialising empty objects the Go controller never asked for.
pub(crate) struct NoDefaultFor(pub &'static str);

impl Transform for NoDefaultFor {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(property) = schema
            .get_mut("properties")
            .and_then(|properties| properties.get_mut(self.0))
            .and_then(serde_json::Value::as_object_mut)
        {
            property.remove("default");
        }
    }
}
