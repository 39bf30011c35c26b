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
//!
//! The spec floor ([`FloorWrites::Spec`]) makes, besides, the writes the spec requires of a
//! controller wire-compatible with upstream once a claim has adopted a member, each at once
//! and without a cache: the adoption sets the claim's labels on the Sandbox and in its
//! `podTemplate.metadata` (§5.7, which moves the Sandbox's generation), and then the Pod's
//! labels follow (§2.7), the Sandbox's conditions move to the new generation (§2.3) and the
//! `SandboxAdopted` Event is recorded (§5.7). Against the floor it shows what those writes cost
//! the API server; against a controller, what the controller costs beyond them.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxWarmPool};
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;

/// The field manager of the floor's writes.
const MANAGER: &str = "sandbox-bench-floor";

/// What the floor writes for each claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorWrites {
    /// The two writes that make a claim Ready: the adoption and the claim's status.
    ClaimReady,
    /// Those, the adoption with the claim's labels, and the three writes the spec requires
    /// after it: the Pod's labels, the Sandbox's `observedGeneration`, `SandboxAdopted`.
    Spec,
}

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

/// The spec's adoption: the floor's, plus the Sandbox's labels as §5.7 sets them (the pool's
/// removed, the claim's added) and the claim's label in `podTemplate.metadata`, which makes it
/// a change of spec and so of the Sandbox's generation.
pub fn spec_adoption_patch(member: &Member, claim: &SandboxClaim) -> Value {
    let uid = claim.uid().unwrap_or_default();
    let mut patch = adoption_patch(member, claim);
    patch["metadata"]["labels"] = json!({
        keys::WARM_POOL_SANDBOX_LABEL: null,
        keys::SANDBOX_POD_TEMPLATE_HASH_LABEL: null,
        keys::SANDBOX_TEMPLATE_HASH_LABEL: null,
        keys::LAUNCH_TYPE_LABEL: keys::LAUNCH_TYPE_WARM,
        keys::CLAIM_UID_LABEL: uid,
    });
    patch["spec"] = json!({"podTemplate": {"metadata": {"labels": {keys::CLAIM_UID_LABEL: uid}}}});
    patch
}

/// The adopted Pod's labels following its Sandbox's (§2.7): the pool's removed, the claim's
/// added.
pub fn pod_labels_patch(claim: &SandboxClaim) -> Value {
    json!({"metadata": {"labels": {
        keys::WARM_POOL_SANDBOX_LABEL: null,
        keys::CLAIM_UID_LABEL: claim.uid().unwrap_or_default(),
    }}})
}

/// The adopted Sandbox's conditions at the generation the adoption gave it (§2.3: each
/// condition carries `observedGeneration`).
pub fn observed_generation_patch(adopted: &Sandbox) -> Value {
    let generation = adopted.metadata.generation.unwrap_or_default();
    let conditions: Vec<Value> = adopted
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .map(|c| at_generation(c, generation))
        .collect();
    json!({"status": {"conditions": conditions}})
}

/// `condition` as JSON, observed at `generation`.
fn at_generation(condition: &Condition, generation: i64) -> Value {
    let mut c = serde_json::to_value(condition).unwrap_or_default();
    c["observedGeneration"] = json!(generation);
    c
}

/// `SandboxAdopted` about the claim, as the reference controller records it (§5.7).
pub fn adopted_event(claim: &SandboxClaim, sandbox: &str) -> Event {
    let now = Timestamp::now();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", claim.name_any(), now.as_nanosecond())),
            namespace: claim.namespace(),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Adoption".into()),
        reason: Some("SandboxAdopted".into()),
        note: Some(format!("Adopted warm pool Sandbox {sandbox:?}")),
        type_: Some("Normal".into()),
        regarding: Some(ObjectReference {
            api_version: Some(SandboxClaim::api_version(&()).into()),
            kind: Some(SandboxClaim::kind(&()).into()),
            name: Some(claim.name_any()),
            namespace: claim.namespace(),
            uid: claim.uid(),
            ..ObjectReference::default()
        }),
        reporting_controller: Some(MANAGER.into()),
        reporting_instance: Some(MANAGER.into()),
        ..Event::default()
    }
}

/// The claim's status once bound: the member's Ready condition (at the claim's generation),
/// its name and IPs.
pub fn status_patch(claim: &SandboxClaim, sandbox: &Sandbox) -> Value {
    let status = sandbox.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| at_generation(c, claim.metadata.generation.unwrap_or_default()));
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
    /// The writes of each claim the floor took on, one task a claim.
    tasks: TaskTracker,
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
    #[error("{0}: {1}")]
    FollowUp(&'static str, kube::Error),
}

impl Floor {
    /// Lists the pools' Ready members in `namespace` and starts serving the claims labelled
    /// `selector` there with `writes`, from a client of its own built from `kubeconfig`.
    pub async fn start(
        kubeconfig: &Path,
        namespace: &str,
        selector: &str,
        writes: FloorWrites,
    ) -> Result<Self, FloorError> {
        let (path, ns, selector) = (
            kubeconfig.to_path_buf(),
            namespace.to_string(),
            selector.to_string(),
        );
        let (tid_tx, tid_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tasks = TaskTracker::new();
        let serving = tasks.clone();
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
                        served = serve(&path, &ns, &selector, writes, &serving) => {
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
            tasks,
            tid,
        })
    }

