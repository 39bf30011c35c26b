//! `sandbox-bench bench` and `compare` as a user runs them: the smoke scenario end to end on a
//! local cluster with the reference controller (every file written, every claim measured, the
//! run's objects gone), an SLO breach turning into exit code 1, bad scenarios and flags
//! rejected before any cluster starts, and comparisons gating on regressions.

mod common;

use std::path::Path;

use common::{bench_with_reference, run, text};
use sandbox_bench::exit;
use sandbox_reports::{LaunchType, Phase, Results, read_records_file};

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

/// The smoke scenario with one more SLO that no run can meet.
fn smoke_with_impossible_slo(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string("../scenarios/smoke.yaml").unwrap();
    let text = text.replace(
        "slos:\n",
        "slos:\n  - {phase: acked, percentile: 50, maxMs: 0.001}\n",
    );
    let path = dir.join("smoke-impossible.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_smoke_scenario_measures_every_claim_and_an_slo_breach_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let scenario = smoke_with_impossible_slo(dir.path());
    let o = bench_with_reference(&scenario, &out);
    let log = text(&o);
    assert_eq!(code(&o), Some(i32::from(exit::CHECK_FAILED)), "{log}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| `claim_ready` |"), "{log}");
    assert!(stdout.contains("acked p50 ≤ 0.001 ms"), "{log}");
    assert!(
        stdout.contains(&format!("report:  {}", out.join("report.html").display())),
        "{log}"
    );

    // Every claim of the schedule was sent, turned Ready warm, and was stamped in order.
    let records = read_records_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(records.len(), 20, "{log}");
    for r in &records {
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.launch, LaunchType::Warm, "{r:?}");
        let stamps = [r.sent_us, r.acked_us, r.bound_us, r.claim_ready_us].map(Option::unwrap);
        assert!(
            r.intended_us <= stamps[0] + 1_000,
            "sent before its time: {r:?}"
        );
        assert!(
            stamps[0] <= stamps[1] && stamps[0] <= stamps[2] && stamps[2] <= stamps[3],
            "{r:?}"
        );
    }
    let results = Results::read(&out.join("results.json")).unwrap();
    let ready = results.phase(Phase::ClaimReady).unwrap();
    assert_eq!(ready.overall.count, 20);
    assert_eq!(results.errors.failed, 0);
    assert_eq!(results.meta.scenario, "smoke");
    assert_eq!(results.meta.environment.nodes, 1);
    assert!(
        results
            .meta
            .environment
            .controller
            .as_deref()
            .unwrap()
            .starts_with("reference")
    );
    // The SLO the scenario ships passes; the impossible one breaches.
    let verdicts: Vec<(String, bool)> = results
        .slo
        .checks
        .iter()
        .map(|c| (c.check.to_string(), c.outcome.passed()))
        .collect();
    assert!(
        verdicts.contains(&("acked p50 ≤ 0.001 ms".into(), false)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("claim_ready p99 (warm) ≤ 5000 ms".into(), true)),
        "{verdicts:?}"
    );
    // Scraped evidence: the controller's reconciles and the API server's claim creations.
    let controller_metrics = results.metrics["controller_metrics"].as_object().unwrap();
    assert!(
        controller_metrics
            .keys()
            .any(|k| k.starts_with("controller_runtime_reconcile_total")),
        "{controller_metrics:?}"
    );
    assert_eq!(
        results.metrics["apiserver_requests"]["POST sandboxclaims 201"],
        20.0
    );
    // The write budget (controller/README.md, "Every write, per warm claim"), the pools'
    // refill included: the last reading waits for the pools to be full again.
    assert!(results.refill_ms.is_some(), "{log}");
    let requests = &results.metrics["apiserver_requests"];
    let count = |prefix: &str| -> f64 {
        requests
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.as_f64().unwrap())
            .sum()
    };
    assert_eq!(
        count("PATCH sandboxes "),
        20.0,
        "one adoption each: {requests}"
    );
    assert_eq!(count("PATCH sandboxclaims/status "), 20.0, "{requests}");
    assert_eq!(
        count("PUT sandboxclaims"),
        0.0,
        "no claim update: {requests}"
    );
    assert_eq!(
        count("POST sandboxes "),
        20.0,
        "one refill each: {requests}"
    );
    assert_eq!(
        count("POST pods "),
        count("POST pods 201"),
        "a Pod created once, never again while the cache catches up: {requests}"
    );
    assert!(count("PATCH sandboxes/status ") <= 90.0, "{requests}");
    assert!(
        count("PATCH sandboxwarmpools/status ") <= 10.0,
        "{requests}"
    );
    assert!(
        results.metrics["processes"]["controller"]["cpu_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Every second of the timeline tells each process's CPU: the cluster's components, the
    // controller and the harness; the API server is busy in some second.
    for second in &results.timeline {
        for process in [
            "kube-apiserver",
            "etcd",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "controller",
            "harness",
        ] {
            assert!(
                second.cpu_cores.contains_key(process),
                "second {}: no {process} in {:?}",
                second.second,
                second.cpu_cores
            );
        }
    }
    assert!(
        results
            .timeline
            .iter()
            .any(|s| s.cpu_cores["kube-apiserver"] > 0.0),
        "{:?}",
        results.timeline
    );
    // The CPU timeline goes on past the load until the pool is full again.
    let refill_ms = results
        .refill_ms
        .expect("the smoke pool refills after the load");
    assert!(
        results.timeline.len() as u64 * 1000 >= results.meta.duration_ms + refill_ms,
        "{} seconds of timeline for a load of {} ms and a refill of {refill_ms} ms",
        results.timeline.len(),
        results.meta.duration_ms
    );
    // A process's cores are its CPU over the same span as its CPU seconds: the load and the
    // refill after it.
    let apiserver = &results.metrics["processes"]["kube-apiserver"];
    let (cpu_seconds, cores) = (
        apiserver["cpu_seconds"].as_f64().unwrap(),
        apiserver["cpu_cores"].as_f64().unwrap(),
    );
    assert!(
        cpu_seconds / cores * 1000.0 >= (results.meta.duration_ms + refill_ms) as f64,
        "{cpu_seconds} s of CPU at {cores} cores for a load of {} ms and a refill of \
         {refill_ms} ms",
        results.meta.duration_ms
    );
    for file in ["report.md", "report.html", "junit.xml"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    assert!(
        std::fs::read_to_string(out.join("report.html"))
            .unwrap()
            .contains("aria-label=\"CPU by process\"")
    );
    // Cleanup found nothing left behind, and the local cluster is gone.
    assert!(!stdout.contains("leaked"), "{log}");
    assert!(!out.join("cluster/cluster.json").exists(), "{log}");
}

#[test]
fn bad_scenarios_and_flags_exit_2_before_any_cluster_starts() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let yaml = std::fs::read_to_string("../scenarios/smoke.yaml")
        .unwrap()
        .replace("template: python", "template: node");
    std::fs::write(&bad, yaml).unwrap();
    let o = run(&["bench", bad.to_str().unwrap()]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("pools[0].template"))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: {}:", bad.display()))
            && line.contains("no template named \"node\""),
        "{stderr}"
    );

    let o = run(&[
        "bench",
        "../scenarios/smoke.yaml",
        "--controller",
        "external",
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kubeconfig"));
    let o = run(&[
        "bench",
        "../scenarios/smoke.yaml",
        "--controller",
        "upstream",
        "--controller-bin",
        "/x",
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    let o = run(&["bench", "no/such/scenario.yaml"]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));

    // A scenario that needs the real node cannot run on someone else's cluster.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let o = run(&[
        "bench",
        "../scenarios/isolation-smoke.yaml",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("cluster.realNode needs a cluster this run starts"),
        "{}",
        text(&o)
    );
}

#[test]
fn faults_that_cannot_work_where_the_run_goes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let o = run(&[
        "bench",
        "../scenarios/chaos.yaml",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("faults[3].nodeLoss needs a cluster this run starts"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "bench",
        "../scenarios/chaos-smoke.yaml",
        "--controller",
        "external",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("faults[0].controllerKill needs a controller process"),
        "{}",
        text(&o)
    );
    let bad = dir.path().join("bad-faults.yaml");
    let yaml = std::fs::read_to_string("../scenarios/chaos-smoke.yaml")
        .unwrap()
        .replace(
            "podKill: {at: 1500ms, pods: 2}",
            "podKill: {at: 1500ms, pods: 2, for: 1s}",
        );
    std::fs::write(&bad, yaml).unwrap();
    let o = run(&["bench", "--check", bad.to_str().unwrap()]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("faults[1].podKill.for: podKill has no outage"),
        "{}",
        text(&o)
    );
}

/// The chaos smoke: the controller killed twice and Pods deleted during the load; every
/// fault fired, every invariant checked and held, and the reports say so.
#[test]
fn the_chaos_smoke_fires_every_fault_and_keeps_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = bench_with_reference(Path::new("../scenarios/chaos-smoke.yaml"), &out);
    let log = text(&o);
    assert_eq!(code(&o), Some(0), "{log}");
    let results = Results::read(&out.join("results.json")).unwrap();
    let faults = results.faults.as_ref().expect("faults in results.json");
    assert_eq!(faults.counts.get("controllerKill"), Some(&2), "{faults:?}");
    assert_eq!(faults.counts.get("podKill"), Some(&1), "{faults:?}");
    assert!(faults.failed.is_empty(), "{faults:?}");
    let kills: Vec<_> = faults
        .fired
        .iter()
        .filter(|f| f.kind == "controllerKill")
        .collect();
    assert!(
        kills
            .iter()
            .all(|k| k.restored_ms.unwrap() >= k.at_ms + 300),
        "{kills:?}"
    );
    let invariants = results
        .invariants
        .as_ref()
        .expect("invariants in results.json");
    assert_eq!(invariants.checked.len(), 6);
    assert!(
        invariants.violations.is_empty(),
        "{:?}\n{log}",
        invariants.violations
    );
    assert_eq!(
        results.phase(Phase::ClaimReady).unwrap().overall.count,
        30,
        "{log}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("sandbox-bench.invariants.chaos-smoke"),
        "{junit}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("### Invariants ✅"), "{report}");
    assert!(report.contains("| `controllerKill` | 2 |"), "{report}");
}

#[test]
fn every_shipped_scenario_is_valid() {
    let mut checked = 0;
    for entry in std::fs::read_dir("../scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let o = run(&["bench", "--check", path.to_str().unwrap()]);
            assert_eq!(code(&o), Some(0), "{}: {}", path.display(), text(&o));
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} scenarios shipped");
}

#[test]
fn an_api_server_setting_against_a_kubeconfig_is_named_as_changing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string("../scenarios/smoke.yaml").unwrap();
    let tuned = dir.path().join("tuned.yaml");
    std::fs::write(
        &tuned,
        smoke.replace("  nodes: 1\n", "  nodes: 1\n  apiServer: {gogc: 400}\n"),
    )
    .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    let tuned = tuned.to_str().unwrap();
    let o = run(&[
        "bench",
        "--check",
        tuned,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("note: cluster.apiServer sets the API server"),
        "{}",
        text(&o)
    );
    let o = run(&["bench", "--check", tuned]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("note:"),
        "{}",
        text(&o)
    );
}

#[test]
fn compare_gates_on_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = sandbox_reports::sample::sample_results().unwrap();
    let mut slower = baseline.clone();
    for summary in &mut slower.phases {
        summary.overall.p50_ms *= 2.0;
        summary.overall.p99_ms *= 2.0;
        for d in summary.by_launch.values_mut() {
            d.p50_ms *= 2.0;
            d.p99_ms *= 2.0;
        }
    }
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (path, results) in [(&a, &baseline), (&b, &slower)] {
        std::fs::create_dir_all(path).unwrap();
        results.write(&path.join("results.json")).unwrap();
    }
    let out = dir.path().join("compare");
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        b.join("results.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&o),
        Some(i32::from(exit::CHECK_FAILED)),
        "{}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("regression"));
    assert!(out.join("compare-1.html").is_file() && out.join("compare-1.md").is_file());
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--noise",
        "-1",
    ]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
}

/// Fake `kind`, `docker` and `kubectl` whose "kind cluster" is a real local one: `kind create`
/// hands out `kubeconfig`; every `kind` call is recorded in `<dir>/calls`.
fn fake_kind_tools(dir: &Path, kubeconfig: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let kind = format!(
        "#!/bin/sh\necho \"$*\" >> {calls}\ncase \"$1 $2\" in\n\
         'version '*) echo 'kind v0.31.0 go1.25.5 linux/amd64' ;;\n\
         'create cluster') while [ $# -gt 0 ]; do\n\
         [ \"$1\" = --kubeconfig ] && cp {kubeconfig} \"$2\"; shift; done ;;\n\
         esac\n",
        calls = dir.join("calls").display(),
        kubeconfig = kubeconfig.display()
    );
    let scripts = [
        ("kind", kind),
        ("docker", "#!/bin/sh\necho 28.5.1\n".to_string()),
        (
            "kubectl",
            "#!/bin/sh\necho '{\"clientVersion\":{\"gitVersion\":\"v1.35.0\"}}'\n".to_string(),
        ),
    ];
    for (name, text) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// On kind, a scenario's probe templates get the probe image the harness builds, loaded into
/// the cluster's nodes before anything is claimed (kind itself is faked over a real local
/// cluster: this machine has no Docker).
#[tokio::test(flavor = "multi_thread")]
async fn a_kind_run_loads_the_probe_image_it_builds_into_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::start("fake-kind", &dir.path().join("cluster"), 1).await;
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    fake_kind_tools(&tools, &cluster.info().kubeconfig);
    let scenario = dir.path().join("kind-probe.yaml");
    std::fs::write(
        &scenario,
        "version: sandbox-bench/v1\nname: kind-probe\ncluster:\n  provider: kind\n  kind: \
         {name: fake}\ntemplates:\n  - {name: probe, probe: true}\npools:\n  - {name: warm, \
         template: probe, replicas: 2}\nload:\n  pool: warm\n  shape:\n    burst: {count: 2}\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let controller = common::reference_controller();
    let o = std::process::Command::new(common::BIN)
        .args(["bench", scenario.to_str().unwrap(), "--controller-bin"])
        .arg(&controller)
        .arg("--out")
        .arg(&out)
        .env("PATH", path)
        .output()
        .unwrap();
    let log = text(&o);
    assert_eq!(code(&o), Some(0), "{log}");
    let archive = out.join("images/sandbox-probe.tar");
    assert!(archive.is_file(), "{log}");
    let calls = std::fs::read_to_string(tools.join("calls")).unwrap();
    let load = format!("load image-archive {} --name fake", archive.display());
    let created = calls.lines().position(|l| l.starts_with("create cluster"));
    let loaded = calls.lines().position(|l| l == load);
    assert!(
        created.is_some() && loaded > created,
        "the image is loaded once the cluster exists:\n{calls}\n{log}"
    );
    assert!(
        calls.lines().any(|l| l == "delete cluster --name fake"),
        "{calls}"
    );
    let results = Results::read(&out.join("results.json")).unwrap();
    assert_eq!(results.phase(Phase::ClaimReady).unwrap().overall.count, 2);
    cluster.stop().unwrap();
}

/// A smoke run of `kind` (`floor` or `spec-floor`) after the reference controller filled the
/// pool, checked to serve every claim from the harness's own thread: its writes by request.
fn floor_smoke(kind: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let controller = common::reference_controller();
    let o = run(&[
        "bench",
        "../scenarios/smoke.yaml",
        "--controller",
        kind,
        "--controller-bin",
        controller.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert_eq!(code(&o), Some(0), "{log}");
    let results = Results::read(&out.join("results.json")).unwrap();
    assert_eq!(
        results.phase(Phase::ClaimReady).unwrap().overall.count,
        20,
        "{log}"
    );
    let processes = &results.metrics["processes"];
    assert!(
        processes["floor"]["cpu_seconds"].as_f64().is_some(),
        "{processes}"
    );
    assert!(
        processes.get("controller").is_none(),
        "the filler is stopped: {processes}"
    );
    assert!(
        results
            .meta
            .environment
            .controller
            .as_deref()
            .is_some_and(|c| c.starts_with(&format!("{kind} "))),
        "{log}"
    );
    results.metrics["apiserver_requests"].clone()
}

fn writes(requests: &serde_json::Value, key: &str) -> f64 {
    requests[key].as_f64().unwrap_or(0.0)
}

/// The floor: the reference controller fills the pool and stops, then the harness serves each
/// warm claim itself with one adoption patch and one status patch, and reports its own CPU.
#[test]
fn the_floor_serves_each_warm_claim_with_two_writes() {
    let requests = floor_smoke("floor");
    assert_eq!(writes(&requests, "PATCH sandboxes 200"), 20.0, "{requests}");
    assert_eq!(
        writes(&requests, "PATCH sandboxclaims/status 200"),
        20.0,
        "{requests}"
    );
    assert_eq!(
        writes(&requests, "PATCH sandboxclaims 200"),
        0.0,
        "{requests}"
    );
    assert_eq!(writes(&requests, "PATCH pods 200"), 0.0, "{requests}");
    assert_eq!(
        writes(&requests, "POST sandboxes 201"),
        0.0,
        "no refill: {requests}"
    );
}

/// The spec floor adds, for each claim, the three writes the spec requires after an adoption,
/// every one of them accepted.
#[test]
fn the_spec_floor_adds_the_three_writes_an_adoption_requires() {
    let requests = floor_smoke("spec-floor");
    for key in [
        "PATCH sandboxes 200",
        "PATCH sandboxclaims/status 200",
        "PATCH pods 200",
        "PATCH sandboxes/status 200",
    ] {
        assert_eq!(writes(&requests, key), 20.0, "{key}: {requests}");
    }
    assert!(writes(&requests, "POST events 201") >= 20.0, "{requests}");
    assert_eq!(
        writes(&requests, "POST sandboxes 201"),
        0.0,
        "no refill: {requests}"
    );
}

#[test]
fn scenarios_the_floor_cannot_play_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.yaml");
    let yaml = std::fs::read_to_string("../scenarios/smoke.yaml")
        .unwrap()
        .replace("replicas: 30", "replicas: 10");
    std::fs::write(&small, yaml).unwrap();
    for (scenario, field) in [
        (small.to_str().unwrap(), "pools[0].replicas"),
        ("../scenarios/chaos-smoke.yaml", "faults"),
    ] {
        let o = run(&["bench", scenario, "--controller", "floor", "--check"]);
        assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("error: {field}:")),
            "{}",
            text(&o)
        );
    }
    for kind in ["floor", "spec-floor"] {
        let o = run(&["conformance", "--controller", kind]);
        assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    }
}

/// `sandbox-bench knee` end to end: the stepped smoke against the floor and the reference, each
/// on a fresh cluster; knee.json, knee.md and knee.html hold both, each with its warm-up apart
/// from the steps, and a bound that fails exits 1.
#[test]
fn the_knee_runs_each_controller_and_judges_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("knee");
    let controller = common::reference_controller();
    let o = run(&[
        "knee",
        "../scenarios/knee-smoke.yaml",
        "--controllers",
        "floor,reference",
        "--controller-bin",
        controller.to_str().unwrap(),
        "--require",
        "floor.knee_1s>=10",
        "--require",
        "reference.knee_100ms>=1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert_eq!(code(&o), Some(1), "{log}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("required: reference.knee_100ms>=1000: measured"),
        "{log}"
    );
    assert!(!stderr.contains("required: floor"), "{log}");
    let report: sandbox_reports::KneeReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("knee.json")).unwrap()).unwrap();
    assert_eq!(report.schema, "sandbox-bench/knee/v1");
    let names: Vec<&str> = report.controllers.keys().map(String::as_str).collect();
    assert_eq!(names, ["floor", "reference"]);
    for run in report.controllers.values() {
        assert_eq!(run.steps.len(), 2, "{log}");
        for step in &run.steps {
            assert!(step.writes_per_claim.is_some_and(|w| w >= 1.0), "{step:?}");
            let by_request: f64 = step.writes_by_request.values().sum();
            assert!(
                step.writes_per_claim
                    .is_some_and(|w| (w - by_request).abs() < 1e-6),
                "the writes by request add up to the step's writes: {step:?}"
            );
            assert!(
                step.cpu_seconds_per_claim.contains_key("kube-apiserver"),
                "{step:?}"
            );
        }
        assert_eq!(run.steps.iter().map(|s| s.claims).sum::<u64>(), 20, "{log}");
        let warm_up = run
            .warm_up
            .as_ref()
            .expect("the warm-up, apart from the steps");
        assert_eq!((warm_up.rate_per_s, warm_up.claims), (5.0, 5), "{log}");
        assert!(
            warm_up.cpu_seconds_per_claim.contains_key("kube-apiserver"),
            "{warm_up:?}"
        );
        assert!(run.writes_per_claim >= 3.0, "{log}");
        // The spec's least per warm claim, whoever serves it: the claim, its adoption, its
        // status.
        for request in [
            "POST sandboxclaims",
            "PATCH sandboxes",
            "PATCH sandboxclaims/status",
        ] {
            assert!(
                run.writes_by_request
                    .get(request)
                    .is_some_and(|&w| w >= 0.99),
                "{request}: {:?}",
                run.writes_by_request
            );
        }
        assert!(std::path::Path::new(&run.run).join("report.html").exists());
    }
    let md = std::fs::read_to_string(out.join("knee.md")).unwrap();
    assert!(md.contains("| floor |"), "{md}");
    assert!(md.contains("| warm-up at 5/s | 5 |"), "{md}");
    assert!(
        md.contains("| request | warm-up at 5/s | 5/s | 10/s | whole load |")
            && md.contains("| `PATCH sandboxclaims/status` |"),
        "the writes by request, the warm-up's first: {md}"
    );
    let html = std::fs::read_to_string(out.join("knee.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "{html:.400}");
    for link in ["floor/report.html", "reference/report.html"] {
        assert!(html.contains(&format!("<a href=\"{link}\">")), "{link}");
        assert!(out.join(link).exists(), "{link}");
    }

    let o = run(&["knee", "../scenarios/smoke.yaml", "--controllers", "floor"]);
    assert_eq!(code(&o), Some(i32::from(exit::BAD_INPUT)), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("load.shape"),
        "{}",
        text(&o)
    );
}

/// A geometric load with `stopAbove` takes no step after one past the bound: at 1 ms no claim
/// is fast enough, so the first step is cut short and the second never runs.
#[test]
fn a_geometric_load_stops_after_the_first_step_past_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("knee-1ms.yaml");
    let yaml = std::fs::read_to_string("../scenarios/knee-smoke.yaml").unwrap();
    assert!(yaml.contains("stopAbove: 1s"));
    std::fs::write(&scenario, yaml.replace("stopAbove: 1s", "stopAbove: 1ms")).unwrap();
    let out = dir.path().join("run");
    let o = bench_with_reference(&scenario, &out);
    let log = text(&o);
    assert_eq!(code(&o), Some(0), "{log}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stopping: the step at 5/s"),
        "{log}"
    );
    let results = Results::read(&out.join("results.json")).unwrap();
    let steps = results.steps.expect("steps in results.json");
    let rates: Vec<f64> = steps.steps.iter().map(|s| s.rate_per_s).collect();
    assert_eq!(rates, [5.0], "{log}");
    assert!(steps.steps[0].claims < 10, "{:?}", steps.steps[0]);
}
