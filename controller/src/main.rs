use std::process::ExitCode;

use clap::Parser;
use sandbox_controller::flags::Flags;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_runtime=warn".into()),
        )
        .init();
    let flags = Flags::parse();
    let client = match client(&flags).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot build a Kubernetes client: {e}");
            return ExitCode::from(3);
        }
    };
    tokio::select! {
        () = sandbox_controller::run::run(client, flags) => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    ExitCode::SUCCESS
}

async fn client(flags: &Flags) -> anyhow::Result<kube::Client> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}
