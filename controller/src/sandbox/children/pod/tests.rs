use serde_json::{Value, json};

use super::super::fixtures::{self, HASH, NAME, NAMESPACE};
use super::*;

const WARM_POOL_LABEL: &str = "agents.x-k8s.io/warm-pool-sandbox";
const TEMPLATE_REF_HASH_LABEL: &str = "agents.x-k8s.io/sandbox-template-ref-hash";
const CREATED_BY: &str = "agents.x-k8s.io/created-by";
const PROPAGATED_LABELS: &str = "agents.x-k8s.io/propagated-labels";
const PROPAGATED_ANNOTATIONS: &str = "agents.x-k8s.io/propagated-annotations";
const NAME_HASH: &str = "agents.x-k8s.io/sandbox-name-hash";

/// A Sandbox with the given podTemplate labels and annotations.
fn sandbox_with_template_metadata(labels: Value, annotations: Value) -> Sandbox {
    fixtures::sandbox(|v| {
        v["spec"]["podTemplate"]["metadata"] =
            json!({"labels": labels, "annotations": annotations});
    })
}

/// A Sandbox carrying both extension labels, controlled by `kind` in `api_version`.
fn extension_sandbox(api_version: &str, kind: &str) -> Sandbox {
    fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({WARM_POOL_LABEL: "pool-hash",
            TEMPLATE_REF_HASH_LABEL: "tmpl-hash", keys::CLAIM_UID_LABEL: "claim-uid"});
        fixtures::owned_by(v, api_version, kind);
    })
}

/// A Pod with exactly these labels and annotations.
fn pod_with(labels: Value, annotations: Value) -> Pod {
    fixtures::pod(json!({"metadata": {"name": NAME, "labels": labels, "annotations": annotations}}))
}

/// The pod-metadata patch for a Pod that is already owned (no adoption).
fn patch(sandbox: &Sandbox, pod: &Pod) -> Option<Value> {
    pod_metadata_patch(sandbox, pod, false)
}

#[test]
fn pod_name_prefers_a_non_empty_annotation() {
    let plain = fixtures::sandbox(|_| {});
    let tracked = fixtures::sandbox(|v| {
        v["metadata"]["annotations"] = json!({"agents.x-k8s.io/pod-name": "warm-pod"});
    });
    let empty = fixtures::sandbox(|v| {
        v["metadata"]["annotations"] = json!({"agents.x-k8s.io/pod-name": ""});
    });
    assert_eq!(pod_name(&plain), NAME);
    assert_eq!(pod_name(&tracked), "warm-pod");
    assert_eq!(pod_name(&empty), NAME);
}

#[test]
fn created_by_keeps_known_clients_and_maps_the_rest_to_unknown() {
    assert_eq!(normalize_created_by("go-client"), "go-client");
    assert_eq!(normalize_created_by("python-client"), "python-client");
    assert_eq!(normalize_created_by("controller"), "controller");
    assert_eq!(normalize_created_by("kubectl"), "unknown");
    assert_eq!(normalize_created_by("Go-Client"), "unknown");
    assert_eq!(normalize_created_by(""), "unknown");
}

#[test]
fn trace_context_is_a_system_annotation_but_not_a_system_label() {
    assert!(is_system_annotation("opentelemetry.io/trace-context"));
    assert!(!is_system_label("opentelemetry.io/trace-context"));
    assert!(is_system_label("agents.x-k8s.io/claim-uid"));
    assert!(is_system_label("extensions.agents.x-k8s.io/x"));
    assert!(!is_system_label("app"));
}

#[test]
fn new_pod_filters_system_keys_and_records_propagated_keys() {
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({CREATED_BY: "kubectl"});
        v["spec"]["podTemplate"]["metadata"] = json!({
            "labels": {
                "app": "web",
                "team": "a",
                "agents.x-k8s.io/claim-uid": "leak",
                NAME_HASH: "forged",
                WARM_POOL_LABEL: "forged",
                "opentelemetry.io/trace-context": "label-is-fine"
            },
            "annotations": {
                "note": "hi",
                "opentelemetry.io/trace-context": "{}",
                "extensions.agents.x-k8s.io/x": "y",
                PROPAGATED_LABELS: "forged"
            }
        });
    });
    let pod = serde_json::to_value(new_pod(&sandbox)).expect("serialise");
    assert_eq!(
        pod["metadata"],
        json!({
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {
                "app": "web",
                "team": "a",
                "opentelemetry.io/trace-context": "label-is-fine",
                NAME_HASH: HASH,
                CREATED_BY: "unknown"
            },
            "annotations": {
                "note": "hi",
                PROPAGATED_LABELS: "app,opentelemetry.io/trace-context,team",
                PROPAGATED_ANNOTATIONS: "note"
            },
            "ownerReferences": [fixtures::sandbox_owner_json()]
        })
    );
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(
        pod["spec"]["containers"],
        json!([{"name": "main", "image": "busybox"}])
    );
}

