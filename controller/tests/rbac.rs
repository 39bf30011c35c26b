//! The deployed RBAC is exactly what the controller uses, read from a real API server's audit
//! log.
//!
//! The controller binary runs as `deploy/controller.yaml`'s Deployment runs it (its arguments
//! and Pod environment, two replicas: a leader and a standby), authenticated as the manifests'
//! ServiceAccount with only the manifests' RBAC applied, while a workload drives every path
//! that writes. The API server audits every request of that user. Then:
//! - no request was denied (a rule the controller needs was removed);
//! - every request is allowed by one of the manifests' rules (nothing leans on another grant);
//! - every verb the rules grant was used at least once (an unused rule was added), save the
//!   grants in [`UNEXERCISED`], each with its reason.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use sandbox_api::keys;
use sandbox_api::v1beta1::{Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_cluster::binaries::Binaries;
use sandbox_cluster::local::{ClientIdentity, LocalCluster, LocalConfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const MANIFESTS: &str = include_str!("../../deploy/controller.yaml");
/// The controller's namespace in the manifests.
const NS: &str = "agent-sandbox-system";
const SERVICE_ACCOUNT: &str = "agent-sandbox-controller";
/// The user name RBAC gives the ServiceAccount; a client certificate with this CommonName is
/// that user, so the manifests' bindings to the ServiceAccount apply to it.
const SA_USER: &str = "system:serviceaccount:agent-sandbox-system:agent-sandbox-controller";
/// Where the workload runs.
const WORKLOAD: &str = "default";
const WAIT: Duration = Duration::from_secs(60);
/// The replicas' Pod names (`POD_NAME`), which their leader identities start with.
const LEADER: &str = "agent-sandbox-controller-0";
const STANDBY: &str = "agent-sandbox-controller-1";

/// A grant the rules keep although no request in this test uses it.
struct Unexercised {
    group: &'static str,
    /// `resource` or `resource/subresource`.
    resource: &'static str,
    verb: &'static str,
    why: &'static str,
}

/// Kept small on purpose: every other grant must show up in the audit log.
const UNEXERCISED: &[Unexercised] = &[
    // The controller never calls these. With the OwnerReferencesPermissionEnforcement admission
    // plugin on (off by default; some clusters turn it on), setting `blockOwnerDeletion: true` on an
    // ownerReference, which every child and member the controller writes carries, needs
    // `update` on the owner's `finalizers` subresource. The local API server runs without that
    // plugin, so its checks never reach RBAC here.
    Unexercised {
        group: "agents.x-k8s.io",
        resource: "sandboxes/finalizers",
        verb: "update",
        why: "blockOwnerDeletion on a Sandbox's Pod, Service and PVCs",
    },
    Unexercised {
        group: "extensions.agents.x-k8s.io",
        resource: "sandboxclaims/finalizers",
        verb: "update",
        why: "blockOwnerDeletion on a claim's Sandbox",
    },
    Unexercised {
        group: "extensions.agents.x-k8s.io",
        resource: "sandboxwarmpools/finalizers",
        verb: "update",
        why: "blockOwnerDeletion on a pool's members",
    },
    Unexercised {
        group: "extensions.agents.x-k8s.io",
        resource: "sandboxtemplates/finalizers",
        verb: "update",
        why: "blockOwnerDeletion on a template's NetworkPolicy",
    },
    // kube's `Recorder::publish` patches an Event into a series instead of creating another
    // when the same (type, reason, action) is published again about the object at the same
    // resourceVersion. The controller publishes on transitions (a claim adopted, provisioned
    // or expired; a pool stalling or recovering; a Sandbox with several Pods or a rejected
    // write), each of which normally comes with a write to the object, so a repeat needs that
    // write to have failed, or a transition undone and redone with the object unchanged.
    Unexercised {
        group: "events.k8s.io",
        resource: "events",
        verb: "patch",
        why: "an Event repeated for an unchanged object (after a failed status write)",
    },
    // A claim that adopted or created a Sandbox reads it from the API server only when its
    // cache has shown nothing of that write for `claim::bindings::VERIFY_AFTER` (2 s): a watch
    // that lags, which a healthy local API server does not.
    Unexercised {
        group: "agents.x-k8s.io",
        resource: "sandboxes",
        verb: "get",
        why: "a claim settling its binding when the Sandbox watch lags",
    },
];

// ---------------------------------------------------------------------------------------------
// The manifests' rules.

fn documents() -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(MANIFESTS).unwrap()
}

fn typed<K: DeserializeOwned>(doc: &Value) -> K {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", doc["kind"]))
}

/// One verb on one resource, granted by one rule of a role bound to the ServiceAccount.
#[derive(Debug, Clone)]
struct Grant {
    /// `None` cluster-wide (ClusterRoleBinding), else the RoleBinding's namespace.
    namespace: Option<String>,
    group: String,
    resource: String,
    verb: String,
    /// Empty: any name.
    names: BTreeSet<String>,
    /// Which role, for messages.
    source: String,
}

impl Grant {
    fn covers(&self, r: &Request) -> bool {
        self.group == r.group
            && self.resource == r.resource
            && self.verb == r.verb
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| r.namespace.as_ref() == Some(ns))
            && (self.names.is_empty() || r.name.as_ref().is_some_and(|n| self.names.contains(n)))
    }

    fn key(&self) -> (Option<&str>, &str, &str, &str) {
        (
            self.namespace.as_deref(),
            self.group.as_str(),
            self.resource.as_str(),
            self.verb.as_str(),
        )
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{} in {}{} ({})",
            self.verb,
            if self.group.is_empty() {
                "core"
            } else {
                &self.group
            },
            self.resource,
            self.namespace.as_deref().unwrap_or("every namespace"),
            if self.names.is_empty() {
                String::new()
            } else {
                format!(", names {:?}", self.names)
            },
            self.source
        )
    }
}

