//! Carries out a run's fault strikes, each at its time on the run's clock, and records what
//! each did (or why it could not) for `results.json`.
//!
//! Strikes run concurrently: an outage (a paused leader, an API server down) may span other
//! strikes. Every strike is bounded: a kill restarts after its outage, a pause resumes, a
//! deletion is one request per object.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use nix::sys::signal::Signal;
use sandbox_reports::{FaultRecord, FaultsReport};

use super::spec::{FaultKind, Strike};
use crate::controller::RunningController;
use sandbox_cluster::local::KWOK_NODE_LABEL as NODE_LABEL;
use sandbox_cluster::local::LocalCluster;
use sandbox_marks::guarded_delete::{
    self, Checked, CheckedNamespace, Deleted, GuardedDeleteError, Refusal, RequiredLabel,
};
use sandbox_marks::labels::HARNESS_NODE_LABEL;

/// What the strikes act on.
pub struct Targets<'a> {
    pub client: kube::Client,
    /// The run's namespace: Pods are deleted only there, and only while it carries the run
    /// label of the run it is named after.
    pub namespace: String,
    /// The controller's processes, replica by replica.
    pub controllers: &'a Mutex<Vec<RunningController>>,
    /// The local cluster's processes, when the run started them.
    pub cluster: Option<&'a LocalCluster>,
    /// Where the leader's Lease lives, when replicas elect one.
    pub lease_namespace: Option<String>,
}

