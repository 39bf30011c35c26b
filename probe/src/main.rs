//! `sandbox-probe`: prints one report, or serves reports over HTTP (see [`sandbox_probe::cli`]
//! and the crate's README).

use std::net::TcpListener;
use std::process::ExitCode;

use sandbox_probe::cli::{self, Command};
use sandbox_probe::{report, serve, signals};

fn main() -> ExitCode {
    match cli::parse_args(std::env::args().skip(1)) {
        Ok(Command::Once(request)) => match serde_json::to_string(&report::run(&request)) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("cannot encode the report: {e}")),
        },
        Ok(Command::Serve { listen }) => match run_server(listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Serves until SIGTERM or SIGINT, on which the signal thread exits the process with 0.
fn run_server(listen: std::net::SocketAddr) -> Result<(), String> {
    // Before anything spawns a thread, so that every thread inherits the blocked mask.
    let stop = signals::block(&signals::TERMINATION).map_err(|e| format!("block signals: {e}"))?;
    signals::exit_on(stop).map_err(|e| format!("signal thread: {e}"))?;
    let listener = TcpListener::bind(listen).map_err(|e| format!("listen on {listen}: {e}"))?;
    // The bound address, so that `--listen IP:0` tells which port the kernel picked.
    let bound = listener.local_addr().map_or(listen, |a| a);
    eprintln!("sandbox-probe: serving on {bound}");
    serve::serve(listener).map_err(|e| format!("serve: {e}"))
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
