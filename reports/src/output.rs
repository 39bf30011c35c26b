//! Writing a run's report directory: `results.json`, `report.md`, `report.html`, `junit.xml`
//! (and `records.jsonl`, which the harness usually streams itself).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::ReportError;
use crate::record::{Record, write_records};
use crate::render::html::render_html;
use crate::render::junit::render_junit;
use crate::render::markdown::render_markdown;
use crate::results::Results;

/// Where `write_reports` put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub results_json: PathBuf,
    pub report_md: PathBuf,
    pub report_html: PathBuf,
    pub junit_xml: PathBuf,
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| ReportError::WriteFile {
        path: path.to_owned(),
        source,
    })
}

/// Renders everything first and writes only then, so a rendering failure leaves no
/// half-written directory behind.
pub fn write_reports(dir: &Path, results: &Results) -> Result<ReportFiles, ReportError> {
    let markdown = render_markdown(results);
    let html = render_html(results)?;
    let junit = render_junit(results);
    std::fs::create_dir_all(dir).map_err(|source| ReportError::WriteFile {
        path: dir.to_owned(),
        source,
    })?;
    let files = ReportFiles {
        results_json: dir.join("results.json"),
        report_md: dir.join("report.md"),
        report_html: dir.join("report.html"),
        junit_xml: dir.join("junit.xml"),
    };
    results.write(&files.results_json)?;
    write_file(&files.report_md, &markdown)?;
    write_file(&files.report_html, &html)?;
    write_file(&files.junit_xml, &junit)?;
    Ok(files)
}

/// Writes `records.jsonl` in one go.
pub fn write_records_file(path: &Path, records: &[Record]) -> Result<(), ReportError> {
    let file = File::create(path).map_err(|source| ReportError::WriteFile {
        path: path.to_owned(),
        source,
    })?;
    write_records(&mut BufWriter::new(file), records)
}

/// Reads `records.jsonl`.
pub fn read_records_file(path: &Path) -> Result<Vec<Record>, ReportError> {
    let file = File::open(path).map_err(|source| ReportError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    crate::record::read_records(std::io::BufReader::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{sample_records, sample_results};

    #[test]
    fn writes_every_file_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("runs/default");
        let results = sample_results().unwrap();
        let files = write_reports(&run, &results).unwrap();
        assert_eq!(Results::read(&files.results_json).unwrap(), results);
        for path in [&files.report_md, &files.report_html, &files.junit_xml] {
            assert!(std::fs::metadata(path).unwrap().len() > 100);
        }
        let records_path = run.join("records.jsonl");
        write_records_file(&records_path, &sample_records()).unwrap();
        assert_eq!(read_records_file(&records_path).unwrap(), sample_records());
    }
}
