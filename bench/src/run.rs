//! One bench run from start to end: resolve the controller, bring up (or reach) the cluster,
//! start the controller, fill the pools, scrape, watch, fire, drain, scrape again, analyse,
//! write the reports, clean up. Ctrl-C while firing stops the load, keeps what was measured
//! and still cleans up.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxWarmPool};
use sandbox_reports::timeline::{self, CpuReading};
use sandbox_reports::{
    Analysis, CheckStatus, FaultsReport, Invariant, InvariantsReport, IsolationReport, LaunchType,
    Record, ReportError, ReportFiles, Results, RunMeta, Violation, evaluate, per_step,
    write_records_file, write_reports,
};
use tokio::sync::{mpsc, oneshot};

use crate::clock::RunClock;
use crate::controller::{ControllerError, ControllerKind, ControllerPlan, RunningController};
use crate::exit;
use crate::faults;
use crate::fencing;
use crate::fire::{self, Sender};
use crate::floor::{Floor, FloorError, FloorWrites};
use crate::invariants::{self, Checker};
use crate::isolation::IsolationError;
use crate::limiter::Limiter;
use crate::observe::{self, Collector, Taken};
use crate::plan::BenchPlan;
use crate::progress::Progress;
use crate::resources::{self, Probe, ProcessSample, ProcessUse};
use crate::scenario::{Cleanup, Scenario, duration};
use crate::scrape::{self, Samples};
use crate::setup::SetupError;
use crate::{cleanup, environment, setup};
use sandbox_cluster::ClusterError;
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::kind::KindConfig;
use sandbox_cluster::local::{ClientIdentity, LocalConfig, PodReadyDelay};
use sandbox_cluster::node_images::NodeImageError;
use sandbox_cluster::target::Target;
use sandbox_marks::labels::{RUN_LABEL, run_id};
use sandbox_marks::namespaces;

/// How long cleanup waits for the run's namespace to be gone on a local cluster, plus
/// [`CLEANUP_PER_CLAIM`] for each claim the schedule holds.
const LOCAL_CLEANUP_WAIT: Duration = Duration::from_secs(60);
const CLEANUP_PER_CLAIM: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scenario: Scenario,
    pub plan: BenchPlan,
    pub controller: ControllerKind,
    pub controller_bin: Option<PathBuf>,
    pub upstream_dir: Option<PathBuf>,
    /// The scenario's controller flags, then the command line's.
    pub controller_args: Vec<String>,
    /// An existing cluster instead of a local one.
    pub kubeconfig: Option<PathBuf>,
    /// A kind cluster instead of a local one (when no kubeconfig is given).
    pub kind: Option<KindConfig>,
    pub context: Option<String>,
    pub bin_dir: Option<PathBuf>,
    /// Report directory.
    pub out: PathBuf,
}

/// What a finished run measured and wrote.
#[derive(Debug)]
pub struct BenchOutcome {
    pub results: Results,
    pub files: ReportFiles,
    pub records: PathBuf,
    /// Objects of the run still in an existing cluster after cleanup: they fail the run.
    pub leaks: Vec<String>,
    /// Objects of the run a cluster the run made had not deleted in time; the cluster was
    /// removed anyway, so they are reported but do not fail the run.
    pub unfinished_cleanup: Vec<String>,
    /// Ctrl-C stopped the load early.
    pub interrupted: bool,
    /// The kubeconfig of a cluster the run made and left running for inspection (cleanup
    /// `never`/`onSuccess`).
    pub kept: Option<PathBuf>,
}

impl BenchOutcome {
    /// Interrupted, then a leak or SLO breach (1), then success.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if self.results.isolation.as_ref().is_some_and(|i| !i.passed()) {
            exit::ISOLATION_FAILED
        } else if !self.results.slo.passed()
            || !self.leaks.is_empty()
            || self
                .results
                .invariants
                .as_ref()
                .is_some_and(|i| !i.passed())
        {
            exit::CHECK_FAILED
        } else {
            exit::OK
        }
    }
}

/// Why a run could not be carried out (a breach of an SLO or a check is not an error: it is
/// in the outcome). Every variant but `Interrupted` is an infrastructure failure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    NodeImages(#[from] NodeImageError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("isolation checks: {0}")]
    Isolation(#[from] IsolationError),
    #[error("the floor: {0}")]
    Floor(#[from] FloorError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cluster.podReadyDelay: {0}")]
    PodReadyDelay(String),
    #[error(
        "no pool of the load can run on this cluster: every one needs a runtime that was not \
         installed"
    )]
    NoRunnablePool,
    #[error("the API server refused a dry-run SandboxClaim: {0}")]
    DryRunRefused(kube::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the sending runtime's client: {0}")]
    SendRuntime(#[from] tokio::task::JoinError),
    #[error("interrupted before the load started; stopped everything the run had started")]
    Interrupted,
}

impl BenchError {
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Interrupted => exit::INTERRUPTED,
            _ => exit::INFRASTRUCTURE,
        }
    }
}

/// An I/O error, named by what it was doing.
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Io {
        what: what.into(),
        source,
    }
}

