//! `sandbox-bench publish`: runs into the static history site. Everything is read and
//! rendered before anything is written (see `crate::publish`); the site is whatever
//! `sandbox_reports::history` renders from the updated `history.json`.

use std::collections::BTreeSet;

use sandbox_reports::history::{
    Entry, KneeRunInfo, Mark, MarkKind, Published, render_index, render_summary, site_badges,
};

use crate::cli::PublishArgs;
use crate::exit;
use crate::publish::PublishError;
use crate::publish::find::{self, FoundRun};
use crate::publish::site::{self, HISTORY_FILE, Loaded, PlannedFile};

pub fn run(args: &PublishArgs) -> u8 {
    match publish(args) {
        Ok(outcome) => {
            report(args, &outcome);
            if args.fail_on_regression && !outcome.regressions.is_empty() {
                exit::CHECK_FAILED
            } else {
                exit::OK
            }
        }
        Err(PublishError::BadInput(message)) => {
            eprintln!("error: {message}\nnothing was published");
            exit::BAD_INPUT
        }
        Err(PublishError::Io(message)) => {
            eprintln!("error: {message}");
            exit::INFRASTRUCTURE
        }
    }
}

/// What a publish did.
#[derive(Debug)]
pub struct Outcome {
    pub published: Vec<Published>,
    /// Regressions marked on the runs given (new or already in the history).
    pub regressions: Vec<Mark>,
    pub history_runs: usize,
    pub loaded: Loaded,
}

/// Publishes the runs under `args.runs` into `args.site`.
pub fn publish(args: &PublishArgs) -> Result<Outcome, PublishError> {
    if args.commit.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(PublishError::BadInput("--commit must not be empty".into()));
    }
    let dirs = find::run_dirs(&args.runs, &args.site)?;
    if dirs.is_empty() {
        return Err(PublishError::BadInput(format!(
            "no run under {}: a run directory holds results.json, knee.json or conformance.json",
            args.runs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Every run read and checked before the site is touched.
    let runs = dirs
        .iter()
        .map(|dir| find::read_run(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut history, loaded) = site::load_history(&args.site)?;

    let mut files: Vec<PlannedFile> = Vec::new();
    let mut entries = Vec::new();
    for run in &runs {
        let mut entry = entry_of(run);
        if entry.commit.is_none() {
            entry.commit.clone_from(&args.commit);
        }
        let (pages, has_report) = site::run_files(run, &entry)?;
        if has_report {
            entry.report = Some(entry.report_path());
        }
        files.extend(pages);
        entries.push(entry);
    }
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let mut published: Vec<Published> = Vec::new();
    for (id, added) in ids.into_iter().zip(history.add_all(entries)) {
        // The same run in two directories: published once.
        if !published.iter().any(|p| p.id == id) {
            published.push(Published { id, added });
        }
    }

    let render =
        |e: sandbox_reports::ReportError| PublishError::Io(format!("cannot render the site: {e}"));
    for named in site_badges(&history) {
        files.push(PlannedFile::new(
            format!("badges/{}", named.file),
            named.badge.svg(),
        ));
    }
    files.push(PlannedFile::new(
        "index.html",
        render_index(&history).map_err(render)?,
    ));
    files.push(PlannedFile::new(
        "summary.md",
        render_summary(&history, &published),
    ));
    // Last: until it is written, the site's history is the one it had.
    files.push(PlannedFile::new(
        HISTORY_FILE,
        history.to_json().map_err(render)?,
    ));
    site::write_all(&args.site, &files)?;

    let ids: BTreeSet<&str> = published.iter().map(|p| p.id.as_str()).collect();
    let regressions = history
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Regression && ids.contains(m.run.as_str()))
        .cloned()
        .collect();
    Ok(Outcome {
        regressions,
        history_runs: history.entries.len(),
        published,
        loaded,
    })
}

/// The history entry of a run found on disk.
fn entry_of(run: &FoundRun) -> Entry {
    match run {
        FoundRun::Bench { results, .. } => Entry::from_results(results),
        FoundRun::Knee { dir, report, runs } => {
            let info = KneeRunInfo::from_runs(runs).unwrap_or_else(|| KneeRunInfo {
                started_at: knee_started_at(dir),
                ..KneeRunInfo::default()
            });
            Entry::from_knee(report, &info)
        }
        FoundRun::Conformance { summary, .. } => Entry::from_conformance(summary),
    }
}

/// When a knee run without its controllers' runs started: the time its directory's name
/// carries (`sandbox-bench knee` names it `<scenario>-<YYYYMMDDTHHMMSSZ>`), else when its
/// `knee.json` was last written.
fn knee_started_at(dir: &std::path::Path) -> String {
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(stamp) = name.rsplit('-').next()
        && let Ok(time) = k8s_openapi::jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
    {
        return format!("{}Z", time.strftime("%Y-%m-%dT%H:%M:%S"));
    }
    std::fs::metadata(dir.join("knee.json"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| k8s_openapi::jiff::Timestamp::try_from(modified).ok())
        .map_or_else(
            || "unknown".into(),
            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

fn report(args: &PublishArgs, outcome: &Outcome) {
    use sandbox_reports::history::Added;
    let count = |added| {
        outcome
            .published
            .iter()
            .filter(|p| p.added == added)
            .count()
    };
    if outcome.loaded == Loaded::Upgraded {
        println!(
            "publish: {} was written by an older sandbox-bench; rewritten in the current format",
            args.site.join(HISTORY_FILE).display()
        );
    }
    println!(
        "publish: {} runs ({} new, {} updated, {} unchanged) into {}; the history holds {} runs",
        outcome.published.len(),
        count(Added::New),
        count(Added::Replaced),
        count(Added::Unchanged),
        args.site.display(),
        outcome.history_runs
    );
    for mark in &outcome.regressions {
        let against = if mark.band.runs == 1 {
            format!("after {} in the run before", mark.format(mark.band.median))
        } else {
            format!(
                "outside {} – {} (median {} of {} runs)",
                mark.format(mark.band.low),
                mark.format(mark.band.high),
                mark.format(mark.band.median),
                mark.band.runs
            )
        };
        println!(
            "regression: {} {}: {} {against}, run {}",
            mark.series,
            mark.metric,
            mark.format(mark.value),
            mark.run
        );
    }
    println!("site: {}", args.site.join("index.html").display());
    println!("summary: {}", args.site.join("summary.md").display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knee_without_its_runs_takes_its_start_from_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let named = root.path().join("knee-smoke-20250601T140509Z");
        std::fs::create_dir(&named).unwrap();
        assert_eq!(knee_started_at(&named), "2025-06-01T14:05:09Z");
        let other = root.path().join("my-knee");
        std::fs::create_dir(&other).unwrap();
        assert_eq!(knee_started_at(&other), "unknown");
        std::fs::write(other.join("knee.json"), "{}").unwrap();
        let from_file = knee_started_at(&other);
        assert!(
            from_file.starts_with("20") && from_file.ends_with('Z'),
            "{from_file}"
        );
        assert_eq!(from_file.len(), "2025-06-01T14:05:09Z".len());
    }
}
