//! A synthetic, deterministic run: 60 s at 50 claims/s, mostly warm, a few cold, a harness
//! stall, some failures. For tests, the README example and previewing report changes without
//! a cluster; nothing here is a measurement.

use crate::error::ReportError;
use crate::record::{LaunchType, Phase, Record};
use crate::results::{Environment, Machine, Results, RunMeta};
use crate::slo::{ErrorBudget, Slo, SloSpec};
use crate::splitmix::SplitMix64;
use crate::timeline::CpuReading;

/// Exponential with the given mean, a crude stand-in for a service time's long tail.
fn exponential_us(random: &mut SplitMix64, mean_us: f64) -> u64 {
    (-random.next_f64_nonzero().ln() * mean_us) as u64
}

/// 3,000 claims over 60 s. One in ten is cold (about 1.5 s); the harness stalls for 300 ms at
/// 30 s; four claims time out and one create is rejected.
pub fn sample_records() -> Vec<Record> {
    sample_records_with(42, 1.0)
}

/// [`sample_records`] drawn from another seed, with the random part of every service time
/// after the send stretched by `slowdown` (1.0: as is): a run of the same system on another
/// day, or of a slower one. Seed 42 at 1.0 is exactly [`sample_records`].
pub fn sample_records_with(seed: u64, slowdown: f64) -> Vec<Record> {
    // splitmix64: stable, so the sample never changes under a dependency update.
    let mut random = SplitMix64(seed);
    let service_us =
        |random: &mut SplitMix64, mean_us: f64| exponential_us(random, mean_us * slowdown);
    let (stall_from, stall_until) = (30_000_000, 30_300_000);
    (0..3_000u64)
        .map(|i| {
            let intended = i * 20_000;
            let launch = if i % 10 == 7 {
                LaunchType::Cold
            } else {
                LaunchType::Warm
            };
            let mut record = Record::new(format!("bench-{i:05}"), "warm-pool-a", launch, intended);
            let sent = if (stall_from..stall_until).contains(&intended) {
                stall_until
            } else {
                intended + 20 + exponential_us(&mut random, 40.0)
            };
            record.sent_us = Some(sent);
            if i == 1_234 {
                record.error = Some("create_rejected".into());
                return record;
            }
            let acked = sent + 1_500 + service_us(&mut random, 1_000.0);
            record.acked_us = Some(acked);
            let bound = acked
                + match launch {
                    LaunchType::Cold => 400_000 + service_us(&mut random, 300_000.0),
                    _ => 3_000 + service_us(&mut random, 3_000.0),
                };
            record.bound_us = Some(bound);
            if i % 700 == 350 {
                record.launch = LaunchType::Unknown;
                record.error = Some("timeout".into());
                return record;
            }
            let sandbox_ready = bound
                + match launch {
                    LaunchType::Cold => 900_000 + service_us(&mut random, 200_000.0),
                    _ => 2_000 + service_us(&mut random, 2_000.0),
                };
            record.sandbox_ready_us = Some(sandbox_ready);
            record.claim_ready_us = Some(sandbox_ready + 2_000 + service_us(&mut random, 4_000.0));
            record
        })
        .collect()
}

pub fn sample_meta() -> RunMeta {
    RunMeta {
        scenario: "default".into(),
        started_at: "2025-06-01T12:00:00Z".into(),
        duration_ms: 62_400,
        intended_rate_per_s: Some(50.0),
        seed: 42,
        environment: Environment {
            kubernetes: Some("v1.34.1".into()),
            etcd: Some("3.6.4".into()),
            kwok: Some("v0.7.0".into()),
            controller: Some("reference 0.1.0".into()),
            nodes: 10,
            apiserver_gogc: None,
            machine: Machine {
                cores: 2,
                memory_bytes: 24 * 1024 * 1024 * 1024,
                kernel: "Linux 6.12.0".into(),
            },
            commit: None,
        },
    }
}

