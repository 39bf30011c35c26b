//! Reading what the API shows: conditions, owner references, pool membership. Pure functions,
//! so every case reads objects the same way and failure messages describe them the same way.

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference};
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};

/// The condition of type `type_`, if present.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition `type_` has `status` and `reason`.
pub fn has_condition(conditions: &[Condition], type_: &str, status: &str, reason: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == status && c.reason == reason)
}

/// `Ready=False/DependenciesNotReady "Pod does not exist", Suspended=False/NotSuspended`.
pub fn describe(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "no conditions".into();
    }
    conditions
        .iter()
        .map(|c| {
            let message = if c.message.is_empty() {
                String::new()
            } else {
                format!(" {:?}", c.message)
            };
            format!("{}={}/{}{message}", c.type_, c.status, c.reason)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn sandbox_conditions(sandbox: &Sandbox) -> &[Condition] {
    sandbox
        .status
        .as_ref()
        .map_or(&[][..], |s| s.conditions.as_slice())
}

pub fn claim_conditions(claim: &SandboxClaim) -> &[Condition] {
    claim
        .status
        .as_ref()
        .map_or(&[][..], |s| s.conditions.as_slice())
}

/// The Sandbox a claim reports in `status.sandbox.name` (empty when none).
pub fn bound_sandbox(claim: &SandboxClaim) -> &str {
    claim
        .status
        .as_ref()
        .map_or("", |s| s.sandbox.name.as_str())
}

/// Every owner reference with `controller: true`.
pub fn controllers(meta: &ObjectMeta) -> Vec<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .collect()
}

/// The controller owner reference, if exactly one exists.
pub fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    match controllers(meta).as_slice() {
        [only] => Some(only),
        _ => None,
    }
}

/// Whether the object's controller is the object with `uid`.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller(meta).is_some_and(|o| o.uid == uid)
}

/// `kind/name (uid)` of every owner, for messages.
pub fn describe_owners(meta: &ObjectMeta) -> String {
    let owners: Vec<String> = meta
        .owner_references
        .iter()
        .flatten()
        .map(|o| {
            let role = if o.controller == Some(true) {
                " controller"
            } else {
                ""
            };
            format!("{}/{}{role}", o.kind, o.name)
        })
        .collect();
    if owners.is_empty() {
        "no owners".into()
    } else {
        owners.join(", ")
    }
}

/// A label's value, or "" when absent.
pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> &'a str {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map_or("", String::as_str)
}

/// An annotation's value, or "" when absent.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> &'a str {
    meta.annotations
        .as_ref()
        .and_then(|l| l.get(key))
        .map_or("", String::as_str)
}

/// The Pod's IPs as the API shows them in `status.podIPs`.
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
        .unwrap_or_default()
}

/// Whether a Sandbox is an unclaimed member of the pool with `pool_uid`: controlled by the pool,
/// labelled with the pool's name hash, and not being deleted.
pub fn is_pool_member(sandbox: &Sandbox, pool_name: &str, pool_uid: &str) -> bool {
    sandbox.metadata.deletion_timestamp.is_none()
        && controlled_by(&sandbox.metadata, pool_uid)
        && label(&sandbox.metadata, keys::WARM_POOL_SANDBOX_LABEL)
            == sandbox_api::name_hash(pool_name).as_str()
}

/// Event type of routine transitions.
pub const NORMAL: &str = "Normal";
/// Event type of something going wrong.
pub const WARNING: &str = "Warning";

/// Whether the Event (as core/v1 shows it: an events.k8s.io `regarding` is `involvedObject`)
/// is about the `kind` object `name`.
pub fn regards(event: &Event, kind: &str, name: &str) -> bool {
    let object = &event.involved_object;
    object.kind.as_deref() == Some(kind) && object.name.as_deref() == Some(name)
}

/// Whether the Event has `type_` (`Normal` or `Warning`) and `reason`.
pub fn is_event(event: &Event, type_: &str, reason: &str) -> bool {
    event.type_.as_deref() == Some(type_) && event.reason.as_deref() == Some(reason)
}

/// `Normal/SandboxPodCreated, Warning/PodFailed "the message"`, for messages.
pub fn describe_events(events: &[Event]) -> String {
    if events.is_empty() {
        return "no events".into();
    }
    events
        .iter()
        .map(|e| {
            let message = e
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| format!(" {m:?}"))
                .unwrap_or_default();
            format!(
                "{}/{}{message}",
                e.type_.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        serde_json::from_value(serde_json::json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn owner(uid: &str, controller: Option<bool>) -> OwnerReference {
        OwnerReference {
            kind: "Sandbox".into(),
            name: format!("sb-{uid}"),
            uid: uid.into(),
            controller,
            ..OwnerReference::default()
        }
    }

    #[test]
    fn conditions_are_found_and_described() {
        let cs = vec![
            cond(
                "Ready",
                "False",
                "DependenciesNotReady",
                "Pod does not exist",
            ),
            cond("Suspended", "False", "NotSuspended", ""),
        ];
        assert!(has_condition(&cs, "Ready", "False", "DependenciesNotReady"));
        assert!(!has_condition(&cs, "Ready", "True", "DependenciesNotReady"));
        assert_eq!(
            describe(&cs),
            "Ready=False/DependenciesNotReady \"Pod does not exist\", Suspended=False/NotSuspended"
        );
        assert_eq!(describe(&[]), "no conditions");
    }

    #[test]
    fn events_are_matched_by_object_type_and_reason() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "sb.1"},
            "involvedObject": {"kind": "Sandbox", "name": "sb"},
            "type": "Warning", "reason": "PodFailed", "message": "Pod failed"
        }))
        .unwrap();
        assert!(regards(&event, "Sandbox", "sb"));
        assert!(!regards(&event, "Pod", "sb"));
        assert!(!regards(&event, "Sandbox", "other"));
        assert!(is_event(&event, WARNING, "PodFailed"));
        assert!(!is_event(&event, NORMAL, "PodFailed"));
        assert_eq!(
            describe_events(std::slice::from_ref(&event)),
            "Warning/PodFailed \"Pod failed\""
        );
        assert_eq!(describe_events(&[]), "no events");
    }

    #[test]
    fn a_controller_must_be_unique() {
        let mut meta = ObjectMeta {
            owner_references: Some(vec![owner("a", Some(true)), owner("b", None)]),
            ..ObjectMeta::default()
        };
        assert!(controlled_by(&meta, "a"));
        assert!(!controlled_by(&meta, "b"));
        meta.owner_references
            .as_mut()
            .unwrap()
            .push(owner("c", Some(true)));
        assert_eq!(controllers(&meta).len(), 2);
        assert!(controller(&meta).is_none());
        assert_eq!(
            describe_owners(&meta),
            "Sandbox/sb-a controller, Sandbox/sb-b, Sandbox/sb-c controller"
        );
    }
}
