//! SandboxTemplate conversion (spec §6): the shapes match except for the v1beta1-only
//! `volumeClaimTemplatesPolicy`, which rides in an annotation on the v1alpha1 view.

use sandbox_api::common::SandboxBlueprint;
use sandbox_api::keys::{
    V1ALPHA1_SANDBOXTEMPLATE_STATE_ANNOTATION as STASH,
    V1BETA1_VOLUME_CLAIM_TEMPLATES_POLICY_ANNOTATION as POLICY,
};
use sandbox_api::v1beta1::VolumeClaimTemplatesPolicy;
use sandbox_api::{v1alpha1, v1beta1};

use super::{ConversionError, stash};

/// v1alpha1 → v1beta1.
///
/// The policy is restored from the annotation the v1alpha1 view carries and the annotation is
/// removed. An unknown value fails the conversion instead of silently falling back to the
/// default, since the default (`Disallowed`) would reject claims the template used to allow.
pub fn to_hub(
    alpha: v1alpha1::SandboxTemplate,
) -> Result<v1beta1::SandboxTemplate, ConversionError> {
    let mut metadata = alpha.metadata.clone();
    let policy = stash::remove(&mut metadata, POLICY)
        .map(|value| {
            parse_policy(&value)
                .ok_or(ConversionError::InvalidVolumeClaimTemplatesPolicy { key: POLICY, value })
        })
        .transpose()?;
    stash::put(&mut metadata, STASH, &alpha)?;
    let spec = alpha.spec;
    Ok(v1beta1::SandboxTemplate {
        metadata,
        spec: v1beta1::SandboxTemplateSpec {
            blueprint: SandboxBlueprint {
                pod_template: spec.pod_template,
                volume_claim_templates: spec.volume_claim_templates,
                service: spec.service,
            },
            network_policy: spec.network_policy,
            network_policy_management: spec.network_policy_management,
            env_vars_injection_policy: spec.env_vars_injection_policy,
            volume_claim_templates_policy: policy,
        },
    })
}

/// v1beta1 → v1alpha1.
///
/// A set policy is written to the annotation; an unset one removes any copy of the annotation,
/// so the annotation always mirrors the hub and converting back cannot resurrect an old value.
/// The stash is stripped; every field maps one to one, so nothing needs restoring from it.
pub fn from_hub(
    hub: v1beta1::SandboxTemplate,
) -> Result<v1alpha1::SandboxTemplate, ConversionError> {
    let mut metadata = hub.metadata;
    stash::remove(&mut metadata, STASH);
    stash::remove(&mut metadata, POLICY);
    let spec = hub.spec;
    if let Some(policy) = spec.volume_claim_templates_policy {
        stash::insert(&mut metadata, POLICY, policy_name(policy).to_owned());
    }
    Ok(v1alpha1::SandboxTemplate {
        metadata,
        spec: v1alpha1::SandboxTemplateSpec {
            pod_template: spec.blueprint.pod_template,
            volume_claim_templates: spec.blueprint.volume_claim_templates,
            network_policy: spec.network_policy,
            network_policy_management: spec.network_policy_management,
            env_vars_injection_policy: spec.env_vars_injection_policy,
            service: spec.blueprint.service,
        },
    })
}

/// The wire spelling of a policy.
fn policy_name(policy: VolumeClaimTemplatesPolicy) -> &'static str {
    match policy {
        VolumeClaimTemplatesPolicy::Disallowed => "Disallowed",
        VolumeClaimTemplatesPolicy::Allowed => "Allowed",
        VolumeClaimTemplatesPolicy::Overrides => "Overrides",
    }
}

