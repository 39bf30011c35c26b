//! Writes a generated week of runs (bench runs of two controllers, knee runs, conformance runs)
//! as run directories, to preview `sandbox-bench publish` and the history site without a
//! cluster: `cargo run -p sandbox-reports --example sample_runs -- DIR`, then
//! `sandbox-bench publish DIR --site DIR/site`. Nothing in them is a measurement.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sample-runs"));
    for run in sandbox_reports::sample::write_sample_runs(&dir)? {
        println!("{}", run.display());
    }
    Ok(())
}