/// The SLOs of the default scenario: warm claims Ready at p99 ≤ 100 ms, and at most 1 % errors.
pub fn sample_slos() -> SloSpec {
    let mut warm_ready = Slo::new(Phase::ClaimReady, 99.0, 100.0);
    warm_ready.launch = Some(LaunchType::Warm);
    SloSpec {
        latency: vec![
            warm_ready,
            Slo::new(Phase::ClaimReady, 99.9, 5_000.0),
            Slo::new(Phase::HarnessLag, 99.9, 1.0),
        ],
        error_budget: Some(ErrorBudget {
            max_error_ratio: 0.01,
        }),
    }
}

/// The sample run analysed with the sample SLOs, with the CPU of its processes.
pub fn sample_results() -> Result<Results, ReportError> {
    let mut results = Results::from_records(sample_meta(), &sample_records(), &sample_slos())?;
    crate::timeline::add_cpu(&mut results.timeline, &sample_cpu_readings());
    Ok(results)
}

/// One CPU reading a second: the API server near 1.2 cores, busier around the harness stall
/// at 30 s, etcd and the controller far below.
fn sample_cpu_readings() -> Vec<CpuReading> {
    let mut random = SplitMix64(7);
    let mut used = [0.0f64; 3];
    (0..=61u64)
        .map(|second| {
            let busy = if (29..32).contains(&second) { 1.8 } else { 1.1 };
            let cores = [busy, 0.15, 0.05];
            let reading = CpuReading {
                at_us: second * 1_000_000,
                cpu_seconds: ["kube-apiserver", "etcd", "controller"]
                    .iter()
                    .zip(used)
                    .map(|(name, seconds)| ((*name).to_string(), seconds))
                    .collect(),
            };
            for (total, cores) in used.iter_mut().zip(cores) {
                *total += cores * (0.9 + 0.2 * random.next_f64_nonzero());
            }
            reading
        })
        .collect()
}

/// Isolation results with one passing check and one whose control showed nothing.
pub fn sample_isolation() -> crate::IsolationReport {
    use crate::{CheckStatus, IsolationCheck};
    crate::IsolationReport {
        runtime_class: "gvisor".into(),
        control_runtime_class: "runc".into(),
        checks: vec![
            IsolationCheck {
                name: "kernel_not_shared".into(),
                status: CheckStatus::Pass,
                sandbox: "own boot_id".into(),
                control: "node's boot_id".into(),
            },
            IsolationCheck {
                name: "egress_blocked".into(),
                status: CheckStatus::ControlFailed,
                sandbox: "blocked".into(),
                control: "blocked".into(),
            },
        ],
        probes: Default::default(),
    }
}

/// Two faults and an invariants report with one claim served late.
pub fn sample_reliability() -> (crate::FaultsReport, crate::InvariantsReport) {
    use crate::{FaultRecord, Invariant, InvariantsReport, Violation};
    let mut faults = crate::FaultsReport::default();
    faults.record(FaultRecord {
        kind: "controllerKill".into(),
        at_ms: 5_000,
        restored_ms: Some(5_500),
        detail: "SIGKILL pid 4242".into(),
    });
    faults.record(FaultRecord {
        kind: "podKill".into(),
        at_ms: 7_000,
        restored_ms: None,
        detail: "deleted 3 pods".into(),
    });
    let invariants = InvariantsReport {
        checked: Invariant::ALL.to_vec(),
        recovery_bound_ms: 30_000,
        violations: vec![Violation {
            invariant: Invariant::ClaimServed,
            objects: vec!["sandboxclaim/claim-00007".into()],
            at_ms: 41_000,
            detail: "Ready 33500 ms after the last fault".into(),
        }],
    };
    (faults, invariants)
}