    /// Waits up to `limit` for the writes of every claim the floor took on to be answered: a
    /// claim is Ready before the spec floor's follow-ups are, and a run counts them too. False
    /// when some were still unanswered at `limit`.
    pub async fn settled(&self, limit: std::time::Duration) -> bool {
        // Closing only lets `wait` end once the tasks are done; a claim seen later still
        // gets its task.
        self.tasks.close();
        tokio::time::timeout(limit, self.tasks.wait()).await.is_ok()
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

/// The APIs the floor writes to, in the run's namespace.
#[derive(Clone)]
struct Apis {
    sandboxes: Api<Sandbox>,
    claims: Api<SandboxClaim>,
    pods: Api<Pod>,
    events: Api<Event>,
}

async fn serve(
    kubeconfig: &Path,
    ns: &str,
    selector: &str,
    writes: FloorWrites,
    tasks: &TaskTracker,
) -> Result<(), FloorError> {
    let client = sandbox_cluster::connect(kubeconfig, None).await?;
    let apis = Apis {
        sandboxes: Api::namespaced(client.clone(), ns),
        claims: Api::namespaced(client.clone(), ns),
        pods: Api::namespaced(client.clone(), ns),
        events: Api::namespaced(client, ns),
    };
    let (sandboxes, claims) = (&apis.sandboxes, &apis.claims);
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
        let (apis, queue) = (apis.clone(), queue.clone());
        tasks.spawn(async move {
            if let Err(e) = bind(&apis, &queue, &claim, writes).await {
                eprintln!("floor: claim {}: {e}", claim.name_any());
            }
        });
    }
    Ok(())
}

/// Binds `claim` to the next member that is still as listed, then makes what `writes` asks
/// after that.
async fn bind(
    apis: &Apis,
    queue: &Queue,
    claim: &SandboxClaim,
    writes: FloorWrites,
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
        let adoption = match writes {
            FloorWrites::ClaimReady => adoption_patch(&member, claim),
            FloorWrites::Spec => spec_adoption_patch(&member, claim),
        };
        match apis
            .sandboxes
            .patch(&member.name, &params, &Patch::Merge(adoption))
            .await
        {
            Ok(adopted) => {
                apis.claims
                    .patch_status(
                        &claim.name_any(),
                        &params,
                        &Patch::Merge(status_patch(claim, &adopted)),
                    )
                    .await
                    .map_err(FloorError::Status)?;
                if writes == FloorWrites::Spec {
                    follow_up(apis, &params, claim, &adopted).await?;
                }
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

/// The spec's writes after an adoption, all three at once.
async fn follow_up(
    apis: &Apis,
    params: &PatchParams,
    claim: &SandboxClaim,
    adopted: &Sandbox,
) -> Result<(), FloorError> {
    // The Pod bears its Sandbox's name (§2.7).
    let name = adopted.name_any();
    let labels = Patch::Merge(pod_labels_patch(claim));
    let generation = Patch::Merge(observed_generation_patch(adopted));
    let adopted_event = adopted_event(claim, &name);
    let post = PostParams::default();
    let (pod, status, event) = tokio::join!(
        apis.pods.patch(&name, params, &labels),
        apis.sandboxes.patch_status(&name, params, &generation),
        apis.events.create(&post, &adopted_event),
    );
    pod.map_err(|e| FloorError::FollowUp("the Pod's labels", e))?;
    status.map_err(|e| FloorError::FollowUp("the Sandbox's observedGeneration", e))?;
    event.map_err(|e| FloorError::FollowUp("SandboxAdopted", e))?;
    Ok(())
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

    fn member() -> Member {
        Member {
            name: "a".into(),
            resource_version: "7".into(),
        }
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
        let patch = adoption_patch(&member(), &claim());
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        let owners = patch["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(owners.len(), 1, "the pool's reference is replaced");
        assert_eq!(owners[0]["kind"], "SandboxClaim");
        assert_eq!(owners[0]["uid"], "claim-uid");
        assert_eq!(owners[0]["controller"], true);
    }

    #[test]
    fn the_spec_adoption_moves_the_labels_and_changes_the_spec() {
        let patch = spec_adoption_patch(&member(), &claim());
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "claim-uid");
        let labels = &patch["metadata"]["labels"];
        assert_eq!(labels[keys::WARM_POOL_SANDBOX_LABEL], Value::Null);
        assert!(
            labels.get(keys::WARM_POOL_SANDBOX_LABEL).is_some(),
            "deleted"
        );
        assert_eq!(labels[keys::CLAIM_UID_LABEL], "claim-uid");
        assert_eq!(labels[keys::LAUNCH_TYPE_LABEL], "warm");
        assert_eq!(
            patch["spec"]["podTemplate"]["metadata"]["labels"][keys::CLAIM_UID_LABEL],
            "claim-uid",
            "a change of spec, so of generation"
        );
    }

    #[test]
    fn the_follow_ups_carry_the_claim_and_the_new_generation() {
        let labels = pod_labels_patch(&claim());
        assert_eq!(
            labels["metadata"]["labels"][keys::CLAIM_UID_LABEL],
            "claim-uid"
        );
        assert!(
            labels["metadata"]["labels"]
                .get(keys::WARM_POOL_SANDBOX_LABEL)
                .is_some_and(Value::is_null)
        );

        let mut adopted = sandbox("a", "SandboxClaim", "True");
        adopted.metadata.generation = Some(3);
        let status = observed_generation_patch(&adopted);
        let conditions = status["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(conditions[0]["observedGeneration"], 3);

        let mut claim = claim();
        claim.metadata.namespace = Some("ns".into());
        let event = adopted_event(&claim, "a");
        assert_eq!(event.reason.as_deref(), Some("SandboxAdopted"));
        assert_eq!(event.metadata.namespace.as_deref(), Some("ns"));
        let regarding = event.regarding.unwrap();
        assert_eq!(regarding.uid.as_deref(), Some("claim-uid"));
        assert_eq!(regarding.kind.as_deref(), Some("SandboxClaim"));
        assert_eq!(
            event.note.as_deref(),
            Some("Adopted warm pool Sandbox \"a\"")
        );
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
