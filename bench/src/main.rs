use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sandbox_bench::cli::{
    BenchArgs, Cli, ClusterCommand, Command, CompareArgs, ConformanceArgs, KneeArgs, Target, UpArgs,
};
use sandbox_bench::conformance::{self as suite, SuiteOptions};
use sandbox_bench::controller::ControllerKind;
use sandbox_bench::exit;
use sandbox_bench::knee::Require;
use sandbox_bench::scenario::{KindSpec, Provider, Scenario};
use sandbox_bench::{BenchOptions, BenchPlan, run};
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::crds;
use sandbox_cluster::kind::{self, KindConfig};
use sandbox_cluster::local::{self, LocalCluster, LocalConfig, PodReadyDelay};
use sandbox_conformance as conformance;
use sandbox_reports::KneeReport;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sandbox_bench=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cluster(ClusterCommand::Up(args)) => cluster_up(args).await,
        Command::Cluster(ClusterCommand::Down(target)) => cluster_down(&target),
        Command::Cluster(ClusterCommand::Status(target)) => cluster_status(&target).await,
        Command::Conformance(args) => Ok(conformance(args).await),
        Command::Bench(args) => Ok(bench(args).await),
        Command::Compare(args) => Ok(compare(&args)),
        Command::Knee(args) => Ok(knee(args).await),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::INFRASTRUCTURE)
        }
    }
}

async fn cluster_up(args: UpArgs) -> Result<u8, ClusterError> {
    let dir = args.target.dir();
    let config = LocalConfig {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        pod_ready: PodReadyDelay {
            delay: args.pod_ready_delay,
            jitter: args.pod_ready_jitter,
        },
        timeout: args.timeout,
        real_node: if args.real_node {
            let images = dir.join("images");
            let bins = sandbox_cluster::node_images::node_bin_dir();
            Some(sandbox_cluster::node_images::prepare(&bins, &images)?)
        } else {
            None
        },
        ..LocalConfig::new(
            &args.target.name,
            dir.clone(),
            Binaries::locate(args.bin_dir),
        )
    };
    // Dropping the start future on Ctrl-C drops the half-built cluster, which stops it.
    let cluster = tokio::select! {
        started = start_with_crds(config, !args.no_crds) => started?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; stopped everything that had started");
            return Ok(exit::INTERRUPTED);
        }
    };
    let info = cluster.info();
    println!("cluster {} is up: {}", info.name, info.server);
    println!("kubeconfig: {}", info.kubeconfig.display());
    println!(
        "  export KUBECONFIG={}",
        absolute(&info.kubeconfig).display()
    );
    if args.foreground {
        println!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        cluster.stop()?;
        println!("cluster {} stopped", info.name);
    } else {
        cluster.detach();
        println!(
            "stop it with: sandbox-bench cluster down --name {}",
            info.name
        );
    }
    Ok(exit::OK)
}

async fn start_with_crds(config: LocalConfig, crds: bool) -> Result<LocalCluster, ClusterError> {
    let cluster = LocalCluster::start(config).await?;
    if crds && let Some(client) = cluster.client() {
        let names = crds::install(&client, Duration::from_secs(60)).await?;
        eprintln!("installed CRDs: {}", names.join(", "));
    }
    Ok(cluster)
}

fn cluster_down(target: &Target) -> Result<u8, ClusterError> {
    let state = local::stop_detached(&target.dir())?;
    println!(
        "cluster {} stopped; logs kept in {}",
        state.name,
        state.dir.join("logs").display()
    );
    Ok(exit::OK)
}

async fn cluster_status(target: &Target) -> Result<u8, ClusterError> {
    let (state, alive) = local::status(&target.dir())?;
    println!("cluster {} ({})", state.name, state.server);
    println!("kubeconfig: {}", state.kubeconfig.display());
    for (name, up) in &alive {
        println!(
            "  {name:<24} {}",
            if *up { "running" } else { "NOT RUNNING" }
        );
    }
    let ready = match sandbox_cluster::connect(&state.kubeconfig, None).await {
        Ok(client) => client.apiserver_version().await.is_ok(),
        Err(_) => false,
    };
    println!(
        "  {:<24} {}",
        "API server",
        if ready { "reachable" } else { "NOT REACHABLE" }
    );
    Ok(if ready && alive.iter().all(|(_, up)| *up) {
        exit::OK
    } else {
        exit::INFRASTRUCTURE
    })
}

