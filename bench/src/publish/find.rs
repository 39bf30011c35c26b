//! Finding runs: every directory under the given paths that holds a `knee.json`, a
//! `conformance.json` or a `results.json`, read and checked before anything is written. A run
//! directory is not searched further: a knee run's controller runs are part of the knee run
//! (its page links them), and a conformance run's `cluster/` holds no runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandbox_reports::{ConformanceSummary, KneeReport, Results};

use super::PublishError;

/// A run read from its directory.
#[derive(Debug, Clone)]
pub enum FoundRun {
    Bench {
        dir: PathBuf,
        // Boxed: a results.json is large beside the other kinds' summaries.
        results: Box<Results>,
    },
    Knee {
        dir: PathBuf,
        report: KneeReport,
        /// Each controller's own run, by name, where its directory is beside `knee.json`.
        runs: BTreeMap<String, Results>,
    },
    Conformance {
        dir: PathBuf,
        summary: ConformanceSummary,
    },
}

impl FoundRun {
    pub fn dir(&self) -> &Path {
        match self {
            FoundRun::Bench { dir, .. }
            | FoundRun::Knee { dir, .. }
            | FoundRun::Conformance { dir, .. } => dir,
        }
    }
}

/// The run directories under `paths` (each a run directory, a directory to search, or a run's
/// JSON file), skipping `site`. Sorted, without duplicates.
pub fn run_dirs(paths: &[PathBuf], site: &Path) -> Result<Vec<PathBuf>, PublishError> {
    let site = std::fs::canonicalize(site).ok();
    let mut found = Vec::new();
    for path in paths {
        let start = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else if path.is_dir() {
            path.clone()
        } else {
            return Err(PublishError::BadInput(format!(
                "{}: no such run or directory",
                path.display()
            )));
        };
        walk(&start, site.as_deref(), &mut found, true)?;
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn is_run(dir: &Path) -> bool {
    ["knee.json", "conformance.json", "results.json"]
        .iter()
        .any(|file| dir.join(file).is_file())
}

fn walk(
    dir: &Path,
    site: Option<&Path>,
    found: &mut Vec<PathBuf>,
    top: bool,
) -> Result<(), PublishError> {
    if site.is_some() && std::fs::canonicalize(dir).ok().as_deref() == site {
        return Ok(());
    }
    if is_run(dir) {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if top => {
            return Err(PublishError::Io(format!(
                "{}: cannot list: {e}",
                dir.display()
            )));
        }
        // Deep inside a search (a cluster's data directory, say): not a run, not fatal.
        Err(e) => {
            eprintln!("warning: {}: skipped, cannot list: {e}", dir.display());
            return Ok(());
        }
    };
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        // Symbolic links are not followed: no loops, no runs counted twice.
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect();
    subdirs.sort();
    for subdir in subdirs {
        walk(&subdir, site, found, false)?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, PublishError> {
    std::fs::read_to_string(path)
        .map_err(|e| PublishError::Io(format!("{}: cannot read: {e}", path.display())))
}

/// A file that is not what it claims (another schema, not JSON): bad input naming the file.
fn refused(path: &Path, error: sandbox_reports::ReportError) -> PublishError {
    let mut message = format!("{}: {error}", path.display());
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    PublishError::BadInput(message)
}

/// Reads the run in `dir`, refusing any file of a schema this build does not know.
pub fn read_run(dir: &Path) -> Result<FoundRun, PublishError> {
    let knee = dir.join("knee.json");
    if knee.is_file() {
        let report = KneeReport::from_json(&read(&knee)?).map_err(|e| refused(&knee, e))?;
        let mut runs = BTreeMap::new();
        for (name, run) in &report.controllers {
            // The knee recorded its runs' paths as seen from where it ran; the directories
            // themselves sit beside knee.json under their last component.
            let Some(last) = Path::new(&run.run).file_name() else {
                continue;
            };
            let file = dir.join(last).join("results.json");
            if file.is_file() {
                let results = Results::from_json(&read(&file)?).map_err(|e| refused(&file, e))?;
                runs.insert(name.clone(), results);
            }
        }
        return Ok(FoundRun::Knee {
            dir: dir.to_path_buf(),
            report,
            runs,
        });
    }
    let conformance = dir.join("conformance.json");
    if conformance.is_file() {
        let summary = ConformanceSummary::from_json(&read(&conformance)?)
            .map_err(|e| refused(&conformance, e))?;
        return Ok(FoundRun::Conformance {
            dir: dir.to_path_buf(),
            summary,
        });
    }
    let file = dir.join("results.json");
    let results = Results::from_json(&read(&file)?).map_err(|e| refused(&file, e))?;
    Ok(FoundRun::Bench {
        dir: dir.to_path_buf(),
        results: Box::new(results),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_reports::sample::write_sample_runs;

    #[test]
    fn runs_are_found_recursively_without_the_site_or_a_knees_own_runs() {
        let root = tempfile::tempdir().unwrap();
        let written = write_sample_runs(root.path()).unwrap();
        // A site inside the searched tree, holding a copy of a run: not a run.
        let site = root.path().join("site");
        std::fs::create_dir_all(site.join("runs/x")).unwrap();
        std::fs::copy(
            written[0].join("results.json"),
            site.join("runs/x/results.json"),
        )
        .unwrap();
        let found = run_dirs(&[root.path().to_path_buf()], &site).unwrap();
        let mut expected = written.clone();
        expected.sort();
        assert_eq!(found, expected);
        assert!(found.iter().all(|d| !d.starts_with(&site)));
        assert!(
            !found.iter().any(|d| d.ends_with("reference")),
            "a knee's own run"
        );
        // A run directory or its file named directly: the same run, once.
        let one = run_dirs(
            &[written[0].clone(), written[0].join("results.json")],
            &site,
        )
        .unwrap();
        assert_eq!(one, [written[0].clone()]);
        let missing = run_dirs(&[root.path().join("nope")], &site).unwrap_err();
        assert!(
            matches!(missing, PublishError::BadInput(m) if m.ends_with("nope: no such run or directory"))
        );
    }

    #[test]
    fn each_kind_of_run_is_read_and_a_knee_finds_its_controllers_runs() {
        let root = tempfile::tempdir().unwrap();
        let written = write_sample_runs(root.path()).unwrap();
        let kinds: Vec<&str> = written
            .iter()
            .map(|dir| match read_run(dir).unwrap() {
                FoundRun::Bench { .. } => "bench",
                FoundRun::Knee { runs, .. } => {
                    assert_eq!(
                        runs.keys().collect::<Vec<_>>(),
                        ["floor", "reference", "upstream"]
                    );
                    "knee"
                }
                FoundRun::Conformance { .. } => "conformance",
            })
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "bench").count(), 16);
        assert_eq!(kinds.iter().filter(|k| **k == "knee").count(), 3);
        assert_eq!(kinds.iter().filter(|k| **k == "conformance").count(), 8);
    }

    #[test]
    fn a_file_of_another_schema_is_refused_naming_file_and_schema() {
        let root = tempfile::tempdir().unwrap();
        let written = write_sample_runs(root.path()).unwrap();
        let knee = written
            .iter()
            .find(|d| d.join("knee.json").is_file())
            .unwrap();
        let file = knee.join("knee.json");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace("sandbox-bench/knee/v1", "sandbox-bench/knee/v7"),
        )
        .unwrap();
        let PublishError::BadInput(message) = read_run(knee).unwrap_err() else {
            panic!("not bad input")
        };
        assert!(
            message.starts_with(&file.display().to_string()),
            "{message}"
        );
        assert!(message.contains("`sandbox-bench/knee/v7`"), "{message}");
        std::fs::write(&file, "{not json").unwrap();
        let PublishError::BadInput(message) = read_run(knee).unwrap_err() else {
            panic!("not bad input")
        };
        assert!(message.contains("not valid JSON"), "{message}");
    }
}