pub async fn run(mut options: BenchOptions) -> Result<BenchOutcome, BenchError> {
    let controller = ControllerPlan::resolve(
        options.controller,
        options.controller_bin.clone(),
        options.upstream_dir.clone(),
        options.controller_args.clone(),
    )?;
    std::fs::create_dir_all(&options.out)
        .map_err(io(format!("cannot create {}", options.out.display())))?;
    let nodes = match &options.kind {
        Some(kind) if options.kubeconfig.is_none() => kind.workers + 1,
        _ => options.scenario.cluster.nodes.value,
    };
    let target = start_target(&options, nodes).await?;
    let missing = target.missing_runtime_classes();
    if !missing.is_empty() {
        let dropped = options.plan.without_runtime_classes(&missing);
        if !dropped.is_empty() {
            eprintln!(
                "left out pool(s) {} (RuntimeClass {} not installed, see above)",
                dropped.join(", "),
                missing.join(", ")
            );
        }
        if options.plan.claim_pools.is_empty() {
            return Err(BenchError::NoRunnablePool);
        }
    }
    let installed = controller.install_crds(&target.client).await?;
    if !installed.is_empty() {
        eprintln!("installed CRDs: {}", installed.join(", "));
    }
    let metrics_addr = controller
        .program()
        .is_some()
        .then(free_loopback_address)
        .transpose()
        .map_err(io("no free loopback port for the controller's metrics"))?;
    let replicas = start_replicas(&options, &controller, &target, metrics_addr).await?;
    let running = std::sync::Mutex::new(replicas);

    // Everything that must not inherit the harness's priority has started.
    match crate::priority::raise() {
        Ok(_) => {}
        Err(e) => eprintln!(
            "note: the harness runs at normal priority ({e}); its lag may grow when the CPU is saturated"
        ),
    }
    let run_id = run_id();
    let measured = measure(
        &options,
        &target,
        &run_id,
        &running,
        metrics_addr,
        u64::from(nodes),
    )
    .await;
    let mut running = running.into_inner().unwrap_or_else(|e| e.into_inner());
    for c in &mut running {
        if let Err(e) = c.ensure_running() {
            eprintln!("warning: the controller under test exited during the run: {e}");
        }
    }

    let keep = match (&measured, options.scenario.cleanup) {
        (_, Cleanup::Never) => true,
        (Ok(m), Cleanup::OnSuccess) => !m.results.slo.passed(),
        (Err(_), Cleanup::OnSuccess) => true,
        _ => false,
    };
    let leaks = if keep {
        eprintln!(
            "keeping the run's objects in namespace {} (cleanup: {:?})",
            namespaces::bench(&run_id),
            options.scenario.cleanup
        );
        Vec::new()
    } else {
        eprintln!("cleaning up namespace {}", namespaces::bench(&run_id));
        let claims = u32::try_from(options.plan.schedule.max_claims()).unwrap_or(u32::MAX);
        let wait = target
            .cleanup_wait
            .unwrap_or(LOCAL_CLEANUP_WAIT + CLEANUP_PER_CLAIM * claims);
        match cleanup::clean_up(&target.client, &run_id, wait).await {
            Ok(leaks) => leaks,
            Err(e) => vec![format!("cleanup failed: {e}")],
        }
    };
    let (leaks, unfinished_cleanup) = if target.disposable() {
        for left in &leaks {
            eprintln!("not deleted in time (the run's cluster is removed anyway): {left}");
        }
        (Vec::new(), leaks)
    } else {
        for leak in &leaks {
            eprintln!("leak: {leak} (labelled {RUN_LABEL}={run_id})");
        }
        (leaks, Vec::new())
    };
    // The controller goes with the harness, even when the cluster stays for inspection.
    for c in running {
        c.stop();
    }
    let kept = if keep && target.disposable() {
        Some(target.detach())
    } else {
        if let Err(e) = target.stop() {
            eprintln!("warning: removing the run's cluster: {e}");
        }
        None
    };
    let m = measured?;
    Ok(BenchOutcome {
        results: m.results,
        files: m.files,
        records: m.records,
        leaks,
        unfinished_cleanup,
        interrupted: m.interrupted,
        kept,
    })
}

struct Measured {
    results: Results,
    files: ReportFiles,
    records: PathBuf,
    interrupted: bool,
}

/// The cluster the run measures: kind, a kubeconfig's, or a local one started for the run
/// (with a real node, its replicas' identities and audit log, and kwok's Pod readiness delay as
/// the scenario asks). Ctrl-C while it starts takes down what was started.
async fn start_target(options: &BenchOptions, nodes: u32) -> Result<Target, BenchError> {
    let target = match (&options.kubeconfig, &options.kind) {
        (None, Some(kind)) => {
            // The probe image (kind's nodes bring their own pause image), built before the
            // cluster: a missing binary fails the run before minutes of `kind create`.
            let archives: Vec<PathBuf> = if options.plan.templates.iter().any(|t| t.probe) {
                vec![sandbox_cluster::node_images::probe_archive(
                    &sandbox_cluster::node_images::node_bin_dir(),
                    &options.out.join("images"),
                )?]
            } else {
                Vec::new()
            };
            // Dropping the start future on Ctrl-C drops the half-made cluster, which deletes it.
            tokio::select! {
                started = Target::kind(kind.clone(), &archives) => started?,
                _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
            }
        }
        (None, None) => {
            let mut config = LocalConfig::new(
                "bench",
                options.out.join("cluster"),
                Binaries::locate(options.bin_dir.clone()),
            );
            config.nodes = nodes;
            // Replicas connect as users of their own and the API server audits them, for the
            // fencing invariant.
            if options.plan.replicas > 1 {
                config.clients = (0..options.plan.replicas)
                    .map(|replica| ClientIdentity {
                        name: replica_name(replica),
                        group: Some("system:masters".into()),
                    })
                    .collect();
                config.audit = true;
            }
            if options.scenario.cluster.real_node() {
                let images = options.out.join("images");
                config.real_node = Some(sandbox_cluster::node_images::prepare(
                    &sandbox_cluster::node_images::node_bin_dir(),
                    &images,
                )?);
            }
            config.apiserver_gogc = options.scenario.cluster.apiserver_gogc();
            if let Some(delay) = &options.scenario.cluster.pod_ready_delay {
                config.pod_ready = PodReadyDelay {
                    delay: duration(&delay.value).map_err(BenchError::PodReadyDelay)?,
                    jitter: Duration::ZERO,
                };
            }
            eprintln!(
                "starting a local cluster with {nodes} kwok node(s){} in {}",
                if config.real_node.is_some() {
                    " and a real node (runc, gVisor)"
                } else {
                    ""
                },
                config.dir.display()
            );
            tokio::select! {
                started = Target::start_local(config) => started?,
                _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
            }
        }
        (Some(path), _) => Target::existing(path, options.context.as_deref(), &options.out).await?,
    };
    Ok(target)
}