fn expand(rules: &[PolicyRule], namespace: Option<&str>, source: &str) -> Vec<Grant> {
    let mut grants = Vec::new();
    for rule in rules {
        assert!(
            rule.non_resource_urls.as_ref().is_none_or(Vec::is_empty),
            "{source}: the controller requests no non-resource URLs"
        );
        let names: BTreeSet<String> = rule
            .resource_names
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for word in [group, resource, verb] {
                        assert!(
                            !word.contains('*'),
                            "{source}: a wildcard grants more than the controller uses"
                        );
                    }
                    grants.push(Grant {
                        namespace: namespace.map(str::to_owned),
                        group: group.clone(),
                        resource: resource.clone(),
                        verb: verb.clone(),
                        names: names.clone(),
                        source: source.to_owned(),
                    });
                }
            }
        }
    }
    grants
}

fn binds_the_service_account(subjects: Option<&Vec<k8s_openapi::api::rbac::v1::Subject>>) -> bool {
    subjects.into_iter().flatten().any(|s| {
        s.kind == "ServiceAccount"
            && s.name == SERVICE_ACCOUNT
            && s.namespace.as_deref() == Some(NS)
    })
}

/// Every grant the manifests give the ServiceAccount. Every role in the manifests must be bound
/// to it: a role bound to nobody is a rule nobody uses.
fn grants() -> Vec<Grant> {
    let docs = documents();
    let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
    let cluster_roles: BTreeMap<String, ClusterRole> = of_kind("ClusterRole")
        .map(typed::<ClusterRole>)
        .map(|r| (r.name_any(), r))
        .collect();
    let roles: BTreeMap<(String, String), Role> = of_kind("Role")
        .map(typed::<Role>)
        .map(|r| ((r.namespace().unwrap_or_default(), r.name_any()), r))
        .collect();
    let mut bound = BTreeSet::new();
    let mut grants = Vec::new();
    for binding in of_kind("ClusterRoleBinding").map(typed::<ClusterRoleBinding>) {
        if !binds_the_service_account(binding.subjects.as_ref()) {
            continue;
        }
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        let role = &cluster_roles[&binding.role_ref.name];
        let source = format!("ClusterRole {}", role.name_any());
        grants.extend(expand(
            role.rules.as_deref().unwrap_or_default(),
            None,
            &source,
        ));
        bound.insert(source);
    }
    for binding in of_kind("RoleBinding").map(typed::<RoleBinding>) {
        if !binds_the_service_account(binding.subjects.as_ref()) {
            continue;
        }
        let ns = binding.namespace().unwrap_or_default();
        let (rules, source) = match binding.role_ref.kind.as_str() {
            "Role" => {
                let role = &roles[&(ns.clone(), binding.role_ref.name.clone())];
                (role.rules.clone(), format!("Role {ns}/{}", role.name_any()))
            }
            _ => {
                let role = &cluster_roles[&binding.role_ref.name];
                (
                    role.rules.clone(),
                    format!("ClusterRole {}", role.name_any()),
                )
            }
        };
        grants.extend(expand(
            rules.as_deref().unwrap_or_default(),
            Some(&ns),
            &format!("{source} bound in {ns}"),
        ));
        bound.insert(source);
    }
    let declared: BTreeSet<String> = cluster_roles
        .keys()
        .map(|n| format!("ClusterRole {n}"))
        .chain(roles.keys().map(|(ns, n)| format!("Role {ns}/{n}")))
        .collect();
    let unbound: Vec<_> = declared.difference(&bound).collect();
    assert!(
        unbound.is_empty(),
        "roles not bound to the ServiceAccount: {unbound:?}"
    );
    grants
}

