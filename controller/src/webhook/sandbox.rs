//! Sandbox conversion (spec §6): v1alpha1 `spec.replicas` (0|1) ⇄ v1beta1 `operatingMode`.

use sandbox_api::common::SandboxBlueprint;
use sandbox_api::keys::V1ALPHA1_SANDBOX_STATE_ANNOTATION as STASH;
use sandbox_api::v1beta1::OperatingMode;
use sandbox_api::{v1alpha1, v1beta1};

use super::{ConversionError, stash};

/// v1alpha1 → v1beta1.
///
/// `replicas: 0` means `Suspended`; anything else, including an unset value, means `Running`.
/// `status.replicas` has no v1beta1 field and survives only in the stash. `status.nodeName` is
/// blanked because v1alpha1 has no such field, so whatever the caller sent cannot be trusted.
pub fn to_hub(alpha: v1alpha1::Sandbox) -> Result<v1beta1::Sandbox, ConversionError> {
    let mut metadata = alpha.metadata.clone();
    stash::put(&mut metadata, STASH, &alpha)?;
    let spec = alpha.spec;
    let operating_mode = if spec.replicas == Some(0) {
        OperatingMode::Suspended
    } else {
        OperatingMode::Running
    };
    Ok(v1beta1::Sandbox {
        metadata,
        spec: v1beta1::SandboxSpec {
            blueprint: SandboxBlueprint {
                pod_template: spec.pod_template,
                volume_claim_templates: spec.volume_claim_templates,
                service: spec.service,
            },
            lifecycle: spec.lifecycle,
            operating_mode: Some(operating_mode),
        },
        status: alpha.status.map(|status| v1beta1::SandboxStatus {
            service_fqdn: status.service_fqdn,
            service: status.service,
            conditions: status.conditions,
            selector: status.selector,
            pod_ips: status.pod_ips,
            node_name: String::new(),
        }),
    })
}

