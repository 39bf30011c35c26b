//! The GitHub Actions workflows shipped for users (`ci/github/conformance.yml`,
//! `ci/github/publish.yml`): they parse, and they have the steps the README promises. They
//! cannot run here (no Docker, no GitHub); this keeps them from rotting silently.

use serde_json::Value;

const WORKFLOW: &str = include_str!("../../ci/github/conformance.yml");
const PUBLISH: &str = include_str!("../../ci/github/publish.yml");
const VERSIONS: &str = include_str!("../../ci/versions.env");
const JUSTFILE: &str = include_str!("../../Justfile");

fn workflow() -> Value {
    serde_saphyr::from_str(WORKFLOW).expect("ci/github/conformance.yml is valid YAML")
}

fn publish_workflow() -> Value {
    serde_saphyr::from_str(PUBLISH).expect("ci/github/publish.yml is valid YAML")
}

/// The workflow's one job.
fn job(doc: &Value) -> &Value {
    let jobs = doc["jobs"].as_object().expect("jobs");
    assert_eq!(jobs.len(), 1, "one job: {:?}", jobs.keys());
    jobs.values().next().unwrap()
}

fn steps(doc: &Value) -> Vec<Value> {
    job(doc)["steps"].as_array().expect("steps").clone()
}

fn step_names(doc: &Value) -> Vec<String> {
    steps(doc)
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Fails unless `promised` appear in `names` in this order (others may sit between).
fn assert_in_order(names: &[String], promised: &[&str]) {
    let mut at = 0;
    for name in promised {
        let found = names[at..]
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("step {name:?} missing or out of order in {names:?}"));
        at += found + 1;
    }
}

fn step(doc: &Value, name: &str) -> Value {
    steps(doc)
        .into_iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step named {name:?}"))
}

/// A step's shell script.
fn run(step: &Value) -> String {
    step["run"].as_str().unwrap_or("").to_string()
}

#[test]
fn the_workflow_has_its_triggers_and_one_job_on_linux() {
    let doc = workflow();
    assert_eq!(doc["name"], "conformance");
    assert!(doc["on"]["pull_request"].is_null() && doc["on"].get("pull_request").is_some());
    assert!(doc["on"].get("workflow_dispatch").is_some());
    let job = job(&doc);
    assert!(job["runs-on"].as_str().unwrap().starts_with("ubuntu-"));
    assert!(job["timeout-minutes"].as_u64().is_some());
}

#[test]
fn every_promised_step_is_there_in_order() {
    let doc = workflow();
    assert_in_order(
        &step_names(&doc),
        &[
            "Checkout",
            "Install Rust",
            "Install Go",
            "Install just",
            "Install kind",
            "Set up kind offline",
            "Create the kind cluster",
            "Conformance",
            "Bench",
            "Job summary",
            "Upload runs",
            "Gate on conformance and SLOs",
        ],
    );
    assert_eq!(step(&doc, "Checkout")["uses"], "actions/checkout@v4");
}

#[test]
fn tools_come_from_the_pinned_versions() {
    let doc = workflow();
    for key in [
        "KIND_VERSION",
        "KIND_NODE_IMAGE",
        "JUST_VERSION",
        "GO_VERSION",
    ] {
        assert!(
            VERSIONS.lines().any(|l| l.starts_with(&format!("{key}="))),
            "ci/versions.env has no {key}"
        );
    }
    assert!(run(&step(&doc, "Read pinned versions")).contains("ci/versions.env"));
    assert!(run(&step(&doc, "Install kind")).contains("${KIND_VERSION}"));
    assert!(run(&step(&doc, "Install just")).contains("$JUST_VERSION"));
    assert!(run(&step(&doc, "Create the kind cluster")).contains("--image \"$KIND_NODE_IMAGE\""));
}

#[test]
fn the_offline_node_image_is_an_option_that_replaces_kinds_download_and_image() {
    let doc = workflow();
    let input = &doc["on"]["workflow_dispatch"]["inputs"]["node-image"];
    assert_eq!(input["options"], serde_json::json!(["registry", "offline"]));
    assert_eq!(input["default"], "registry");
    let from = doc["jobs"]["kind"]["env"]["NODE_IMAGE_FROM"]
        .as_str()
        .unwrap();
    assert!(
        from.contains("inputs.node-image") && from.ends_with("'registry' }}"),
        "{from}"
    );
    assert_eq!(
        step(&doc, "Install kind")["if"],
        "env.NODE_IMAGE_FROM != 'offline'"
    );
    let offline = step(&doc, "Set up kind offline");
    assert_eq!(offline["if"], "env.NODE_IMAGE_FROM == 'offline'");
    let script = run(&offline);
    assert!(
        script.contains("ci/setup-kind") && script.contains("$GITHUB_PATH"),
        "{script}"
    );
    assert!(
        script.contains("KIND_NODE_IMAGE=$KIND_OFFLINE_NODE_IMAGE"),
        "{script}"
    );
    assert!(
        VERSIONS
            .lines()
            .any(|l| l.starts_with("KIND_OFFLINE_NODE_IMAGE="))
    );
}