/// A synthetic knee run of three controllers: the floor, a reference that gives way one step
/// before it, and an upstream that gives way early and stops after its first broken step.
pub fn sample_knee() -> crate::KneeReport {
    use crate::knee::{ControllerKnee, KNEE_SCHEMA, KneeReport};
    use crate::steps::{StepPhase, StepSummary};

    let rates = [5.0, 10.0, 15.0, 20.0, 30.0, 45.0];
    let controller = |p99s: &[f64], knee_100ms: f64, knee_1s: f64, cpu: &[(&str, f64)]| {
        let steps = rates
            .iter()
            .zip(p99s)
            .map(|(&rate, &p99_ms)| StepSummary {
                rate_per_s: rate,
                from_ms: 0,
                to_ms: (300.0 / rate * 1000.0) as u64,
                claims: 300,
                not_ready: u64::from(p99_ms > 5000.0),
                phases: vec![StepPhase {
                    phase: Phase::ClaimReady,
                    count: 300,
                    p50_ms: p99_ms / 2.0,
                    p90_ms: p99_ms * 0.8,
                    p99_ms,
                }],
                cpu_seconds_per_claim: [("kube-apiserver".to_string(), 0.025)].into(),
                writes_per_claim: Some(3.5),
                writes_by_request: [
                    ("PATCH sandboxes".to_string(), 1.0),
                    ("POST sandboxclaims".to_string(), 1.0),
                    ("PATCH sandboxclaims/status".to_string(), 1.0),
                    ("POST events".to_string(), 0.5),
                ]
                .into(),
            })
            .collect();
        ControllerKnee {
            knee_100ms,
            knee_1s,
            warm_up: None,
            steps,
            cpu_seconds_per_claim: cpu.iter().map(|&(p, s)| (p.to_string(), s)).collect(),
            writes_per_claim: 3.0,
            writes_by_request: [
                ("PATCH sandboxes".to_string(), 1.0),
                ("POST sandboxclaims".to_string(), 1.0),
                ("PATCH sandboxclaims/status".to_string(), 1.0),
            ]
            .into(),
            run: String::new(),
        }
    };
    let mut controllers = std::collections::BTreeMap::new();
    let mut add = |name: &str, mut run: ControllerKnee| {
        run.run = format!("runs/knee/sample/{name}");
        controllers.insert(name.to_string(), run);
    };
    add(
        "floor",
        controller(
            &[15.0, 18.0, 22.0, 30.0, 60.0, 900.0],
            30.0,
            45.0,
            &[("etcd", 0.004), ("kube-apiserver", 0.02), ("floor", 0.002)],
        ),
    );
    add(
        "reference",
        controller(
            &[23.0, 27.0, 35.0, 80.0, 400.0],
            20.0,
            30.0,
            &[
                ("etcd", 0.006),
                ("kube-apiserver", 0.035),
                ("controller", 0.008),
            ],
        ),
    );
    add(
        "upstream",
        controller(
            &[120.0, 7000.0],
            0.0,
            5.0,
            &[
                ("etcd", 0.012),
                ("kube-apiserver", 0.09),
                ("controller", 0.03),
            ],
        ),
    );
    KneeReport {
        schema: KNEE_SCHEMA.into(),
        scenario: "knee".into(),
        controllers,
    }
}

/// The SLOs of the sample history's runs: [`sample_slos`] without the harness-lag check (the
/// sample's stall breaks it), so steady runs pass and a slow one can fail.
fn history_slos() -> SloSpec {
    let mut slos = sample_slos();
    slos.latency.retain(|slo| slo.phase != Phase::HarnessLag);
    slos
}

/// One bench run of the `default` scenario for a history: the sample drawn from `seed`,
/// stretched by `slowdown` (see [`sample_records_with`]), started at `started_at`, of
/// `controller` (`reference 0.1.0`, `upstream v1.0.3`).
pub fn sample_bench_run(
    seed: u64,
    started_at: &str,
    controller: &str,
    slowdown: f64,
) -> Result<Results, ReportError> {
    let mut meta = sample_meta();
    meta.started_at = started_at.into();
    meta.seed = seed;
    meta.environment.controller = Some(controller.into());
    Results::from_records(meta, &sample_records_with(seed, slowdown), &history_slos())
}

