use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sandbox_controller::endpoints::{self, Routes};
use sandbox_controller::flags::Flags;
use sandbox_controller::metrics::Metrics;
use sandbox_controller::webhook::wire::{self, Endpoint};
use sandbox_controller::{leader, run};

/// Exit codes: 2 bad flags (clap's), 3 cannot reach or set up against the cluster.
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
    let flags = Flags::parse();
    match serve(flags).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(SETUP_FAILED)
        }
    }
}

async fn serve(flags: Flags) -> anyhow::Result<()> {
    let client = run::client(&flags).await?;
    let ignored = flags.ignored.given();
    if !ignored.is_empty() {
        tracing::warn!(flags = ?ignored, "accepted for compatibility with upstream, and ignored");
    }
    let metrics = Arc::new(Metrics::new());
    serve_endpoints(&flags, &metrics);

    if let Some(bind) = flags.webhook_bind_address.0 {
        let endpoint = match &flags.webhook_url {
            Some(url) => Endpoint::Url(url.clone()),
            None => Endpoint::Service {
                name: flags.webhook_service_name.clone(),
                namespace: flags.webhook_namespace.clone(),
            },
        };
        // Every replica serves conversions, leader or not.
        let server = wire::start(&client, bind, &endpoint).await?;
        tracing::info!(addr = %server.local_addr()?, ?endpoint, "conversion webhook serving");
        tokio::spawn(async move {
            if let Err(error) = server.run().await {
                tracing::error!(%error, "conversion webhook stopped");
            }
        });
    }

    let controllers = run::run(client.clone(), flags.clone(), metrics);
    let work = async {
        if flags.leader_elect {
            let namespace = leader_namespace(&flags)?;
            let holder = format!(
                "{}_{}",
                std::env::var("POD_NAME").unwrap_or_else(|_| "sandbox-controller".into()),
                std::process::id()
            );
            leader::lead(
                kube::Api::namespaced(client, &namespace),
                holder,
                controllers,
            )
            .await;
        } else {
            controllers.await;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; stopping");
            Ok(())
        }
    }
}

/// `/metrics` and the health probes, on one listener when they share an address.
fn serve_endpoints(flags: &Flags, metrics: &Arc<Metrics>) {
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
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(error) = endpoints::serve(addr, routes, metrics).await {
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
