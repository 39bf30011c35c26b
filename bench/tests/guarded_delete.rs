//! The harness deletes only objects carrying its run label, against a real API server: a
//! namespace without the label (or with another run's) is refused and left in place, and
//! nodeLoss deletes none of kwok's nodes the harness did not make, nor anything when the
//! run's namespace lacks the run label.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, ListParams, PostParams};
use sandbox_bench::faults::inject::{self, Held, Targets};
use sandbox_bench::faults::{FaultKind, Strike};
use sandbox_marks::guarded_delete::{GuardedDeleteError, Refusal};
use sandbox_marks::labels::{HARNESS_NODE_LABEL, RUN_LABEL};
use sandbox_marks::namespaces;
use serde_json::json;

async fn create_namespace(api: &Api<Namespace>, name: &str, labels: serde_json::Value) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Present and not being deleted.
async fn left_in_place(api: &Api<Namespace>, name: &str) -> bool {
    api.get_opt(name)
        .await
        .unwrap()
        .is_some_and(|ns| ns.metadata.deletion_timestamp.is_none())
}

fn node_loss() -> Strike {
    Strike {
        kind: FaultKind::NodeLoss,
        at: Duration::ZERO,
        outage: Duration::ZERO,
        pods: 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_objects_with_the_run_label_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::start("guarded", dir.path(), 2).await;
    let client = cluster.client().unwrap();
    let namespaces_api: Api<Namespace> = Api::all(client.clone());

    // A namespace named like a run's but without the run label is refused and stays.
    create_namespace(&namespaces_api, "bench-aaaaa", json!({})).await;
    let error = namespaces::delete(&client, "bench-aaaaa")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            GuardedDeleteError::Refused(Refusal::MissingLabel { object, key, want })
                if object.name == "bench-aaaaa" && key == RUN_LABEL && want == "aaaaa"
        ),
        "{error:?}"
    );
    let error = namespaces::delete_of_run(&client, "bench-aaaaa", "aaaaa")
        .await
        .unwrap_err();
    assert!(matches!(error, GuardedDeleteError::Refused(_)), "{error:?}");
    assert!(left_in_place(&namespaces_api, "bench-aaaaa").await);

    // Another run's namespace is refused too.
    create_namespace(&namespaces_api, "bench-bbbbb", json!({RUN_LABEL: "zzzzz"})).await;
    let error = namespaces::delete(&client, "bench-bbbbb")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            GuardedDeleteError::Refused(Refusal::WrongLabel { found, .. }) if found == "zzzzz"
        ),
        "{error:?}"
    );
    assert!(left_in_place(&namespaces_api, "bench-bbbbb").await);

    // The run's own namespace is deleted; a missing one is fine.
    create_namespace(&namespaces_api, "bench-ccccc", json!({RUN_LABEL: "ccccc"})).await;
    namespaces::delete(&client, "bench-ccccc").await.unwrap();
    assert!(!left_in_place(&namespaces_api, "bench-ccccc").await);
    namespaces::delete(&client, "bench-nosuch").await.unwrap();

    // The local cluster's kwok nodes carry the harness's node label; a kwok node that does
    // not (kwok's own label only) is never lost, though its name sorts first.
    let nodes: Api<Node> = Api::all(client.clone());
    let ours = format!("{}={}", HARNESS_NODE_LABEL.0, HARNESS_NODE_LABEL.1);
    let names = |list: Vec<Node>| -> Vec<String> {
        let mut names: Vec<String> = list.into_iter().filter_map(|n| n.metadata.name).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(
            nodes
                .list(&ListParams::default().labels(&ours))
                .await
                .unwrap()
                .items
        ),
        ["kwok-node-0", "kwok-node-1"]
    );
    let foreign: Node = serde_json::from_value(json!({"metadata": {"name": "a-foreign-kwok-node",
                                                   "labels": {"type": "kwok"}}}))
    .unwrap();
    nodes
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();

    let controllers = Mutex::new(Vec::new());
    let held = Held::default();
    let targets = |namespace: &str| Targets {
        client: client.clone(),
        namespace: namespace.to_string(),
        controllers: &controllers,
        cluster: Some(&cluster),
        lease_namespace: None,
    };
    let all_nodes = || async {
        names(
            nodes
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|n| n.metadata.deletion_timestamp.is_none())
                .collect(),
        )
    };

    // Pods of a namespace without the run label are no run's: nothing is deleted.
    let report = inject::run(
        &targets("bench-aaaaa"),
        &[node_loss()],
        Instant::now(),
        &held,
    )
    .await;
    assert!(report.fired.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0]
            .detail
            .contains("does not carry the label sandbox-bench/run=aaaaa"),
        "{report:?}"
    );
    assert_eq!(
        all_nodes().await,
        ["a-foreign-kwok-node", "kwok-node-0", "kwok-node-1"]
    );

    // In the run's namespace, a node of the harness is lost, not the foreign one.
    create_namespace(&namespaces_api, "bench-ddddd", json!({RUN_LABEL: "ddddd"})).await;
    let report = inject::run(
        &targets("bench-ddddd"),
        &[node_loss()],
        Instant::now(),
        &held,
    )
    .await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.fired.len(), 1, "{report:?}");
    assert!(
        report.fired[0]
            .detail
            .starts_with("node kwok-node-0 deleted"),
        "{report:?}"
    );
    let left = all_nodes().await;
    assert!(
        left.contains(&"a-foreign-kwok-node".to_string()),
        "{left:?}"
    );
    assert!(!left.contains(&"kwok-node-0".to_string()), "{left:?}");

    cluster.stop().unwrap();
}