/// The controller under test, as many replicas as the scenario asks (none for the floor or an
/// external controller), each with its own log and, on a local cluster, its own identity.
async fn start_replicas(
    options: &BenchOptions,
    controller: &ControllerPlan,
    target: &Target,
    metrics_addr: Option<SocketAddr>,
) -> Result<Vec<RunningController>, BenchError> {
    let log = options
        .out
        .join(format!("controller-{}.log", controller.kind.name()));
    let lease_namespace = (options.plan.replicas > 1).then_some(LEASE_NAMESPACE);
    let mut replicas = Vec::new();
    for replica in 0..options.plan.replicas {
        // One log per replica; the first keeps the single controller's name.
        let log = if replica == 0 {
            log.clone()
        } else {
            options.out.join(format!(
                "controller-{}-{replica}.log",
                controller.kind.name()
            ))
        };
        // Only the first replica serves the metrics the report scrapes.
        let metrics = metrics_addr.filter(|_| replica == 0);
        let pod_name = replica_name(replica);
        let election = lease_namespace.map(|ns| (ns, pod_name.as_str()));
        let kubeconfig = target
            .local()
            .map(|cluster| cluster.kubeconfig_of(&pod_name))
            .filter(|own| own.exists())
            .unwrap_or_else(|| target.kubeconfig.clone());
        let Some(c) = controller
            .start_replica(&kubeconfig, log, metrics, election)
            .await?
        else {
            break;
        };
        eprintln!(
            "controller {} running (pid {}), log: {}",
            controller.kind.name(),
            c.pid(),
            c.log().display()
        );
        replicas.push(c);
    }
    Ok(replicas)
}