/// Parses the wire spelling (exact, case-sensitive, like the CRD enum).
fn parse_policy(value: &str) -> Option<VolumeClaimTemplatesPolicy> {
    [
        VolumeClaimTemplatesPolicy::Disallowed,
        VolumeClaimTemplatesPolicy::Allowed,
        VolumeClaimTemplatesPolicy::Overrides,
    ]
    .into_iter()
    .find(|policy| policy_name(*policy) == value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::fixtures::{alpha_template, beta_template, without};

    fn with_policy(value: &str) -> v1alpha1::SandboxTemplate {
        let mut alpha = alpha_template();
        stash::insert(&mut alpha.metadata, POLICY, value.to_owned());
        alpha
    }

    #[test]
    fn policy_names_match_the_serde_spelling() {
        for policy in [
            VolumeClaimTemplatesPolicy::Disallowed,
            VolumeClaimTemplatesPolicy::Allowed,
            VolumeClaimTemplatesPolicy::Overrides,
        ] {
            let json = serde_json::to_value(policy).unwrap();
            assert_eq!(json, policy_name(policy));
            assert_eq!(parse_policy(policy_name(policy)), Some(policy));
        }
    }

    #[test]
    fn to_hub_copies_every_field_and_leaves_policy_unset_without_annotation() {
        let alpha = alpha_template();
        let hub = to_hub(alpha.clone()).unwrap();
        assert_eq!(hub.spec.blueprint.pod_template, alpha.spec.pod_template);
        assert_eq!(
            hub.spec.blueprint.volume_claim_templates,
            alpha.spec.volume_claim_templates
        );
        assert_eq!(hub.spec.blueprint.service, Some(true));
        assert_eq!(hub.spec.network_policy, alpha.spec.network_policy);
        assert_eq!(
            hub.spec.network_policy_management,
            alpha.spec.network_policy_management
        );
        assert_eq!(
            hub.spec.env_vars_injection_policy,
            alpha.spec.env_vars_injection_policy
        );
        assert_eq!(hub.spec.volume_claim_templates_policy, None);
        assert_eq!(without(&hub.metadata, STASH), alpha.metadata);
    }

    #[test]
    fn to_hub_restores_the_policy_and_removes_the_annotation() {
        let hub = to_hub(with_policy("Overrides")).unwrap();
        assert_eq!(
            hub.spec.volume_claim_templates_policy,
            Some(VolumeClaimTemplatesPolicy::Overrides)
        );
        let annotations = hub.metadata.annotations.unwrap();
        assert!(!annotations.contains_key(POLICY));
        assert!(annotations.contains_key(STASH));
    }

    #[test]
    fn to_hub_rejects_an_invalid_policy() {
        for bad in ["allowed", "Sometimes", ""] {
            let err = to_hub(with_policy(bad)).unwrap_err();
            assert!(
                matches!(&err, ConversionError::InvalidVolumeClaimTemplatesPolicy { value, .. } if value == bad),
                "{err}"
            );
            assert!(err.to_string().contains(POLICY), "{err}");
        }
    }

    #[test]
    fn from_hub_stashes_the_policy_in_the_annotation() {
        let hub = beta_template();
        let alpha = from_hub(hub.clone()).unwrap();
        let annotations = alpha.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[POLICY], "Allowed");
        assert_eq!(annotations["note"], "keep me");
        assert_eq!(alpha.spec.network_policy, hub.spec.network_policy);
        assert_eq!(alpha.spec.pod_template, hub.spec.blueprint.pod_template);
    }

    #[test]
    fn from_hub_without_policy_removes_a_stale_annotation_and_the_stash() {
        let mut hub = to_hub(with_policy("Allowed")).unwrap();
        hub.spec.volume_claim_templates_policy = None;
        stash::insert(&mut hub.metadata, POLICY, "Overrides".into());
        let alpha = from_hub(hub).unwrap();
        let annotations = alpha.metadata.annotations.unwrap();
        assert!(!annotations.contains_key(POLICY));
        assert!(!annotations.contains_key(STASH));
    }

    #[test]
    fn alpha_round_trip_is_lossless() {
        for alpha in [
            alpha_template(),
            with_policy("Disallowed"),
            with_policy("Allowed"),
        ] {
            let back = from_hub(to_hub(alpha.clone()).unwrap()).unwrap();
            assert_eq!(back, alpha);
        }
    }

    #[test]
    fn beta_round_trip_is_lossless() {
        let mut unset = beta_template();
        unset.spec.volume_claim_templates_policy = None;
        for hub in [beta_template(), unset] {
            let back = to_hub(from_hub(hub.clone()).unwrap()).unwrap();
            assert_eq!(without(&back.metadata, STASH), hub.metadata);
            assert_eq!(back.spec, hub.spec);
        }
    }
}
