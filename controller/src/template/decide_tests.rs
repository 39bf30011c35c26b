//! Every branch of the SandboxTemplate decision, on hand-built cache contents.

use super::*;
use serde_json::{Value, json};

const NS: &str = "team-a";
const NAME: &str = "python";
const UID: &str = "tpl-uid";
const POLICY: &str = "python-network-policy";

fn hash() -> String {
    sandbox_api::name_hash(NAME)
}

/// A labelled, Managed-by-default template; `edit` changes the JSON before parsing.
fn template(edit: impl FnOnce(&mut Value)) -> SandboxTemplate {
    let mut v = json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
        "metadata": {"name": NAME, "namespace": NS, "uid": UID,
                     "labels": {keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: hash()}},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn owner(uid: &str) -> Value {
    json!([{"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
            "name": NAME, "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

/// The policy as the API server would hold it after creating the desired one for `template`.
fn stored_policy(template: &SandboxTemplate, edit: impl FnOnce(&mut Value)) -> NetworkPolicy {
    let mut v = serde_json::to_value(policy::new_network_policy(template)).unwrap();
    v["metadata"]["uid"] = json!("np-uid");
    v["metadata"]["resourceVersion"] = json!("42");
    v["metadata"]["managedFields"] =
        json!([{"manager": "sandbox-controller", "operation": "Update", "apiVersion": "v1"}]);
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn decide_with(template: &SandboxTemplate, np: Option<&NetworkPolicy>) -> Plan {
    decide(Observed {
        template,
        network_policy: np,
    })
}

fn unmanaged(v: &mut Value) {
    v["spec"]["networkPolicyManagement"] = json!("Unmanaged");
}

// --- the label (step 2) -------------------------------------------------------------------------

#[test]
fn a_template_without_the_label_gets_it_by_merge_patch() {
    let t = template(|v| {
        v["metadata"].as_object_mut().unwrap().remove("labels");
    });
    let np = stored_policy(&t, |_| {});
    let plan = decide_with(&t, Some(&np));
    assert_eq!(
        plan.actions,
        vec![Action::PatchTemplate(json!({"metadata": {"labels": {
            "agents.x-k8s.io/sandbox-template-ref-hash": hash()}}}))]
    );
    assert_eq!(plan.error, None);
}

#[test]
fn a_wrong_label_value_is_corrected() {
    let t = template(|v| {
        v["metadata"]["labels"] =
            json!({keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: "00000000", "team": "a"})
    });
    let np = stored_policy(&t, |_| {});
    let plan = decide_with(&t, Some(&np));
    assert_eq!(
        plan.actions,
        vec![Action::PatchTemplate(json!({"metadata": {"labels": {
            "agents.x-k8s.io/sandbox-template-ref-hash": hash()}}}))]
    );
}

#[test]
fn the_label_comes_before_the_policy_write() {
    let t = template(|v| v["metadata"]["labels"] = json!({}));
    let plan = decide_with(&t, None);
    assert!(matches!(
        plan.actions.as_slice(),
        [Action::PatchTemplate(_), Action::CreateNetworkPolicy(_)]
    ));
}

#[test]
fn a_labelled_template_with_its_policy_in_place_needs_nothing() {
    let t = template(|_| {});
    let np = stored_policy(&t, |_| {});
    assert_eq!(decide_with(&t, Some(&np)), Plan::default());
}

// --- deletion (step 3) --------------------------------------------------------------------------

#[test]
fn a_template_being_deleted_gets_nothing_at_all() {
    let t = template(|v| {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        v["metadata"]["labels"] = json!({});
    });
    assert_eq!(decide_with(&t, None), Plan::default());
    let drifted = stored_policy(&t, |v| v["spec"]["ingress"] = json!([]));
    assert_eq!(decide_with(&t, Some(&drifted)), Plan::default());
    let unmanaged_t = template(|v| {
        unmanaged(v);
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    });
    let owned = stored_policy(&unmanaged_t, |_| {});
    assert_eq!(decide_with(&unmanaged_t, Some(&owned)), Plan::default());
}

// --- Unmanaged (step 5) -------------------------------------------------------------------------

#[test]
fn unmanaged_deletes_a_policy_the_template_controls() {
    let t = template(unmanaged);
    let np = stored_policy(&t, |_| {});
    assert_eq!(
        decide_with(&t, Some(&np)).actions,
        vec![Action::DeleteNetworkPolicy {
            name: POLICY.into(),
            uid: "np-uid".into()
        }]
    );
}

#[test]
fn unmanaged_without_a_policy_needs_nothing() {
    assert_eq!(decide_with(&template(unmanaged), None), Plan::default());
}

#[test]
fn unmanaged_leaves_a_foreign_policy_alone_without_error() {
    let t = template(unmanaged);
    let foreign = stored_policy(&t, |v| {
        v["metadata"]["ownerReferences"] = owner("other-uid")
    });
    let unowned = stored_policy(&t, |v| {
        v["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
    });
    assert_eq!(decide_with(&t, Some(&foreign)), Plan::default());
    assert_eq!(decide_with(&t, Some(&unowned)), Plan::default());
}

#[test]
fn unmanaged_leaves_a_non_controller_reference_alone() {
    let t = template(unmanaged);
    let weak = stored_policy(&t, |v| {
        v["metadata"]["ownerReferences"][0]["controller"] = json!(false)
    });
    assert_eq!(decide_with(&t, Some(&weak)), Plan::default());
}

#[test]
fn unmanaged_does_not_delete_a_policy_already_being_deleted() {
    let t = template(unmanaged);
    let going = stored_policy(&t, |v| {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z")
    });
    assert_eq!(decide_with(&t, Some(&going)), Plan::default());
}

// --- Managed (steps 6–7) ------------------------------------------------------------------------

#[test]
fn a_missing_policy_is_created_with_the_secure_default_and_the_template_as_controller() {
    for t in [
        template(|_| {}),
        template(|v| v["spec"]["networkPolicyManagement"] = json!("Managed")),
    ] {
        let plan = decide_with(&t, None);
        let [Action::CreateNetworkPolicy(np)] = plan.actions.as_slice() else {
            panic!("expected one create, got {plan:?}");
        };
        let np = serde_json::to_value(np).unwrap();
        assert_eq!(np["metadata"]["name"], POLICY);
        assert_eq!(np["metadata"]["namespace"], NS);
        assert_eq!(np["metadata"]["ownerReferences"], owner(UID));
        assert_eq!(
            np["spec"]["podSelector"],
            json!({"matchLabels": {"agents.x-k8s.io/sandbox-template-ref-hash": hash()}})
        );
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(
            np["spec"]["ingress"][0]["from"][0]["podSelector"],
            json!({"matchLabels": {"app": "sandbox-router"}})
        );
        assert_eq!(
            np["spec"]["egress"][0]["to"][1]["ipBlock"]["cidr"],
            json!("::/0")
        );
        assert_eq!(plan.error, None);
    }
}

#[test]
fn a_missing_policy_is_created_with_the_custom_rules_verbatim() {
    let rules = json!({"ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "gw"}}}],
                                    "ports": [{"port": 8888, "protocol": "TCP"}]}],
                       "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]});
    let t = template(|v| v["spec"]["networkPolicy"] = rules.clone());
    let plan = decide_with(&t, None);
    let [Action::CreateNetworkPolicy(np)] = plan.actions.as_slice() else {
        panic!("expected one create, got {plan:?}");
    };
    let spec = serde_json::to_value(np.spec.as_ref().unwrap()).unwrap();
    assert_eq!(spec["ingress"], rules["ingress"]);
    assert_eq!(spec["egress"], rules["egress"]);
}

#[test]
fn a_foreign_policy_is_an_error_and_not_touched() {
    let t = template(|_| {});
    for np in [
        stored_policy(&t, |v| {
            v["metadata"]["ownerReferences"] = owner("other-uid")
        }),
        stored_policy(&t, |v| {
            v["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("ownerReferences");
        }),
    ] {
        let plan = decide_with(&t, Some(&np));
        assert_eq!(plan.actions, vec![]);
        let error = plan.error.expect("an error");
        assert!(error.contains("refusing to update"), "{error}");
        assert!(error.contains("team-a/python-network-policy"), "{error}");
    }
}

#[test]
fn a_foreign_policy_error_still_labels_the_template() {
    let t = template(|v| v["metadata"]["labels"] = json!({}));
    let np = stored_policy(&t, |v| {
        v["metadata"]["ownerReferences"] = owner("other-uid")
    });
    let plan = decide_with(&t, Some(&np));
    assert!(matches!(
        plan.actions.as_slice(),
        [Action::PatchTemplate(_)]
    ));
    assert!(plan.error.is_some());
}

#[test]
fn a_drifted_policy_is_replaced_whole_keeping_its_metadata() {
    let t = template(|_| {});
    let np = stored_policy(&t, |v| {
        v["metadata"]["labels"] = json!({"kept": "yes"});
        v["spec"]["egress"] = json!([]);
    });
    let plan = decide_with(&t, Some(&np));
    let [Action::ReplaceNetworkPolicy(replacement)] = plan.actions.as_slice() else {
        panic!("expected one replace, got {plan:?}");
    };
    assert_eq!(replacement.metadata.resource_version.as_deref(), Some("42"));
    assert_eq!(replacement.metadata.uid.as_deref(), Some("np-uid"));
    assert_eq!(replacement.metadata.managed_fields, None);
    assert_eq!(replacement.metadata.labels.as_ref().unwrap()["kept"], "yes");
    assert_eq!(replacement.spec, Some(policy::desired_spec(&t)));
}

#[test]
fn switching_to_custom_rules_replaces_the_secure_default() {
    let secure = template(|_| {});
    let np = stored_policy(&secure, |_| {});
    let custom = template(|v| v["spec"]["networkPolicy"] = json!({"egress": [{}]}));
    let plan = decide_with(&custom, Some(&np));
    let [Action::ReplaceNetworkPolicy(replacement)] = plan.actions.as_slice() else {
        panic!("expected one replace, got {plan:?}");
    };
    let spec = serde_json::to_value(replacement.spec.as_ref().unwrap()).unwrap();
    assert_eq!(spec["egress"], json!([{}]));
    assert_eq!(spec.get("ingress"), None);
}

#[test]
fn a_changed_pod_selector_or_policy_types_is_drift() {
    let t = template(|_| {});
    let selector = stored_policy(&t, |v| v["spec"]["podSelector"] = json!({}));
    let types = stored_policy(&t, |v| v["spec"]["policyTypes"] = json!(["Ingress"]));
    for np in [selector, types] {
        assert!(matches!(
            decide_with(&t, Some(&np)).actions.as_slice(),
            [Action::ReplaceNetworkPolicy(_)]
        ));
    }
}

#[test]
fn server_defaults_are_not_drift() {
    // The API server fills in `protocol: TCP`; a replace would change nothing.
    let t = template(|v| {
        v["spec"]["networkPolicy"] = json!({"ingress": [{"ports": [{"port": 8888}]}]})
    });
    let np = stored_policy(&t, |v| {
        v["spec"]["ingress"][0]["ports"][0]["protocol"] = json!("TCP")
    });
    assert_eq!(decide_with(&t, Some(&np)), Plan::default());
}

#[test]
fn empty_custom_rules_match_a_policy_without_rules() {
    let t = template(|v| v["spec"]["networkPolicy"] = json!({"ingress": [], "egress": []}));
    let np = stored_policy(&t, |_| {});
    assert_eq!(decide_with(&t, Some(&np)), Plan::default());
}

#[test]
fn a_controlled_policy_being_deleted_is_left_to_go() {
    let t = template(|_| {});
    let going = stored_policy(&t, |v| {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        v["spec"]["ingress"] = json!([]);
    });
    assert_eq!(decide_with(&t, Some(&going)), Plan::default());
}

#[test]
fn a_policy_without_a_spec_is_replaced() {
    let t = template(|_| {});
    let np = stored_policy(&t, |v| {
        v.as_object_mut().unwrap().remove("spec");
    });
    assert!(matches!(
        decide_with(&t, Some(&np)).actions.as_slice(),
        [Action::ReplaceNetworkPolicy(_)]
    ));
}
