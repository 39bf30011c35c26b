//! `sandbox-bench bench`: one scenario run, and the options a run takes from the scenario and
//! the flags (shared with `knee`).

use crate::cli::BenchArgs;
use crate::controller::ControllerKind;
use crate::exit;
use crate::scenario::{KindSpec, Provider, Scenario};
use crate::{BenchOptions, BenchPlan, run};
use sandbox_cluster::kind::{self, KindConfig};

pub async fn run(args: BenchArgs) -> u8 {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let plan = match BenchPlan::new(&scenario, args.seed) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {}: {e}", args.scenario.display());
            return exit::BAD_INPUT;
        }
    };
    let options = match options(args, scenario, plan) {
        Ok(Some(options)) => options,
        Ok(None) => return exit::OK,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
    };
    eprintln!("{}", options.plan.describe());
    let outcome = match run::run(options).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    println!("{}", sandbox_reports::render_markdown(&outcome.results));
    println!("report:  {}", outcome.files.report_html.display());
    println!("results: {}", outcome.files.results_json.display());
    println!("records: {}", outcome.records.display());
    println!("junit:   {}", outcome.files.junit_xml.display());
    if let Some(kubeconfig) = &outcome.kept {
        println!(
            "the run's cluster is still running: export KUBECONFIG={}",
            super::absolute(kubeconfig).display()
        );
    }
    if !outcome.leaks.is_empty() {
        println!(
            "{} object(s) of the run leaked (see above)",
            outcome.leaks.len()
        );
    }
    if !outcome.unfinished_cleanup.is_empty() {
        println!(
            "{} object(s) of the run were still being deleted when the run's cluster was removed",
            outcome.unfinished_cleanup.len()
        );
    }
    outcome.exit_code()
}

/// The run's options from the scenario and the flags that override it; `None` after
/// `--check`. Errors name the flag or field.
pub(crate) fn options(
    args: BenchArgs,
    scenario: Scenario,
    plan: BenchPlan,
) -> Result<Option<BenchOptions>, String> {
    let provider = scenario.cluster.provider;
    let kubeconfig = match (args.kubeconfig, provider) {
        (Some(path), _) => Some(path),
        (None, Provider::Local | Provider::Kind) => None,
        (None, Provider::Kubeconfig) => {
            Some(expand_home(scenario.cluster.kubeconfig.as_deref().ok_or(
                "cluster.provider kubeconfig needs cluster.kubeconfig (or --kubeconfig)",
            )?))
        }
    };
    if let Some(path) = &kubeconfig
        && !path.is_file()
    {
        return Err(format!("kubeconfig {} is not a file", path.display()));
    }
    if kubeconfig.is_some()
        && let Some(field) = scenario.needs_own_cluster()
    {
        return Err(format!(
            "{field} needs a cluster this run starts (it brings the node, loads the image or \
             restarts its processes): it cannot run against a kubeconfig"
        ));
    }
    if kubeconfig.is_some() && scenario.cluster.api_server.is_some() {
        eprintln!(
            "note: cluster.apiServer sets the API server of a cluster this run starts; against \
             a kubeconfig it changes nothing (set GOGC in that cluster's kube-apiserver)"
        );
    }
    let out = args
        .out
        .unwrap_or_else(|| run::default_out(&scenario.name.value));
    // `--kubeconfig` wins over the scenario's cluster, as for every provider.
    let kind = (provider == Provider::Kind && kubeconfig.is_none())
        .then(|| kind_config(scenario.cluster.kind.as_ref().map(|k| &k.value), &out));
    let controller = args.controller.unwrap_or(scenario.controller.kind);
    args.program.check(controller)?;
    if controller == ControllerKind::External
        && let Some(i) =
            (scenario.faults.iter()).position(|f| f.value.kind().needs_controller_process())
    {
        return Err(format!(
            "faults[{i}].{} needs a controller process the harness starts, not --controller external",
            scenario.faults[i].value.kind().name()
        ));
    }
    if controller.floor_writes().is_some() {
        floor_fits(controller, &scenario, &plan)?;
    }
    if controller == ControllerKind::External && kubeconfig.is_none() {
        return Err(
            "an external controller runs against an existing cluster: pass --kubeconfig".into(),
        );
    }
    if args.bin_dir.is_some() && (kubeconfig.is_some() || kind.is_some()) {
        return Err(
            "--bin-dir is for the local cluster; it has no use with a kubeconfig or kind".into(),
        );
    }
    // `--check` refuses every combination a run would refuse, then stops.
    if args.check {
        println!("{}", plan.describe());
        println!("{}: valid", args.scenario.display());
        return Ok(None);
    }
    let mut controller_args = scenario.controller.flags.clone();
    controller_args.extend(args.program.controller_args);
    Ok(Some(BenchOptions {
        context: args.context.or_else(|| scenario.cluster.context.clone()),
        scenario,
        plan,
        controller,
        controller_bin: args.program.controller_bin,
        upstream_dir: args.program.upstream_dir,
        controller_args,
        kubeconfig,
        kind,
        bin_dir: args.bin_dir,
        out,
    }))
}

/// The floor serves warm claims only, from pools that hold every claim, with nothing failing
/// around it: anything else is a scenario the floor cannot play.
fn floor_fits(
    controller: ControllerKind,
    scenario: &Scenario,
    plan: &BenchPlan,
) -> Result<(), String> {
    let name = controller.name();
    if !scenario.faults.is_empty() {
        return Err(format!(
            "faults: --controller {name} plays no controller process to strike"
        ));
    }
    if plan.replicas > 1 {
        return Err(format!(
            "controller.replicas: --controller {name} is one process, the harness"
        ));
    }
    let claims = plan.schedule.max_claims();
    for (i, pool) in plan.pools.iter().enumerate() {
        let sent = (0..claims)
            .filter(|&c| plan.pool_of(c) == pool.name)
            .count();
        if sent > pool.replicas as usize {
            return Err(format!(
                "pools[{i}].replicas: --controller {name} does not refill, so pool {} needs a \
                 member for each of its {sent} claims (it has {})",
                pool.name, pool.replicas
            ));
        }
    }
    Ok(())
}

/// The kind cluster of a run: the scenario's `cluster.kind`, with the pinned defaults for
/// what it leaves out; its files go to `<out>/cluster`.
fn kind_config(spec: Option<&KindSpec>, out: &std::path::Path) -> KindConfig {
    let name = spec.map_or(kind::DEFAULT_NAME, KindSpec::name);
    let mut config = KindConfig::new(name, out.join("cluster"));
    if let Some(spec) = spec {
        if let Some(image) = &spec.image {
            config.image = Some(image.value.clone());
        }
        config.workers = spec.workers();
        config.reuse = spec.reuse;
        config.runtimes = spec.runtimes();
    }
    config
}

/// `~/x` → `$HOME/x`, as a shell would.
fn expand_home(path: &std::path::Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}
