use std::process::ExitCode;

use clap::Parser;
use sandbox_bench::cli::{Cli, ClusterCommand, Command};
use sandbox_bench::commands::{bench, cluster, compare, conformance, knee, publish};
use sandbox_bench::exit;

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
        Command::Cluster(ClusterCommand::Up(args)) => cluster::up(args).await,
        Command::Cluster(ClusterCommand::Down(target)) => cluster::down(&target),
        Command::Cluster(ClusterCommand::Status(target)) => cluster::status(&target).await,
        Command::Conformance(args) => Ok(conformance::run(args).await),
        Command::Bench(args) => Ok(bench::run(args).await),
        Command::Compare(args) => Ok(compare::run(&args)),
        Command::Knee(args) => Ok(knee::run(args).await),
        Command::Publish(args) => Ok(publish::run(&args)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::INFRASTRUCTURE)
        }
    }
}
