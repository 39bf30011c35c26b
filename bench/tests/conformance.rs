//! `sandbox-bench conformance` as CI runs it: the whole suite against a local cluster with the
//! reference controller (every case must pass, and the JUnit file and conformance.json must
//! list every case), the pinned upstream build against the spec of its release, plus the flag
//! checks and exit codes that need no cluster.

mod common;

use common::{reference_controller, run, text};

use sandbox_bench::exit;
use sandbox_cluster::binaries::pinned;
use sandbox_conformance::cases;
use sandbox_conformance::release::Release;

#[test]
fn the_reference_controller_passes_every_case() {
    let controller = reference_controller();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/conformance.xml");
    let out = run(&[
        "conformance",
        "--controller",
        "reference",
        "--controller-bin",
        controller.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::OK)),
        "{}",
        text(&out)
    );
    let all = cases::all();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "conformance: {} passed, 0 failed, 0 skipped",
            all.len()
        )),
        "{}",
        text(&out)
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}\n{xml}", junit.display()));
    let testcases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let listed: Vec<&str> = testcases
        .iter()
        .filter_map(|n| n.attribute("name"))
        .collect();
    let expected: Vec<&str> = all.iter().map(|c| c.name).collect();
    assert_eq!(listed, expected, "JUnit test cases");
    for case in &testcases {
        assert!(
            !case
                .children()
                .any(|n| n.has_tag_name("failure") || n.has_tag_name("skipped")),
            "{:?} did not pass in {}",
            case.attribute("name"),
            junit.display()
        );
    }
    // conformance.json beside the JUnit file, for `sandbox-bench publish`: every case passed.
    let json = std::fs::read_to_string(junit.with_file_name("conformance.json")).unwrap();
    let summary = sandbox_reports::ConformanceSummary::from_json(&json).unwrap();
    assert_eq!(summary.controller, "reference");
    assert_eq!(
        (summary.passed, summary.failed, summary.skipped),
        (all.len() as u64, 0, 0)
    );
    let names: Vec<&str> = summary.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, expected, "conformance.json cases");
    assert!(summary.machine.is_some() && summary.controller_version.is_some());
    // The local cluster and the controller are gone: the run directory's cluster has no state.
    assert!(!dir.path().join("cluster/cluster.json").exists());
}

#[test]
fn list_names_every_case_with_its_spec_section_and_release() {
    let out = run(&["conformance", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for case in cases::all() {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(case.name))
            .unwrap_or_else(|| panic!("{} not listed:\n{stdout}", case.name));
        assert!(line.contains(&format!("§{}", case.section)), "{line}");
        assert!(line.contains(&format!(" {} ", case.since)), "{line}");
    }
    let out = run(&["conformance", "--list", "--filter", "warmpool-"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().all(|l| l.contains("warmpool-")), "{listed}");
    assert!(listed.contains("claim-warmpool-not-found"), "{listed}");
    assert!(!listed.contains("sandbox-ready"), "{listed}");
}

#[test]
fn bad_flags_exit_with_bad_input_before_anything_starts() {
    for args in [
        &["conformance", "--filter", "no-such-case"][..],
        &["conformance", "--controller", "external"],
        &[
            "conformance",
            "--controller",
            "upstream",
            "--controller-bin",
            "/x",
        ],
        &["conformance", "--parallel", "0"],
        &["conformance", "--controller", "nobody"],
        &["conformance", "--context", "ctx"],
        &["conformance", "--spec", "1.0.3"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(i32::from(exit::BAD_INPUT)),
            "{args:?}\n{}",
            text(&out)
        );
    }
}

/// `just conformance upstream`: the pinned upstream build passes every case of its own
/// release's spec and skips the cases of later releases. `just test` builds it first
/// (`ci/setup-upstream`) and names its directory in `SANDBOX_BENCH_UPSTREAM_DIR`.
#[test]
fn the_pinned_upstream_build_passes_every_case_of_its_release() {
    let upstream = std::env::var("SANDBOX_BENCH_UPSTREAM_DIR").expect(
        "SANDBOX_BENCH_UPSTREAM_DIR: the directory `ci/setup-upstream` prints (`just test` sets it)",
    );
    let release: Release = pinned("UPSTREAM_AGENT_SANDBOX_VERSION")
        .expect("ci/versions.env pins the upstream release")
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "conformance",
        "--controller",
        "upstream",
        "--upstream-dir",
        &upstream,
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::OK)),
        "{}",
        text(&out)
    );
    let all = cases::all();
    let of_its_release = all.iter().filter(|c| c.since <= release).count();
    assert!(of_its_release > 0 && of_its_release < all.len());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "conformance: {of_its_release} passed, 0 failed, {} skipped",
            all.len() - of_its_release
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn a_missing_controller_build_is_an_infrastructure_failure_that_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&[
        "conformance",
        "--controller",
        "upstream",
        "--upstream-dir",
        d,
        "--dir",
        d,
    ]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::INFRASTRUCTURE)),
        "{}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ci/setup-upstream"), "{stderr}");
    assert!(
        !dir.path().join("cluster").exists(),
        "a cluster was started for a controller that cannot run"
    );
}
