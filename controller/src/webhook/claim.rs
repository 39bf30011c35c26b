//! SandboxClaim conversion (spec §6): v1alpha1 names a template and a free-form `warmpool`
//! policy; v1beta1 names only a pool (`warmPoolRef`), whose template is the one used.

use sandbox_api::keys::{
    SHADOW_POOL_PREFIX, V1ALPHA1_SANDBOXCLAIM_STATE_ANNOTATION as STASH, WARM_POOL_POLICY_DEFAULT,
    WARM_POOL_POLICY_NONE,
};
use sandbox_api::v1beta1::{SandboxTemplateRef, WarmPoolRef};
use sandbox_api::{v1alpha1, v1beta1};

use super::{ConversionError, stash};

/// v1alpha1 → v1beta1.
///
/// The pool is, in order: the pool `warmpool` names; else, for a warm-started claim (bound
/// Sandbox name set and different from the claim name), the pool the Sandbox came from
/// ([`strip_random_suffix`]); else `shadow-pool-<template>`, the pool the migration tooling
/// pre-creates for each template. The original template and policy survive in the stash.
pub fn to_hub(alpha: v1alpha1::SandboxClaim) -> Result<v1beta1::SandboxClaim, ConversionError> {
    let mut metadata = alpha.metadata.clone();
    stash::put(&mut metadata, STASH, &alpha)?;
    let pool = hub_pool_name(&alpha);
    let spec = alpha.spec;
    Ok(v1beta1::SandboxClaim {
        metadata,
        spec: v1beta1::SandboxClaimSpec {
            warm_pool_ref: WarmPoolRef { name: pool },
            lifecycle: spec.lifecycle,
            additional_pod_metadata: spec.additional_pod_metadata,
            env: spec.env,
            volume_claim_templates: Vec::new(),
        },
        status: alpha.status,
    })
}

/// v1beta1 → v1alpha1.
///
/// `shadow-pool-<t>` becomes template `<t>` with policy `default`. Any other pool becomes
/// policy `<pool>` **and** template `<pool>`: the real template is only known to the pool
/// object, which a conversion cannot read, so the alpha view is knowingly approximate.
/// If the stash's claim still maps to the current pool (see [`stash_matches`]), its exact
/// `sandboxTemplateRef` and `warmpool` are restored. `volumeClaimTemplates` has no v1alpha1
/// field and is dropped.
pub fn from_hub(hub: v1beta1::SandboxClaim) -> Result<v1alpha1::SandboxClaim, ConversionError> {
    let mut metadata = hub.metadata;
    let stashed: Option<v1alpha1::SandboxClaim> = stash::take(&mut metadata, STASH);
    let spec = hub.spec;
    let pool = spec.warm_pool_ref.name;
    let bound = hub
        .status
        .as_ref()
        .map_or("", |status| status.sandbox.name.as_str());

    let (template, warm_pool) = match stashed {
        Some(old) if stash_matches(&old, &pool, bound) => {
            (old.spec.sandbox_template_ref, old.spec.warm_pool)
        }
        _ => match pool.strip_prefix(SHADOW_POOL_PREFIX) {
            Some(template) => (
                SandboxTemplateRef {
                    name: template.to_owned(),
                },
                Some(WARM_POOL_POLICY_DEFAULT.to_owned()),
            ),
            None => (SandboxTemplateRef { name: pool.clone() }, Some(pool)),
        },
    };

    Ok(v1alpha1::SandboxClaim {
        metadata,
        spec: v1alpha1::SandboxClaimSpec {
            sandbox_template_ref: template,
            lifecycle: spec.lifecycle,
            warm_pool,
            additional_pod_metadata: spec.additional_pod_metadata,
            env: spec.env,
        },
        status: hub.status,
    })
}

/// The `warmPoolRef.name` a v1alpha1 claim converts to (spec §6).
fn hub_pool_name(alpha: &v1alpha1::SandboxClaim) -> String {
    if let Some(pool) = specific_pool(alpha.spec.warm_pool.as_deref()) {
        return pool.to_owned();
    }
    let bound = alpha
        .status
        .as_ref()
        .map_or("", |status| status.sandbox.name.as_str());
    if !bound.is_empty() && Some(bound) != alpha.metadata.name.as_deref() {
        return strip_random_suffix(bound).to_owned();
    }
    format!(
        "{SHADOW_POOL_PREFIX}{}",
        alpha.spec.sandbox_template_ref.name
    )
}

/// The pool a v1alpha1 `warmpool` value names, if it names one: `none`, `default` and an unset
/// or empty value are policies, not pool names.
fn specific_pool(warm_pool: Option<&str>) -> Option<&str> {
    warm_pool.filter(|policy| {
        !policy.is_empty()
            && *policy != WARM_POOL_POLICY_NONE
            && *policy != WARM_POOL_POLICY_DEFAULT
    })
}

