//! Writes the reports of the built-in synthetic run to a directory, to preview rendering
//! changes without a cluster: `cargo run -p sandbox-reports --example sample_report -- DIR`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sample-report"));
    let results = sandbox_reports::sample::sample_results()?;
    let files = sandbox_reports::write_reports(&dir, &results)?;
    sandbox_reports::write_records_file(
        &dir.join("records.jsonl"),
        &sandbox_reports::sample::sample_records(),
    )?;
    println!("{}", files.report_html.display());
    Ok(())
}