#[test]
fn conformance_and_bench_run_against_the_kind_cluster() {
    let doc = workflow();
    let conformance = run(&step(&doc, "Conformance"));
    assert!(
        conformance.contains("just conformance reference --kubeconfig \"$KIND_KUBECONFIG\""),
        "{conformance}"
    );
    let bench = run(&step(&doc, "Bench"));
    assert!(
        bench.contains(
            "just bench scenario=scenarios/kind-warm-pool.yaml kubeconfig=\"$KIND_KUBECONFIG\""
        ),
        "{bench}"
    );
    assert!(std::path::Path::new("../scenarios/kind-warm-pool.yaml").is_file());
}

#[test]
fn results_are_published_even_when_a_step_failed() {
    let doc = workflow();
    let upload = step(&doc, "Upload runs");
    assert!(
        upload["uses"]
            .as_str()
            .unwrap()
            .starts_with("actions/upload-artifact@")
    );
    assert_eq!(upload["with"]["path"], "runs/");
    let summary = step(&doc, "Job summary");
    assert!(run(&summary).contains("report.md"));
    assert!(run(&summary).contains("$GITHUB_STEP_SUMMARY"));
    for name in [
        "Job summary",
        "Upload runs",
        "Delete the kind cluster",
        "Gate on conformance and SLOs",
    ] {
        assert_eq!(step(&doc, name)["if"], "always()", "{name}");
    }
}

#[test]
fn the_job_fails_on_a_conformance_failure_or_an_slo_breach() {
    let doc = workflow();
    let gate = step(&doc, "Gate on conformance and SLOs");
    assert_eq!(
        gate["env"]["CONFORMANCE_EXIT"],
        "${{ steps.conformance.outputs.exit }}"
    );
    assert_eq!(gate["env"]["BENCH_EXIT"], "${{ steps.bench.outputs.exit }}");
    let script = run(&gate);
    assert!(script.contains("test \"$CONFORMANCE_EXIT\" = 0 && test \"$BENCH_EXIT\" = 0"));
    for code in ["0)", "1)", "2)", "3)"] {
        assert!(script.contains(code), "exit code {code} not explained");
    }
    // The steps that produce the codes keep going so that the results are still published.
    for name in ["Conformance", "Bench"] {
        assert!(run(&step(&doc, name)).starts_with("set +e"), "{name}");
        assert!(
            run(&step(&doc, name)).contains(">> \"$GITHUB_OUTPUT\""),
            "{name}"
        );
    }
}

// ci/github/publish.yml: the scenarios on main, published to gh-pages with the history kept,
// and the summary commented on pull requests.

fn publish_step(name: &str) -> Value {
    step(&publish_workflow(), name)
}

#[test]
fn publish_runs_on_main_on_pull_requests_and_by_hand_with_the_rights_it_needs() {
    let doc = publish_workflow();
    assert_eq!(doc["name"], "publish");
    assert_eq!(doc["on"]["push"]["branches"], serde_json::json!(["main"]));
    assert!(doc["on"]["pull_request"].is_null() && doc["on"].get("pull_request").is_some());
    let scenarios = &doc["on"]["workflow_dispatch"]["inputs"]["scenarios"];
    let default = scenarios["default"].as_str().unwrap();
    for name in ["default", "knee", "conformance"] {
        assert!(default.split(' ').any(|s| s == name), "{default}");
    }
    assert_eq!(doc["permissions"]["contents"], "write");
    assert_eq!(doc["permissions"]["pull-requests"], "write");
    let job = job(&doc);
    assert!(job["runs-on"].as_str().unwrap().starts_with("ubuntu-"));
    assert!(job["timeout-minutes"].as_u64().is_some());
    let env = job["env"]["SCENARIOS"].as_str().unwrap();
    assert!(
        env.contains("inputs.scenarios") && env.ends_with("'default knee conformance' }}"),
        "{env}"
    );
    // Main's publishes queue rather than cancel one another.
    let concurrency = &doc["concurrency"];
    assert!(concurrency["group"].as_str().unwrap().contains("'main'"));
    assert_eq!(
        concurrency["cancel-in-progress"],
        "${{ github.event_name == 'pull_request' }}"
    );
}

#[test]
fn publish_has_every_promised_step_in_order() {
    let doc = publish_workflow();
    assert_in_order(
        &step_names(&doc),
        &[
            "Checkout",
            "Read pinned versions",
            "Install Rust",
            "Install Go",
            "Install just",
            "Run the scenarios",
            "Check out the history (gh-pages)",
            "Publish",
            "Push the history (main only)",
            "Comment on the pull request",
            "Job summary",
            "Upload the site",
            "Gate on the runs and regressions",
        ],
    );
    assert_eq!(publish_step("Checkout")["uses"], "actions/checkout@v4");
    assert!(run(&publish_step("Install just")).contains("$JUST_VERSION"));
}

