//! Routes one JSON object to its kind's conversion by `apiVersion` and `kind`.

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use sandbox_api::v1beta1;

use super::{ConversionError, claim, sandbox, template, warmpool};

/// The deprecated spoke version.
const ALPHA: &str = "v1alpha1";
/// The hub (and storage) version.
const BETA: &str = "v1beta1";

/// Which way an object travels relative to the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ToHub,
    FromHub,
}

/// Converts `object` to `desired_api_version` (`<group>/<version>`).
///
/// An object already at that version is returned untouched, whatever its kind. Otherwise the
/// group must be unchanged, the kind must be one of the four served in that group, and the
/// versions must be v1alpha1 and v1beta1 (in either order).
pub fn convert(object: Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    let api_version = string_field(&object, "apiVersion")?.to_owned();
    let kind = string_field(&object, "kind")?.to_owned();
    if api_version == desired_api_version {
        return Ok(object);
    }
    let (group, from) = split_api_version(&api_version);
    let (desired_group, to) = split_api_version(desired_api_version);
    if group != desired_group {
        return Err(ConversionError::GroupMismatch {
            from: group.to_owned(),
            to: desired_group.to_owned(),
        });
    }
    let direction = match (from, to) {
        (ALPHA, BETA) => Direction::ToHub,
        (BETA, ALPHA) => Direction::FromHub,
        _ => {
            return Err(ConversionError::UnsupportedVersion {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
    };
    let step = Step {
        object,
        direction,
        api_version: &api_version,
        kind: &kind,
    };
    if served::<v1beta1::Sandbox>(group, &kind) {
        step.run(sandbox::to_hub, sandbox::from_hub)
    } else if served::<v1beta1::SandboxClaim>(group, &kind) {
        step.run(claim::to_hub, claim::from_hub)
    } else if served::<v1beta1::SandboxTemplate>(group, &kind) {
        step.run(template::to_hub, template::from_hub)
    } else if served::<v1beta1::SandboxWarmPool>(group, &kind) {
        step.run(warmpool::to_hub, warmpool::from_hub)
    } else {
        Err(ConversionError::UnsupportedKind {
            group: group.to_owned(),
            kind,
        })
    }
}

/// One object on its way through a typed conversion.
struct Step<'a> {
    object: Value,
    direction: Direction,
    api_version: &'a str,
    kind: &'a str,
}

impl Step<'_> {
    /// Decodes the object as the source version, converts it and encodes the result.
    fn run<A, H>(
        self,
        to_hub: fn(A) -> Result<H, ConversionError>,
        from_hub: fn(H) -> Result<A, ConversionError>,
    ) -> Result<Value, ConversionError>
    where
        A: DeserializeOwned + Serialize,
        H: DeserializeOwned + Serialize,
    {
        match self.direction {
            Direction::ToHub => encode(to_hub(self.decode()?)?),
            Direction::FromHub => encode(from_hub(self.decode()?)?),
        }
    }

    fn decode<K: DeserializeOwned>(&self) -> Result<K, ConversionError> {
        K::deserialize(&self.object).map_err(|source| ConversionError::Decode {
            api_version: self.api_version.to_owned(),
            kind: self.kind.to_owned(),
            source,
        })
    }
}

fn encode(object: impl Serialize) -> Result<Value, ConversionError> {
    serde_json::to_value(object).map_err(ConversionError::Encode)
}

/// Whether `kind` in `group` names the hub type `K` (the kinds are distinct per group).
fn served<K: Resource<DynamicType = ()>>(group: &str, kind: &str) -> bool {
    K::group(&()) == group && K::kind(&()) == kind
}

fn string_field<'a>(object: &'a Value, field: &'static str) -> Result<&'a str, ConversionError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or(ConversionError::MissingTypeField(field))
}