/// Prepares, fires and analyses; the caller cleans up whatever happens here.
async fn measure(
    options: &BenchOptions,
    target: &Target,
    run_id: &str,
    controllers: &Mutex<Vec<RunningController>>,
    metrics_addr: Option<SocketAddr>,
    nodes: u64,
) -> Result<Measured, BenchError> {
    let controller_pid = lock(controllers).first().map(RunningController::pid);
    let plan = &options.plan;
    let client = &target.client;
    let started_at = Timestamp::now();
    let isolation = prepare(options, client, run_id).await?;

    let ns = namespaces::bench(run_id);
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), &ns);
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    // The run's clock starts once the watches are synced, below; until then no claim exists
    // to be stamped.
    let collector = Collector::start(
        plan.hold.map(|_| ready_tx),
        plan.invariants.map(|_| Checker::default()),
    );
    add_scheduled_records(&collector, plan);
    let watches = Watches::start(client, &ns, run_id, plan, &collector).await;
    let reaper = plan
        .hold
        .map(|hold| tokio::spawn(fire::reap(claims.clone(), hold, ready_rx)));
    let floor = match options.controller.floor_writes() {
        Some(writes) => Some(floor_takes_over(target, controllers, &ns, run_id, writes).await?),
        None => None,
    };
    let (controller_pid, metrics_addr) = match &floor {
        Some(_) => (None, None),
        None => (controller_pid, metrics_addr),
    };

    // Creates go out from a runtime and a client of their own, so that decoding a flood of
    // watch events never queues a send behind it.
    let sending = SendRuntime::start(&target.kubeconfig).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = Arc::new(Sender {
        api: Api::namespaced(sending.client.clone(), &ns),
        collector: collector.clone(),
        limiter: plan
            .client_limit
            .map(|(rate, burst)| Limiter::new(rate, burst)),
        run_id: run_id.to_string(),
        stop: stop.clone(),
        in_flight: AtomicUsize::new(0),
    });
    sender
        .warm_up(plan.pool_of(0))
        .await
        .map_err(BenchError::DryRunRefused)?;
    // After the warm-up, so the deltas hold the run's requests only.
    let mut processes = processes(target, controller_pid);
    processes.extend(
        floor
            .as_ref()
            .map(|f| ("floor".to_string(), Probe::Thread(f.tid))),
    );
    let before = Scrape::take(client, metrics_addr, &processes).await;
    let clock = collector.start_clock();
    let step_ends = (!plan.steps.is_empty())
        .then(|| scrape_at_step_ends(plan, clock, client, &processes, stop.clone()));
    // The timeline's CPU goes on through the refill after the load, until the last scrape.
    let cpu_stop = Arc::new(AtomicBool::new(false));
    let cpu = resources::every_second(
        clock,
        timeline_processes(target, &processes),
        cpu_stop.clone(),
    );
    let breaker = plan
        .stop_above
        .map(|bound| stop_at_broken_step(&collector, plan, bound, stop.clone()));
    let wall = Instant::now();
    let total = plan.schedule.max_claims() as u64;
    eprintln!(
        "firing: {}",
        plan.describe()
            .lines()
            .find(|l| l.trim_start().starts_with("load:"))
            .unwrap_or("")
            .trim()
    );
    let mut bar = Progress::new("claims", total);
    let firing = fire_and_drain(&sender, plan, &sending, &collector);
    let fault_targets = faults::inject::Targets {
        client: client.clone(),
        namespace: ns.clone(),
        controllers,
        cluster: target.local(),
        lease_namespace: (plan.replicas > 1).then(|| LEASE_NAMESPACE.to_string()),
    };
    let mut fault_report = None;
    let held = faults::inject::Held::default();
    let firing = async {
        let injecting = async {
            if !plan.faults.is_empty() {
                fault_report = Some(
                    faults::inject::run(&fault_targets, &plan.faults, clock.start(), &held).await,
                );
            }
        };
        let both = async { futures::join!(firing, injecting) };
        if plan.faults.is_empty() {
            both.await;
        } else {
            tokio::select! {
                _ = both => {}
                () = faults::inject::supervise(controllers, &held) => {}
            }
        }
    };
    let ticker = show_progress(&collector, &mut bar, total);
    let interrupted = tokio::select! {
        () = firing => false,
        () = ticker => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    stop.store(true, Ordering::SeqCst);
    if interrupted && !plan.faults.is_empty() {
        heal(&fault_targets);
    }
    if interrupted {
        eprintln!("interrupted: stopped sending; writing what was measured");
        let_creates_land(&sender).await;
    }
    if let Some(breaker) = breaker {
        breaker.abort();
    }
    let elapsed = wall.elapsed();
    let counts = collector.counts().await;
    bar.finish(&format!(
        "{} sent, {} Ready, {} failed",
        counts.sent, counts.ready, counts.failed
    ));
    let invariants = match plan.invariants {
        Some(recovery) if !interrupted => Some(
            final_checks(
                client,
                &ns,
                plan,
                clock,
                recovery,
                fault_report
                    .as_ref()
                    .map_or(0, FaultsReport::last_restored_ms),
            )
            .await,
        ),
        _ => None,
    };
    watches.abort();
    if let Some(reaper) = reaper {
        reaper.abort();
    }
    let refill_ms = if interrupted || floor.is_some() || plan.pools.is_empty() {
        None
    } else {
        refill_time(client, plan, run_id).await
    };
    if let Some(floor) = &floor
        && !floor.settled(FLOOR_SETTLE_LIMIT).await
    {
        eprintln!("floor: writes still unanswered after {FLOOR_SETTLE_LIMIT:?}; not counted");
    }
    let after = Scrape::take(client, metrics_addr, &processes).await;
    cpu_stop.store(true, Ordering::SeqCst);
    drop(floor);
    drop(sender);
    sending.runtime.shutdown_background();
    // Creates still unanswered may stamp too; what they stamp from now on is not part of the
    // run.
    let Taken { ledger, checker } = collector.take().await;
    let records = ledger.finish();
    let run_start = Timestamp::now() - Duration::from_micros(clock.now_us());
    let fencing = fencing_checks(target, plan, run_start);
    let invariants = invariants.map(|(found, recovery_ms, last_fault_ms)| {
        let checked_after = checker.map(|checker| {
            checker.finish(&records, last_fault_ms, recovery_ms, clock.now_us() / 1000)
        });
        invariants_report(found, recovery_ms, fencing, checked_after)
    });

    report(
        options,
        target,
        nodes,
        Gathered {
            records,
            started_at,
            elapsed,
            before,
            after,
            isolation,
            faults: fault_report,
            invariants,
            refill_ms,
            step_ends,
            cpu,
            interrupted,
        },
    )
    .await
}

/// The open schedule's claims as records, added first and in order: claim `i` is record `i`.
fn add_scheduled_records(collector: &Collector, plan: &BenchPlan) {
    if let crate::schedule::Schedule::Open(offsets) = &plan.schedule {
        for (i, offset) in offsets.iter().enumerate() {
            let intended = u64::try_from(offset.as_micros()).unwrap_or(u64::MAX);
            collector.add(Record::new(
                BenchPlan::claim_name(i),
                plan.pool_of(i),
                LaunchType::Unknown,
                intended,
            ));
        }
    }
}

/// How long the run waits after the load for the floor's last writes to be answered.
const FLOOR_SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// The floor takes over from the controller that filled the pools: that controller stops and
/// the harness serves each claim itself.
async fn floor_takes_over(
    target: &Target,
    controllers: &Mutex<Vec<RunningController>>,
    ns: &str,
    run_id: &str,
    writes: FloorWrites,
) -> Result<Floor, BenchError> {
    for filler in std::mem::take(&mut *lock(controllers)) {
        filler.stop();
    }
    let selector = format!("{RUN_LABEL}={run_id}");
    let floor = Floor::start(&target.kubeconfig, ns, &selector, writes).await?;
    eprintln!("floor: serving the claims itself (thread {})", floor.tid);
    Ok(floor)
}