async fn conformance(args: ConformanceArgs) -> u8 {
    let cases = conformance::cases::matching(&args.filter);
    if args.list {
        list_cases(&cases);
        return exit::OK;
    }
    if let Err(message) = args.validate() {
        eprintln!("error: {message}");
        return exit::BAD_INPUT;
    }
    if cases.is_empty() {
        eprintln!(
            "error: no case matches --filter {}; see `sandbox-bench conformance --list`",
            args.filter.join(", --filter ")
        );
        return exit::BAD_INPUT;
    }
    let junit = args.junit();
    let options = SuiteOptions {
        controller: args.controller,
        dir: args.dir(),
        kubeconfig: args.kubeconfig,
        context: args.context,
        controller_bin: args.program.controller_bin,
        upstream_dir: args.program.upstream_dir,
        controller_args: args.program.controller_args,
        cases,
        parallel: usize::from(args.parallel),
        image: args.image,
        bin_dir: args.bin_dir,
    };
    let report = match suite::run(options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    println!("{}", conformance::summary::render(&report));
    if let Err(e) = conformance::junit::write(&report, &junit) {
        eprintln!("error: cannot write {}: {e}", junit.display());
        return exit::INFRASTRUCTURE;
    }
    println!("JUnit XML: {}", junit.display());
    if report.passed() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }
}

async fn bench(args: BenchArgs) -> u8 {
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
    let options = match bench_options(args, scenario, plan) {
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
            absolute(kubeconfig).display()
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

/// Runs the stepped scenario against each controller in turn and gathers where each gave way.
async fn knee(args: KneeArgs) -> u8 {
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
        match bench_options(bench_args, scenario.clone(), plan.clone()) {
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
        if let Some(run) = sandbox_bench::knee::controller_knee(&outcome.results, &run_dir) {
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

/// The run's options from the scenario and the flags that override it; `None` after
/// `--check`. Errors name the flag or field.
fn bench_options(
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
    if controller == ControllerKind::Floor {
        floor_fits(&scenario, &plan)?;
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
fn floor_fits(scenario: &Scenario, plan: &BenchPlan) -> Result<(), String> {
    if !scenario.faults.is_empty() {
        return Err("faults: --controller floor plays no controller process to strike".into());
    }
    if plan.replicas > 1 {
        return Err("controller.replicas: --controller floor is one process, the harness".into());
    }
    let claims = plan.schedule.max_claims();
    for (i, pool) in plan.pools.iter().enumerate() {
        let sent = (0..claims)
            .filter(|&c| plan.pool_of(c) == pool.name)
            .count();
        if sent > pool.replicas as usize {
            return Err(format!(
                "pools[{i}].replicas: --controller floor does not refill, so pool {} needs a                  member for each of its {sent} claims (it has {})",
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

fn compare(args: &CompareArgs) -> u8 {
    if let Err(message) = args.validate() {
        eprintln!("error: {message}");
        return exit::BAD_INPUT;
    }
    let read = |path: &std::path::Path| {
        let file = if path.is_dir() {
            path.join("results.json")
        } else {
            path.to_path_buf()
        };
        sandbox_reports::Results::read(&file)
    };
    let baseline = match read(&args.baseline) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return exit::INFRASTRUCTURE;
    }
    let mut regressed = false;
    for (index, path) in args.candidates.iter().enumerate() {
        let candidate = match read(path) {
            Ok(results) => results,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        };
        let comparison = sandbox_reports::compare(&baseline, &candidate, args.noise);
        regressed |= comparison.regressed();
        let markdown = sandbox_reports::render_comparison_markdown(&comparison);
        let html = match sandbox_reports::render_comparison_html(&comparison, &baseline, &candidate)
        {
            Ok(html) => html,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INFRASTRUCTURE;
            }
        };
        let stem = args.out.join(format!("compare-{}", index + 1));
        for (ext, text) in [("md", &markdown), ("html", &html)] {
            let file = stem.with_extension(ext);
            if let Err(e) = std::fs::write(&file, text) {
                eprintln!("error: cannot write {}: {e}", file.display());
                return exit::INFRASTRUCTURE;
            }
        }
        println!("{markdown}");
        println!("report: {}\n", stem.with_extension("html").display());
    }
    if regressed {
        exit::CHECK_FAILED
    } else {
        exit::OK
    }
}

/// `~/x` → `$HOME/x`, as a shell would.
fn expand_home(path: &std::path::Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

fn list_cases(cases: &[conformance::Case]) {
    let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let sections = cases.iter().map(|c| c.section.len()).max().unwrap_or(0);
    for case in cases {
        println!(
            "{:<width$}  §{:<sections$}  {}",
            case.name, case.section, case.checks
        );
    }
}

fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