// ---------------------------------------------------------------------------------------------
// The audit log.

/// One request of the ServiceAccount user, as the API server audited it.
#[derive(Debug, Clone)]
struct Request {
    verb: String,
    group: String,
    /// `resource` or `resource/subresource`; empty for a non-resource URL.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    code: Option<i64>,
    /// `authorization.k8s.io/decision`: `allow` or `forbid`.
    decision: String,
    reason: String,
    uri: String,
}

impl Request {
    fn forbidden(&self) -> bool {
        self.decision == "forbid" || self.code == Some(403)
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{} in {} name {} -> {} {} ({})",
            self.verb,
            if self.group.is_empty() {
                "core"
            } else {
                &self.group
            },
            self.resource,
            self.namespace.as_deref().unwrap_or("-"),
            self.name.as_deref().unwrap_or("-"),
            self.code.map_or("?".into(), |c| c.to_string()),
            self.decision,
            if self.reason.is_empty() {
                &self.uri
            } else {
                &self.reason
            },
        )
    }
}

/// The ServiceAccount user's requests in the audit log so far, one per request (a watch is
/// logged when its response starts and again when it ends).
fn audited(log: &Path) -> Vec<Request> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut requests = Vec::new();
    // A line being written as we read is incomplete and skipped; the next read has it.
    for event in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if event["user"]["username"] != SA_USER {
            continue;
        }
        let id = event["auditID"].as_str().unwrap_or_default().to_owned();
        if !seen.insert(id) {
            continue;
        }
        let s = |v: &Value| v.as_str().map(str::to_owned);
        let o = &event["objectRef"];
        let resource = match (s(&o["resource"]), s(&o["subresource"])) {
            (Some(r), Some(sub)) => format!("{r}/{sub}"),
            (Some(r), None) => r,
            (None, _) => String::new(),
        };
        requests.push(Request {
            verb: s(&event["verb"]).unwrap_or_default(),
            group: s(&o["apiGroup"]).unwrap_or_default(),
            resource,
            namespace: s(&o["namespace"]),
            name: s(&o["name"]),
            code: event["responseStatus"]["code"].as_i64(),
            decision: s(&event["annotations"]["authorization.k8s.io/decision"]).unwrap_or_default(),
            reason: s(&event["annotations"]["authorization.k8s.io/reason"]).unwrap_or_default(),
            uri: s(&event["requestURI"]).unwrap_or_default(),
        });
    }
    requests
}