#[test]
fn new_pod_ignores_the_pod_name_annotation_and_omits_empty_annotations() {
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["annotations"] = json!({"agents.x-k8s.io/pod-name": "warm-pod"});
    });
    let pod = new_pod(&sandbox);
    assert_eq!(pod.metadata.name.as_deref(), Some(NAME));
    assert_eq!(
        pod.metadata.labels,
        Some(BTreeMap::from([(NAME_HASH.to_owned(), HASH.to_owned())]))
    );
    assert_eq!(pod.metadata.annotations, None);
}

#[test]
fn new_pod_copies_the_template_spec() {
    let sandbox = fixtures::sandbox(|v| {
        v["spec"]["podTemplate"]["spec"] = json!({
            "containers": [{"name": "main", "image": "busybox", "ports": [{"containerPort": 80}]}],
            "runtimeClassName": "gvisor",
            "nodeSelector": {"pool": "sandboxes"}
        });
    });
    let pod = new_pod(&sandbox);
    assert_eq!(
        pod.spec.as_ref(),
        Some(&*sandbox.spec.blueprint.pod_template.spec)
    );
}

#[test]
fn warm_pool_owned_sandbox_gets_both_extension_labels() {
    let sandbox = extension_sandbox("extensions.agents.x-k8s.io/v1beta1", "SandboxWarmPool");
    let labels = new_pod(&sandbox).metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get(WARM_POOL_LABEL).map(String::as_str),
        Some("pool-hash")
    );
    assert_eq!(
        labels.get(TEMPLATE_REF_HASH_LABEL).map(String::as_str),
        Some("tmpl-hash")
    );
}

#[test]
fn extension_ownership_ignores_the_owner_version() {
    let sandbox = extension_sandbox("extensions.agents.x-k8s.io/v1alpha1", "SandboxWarmPool");
    assert_eq!(extension_pod_labels(&sandbox).len(), 2);
}

#[test]
fn claim_owned_sandbox_gets_the_claim_uid_and_template_ref_hash_but_not_the_pool_label() {
    let sandbox = extension_sandbox("extensions.agents.x-k8s.io/v1beta1", "SandboxClaim");
    assert_eq!(
        extension_pod_labels(&sandbox),
        BTreeMap::from([
            (keys::CLAIM_UID_LABEL.to_owned(), "claim-uid".to_owned()),
            (TEMPLATE_REF_HASH_LABEL.to_owned(), "tmpl-hash".to_owned()),
        ])
    );
}

#[test]
fn bare_or_foreign_owned_sandbox_gets_no_extension_labels() {
    let bare = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({WARM_POOL_LABEL: "p", TEMPLATE_REF_HASH_LABEL: "t"});
    });
    assert!(extension_pod_labels(&bare).is_empty());
    let core_group = extension_sandbox("agents.x-k8s.io/v1beta1", "SandboxWarmPool");
    assert!(extension_pod_labels(&core_group).is_empty());
    let apps = extension_sandbox("apps/v1", "Deployment");
    assert!(extension_pod_labels(&apps).is_empty());
    let labels = new_pod(&bare).metadata.labels.unwrap_or_default();
    assert!(!labels.contains_key(WARM_POOL_LABEL));
    assert!(!labels.contains_key(TEMPLATE_REF_HASH_LABEL));
}

#[test]
fn empty_extension_label_values_are_not_copied() {
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({WARM_POOL_LABEL: "", TEMPLATE_REF_HASH_LABEL: "t"});
        fixtures::owned_by(v, "extensions.agents.x-k8s.io/v1beta1", "SandboxWarmPool");
    });
    assert_eq!(
        extension_pod_labels(&sandbox),
        BTreeMap::from([(TEMPLATE_REF_HASH_LABEL.to_owned(), "t".to_owned())])
    );
}

#[test]
fn claim_volumes_replace_same_named_volumes_and_come_last() {
    let sandbox = fixtures::sandbox(|v| {
        v["spec"]["podTemplate"]["spec"]["volumes"] = json!([
            {"name": "a", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "b", "configMap": {"name": "cm"}}
        ]);
        v["spec"]["volumeClaimTemplates"] = json!([
            {"metadata": {"name": "data"}, "spec": {}},
            {"metadata": {"name": "logs"}, "spec": {}}
        ]);
    });
    let pod = serde_json::to_value(new_pod(&sandbox)).expect("serialise");
    assert_eq!(
        pod["spec"]["volumes"],
        json!([
            {"name": "a", "emptyDir": {}},
            {"name": "b", "configMap": {"name": "cm"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-sandbox"}},
            {"name": "logs", "persistentVolumeClaim": {"claimName": "logs-sandbox"}}
        ])
    );
}

#[test]
fn volumes_are_untouched_without_claim_templates() {
    let none = fixtures::sandbox(|_| {});
    assert_eq!(pod_volumes(&none), None);
    let some = fixtures::sandbox(|v| {
        v["spec"]["podTemplate"]["spec"]["volumes"] = json!([{"name": "a", "emptyDir": {}}]);
    });
    assert_eq!(
        pod_volumes(&some),
        some.spec.blueprint.pod_template.spec.volumes
    );
    let claims_only = fixtures::sandbox(|v| {
        v["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"}, "spec": {}}]);
    });
    assert_eq!(pod_volumes(&claims_only).map(|v| v.len()), Some(1));
}