/// v1beta1 → v1alpha1.
///
/// `Suspended` gives `replicas: 0` and `status.replicas: 0`; `Running` (or unset) gives 1 and 1.
/// When the stash was written while the Sandbox was running and it is *still* running, the
/// stashed `spec.replicas` and `status.replicas` are restored instead, so an alpha object
/// survives a round trip unchanged (including an unset `replicas`). A stash from a suspended
/// Sandbox says nothing about a running one and is ignored.
pub fn from_hub(hub: v1beta1::Sandbox) -> Result<v1alpha1::Sandbox, ConversionError> {
    let mut metadata = hub.metadata;
    let stashed: Option<v1alpha1::Sandbox> = stash::take(&mut metadata, STASH);
    let running = hub.spec.operating_mode.unwrap_or_default() == OperatingMode::Running;
    let derived = i32::from(running);

    let restore = stashed.filter(|old| running && old.spec.replicas != Some(0));
    let spec_replicas = match &restore {
        Some(old) => old.spec.replicas,
        None => Some(derived),
    };
    let status_replicas = restore
        .as_ref()
        .and_then(|old| old.status.as_ref())
        .map_or(derived, |old| old.replicas);

    let spec = hub.spec;
    Ok(v1alpha1::Sandbox {
        metadata,
        spec: v1alpha1::SandboxSpec {
            pod_template: spec.blueprint.pod_template,
            volume_claim_templates: spec.blueprint.volume_claim_templates,
            lifecycle: spec.lifecycle,
            replicas: spec_replicas,
            service: spec.blueprint.service,
        },
        status: hub.status.map(|status| v1alpha1::SandboxStatus {
            service_fqdn: status.service_fqdn,
            service: status.service,
            conditions: status.conditions,
            replicas: status_replicas,
            selector: status.selector,
            pod_ips: status.pod_ips,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::fixtures::{alpha_sandbox, beta_sandbox, without};

    fn suspended_beta() -> v1beta1::Sandbox {
        let mut hub = beta_sandbox();
        hub.spec.operating_mode = Some(OperatingMode::Suspended);
        hub
    }

    #[test]
    fn to_hub_copies_every_shared_field_and_maps_replicas_one_to_running() {
        let alpha = alpha_sandbox();
        let hub = to_hub(alpha.clone()).unwrap();
        assert_eq!(hub.spec.operating_mode, Some(OperatingMode::Running));
        assert_eq!(hub.spec.blueprint.pod_template, alpha.spec.pod_template);
        assert_eq!(
            hub.spec.blueprint.volume_claim_templates,
            alpha.spec.volume_claim_templates
        );
        assert_eq!(hub.spec.blueprint.service, Some(true));
        assert_eq!(hub.spec.lifecycle, alpha.spec.lifecycle);
        let (status, old) = (hub.status.unwrap(), alpha.status.unwrap());
        assert_eq!(status.service_fqdn, old.service_fqdn);
        assert_eq!(status.service, old.service);
        assert_eq!(status.conditions, old.conditions);
        assert_eq!(status.selector, old.selector);
        assert_eq!(status.pod_ips, old.pod_ips);
        assert_eq!(without(&hub.metadata, STASH), alpha.metadata);
    }

    #[test]
    fn to_hub_maps_replicas_zero_to_suspended_and_unset_to_running() {
        let mut alpha = alpha_sandbox();
        alpha.spec.replicas = Some(0);
        let hub = to_hub(alpha.clone()).unwrap();
        assert_eq!(hub.spec.operating_mode, Some(OperatingMode::Suspended));

        alpha.spec.replicas = None;
        let hub = to_hub(alpha).unwrap();
        assert_eq!(hub.spec.operating_mode, Some(OperatingMode::Running));
    }

    #[test]
    fn to_hub_writes_the_full_alpha_object_into_the_stash() {
        let alpha = alpha_sandbox();
        let hub = to_hub(alpha.clone()).unwrap();
        let raw = &hub.metadata.annotations.as_ref().unwrap()[STASH];
        let stashed: v1alpha1::Sandbox = serde_json::from_str(raw).unwrap();
        assert_eq!(stashed, alpha);
    }

    #[test]
    fn to_hub_blanks_node_name() {
        // v1alpha1 has no nodeName, so a stale value must not survive an alpha write.
        let hub = to_hub(alpha_sandbox()).unwrap();
        assert_eq!(hub.status.unwrap().node_name, "");
    }

    #[test]
    fn from_hub_without_stash_derives_replicas_from_the_mode() {
        let alpha = from_hub(beta_sandbox()).unwrap();
        assert_eq!(alpha.spec.replicas, Some(1));
        assert_eq!(alpha.status.unwrap().replicas, 1);

        let alpha = from_hub(suspended_beta()).unwrap();
        assert_eq!(alpha.spec.replicas, Some(0));
        assert_eq!(alpha.status.unwrap().replicas, 0);

        let mut unset = beta_sandbox();
        unset.spec.operating_mode = None;
        let alpha = from_hub(unset).unwrap();
        assert_eq!(
            alpha.spec.replicas,
            Some(1),
            "unset mode defaults to Running"
        );
    }

    #[test]
    fn from_hub_copies_every_shared_field_and_drops_node_name() {
        let mut hub = beta_sandbox();
        hub.status.as_mut().unwrap().node_name = "node-7".into();
        let alpha = from_hub(hub.clone()).unwrap();
        assert_eq!(alpha.metadata, hub.metadata);
        assert_eq!(alpha.spec.pod_template, hub.spec.blueprint.pod_template);
        assert_eq!(alpha.spec.service, Some(false));
        assert_eq!(alpha.spec.lifecycle, hub.spec.lifecycle);
        let json = serde_json::to_value(&alpha).unwrap();
        assert!(json["status"].get("nodeName").is_none());
        assert_eq!(json["status"]["podIPs"][0], "10.0.0.7");
    }

    #[test]
    fn from_hub_strips_the_stash() {
        let hub = to_hub(alpha_sandbox()).unwrap();
        let alpha = from_hub(hub).unwrap();
        let annotations = alpha.metadata.annotations.unwrap();
        assert!(!annotations.contains_key(STASH));
        assert_eq!(annotations["note"], "keep me");
    }

    #[test]
    fn from_hub_restores_stashed_replicas_while_still_running() {
        let mut alpha = alpha_sandbox();
        alpha.status.as_mut().unwrap().replicas = 0; // Pod not up yet when the alpha write ran.
        let hub = to_hub(alpha).unwrap();
        let back = from_hub(hub).unwrap();
        assert_eq!(back.status.unwrap().replicas, 0);

        let mut alpha = alpha_sandbox();
        alpha.spec.replicas = None;
        let back = from_hub(to_hub(alpha).unwrap()).unwrap();
        assert_eq!(back.spec.replicas, None);
    }

    #[test]
    fn from_hub_ignores_the_stash_once_the_mode_changed() {
        // Alpha wrote a running Sandbox; a v1beta1 client then suspended it.
        let mut hub = to_hub(alpha_sandbox()).unwrap();
        hub.spec.operating_mode = Some(OperatingMode::Suspended);
        let alpha = from_hub(hub).unwrap();
        assert_eq!(alpha.spec.replicas, Some(0));
        assert_eq!(alpha.status.unwrap().replicas, 0);

        // Alpha wrote a suspended Sandbox with a stale status; a v1beta1 client resumed it.
        let mut suspended = alpha_sandbox();
        suspended.spec.replicas = Some(0);
        suspended.status.as_mut().unwrap().replicas = 0;
        let mut hub = to_hub(suspended).unwrap();
        hub.spec.operating_mode = Some(OperatingMode::Running);
        let alpha = from_hub(hub).unwrap();
        assert_eq!(alpha.spec.replicas, Some(1));
        assert_eq!(alpha.status.unwrap().replicas, 1);
    }

    #[test]
    fn alpha_round_trip_is_lossless() {
        let mut suspended = alpha_sandbox();
        suspended.spec.replicas = Some(0);
        suspended.status.as_mut().unwrap().replicas = 0;
        let mut unset = alpha_sandbox();
        unset.spec.replicas = None;
        unset.status = None;
        for alpha in [alpha_sandbox(), suspended, unset] {
            let back = from_hub(to_hub(alpha.clone()).unwrap()).unwrap();
            assert_eq!(back, alpha);
        }
    }

    #[test]
    fn beta_round_trip_is_lossless_for_fields_alpha_can_express() {
        for hub in [beta_sandbox(), suspended_beta()] {
            let back = to_hub(from_hub(hub.clone()).unwrap()).unwrap();
            assert_eq!(without(&back.metadata, STASH), hub.metadata);
            assert_eq!(back.spec, hub.spec);
            assert_eq!(back.status, hub.status);
        }
    }
}
