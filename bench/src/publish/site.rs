//! The site's files. A publish reads `history.json` (if the site has one), then plans every
//! file it will write, in memory, and only then writes them: each to a temporary name in its
//! directory and renamed over the old one, `history.json` last. A refusal therefore writes
//! nothing, and a failure part-way leaves the old history with at most some runs' pages added,
//! which the next publish writes again.

use std::path::{Path, PathBuf};

use sandbox_reports::history::{Entry, HISTORY_SCHEMA, History};
use sandbox_reports::schema::{is_newer, schema_of};
use sandbox_reports::{ReportError, render_conformance_html};

use super::PublishError;
use super::find::FoundRun;

/// The history file's name in the site.
pub const HISTORY_FILE: &str = "history.json";

/// How the site's history was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// No `history.json` yet: a new site.
    New,
    /// As this build writes it.
    Current,
    /// Written by an older sandbox-bench: read with today's defaults, written back upgraded.
    Upgraded,
}

/// Reads the site's `history.json`; refuses one of another schema with what to do about it.
pub fn load_history(site: &Path) -> Result<(History, Loaded), PublishError> {
    let path = site.join(HISTORY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((History::default(), Loaded::New));
        }
        Err(e) => {
            return Err(PublishError::Io(format!(
                "{}: cannot read: {e}",
                path.display()
            )));
        }
    };
    match History::from_json(&text) {
        Ok(history) => {
            let same = history.to_json().is_ok_and(|json| json == text);
            Ok((
                history,
                if same {
                    Loaded::Current
                } else {
                    Loaded::Upgraded
                },
            ))
        }
        Err(ReportError::UnsupportedFileSchema { found, .. }) => {
            let why = if is_newer(&found, HISTORY_SCHEMA) {
                "the site was built by a newer sandbox-bench; publish with that version (or \
                 newer), or choose another --site"
            } else {
                "it is not a sandbox-bench history this version knows; choose another --site"
            };
            Err(PublishError::BadInput(format!(
                "{}: schema `{found}`, this sandbox-bench reads `{HISTORY_SCHEMA}`: {why}",
                path.display()
            )))
        }
        Err(error) => {
            let detail = std::error::Error::source(&error)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            let schema = schema_of(&text).ok().flatten().unwrap_or_default();
            Err(PublishError::BadInput(format!(
                "{}: {error}{detail} (schema `{schema}`); repair it or choose another --site",
                path.display()
            )))
        }
    }
}

/// A file a publish writes: where in the site, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

impl PlannedFile {
    pub fn new(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        PlannedFile {
            path: path.into(),
            contents: contents.into(),
        }
    }
}

/// Reads `from` into a planned file at `to`, if it exists.
fn copy(from: &Path, to: String) -> Result<Option<PlannedFile>, PublishError> {
    match std::fs::read(from) {
        Ok(contents) => Ok(Some(PlannedFile::new(to, contents))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PublishError::Io(format!(
            "{}: cannot read: {e}",
            from.display()
        ))),
    }
}

/// The run's pages as the site keeps them under `runs/<id>/`, and whether its own page (the
/// one the history links) is among them. A bench run's `report.html`; a knee run's
/// `knee.html` with each controller's `report.html` in a directory of its own beside it (where
/// `knee.html` links it); a conformance run's `conformance.json` and a `conformance.html`
/// rendered from it.
pub fn run_files(run: &FoundRun, entry: &Entry) -> Result<(Vec<PlannedFile>, bool), PublishError> {
    let base = format!("runs/{}", entry.id);
    let mut files = Vec::new();
    match run {
        FoundRun::Bench { dir, .. } => {
            files.extend(copy(&dir.join("report.html"), entry.report_path())?);
        }
        FoundRun::Knee { dir, report, .. } => {
            files.extend(copy(&dir.join("knee.html"), entry.report_path())?);
            for run in report.controllers.values() {
                if let Some(name) = Path::new(&run.run).file_name() {
                    let name = name.to_string_lossy();
                    files.extend(copy(
                        &dir.join(&*name).join("report.html"),
                        format!("{base}/{name}/report.html"),
                    )?);
                }
            }
        }
        FoundRun::Conformance { dir, summary } => {
            files.extend(copy(
                &dir.join("conformance.json"),
                format!("{base}/conformance.json"),
            )?);
            files.push(PlannedFile::new(
                entry.report_path(),
                render_conformance_html(summary),
            ));
        }
    }
    let has_report = files
        .iter()
        .any(|file| file.path == Path::new(&entry.report_path()));
    Ok((files, has_report))
}

/// Writes every file under `site`, in order, each through a temporary name and a rename.
pub fn write_all(site: &Path, files: &[PlannedFile]) -> Result<(), PublishError> {
    for file in files {
        write_atomic(&site.join(&file.path), &file.contents)?;
    }
    Ok(())
}

fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), PublishError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        PublishError::Io(format!("{}: cannot {what}: {e}", path.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // In the same directory, so the rename cannot cross file systems; hidden, so a static
    // host never serves a leftover.
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, contents).map_err(|e| io("write", &temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io("rename into place", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_reports::history::{Entry, KneeRunInfo};
    use sandbox_reports::sample::{sample_conformance, sample_knee, sample_results};

    #[test]
    fn a_missing_history_is_a_new_site_and_a_current_one_reads_back() {
        let site = tempfile::tempdir().unwrap();
        let (history, loaded) = load_history(site.path()).unwrap();
        assert_eq!((history, loaded), (History::default(), Loaded::New));
        let mut history = History::default();
        history.add(Entry::from_results(&sample_results().unwrap()));
        std::fs::write(site.path().join(HISTORY_FILE), history.to_json().unwrap()).unwrap();
        assert_eq!(
            load_history(site.path()).unwrap(),
            (history, Loaded::Current)
        );
    }

    #[test]
    fn an_older_history_is_upgraded() {
        let site = tempfile::tempdir().unwrap();
        let mut history = History::default();
        history.add(Entry::from_results(&sample_results().unwrap()));
        let mut old: serde_json::Value = serde_json::from_str(&history.to_json().unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("marks");
        std::fs::write(site.path().join(HISTORY_FILE), old.to_string()).unwrap();
        let (read, loaded) = load_history(site.path()).unwrap();
        assert_eq!(loaded, Loaded::Upgraded);
        assert_eq!(read, history);
    }

    #[test]
    fn a_newer_or_foreign_history_is_refused_with_what_to_do() {
        let site = tempfile::tempdir().unwrap();
        let path = site.path().join(HISTORY_FILE);
        let json = History::default().to_json().unwrap();
        std::fs::write(
            &path,
            json.replace(HISTORY_SCHEMA, "sandbox-bench/history/v2"),
        )
        .unwrap();
        let PublishError::BadInput(message) = load_history(site.path()).unwrap_err() else {
            panic!("not bad input")
        };
        assert!(
            message.contains("schema `sandbox-bench/history/v2`"),
            "{message}"
        );
        assert!(
            message.contains("built by a newer sandbox-bench"),
            "{message}"
        );
        std::fs::write(&path, json.replace(HISTORY_SCHEMA, "someone/else/v1")).unwrap();
        let PublishError::BadInput(message) = load_history(site.path()).unwrap_err() else {
            panic!("not bad input")
        };
        assert!(message.contains("not a sandbox-bench history"), "{message}");
        std::fs::write(
            &path,
            "{\"schema\": \"sandbox-bench/history/v1\", \"entries\": 3}",
        )
        .unwrap();
        let PublishError::BadInput(message) = load_history(site.path()).unwrap_err() else {
            panic!("not bad input")
        };
        assert!(message.contains("repair it"), "{message}");
    }

    #[test]
    fn each_kind_of_run_brings_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        let results = sample_results().unwrap();
        sandbox_reports::write_reports(dir.path(), &results).unwrap();
        let entry = Entry::from_results(&results);
        let run = FoundRun::Bench {
            dir: dir.path().to_path_buf(),
            results: Box::new(results),
        };
        let (files, has_report) = run_files(&run, &entry).unwrap();
        assert!(has_report);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, Path::new(&entry.report_path()));

        // A knee without its controllers' directories: knee.html alone.
        let knee_dir = tempfile::tempdir().unwrap();
        std::fs::write(knee_dir.path().join("knee.html"), "<html>").unwrap();
        std::fs::create_dir(knee_dir.path().join("reference")).unwrap();
        std::fs::write(knee_dir.path().join("reference/report.html"), "<r>").unwrap();
        let report = sample_knee();
        let entry = Entry::from_knee(&report, &KneeRunInfo::default());
        let run = FoundRun::Knee {
            dir: knee_dir.path().to_path_buf(),
            report,
            runs: Default::default(),
        };
        let (files, has_report) = run_files(&run, &entry).unwrap();
        assert!(has_report);
        let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                entry.report_path(),
                format!("runs/{}/reference/report.html", entry.id)
            ]
        );

        let summary = sample_conformance("2025-06-01T12:00:00Z", 0);
        let entry = Entry::from_conformance(&summary);
        let run = FoundRun::Conformance {
            dir: tempfile::tempdir().unwrap().path().to_path_buf(),
            summary,
        };
        let (files, has_report) = run_files(&run, &entry).unwrap();
        assert!(has_report, "conformance.html is rendered, not copied");
        assert_eq!(files.len(), 1);

        // A bench run without its report.html: nothing to link.
        let empty = tempfile::tempdir().unwrap();
        let results = sample_results().unwrap();
        let entry = Entry::from_results(&results);
        let run = FoundRun::Bench {
            dir: empty.path().to_path_buf(),
            results: Box::new(results),
        };
        assert_eq!(run_files(&run, &entry).unwrap(), (Vec::new(), false));
    }

    #[test]
    fn files_are_written_through_a_rename_leaving_no_temporary() {
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "old").unwrap();
        write_all(
            site.path(),
            &[
                PlannedFile::new("index.html", "new"),
                PlannedFile::new("runs/a/report.html", "a"),
            ],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(site.path().join("index.html")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(site.path().join("runs/a/report.html")).unwrap(),
            "a"
        );
        let leftovers: Vec<_> = std::fs::read_dir(site.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // A file where a directory must go: an I/O error naming it.
        let error = write_all(site.path(), &[PlannedFile::new("index.html/x", "x")]).unwrap_err();
        assert!(matches!(error, PublishError::Io(m) if m.contains("index.html")));
    }
}