/// Whether the stashed claim still describes the hub's pool, so restoring its template and
/// policy cannot undo a later v1beta1 edit of `warmPoolRef`.
///
/// The expected value is the stashed specific pool, else the stashed template name. The pool
/// matches if it is that value, `shadow-pool-` plus that value, or the bound Sandbox's name or
/// its suffix-stripped form (a warm-started claim converts to its Sandbox's pool).
fn stash_matches(old: &v1alpha1::SandboxClaim, pool: &str, bound: &str) -> bool {
    let expected = specific_pool(old.spec.warm_pool.as_deref())
        .unwrap_or(old.spec.sandbox_template_ref.name.as_str());
    pool == expected
        || pool.strip_prefix(SHADOW_POOL_PREFIX) == Some(expected)
        || (!bound.is_empty() && (pool == bound || pool == strip_random_suffix(bound)))
}

/// The pool a warm Sandbox came from: its name without the random `-xxxxx` suffix the pool
/// appends, i.e. the text before the last `-`. A name without a `-` (or starting with its only
/// `-`) has no suffix to strip and is returned whole, so the result is never empty.
pub fn strip_random_suffix(sandbox_name: &str) -> &str {
    match sandbox_name.rsplit_once('-') {
        Some((pool, _)) if !pool.is_empty() => pool,
        _ => sandbox_name,
    }
}

#[cfg(test)]
mod tests {
    use sandbox_api::common::PersistentVolumeClaimTemplate;

    use super::*;
    use crate::webhook::fixtures::{alpha_claim, beta_claim, without};

    fn pool_of(alpha: v1alpha1::SandboxClaim) -> String {
        to_hub(alpha).unwrap().spec.warm_pool_ref.name
    }

    #[test]
    fn strip_random_suffix_cuts_at_the_last_dash() {
        assert_eq!(strip_random_suffix("pool-a-x7k2p"), "pool-a");
        assert_eq!(strip_random_suffix("pool-x7k2p"), "pool");
        assert_eq!(strip_random_suffix("nodash"), "nodash");
        assert_eq!(strip_random_suffix("-abc"), "-abc");
    }

    #[test]
    fn to_hub_uses_a_named_pool() {
        assert_eq!(pool_of(alpha_claim(Some("gpu-pool"), "")), "gpu-pool");
        // A named pool wins over the bound Sandbox's pool.
        assert_eq!(
            pool_of(alpha_claim(Some("gpu-pool"), "other-x7k2p")),
            "gpu-pool"
        );
    }

    #[test]
    fn to_hub_uses_the_pool_of_a_warm_started_sandbox() {
        assert_eq!(
            pool_of(alpha_claim(Some("default"), "pool-a-x7k2p")),
            "pool-a"
        );
        assert_eq!(pool_of(alpha_claim(None, "pool-a-x7k2p")), "pool-a");
        assert_eq!(pool_of(alpha_claim(Some("none"), "pool-a-x7k2p")), "pool-a");
    }

    #[test]
    fn to_hub_falls_back_to_the_shadow_pool() {
        for policy in [None, Some("default"), Some("none"), Some("")] {
            assert_eq!(
                pool_of(alpha_claim(policy, "")),
                "shadow-pool-python",
                "{policy:?}"
            );
        }
        // A cold-started claim's Sandbox carries the claim's own name: not a pool member.
        assert_eq!(pool_of(alpha_claim(None, "claim-1")), "shadow-pool-python");
    }

    #[test]
    fn to_hub_copies_env_lifecycle_metadata_and_status() {
        let alpha = alpha_claim(Some("gpu-pool"), "gpu-pool-x7k2p");
        let hub = to_hub(alpha.clone()).unwrap();
        assert_eq!(hub.spec.env, alpha.spec.env);
        assert_eq!(hub.spec.lifecycle, alpha.spec.lifecycle);
        assert_eq!(
            hub.spec.additional_pod_metadata,
            alpha.spec.additional_pod_metadata
        );
        assert!(hub.spec.volume_claim_templates.is_empty());
        assert_eq!(hub.status, alpha.status);
        assert_eq!(without(&hub.metadata, STASH), alpha.metadata);
        let raw = &hub.metadata.annotations.unwrap()[STASH];
        assert_eq!(
            serde_json::from_str::<v1alpha1::SandboxClaim>(raw).unwrap(),
            alpha
        );
    }

