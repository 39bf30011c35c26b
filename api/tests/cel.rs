//! Evaluates the shipped CRD schemas' CEL rules locally (kube's `cel` feature), so the
//! `volumeClaimTemplates` immutability rule is tested as the apiserver would run it.

mod support;

use kube::core::cel::Validator;
use sandbox_api::v1beta1::VOLUME_CLAIM_TEMPLATES_IMMUTABLE_MESSAGE;
use serde_json::{Value, json};
use support::{crd, fixture, schema};

/// A v1beta1 Sandbox with `vcts` as its `volumeClaimTemplates` (absent when `None`).
fn sandbox(vcts: Option<Value>) -> Value {
    let mut object = fixture("v1beta1", "sandbox");
    let spec = object["spec"].as_object_mut().expect("spec object");
    match vcts {
        Some(vcts) => spec.insert("volumeClaimTemplates".into(), vcts),
        None => spec.remove("volumeClaimTemplates"),
    };
    object
}

fn vct(name: &str, storage: &str) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": storage } } }
    })
}

/// Runs the v1beta1 Sandbox rules for an update from `old` to `new` (a create when `old` is
/// `None`) and returns the failure messages.
fn failures(version: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
    let root = schema(&crd("Sandbox"), version);
    match Validator::new().validate(&root, new, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn creating_with_or_without_vcts_is_allowed() {
    assert!(failures("v1beta1", &sandbox(Some(json!([vct("a", "1Gi")]))), None).is_empty());
    assert!(failures("v1beta1", &sandbox(None), None).is_empty());
}

#[test]
fn unchanged_vcts_and_other_spec_edits_are_allowed() {
    let old = sandbox(Some(json!([vct("a", "1Gi")])));
    let mut new = old.clone();
    new["spec"]["operatingMode"] = json!("Running");
    new["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = json!("example/new:2");
    assert_eq!(failures("v1beta1", &new, Some(&old)), Vec::<String>::new());

    let old = sandbox(None);
    let mut new = old.clone();
    new["spec"]["service"] = json!(false);
    assert_eq!(failures("v1beta1", &new, Some(&old)), Vec::<String>::new());
}

#[test]
fn adding_removing_or_changing_vcts_is_rejected() {
    let immutable = vec![VOLUME_CLAIM_TEMPLATES_IMMUTABLE_MESSAGE.to_string()];
    let none = sandbox(None);
    let one = sandbox(Some(json!([vct("a", "1Gi")])));
    let resized = sandbox(Some(json!([vct("a", "2Gi")])));
    let two = sandbox(Some(json!([vct("a", "1Gi"), vct("b", "1Gi")])));

    assert_eq!(failures("v1beta1", &one, Some(&none)), immutable, "add");
    assert_eq!(failures("v1beta1", &none, Some(&one)), immutable, "remove");
    assert_eq!(
        failures("v1beta1", &resized, Some(&one)),
        immutable,
        "change"
    );
    assert_eq!(failures("v1beta1", &two, Some(&one)), immutable, "append");
}

#[test]
fn v1alpha1_has_no_immutability_rule() {
    let mut old = fixture("v1alpha1", "sandbox");
    old["spec"]["volumeClaimTemplates"] = json!([vct("a", "1Gi")]);
    let mut new = old.clone();
    new["spec"]["volumeClaimTemplates"] = json!([vct("a", "5Gi")]);
    assert!(failures("v1alpha1", &new, Some(&old)).is_empty());
}

#[test]
fn the_service_name_rule_sits_at_the_root_of_v1beta1_only() {
    // The rule uses optional oldSelf, which the client-side evaluator cannot run; the API
    // server runs it in the cluster crate's `crds` test. Here: where it is and what it says.
    use sandbox_api::v1beta1::{SERVICE_NAME_LENGTH_MESSAGE, SERVICE_NAME_LENGTH_RULE};
    let crd = crd("Sandbox");
    let root = schema(&crd, "v1beta1");
    assert_eq!(
        root["x-kubernetes-validations"],
        json!([{
            "rule": SERVICE_NAME_LENGTH_RULE,
            "message": SERVICE_NAME_LENGTH_MESSAGE,
            "optionalOldSelf": true
        }])
    );
    assert!(schema(&crd, "v1alpha1")["x-kubernetes-validations"].is_null());
}