/// `group/version` → (group, version); a bare `version` is the core group.
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use sandbox_api::keys::{
        V1ALPHA1_SANDBOX_STATE_ANNOTATION, V1ALPHA1_SANDBOXCLAIM_STATE_ANNOTATION,
        V1ALPHA1_SANDBOXTEMPLATE_STATE_ANNOTATION, V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION,
    };

    use super::*;
    use crate::webhook::fixtures;

    const CORE_BETA: &str = "agents.x-k8s.io/v1beta1";
    const CORE_ALPHA: &str = "agents.x-k8s.io/v1alpha1";
    const EXT_BETA: &str = "extensions.agents.x-k8s.io/v1beta1";
    const EXT_ALPHA: &str = "extensions.agents.x-k8s.io/v1alpha1";

    fn value(object: impl Serialize) -> Value {
        serde_json::to_value(object).unwrap()
    }

    #[test]
    fn every_kind_converts_both_ways() {
        let ups = [
            (
                value(fixtures::alpha_sandbox()),
                CORE_BETA,
                V1ALPHA1_SANDBOX_STATE_ANNOTATION,
            ),
            (
                value(fixtures::alpha_claim(None, "")),
                EXT_BETA,
                V1ALPHA1_SANDBOXCLAIM_STATE_ANNOTATION,
            ),
            (
                value(fixtures::alpha_template()),
                EXT_BETA,
                V1ALPHA1_SANDBOXTEMPLATE_STATE_ANNOTATION,
            ),
            (
                value(fixtures::alpha_warm_pool()),
                EXT_BETA,
                V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION,
            ),
        ];
        for (alpha, desired, stash_key) in ups {
            let kind = alpha["kind"].clone();
            let hub = convert(alpha.clone(), desired).unwrap();
            assert_eq!(hub["apiVersion"], desired);
            assert_eq!(hub["kind"], kind);
            assert!(
                hub["metadata"]["annotations"][stash_key].is_string(),
                "{hub}"
            );
            let back_version = alpha["apiVersion"].as_str().unwrap().to_owned();
            let back = convert(hub, &back_version).unwrap();
            assert_eq!(back, alpha, "{kind} round trip");
        }
    }

    #[test]
    fn sandbox_replicas_zero_becomes_suspended_on_the_wire() {
        let mut alpha = value(fixtures::alpha_sandbox());
        alpha["spec"]["replicas"] = json!(0);
        let hub = convert(alpha, CORE_BETA).unwrap();
        assert_eq!(hub["spec"]["operatingMode"], "Suspended");
        assert!(hub["spec"].get("replicas").is_none());
    }

    #[test]
    fn same_version_passes_through_untouched() {
        let object = json!({"apiVersion": CORE_BETA, "kind": "Anything", "extra": [1, 2]});
        assert_eq!(convert(object.clone(), CORE_BETA).unwrap(), object);
    }

    #[test]
    fn rejects_objects_without_type_fields() {
        let err = convert(json!({"kind": "Sandbox"}), CORE_BETA).unwrap_err();
        assert!(
            matches!(err, ConversionError::MissingTypeField("apiVersion")),
            "{err}"
        );
        let err = convert(json!({"apiVersion": CORE_ALPHA}), CORE_BETA).unwrap_err();
        assert!(
            matches!(err, ConversionError::MissingTypeField("kind")),
            "{err}"
        );
    }

    #[test]
    fn rejects_group_changes_unknown_kinds_and_versions() {
        let sandbox = value(fixtures::alpha_sandbox());
        let err = convert(sandbox.clone(), EXT_BETA).unwrap_err();
        assert!(
            matches!(err, ConversionError::GroupMismatch { .. }),
            "{err}"
        );

        let err = convert(sandbox, "agents.x-k8s.io/v2").unwrap_err();
        assert!(
            matches!(err, ConversionError::UnsupportedVersion { .. }),
            "{err}"
        );

        // SandboxClaim lives in the extensions group, not the core one.
        let misplaced = json!({"apiVersion": CORE_ALPHA, "kind": "SandboxClaim"});
        let err = convert(misplaced, CORE_BETA).unwrap_err();
        assert!(
            matches!(err, ConversionError::UnsupportedKind { .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_objects_that_do_not_match_their_schema() {
        let broken = json!({
            "apiVersion": EXT_ALPHA,
            "kind": "SandboxWarmPool",
            "metadata": {"name": "p"},
            "spec": {"replicas": "three", "sandboxTemplateRef": {"name": "t"}}
        });
        let err = convert(broken, EXT_BETA).unwrap_err();
        assert!(matches!(err, ConversionError::Decode { .. }), "{err}");
        assert!(err.to_string().contains("SandboxWarmPool"), "{err}");
    }

    #[test]
    fn split_api_version_handles_core_group() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(
            split_api_version(EXT_BETA),
            ("extensions.agents.x-k8s.io", "v1beta1")
        );
    }
}