fn forbidden(requests: &[Request]) -> Vec<String> {
    let mut out: Vec<String> = requests
        .iter()
        .filter(|r| r.forbidden())
        .map(ToString::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The grants no allowed request used, except [`UNEXERCISED`].
fn unused<'g>(grants: &'g [Grant], requests: &[Request]) -> Vec<&'g Grant> {
    grants
        .iter()
        .filter(|g| {
            !UNEXERCISED
                .iter()
                .any(|u| (u.group, u.resource, u.verb) == (&*g.group, &*g.resource, &*g.verb))
        })
        .filter(|g| !requests.iter().any(|r| !r.forbidden() && g.covers(r)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Setup.

async fn create<K>(api: &Api<K>, value: Value) -> K
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + serde::Serialize,
{
    let object: K = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", object.name_any()))
}

/// Creates the manifests' Namespace, ServiceAccount and RBAC objects; returns the Deployment.
async fn apply_rbac(client: &kube::Client) -> Deployment {
    let mut deployment = None;
    for doc in documents() {
        let ns = doc["metadata"]["namespace"].as_str().unwrap_or_default();
        match doc["kind"].as_str().unwrap() {
            "Namespace" => {
                create(&Api::<Namespace>::all(client.clone()), doc).await;
            }
            "ServiceAccount" => {
                create(&Api::<ServiceAccount>::namespaced(client.clone(), ns), doc).await;
            }
            "ClusterRole" => {
                create(&Api::<ClusterRole>::all(client.clone()), doc).await;
            }
            "ClusterRoleBinding" => {
                create(&Api::<ClusterRoleBinding>::all(client.clone()), doc).await;
            }
            "Role" => {
                create(&Api::<Role>::namespaced(client.clone(), ns), doc).await;
            }
            "RoleBinding" => {
                create(&Api::<RoleBinding>::namespaced(client.clone(), ns), doc).await;
            }
            "Deployment" => deployment = Some(typed(&doc)),
            // Nothing in the cluster routes to the controller's Pods.
            "Service" => {}
            other => panic!("deploy/controller.yaml: {other} is new to this test"),
        }
    }
    deployment.expect("deploy/controller.yaml has a Deployment")
}

/// Waits until the API server's RBAC authorizer has every grant (its caches follow the
/// objects just created), by asking it as the admin, so the controller's first requests are
/// not denied by timing.
async fn wait_for_grants(client: &kube::Client, grants: &[Grant]) {
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let mut pending: Vec<&Grant> = grants.iter().collect();
    let deadline = Instant::now() + WAIT;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for g in pending {
            let (resource, subresource) = match g.resource.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (g.resource.as_str(), None),
            };
            let review: SubjectAccessReview = serde_json::from_value(json!({
                "spec": {
                    "user": SA_USER,
                    "groups": ["system:authenticated"],
                    "resourceAttributes": {
                        "group": g.group, "resource": resource, "subresource": subresource,
                        "verb": g.verb, "namespace": g.namespace,
                        "name": g.names.iter().next(),
                    }
                }
            }))
            .unwrap();
            let allowed = reviews
                .create(&PostParams::default(), &review)
                .await
                .ok()
                .and_then(|r| r.status)
                .is_some_and(|s| s.allowed);
            if !allowed {
                still.push(g);
            }
        }
        pending = still;
        assert!(
            pending.is_empty() || Instant::now() < deadline,
            "RBAC never allowed: {}",
            pending
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One controller process, run as the Deployment runs its container.
struct Replica {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    /// The Deployment's arguments with loopback addresses in place of the container ports
    /// (and `/metrics` and the probes off), the ServiceAccount's kubeconfig, and the Pod
    /// environment the Deployment gives (`POD_NAME`, `POD_NAMESPACE`).
    fn start(deployment: &Deployment, name: &str, kubeconfig: &Path, dir: &Path) -> Self {
        let pod = deployment.spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
        let container = &pod.containers[0];
        let mut replaced = 0;
        let mut args: Vec<String> = container
            .args
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|arg| {
                let local = [
                    ("--metrics-bind-address=", "0"),
                    ("--health-probe-bind-address=", "0"),
                    ("--webhook-bind-address=", "127.0.0.1:0"),
                ]
                .into_iter()
                .find(|(flag, _)| arg.starts_with(flag));
                match local {
                    Some((flag, value)) => {
                        replaced += 1;
                        format!("{flag}{value}")
                    }
                    None => arg,
                }
            })
            .collect();
        assert_eq!(replaced, 3, "the Deployment's bind addresses: {args:?}");
        args.push(format!("--kubeconfig={}", kubeconfig.display()));
        for env in container.env.iter().flatten() {
            let field = env
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.as_str());
            assert!(
                matches!(field, Some("metadata.name" | "metadata.namespace")),
                "the Deployment's env {} is new to this test",
                env.name
            );
        }
        let log = dir.join(format!("{name}.log"));
        // A file, not a pipe that nobody reads while the controller runs.
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sandbox-controller"))
            .args(&args)
            .env("POD_NAME", name)
            .env("POD_NAMESPACE", deployment.namespace().unwrap())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// The last lines the replica logged, for a failure message.
    fn logs(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(100)..];
        format!("--- {} ---\n{}", self.name, tail.join("\n"))
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as the kubelet stops a Pod; waits for the process to end. `Err` if it had
    /// ended before.
    async fn stop(&mut self) -> Result<std::process::ExitStatus, std::process::ExitStatus> {
        if let Some(early) = self.child.try_wait().unwrap() {
            return Err(early);
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let child = &mut self.child;
        Ok(
            common::eventually("the replica to stop", Duration::from_secs(30), || {
                let status = child.try_wait().unwrap();
                async move { status }
            })
            .await,
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload.

fn is_ready(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Polls `api` for `name` until `check` holds of it.
async fn until<K>(what: &str, api: &Api<K>, name: &str, check: impl Fn(&K) -> bool)
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned,
{
    let check = &check;
    common::eventually(what, WAIT, || {
        let api = api.clone();
        let name = name.to_owned();
        async move {
            let object = api.get_opt(&name).await.ok()??;
            check(&object).then_some(())
        }
    })
    .await;
}

/// Polls `api` until `name` is gone.
async fn until_gone<K>(what: &str, api: &Api<K>, name: &str)
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned,
{
    common::eventually(what, WAIT, || {
        let api = api.clone();
        let name = name.to_owned();
        async move { api.get_opt(&name).await.ok()?.is_none().then_some(()) }
    })
    .await;
}

fn controlled_by_a_sandbox(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Sandbox" && o.controller == Some(true))
}

fn controlled_by_the_pool(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    pool: &str,
) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "SandboxWarmPool" && o.name == pool && o.controller == Some(true))
}

async fn merge<K>(api: &Api<K>, name: &str, patch: Value)
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch {name}: {e}"));
}

/// Every path of the controller that writes, in turn.
async fn workload(client: &kube::Client) {
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), WORKLOAD);
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), WORKLOAD);
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), WORKLOAD);
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), WORKLOAD);
    let pods: Api<Pod> = Api::namespaced(client.clone(), WORKLOAD);
    let services: Api<Service> = Api::namespaced(client.clone(), WORKLOAD);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), WORKLOAD);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), WORKLOAD);
    let container = json!({"name": "main", "image": "registry.invalid/py:3",
                           "ports": [{"containerPort": 8888}]});
    let pvc_spec = json!({"accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "1Gi"}}});

    // A template with a NetworkPolicy of its own: created, updated, deleted when Unmanaged;
    // the template labelled.
    let rules = |port: u16| json!({"ingress": [{"ports": [{"port": port}]}], "egress": []});
    create(
        &templates,
        json!({"metadata": {"name": "net"},
               "spec": {"podTemplate": {"spec": {"containers": [container]}},
                        "networkPolicy": rules(8888)}}),
    )
    .await;
    until(
        "the template labelled",
        &templates,
        "net",
        |t: &SandboxTemplate| {
            t.labels()
                .contains_key(keys::SANDBOX_TEMPLATE_REF_HASH_LABEL)
        },
    )
    .await;
    until(
        "the template's NetworkPolicy",
        &policies,
        "net-network-policy",
        |_: &NetworkPolicy| true,
    )
    .await;
    merge(
        &templates,
        "net",
        json!({"spec": {"networkPolicy": rules(9999)}}),
    )
    .await;
    until(
        "the NetworkPolicy updated",
        &policies,
        "net-network-policy",
        |np: &NetworkPolicy| {
            serde_json::to_value(np).unwrap()["spec"]["ingress"][0]["ports"][0]["port"] == 9999
        },
    )
    .await;
    merge(
        &templates,
        "net",
        json!({"spec": {"networkPolicyManagement": "Unmanaged"}}),
    )
    .await;
    until_gone("the NetworkPolicy deleted", &policies, "net-network-policy").await;

    // A pool that fills; a warm claim adopts a member (Sandbox patch, Events, claim status);
    // the pool refills, then scales down (member deleted).
    create(
        &templates,
        json!({"metadata": {"name": "python"},
               "spec": {"podTemplate": {"spec": {"containers": [container]}}}}),
    )
    .await;
    create(
        &pools,
        json!({"metadata": {"name": "pool"},
               "spec": {"replicas": 2, "sandboxTemplateRef": {"name": "python"}}}),
    )
    .await;
    let pool_of = |n: i32| {
        move |p: &SandboxWarmPool| {
            p.status
                .as_ref()
                .is_some_and(|s| s.replicas == n && s.ready_replicas == n)
        }
    };
    until("the pool to fill", &pools, "pool", pool_of(2)).await;
    create(
        &claims,
        json!({"metadata": {"name": "warm"}, "spec": {"warmPoolRef": {"name": "pool"}}}),
    )
    .await;
    let claim_ready = |c: &SandboxClaim| c.status.as_ref().is_some_and(|s| is_ready(&s.conditions));
    until("the warm claim Ready", &claims, "warm", claim_ready).await;
    // The pool's status is coalesced, so it may still show the member the claim took: count
    // the members themselves, or the scale-down below might find nothing to delete.
    common::eventually("the pool to refill", WAIT, || {
        let sandboxes = sandboxes.clone();
        async move {
            let members = sandboxes.list(&Default::default()).await.ok()?;
            let ready = members
                .iter()
                .filter(|s| {
                    controlled_by_the_pool(&s.metadata, "pool")
                        && s.status.as_ref().is_some_and(|st| is_ready(&st.conditions))
                })
                .count();
            (ready == 2).then_some(())
        }
    })
    .await;
    until("the pool's status to show it", &pools, "pool", pool_of(2)).await;
    merge(&pools, "pool", json!({"spec": {"replicas": 1}})).await;
    until("the pool to scale down", &pools, "pool", pool_of(1)).await;
    claims
        .delete("warm", &DeleteParams::default())
        .await
        .unwrap();
    until_gone("the warm claim gone", &claims, "warm").await;

    // A cold claim (its pool is empty), and one that expires and is deleted.
    create(
        &pools,
        json!({"metadata": {"name": "empty"},
               "spec": {"replicas": 0, "sandboxTemplateRef": {"name": "python"}}}),
    )
    .await;
    create(
        &claims,
        json!({"metadata": {"name": "cold"}, "spec": {"warmPoolRef": {"name": "empty"}}}),
    )
    .await;
    until("the cold claim Ready", &claims, "cold", claim_ready).await;
    until(
        "the cold claim's Sandbox",
        &sandboxes,
        "cold",
        |_: &Sandbox| true,
    )
    .await;
    let soon =
        k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(2);
    create(
        &claims,
        json!({"metadata": {"name": "expiring"},
               "spec": {"warmPoolRef": {"name": "empty"},
                        "lifecycle": {"shutdownTime": soon.to_string(),
                                      "shutdownPolicy": "Delete"}}}),
    )
    .await;
    until_gone("the expired claim deleted", &claims, "expiring").await;

    // A Sandbox with a Service and a PVC: the Pod relabelled, the Service repaired, the Pod
    // deleted behind the controller's back and recreated, the Service dropped, the Sandbox
    // suspended (its Pod deleted).
    create(
        &sandboxes,
        json!({"metadata": {"name": "svc"},
               "spec": {"podTemplate": {"metadata": {"labels": {"team": "a"}},
                                        "spec": {"containers": [container]}},
                        "service": true,
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": pvc_spec}]}}),
    )
    .await;
    let owned_pod = |p: &Pod| controlled_by_a_sandbox(&p.metadata);
    until("the Pod", &pods, "svc", owned_pod).await;
    until("the Service", &services, "svc", |s: &Service| {
        controlled_by_a_sandbox(&s.metadata)
    })
    .await;
    until("the PVC", &pvcs, "data-svc", |p: &PersistentVolumeClaim| {
        controlled_by_a_sandbox(&p.metadata)
    })
    .await;
    merge(
        &sandboxes,
        "svc",
        json!({"spec": {"podTemplate": {"metadata": {"labels": {"team": "b"}}}}}),
    )
    .await;
    until("the Pod relabelled", &pods, "svc", |p: &Pod| {
        p.labels().get("team").is_some_and(|t| t == "b")
    })
    .await;
    merge(
        &services,
        "svc",
        json!({"spec": {"selector": {"drift": "yes"}}}),
    )
    .await;
    until("the Service repaired", &services, "svc", |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| !sel.contains_key("drift"))
    })
    .await;
    let before = pods.get("svc").await.unwrap().uid();
    pods.delete("svc", &DeleteParams::default()).await.unwrap();
    common::eventually("the Pod recreated", WAIT, || {
        let (pods, before) = (pods.clone(), before.clone());
        async move {
            let pod = pods.get_opt("svc").await.ok()??;
            (pod.uid() != before).then_some(())
        }
    })
    .await;
    merge(&sandboxes, "svc", json!({"spec": {"service": false}})).await;
    until_gone("the Service deleted", &services, "svc").await;
    merge(
        &sandboxes,
        "svc",
        json!({"spec": {"operatingMode": "Suspended"}}),
    )
    .await;
    until_gone("the Pod deleted", &pods, "svc").await;

    // A Sandbox adopting an unowned Service (an update) and PVC (a patch) marked adoptable.
    let adoptable = json!({keys::ADOPTABLE_LABEL: keys::ADOPTABLE_TRUE});
    create(
        &services,
        json!({"metadata": {"name": "adopt", "labels": adoptable},
               "spec": {"clusterIP": "None", "selector": {"x": "y"}, "ports": [{"port": 80}]}}),
    )
    .await;
    create(
        &pvcs,
        json!({"metadata": {"name": "data-adopt", "labels": adoptable}, "spec": pvc_spec}),
    )
    .await;
    create(
        &sandboxes,
        json!({"metadata": {"name": "adopt"},
               "spec": {"podTemplate": {"spec": {"containers": [container]}},
                        "service": true,
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": pvc_spec}]}}),
    )
    .await;
    until("the Service adopted", &services, "adopt", |s: &Service| {
        controlled_by_a_sandbox(&s.metadata)
    })
    .await;
    until(
        "the PVC adopted",
        &pvcs,
        "data-adopt",
        |p: &PersistentVolumeClaim| controlled_by_a_sandbox(&p.metadata),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_rbac_covers_exactly_the_calls_the_controller_makes() {
    let grants = grants();
    // Each grant once: a second rule granting the same would never show as unused.
    let mut keys: Vec<_> = grants.iter().map(|g| (g.key(), &g.names)).collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "a verb is granted twice: {grants:#?}");
    for u in UNEXERCISED {
        assert!(
            grants
                .iter()
                .any(|g| (u.group, u.resource, u.verb) == (&*g.group, &*g.resource, &*g.verb)),
            "UNEXERCISED lists {} {}/{} ({}), which the rules no longer grant",
            u.verb,
            u.group,
            u.resource,
            u.why
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let mut config = LocalConfig::new("rbac", dir.path().to_path_buf(), Binaries::locate(None));
    config.clients = vec![ClientIdentity {
        name: SA_USER.to_owned(),
        group: None,
    }];
    config.audit = true;
    let cluster = LocalCluster::start(config)
        .await
        .unwrap_or_else(|e| panic!("local cluster did not start: {e}"));
    let client = cluster.client().unwrap();
    sandbox_cluster::crds::install(&client, WAIT)
        .await
        .unwrap_or_else(|e| panic!("CRDs not installed: {e}"));
    let deployment = apply_rbac(&client).await;
    wait_for_grants(&client, &grants).await;
    let kubeconfig = cluster.kubeconfig_of(SA_USER);
    let audit_log = cluster.audit_log();

    // The leader: creates the webhook CA Secret, points the CRDs at the webhook, takes the
    // Lease and runs the controllers.
    let mut leader = Replica::start(&deployment, LEADER, &kubeconfig, dir.path());
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    let leader_process = &mut leader;
    let run = async {
        let leads = common::eventually("the first replica to lead", WAIT, || {
            let running = leader_process.running();
            let leases = leases.clone();
            async move {
                if !running {
                    return Some(false);
                }
                let lease = leases
                    .get_opt(sandbox_controller::leader::LEASE_NAME)
                    .await
                    .ok()??;
                let holder = lease.spec?.holder_identity?;
                holder.starts_with(&format!("{LEADER}_")).then_some(true)
            }
        })
        .await;
        assert!(leads, "the first replica exited before it led");
        // A standby: finds the Secret (409 on create, then a read), points the CRDs at the
        // webhook too, and reads the Lease until it is stopped.
        let standby = Replica::start(&deployment, STANDBY, &kubeconfig, dir.path());
        workload(&client).await;
        standby
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let mut standby = match outcome {
        Ok(standby) => standby,
        Err(panic) => {
            eprintln!(
                "requests denied:\n{}\n{}\n{}",
                forbidden(&audited(&audit_log)).join("\n"),
                common::describe_namespace(&client, WORKLOAD).await,
                leader.logs(),
            );
            std::panic::resume_unwind(panic);
        }
    };

    // The standby is stopped once it has wired the webhook (read the Secret, patched every
    // CRD) and so waits for the Lease: before that, SIGTERM ends it mid-request.
    let crds = sandbox_api::crds::all().len();
    let deadline = Instant::now() + WAIT;
    while standby.running() && Instant::now() < deadline {
        let requests = audited(&audit_log);
        let count = |verb: &str, resource: &str| {
            requests
                .iter()
                .filter(|r| r.verb == verb && r.resource == resource)
                .count()
        };
        if count("get", "secrets") > 0 && count("patch", "customresourcedefinitions") >= 2 * crds {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both stop as the kubelet stops them; the leader gives the Lease up (a read, a patch).
    let standby_exit = standby.stop().await;
    let leader_exit = leader.stop().await;

    // The audit log is written as each response completes: the last requests may land just
    // after the replicas have exited, so read it until nothing more is missing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let requests = audited(&audit_log);
        if unused(&grants, &requests).is_empty() || Instant::now() > deadline {
            break requests;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!requests.is_empty(), "no request of {SA_USER} was audited");
    let logs = format!("{}\n{}", leader.logs(), standby.logs());

    let denied = forbidden(&requests);
    assert!(
        denied.is_empty(),
        "requests the manifests' RBAC denied:\n{}\n{logs}",
        denied.join("\n")
    );
    assert!(
        matches!((leader_exit, standby_exit), (Ok(l), Ok(s)) if l.success() && s.success()),
        "leader {leader_exit:?}, standby {standby_exit:?} (Err: ended before it was stopped)\n{logs}"
    );
    let mut outside: Vec<String> = requests
        .iter()
        .filter(|r| !grants.iter().any(|g| g.covers(r)))
        .map(ToString::to_string)
        .collect();
    outside.sort();
    outside.dedup();
    assert!(
        outside.is_empty(),
        "requests allowed by something other than the manifests' rules:\n{}",
        outside.join("\n")
    );
    let unused: Vec<String> = unused(&grants, &requests)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never used (remove the rule, or list it in UNEXERCISED with the reason):\n{}",
        unused.join("\n")
    );
    cluster.stop().unwrap();
}
