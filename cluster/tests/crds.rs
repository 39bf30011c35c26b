//! The agent-sandbox CRDs on a real API server: installed and established, objects of all four
//! kinds created at v1beta1 and read back with their defaults, the scale subresource, and the
//! CEL rules that make `volumeClaimTemplates` immutable and refuse a name too long for the
//! Sandbox's Service.

mod common;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, conditions};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_cluster::crds;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn pod_template() -> Value {
    json!({
        "metadata": {"labels": {"app": "agent"}},
        "spec": {"containers": [{"name": "agent", "image": "registry.invalid/agent:1",
                                  "ports": [{"containerPort": 8888}]}]}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn crds_install_and_serve_all_four_kinds_at_v1beta1() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::start("crds", dir.path(), 1).await;
    let client = cluster.client().unwrap();

    let names = crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(names.len(), 4, "{names:?}");
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in &names {
        let crd = crd_api.get(name).await.unwrap();
        assert!(
            conditions::is_crd_established().matches_object(Some(&crd)),
            "{name} not established"
        );
        let served: Vec<&str> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(served.len(), 2, "{name} serves {served:?}");
        let storage: Vec<&str> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(storage, ["v1beta1"], "{name}");
    }
    // Installing again is a no-op, not an error.
    crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap();

    let pp = PostParams::default();
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), "default");
    templates
        .create(
            &pp,
            &from(json!({"metadata": {"name": "python"}, "spec": {"podTemplate": pod_template()}})),
        )
        .await
        .unwrap();
    let t = serde_json::to_value(templates.get("python").await.unwrap()).unwrap();
    assert_eq!(
        t["spec"]["podTemplate"]["spec"]["containers"][0]["name"],
        "agent"
    );
    assert_eq!(
        t["spec"]["networkPolicyManagement"], "Managed",
        "default applied"
    );
    assert_eq!(
        t["spec"]["envVarsInjectionPolicy"], "Disallowed",
        "default applied"
    );
    assert_eq!(
        t["spec"]["volumeClaimTemplatesPolicy"], "Disallowed",
        "default applied"
    );

    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), "default");
    pools
        .create(&pp, &from(json!({"metadata": {"name": "pool"}, "spec": {"sandboxTemplateRef": {"name": "python"}}})))
        .await
        .unwrap();
    let p = serde_json::to_value(pools.get("pool").await.unwrap()).unwrap();
    assert_eq!(p["spec"]["replicas"], 1, "default applied");
    assert_eq!(p["spec"]["sandboxTemplateRef"]["name"], "python");
    let scale = pools.get_scale("pool").await.unwrap();
    assert_eq!(
        scale.spec.unwrap().replicas,
        Some(1),
        "scale subresource reads spec.replicas"
    );
    pools
        .patch_scale(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let p = pools.get("pool").await.unwrap();
    assert_eq!(
        serde_json::to_value(&p).unwrap()["spec"]["replicas"],
        3,
        "scale writes spec.replicas"
    );

    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), "default");
    claims
        .create(
            &pp,
            &from(json!({"metadata": {"name": "c1"}, "spec": {"warmPoolRef": {"name": "pool"}}})),
        )
        .await
        .unwrap();
    let c = serde_json::to_value(claims.get("c1").await.unwrap()).unwrap();
    assert_eq!(c["spec"]["warmPoolRef"]["name"], "pool");

    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), "default");
    sandboxes
        .create(&pp, &from(json!({"metadata": {"name": "s1"}, "spec": {"podTemplate": pod_template(), "service": false}})))
        .await
        .unwrap();
    let s = serde_json::to_value(sandboxes.get("s1").await.unwrap()).unwrap();
    assert_eq!(s["spec"]["operatingMode"], "Running", "default applied");
    assert_eq!(s["spec"]["shutdownPolicy"], "Retain", "default applied");
    assert_eq!(s["spec"]["service"], false, "tri-state false kept");
    assert_eq!(
        s["spec"]["podTemplate"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        8888
    );

    // An invalid enum value is refused by the schema, naming the field.
    let err = sandboxes
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"operatingMode": "Paused"}})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("operatingMode"), "{err}");

    cluster.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_rejects_a_change_of_volume_claim_templates() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::start("cel", dir.path(), 1).await;
    let client = cluster.client().unwrap();
    crds::install(&client, Duration::from_secs(60))
        .await
        .unwrap();

    let sandboxes: Api<Sandbox> = Api::namespaced(client, "default");
    let vct = |size: &str| {
        json!([{"metadata": {"name": "work"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}])
    };
    sandboxes
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "with-volume"},
                         "spec": {"podTemplate": pod_template(), "volumeClaimTemplates": vct("1Gi")}})),
        )
        .await
        .unwrap();
    sandboxes
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "without-volume"}, "spec": {"podTemplate": pod_template()}})),
        )
        .await
        .unwrap();

    let change = |v: Value| Patch::Merge(json!({"spec": {"volumeClaimTemplates": v}}));
    let pp = PatchParams::default();
    for (name, patch) in [
        ("with-volume", change(vct("2Gi"))),
        ("with-volume", change(Value::Null)),
        ("without-volume", change(vct("1Gi"))),
    ] {
        let err = sandboxes.patch(name, &pp, &patch).await.unwrap_err();
        let kube::Error::Api(status) = &err else {
            panic!("{name}: expected an API error, got {err}");
        };
        assert_eq!(status.code, 422, "{name}: {status:?}");
        assert!(
            status.message.contains("volumeClaimTemplates is immutable"),
            "{name}: {}",
            status.message
        );
    }
    // Other fields stay mutable.
    sandboxes
        .patch(
            "with-volume",
            &pp,
            &Patch::Merge(json!({"spec": {"operatingMode": "Suspended"}})),
        )
        .await
        .unwrap();

    // The Service is named after the Sandbox: over 63 characters, no Service.
    let sandbox = |name: &str, service: bool| -> Sandbox {
        from(json!({"metadata": {"name": name},
                    "spec": {"podTemplate": pod_template(), "service": service}}))
    };
    let refused = |err: kube::Error, what: &str| {
        let kube::Error::Api(status) = &err else {
            panic!("{what}: expected an API error, got {err}");
        };
        assert_eq!(status.code, 422, "{what}: {status:?}");
        assert!(
            status
                .message
                .contains(sandbox_api::v1beta1::SERVICE_NAME_LENGTH_MESSAGE),
            "{what}: {}",
            status.message
        );
    };
    let long = "l".repeat(64);
    let err = sandboxes
        .create(&PostParams::default(), &sandbox(&long, true))
        .await
        .unwrap_err();
    refused(err, "create with the Service on");
    sandboxes
        .create(&PostParams::default(), &sandbox(&"l".repeat(63), true))
        .await
        .expect("63 characters are a DNS label");
    sandboxes
        .create(&PostParams::default(), &sandbox(&long, false))
        .await
        .expect("a long name without a Service");
    let err = sandboxes
        .patch(
            &long,
            &pp,
            &Patch::Merge(json!({"spec": {"service": true}})),
        )
        .await
        .unwrap_err();
    refused(err, "turning the Service on");

    cluster.stop().unwrap();
}