#[test]
fn a_freshly_built_pod_needs_no_patch() {
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({
            CREATED_BY: "python-client",
            WARM_POOL_LABEL: "pool-hash",
            TEMPLATE_REF_HASH_LABEL: "tmpl-hash"
        });
        fixtures::owned_by(v, "extensions.agents.x-k8s.io/v1beta1", "SandboxWarmPool");
        v["spec"]["podTemplate"]["metadata"] = json!({
            "labels": {"app": "web", "agents.x-k8s.io/claim-uid": "x"},
            "annotations": {"note": "hi", "opentelemetry.io/trace-context": "{}"}
        });
    });
    let pod = new_pod(&sandbox);
    assert_eq!(patch(&sandbox, &pod), None);
    // Also for a bare Sandbox without any template metadata.
    let bare = fixtures::sandbox(|_| {});
    assert_eq!(patch(&bare, &new_pod(&bare)), None);
}

#[test]
fn patch_upserts_template_keys_and_forces_the_name_hash() {
    let sandbox = sandbox_with_template_metadata(json!({"app": "web"}), json!({"note": "new"}));
    let pod = pod_with(
        json!({NAME_HASH: "stale", "app": "old", "kubelet": "kept"}),
        json!({"note": "old", PROPAGATED_LABELS: "app", PROPAGATED_ANNOTATIONS: "note"}),
    );
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {
            "labels": {NAME_HASH: HASH, "app": "web"},
            "annotations": {"note": "new"}
        }}))
    );
}

#[test]
fn patch_deletes_keys_removed_from_the_template_and_rewrites_the_lists() {
    let sandbox = sandbox_with_template_metadata(json!({"app": "web"}), json!({}));
    let pod = pod_with(
        json!({NAME_HASH: HASH, "app": "web", "team": "a", "unlisted": "x"}),
        json!({"note": "hi", "other": "x", PROPAGATED_LABELS: "app,team", PROPAGATED_ANNOTATIONS: "note"}),
    );
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {
            "labels": {"team": null},
            "annotations": {"note": null, PROPAGATED_LABELS: "app", PROPAGATED_ANNOTATIONS: ""}
        }}))
    );
}

#[test]
fn patch_scrubs_system_keys_an_older_controller_propagated() {
    let sandbox = sandbox_with_template_metadata(json!({"app": "web"}), json!({"note": "hi"}));
    let pod = pod_with(
        json!({NAME_HASH: HASH, "app": "web", "agents.x-k8s.io/claim-uid": "leak"}),
        json!({
            "note": "hi",
            "opentelemetry.io/trace-context": "{}",
            "agents.x-k8s.io/sandbox-template-ref": "t",
            PROPAGATED_LABELS: format!("agents.x-k8s.io/claim-uid,app,{NAME_HASH}"),
            PROPAGATED_ANNOTATIONS: format!(
                "{PROPAGATED_LABELS},agents.x-k8s.io/sandbox-template-ref,note,opentelemetry.io/trace-context"
            )
        }),
    );
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {
            "labels": {"agents.x-k8s.io/claim-uid": null},
            "annotations": {
                "opentelemetry.io/trace-context": null,
                "agents.x-k8s.io/sandbox-template-ref": null,
                PROPAGATED_LABELS: "app",
                PROPAGATED_ANNOTATIONS: "note"
            }
        }}))
    );
}

#[test]
fn system_keys_not_listed_as_propagated_are_left_alone() {
    let sandbox = sandbox_with_template_metadata(json!({}), json!({}));
    let pod = pod_with(
        json!({NAME_HASH: HASH, "agents.x-k8s.io/adoptable": "true"}),
        json!({"opentelemetry.io/trace-context": "{}"}),
    );
    assert_eq!(patch(&sandbox, &pod), None);
}

#[test]
fn a_leaked_extension_label_that_is_still_expected_is_not_rewritten() {
    let sandbox = extension_sandbox("extensions.agents.x-k8s.io/v1beta1", "SandboxWarmPool");
    let pod = pod_with(
        json!({NAME_HASH: HASH, WARM_POOL_LABEL: "pool-hash", TEMPLATE_REF_HASH_LABEL: "tmpl-hash"}),
        json!({PROPAGATED_LABELS: WARM_POOL_LABEL}),
    );
    // Upstream deletes and re-adds the label; the end state is unchanged except the list.
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {"annotations": {PROPAGATED_LABELS: ""}}}))
    );
}

