use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sandbox_controller::endpoints::{self, Routes};
use sandbox_controller::fence::Fence;
use sandbox_controller::flags::Flags;
use sandbox_controller::metrics::Metrics;
use sandbox_controller::readiness::{Readiness, Role};
use sandbox_controller::webhook::wire::{self, Endpoint};
use sandbox_controller::{config_map, leader, run};

// glibc's malloc took about a third of the controller's CPU under a claim burst (perf:
// `_int_malloc`, `malloc_consolidate`, `free`): watch events and patches are many short-lived
// buffers, which mimalloc's per-thread free lists serve for less (controller README, "The
// warm path"; its transparent huge pages are off in Cargo.toml, for the RSS).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes: 2 bad flags (clap's) or a bad value in the `agent-sandbox-config` ConfigMap,
/// 3 cannot reach or set up against the cluster.
const BAD_INPUT: u8 = 2;
const SETUP_FAILED: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_runtime=warn".into()),
        )
        // Logs are diagnostics, as upstream's are: stdout stays free for output.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let flags = Flags::parse_from(&cli);
    let flags = match configured(&cli, flags).await {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("error: {e:#}");
            let bad_input = e
                .downcast_ref::<config_map::ConfigError>()
                .is_some_and(config_map::ConfigError::is_bad_input);
            return ExitCode::from(if bad_input { BAD_INPUT } else { SETUP_FAILED });
        }
    };
    match serve(flags).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(SETUP_FAILED)
        }
    }
}

/// The flags with the `agent-sandbox-config` ConfigMap applied (read once, at startup).
async fn configured(cli: &[std::ffi::OsString], flags: Flags) -> anyhow::Result<Flags> {
    let client = run::client(&flags, None).await?;
    Ok(config_map::apply(&client, cli, flags).await?)
}

async fn serve(flags: Flags) -> anyhow::Result<()> {
    // The webhook's CRD patch is made by every replica, leader or not: never fenced.
    let unfenced = run::client(&flags, None).await?;
    let fence = flags.leader_elect.then(|| Arc::new(Fence::default()));
    let client = match &fence {
        Some(fence) => run::client(&flags, Some(fence.clone())).await?,
        None => unfenced.clone(),
    };
    let ignored = flags.ignored.given();
    if !ignored.is_empty() {
        tracing::warn!(flags = ?ignored, "accepted for compatibility with upstream, and ignored");
    }
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::new(if flags.leader_elect {
        Role::Standby
    } else {
        Role::Leading
    });
    serve_endpoints(&flags, &metrics, &readiness);

    if let Some(bind) = flags.webhook_bind_address.0 {
        let endpoint = match &flags.webhook_url {
            Some(url) => Endpoint::Url(url.clone()),
            None => Endpoint::Service {
                name: flags.webhook_service_name.clone(),
                namespace: flags.webhook_namespace.clone(),
            },
        };
        // Every replica serves conversions, leader or not.
        let server = wire::start(&unfenced, bind, &endpoint).await?;
        let addr = server.local_addr()?;
        let endpoint = endpoint.on_port(addr.port());
        tracing::info!(%addr, ?endpoint, "conversion webhook serving");
        tokio::spawn(async move {
            if let Err(error) = server.run().await {
                tracing::error!(%error, "conversion webhook stopped");
            }
        });
    }

    // The caches watch on a connection of their own (reads: never fenced).
    let clients = run::Clients {
        requests: client.clone(),
        watches: run::client(&flags, None).await?,
    };
    let controllers = run::run(clients, flags.clone(), metrics, readiness.clone());
    if let Some(fence) = fence {
        let namespace = leader_namespace(&flags)?;
        let pod_name = std::env::var("POD_NAME").ok().filter(|n| !n.is_empty());
        let holder = leader::identity(pod_name.as_deref(), std::process::id());
        // Renewals go out on a client of their own, which no reconcile rate limit delays.
        let leases = kube::Api::namespaced(run::lease_client(&flags).await?, &namespace);
        leader::lead(
            leader::Candidate::new(leases, holder),
            controllers,
            || readiness.set_role(Role::Leading),
            shutdown_signal(),
            &fence,
        )
        .await;
    } else {
        tokio::select! {
            () = controllers => {}
            () = shutdown_signal() => {}
        }
    }
    readiness.set_role(Role::Stopping);
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (as the kubelet stops a Pod) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM; stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
}

/// `/metrics` and the health probes, on one listener when they share an address.
fn serve_endpoints(flags: &Flags, metrics: &Arc<Metrics>, readiness: &Readiness) {
    let (m, h) = (
        flags.metrics_bind_address.0,
        flags.health_probe_bind_address.0,
    );
    let mut listeners = Vec::new();
    match (m, h) {
        (Some(a), Some(b)) if a == b => listeners.push((
            a,
            Routes {
                metrics: true,
                health: true,
            },
        )),
        _ => {
            listeners.extend(m.map(|a| {
                (
                    a,
                    Routes {
                        metrics: true,
                        health: false,
                    },
                )
            }));
            listeners.extend(h.map(|a| {
                (
                    a,
                    Routes {
                        metrics: false,
                        health: true,
                    },
                )
            }));
        }
    }
    for (addr, routes) in listeners {
        let (metrics, readiness) = (metrics.clone(), readiness.clone());
        tokio::spawn(async move {
            if let Err(error) = endpoints::serve(addr, routes, metrics, readiness).await {
                tracing::error!(%addr, %error, "endpoint listener stopped");
            }
        });
    }
}

fn leader_namespace(flags: &Flags) -> anyhow::Result<String> {
    flags
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|ns| ns.trim().to_string())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "not running in a cluster: pass --leader-election-namespace, or --leader-elect=false"
            )
        })
}
