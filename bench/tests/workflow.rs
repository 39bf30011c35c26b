//! The GitHub Actions workflow shipped for users (`ci/github/conformance.yml`): it parses, and
//! it has the steps the README promises. It cannot run here (no Docker, no GitHub); this keeps
//! it from rotting silently.

use serde_json::Value;

const WORKFLOW: &str = include_str!("../../ci/github/conformance.yml");
const VERSIONS: &str = include_str!("../../ci/versions.env");

fn workflow() -> Value {
    serde_saphyr::from_str(WORKFLOW).expect("ci/github/conformance.yml is valid YAML")
}

fn steps(doc: &Value) -> Vec<Value> {
    doc["jobs"]["kind"]["steps"]
        .as_array()
        .expect("jobs.kind.steps")
        .clone()
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
    let job = &doc["jobs"]["kind"];
    assert!(job["runs-on"].as_str().unwrap().starts_with("ubuntu-"));
    assert!(job["timeout-minutes"].as_u64().is_some());
}

#[test]
fn every_promised_step_is_there_in_order() {
    let doc = workflow();
    let names: Vec<String> = steps(&doc)
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_string())
        .collect();
    let promised = [
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
    ];
    let mut at = 0;
    for name in promised {
        let found = names[at..]
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("step {name:?} missing or out of order in {names:?}"));
        at += found + 1;
    }
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
