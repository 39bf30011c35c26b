//! SandboxWarmPool conversion (spec §6): `replicas` is a required `int32` in v1alpha1 and an
//! optional `*int32` in v1beta1; `status.observedGeneration` exists only in v1beta1, and
//! `spec.readinessGracePeriodSeconds` (v1.0.12) rides in an annotation on the v1alpha1 view.

use sandbox_api::keys::{
    V1ALPHA1_SANDBOXWARMPOOL_STATE_ANNOTATION as STASH,
    V1BETA1_READINESS_GRACE_PERIOD_ANNOTATION as GRACE,
};
use sandbox_api::{v1alpha1, v1beta1};

use super::{ConversionError, stash};

/// v1alpha1 → v1beta1. `replicas` is always set; `observedGeneration` starts at 0 (unset)
/// because v1alpha1 never reports it.
pub fn to_hub(
    alpha: v1alpha1::SandboxWarmPool,
) -> Result<v1beta1::SandboxWarmPool, ConversionError> {
    let mut metadata = alpha.metadata.clone();
    let grace = stash::remove(&mut metadata, GRACE)
        .map(|value| {
            value
                .parse()
                .map_err(|_| ConversionError::InvalidReadinessGracePeriod { key: GRACE, value })
        })
        .transpose()?;
    stash::put(&mut metadata, STASH, &alpha)?;
    let spec = alpha.spec;
    Ok(v1beta1::SandboxWarmPool {
        metadata,
        spec: v1beta1::SandboxWarmPoolSpec {
            replicas: Some(spec.replicas),
            sandbox_template_ref: spec.sandbox_template_ref,
            update_strategy: spec.update_strategy,
            readiness_grace_period_seconds: grace,
        },
        status: alpha.status.map(|status| v1beta1::SandboxWarmPoolStatus {
            replicas: status.replicas,
            ready_replicas: status.ready_replicas,
            selector: status.selector,
            observed_generation: 0,
            updated_ready_replicas: 0,
            conditions: Vec::new(),
        }),
    })
}

/// v1beta1 → v1alpha1. An unset `replicas` becomes 1, the v1beta1 default, because v1alpha1
/// requires a value. `observedGeneration` is dropped. The stash is stripped; every other field
/// maps one to one, so nothing needs restoring from it.
pub fn from_hub(
    hub: v1beta1::SandboxWarmPool,
) -> Result<v1alpha1::SandboxWarmPool, ConversionError> {
    let mut metadata = hub.metadata;
    stash::remove(&mut metadata, STASH);
    stash::remove(&mut metadata, GRACE);
    let spec = hub.spec;
    if let Some(seconds) = spec.readiness_grace_period_seconds {
        stash::insert(&mut metadata, GRACE, seconds.to_string());
    }
    Ok(v1alpha1::SandboxWarmPool {
        metadata,
        spec: v1alpha1::SandboxWarmPoolSpec {
            replicas: spec.replicas.unwrap_or(v1beta1::DEFAULT_REPLICAS),
            sandbox_template_ref: spec.sandbox_template_ref,
            update_strategy: spec.update_strategy,
        },
        status: hub.status.map(|status| v1alpha1::SandboxWarmPoolStatus {
            replicas: status.replicas,
            ready_replicas: status.ready_replicas,
            selector: status.selector,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::fixtures::{alpha_warm_pool, beta_warm_pool, without};

    #[test]
    fn to_hub_wraps_replicas_and_copies_the_rest() {
        let alpha = alpha_warm_pool();
        let hub = to_hub(alpha.clone()).unwrap();
        assert_eq!(hub.spec.replicas, Some(3));
        assert_eq!(
            hub.spec.sandbox_template_ref,
            alpha.spec.sandbox_template_ref
        );
        assert_eq!(hub.spec.update_strategy, alpha.spec.update_strategy);
        let status = hub.status.unwrap();
        assert_eq!((status.replicas, status.ready_replicas), (3, 2));
        assert_eq!(status.selector, alpha.status.unwrap().selector);
        assert_eq!(status.observed_generation, 0);
        assert_eq!(without(&hub.metadata, STASH), alpha.metadata);
    }

    #[test]
    fn to_hub_keeps_zero_replicas() {
        let mut alpha = alpha_warm_pool();
        alpha.spec.replicas = 0;
        assert_eq!(to_hub(alpha).unwrap().spec.replicas, Some(0));
    }

    #[test]
    fn from_hub_defaults_unset_replicas_to_one() {
        let mut hub = beta_warm_pool();
        hub.spec.replicas = None;
        assert_eq!(from_hub(hub).unwrap().spec.replicas, 1);
        assert_eq!(from_hub(beta_warm_pool()).unwrap().spec.replicas, 2);
    }

    #[test]
    fn from_hub_drops_observed_generation_and_the_stash() {
        let mut hub = to_hub(alpha_warm_pool()).unwrap();
        hub.status.as_mut().unwrap().observed_generation = 3;
        let alpha = from_hub(hub).unwrap();
        let json = serde_json::to_value(&alpha).unwrap();
        assert!(json["status"].get("observedGeneration").is_none(), "{json}");
        assert_eq!(json["status"]["readyReplicas"], 2);
        assert!(!alpha.metadata.annotations.unwrap().contains_key(STASH));
    }

    #[test]
    fn alpha_round_trip_is_lossless() {
        let mut empty = alpha_warm_pool();
        empty.spec.replicas = 0;
        empty.status = None;
        for alpha in [alpha_warm_pool(), empty] {
            let back = from_hub(to_hub(alpha.clone()).unwrap()).unwrap();
            assert_eq!(back, alpha);
        }
    }

    #[test]
    fn the_readiness_grace_period_survives_a_v1alpha1_round_trip() {
        let mut hub = beta_warm_pool();
        hub.spec.readiness_grace_period_seconds = Some(45);
        let alpha = from_hub(hub.clone()).unwrap();
        assert_eq!(
            alpha.metadata.annotations.as_ref().unwrap()[GRACE],
            "45",
            "the v1alpha1 view carries it"
        );
        let back = to_hub(alpha).unwrap();
        assert_eq!(back.spec, hub.spec);
        assert!(!back.metadata.annotations.unwrap().contains_key(GRACE));

        let mut alpha = from_hub(beta_warm_pool()).unwrap();
        alpha
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(GRACE.into(), "soon".into());
        let err = to_hub(alpha).unwrap_err().to_string();
        assert!(err.contains(GRACE) && err.contains("\"soon\""), "{err}");
    }

    #[test]
    fn beta_round_trip_is_lossless_for_fields_alpha_can_express() {
        let hub = beta_warm_pool();
        let back = to_hub(from_hub(hub.clone()).unwrap()).unwrap();
        assert_eq!(without(&back.metadata, STASH), hub.metadata);
        assert_eq!(back.spec, hub.spec);
        assert_eq!(back.status, hub.status);
    }
}
