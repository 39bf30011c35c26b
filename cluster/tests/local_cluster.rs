//! The local provider against real binaries: start-up, CRDs, scheduling on kwok nodes,
//! clean shutdown, two clusters side by side (one with its API server's GOGC set), and a
//! missing binary.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::local::{LocalCluster, LocalConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_on_a_kwok_node_becomes_ready_and_stop_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::start("pods", dir.path(), 2).await;
    let client = cluster.client().unwrap();
    let pids: Vec<u32> = cluster.state().components.iter().map(|c| c.pid).collect();
    let ports = cluster.state().ports.all();
    assert_eq!(
        pids.len(),
        5,
        "etcd, apiserver, controller-manager, scheduler, kwok"
    );

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "plain"},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let ready = common::eventually("the pod to be Ready", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("plain").await.ok()?;
            let status = p.status?;
            let ready = status
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some((p.spec?.node_name?, status.pod_ip?))
        }
    })
    .await;
    assert!(
        ready.0.starts_with("kwok-node-"),
        "scheduled on {}",
        ready.0
    );
    assert!(ready.1.starts_with("10.244."), "pod IP {}", ready.1);

    // Requests in flight together share the cluster client's one HTTP/2 connection; kube's
    // default HTTP/1.1 client, the control, opens a connection for each.
    let apiserver = cluster.state().ports.apiserver;
    let config = sandbox_cluster::load_config(&cluster.state().kubeconfig, None)
        .await
        .unwrap();
    let forty_lists = |client: kube::Client| async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let params = ListParams::default();
        let lists = (0..40).map(|_| pods.list(&params));
        for list in futures::future::join_all(lists).await {
            assert_eq!(list.unwrap().items.len(), 1);
        }
        connections_to(apiserver)
    };
    let open = forty_lists(cluster.client().unwrap()).await;
    assert_eq!(open, 1, "HTTP/2: connections after 40 requests at once");
    let http1 = kube::Client::try_from(config).unwrap();
    let open = forty_lists(http1).await;
    assert!(
        open > 4,
        "HTTP/1.1: {open} connections after 40 requests at once"
    );

    let logs = dir.path().join("logs");
    cluster.stop().unwrap();
    common::assert_gone(&pids, &ports);
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ] {
        let log = logs.join(format!("{component}.log"));
        assert!(log.exists(), "{} missing", log.display());
    }
    assert!(
        !dir.path().join("cluster.json").exists(),
        "state file left behind"
    );
    assert!(!dir.path().join("etcd").exists(), "etcd's data left behind");
}

/// Established TCP connections of this process to `port` on loopback: the sockets among this
/// process's file descriptors that `/proc/self/net/tcp` lists as connected to that port.
fn connections_to(port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let wanted = format!(":{port:04X}");
    std::fs::read_to_string("/proc/self/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        // local, remote, state (01: established), …, inode (the tenth field)
        .filter(|f| f.len() > 9 && f[2].ends_with(&wanted) && f[3] == "01")
        .filter(|f| inodes.contains(f[9]))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_run_side_by_side() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut b_config =
        LocalConfig::new("side-b", b_dir.path().to_path_buf(), Binaries::locate(None));
    b_config.apiserver_gogc = Some(400);
    let (a, b) = tokio::join!(common::start("side-a", a_dir.path(), 1), async {
        LocalCluster::start(b_config)
            .await
            .expect("local cluster side-b")
    });
    // Each API server's Go runtime runs with the GOGC it was given, Go's default without one.
    assert_eq!(gogc_percent(&a).await, "100");
    assert_eq!(gogc_percent(&b).await, "400");
    let (pa, pb) = (a.state().ports.all(), b.state().ports.all());
    assert!(
        pa.iter().all(|p| !pb.contains(p)),
        "shared ports: {pa:?} {pb:?}"
    );

    // Each API server holds its own objects.
    let ns =
        |c: &LocalCluster| Api::<k8s_openapi::api::core::v1::Namespace>::all(c.client().unwrap());
    let mark: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "only-in-a"}})).unwrap();
    ns(&a).create(&PostParams::default(), &mark).await.unwrap();
    assert!(ns(&b).get_opt("only-in-a").await.unwrap().is_none());

    let pids: Vec<u32> = [&a, &b]
        .iter()
        .flat_map(|c| c.state().components.into_iter().map(|s| s.pid))
        .collect();
    a.stop().unwrap();
    // b must survive a's shutdown.
    assert!(ns(&b).list(&ListParams::default()).await.is_ok());
    b.stop().unwrap();
    common::assert_gone(&pids, &[pa, pb].concat());
}

/// The `go_gc_gogc_percent` the cluster's API server reports on `/metrics`.
async fn gogc_percent(cluster: &LocalCluster) -> String {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let metrics = cluster
        .client()
        .unwrap()
        .request_text(request)
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("go_gc_gogc_percent "))
        .unwrap_or_else(|| panic!("no go_gc_gogc_percent in /metrics"))
        .to_string()
}

#[tokio::test]
async fn a_missing_binary_is_named_and_nothing_starts() {
    let bin = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = LocalConfig::new(
        "missing",
        dir.path().to_path_buf(),
        Binaries::in_dir(bin.path().to_path_buf(), "--bin-dir"),
    );
    let err = match LocalCluster::start(config).await {
        Ok(_) => panic!("started without binaries"),
        Err(e) => e,
    };
    assert!(matches!(err, ClusterError::Binary(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("etcd not found at"), "{msg}");
    assert!(msg.contains("just setup"), "{msg}");
    assert!(!dir.path().join("logs").exists(), "something was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_harness_still_stops_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let cluster = common::start("panics", &path, 1).await;
        let pids: Vec<u32> = cluster.state().components.iter().map(|c| c.pid).collect();
        tx.send((pids, cluster.state().ports.all())).unwrap();
        panic!("the harness hit a bug while the cluster was up");
    });
    assert!(task.await.unwrap_err().is_panic());
    let (pids, ports) = rx.await.unwrap();
    common::assert_gone(&pids, &ports);
}