    #[test]
    fn from_hub_maps_a_shadow_pool_to_its_template() {
        let alpha = from_hub(beta_claim("shadow-pool-python", "")).unwrap();
        assert_eq!(alpha.spec.sandbox_template_ref.name, "python");
        assert_eq!(alpha.spec.warm_pool.as_deref(), Some("default"));
    }

    #[test]
    fn from_hub_maps_any_other_pool_to_pool_and_template() {
        let alpha = from_hub(beta_claim("gpu-pool", "")).unwrap();
        assert_eq!(alpha.spec.sandbox_template_ref.name, "gpu-pool");
        assert_eq!(alpha.spec.warm_pool.as_deref(), Some("gpu-pool"));
    }

    #[test]
    fn from_hub_copies_shared_fields_and_drops_volume_claim_templates() {
        let mut hub = beta_claim("gpu-pool", "gpu-pool-x7k2p");
        hub.spec.volume_claim_templates = vec![PersistentVolumeClaimTemplate::default()];
        let alpha = from_hub(hub.clone()).unwrap();
        assert_eq!(alpha.metadata, hub.metadata);
        assert_eq!(alpha.spec.env, hub.spec.env);
        assert_eq!(alpha.spec.lifecycle, hub.spec.lifecycle);
        assert_eq!(alpha.status, hub.status);
        let json = serde_json::to_value(&alpha).unwrap();
        assert!(json["spec"].get("volumeClaimTemplates").is_none(), "{json}");
    }

    #[test]
    fn from_hub_restores_template_and_policy_from_a_matching_stash() {
        let cases = [
            alpha_claim(Some("gpu-pool"), ""),            // named pool
            alpha_claim(None, ""),                        // shadow pool, unset policy
            alpha_claim(Some("none"), ""),                // shadow pool, "none" is not "default"
            alpha_claim(Some("default"), "pool-a-x7k2p"), // warm-started
        ];
        for alpha in cases {
            let back = from_hub(to_hub(alpha.clone()).unwrap()).unwrap();
            assert_eq!(back.spec.sandbox_template_ref.name, "python");
            assert_eq!(back.spec.warm_pool, alpha.spec.warm_pool);
        }
    }

    #[test]
    fn from_hub_ignores_a_stash_after_warm_pool_ref_was_edited() {
        let mut hub = to_hub(alpha_claim(Some("gpu-pool"), "")).unwrap();
        hub.spec.warm_pool_ref.name = "cpu-pool".into();
        let alpha = from_hub(hub).unwrap();
        assert_eq!(alpha.spec.sandbox_template_ref.name, "cpu-pool");
        assert_eq!(alpha.spec.warm_pool.as_deref(), Some("cpu-pool"));
        assert!(
            !alpha.metadata.annotations.unwrap().contains_key(STASH),
            "stale stash is still stripped"
        );
    }

    #[test]
    fn stash_matches_accepts_each_documented_form() {
        let named = alpha_claim(Some("gpu-pool"), "");
        assert!(stash_matches(&named, "gpu-pool", ""));
        assert!(stash_matches(&named, "shadow-pool-gpu-pool", ""));
        assert!(!stash_matches(&named, "python", ""));
        let unnamed = alpha_claim(None, "");
        assert!(stash_matches(&unnamed, "python", ""));
        assert!(stash_matches(&unnamed, "shadow-pool-python", ""));
        assert!(stash_matches(&unnamed, "pool-a", "pool-a-x7k2p"));
        assert!(stash_matches(&unnamed, "pool-a-x7k2p", "pool-a-x7k2p"));
        assert!(!stash_matches(&unnamed, "pool-b", "pool-a-x7k2p"));
    }

    #[test]
    fn alpha_round_trip_is_lossless() {
        let cases = [
            alpha_claim(Some("gpu-pool"), "gpu-pool-x7k2p"),
            alpha_claim(None, ""),
            alpha_claim(Some("none"), "claim-1"),
            alpha_claim(Some("default"), "pool-a-x7k2p"),
        ];
        for alpha in cases {
            let back = from_hub(to_hub(alpha.clone()).unwrap()).unwrap();
            assert_eq!(back, alpha);
        }
    }

    #[test]
    fn beta_round_trip_is_lossless_for_fields_alpha_can_express() {
        let cases = [
            beta_claim("shadow-pool-python", ""),
            beta_claim("gpu-pool", ""),
            beta_claim("pool-a", "pool-a-x7k2p"),
        ];
        for hub in cases {
            let back = to_hub(from_hub(hub.clone()).unwrap()).unwrap();
            assert_eq!(without(&back.metadata, STASH), hub.metadata);
            assert_eq!(back.spec, hub.spec);
            assert_eq!(back.status, hub.status);
        }
    }
}
