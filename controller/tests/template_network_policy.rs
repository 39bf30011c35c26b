//! The SandboxTemplate controller alone against a real API server (local cluster): a template
//! gets its label and the secure-default NetworkPolicy, a drifted policy is put back, switching
//! to Unmanaged deletes it, custom rules are applied verbatim without update loops, and a
//! foreign policy of the same name is left alone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Controller;
use sandbox_api::keys;
use sandbox_api::v1beta1::SandboxTemplate;
use sandbox_controller::cache::SharedCache;
use sandbox_controller::template;
use serde_json::{Value, json};

/// Runs only the template controller, wired as `run.rs` wires it.
async fn run_template_controller(client: kube::Client) {
    let mut templates =
        SharedCache::<SandboxTemplate>::new(Api::all(client.clone()), Default::default());
    let mut network_policies =
        SharedCache::<NetworkPolicy>::new(Api::all(client.clone()), Default::default());
    let ctx = Arc::new(template::Context {
        client: client.clone(),
        network_policies: network_policies.store.clone(),
        synced: network_policies.synced(),
    });
    let controller = Controller::for_shared_stream(templates.subscribe(), templates.store.clone())
        .owns_shared_stream(network_policies.subscribe())
        .run(
            template::reconcile,
            sandbox_controller::run::backing_off(Default::default(), template::error_policy),
            ctx,
        )
        .for_each(|_| async {});
    futures::join!(templates.sync(), network_policies.sync(), controller);
}

fn template_object(name: &str, spec: Value) -> SandboxTemplate {
    let mut spec_json =
        json!({"podTemplate": {"spec": {"containers": [{"name": "main", "image": "x"}]}}});
    if let (Some(base), Value::Object(extra)) = (spec_json.as_object_mut(), spec) {
        base.extend(extra);
    }
    serde_json::from_value(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxTemplate",
        "metadata": {"name": name}, "spec": spec_json
    }))
    .unwrap()
}

fn spec_json(np: &NetworkPolicy) -> Value {
    serde_json::to_value(np.spec.as_ref().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_manages_its_network_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, client) = common::cluster_with_crds("template", dir.path()).await;
    let controller = tokio::spawn(run_template_controller(client.clone()));

    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), "default");
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), "default");
    let hash = sandbox_api::name_hash("python");

    // Managed by default: the label and the secure default.
    let created = templates
        .create(
            &PostParams::default(),
            &template_object("python", json!({})),
        )
        .await
        .unwrap();
    let np = common::eventually(
        "the secure-default NetworkPolicy",
        Duration::from_secs(30),
        || {
            let policies = policies.clone();
            async move { policies.get_opt("python-network-policy").await.ok()? }
        },
    )
    .await;
    assert_eq!(
        spec_json(&np),
        json!({
            "podSelector": {"matchLabels": {keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: hash}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{
                "podSelector": {"matchLabels": {"app": "sandbox-router"}},
                "namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "agent-sandbox-system"}}
            }]}],
            "egress": [{"to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}}
            ]}]
        })
    );
    let owner = &np.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.uid.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        (
            "extensions.agents.x-k8s.io/v1beta1",
            "SandboxTemplate",
            created.metadata.uid.as_deref().unwrap(),
            Some(true),
            Some(true)
        )
    );
    common::eventually(
        "the template-ref-hash label",
        Duration::from_secs(30),
        || {
            let templates = templates.clone();
            let hash = hash.clone();
            async move {
                let t = templates.get("python").await.ok()?;
                (t.metadata
                    .labels?
                    .get(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL)?
                    == &hash)
                    .then_some(())
            }
        },
    )
    .await;

    // A policy edited behind the controller's back is put back.
    policies
        .patch(
            "python-network-policy",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"egress": null}})),
        )
        .await
        .unwrap();
    common::eventually(
        "the secure default restored",
        Duration::from_secs(30),
        || {
            let policies = policies.clone();
            async move {
                let np = policies.get("python-network-policy").await.ok()?;
                (spec_json(&np)["egress"][0]["to"].as_array()?.len() == 2).then_some(())
            }
        },
    )
    .await;

    // Unmanaged: the policy goes.
    let patch_spec = |v: Value| Patch::Merge(json!({"spec": v}));
    templates
        .patch(
            "python",
            &PatchParams::default(),
            &patch_spec(json!({"networkPolicyManagement": "Unmanaged"})),
        )
        .await
        .unwrap();
    common::eventually("the NetworkPolicy deleted", Duration::from_secs(30), || {
        let policies = policies.clone();
        async move {
            policies
                .get_opt("python-network-policy")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;

    // Managed again with custom rules: applied verbatim, and the server's `protocol: TCP`
    // default does not cause update after update.
    let rules = json!({
        "ingress": [{"ports": [{"port": 8888}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]
    });
    templates
        .patch(
            "python",
            &PatchParams::default(),
            &patch_spec(json!({"networkPolicyManagement": "Managed", "networkPolicy": rules})),
        )
        .await
        .unwrap();
    let np = common::eventually("the custom NetworkPolicy", Duration::from_secs(30), || {
        let policies = policies.clone();
        async move { policies.get_opt("python-network-policy").await.ok()? }
    })
    .await;
    let spec = spec_json(&np);
    assert_eq!(
        spec["ingress"],
        json!([{"ports": [{"port": 8888, "protocol": "TCP"}]}])
    );
    assert_eq!(spec["egress"], rules["egress"]);
    assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = policies.get("python-network-policy").await.unwrap();
    assert_eq!(
        later.metadata.resource_version, np.metadata.resource_version,
        "no-op updates"
    );

    // A foreign policy with the template's policy name is left alone.
    let foreign: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "other-network-policy"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    }))
    .unwrap();
    let foreign = policies
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    templates
        .create(&PostParams::default(), &template_object("other", json!({})))
        .await
        .unwrap();
    common::eventually(
        "the other template labelled",
        Duration::from_secs(30),
        || {
            let templates = templates.clone();
            async move {
                let t = templates.get("other").await.ok()?;
                t.metadata
                    .labels?
                    .contains_key(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL)
                    .then_some(())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let untouched = policies.get("other-network-policy").await.unwrap();
    assert_eq!(
        untouched.metadata.resource_version,
        foreign.metadata.resource_version
    );

    controller.abort();
    cluster.stop().unwrap();
}