/// A conformance run of the reference controller against the latest spec: 44 cases, the last
/// `failed` of them failed.
pub fn sample_conformance(started_at: &str, failed: usize) -> crate::ConformanceSummary {
    use crate::conformance::{
        CONFORMANCE_SCHEMA, CaseOutcome, ConformanceCase, ConformanceSummary,
    };
    const CASES: usize = 44;
    let cases: Vec<ConformanceCase> = (0..CASES)
        .map(|i| {
            let failing = i >= CASES - failed.min(CASES);
            ConformanceCase {
                name: format!("case-{i:02}"),
                outcome: if failing {
                    CaseOutcome::Failed
                } else {
                    CaseOutcome::Passed
                },
                since: "v0.5.6".into(),
                duration_ms: 1_000 + 37 * i as u64,
                message: failing.then(|| "Sandbox sb: not Ready within 30s".into()),
            }
        })
        .collect();
    let count = |outcome| cases.iter().filter(|c| c.outcome == outcome).count() as u64;
    ConformanceSummary {
        schema: CONFORMANCE_SCHEMA.into(),
        controller: "reference".into(),
        controller_version: Some("reference 0.1.0".into()),
        spec: "latest".into(),
        cluster: "local".into(),
        started_at: started_at.into(),
        duration_ms: 61_500,
        passed: count(CaseOutcome::Passed),
        failed: count(CaseOutcome::Failed),
        skipped: count(CaseOutcome::Skipped),
        problems: Vec::new(),
        cases,
        commit: None,
        machine: Some(sample_meta().environment.machine),
    }
}

/// A knee run as it sits on disk: `knee.json` and each controller's own bench run.
pub struct SampleKnee {
    pub report: crate::KneeReport,
    /// Controller name → its run (scenario `knee`).
    pub runs: std::collections::BTreeMap<String, Results>,
}

/// A week of runs for the history site: a `default` bench run a day of the reference
/// controller (the last one 1.8× slower: a regression) and of upstream (slower throughout,
/// breaching its SLO), a knee run on three of the days, and a conformance run a day (one case
/// failing on day 6). Commits are made up: `c0ffee<day>…`.
pub struct SampleRuns {
    pub bench: Vec<Results>,
    pub knees: Vec<SampleKnee>,
    pub conformance: Vec<crate::ConformanceSummary>,
}

pub fn sample_runs() -> Result<SampleRuns, ReportError> {
    const DAYS: u32 = 8;
    let commit = |day: u32| format!("c0ffee{day:02}{}", "0".repeat(32));
    let mut bench = Vec::new();
    for day in 1..=DAYS {
        let slowdown = if day == DAYS { 1.8 } else { 1.0 };
        for (controller, hour, seed, slowdown) in [
            ("reference 0.1.0", 12, u64::from(day), slowdown),
            ("upstream v1.0.3", 13, 100 + u64::from(day), 6.0),
        ] {
            let mut run = sample_bench_run(
                seed,
                &format!("2025-06-{day:02}T{hour}:00:00Z"),
                controller,
                slowdown,
            )?;
            run.meta.environment.commit = Some(commit(day));
            bench.push(run);
        }
    }
    let mut knees = Vec::new();
    for day in [2, 5, 8] {
        let mut report = sample_knee();
        let dir = format!("runs/knee/knee-202506{day:02}T140000Z");
        let mut runs = std::collections::BTreeMap::new();
        for (name, run) in report.controllers.iter_mut() {
            run.run = format!("{dir}/{name}");
            let version = match name.as_str() {
                "upstream" => "upstream v1.0.3".to_string(),
                other => format!("{other} 0.1.0"),
            };
            let mut results = sample_bench_run(
                200 + u64::from(day),
                &format!("2025-06-{day:02}T14:00:00Z"),
                &version,
                1.0,
            )?;
            results.meta.scenario = "knee".into();
            results.meta.environment.commit = Some(commit(day));
            runs.insert(name.clone(), results);
        }
        knees.push(SampleKnee { report, runs });
    }
    let conformance = (1..=DAYS)
        .map(|day| {
            let mut summary = sample_conformance(
                &format!("2025-06-{day:02}T15:00:00Z"),
                usize::from(day == 6),
            );
            summary.commit = Some(commit(day));
            summary
        })
        .collect();
    Ok(SampleRuns {
        bench,
        knees,
        conformance,
    })
}

