//! What a warm pool member looks like (spec §4.3), and when an existing member no longer
//! matches its template (spec §4.5).

use std::cell::RefCell;
use std::sync::Arc;

use crate::sandbox::children::controller_ref;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sandbox_api::common::SandboxBlueprint;
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxSpec, SandboxTemplate, SandboxWarmPool};

use crate::sandbox::children::{apply_secure_defaults, is_secure_by_default};

/// The template's blueprint as a pool member runs it: secure defaults applied (spec §3.4).
pub fn member_blueprint(template: &SandboxTemplate) -> SandboxBlueprint {
    let mut blueprint = template.spec.blueprint.clone();
    apply_secure_defaults(
        std::sync::Arc::make_mut(&mut blueprint.pod_template.spec),
        is_secure_by_default(&template.spec),
    );
    blueprint
}

/// A new member: `generateName: <pool>-`, the pool's labels, the template's blueprint.
///
/// Upstream also stamps two hashes of Go's JSON encoding of the template, which cannot be
/// reproduced outside Go; staleness is decided semantically instead ([`Staleness`]).
pub fn new_member(pool: &SandboxWarmPool, template: &SandboxTemplate) -> Sandbox {
    new_member_with(pool, template, true)
}

/// [`new_member`], with the autoscaler's safe-to-evict default on or off
/// (`--enable-warm-pool-eviction`); a template that sets the annotation keeps its value.
pub fn new_member_with(
    pool: &SandboxWarmPool,
    template: &SandboxTemplate,
    safe_to_evict: bool,
) -> Sandbox {
    let pool_hash = sandbox_api::name_hash(&pool.name_any());
    let template_name = template.name_any();
    let template_hash = sandbox_api::name_hash(&template_name);
    let mut blueprint = member_blueprint(template);
    let pod_labels = &mut blueprint.pod_template.metadata.labels;
    pod_labels.insert(keys::WARM_POOL_SANDBOX_LABEL.into(), pool_hash.clone());
    pod_labels.insert(
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL.into(),
        template_hash.clone(),
    );
    if safe_to_evict {
        blueprint
            .pod_template
            .metadata
            .annotations
            .entry(keys::SAFE_TO_EVICT_ANNOTATION.into())
            .or_insert_with(|| "true".into());
    }
    Sandbox {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", pool.name_any())),
            namespace: pool.metadata.namespace.clone(),
            labels: Some(
                [
                    (keys::WARM_POOL_SANDBOX_LABEL, pool_hash),
                    (keys::SANDBOX_TEMPLATE_REF_HASH_LABEL, template_hash),
                    (keys::LAUNCH_TYPE_LABEL, keys::LAUNCH_TYPE_WARM.into()),
                    (keys::CREATED_BY_LABEL, keys::CREATED_BY_CONTROLLER.into()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ),
            annotations: Some(
                [(
                    keys::SANDBOX_TEMPLATE_REF_ANNOTATION.to_string(),
                    template_name,
                )]
                .into(),
            ),
            owner_references: Some(vec![controller_ref(pool)]),
            ..ObjectMeta::default()
        },
        spec: SandboxSpec {
            blueprint,
            ..SandboxSpec::default()
        },
        status: None,
    }
}

/// How many distinct pod specs one pass remembers the answer for.
const MAX_REMEMBERED_SPECS: usize = 8;

/// The template a pool's members are measured against (spec §4.5), prepared once per pass:
/// a pool of thousands asks about every member, and building the template's blueprint with
/// its secure defaults costs more than the comparison itself.
pub struct Staleness {
    hash: String,
    want: SandboxBlueprint,
    /// Pod specs already compared, with the answer. Members share one `Arc<PodSpec>` per
    /// distinct spec (`pod_specs`), so a pool's members cost one deep comparison per spec.
    compared: RefCell<Vec<(Arc<PodSpec>, bool)>>,
}

impl Staleness {
    pub fn of(template: &SandboxTemplate) -> Self {
        Self {
            hash: sandbox_api::name_hash(&template.name_any()),
            want: member_blueprint(template),
            compared: RefCell::default(),
        }
    }

    /// Whether a member was built from another template, or from an older version of this
    /// one: the template-ref-hash label differs, or the pod spec (with secure defaults), the
    /// volume claim templates (name and spec, by index) or the `service` switch differ. Pod
    /// template metadata and template-level policies never make a member stale.
    pub fn is_stale(&self, member: &Sandbox) -> bool {
        if member.labels().get(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL) != Some(&self.hash) {
            return true;
        }
        let (want, have) = (&self.want, &member.spec.blueprint);
        let vcts_differ = want.volume_claim_templates.len() != have.volume_claim_templates.len()
            || want
                .volume_claim_templates
                .iter()
                .zip(&have.volume_claim_templates)
                .any(|(w, h)| w.metadata.name != h.metadata.name || w.spec != h.spec);
        vcts_differ || want.service != have.service || !self.same_pod_spec(&have.pod_template.spec)
    }

    fn same_pod_spec(&self, have: &Arc<PodSpec>) -> bool {
        let mut compared = self.compared.borrow_mut();
        if let Some((_, same)) = compared.iter().find(|(spec, _)| Arc::ptr_eq(spec, have)) {
            return *same;
        }
        let same = *self.want.pod_template.spec == **have;
        // A pool's members carry a handful of specs at most (one per template version); a
        // cache that does not share them is compared member by member rather than searched.
        if compared.len() < MAX_REMEMBERED_SPECS {
            compared.push((have.clone(), same));
        }
        same
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn template(edit: impl FnOnce(&mut serde_json::Value)) -> SandboxTemplate {
        let mut v = json!({
            "metadata": {"name": "python", "namespace": "ns"},
            "spec": {"podTemplate": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "main", "image": "python:3"}]}}}
        });
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    pub fn pool() -> SandboxWarmPool {
        serde_json::from_value(json!({
            "metadata": {"name": "pool", "namespace": "ns", "uid": "pool-uid"},
            "spec": {"sandboxTemplateRef": {"name": "python"}}
        }))
        .unwrap()
    }

    #[test]
    fn a_member_carries_the_pool_labels_owner_and_secured_blueprint() {
        let m = new_member(&pool(), &template(|_| {}));
        assert_eq!(m.metadata.generate_name.as_deref(), Some("pool-"));
        let labels = m.labels();
        assert_eq!(
            labels[keys::WARM_POOL_SANDBOX_LABEL],
            sandbox_api::name_hash("pool")
        );
        assert_eq!(
            labels[keys::SANDBOX_TEMPLATE_REF_HASH_LABEL],
            sandbox_api::name_hash("python")
        );
        assert_eq!(labels[keys::LAUNCH_TYPE_LABEL], "warm");
        assert_eq!(
            m.annotations()[keys::SANDBOX_TEMPLATE_REF_ANNOTATION],
            "python"
        );
        let owner = &m.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("SandboxWarmPool", "pool-uid")
        );
        let pt = &m.spec.blueprint.pod_template;
        assert_eq!(pt.metadata.labels["app"], "agent");
        assert_eq!(
            pt.metadata.annotations[keys::SAFE_TO_EVICT_ANNOTATION],
            "true"
        );
        assert_eq!(pt.spec.automount_service_account_token, Some(false));
        assert_eq!(pt.spec.dns_policy.as_deref(), Some("None"));
    }

    #[test]
    fn a_template_that_sets_safe_to_evict_keeps_its_value() {
        let t = template(|v| {
            v["spec"]["podTemplate"]["metadata"]["annotations"] =
                json!({keys::SAFE_TO_EVICT_ANNOTATION: "false"})
        });
        let m = new_member(&pool(), &t);
        assert_eq!(
            m.spec.blueprint.pod_template.metadata.annotations[keys::SAFE_TO_EVICT_ANNOTATION],
            "false"
        );
    }

    #[test]
    fn without_warm_pool_eviction_members_are_not_marked_safe_to_evict() {
        let m = new_member_with(&pool(), &template(|_| {}), false);
        let annotations = &m.spec.blueprint.pod_template.metadata.annotations;
        assert!(!annotations.contains_key(keys::SAFE_TO_EVICT_ANNOTATION));
        let t = template(|v| {
            v["spec"]["podTemplate"]["metadata"]["annotations"] =
                json!({keys::SAFE_TO_EVICT_ANNOTATION: "true"})
        });
        let kept = new_member_with(&pool(), &t, false);
        assert_eq!(
            kept.spec.blueprint.pod_template.metadata.annotations[keys::SAFE_TO_EVICT_ANNOTATION],
            "true",
            "the template's own value stays"
        );
    }

    #[test]
    fn staleness_follows_the_spec_but_not_metadata() {
        let t = template(|_| {});
        let member = new_member(&pool(), &t);
        assert!(!Staleness::of(&t).is_stale(&member));
        let relabelled =
            template(|v| v["spec"]["podTemplate"]["metadata"]["labels"] = json!({"x": "y"}));
        assert!(
            !Staleness::of(&relabelled).is_stale(&member),
            "metadata never makes a member stale"
        );
        let new_image = template(|v| {
            v["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = json!("python:4")
        });
        assert!(Staleness::of(&new_image).is_stale(&member));
        let with_service = template(|v| v["spec"]["service"] = json!(false));
        assert!(
            Staleness::of(&with_service).is_stale(&member),
            "nil and false differ"
        );
        let other = template(|v| v["metadata"]["name"] = json!("node"));
        assert!(Staleness::of(&other).is_stale(&member), "another template");
    }

    #[test]
    fn one_staleness_answers_for_every_member_of_a_pass() {
        let t = template(|_| {});
        let fresh = new_member(&pool(), &t);
        let shares_the_spec = fresh.clone();
        let old_image = new_member(
            &pool(),
            &template(|v| {
                v["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = json!("python:2")
            }),
        );
        let staleness = Staleness::of(&t);
        for _ in 0..2 {
            assert!(!staleness.is_stale(&fresh));
            assert!(!staleness.is_stale(&shares_the_spec));
            assert!(
                staleness.is_stale(&old_image),
                "a remembered answer is per spec"
            );
        }
        assert_eq!(
            staleness.compared.borrow().len(),
            2,
            "one comparison per distinct spec"
        );
    }
}