#[test]
fn adoption_by_a_claim_drops_the_warm_pool_label_and_safe_to_evict() {
    // The claim rebuilt the podTemplate metadata from the template, without safe-to-evict.
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["labels"] =
            json!({TEMPLATE_REF_HASH_LABEL: "tmpl-hash", CREATED_BY: "go-client"});
        fixtures::owned_by(v, "extensions.agents.x-k8s.io/v1beta1", "SandboxClaim");
    });
    let pod = pod_with(
        json!({
            NAME_HASH: HASH,
            WARM_POOL_LABEL: "pool-hash",
            TEMPLATE_REF_HASH_LABEL: "tmpl-hash",
            CREATED_BY: "controller"
        }),
        json!({
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
            PROPAGATED_ANNOTATIONS: "cluster-autoscaler.kubernetes.io/safe-to-evict"
        }),
    );
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {
            "labels": {WARM_POOL_LABEL: null, CREATED_BY: "go-client"},
            "annotations": {
                "cluster-autoscaler.kubernetes.io/safe-to-evict": null,
                PROPAGATED_ANNOTATIONS: ""
            }
        }}))
    );
}

#[test]
fn extension_labels_are_removed_when_the_sandbox_is_bare() {
    let sandbox = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({TEMPLATE_REF_HASH_LABEL: "tmpl-hash"});
    });
    let pod = pod_with(
        json!({NAME_HASH: HASH, TEMPLATE_REF_HASH_LABEL: "tmpl-hash"}),
        json!({}),
    );
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {"labels": {TEMPLATE_REF_HASH_LABEL: null}}}))
    );
}

#[test]
fn created_by_is_normalised_or_deleted() {
    let unknown = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({CREATED_BY: "my-script"});
    });
    let pod = pod_with(json!({NAME_HASH: HASH, CREATED_BY: "my-script"}), json!({}));
    assert_eq!(
        patch(&unknown, &pod),
        Some(json!({"metadata": {"labels": {CREATED_BY: "unknown"}}}))
    );
    let empty = fixtures::sandbox(|v| {
        v["metadata"]["labels"] = json!({CREATED_BY: ""});
    });
    assert_eq!(
        patch(&empty, &pod),
        Some(json!({"metadata": {"labels": {CREATED_BY: null}}}))
    );
}

#[test]
fn propagated_lists_are_added_when_absent_only_if_non_empty() {
    let with_keys = sandbox_with_template_metadata(json!({"app": "web"}), json!({}));
    let pod = pod_with(json!({NAME_HASH: HASH, "app": "web"}), json!({}));
    assert_eq!(
        patch(&with_keys, &pod),
        Some(json!({"metadata": {"annotations": {PROPAGATED_LABELS: "app"}}}))
    );
    let without_keys = sandbox_with_template_metadata(json!({}), json!({}));
    let bare_pod = pod_with(json!({NAME_HASH: HASH}), json!({}));
    assert_eq!(patch(&without_keys, &bare_pod), None);
}

#[test]
fn a_pod_without_metadata_gets_the_name_hash() {
    let sandbox = fixtures::sandbox(|_| {});
    let pod = fixtures::pod(json!({"metadata": {"name": NAME}}));
    assert_eq!(
        patch(&sandbox, &pod),
        Some(json!({"metadata": {"labels": {NAME_HASH: HASH}}}))
    );
}

#[test]
fn adoption_adds_the_controller_ref_even_without_metadata_drift() {
    let sandbox = fixtures::sandbox(|_| {});
    let mut pod = new_pod(&sandbox);
    pod.metadata.owner_references = Some(vec![]);
    assert_eq!(
        pod_metadata_patch(&sandbox, &pod, true),
        Some(json!({"metadata": {"ownerReferences": [fixtures::sandbox_owner_json()]}}))
    );
    // Without `adopt` the same Pod is left alone.
    assert_eq!(patch(&sandbox, &pod), None);
}

#[test]
fn adoption_keeps_other_owners_and_combines_with_label_changes() {
    let sandbox = fixtures::sandbox(|_| {});
    let pod = fixtures::pod(json!({"metadata": {
        "name": NAME,
        "labels": {"agents.x-k8s.io/adoptable": "true"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "1"}]
    }}));
    assert_eq!(
        pod_metadata_patch(&sandbox, &pod, true),
        Some(json!({"metadata": {
            "labels": {NAME_HASH: HASH},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "1"},
                fixtures::sandbox_owner_json()
            ]
        }}))
    );
}