/// Sends the schedule's claims, then drains: until every sent claim is Ready or failed, or the
/// drain time is up.
async fn fire_and_drain(
    sender: &Arc<Sender>,
    plan: &BenchPlan,
    sending: &SendRuntime,
    collector: &Collector,
) {
    match &plan.schedule {
        crate::schedule::Schedule::Open(offsets) => {
            fire::open_loop(
                sender.clone(),
                plan,
                offsets,
                sending.runtime.handle().clone(),
            )
            .await
        }
        crate::schedule::Schedule::Closed {
            concurrency,
            count,
            duration,
        } => {
            fire::closed_loop(
                sender.clone(),
                plan,
                *concurrency,
                *count,
                *duration,
                plan.drain,
            )
            .await
        }
    }
    let deadline = Instant::now() + plan.drain;
    while Instant::now() < deadline
        && (sender.in_flight.load(Ordering::SeqCst) > 0 || !collector.settled().await)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The progress bar, from the collector's counts five times a second; runs until dropped.
async fn show_progress(collector: &Collector, bar: &mut Progress, total: u64) {
    loop {
        let counts = collector.counts().await;
        bar.update(
            counts.sent as u64,
            total,
            &format!("ready {}, failed {}", counts.ready, counts.failed),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Gives creates already sent up to 5 s to be answered, so that an interrupted run does not
/// count them lost.
async fn let_creates_land(sender: &Sender) {
    let _ = sandbox_cluster::poll::until(Duration::from_secs(5), Duration::from_millis(20), || {
        let answered = sender.in_flight.load(Ordering::SeqCst) == 0;
        async move { answered.then_some(()) }
    })
    .await;
}

/// What a run gathered, before it is analysed and written.
struct Gathered {
    records: Vec<Record>,
    started_at: Timestamp,
    elapsed: Duration,
    before: Scrape,
    after: Scrape,
    isolation: Option<IsolationReport>,
    faults: Option<FaultsReport>,
    invariants: Option<InvariantsReport>,
    refill_ms: Option<u64>,
    step_ends: Option<tokio::task::JoinHandle<Vec<Scrape>>>,
    /// The processes' CPU time read every second, for the timeline.
    cpu: tokio::task::JoinHandle<Vec<CpuReading>>,
    interrupted: bool,
}

/// Analyses what the run gathered against its SLOs and writes the records and the reports.
async fn report(
    options: &BenchOptions,
    target: &Target,
    nodes: u64,
    gathered: Gathered,
) -> Result<Measured, BenchError> {
    let Gathered {
        records,
        started_at,
        elapsed,
        before,
        after,
        isolation,
        faults,
        invariants,
        refill_ms,
        step_ends,
        cpu,
        interrupted,
    } = gathered;
    let plan = &options.plan;
    let client = &target.client;
    let records_path = options.out.join("records.jsonl");
    write_records_file(&records_path, &records)?;
    let analysis = Analysis::from_records(&records)?;
    let slo = evaluate(&plan.slos, &analysis.latencies, &analysis.errors)?;
    let meta = RunMeta {
        scenario: plan.name.clone(),
        started_at: started_at.to_string(),
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        intended_rate_per_s: plan.intended_rate,
        seed: plan.seed,
        environment: environment::fingerprint(
            client,
            target.local().is_some(),
            options.scenario.cluster.apiserver_gogc(),
            options.controller,
            nodes,
        )
        .await,
    };
    let metrics = before.delta(&after);
    let mut results = Results::new(meta, &analysis, slo, metrics)?;
    results.isolation = isolation;
    results.faults = faults;
    results.invariants = invariants;
    results.refill_ms = refill_ms;
    match tokio::time::timeout(Duration::from_secs(5), cpu).await {
        Ok(Ok(readings)) => timeline::add_cpu(&mut results.timeline, &readings),
        _ => eprintln!("note: the per-second CPU readings are missing"),
    }
    if !plan.steps.is_empty() {
        let mut steps = per_step(&records, plan.warm_up.as_ref(), &plan.steps)?;
        if let Some(task) = step_ends {
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(scrapes)) => {
                    let windows = steps.warm_up.iter_mut().chain(&mut steps.steps);
                    add_step_resources(windows, &before, &scrapes);
                }
                _ => eprintln!("note: the per-step resource readings are missing"),
            }
        }
        results.steps = Some(steps);
    }
    let files = write_reports(&options.out, &results)?;
    Ok(Measured {
        results,
        files,
        records: records_path,
        interrupted,
    })
}

/// The run's watches: its claims, the sandboxes of its namespace and, when the run checks
/// invariants, its Pods, each stamping into the collector.
struct Watches {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watches {
    /// Starts the watches and waits (up to 30 s) until each has listed, so the first claim's
    /// transitions are all seen.
    async fn start(
        client: &kube::Client,
        ns: &str,
        run_id: &str,
        plan: &BenchPlan,
        collector: &Collector,
    ) -> Self {
        let (claims_synced, claims_synced_rx) = oneshot::channel();
        let (sandboxes_synced, sandboxes_synced_rx) = oneshot::channel();
        let mut tasks = vec![
            tokio::spawn(observe::watch_claims(
                Api::namespaced(client.clone(), ns),
                format!("{RUN_LABEL}={run_id}"),
                collector.clone(),
                claims_synced,
            )),
            tokio::spawn(observe::watch_sandboxes(
                Api::namespaced(client.clone(), ns),
                collector.clone(),
                sandboxes_synced,
            )),
        ];
        let (pods_synced, pods_synced_rx) = oneshot::channel();
        let pods = plan.invariants.is_some();
        if pods {
            tasks.push(tokio::spawn(observe::watch_pods(
                Api::namespaced(client.clone(), ns),
                collector.clone(),
                pods_synced,
            )));
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            let _ = claims_synced_rx.await;
            let _ = sandboxes_synced_rx.await;
            if pods {
                let _ = pods_synced_rx.await;
            }
        })
        .await;
        Self { tasks }
    }

    fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// A stepped load: the processes and the API server read again at each step's end (a load
/// stopped early ends its step there).
fn scrape_at_step_ends(
    plan: &BenchPlan,
    clock: RunClock,
    client: &kube::Client,
    processes: &[(String, Probe)],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Scrape>> {
    let (client, processes) = (client.clone(), processes.to_vec());
    let ends: Vec<Duration> = plan
        .warm_up
        .iter()
        .chain(&plan.steps)
        .map(|s| Duration::from_micros(s.to_us))
        .collect();
    tokio::spawn(async move {
        let mut scrapes = Vec::new();
        for end in ends {
            let stopped = clock.wait_until(end, &stop).await;
            scrapes.push(Scrape::take(&client, None, &processes).await);
            if stopped {
                break;
            }
        }
        scrapes
    })
}

/// The invariants' verdict: what was found during the load, the leader fencing checks (left
/// out of `checked` when the run could not check them) and what the checker found over the
/// records afterwards.
fn invariants_report(
    mut found: Vec<Violation>,
    recovery_ms: u64,
    fencing: Option<Vec<Violation>>,
    checked_after: Option<Vec<Violation>>,
) -> InvariantsReport {
    let mut checked = Invariant::ALL.to_vec();
    match fencing {
        Some(breaches) => found.extend(breaches),
        None => checked.retain(|i| *i != Invariant::LeaderFenced),
    }
    found.extend(checked_after.into_iter().flatten());
    found.sort_by_key(|v| (v.at_ms, v.invariant));
    for (invariant, count) in invariants::tally(&found) {
        eprintln!(
            "invariant violated: {invariant} ({count}×): {}",
            invariant.promise()
        );
    }
    InvariantsReport {
        checked,
        recovery_bound_ms: recovery_ms,
        violations: found,
    }
}

/// Before the load: the run's objects created, the pools full, and the isolation checks run
/// when the scenario asks for them.
async fn prepare(
    options: &BenchOptions,
    client: &kube::Client,
    run_id: &str,
) -> Result<Option<IsolationReport>, BenchError> {
    let plan = &options.plan;
    setup::create(client, plan, run_id).await?;
    let mut fill = Progress::new("pool fill", u64::from(plan.warm_sandboxes()));
    let filled = setup::wait_for_pools(
        client,
        plan,
        run_id,
        setup::fill_timeout(plan),
        |ready, wanted| {
            fill.update(ready, wanted, "sandboxes Ready");
        },
    );
    tokio::select! {
        filled = filled => filled?,
        _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
    }
    fill.finish("pools full");

    Ok(match &options.scenario.isolation {
        Some(spec) => {
            eprintln!(
                "isolation: probing {} sandboxes against {} controls",
                spec.value.runtime_class.value,
                spec.value.control()
            );
            let ns = namespaces::bench(run_id);
            let checked = crate::isolation::run(client, &ns, run_id, &spec.value);
            let report = tokio::select! {
                report = checked => report?,
                _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
            };
            let passed = report
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Pass)
                .count();
            eprintln!("isolation: {passed}/{} checks passed", report.checks.len());
            Some(report)
        }
        None => None,
    })
}

/// Refill counts in a controller's cost per claim: the last reading waits for the pools to be
/// full again (a controller may hold refill back while claims arrive); how long that took.
async fn refill_time(client: &kube::Client, plan: &BenchPlan, run_id: &str) -> Option<u64> {
    let load_over = Instant::now();
    let timeout = setup::fill_timeout(plan);
    match setup::wait_for_pools(client, plan, run_id, timeout, |_, _| {}).await {
        Ok(()) => Some(u64::try_from(load_over.elapsed().as_millis()).unwrap_or(u64::MAX)),
        Err(e) => {
            eprintln!(
                "note: {e} (after the load); its cost per claim leaves part of the refill out"
            );
            None
        }
    }
}

/// Each step's CPU per claim by process, and API writes per claim (in all and by request),
/// from the readings taken at the start of the load (`before`) and at each step's end, the
/// warm-up's end first when there is one.
fn add_step_resources<'a>(
    steps: impl Iterator<Item = &'a mut sandbox_reports::StepSummary>,
    before: &Scrape,
    ends: &[Scrape],
) {
    let mut previous = before;
    for (step, end) in steps.zip(ends) {
        let cost = scrape::per_claim(&previous.delta(end), step.claims);
        step.cpu_seconds_per_claim = cost.cpu_seconds;
        step.writes_per_claim = cost.writes;
        step.writes_by_request = cost.writes_by_request;
        previous = end;
    }
}

/// The runtime creates are sent from, with a client whose connections live on it.
struct SendRuntime {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl SendRuntime {
    async fn start(kubeconfig: &Path) -> Result<Self, BenchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox-bench-send")
            .enable_all()
            .build()
            .map_err(io("cannot start the sending runtime"))?;
        let path = kubeconfig.to_path_buf();
        // Built inside the runtime: the client's request queue runs where it is made.
        let client = runtime
            .spawn(async move { sandbox_cluster::connect(&path, None).await })
            .await??;
        Ok(Self { runtime, client })
    }
}

/// The processes whose CPU and memory the report shows: the controller, and on a local
/// cluster the API server and etcd.
fn processes(target: &Target, controller_pid: Option<u32>) -> Vec<(String, Probe)> {
    let mut out: Vec<(String, Probe)> = controller_pid
        .map(|pid| ("controller".to_string(), Probe::Process(pid)))
        .into_iter()
        .collect();
    if let Some(cluster) = target.local() {
        for c in &cluster.state().components {
            if c.name == "kube-apiserver" || c.name == "etcd" {
                out.push((c.name.clone(), Probe::Process(c.pid)));
            }
        }
    }
    out
}

/// The processes the timeline reads every second: those of the report, the local cluster's
/// other components, and the harness itself, so that a slow second shows who was busy.
fn timeline_processes(target: &Target, reported: &[(String, Probe)]) -> Vec<(String, Probe)> {
    let mut out = reported.to_vec();
    if let Some(cluster) = target.local() {
        for c in &cluster.state().components {
            if !out.iter().any(|(name, _)| *name == c.name) {
                out.push((c.name.clone(), Probe::Process(c.pid)));
            }
        }
    }
    out.push(("harness".to_string(), Probe::Process(std::process::id())));
    out
}

/// Metrics and process readings at one moment.
struct Scrape {
    controller: Option<Samples>,
    apiserver: Option<Samples>,
    processes: Vec<(String, ProcessSample)>,
    /// When the processes were read: their CPU per wall second runs between two of these.
    taken_at: Instant,
}

impl Scrape {
    async fn take(
        client: &kube::Client,
        controller: Option<SocketAddr>,
        processes: &[(String, Probe)],
    ) -> Self {
        let controller = match controller {
            Some(addr) => match scrape::http_metrics(addr).await {
                Ok(text) => Some(scrape::parse(&text)),
                Err(error) => {
                    tracing::warn!(%error, "could not scrape the controller's metrics");
                    None
                }
            },
            None => None,
        };
        let apiserver = match scrape::apiserver_metrics(client).await {
            Ok(text) => Some(scrape::parse(&text)),
            Err(error) => {
                tracing::warn!(%error, "could not scrape the API server's metrics");
                None
            }
        };
        let processes = processes
            .iter()
            .filter_map(|(name, probe)| Some((name.clone(), probe.sample()?)))
            .collect();
        Self {
            controller,
            apiserver,
            processes,
            taken_at: Instant::now(),
        }
    }

    /// What changed between `self` and `after`, as `results.json` keeps it. The processes'
    /// cores are their CPU over the wall time between the two readings, which for a run's last
    /// reading includes the refill after the load.
    fn delta(&self, after: &Scrape) -> BTreeMap<String, serde_json::Value> {
        let wall_seconds = after
            .taken_at
            .saturating_duration_since(self.taken_at)
            .as_secs_f64();
        let mut metrics = BTreeMap::new();
        if let (Some(a), Some(b)) = (&self.controller, &after.controller) {
            let deltas = scrape::counter_deltas(a, b, |_| true);
            metrics.insert("controller_metrics".into(), serde_json::json!(deltas));
        }
        if let (Some(a), Some(b)) = (&self.apiserver, &after.apiserver) {
            metrics.insert(
                "apiserver_requests".into(),
                serde_json::json!(scrape::apiserver_requests(a, b)),
            );
        }
        let mut used = BTreeMap::new();
        for (name, before) in &self.processes {
            if let Some((_, after)) = after.processes.iter().find(|(n, _)| n == name) {
                used.insert(
                    name.clone(),
                    ProcessUse::between(before, after, wall_seconds),
                );
            }
        }
        if !used.is_empty() {
            metrics.insert("processes".into(), serde_json::json!(used));
        }
        metrics
    }
}

/// How long past the recovery bound a Sandbox may wait for the garbage collector: churn
/// deletes claims until the end, and the collector works through them in its own time.
const GC_GRACE: Duration = Duration::from_secs(30);

/// Where replicas keep their leader election Lease (it outlives the run's namespace).
const LEASE_NAMESPACE: &str = "default";

fn lock(controllers: &Mutex<Vec<RunningController>>) -> MutexGuard<'_, Vec<RunningController>> {
    controllers.lock().unwrap_or_else(|e| e.into_inner())
}

/// After Ctrl-C cut a fault short: resume paused replicas and start again whatever a strike
/// had killed, so that cleanup finds a working cluster.
fn heal(targets: &faults::inject::Targets<'_>) {
    for c in lock(targets.controllers).iter_mut() {
        let _ = c.signal(nix::sys::signal::Signal::SIGCONT);
        if let Err(e) = c.respawn() {
            eprintln!("warning: could not restart a killed controller replica: {e}");
        }
    }
    if let Some(cluster) = targets.cluster {
        for name in ["etcd", "kube-apiserver"] {
            if let Err(e) = cluster.start_again(name) {
                eprintln!("warning: could not restart {name}: {e}");
            }
        }
    }
}

/// Replica `i`'s Pod name, and its user name where it connects as a user of its own.
fn replica_name(replica: u32) -> String {
    format!("sandbox-controller-{replica}")
}

/// The fencing invariant from the local cluster's audit log, if the replicas were audited;
/// `None` when they were not (one replica, or a cluster the run did not start).
fn fencing_checks(
    target: &Target,
    plan: &BenchPlan,
    run_start: Timestamp,
) -> Option<Vec<Violation>> {
    let log = target.local()?.audit_log();
    if plan.replicas < 2 || !log.exists() {
        return None;
    }
    let text = match std::fs::read_to_string(&log) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("warning: cannot read the audit log {}: {e}", log.display());
            return None;
        }
    };
    let (events, skipped) = fencing::parse(&text);
    if skipped > 0 {
        eprintln!("note: {skipped} audit line(s) could not be read (a server killed mid-line)");
    }
    let replicas: Vec<String> = (0..plan.replicas).map(replica_name).collect();
    Some(fencing::check(&events, &replicas, run_start))
}