/// Fires `strikes` at `clock_start + strike.at` and returns, once every strike and its outage
/// is over, what fired.
pub async fn run(
    targets: &Targets<'_>,
    strikes: &[Strike],
    clock_start: Instant,
    held: &Held,
) -> FaultsReport {
    let report = Mutex::new(FaultsReport::default());
    let paused = &held.0;
    let ms = |at: Instant| {
        u64::try_from(at.saturating_duration_since(clock_start).as_millis()).unwrap_or(u64::MAX)
    };
    // Each strike's ordinal among the strikes of its kind: kills take the replicas in turn.
    let ordinals: Vec<usize> = strikes
        .iter()
        .enumerate()
        .map(|(i, s)| strikes[..i].iter().filter(|o| o.kind == s.kind).count())
        .collect();
    let all = strikes.iter().zip(ordinals).map(|(strike, n)| {
        let report = &report;
        async move {
            tokio::time::sleep_until((clock_start + strike.at).into()).await;
            let at = Instant::now();
            let done = strike_once(targets, paused, strike, n).await;
            let mut report = report.lock().unwrap_or_else(|e| e.into_inner());
            match done {
                Ok(Struck { detail, restored }) => report.record(FaultRecord {
                    kind: strike.kind.name().into(),
                    at_ms: ms(at),
                    restored_ms: restored.map(ms),
                    detail,
                }),
                Err(why) => {
                    tracing::warn!(fault = strike.kind.name(), %why, "fault not carried out");
                    report.failed.push(FaultRecord {
                        kind: strike.kind.name().into(),
                        at_ms: ms(at),
                        restored_ms: None,
                        detail: why,
                    });
                }
            }
        }
    });
    futures::future::join_all(all).await;
    report.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// What one strike did, and when what it broke was back.
struct Struck {
    detail: String,
    restored: Option<Instant>,
}

/// Replicas a strike holds down right now (paused, or killed and not yet restarted), by
/// index: kills leave them be, so a pause lasts its length, and the supervisor leaves them be,
/// so an outage lasts its length.
#[derive(Debug, Default)]
pub struct Held(Mutex<BTreeSet<usize>>);

type Paused = Mutex<BTreeSet<usize>>;

/// API strikes retried this often, a second apart, when the API server cannot be reached (it
/// may be the one a concurrent strike restarted).
const API_ATTEMPTS: usize = 5;

/// Runs `strike` until it succeeds, or fails other than by an unreachable API server.
async fn with_retries<F, Fut>(mut strike: F) -> Result<Struck, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Struck, ApiStrikeError>>,
{
    let mut last = String::new();
    for _ in 0..API_ATTEMPTS {
        match strike().await {
            Ok(done) => return Ok(done),
            Err(ApiStrikeError::Unreachable(why)) => last = why,
            Err(ApiStrikeError::Refused(why)) => return Err(why),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("{last} ({API_ATTEMPTS} attempts)"))
}

/// Why an API strike failed: worth another try, or not.
enum ApiStrikeError {
    Unreachable(String),
    Refused(String),
}

impl ApiStrikeError {
    fn of(what: String, e: &kube::Error) -> Self {
        let why = format!("{what}: {e}");
        match e {
            kube::Error::Api(_) => ApiStrikeError::Refused(why),
            _ => ApiStrikeError::Unreachable(why),
        }
    }
}

async fn strike_once(
    targets: &Targets<'_>,
    paused: &Paused,
    strike: &Strike,
    n: usize,
) -> Result<Struck, String> {
    match strike.kind {
        FaultKind::ControllerKill => kill_controller(targets, paused, strike.outage, n).await,
        FaultKind::ControllerPause => pause_controller(targets, paused, strike.outage).await,
        FaultKind::ApiserverRestart => restart(targets, "kube-apiserver", strike.outage).await,
        FaultKind::EtcdRestart => restart(targets, "etcd", strike.outage).await,
        FaultKind::NodeLoss => with_retries(|| lose_node(targets)).await,
        FaultKind::PodKill => with_retries(|| kill_pods(targets, strike.pods, n)).await,
    }
}

/// Marks `replica` held down by a strike, or released.
fn hold(set: &Paused, replica: usize, held: bool) {
    let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
    if held {
        set.insert(replica);
    } else {
        set.remove(&replica);
    }
}

fn lock<'a>(
    controllers: &'a Mutex<Vec<RunningController>>,
) -> std::sync::MutexGuard<'a, Vec<RunningController>> {
    controllers.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs one replica (the `n`th kill takes the `n mod k`th of the `k` replicas not paused,
/// so every replica is killed in turn, the leader among them) and starts it again after
/// `outage`.
async fn kill_controller(
    targets: &Targets<'_>,
    paused_set: &Paused,
    outage: Duration,
    n: usize,
) -> Result<Struck, String> {
    let (replica, pid) = {
        let mut all = lock(targets.controllers);
        let paused = paused_set.lock().unwrap_or_else(|e| e.into_inner());
        let running: Vec<usize> = (0..all.len()).filter(|i| !paused.contains(i)).collect();
        if running.is_empty() {
            return Err("no running controller replica to kill".into());
        }
        let replica = running[n % running.len()];
        let pid = all[replica].pid();
        all[replica].kill();
        drop(paused);
        hold(paused_set, replica, true);
        (replica, pid)
    };
    tokio::time::sleep(outage).await;
    let new_pid = {
        let mut all = lock(targets.controllers);
        let restarted = all[replica].respawn();
        hold(paused_set, replica, false);
        restarted
            .map_err(|e| format!("replica {replica} killed (pid {pid}) but not restarted: {e}"))?;
        all[replica].pid()
    };
    Ok(Struck {
        detail: format!("SIGKILL replica {replica} (pid {pid}), restarted as pid {new_pid}"),
        restored: Some(Instant::now()),
    })
}

/// SIGSTOPs the leading replica (or the only one) for `outage`, then SIGCONT: with a second
/// replica, the paused leader's lease runs out and the other takes over while the paused one
/// still believes it leads.
async fn pause_controller(
    targets: &Targets<'_>,
    paused: &Paused,
    outage: Duration,
) -> Result<Struck, String> {
    let holder = match &targets.lease_namespace {
        Some(ns) => leader_holder(&targets.client, ns).await,
        None => None,
    };
    let (replica, pid) = {
        let all = lock(targets.controllers);
        if all.is_empty() {
            return Err("no controller process to pause".into());
        }
        let replica = holder
            .as_deref()
            .and_then(|h| all.iter().position(|c| leads(h, c.pid())))
            .unwrap_or(0);
        let pid = all[replica].pid();
        all[replica]
            .signal(Signal::SIGSTOP)
            .map_err(|e| e.to_string())?;
        hold(paused, replica, true);
        (replica, pid)
    };
    tokio::time::sleep(outage).await;
    let resumed = lock(targets.controllers)[replica].signal(Signal::SIGCONT);
    hold(paused, replica, false);
    resumed.map_err(|e| format!("replica {replica} paused but not resumed: {e}"))?;
    Ok(Struck {
        detail: format!(
            "SIGSTOP replica {replica} (pid {pid}{}) for {}",
            if holder.is_some() { ", the leader" } else { "" },
            humantime::format_duration(outage)
        ),
        restored: Some(Instant::now()),
    })
}

async fn leader_holder(client: &kube::Client, namespace: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    leases
        .get_opt(sandbox_api::keys::LEADER_LEASE_NAME)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// Whether the Lease holder `holder` names the process `pid`: the reference controller holds
/// as `<name>_<pid>`. Upstream's identity carries no pid; it is then not found and the first
/// replica is taken.
fn leads(holder: &str, pid: u32) -> bool {
    holder
        .rsplit_once('_')
        .is_some_and(|(_, p)| p == pid.to_string())
}

/// Kills a control-plane process and starts it again on its ports and data after `outage`.
/// kwok, which plays every node's kubelet, is started again with it: unlike a kubelet it does
/// not always resume its Pod watch once the control plane is back, and its nodes' Pods would
/// then never turn Ready, which no controller could be blamed for.
async fn restart(targets: &Targets<'_>, name: &str, outage: Duration) -> Result<Struck, String> {
    let cluster = targets
        .cluster
        .ok_or_else(|| format!("{name} restarts need the local provider"))?;
    let pid = cluster.kill(name).map_err(|e| e.to_string())?;
    tokio::time::sleep(outage).await;
    let new_pid = cluster
        .start_again(name)
        .map_err(|e| format!("{name} killed (pid {pid}) but not restarted: {e}"))?;
    let kwok = cluster
        .kill(KWOK)
        .and_then(|_| cluster.start_again(KWOK))
        .map_err(|e| format!("{name} restarted, but kwok not: {e}"))?;
    Ok(Struck {
        detail: format!(
            "{name} SIGKILLed (pid {pid}), restarted as pid {new_pid}; kwok restarted as pid {kwok}"
        ),
        restored: Some(Instant::now()),
    })
}

const KWOK: &str = "kwok";

/// Starts again every replica that exited on its own (a leader that lost its lease stops), a
/// second after it is found gone, as the kubelet restarts a Pod's container; runs until
/// dropped.
pub async fn supervise(controllers: &Mutex<Vec<RunningController>>, held: &Held) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let held = held.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (replica, c) in lock(controllers).iter_mut().enumerate() {
            if !held.contains(&replica) && c.ensure_running().is_err() {
                match c.respawn() {
                    Ok(()) => eprintln!("controller replica {replica} had exited; started again"),
                    Err(e) => {
                        eprintln!("controller replica {replica} exited and cannot start: {e}")
                    }
                }
            }
        }
    }
}

/// Deletes the kwok node holding the most Pods of the run, and its Pods with no grace, as a
/// node that dies and is removed would leave them. Refused when it is the last node. Only a
/// node of a cluster this run started, carrying the harness's node label, is deleted, and
/// only the sandbox Pods of the run's namespace with it: everything is checked before the
/// first delete, so a refusal leaves the node and every Pod in place.
async fn lose_node(targets: &Targets<'_>) -> Result<Struck, ApiStrikeError> {
    if targets.cluster.is_none() {
        return Err(ApiStrikeError::Refused(
            "nodeLoss deletes only kwok nodes of a cluster this run started".into(),
        ));
    }
    let nodes: Api<Node> = Api::all(targets.client.clone());
    let harness = RequiredLabel::harness_node();
    let selector = format!(
        "{}={},{}={}",
        NODE_LABEL.0, NODE_LABEL.1, HARNESS_NODE_LABEL.0, HARNESS_NODE_LABEL.1
    );
    let listed = nodes
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ApiStrikeError::of("cannot list kwok nodes".into(), &e))?;
    let live: Vec<&Node> = listed
        .items
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .collect();
    if live.len() < 2 {
        return Err(ApiStrikeError::Refused(format!(
            "{} kwok node(s) of the harness ({}={}) left: losing the last would leave no room \
             for any Pod",
            live.len(),
            HARNESS_NODE_LABEL.0,
            HARNESS_NODE_LABEL.1
        )));
    }
    let run_namespace = check_run_namespace(targets).await?;
    let pods: Api<Pod> = Api::namespaced(targets.client.clone(), &targets.namespace);
    let run_pods = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiStrikeError::of("cannot list Pods".into(), &e))?
        .items;
    let on = |node: &Node| {
        let name = node.metadata.name.as_deref();
        run_pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == name)
            .collect::<Vec<_>>()
    };
    let Some(victim) = live.into_iter().max_by_key(|n| {
        (
            on(n).len(),
            std::cmp::Reverse(n.metadata.name.clone().unwrap_or_default()),
        )
    }) else {
        return Err(ApiStrikeError::Refused("no kwok node to lose".into()));
    };
    let node = harness.check(victim).map_err(refused)?;
    let doomed: Vec<Checked> = on(victim)
        .into_iter()
        .map(|p| run_namespace.check_sandbox_pod(p))
        .collect::<Result<_, _>>()
        .map_err(refused)?;
    let victim = &node.object().name;
    guarded_delete::delete(&nodes, &node, &DeleteParams::default())
        .await
        .map_err(|e| strike_error(&e))?;
    let mut deleted = 0;
    for pod in &doomed {
        match guarded_delete::delete(&pods, pod, &DeleteParams::default().grace_period(0)).await {
            Ok(Deleted::Deleted) => deleted += 1,
            Ok(Deleted::Gone) => {}
            Err(e) => {
                return Err(ApiStrikeError::Refused(format!(
                    "node {victim} deleted, but {e}"
                )));
            }
        }
    }
    Ok(Struck {
        detail: format!("node {victim} deleted with its {deleted} Pod(s)"),
        restored: None,
    })
}

