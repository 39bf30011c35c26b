//! `sandbox-bench cluster up | down | status`: a local cluster kept running between commands.

use std::time::Duration;

use crate::cli::{Target, UpArgs};
use crate::exit;
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::crds;
use sandbox_cluster::local::{self, LocalCluster, LocalConfig, PodReadyDelay};

pub async fn up(args: UpArgs) -> Result<u8, ClusterError> {
    let dir = args.target.dir();
    let config = LocalConfig {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        pod_ready: PodReadyDelay {
            delay: args.pod_ready_delay,
            jitter: args.pod_ready_jitter,
        },
        timeout: args.timeout,
        apiserver_gogc: args.apiserver_gogc,
        real_node: if args.real_node {
            let images = dir.join("images");
            let bins = sandbox_cluster::node_images::node_bin_dir();
            Some(sandbox_cluster::node_images::prepare(&bins, &images)?)
        } else {
            None
        },
        ..LocalConfig::new(
            &args.target.name,
            dir.clone(),
            Binaries::locate(args.bin_dir),
        )
    };
    // Dropping the start future on Ctrl-C drops the half-built cluster, which stops it.
    let cluster = tokio::select! {
        started = start_with_crds(config, !args.no_crds) => started?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; stopped everything that had started");
            return Ok(exit::INTERRUPTED);
        }
    };
    let info = cluster.info();
    println!("cluster {} is up: {}", info.name, info.server);
    println!("kubeconfig: {}", info.kubeconfig.display());
    println!(
        "  export KUBECONFIG={}",
        super::absolute(&info.kubeconfig).display()
    );
    if args.foreground {
        println!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        cluster.stop()?;
        println!("cluster {} stopped", info.name);
    } else {
        cluster.detach();
        println!(
            "stop it with: sandbox-bench cluster down --name {}",
            info.name
        );
    }
    Ok(exit::OK)
}

async fn start_with_crds(config: LocalConfig, crds: bool) -> Result<LocalCluster, ClusterError> {
    let cluster = LocalCluster::start(config).await?;
    if crds && let Some(client) = cluster.client() {
        let names = crds::install(&client, Duration::from_secs(60)).await?;
        eprintln!("installed CRDs: {}", names.join(", "));
    }
    Ok(cluster)
}

pub fn down(target: &Target) -> Result<u8, ClusterError> {
    let state = local::stop_detached(&target.dir())?;
    println!(
        "cluster {} stopped; logs kept in {}",
        state.name,
        state.dir.join("logs").display()
    );
    Ok(exit::OK)
}

pub async fn status(target: &Target) -> Result<u8, ClusterError> {
    let (state, alive) = local::status(&target.dir())?;
    println!("cluster {} ({})", state.name, state.server);
    println!("kubeconfig: {}", state.kubeconfig.display());
    for (name, up) in &alive {
        println!(
            "  {name:<24} {}",
            if *up { "running" } else { "NOT RUNNING" }
        );
    }
    let ready = match sandbox_cluster::connect(&state.kubeconfig, None).await {
        Ok(client) => client.apiserver_version().await.is_ok(),
        Err(_) => false,
    };
    println!(
        "  {:<24} {}",
        "API server",
        if ready { "reachable" } else { "NOT REACHABLE" }
    );
    Ok(if ready && alive.iter().all(|(_, up)| *up) {
        exit::OK
    } else {
        exit::INFRASTRUCTURE
    })
}