/// The invariants judged once the load is over: pools back at their replica count by the
/// recovery bound, and no orphan Sandbox. Returns the violations with the recovery bound and
/// the last fault's repair, in ms, for the claims' own check.
async fn final_checks(
    client: &kube::Client,
    ns: &str,
    plan: &BenchPlan,
    clock: RunClock,
    recovery: Duration,
    last_fault_ms: u64,
) -> (Vec<Violation>, u64, u64) {
    let recovery_ms = u64::try_from(recovery.as_millis()).unwrap_or(u64::MAX);
    let deadline = clock.at(Duration::from_millis(last_fault_ms) + recovery);
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), ns);
    let mut found = Vec::new();
    eprintln!(
        "invariants: waiting for the pools to refill and orphans to be collected (until the recovery bound)"
    );
    loop {
        let fill: Vec<(String, u32, u32)> = match pools.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter(|p| {
                    plan.pools
                        .iter()
                        .any(|want| Some(&want.name) == p.metadata.name.as_ref())
                })
                .map(|p| {
                    let ready = p.status.as_ref().map_or(0, |s| s.ready_replicas);
                    (
                        p.metadata.name.clone().unwrap_or_default(),
                        u32::try_from(
                            p.spec
                                .replicas
                                .unwrap_or(sandbox_api::v1beta1::DEFAULT_REPLICAS),
                        )
                        .unwrap_or(0),
                        u32::try_from(ready).unwrap_or(0),
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the run's pools");
                Vec::new()
            }
        };
        let now_ms = clock.now_us() / 1000;
        let short = invariants::unfilled_pools(&fill, now_ms);
        // A Sandbox whose claim is gone waits for the garbage collector, which may lag.
        let orphaned = match orphans(client, ns, now_ms).await {
            Ok(orphans) => orphans,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the run's objects for orphans");
                Vec::new()
            }
        };
        if short.is_empty() && orphaned.is_empty() && !fill.is_empty() {
            break;
        }
        // Orphans whose claim was deleted just before the bound get the collector's grace.
        if Instant::now() >= deadline
            && (orphaned.is_empty() || Instant::now() >= deadline + GC_GRACE)
        {
            found.extend(short);
            found.extend(orphaned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (found, recovery_ms, last_fault_ms)
}

/// Sandboxes of `ns` whose controller is not a claim or pool that exists now.
async fn orphans(
    client: &kube::Client,
    ns: &str,
    at_ms: u64,
) -> Result<Vec<Violation>, kube::Error> {
    let lp = ListParams::default();
    let mut owners = std::collections::BTreeSet::new();
    for claim in Api::<SandboxClaim>::namespaced(client.clone(), ns)
        .list(&lp)
        .await?
    {
        owners.extend(claim.metadata.uid);
    }
    for pool in Api::<SandboxWarmPool>::namespaced(client.clone(), ns)
        .list(&lp)
        .await?
    {
        owners.extend(pool.metadata.uid);
    }
    let sandboxes: Vec<(String, Option<String>, bool)> =
        Api::<Sandbox>::namespaced(client.clone(), ns)
            .list(&lp)
            .await?
            .into_iter()
            .map(|s| {
                let controller = s
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|r| r.controller == Some(true))
                    .map(|r| r.uid.clone());
                (
                    s.metadata.name.unwrap_or_default(),
                    controller,
                    s.metadata.deletion_timestamp.is_some(),
                )
            })
            .collect();
    Ok(invariants::orphans(&sandboxes, &owners, at_ms))
}

fn free_loopback_address() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// The default report directory: `runs/bench/<scenario>-<UTC time>`.
pub fn default_out(scenario: &str) -> PathBuf {
    timestamped_out(Path::new("runs/bench"), scenario)
}

/// `<root>/<scenario>-<UTC time>`.
pub fn timestamped_out(root: &Path, scenario: &str) -> PathBuf {
    let now = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    root.join(format!("{scenario}-{now}"))
}

/// Watches each step of a stepped load while it runs and until its claims have had `bound`
/// to become Ready; once one is known to put warm claim Ready p99 above `bound`, sends no
/// more claims (the steps after it are not run, and not reported).
fn stop_at_broken_step(
    collector: &Collector,
    plan: &BenchPlan,
    bound: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (collector, steps) = (collector.clone(), plan.steps.clone());
    let bound_us = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
    tokio::spawn(async move {
        let clock = collector.clock();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        for step in steps.iter().take(steps.len().saturating_sub(1)) {
            while clock.now_us() < step.to_us.saturating_add(bound_us) {
                tick.tick().await;
                let now = clock.now_us();
                if collector
                    .step_broke(step.from_us, step.to_us, bound_us, now)
                    .await
                {
                    eprintln!(
                        "stopping: the step at {}/s put claim Ready p99 above {}; no further step",
                        step.rate_per_s,
                        humantime::format_duration(bound)
                    );
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    })
}