#[test]
fn publish_runs_each_chosen_scenario_with_the_projects_recipes() {
    let script = run(&publish_step("Run the scenarios"));
    assert!(script.starts_with("set +e"), "{script}");
    assert!(script.contains("for scenario in $SCENARIOS"), "{script}");
    assert!(script.contains("knee) just knee ;;"), "{script}");
    assert!(
        script.contains("conformance) just conformance reference ;;"),
        "{script}"
    );
    assert!(
        script.contains("*) just bench \"scenario=scenarios/$scenario.yaml\" ;;"),
        "{script}"
    );
    assert!(script.contains(">> \"$GITHUB_OUTPUT\""), "{script}");
    for scenario in ["default", "knee"] {
        let file = format!("../scenarios/{scenario}.yaml");
        assert!(std::path::Path::new(&file).is_file(), "{file}");
    }
    for recipe in [
        "\nknee *args:",
        "\nbench *args:",
        "\nconformance controller=",
        "\npublish *args:",
    ] {
        assert!(JUSTFILE.contains(recipe), "the Justfile has no {recipe:?}");
    }
}

#[test]
fn publish_keeps_the_history_of_gh_pages_and_pushes_it_from_main_only() {
    let checkout = run(&publish_step("Check out the history (gh-pages)"));
    // An existing gh-pages keeps its history; the first run starts an empty branch.
    assert!(
        checkout.contains("git fetch --no-tags --depth=1 origin gh-pages"),
        "{checkout}"
    );
    assert!(
        checkout.contains("git worktree add -B gh-pages site FETCH_HEAD"),
        "{checkout}"
    );
    assert!(
        checkout.contains("git worktree add --orphan -b gh-pages site"),
        "{checkout}"
    );

    let publish = publish_step("Publish");
    let script = run(&publish);
    assert!(script.starts_with("set +e"), "{script}");
    assert!(
        script.contains("just publish site=site --commit \"$COMMIT\" --fail-on-regression"),
        "{script}"
    );
    assert!(script.contains(">> \"$GITHUB_OUTPUT\""));
    assert!(
        publish["env"]["COMMIT"]
            .as_str()
            .unwrap()
            .contains("github.sha")
    );

    let push = publish_step("Push the history (main only)");
    let condition = push["if"].as_str().unwrap();
    assert!(
        condition.contains("github.ref == 'refs/heads/main'"),
        "{condition}"
    );
    assert!(
        condition.contains("github.event_name != 'pull_request'"),
        "{condition}"
    );
    // Published with a regression too, never after bad input or a failed publish.
    assert!(
        condition.contains("steps.publish.outputs.exit == '0'"),
        "{condition}"
    );
    assert!(
        condition.contains("steps.publish.outputs.exit == '1'"),
        "{condition}"
    );
    assert_eq!(push["working-directory"], "site");
    let script = run(&push);
    assert!(script.contains("git push origin HEAD:gh-pages"), "{script}");
    assert!(
        !script.contains("--force") && !script.contains(" -f "),
        "history is never rewritten"
    );
    // No other step pushes.
    for step in steps(&publish_workflow()) {
        if step["name"] != "Push the history (main only)" {
            assert!(!run(&step).contains("git push"), "{}", step["name"]);
        }
    }
}

#[test]
fn publish_comments_the_summary_on_pull_requests_and_always_reports() {
    let comment = publish_step("Comment on the pull request");
    let condition = comment["if"].as_str().unwrap();
    assert!(
        condition.contains("github.event_name == 'pull_request'"),
        "{condition}"
    );
    let script = run(&comment);
    assert!(script.contains("gh pr comment \"$PR\""), "{script}");
    assert!(script.contains("--body-file site/summary.md"), "{script}");
    assert_eq!(comment["env"]["GH_TOKEN"], "${{ github.token }}");
    assert_eq!(
        comment["env"]["PR"],
        "${{ github.event.pull_request.number }}"
    );

    assert!(run(&publish_step("Job summary")).contains("site/summary.md"));
    let site = publish_step("Upload the site");
    assert!(
        site["uses"]
            .as_str()
            .unwrap()
            .starts_with("actions/upload-artifact@")
    );
    assert_eq!(site["with"]["path"], "site/");
    for name in [
        "Job summary",
        "Upload the site",
        "Upload runs",
        "Gate on the runs and regressions",
    ] {
        assert_eq!(publish_step(name)["if"], "always()", "{name}");
    }
    let gate = publish_step("Gate on the runs and regressions");
    assert_eq!(gate["env"]["RUNS_EXIT"], "${{ steps.runs.outputs.exit }}");
    assert_eq!(
        gate["env"]["PUBLISH_EXIT"],
        "${{ steps.publish.outputs.exit }}"
    );
    let script = run(&gate);
    assert!(script.contains("test \"$RUNS_EXIT\" = 0 && test \"$PUBLISH_EXIT\" = 0"));
    for code in ["0)", "1)", "2)", "3)"] {
        assert!(script.contains(code), "exit code {code} not explained");
    }
}
