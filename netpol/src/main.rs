use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::future::join_all;
use sandbox_netpol::enforce::Enforcer;
use sandbox_netpol::flags::Flags;
use sandbox_netpol::iptables::Iptables;
use sandbox_netpol::sysctl;
use sandbox_netpol::watch::Caches;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

/// Exit codes: 2 bad flags (clap's own), 3 cannot reach the API server or iptables, 1 the
/// enforcer stopped or could not clean up.
const SETUP_FAILED: u8 = 3;
const FAILED: u8 = 1;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_runtime=warn".into()),
        )
        .init();
    let flags = Flags::parse();
    let (client, iptables) = match setup(&flags).await {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(SETUP_FAILED);
        }
    };
    run(flags, client, iptables).await
}

/// Everything that must work before enforcing: the API server answers, iptables runs, and
/// bridged frames are sent through iptables.
async fn setup(flags: &Flags) -> anyhow::Result<(kube::Client, Iptables)> {
    use anyhow::Context;
    let kubeconfig = kube::config::Kubeconfig::read_from(&flags.kubeconfig)
        .with_context(|| format!("reading {}", flags.kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let version = client
        .apiserver_version()
        .await
        .context("cannot reach the API server")?;
    tracing::info!(version = %version.git_version, node = %flags.node, "API server reachable");
    let iptables = Iptables {
        iptables: flags.iptables.clone(),
        restore: flags.iptables_restore.clone(),
    };
    iptables
        .owned_chains(&flags.chain_prefix)
        .await
        .context("cannot list the filter table")?;
    sysctl::enable_bridge_netfilter(Path::new(sysctl::BRIDGE_NF_CALL_IPTABLES))?;
    Ok((client, iptables))
}

async fn run(flags: Flags, client: kube::Client, iptables: Iptables) -> ExitCode {
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot handle signals: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let changed = Arc::new(Notify::new());
    let (caches, feeds) = Caches::new(&client, &changed);
    let enforcer = Enforcer {
        caches,
        changed,
        iptables: iptables.clone(),
        node: flags.node.clone(),
        prefix: flags.chain_prefix.clone(),
        debounce: flags.debounce(),
    };
    let stopped_by_signal = tokio::select! {
        result = enforcer.run() => {
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "enforcer stopped");
            }
            false
        }
        _ = join_all(feeds) => false,
        _ = term.recv() => true,
        _ = int.recv() => true,
    };
    // Whatever stopped us, leave no rules behind that nobody maintains.
    match iptables.teardown(&flags.chain_prefix).await {
        Ok(n) => tracing::info!(chains = n, "removed our jump and chains"),
        Err(error) => {
            tracing::error!(%error, "cleanup failed");
            return ExitCode::from(FAILED);
        }
    }
    if stopped_by_signal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}
