//! The SandboxTemplate controller alone against a real API server (local cluster): a template
//! gets its label and the secure-default NetworkPolicy, a drifted policy is put back, switching
//! to Unmanaged deletes it, custom rules are applied verbatim without update loops, and a
//! foreign policy of the same name is left alone.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use sandbox_api::keys;
use sandbox_api::v1beta1::SandboxTemplate;
use sandbox_controller::cache::SharedCache;
use sandbox_controller::template;
use serde_json::{Value, json};
use tower::util::MapRequestLayer;

/// One finished reconcile of a template, with the policy of the template's policy name as the
/// cache held it when the pass began: the pass decided on that version or a later one.
#[derive(Debug, Clone)]
struct Pass {
    template: String,
    /// `(uid, resourceVersion)` of the cached policy.
    policy_seen: Option<(String, String)>,
    /// The reconcile's error, if it failed.
    error: Option<String>,
    /// How many requests the controller had sent when the pass began.
    sent_before: usize,
}

/// Every pass the controller has finished, in order.
type Passes = Arc<Mutex<Vec<Pass>>>;

/// Waits until a pass over `template` has finished that began with the policy `uid` in the
/// cache, and returns the first such pass. Whatever that pass decided about the policy it has
/// written by then: the controller's writes are made inside the pass.
async fn pass_that_saw(passes: &Passes, template: &str, uid: &str) -> Pass {
    common::eventually(
        &format!("a finished pass over {template} that saw policy {uid}"),
        Duration::from_secs(30),
        || {
            let found = passes
                .lock()
                .unwrap()
                .iter()
                .find(|p| {
                    p.template == template
                        && p.policy_seen.as_ref().is_some_and(|(seen, _)| seen == uid)
                })
                .cloned();
            std::future::ready(found)
        },
    )
    .await
}

/// Every request the controller's client has sent, as `METHOD path`, in order.
type Requests = Arc<Mutex<Vec<String>>>;

/// A client of the cluster that records each request it sends in `requests`. An update that
/// changes nothing leaves the object's resourceVersion as it was (the API server skips the
/// write), so only the requests themselves show a no-op update.
async fn recording_client(kubeconfig: &Path, requests: Requests) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let record = MapRequestLayer::new(move |request: hyper::Request<kube::client::Body>| {
        let line = format!("{} {}", request.method(), request.uri().path());
        requests.lock().unwrap().push(line);
        request
    });
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&record)
        .build()
}

/// The writes (anything but a read) among `requests` whose path ends with `suffix`.
fn writes_to(requests: &[String], suffix: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| !r.starts_with("GET ") && r.ends_with(suffix))
        .cloned()
        .collect()
}

/// Runs only the template controller, wired as `run.rs` wires it, recording each finished
/// pass in `passes` (`requests`: what `client` has recorded).
async fn run_template_controller(client: kube::Client, passes: Passes, requests: Requests) {
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
            move |t: Arc<SandboxTemplate>, ctx: Arc<template::Context>| {
                let passes = passes.clone();
                let ns = t.metadata.namespace.clone().unwrap_or_default();
                let policy = ObjectRef::new(&template::policy::network_policy_name(&t)).within(&ns);
                let policy_seen = ctx.network_policies.get(&policy).map(|np| {
                    let meta = &np.metadata;
                    (
                        meta.uid.clone().unwrap_or_default(),
                        meta.resource_version.clone().unwrap_or_default(),
                    )
                });
                let name = t.metadata.name.clone().unwrap_or_default();
                let sent_before = requests.lock().unwrap().len();
                async move {
                    let result = template::reconcile(t, ctx).await;
                    passes.lock().unwrap().push(Pass {
                        template: name,
                        policy_seen,
                        error: result.as_ref().err().map(ToString::to_string),
                        sent_before,
                    });
                    result
                }
            },
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
    let passes = Passes::default();
    let requests = Requests::default();
    let ours = recording_client(&dir.path().join("kubeconfig"), requests.clone()).await;
    let controller = tokio::spawn(run_template_controller(
        ours,
        passes.clone(),
        requests.clone(),
    ));

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
    // The server's defaults must not read as drift. Once a pass has looked at the policy as
    // created (its watch event re-queues the template), any update it decided on is sent.
    let uid = np.metadata.uid.clone().unwrap();
    let pass = pass_that_saw(&passes, "python", &uid).await;
    assert_eq!(pass.error, None);
    assert_eq!(
        pass.policy_seen.map(|(_, rv)| rv),
        np.metadata.resource_version,
        "the policy changed before the controller first looked at it"
    );
    let sent = requests.lock().unwrap()[pass.sent_before..].to_vec();
    assert_eq!(
        writes_to(&sent, "/networkpolicies/python-network-policy"),
        Vec::<String>::new(),
        "no-op updates"
    );
    let later = policies.get("python-network-policy").await.unwrap();
    assert_eq!(
        later.metadata.resource_version,
        np.metadata.resource_version
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
    // A pass that found the foreign policy in its cache refuses it (an error, retried slowly)
    // and writes nothing to it.
    let pass = pass_that_saw(&passes, "other", foreign.metadata.uid.as_deref().unwrap()).await;
    let sent = requests.lock().unwrap().clone();
    assert_eq!(
        writes_to(&sent, "/networkpolicies/other-network-policy"),
        Vec::<String>::new()
    );
    assert!(
        pass.error
            .as_deref()
            .is_some_and(|e| e.contains("not controlled by")),
        "the foreign policy is refused: {pass:?}"
    );
    let untouched = policies.get("other-network-policy").await.unwrap();
    assert_eq!(
        untouched.metadata.resource_version,
        foreign.metadata.resource_version
    );

    controller.abort();
    cluster.stop().unwrap();
}
