//! Writes the reports of the built-in synthetic run, and `knee.html` of the synthetic knee run,
//! to a directory, to preview rendering
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
    let knee = dir.join("knee.html");
    std::fs::write(
        &knee,
        sandbox_reports::render_knee_html(&sandbox_reports::sample::sample_knee())?,
    )?;
    println!("{}", files.report_html.display());
    println!("{}", knee.display());
    Ok(())
}
