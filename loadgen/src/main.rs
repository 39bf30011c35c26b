use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sandbox_bench::binaries::Binaries;
use sandbox_bench::cli::{Cli, ClusterCommand, Command, ConformanceArgs, Target, UpArgs};
use sandbox_bench::cluster::ClusterError;
use sandbox_bench::cluster::local::{self, LocalCluster, LocalConfig, PodReadyDelay};
use sandbox_bench::conformance::{self, SuiteOptions};
use sandbox_bench::{crds, exit};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sandbox_bench=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cluster(ClusterCommand::Up(args)) => cluster_up(args).await,
        Command::Cluster(ClusterCommand::Down(target)) => cluster_down(&target),
        Command::Cluster(ClusterCommand::Status(target)) => cluster_status(&target).await,
        Command::Conformance(args) => Ok(conformance(args).await),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::INFRASTRUCTURE)
        }
    }
}

async fn cluster_up(args: UpArgs) -> Result<u8, ClusterError> {
    let dir = args.target.dir();
    let config = LocalConfig {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        pod_ready: PodReadyDelay {
            delay: args.pod_ready_delay,
            jitter: args.pod_ready_jitter,
        },
        timeout: args.timeout,
        ..LocalConfig::new(&args.target.name, dir, Binaries::locate(args.bin_dir))
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
        absolute(&info.kubeconfig).display()
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

fn cluster_down(target: &Target) -> Result<u8, ClusterError> {
    let state = local::stop_detached(&target.dir())?;
    println!(
        "cluster {} stopped; logs kept in {}",
        state.name,
        state.dir.join("logs").display()
    );
    Ok(exit::OK)
}

async fn cluster_status(target: &Target) -> Result<u8, ClusterError> {
    let (state, alive) = local::status(&target.dir())?;
    println!("cluster {} ({})", state.name, state.server);
    println!("kubeconfig: {}", state.kubeconfig.display());
    for (name, up) in &alive {
        println!(
            "  {name:<24} {}",
            if *up { "running" } else { "NOT RUNNING" }
        );
    }
    let ready = match sandbox_bench::cluster::connect(&state.kubeconfig, None).await {
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

async fn conformance(args: ConformanceArgs) -> u8 {
    let cases = conformance::cases::matching(&args.filter);
    if args.list {
        list_cases(&cases);
        return exit::OK;
    }
    if let Err(message) = args.validate() {
        eprintln!("error: {message}");
        return exit::BAD_INPUT;
    }
    if cases.is_empty() {
        eprintln!(
            "error: no case matches --filter {}; see `sandbox-bench conformance --list`",
            args.filter.join(", --filter ")
        );
        return exit::BAD_INPUT;
    }
    let junit = args.junit();
    let options = SuiteOptions {
        controller: args.controller,
        dir: args.dir(),
        kubeconfig: args.kubeconfig,
        context: args.context,
        controller_bin: args.controller_bin,
        upstream_dir: args.upstream_dir,
        controller_args: args.controller_args,
        cases,
        parallel: usize::from(args.parallel),
        image: args.image,
        bin_dir: args.bin_dir,
    };
    let report = match conformance::suite::run(options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    println!("{}", conformance::summary::render(&report));
    if let Err(e) = conformance::junit::write(&report, &junit) {
        eprintln!("error: cannot write {}: {e}", junit.display());
        return exit::INFRASTRUCTURE;
    }
    println!("JUnit XML: {}", junit.display());
    report.exit_code()
}

fn list_cases(cases: &[conformance::Case]) {
    let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let sections = cases.iter().map(|c| c.section.len()).max().unwrap_or(0);
    for case in cases {
        println!(
            "{:<width$}  §{:<sections$}  {}",
            case.name, case.section, case.checks
        );
    }
}

fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
