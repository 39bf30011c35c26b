//! `sandbox-bench publish` as a user runs it: the built binary over run directories in a
//! temporary tree (the generated week of runs of `sandbox_reports::sample`), checking the
//! files it writes, that publishing again changes nothing, and its exit codes: 0 published,
//! 1 a regression with --fail-on-regression, 2 a run or a site of another schema (nothing
//! written).

use std::path::{Path, PathBuf};
use std::process::Output;

use sandbox_reports::history::History;
use sandbox_reports::sample::{sample_results, write_sample_runs};

const BIN: &str = env!("CARGO_BIN_EXE_sandbox-bench");

fn publish(args: &[&Path], flags: &[&str]) -> Output {
    let output = std::process::Command::new(BIN)
        .arg("publish")
        .args(args)
        .args(flags)
        .output()
        .unwrap();
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn history(site: &Path) -> History {
    History::from_json(&std::fs::read_to_string(site.join("history.json")).unwrap()).unwrap()
}

/// Every `href="…"` of a page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

/// Every file under `dir` with its bytes, relative paths sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(root).unwrap().to_path_buf(), bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_week_of_runs_becomes_a_site_and_publishing_again_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let runs = root.path().join("runs");
    write_sample_runs(&runs).unwrap();
    // The default layout of `just publish`: the site inside the searched tree.
    let site = runs.join("site");

    let first = publish(&[&runs], &["--site", site.to_str().unwrap()]);
    assert_eq!(
        code(&first),
        0,
        "regressions do not fail without --fail-on-regression"
    );
    assert!(
        stdout(&first).contains("27 runs (27 new, 0 updated, 0 unchanged)"),
        "{}",
        stdout(&first)
    );
    assert!(stdout(&first).contains("regression: default · claim_ready (warm) · reference"));
    let history = history(&site);
    assert_eq!(history.entries.len(), 27);
    for file in [
        "index.html",
        "summary.md",
        "history.json",
        "badges/regressions.svg",
    ] {
        assert!(site.join(file).is_file(), "{file} missing");
    }
    // Every run's page is in the site and linked from index.html; every link resolves.
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let links = links(&index);
    for entry in &history.entries {
        let report = entry
            .report
            .as_deref()
            .expect("every sample run has its page");
        assert!(site.join(report).is_file(), "{report} missing");
        assert!(links.iter().any(|l| l == report), "{report} not linked");
    }
    for link in &links {
        assert!(site.join(link).is_file(), "{link} does not resolve");
    }
    // A knee run's page with the controllers' reports it links, beside it.
    let knee = history
        .entries
        .iter()
        .find_map(|e| e.report.as_deref().filter(|r| r.ends_with("/knee.html")))
        .unwrap();
    let knee_page = site.join(knee);
    let knee_links = self::links(&std::fs::read_to_string(&knee_page).unwrap());
    assert_eq!(knee_links.len(), 3, "{knee_links:?}");
    for link in knee_links {
        assert!(knee_page.parent().unwrap().join(&link).is_file(), "{link}");
    }
    // Badges are standalone SVG files.
    for entry in std::fs::read_dir(site.join("badges")).unwrap() {
        let svg = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    let summary = std::fs::read_to_string(site.join("summary.md")).unwrap();
    assert!(
        summary.starts_with("## sandbox-bench: 27 runs published"),
        "{summary}"
    );

    // Again: the same bytes everywhere, and it says so.
    let before = snapshot(&site);
    let again = publish(&[&runs], &["--site", site.to_str().unwrap()]);
    assert_eq!(code(&again), 0);
    assert!(stdout(&again).contains("27 runs (0 new, 0 updated, 27 unchanged)"));
    let after = snapshot(&site);
    let changed: Vec<&PathBuf> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| &a.0)
        .collect();
    assert_eq!(before.len(), after.len());
    // Only summary.md speaks of this publish ("27 already in the history").
    assert_eq!(changed, [Path::new("summary.md")]);
    assert!(
        !after
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with(".tmp"))
    );

    // Runs given twice (the tree and a part of it) count once; with --fail-on-regression
    // the regressed run among them fails the publish, naming it.
    let failing = publish(
        &[&runs, &runs.join("bench")],
        &["--site", site.to_str().unwrap(), "--fail-on-regression"],
    );
    assert_eq!(code(&failing), 1);
    assert!(
        stdout(&failing).contains("27 runs (0 new"),
        "{}",
        stdout(&failing)
    );
    assert!(stdout(&failing).contains("run 20250608T120000Z-bench-default-reference"));
    assert_eq!(self::history(&site).entries.len(), 27);
}