/// Reads the run's namespace and checks it carries the run label of the run it is named
/// after: the sandbox Pods in it carry none of their own, so it vouches for them.
async fn check_run_namespace(targets: &Targets<'_>) -> Result<CheckedNamespace, ApiStrikeError> {
    let required = RequiredLabel::run_of_namespace(&targets.namespace).map_err(refused)?;
    let namespace = Api::<Namespace>::all(targets.client.clone())
        .get_opt(&targets.namespace)
        .await
        .map_err(|e| {
            ApiStrikeError::of(format!("cannot read namespace {}", targets.namespace), &e)
        })?
        .ok_or_else(|| {
            ApiStrikeError::Refused(format!("namespace {} is gone", targets.namespace))
        })?;
    required.check_namespace(&namespace).map_err(refused)
}

/// A refused delete fails the strike, without retries.
fn refused(refusal: Refusal) -> ApiStrikeError {
    ApiStrikeError::Refused(refusal.to_string())
}

/// A guarded delete that failed: refused, or failed as any API strike does.
fn strike_error(error: &GuardedDeleteError) -> ApiStrikeError {
    let why = error.to_string();
    match error.kube_error() {
        None | Some(kube::Error::Api(_)) => ApiStrikeError::Refused(why),
        Some(_) => ApiStrikeError::Unreachable(why),
    }
}

