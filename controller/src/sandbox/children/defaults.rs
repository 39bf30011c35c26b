//! The secure defaults the claim and pool controllers apply to the Pod spec of the Sandboxes
//! they build (spec §3.4). Bare Sandboxes never get them.

use k8s_openapi::api::core::v1::{PodDNSConfig, PodSpec};
use sandbox_api::v1beta1::{NetworkPolicyManagement, SandboxTemplateSpec};

/// Public resolvers a "secure by default" Pod uses instead of cluster DNS, so it can resolve
/// public names without enumerating cluster services (spec §3.4).
pub const SECURE_DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "1.1.1.1"];

/// Whether a template is "secure by default" (spec §3.4): its NetworkPolicy is managed (unset
/// counts as `Managed`) and uses the built-in default rules (`networkPolicy` unset). That default
/// policy blocks cluster DNS, hence the DNS override in [`apply_secure_defaults`].
#[must_use]
pub fn is_secure_by_default(template: &SandboxTemplateSpec) -> bool {
    matches!(
        template.network_policy_management,
        None | Some(NetworkPolicyManagement::Managed)
    ) && template.network_policy.is_none()
}

/// Applies the secure defaults to a Pod spec (spec §3.4):
/// * `automountServiceAccountToken` unset → `false` (an explicit `true` is kept);
/// * when `secure_by_default` and `dnsPolicy` is unset or empty → `dnsPolicy: None` and a
///   `dnsConfig` with only [`SECURE_DEFAULT_NAMESERVERS`]. Any existing `dnsConfig` is replaced
///   whole, as upstream does; an explicit `dnsPolicy` leaves DNS alone.
pub fn apply_secure_defaults(spec: &mut PodSpec, secure_by_default: bool) {
    if spec.automount_service_account_token.is_none() {
        spec.automount_service_account_token = Some(false);
    }
    let dns_policy_unset = spec.dns_policy.as_deref().unwrap_or_default().is_empty();
    if secure_by_default && dns_policy_unset {
        spec.dns_policy = Some("None".to_owned());
        spec.dns_config = Some(PodDNSConfig {
            nameservers: Some(SECURE_DEFAULT_NAMESERVERS.map(str::to_owned).to_vec()),
            ..PodDNSConfig::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(value: Value) -> PodSpec {
        serde_json::from_value(value).expect("fixture PodSpec must parse")
    }

    fn template(value: Value) -> SandboxTemplateSpec {
        serde_json::from_value(value).expect("fixture SandboxTemplateSpec must parse")
    }

    #[test]
    fn secure_defaults_disable_the_token_and_pin_public_dns() {
        let mut s = spec(json!({
            "containers": [],
            "dnsConfig": {"searches": ["example.com"]}
        }));
        apply_secure_defaults(&mut s, true);
        assert_eq!(
            serde_json::to_value(&s).expect("serialise"),
            json!({
                "containers": [],
                "automountServiceAccountToken": false,
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["8.8.8.8", "1.1.1.1"]}
            })
        );
    }

    #[test]
    fn explicit_settings_are_kept() {
        let mut s = spec(json!({
            "containers": [],
            "automountServiceAccountToken": true,
            "dnsPolicy": "ClusterFirst"
        }));
        let before = s.clone();
        apply_secure_defaults(&mut s, true);
        assert_eq!(s, before);
    }

    #[test]
    fn dns_is_left_alone_when_not_secure_by_default() {
        let mut s = spec(json!({"containers": []}));
        apply_secure_defaults(&mut s, false);
        assert_eq!(s.automount_service_account_token, Some(false));
        assert_eq!(s.dns_policy, None);
        assert_eq!(s.dns_config, None);
    }

    #[test]
    fn secure_by_default_needs_managed_policy_and_default_rules() {
        let blueprint = json!({"podTemplate": {"spec": {"containers": []}}});
        let with = |extra: Value| {
            let mut value = blueprint.clone();
            if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), extra) {
                target.extend(extra);
            }
            is_secure_by_default(&template(value))
        };
        assert!(with(json!({})));
        assert!(with(json!({"networkPolicyManagement": "Managed"})));
        assert!(!with(json!({"networkPolicyManagement": "Unmanaged"})));
        assert!(!with(json!({"networkPolicy": {"ingress": []}})));
    }
}