/// One bench run, written as the harness writes it, with its start and (no) commit.
fn bench_run(dir: &Path, started_at: &str) -> PathBuf {
    let mut results = sample_results().unwrap();
    results.meta.started_at = started_at.into();
    sandbox_reports::write_reports(dir, &results).unwrap();
    dir.to_path_buf()
}

#[test]
fn without_regressions_fail_on_regression_passes_and_commit_fills_the_gaps() {
    let root = tempfile::tempdir().unwrap();
    let run = bench_run(&root.path().join("runs/one"), "2025-06-01T12:00:00Z");
    let site = root.path().join("site");
    let output = publish(
        &[&run],
        &[
            "--site",
            site.to_str().unwrap(),
            "--fail-on-regression",
            "--commit",
            "abc123",
        ],
    );
    assert_eq!(code(&output), 0);
    let history = history(&site);
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].commit.as_deref(), Some("abc123"));
    assert!(history.marks.is_empty());
}

#[test]
fn a_run_of_another_schema_is_refused_and_nothing_is_written() {
    let root = tempfile::tempdir().unwrap();
    let good = bench_run(&root.path().join("runs/a"), "2025-06-01T12:00:00Z");
    let bad = bench_run(&root.path().join("runs/b"), "2025-06-02T12:00:00Z");
    let file = bad.join("results.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("sandbox-bench/results/v1", "sandbox-bench/results/v2"),
    )
    .unwrap();
    let site = root.path().join("site");
    let output = publish(&[&good, &bad], &["--site", site.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("`sandbox-bench/results/v2`"), "{message}");
    assert!(message.contains("nothing was published"), "{message}");
    assert!(!site.exists(), "the site was created");

    // Nothing to publish at all: bad input too.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = publish(&[&empty], &["--site", site.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("no run under"));
}

#[test]
fn a_site_of_a_newer_schema_is_refused_and_left_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let run = bench_run(&root.path().join("runs/a"), "2025-06-01T12:00:00Z");
    let site = root.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let newer = History::default()
        .to_json()
        .unwrap()
        .replace("sandbox-bench/history/v1", "sandbox-bench/history/v2");
    std::fs::write(site.join("history.json"), &newer).unwrap();
    let output = publish(&[&run], &["--site", site.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("built by a newer sandbox-bench"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        snapshot(&site),
        [(PathBuf::from("history.json"), newer.into_bytes())]
    );
}

#[test]
fn a_site_of_an_older_sandbox_bench_is_upgraded() {
    let root = tempfile::tempdir().unwrap();
    let first = bench_run(&root.path().join("runs/a"), "2025-06-01T12:00:00Z");
    let site = root.path().join("site");
    assert_eq!(
        code(&publish(&[&first], &["--site", site.to_str().unwrap()])),
        0
    );
    // As an early build wrote it: without the marks it has since kept.
    let path = site.join("history.json");
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("marks");
    std::fs::write(&path, old.to_string()).unwrap();

    let second = bench_run(&root.path().join("runs/b"), "2025-06-02T12:00:00Z");
    let output = publish(&[&second], &["--site", site.to_str().unwrap()]);
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("written by an older sandbox-bench; rewritten"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"marks\": []"), "{text}");
    assert_eq!(history(&site).entries.len(), 2);
}
