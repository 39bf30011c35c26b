//! The floor: the harness plays the claims controller itself, with the least a warm claim
//! needs to become Ready by the spec, so a run measures the API server's own cost of a claim.
//!
//! The reference controller fills the pools and is stopped; from then on, for each claim its
//! own watch reports, the floor takes the next Ready member it listed at the start (no cache,
//! no choice, no refill: the pool is sized to serve every claim) and makes two writes: the
//! member's ownership moved from the pool to the claim, conditioned on the member's
//! `resourceVersion` (a conflict takes the next member), and the claim's status (Ready, as the
//! member's, with `status.sandbox`). No controller can serve a claim with less on the same
//! machine. The floor runs on a thread of its own, whose CPU time the report shows as
//! `floor`, apart from the harness's.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxWarmPool};
use serde_json::{Value, json};

/// The field manager of the floor's writes.
const MANAGER: &str = "sandbox-bench-floor";

/// A pool member ready to be handed out: its name and the version it was listed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub resource_version: String,
}

/// The Ready members of the pools among `sandboxes`, in name order.
pub fn ready_members(sandboxes: &[Sandbox]) -> Vec<Member> {
    let mut members: Vec<Member> = sandboxes
        .iter()
        .filter(|s| {
            s.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.kind == SandboxWarmPool::kind(&()))
        })
        .filter(|s| {
            s.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
        .map(|s| Member {
            name: s.name_any(),
            resource_version: s.resource_version().unwrap_or_default(),
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    members
}

/// The adoption: the claim becomes the member's only controller (a merge patch replaces the
/// list, so the pool lets go in the same write), at the version the floor listed.
pub fn adoption_patch(member: &Member, claim: &SandboxClaim) -> Value {
    json!({
        "metadata": {
            "resourceVersion": member.resource_version,
            "ownerReferences": [{
                "apiVersion": SandboxClaim::api_version(&()),
                "kind": SandboxClaim::kind(&()),
                "name": claim.name_any(),
                "uid": claim.uid().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }]
        }
    })
}

/// The claim's status once bound: the member's Ready condition (at the claim's generation),
/// its name and IPs.
pub fn status_patch(claim: &SandboxClaim, sandbox: &Sandbox) -> Value {
    let status = sandbox.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            let mut c = serde_json::to_value(c).unwrap_or_default();
            c["observedGeneration"] = json!(claim.metadata.generation.unwrap_or_default());
            c
        });
    json!({
        "status": {
            "conditions": ready.into_iter().collect::<Vec<_>>(),
            "sandbox": {"name": sandbox.name_any(), "podIPs": status.pod_ips},
        }
    })
}

/// The floor, running on its own thread until dropped.
pub struct Floor {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The thread's id, for its CPU time in `/proc`.
    pub tid: u32,
}

/// Why the floor could not start or could not serve a claim.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("cannot start the floor's thread: {0}")]
    Thread(std::io::Error),
    #[error("the floor's thread ended at once")]
    ThreadEnded,
    #[error("cannot read the floor thread's id")]
    NoThreadId,
    #[error(transparent)]
    Connect(#[from] sandbox_cluster::ClusterError),
    #[error("cannot list the pool members: {0}")]
    List(kube::Error),
    #[error("no member left: the pool is smaller than the load")]
    PoolExhausted,
    #[error("adopting {member}: {source}")]
    Adopt { member: String, source: kube::Error },
    #[error("status: {0}")]
    Status(kube::Error),
}

impl Floor {
    /// Lists the pools' Ready members in `namespace` and starts serving the claims labelled
    /// `selector` there, from a client of its own built from `kubeconfig`.
    pub async fn start(
        kubeconfig: &Path,
        namespace: &str,
        selector: &str,
    ) -> Result<Self, FloorError> {
        let (path, ns, selector) = (
            kubeconfig.to_path_buf(),
            namespace.to_string(),
            selector.to_string(),
        );
        let (tid_tx, tid_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // A current-thread runtime on a thread of its own: everything the floor does runs
        // there, so that thread's CPU time is the floor's.
        let thread = std::thread::Builder::new()
            .name("sandbox-floor".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return eprintln!("floor: cannot start its runtime: {e}"),
                };
                let _ = tid_tx.send(current_tid());
                runtime.block_on(async move {
                    tokio::select! {
                        served = serve(&path, &ns, &selector) => {
                            if let Err(e) = served {
                                eprintln!("floor: stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
            })
            .map_err(FloorError::Thread)?;
        let tid = tid_rx
            .await
            .map_err(|_| FloorError::ThreadEnded)?
            .ok_or(FloorError::NoThreadId)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            tid,
        })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This thread's id, from `/proc/thread-self` (`<pid>/task/<tid>`).
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

type Queue = Arc<Mutex<VecDeque<Member>>>;

async fn serve(kubeconfig: &Path, ns: &str, selector: &str) -> Result<(), FloorError> {
    let client = sandbox_cluster::connect(kubeconfig, None).await?;
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    let claims: Api<SandboxClaim> = Api::namespaced(client, ns);
    let listed = sandboxes
        .list(&ListParams::default())
        .await
        .map_err(FloorError::List)?;
    let queue: Queue = Arc::new(Mutex::new(ready_members(&listed.items).into()));
    let mut seen = HashSet::new();
    let mut events = std::pin::pin!(
        watcher(claims.clone(), watcher::Config::default().labels(selector))
            .default_backoff()
            .applied_objects()
    );
    while let Some(event) = events.next().await {
        let claim = match event {
            Ok(claim) => claim,
            Err(e) => {
                eprintln!("floor: claim watch: {e}");
                continue;
            }
        };
        let bound = claim
            .status
            .as_ref()
            .is_some_and(|s| !s.sandbox.name.is_empty());
        if bound || !seen.insert(claim.uid().unwrap_or_default()) {
            continue;
        }
        let (sandboxes, claims, queue) = (sandboxes.clone(), claims.clone(), queue.clone());
        tokio::spawn(async move {
            if let Err(e) = bind(&sandboxes, &claims, &queue, &claim).await {
                eprintln!("floor: claim {}: {e}", claim.name_any());
            }
        });
    }
    Ok(())
}

/// Binds `claim` to the next member that is still as listed.
async fn bind(
    sandboxes: &Api<Sandbox>,
    claims: &Api<SandboxClaim>,
    queue: &Queue,
    claim: &SandboxClaim,
) -> Result<(), FloorError> {
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    };
    loop {
        let member = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .ok_or(FloorError::PoolExhausted)?;
        match sandboxes
            .patch(
                &member.name,
                &params,
                &Patch::Merge(adoption_patch(&member, claim)),
            )
            .await
        {
            Ok(adopted) => {
                claims
                    .patch_status(
                        &claim.name_any(),
                        &params,
                        &Patch::Merge(status_patch(claim, &adopted)),
                    )
                    .await
                    .map_err(FloorError::Status)?;
                return Ok(());
            }
            // Changed since listed (its Pod's status, say): the next one.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(source) => {
                return Err(FloorError::Adopt {
                    member: member.name,
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(name: &str, owner_kind: &str, ready: &str) -> Sandbox {
        serde_json::from_value(json!({
            "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
            "metadata": {"name": name, "resourceVersion": "7",
                "ownerReferences": [{"apiVersion": "x/v1", "kind": owner_kind, "name": "p",
                                     "uid": "u", "controller": true}]},
            "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "i"}]}}},
            "status": {"podIPs": ["10.0.0.1"], "conditions": [{"type": "Ready", "status": ready,
                "reason": "DependenciesReady", "message": "m",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    fn claim() -> SandboxClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "c-1", "uid": "claim-uid", "generation": 2},
            "spec": {"warmPoolRef": {"name": "p"}}
        }))
        .unwrap()
    }

    #[test]
    fn only_ready_pool_members_are_handed_out_in_name_order() {
        let members = ready_members(&[
            sandbox("b", "SandboxWarmPool", "True"),
            sandbox("a", "SandboxWarmPool", "True"),
            sandbox("c", "SandboxWarmPool", "False"),
            sandbox("d", "SandboxClaim", "True"),
        ]);
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(members[0].resource_version, "7");
    }

    #[test]
    fn the_adoption_moves_control_to_the_claim_at_the_listed_version() {
        let member = Member {
            name: "a".into(),
            resource_version: "7".into(),
        };
        let patch = adoption_patch(&member, &claim());
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        let owners = patch["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(owners.len(), 1, "the pool's reference is replaced");
        assert_eq!(owners[0]["kind"], "SandboxClaim");
        assert_eq!(owners[0]["uid"], "claim-uid");
        assert_eq!(owners[0]["controller"], true);
    }

    #[test]
    fn the_claim_mirrors_the_members_ready_condition_at_its_own_generation() {
        let patch = status_patch(&claim(), &sandbox("a", "SandboxClaim", "True"));
        let ready = &patch["status"]["conditions"][0];
        assert_eq!(ready["type"], "Ready");
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["observedGeneration"], 2);
        assert_eq!(patch["status"]["sandbox"]["name"], "a");
        assert_eq!(patch["status"]["sandbox"]["podIPs"][0], "10.0.0.1");
    }
}
