//! The Sandbox's PersistentVolumeClaims, one per volumeClaimTemplate (spec §2.5, §2.9).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sandbox_api::v1beta1::{PersistentVolumeClaimTemplate, Sandbox};

use super::owner::controller_ref;
use super::{name_hash_labels, sandbox_name};

/// Name of the PVC for template `vct_name` of Sandbox `sandbox_name`: `<vct>-<sandbox>`, like a
/// StatefulSet's claims (spec §2.5). The Pod mounts it as volume `<vct>`.
#[must_use]
pub fn pvc_name(vct_name: &str, sandbox_name: &str) -> String {
    format!("{vct_name}-{sandbox_name}")
}

/// The PVC to create for `vct` (spec §2.9): the template's labels plus the name-hash label
/// (which wins a clash), the template's annotations and spec verbatim, and the Sandbox as
/// controller. PVCs are never updated or deleted by the controller afterwards.
#[must_use]
pub fn new_pvc(sandbox: &Sandbox, vct: &PersistentVolumeClaimTemplate) -> PersistentVolumeClaim {
    let mut labels = vct.metadata.labels.clone();
    labels.extend(name_hash_labels(sandbox));
    let annotations = vct.metadata.annotations.clone();
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(pvc_name(&vct.metadata.name, sandbox_name(sandbox))),
            namespace: sandbox.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(sandbox)]),
            ..ObjectMeta::default()
        },
        spec: Some(vct.spec.clone()),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, HASH, NAMESPACE};
    use super::*;
    use serde_json::json;

    #[test]
    fn pvc_name_is_template_dash_sandbox() {
        assert_eq!(pvc_name("data", "my-sandbox"), "data-my-sandbox");
    }

    #[test]
    fn new_pvc_copies_the_template_and_forces_the_name_hash_label() {
        let sandbox = fixtures::sandbox(|v| {
            v["spec"]["volumeClaimTemplates"] = json!([{
                "metadata": {
                    "name": "data",
                    "labels": {"tier": "fast", "agents.x-k8s.io/sandbox-name-hash": "forged"},
                    "annotations": {"backup": "daily"}
                },
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]);
        });
        let vct = &sandbox.spec.blueprint.volume_claim_templates[0];
        let pvc = serde_json::to_value(new_pvc(&sandbox, vct)).expect("serialise");
        assert_eq!(
            pvc,
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": "data-sandbox",
                    "namespace": NAMESPACE,
                    "labels": {"tier": "fast", "agents.x-k8s.io/sandbox-name-hash": HASH},
                    "annotations": {"backup": "daily"},
                    "ownerReferences": [fixtures::sandbox_owner_json()]
                },
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            })
        );
    }

    #[test]
    fn new_pvc_without_template_metadata_has_only_the_name_hash_label() {
        let sandbox = fixtures::sandbox(|v| {
            v["spec"]["volumeClaimTemplates"] =
                json!([{"metadata": {"name": "scratch"}, "spec": {}}]);
        });
        let vct = &sandbox.spec.blueprint.volume_claim_templates[0];
        let pvc = new_pvc(&sandbox, vct);
        assert_eq!(pvc.metadata.name.as_deref(), Some("scratch-sandbox"));
        assert_eq!(pvc.metadata.labels, Some(name_hash_labels(&sandbox)));
        assert_eq!(pvc.metadata.annotations, None);
    }
}
