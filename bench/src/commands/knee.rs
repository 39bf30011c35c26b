//! `sandbox-bench knee`: the warm-claim rate stepped per controller until claims give way.

use crate::cli::{BenchArgs, KneeArgs};
use crate::exit;
use crate::knee::Require;
use crate::scenario::Scenario;
use crate::{BenchPlan, run};
use sandbox_reports::KneeReport;

/// Runs the stepped scenario against each controller in turn and gathers where each gave way.
pub async fn run(args: KneeArgs) -> u8 {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let plan = match BenchPlan::new(&scenario, None) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {}: {e}", args.scenario.display());
            return exit::BAD_INPUT;
        }
    };
    if plan.steps.is_empty() {
        eprintln!(
            "error: {}: load.shape: the knee needs a step load (load.shape.step or geometric)",
            args.scenario.display()
        );
        return exit::BAD_INPUT;
    }
    let requires = match args
        .requires
        .iter()
        .map(|r| r.parse::<Require>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(requires) => requires,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        run::timestamped_out(std::path::Path::new("runs/knee"), &scenario.name.value)
    });
    // Every controller's options first: a bad combination fails before any run.
    let mut runs = Vec::new();
    for &controller in &args.controllers {
        let bench_args = BenchArgs {
            scenario: args.scenario.clone(),
            check: false,
            controller: Some(controller),
            kubeconfig: None,
            context: None,
            program: args.program.clone(),
            out: Some(out.join(controller.name())),
            seed: None,
            bin_dir: args.bin_dir.clone(),
        };
        match super::bench::options(bench_args, scenario.clone(), plan.clone()) {
            Ok(Some(options)) => runs.push(options),
            Ok(None) => {}
            Err(message) => {
                eprintln!("error: --controllers {}: {message}", controller.name());
                return exit::BAD_INPUT;
            }
        }
    }
    let mut report = KneeReport {
        schema: sandbox_reports::KNEE_SCHEMA.into(),
        scenario: scenario.name.value.clone(),
        controllers: Default::default(),
    };
    for options in runs {
        let name = options.controller.name();
        let run_dir = options.out.display().to_string();
        eprintln!("knee: {name}, in {run_dir}");
        let outcome = match run::run(options).await {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("error: knee run of {name}: {e}");
                return e.exit_code();
            }
        };
        if let Some(run) = crate::knee::controller_knee(&outcome.results, &run_dir) {
            eprintln!(
                "knee: {name}: knee_100ms {}/s, knee_1s {}/s",
                run.knee_100ms, run.knee_1s
            );
            report.controllers.insert(name.to_string(), run);
        }
    }
    let markdown = sandbox_reports::render_knee_markdown(&report);
    let written = serde_json::to_string_pretty(&report)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            let html = sandbox_reports::render_knee_html(&report).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            std::fs::write(out.join("knee.json"), json).map_err(|e| e.to_string())?;
            std::fs::write(out.join("knee.md"), &markdown).map_err(|e| e.to_string())?;
            std::fs::write(out.join("knee.html"), html).map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the knee report in {}: {e}",
            out.display()
        );
        return exit::INFRASTRUCTURE;
    }
    println!("{markdown}");
    println!("knee: {}", out.join("knee.json").display());
    let failed: Vec<String> = requires.iter().filter_map(|r| r.check(&report)).collect();
    for failure in &failed {
        eprintln!("required: {failure}");
    }
    if failed.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }
}