/// Deletes `count` live sandbox Pods of the run, picked evenly through the list by the strike
/// number so that runs with the same schedule pick alike. Each is checked (a Pod a Sandbox
/// controls, in the namespace checked for the run label) and deleted by its uid, so a Pod the
/// controller recreated under the same name since the list is left alone.
async fn kill_pods(targets: &Targets<'_>, count: u32, n: usize) -> Result<Struck, ApiStrikeError> {
    let run_namespace = check_run_namespace(targets).await?;
    let pods: Api<Pod> = Api::namespaced(targets.client.clone(), &targets.namespace);
    let mut live: Vec<Pod> = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiStrikeError::of("cannot list Pods".into(), &e))?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| run_namespace.check_sandbox_pod(p).is_ok())
        .collect();
    live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if live.is_empty() {
        return Err(ApiStrikeError::Refused(
            "no live sandbox Pod to delete".into(),
        ));
    }
    let picked = pick(live.len(), count as usize, n);
    let mut deleted = Vec::new();
    for i in picked {
        let pod = run_namespace.check_sandbox_pod(&live[i]).map_err(refused)?;
        match guarded_delete::delete(&pods, &pod, &DeleteParams::default()).await {
            Ok(Deleted::Deleted) => deleted.push(pod.object().name.clone()),
            Ok(Deleted::Gone) => {}
            Err(e) => return Err(strike_error(&e)),
        }
    }
    Ok(Struck {
        detail: format!("deleted {} Pod(s): {}", deleted.len(), deleted.join(", ")),
        restored: None,
    })
}

/// `count` distinct indexes of `0..len`, spread evenly and shifted by the strike number `n`.
fn pick(len: usize, count: usize, n: usize) -> Vec<usize> {
    let count = count.min(len);
    let step = len / count.max(1);
    (0..count).map(|i| (n + i * step) % len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_distinct_spread_and_bounded() {
        assert_eq!(pick(10, 3, 0), [0, 3, 6]);
        assert_eq!(pick(10, 3, 1), [1, 4, 7]);
        assert_eq!(pick(2, 5, 0), [0, 1], "no more than there are");
        let picked = pick(7, 7, 3);
        let mut sorted = picked.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 7);
    }

    #[test]
    fn the_leader_is_found_by_the_pid_in_its_identity() {
        assert!(leads("sandbox-controller_4242", 4242));
        assert!(!leads("sandbox-controller_4242", 424));
        assert!(!leads("host-1_6f1c2b7e-uuid", 4242));
    }
}