/// [`sample_runs`] as a history, each run's report where a published site keeps it
/// (`runs/<id>/…`), as `sandbox-bench publish` would record it.
pub fn sample_history() -> Result<crate::history::History, ReportError> {
    use crate::history::{Entry, History, KneeRunInfo};
    let runs = sample_runs()?;
    let mut entries: Vec<Entry> = runs.bench.iter().map(Entry::from_results).collect();
    for knee in &runs.knees {
        let info = KneeRunInfo::from_runs(&knee.runs).unwrap_or_default();
        entries.push(Entry::from_knee(&knee.report, &info));
    }
    entries.extend(runs.conformance.iter().map(Entry::from_conformance));
    let mut history = History::default();
    for mut entry in entries {
        entry.report = Some(entry.report_path());
        history.add(entry);
    }
    Ok(history)
}

/// Writes [`sample_runs`] as run directories under `dir`, laid out as the harness writes
/// them (`bench/<scenario>-<time>-<controller>/`, `knee/knee-<time>/` with a directory per
/// controller, `conformance/<controller>-<time>/`), for previewing `sandbox-bench publish`
/// without a cluster. Returns the run directories.
pub fn write_sample_runs(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let write = |path: std::path::PathBuf, text: &str| {
        std::fs::write(&path, text).map_err(|source| ReportError::WriteFile { path, source })
    };
    let create = |path: &std::path::Path| {
        std::fs::create_dir_all(path).map_err(|source| ReportError::WriteFile {
            path: path.to_owned(),
            source,
        })
    };
    let compact = |started_at: &str| started_at.replace(['-', ':'], "");
    let runs = sample_runs()?;
    let mut dirs = Vec::new();
    for results in &runs.bench {
        let controller = results
            .meta
            .environment
            .controller
            .as_deref()
            .and_then(|c| c.split_whitespace().next())
            .unwrap_or("unknown");
        let run = dir.join("bench").join(format!(
            "{}-{}-{controller}",
            results.meta.scenario,
            compact(&results.meta.started_at)
        ));
        crate::write_reports(&run, results)?;
        dirs.push(run);
    }
    for knee in &runs.knees {
        let started_at = knee
            .runs
            .values()
            .map(|r| r.meta.started_at.as_str())
            .min()
            .unwrap_or("unknown");
        let run = dir
            .join("knee")
            .join(format!("knee-{}", compact(started_at)));
        create(&run)?;
        for (name, results) in &knee.runs {
            crate::write_reports(&run.join(name), results)?;
        }
        write(run.join("knee.json"), &knee.report.to_json()?)?;
        write(
            run.join("knee.md"),
            &crate::render_knee_markdown(&knee.report),
        )?;
        write(
            run.join("knee.html"),
            &crate::render_knee_html(&knee.report)?,
        )?;
        dirs.push(run);
    }
    for summary in &runs.conformance {
        let run = dir.join("conformance").join(format!(
            "{}-{}",
            summary.controller,
            compact(&summary.started_at)
        ));
        create(&run)?;
        write(run.join("conformance.json"), &summary.to_json()?)?;
        dirs.push(run);
    }
    Ok(dirs)
}
