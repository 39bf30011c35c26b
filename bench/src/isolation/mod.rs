//! Isolation checks from inside real sandboxes on the real node. The probe runs as each
//! sandbox's container and serves what it sees; the harness asks it over the pod network.
//!
//! Every check compares the sandbox under test with a positive control that must show what
//! the sandbox hides: a sandbox of the control RuntimeClass (runc) for the kernel, the same
//! template without its NetworkPolicy for the network, and plain pods given the host's PID
//! namespace, network, files or a service-account token for the rest. A check whose control
//! shows nothing could not have failed, and is reported as such.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use kube::runtime::wait::{await_condition, conditions};
use sandbox_api::v1beta1::{SandboxClaim, SandboxTemplate, SandboxWarmPool};
use sandbox_probe::classify::Runtime;
use sandbox_probe::report::Report;
use sandbox_reports::{CheckStatus, IsolationCheck, IsolationReport};
use serde_json::{Value, json};

pub mod checks;
pub mod probe_pod;

pub use checks::CHECKS;
pub use probe_pod::{PROBE_PORT, probe_pod_spec};

use crate::plan::{PoolPlan, TemplatePlan, pool_object, template_object};
use crate::scenario::IsolationSpec;
use crate::setup::{InvalidObject, typed};
use sandbox_cluster::local::node::{NETPOL_CHAIN, NODE_NAME, config::BRIDGE};
use sandbox_marks::labels::RUN_LABEL;

/// How long the sandboxes and control pods get to start.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// What the harness reads of the node itself (it runs on it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub boot_id: String,
    pub kernel_release: String,
    pub pid1_cmdline: String,
    /// A file only the node (and pods mounting it) can see.
    pub marker: String,
}

impl NodeView {
    pub fn read(marker: String) -> Self {
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Self {
            boot_id: text("/proc/sys/kernel/random/boot_id").trim().into(),
            kernel_release: text("/proc/sys/kernel/osrelease").trim().into(),
            pid1_cmdline: text("/proc/1/cmdline").replace('\0', " ").trim().into(),
            marker,
        }
    }
}

/// The roles probes play, and the addresses the network checks aim at.
pub struct Observed<'a> {
    pub reports: &'a BTreeMap<String, Report>,
    /// `ip:port` of the plain target pod (no policy selects it).
    pub target: &'a str,
    /// `ip:port` of the second sandbox of the template under test.
    pub sandbox_peer: &'a str,
    /// `ip:port` of the second sandbox of the template without a NetworkPolicy.
    pub open_peer: &'a str,
}

/// Which runtime the probe should recognise for a RuntimeClass.
fn expected_runtime(runtime_class: &str) -> Runtime {
    match runtime_class {
        "gvisor" | "runsc" => Runtime::Gvisor,
        c if c.starts_with("kata") => Runtime::VirtualMachine,
        _ => Runtime::SharedKernel,
    }
}

/// A runtime as the probe names it in its report (`shared_kernel`, `gvisor`, …).
fn runtime_name(runtime: Runtime) -> String {
    serde_json::to_value(runtime)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Pure: each named check's verdict from the probes' reports.
pub fn evaluate(spec: &IsolationSpec, node: &NodeView, seen: &Observed<'_>) -> Vec<IsolationCheck> {
    let report = |role: &str| seen.reports.get(role);
    let reachable = |role: &str, to: &str| report(role).and_then(|r| r.reachable.get(to).copied());
    let visible =
        |role: &str, path: &str| report(role).and_then(|r| r.visible_paths.get(path).copied());
    let runtime =
        |role: &str| report(role).and_then(|r| r.classification.as_ref().map(|c| c.runtime));
    let shows = |v: &Option<bool>, yes: &str, no: &str| match v {
        Some(true) => yes.to_string(),
        Some(false) => no.to_string(),
        None => "no report".to_string(),
    };
    let expected = expected_runtime(&spec.runtime_class.value);
    spec.checks
        .iter()
        .map(|check| {
            let name = check.value.as_str();
            // (sandbox exposed, control exposed, what each showed)
            let (sandbox, control, said_sandbox, said_control) = match name {
                "kernel_not_shared" => {
                    let same = |role| report(role).map(|r| r.facts.boot_id == node.boot_id);
                    let (s, c) = (same("sandbox"), same("open"));
                    let say = |v| shows(v, "node's boot_id", "own boot_id");
                    (s, c, say(&s), say(&c))
                }
                "runtime_identified" => {
                    let (s, c) = (runtime("sandbox"), runtime("open"));
                    let say =
                        |r: Option<Runtime>| r.map_or_else(|| "no report".into(), runtime_name);
                    (
                        s.map(|r| r != expected),
                        c.map(|r| r == Runtime::SharedKernel && expected != Runtime::SharedKernel),
                        say(s),
                        say(c),
                    )
                }
                "no_service_account_token" => {
                    let token = |role| report(role).map(|r| r.facts.service_account_token);
                    let (s, c) = (token("sandbox"), token("token"));
                    let say = |v| shows(v, "token mounted", "no token");
                    (s, c, say(&s), say(&c))
                }
                "no_host_pid" => {
                    let host =
                        |role| report(role).map(|r| r.facts.pid1_cmdline == node.pid1_cmdline);
                    let (s, c) = (host("sandbox"), host("host-pid"));
                    let say = |v| shows(v, "node's PID 1", "own PID 1");
                    (s, c, say(&s), say(&c))
                }
                "no_host_network" => {
                    let bridge = |role| {
                        report(role).map(|r| r.facts.network_interfaces.iter().any(|n| n == BRIDGE))
                    };
                    let (s, c) = (bridge("sandbox"), bridge("host-network"));
                    let say = |v| shows(v, &format!("sees {BRIDGE}"), "own interfaces");
                    (s, c, say(&s), say(&c))
                }
                "no_node_files" => {
                    let (s, c) = (
                        visible("sandbox", &node.marker),
                        visible("host-path", &node.marker),
                    );
                    let say = |v| shows(v, "reads the node's file", "cannot see it");
                    (s, c, say(&s), say(&c))
                }
                "egress_blocked" => {
                    let (s, c) = (
                        reachable("sandbox", seen.target),
                        reachable("open", seen.target),
                    );
                    let say = |v| shows(v, "reached the target", "blocked");
                    (s, c, say(&s), say(&c))
                }
                "sandboxes_isolated" => {
                    let (s, c) = (
                        reachable("sandbox", seen.sandbox_peer),
                        reachable("open", seen.open_peer),
                    );
                    let say = |v| shows(v, "reached the other sandbox", "blocked");
                    (s, c, say(&s), say(&c))
                }
                _ => (None, None, String::new(), String::new()),
            };
            let status = match (sandbox, control) {
                (None, _) | (_, None) => CheckStatus::NoReport,
                (Some(true), _) => CheckStatus::Breach,
                (Some(false), Some(false)) => CheckStatus::ControlFailed,
                (Some(false), Some(true)) => CheckStatus::Pass,
            };
            IsolationCheck {
                name: name.to_string(),
                status,
                sandbox: said_sandbox,
                control: said_control,
            }
        })
        .collect()
}

/// A probe template of the isolation run; `open` leaves its NetworkPolicy unmanaged.
fn template(name: &str, runtime_class: &str, open: bool, run_id: &str) -> Value {
    let plan = TemplatePlan {
        name: name.into(),
        image: String::new(),
        runtime_class: Some(runtime_class.into()),
        probe: true,
        node: Some(NODE_NAME.into()),
    };
    let mut template = template_object(&plan, run_id);
    if open {
        template["spec"]["networkPolicyManagement"] = json!("Unmanaged");
    }
    template
}

/// A pool without warm members: its claims start their sandboxes cold.
fn pool(name: &str, run_id: &str) -> Value {
    let plan = PoolPlan {
        name: name.into(),
        template: name.into(),
        replicas: 0,
    };
    pool_object(&plan, run_id)
}

/// A plain pod under the control RuntimeClass with one exposure switched on.
fn control_pod(
    role: &str,
    runtime_class: &str,
    run_id: &str,
    marker_dir: &str,
    port: u16,
) -> Value {
    let mut spec = probe_pod_spec(Some(runtime_class), port, Some(NODE_NAME));
    match role {
        "host-pid" => spec["hostPID"] = json!(true),
        "host-network" => spec["hostNetwork"] = json!(true),
        "host-path" => {
            spec["volumes"] = json!([{"name": "node", "hostPath": {"path": marker_dir}}]);
            spec["containers"][0]["volumeMounts"] =
                json!([{"name": "node", "mountPath": marker_dir, "readOnly": true}]);
        }
        // `token` keeps the default automount; `target` is only listened to.
        _ => {}
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("iso-{role}"), "labels": {RUN_LABEL: run_id}},
        "spec": spec
    })
}

const SANDBOX_TEMPLATE: &str = "iso-sandbox";
const OPEN_TEMPLATE: &str = "iso-open";
const CONTROL_PODS: [&str; 5] = ["token", "host-pid", "host-network", "host-path", "target"];

/// Why the checks could not be run (never a breach: those are the report's verdicts).
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error("write the node-only marker {}: {source}", path.display())]
    Marker {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Object(#[from] InvalidObject),
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error("watch {what}: {source}")]
    Watch {
        what: String,
        source: kube::runtime::wait::Error,
    },
    #[error("no free port for the host-network control pod: {0}")]
    Port(std::io::Error),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("probe {role} at {url}: {source}")]
    Probe {
        role: String,
        url: String,
        source: reqwest::Error,
    },
}

/// The error of an API call, named by what it was doing.
fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> IsolationError {
    move |source| IsolationError::Api {
        what: what.into(),
        source,
    }
}

/// Runs the checks in namespace `ns` and returns their report. Errors are infrastructure
/// failures (a pod that never started), not breaches.
pub async fn run(
    client: &kube::Client,
    ns: &str,
    run_id: &str,
    spec: &IsolationSpec,
) -> Result<IsolationReport, IsolationError> {
    let marker_dir = format!("/run/sandbox-bench/markers/{run_id}");
    let marker = format!("{marker_dir}/node-only");
    let marker_error = |path: &str| {
        let path = std::path::PathBuf::from(path);
        move |source| IsolationError::Marker { path, source }
    };
    std::fs::create_dir_all(&marker_dir).map_err(marker_error(&marker_dir))?;
    std::fs::write(&marker, run_id).map_err(marker_error(&marker))?;
    let result = run_checks(client, ns, run_id, spec, &marker_dir, &marker).await;
    let _ = std::fs::remove_dir_all(&marker_dir);
    result
}

/// The roles of the four sandboxes: the subject, its peer, and the same template without
/// its NetworkPolicy, with its peer.
const CLAIM_ROLES: [&str; 4] = ["sandbox", "sandbox-peer", "open", "open-peer"];

async fn run_checks(
    client: &kube::Client,
    ns: &str,
    run_id: &str,
    spec: &IsolationSpec,
    marker_dir: &str,
    marker: &str,
) -> Result<IsolationReport, IsolationError> {
    let subject = spec.runtime_class.value.as_str();
    let control = spec.control();
    claim_sandboxes(client, ns, run_id, subject, control).await?;
    let host_port = start_control_pods(client, ns, run_id, control, marker_dir).await?;
    let addresses = wait_for_probes(client, ns, host_port).await?;
    // The enforcer must have seen the sandboxes' addresses before anything is judged.
    for role in ["sandbox", "sandbox-peer"] {
        let ip = addresses[role].split(':').next().unwrap_or_default();
        wait_for_rules(ip, Duration::from_secs(20)).await?;
    }
    let node = NodeView::read(marker.to_string());
    let reports = fetch_reports(&addresses, &node, marker).await?;
    let checks = evaluate(
        spec,
        &node,
        &Observed {
            reports: &reports,
            target: &addresses["target"],
            sandbox_peer: &addresses["sandbox-peer"],
            open_peer: &addresses["open-peer"],
        },
    );
    Ok(IsolationReport {
        runtime_class: subject.to_string(),
        control_runtime_class: control.to_string(),
        checks,
        // As the probes served them; these types always serialize.
        probes: reports
            .into_iter()
            .map(|(role, r)| (role, serde_json::to_value(r).unwrap_or(Value::Null)))
            .collect(),
    })
}

/// The two templates and pools (subject and open) and the four claims on them.
async fn claim_sandboxes(
    client: &kube::Client,
    ns: &str,
    run_id: &str,
    subject: &str,
    control: &str,
) -> Result<(), IsolationError> {
    let pp = PostParams::default();
    let templates: Api<SandboxTemplate> = Api::namespaced(client.clone(), ns);
    let pools: Api<SandboxWarmPool> = Api::namespaced(client.clone(), ns);
    for (name, class, open) in [
        (SANDBOX_TEMPLATE, subject, false),
        (OPEN_TEMPLATE, control, true),
    ] {
        templates
            .create(&pp, &typed(template(name, class, open, run_id))?)
            .await
            .map_err(api(format!("create SandboxTemplate {name}")))?;
        pools
            .create(&pp, &typed(pool(name, run_id))?)
            .await
            .map_err(api(format!("create SandboxWarmPool {name}")))?;
    }
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), ns);
    for role in CLAIM_ROLES {
        let pool = if role.starts_with("sandbox") {
            SANDBOX_TEMPLATE
        } else {
            OPEN_TEMPLATE
        };
        let claim = crate::plan::claim_object(&format!("iso-{role}"), pool, run_id);
        claims
            .create(&pp, &claim)
            .await
            .map_err(api(format!("create claim iso-{role}")))?;
    }
    Ok(())
}

/// The positive controls' pods; returns the host port the host-network one serves on.
async fn start_control_pods(
    client: &kube::Client,
    ns: &str,
    run_id: &str,
    control: &str,
    marker_dir: &str,
) -> Result<u16, IsolationError> {
    // Pods are admitted only once the namespace's default ServiceAccount exists.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let what = "the namespace's default ServiceAccount";
    tokio::time::timeout(
        START_TIMEOUT,
        await_condition(accounts, "default", conditions::is_created()),
    )
    .await
    .map_err(|_| IsolationError::Timeout {
        what: what.into(),
        after: START_TIMEOUT,
    })?
    .map_err(|source| IsolationError::Watch {
        what: what.into(),
        source,
    })?;
    let host_port = sandbox_cluster::local::free_port().map_err(IsolationError::Port)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for role in CONTROL_PODS {
        let port = port_of(role, host_port);
        pods.create(
            &PostParams::default(),
            &typed(control_pod(role, control, run_id, marker_dir, port))?,
        )
        .await
        .map_err(api(format!("create Pod iso-{role}")))?;
    }
    Ok(host_port)
}

fn port_of(role: &str, host_port: u16) -> u16 {
    if role == "host-network" {
        host_port
    } else {
        PROBE_PORT
    }
}

/// Waits until every sandbox and control pod is Ready; returns each role's probe address.
async fn wait_for_probes(
    client: &kube::Client,
    ns: &str,
    host_port: u16,
) -> Result<BTreeMap<String, String>, IsolationError> {
    let claims: Api<SandboxClaim> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut pod_of: BTreeMap<String, String> = CONTROL_PODS
        .iter()
        .map(|r| (r.to_string(), format!("iso-{r}")))
        .collect();
    let mut addresses: BTreeMap<String, String> = BTreeMap::new();
    let started = Instant::now();
    loop {
        for role in CLAIM_ROLES {
            let claim_name = format!("iso-{role}");
            if !pod_of.contains_key(role)
                && let Some(claim) = claims
                    .get_opt(&claim_name)
                    .await
                    .map_err(api(format!("read claim {claim_name}")))?
                && let Some(name) = claim.status.map(|s| s.sandbox.name)
                && !name.is_empty()
            {
                pod_of.insert(role.to_string(), name);
            }
        }
        for (role, pod) in &pod_of {
            if addresses.contains_key(role) {
                continue;
            }
            if let Some(p) = pods
                .get_opt(pod)
                .await
                .map_err(api(format!("read Pod {pod}")))?
                && let Some(status) = p.status
                && status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
                && let Some(ip) = status.pod_ip
            {
                let port = port_of(role, host_port);
                addresses.insert(role.clone(), format!("{ip}:{port}"));
            }
        }
        if addresses.len() == CONTROL_PODS.len() + CLAIM_ROLES.len() {
            return Ok(addresses);
        }
        if started.elapsed() > START_TIMEOUT {
            let missing: Vec<&str> = CONTROL_PODS
                .iter()
                .chain(&CLAIM_ROLES)
                .copied()
                .filter(|r| !addresses.contains_key(*r))
                .collect();
            return Err(IsolationError::Timeout {
                what: format!("isolation probes Ready: {missing:?}"),
                after: START_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asks every probe for its report, with what it must try to reach: the plain target pod,
/// and for the two sandboxes under test their peer.
async fn fetch_reports(
    addresses: &BTreeMap<String, String>,
    node: &NodeView,
    marker: &str,
) -> Result<BTreeMap<String, Report>, IsolationError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|source| IsolationError::Probe {
            role: "any".into(),
            url: String::new(),
            source,
        })?;
    let mut reports = BTreeMap::new();
    for (role, address) in addresses {
        let peer = match role.as_str() {
            "sandbox" => Some(&addresses["sandbox-peer"]),
            "open" => Some(&addresses["open-peer"]),
            _ => None,
        };
        let mut query = vec![
            ("connect", addresses["target"].clone()),
            ("path", marker.to_string()),
            ("node_kernel_release", node.kernel_release.clone()),
            ("node_boot_id", node.boot_id.clone()),
        ];
        query.extend(peer.map(|p| ("connect", p.clone())));
        let url = format!("http://{address}/report");
        let failed = |source| IsolationError::Probe {
            role: role.clone(),
            url: url.clone(),
            source,
        };
        let report: Report = http
            .get(&url)
            .query(&query)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)?;
        reports.insert(role.clone(), report);
    }
    Ok(reports)
}

/// Whether the enforcer's rules name `ip` (it enforces a sandbox only once they do).
async fn rules_name(ip: &str) -> bool {
    sandbox_cluster::command::Command::new("iptables")
        .args(["-w", "-S"])
        .run()
        .await
        .is_ok_and(|f| {
            f.stdout
                .lines()
                .any(|l| l.contains(NETPOL_CHAIN) && l.contains(&format!("{ip}/32")))
        })
}

/// Waits until the enforcer's rules name `ip`.
async fn wait_for_rules(ip: &str, timeout: Duration) -> Result<(), IsolationError> {
    let named = sandbox_cluster::poll::until(timeout, Duration::from_millis(250), || async {
        rules_name(ip).await.then_some(())
    });
    named.await.ok_or_else(|| IsolationError::Timeout {
        what: format!("NetworkPolicy rules for the sandbox at {ip}"),
        after: timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_probe::classify::Classification;
    use sandbox_probe::facts::Facts;
    use serde_saphyr::{Location, Spanned};

    fn spanned<T>(value: T) -> Spanned<T> {
        Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
    }

    fn spec(checks: &[&str]) -> IsolationSpec {
        IsolationSpec {
            runtime_class: spanned("gvisor".to_string()),
            control: None,
            checks: checks.iter().map(|c| spanned(c.to_string())).collect(),
        }
    }

    fn node() -> NodeView {
        NodeView {
            boot_id: "node-boot".into(),
            kernel_release: "6.1.0".into(),
            pid1_cmdline: "/sbin/init".into(),
            marker: "/run/m/node-only".into(),
        }
    }

    /// A probe report as the probe serves it (the JSON the edits below change).
    fn probe(boot: &str, runtime: &str, pid1: &str, ifaces: &[&str], token: bool) -> Value {
        let report = Report {
            facts: Facts {
                boot_id: boot.into(),
                pid1_cmdline: pid1.into(),
                network_interfaces: ifaces.iter().map(|i| i.to_string()).collect(),
                service_account_token: token,
                ..Facts::default()
            },
            classification: Some(Classification {
                runtime: serde_json::from_value(json!(runtime)).unwrap(),
                shares_node_kernel: runtime == "shared_kernel",
                evidence: Vec::new(),
            }),
            reachable: BTreeMap::new(),
            visible_paths: [("/run/m/node-only".to_string(), false)].into(),
        };
        serde_json::to_value(report).unwrap()
    }

    /// Everything isolated as it should be, every control exposed.
    fn healthy() -> BTreeMap<String, Value> {
        let mut sandbox = probe(
            "own",
            "gvisor",
            "/sandbox-probe serve",
            &["lo", "eth0"],
            false,
        );
        sandbox["reachable"] = json!({"10.0.0.9:8080": false, "10.0.0.2:8080": false});
        let mut open = probe(
            "node-boot",
            "shared_kernel",
            "/pause",
            &["lo", "eth0"],
            false,
        );
        open["reachable"] = json!({"10.0.0.9:8080": true, "10.0.0.3:8080": true});
        let mut host_path = probe("node-boot", "shared_kernel", "/p", &[], false);
        host_path["visible_paths"] = json!({"/run/m/node-only": true});
        [
            ("sandbox", sandbox),
            ("open", open),
            (
                "token",
                probe("node-boot", "shared_kernel", "/p", &[], true),
            ),
            (
                "host-pid",
                probe("node-boot", "shared_kernel", "/sbin/init", &[], false),
            ),
            (
                "host-network",
                probe("node-boot", "shared_kernel", "/p", &["lo", BRIDGE], false),
            ),
            ("host-path", host_path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A change to one probe's report.
    type Edit = fn(&mut Value);

    fn judge(reports: &BTreeMap<String, Value>) -> BTreeMap<String, CheckStatus> {
        let reports: BTreeMap<String, Report> = reports
            .iter()
            .map(|(role, r)| (role.clone(), serde_json::from_value(r.clone()).unwrap()))
            .collect();
        evaluate(
            &spec(&CHECKS),
            &node(),
            &Observed {
                reports: &reports,
                target: "10.0.0.9:8080",
                sandbox_peer: "10.0.0.2:8080",
                open_peer: "10.0.0.3:8080",
            },
        )
        .into_iter()
        .map(|c| (c.name, c.status))
        .collect()
    }

    #[test]
    fn every_check_passes_when_the_sandbox_hides_what_each_control_shows() {
        let verdicts = judge(&healthy());
        assert_eq!(verdicts.len(), CHECKS.len());
        for (name, status) in verdicts {
            assert_eq!(status, CheckStatus::Pass, "{name}");
        }
    }

    #[test]
    fn each_exposure_of_the_sandbox_is_a_breach_of_its_own_check() {
        let breaches: [(&str, Edit); 8] = [
            ("kernel_not_shared", |s| {
                s["facts"]["boot_id"] = json!("node-boot")
            }),
            ("runtime_identified", |s| {
                s["classification"]["runtime"] = json!("shared_kernel")
            }),
            ("no_service_account_token", |s| {
                s["facts"]["service_account_token"] = json!(true)
            }),
            ("no_host_pid", |s| {
                s["facts"]["pid1_cmdline"] = json!("/sbin/init")
            }),
            ("no_host_network", |s| {
                s["facts"]["network_interfaces"] = json!([BRIDGE])
            }),
            ("no_node_files", |s| {
                s["visible_paths"]["/run/m/node-only"] = json!(true)
            }),
            ("egress_blocked", |s| {
                s["reachable"]["10.0.0.9:8080"] = json!(true)
            }),
            ("sandboxes_isolated", |s| {
                s["reachable"]["10.0.0.2:8080"] = json!(true)
            }),
        ];
        for (check, expose) in breaches {
            let mut reports = healthy();
            expose(reports.get_mut("sandbox").unwrap());
            let verdicts = judge(&reports);
            assert_eq!(verdicts[check], CheckStatus::Breach, "{check}");
            let others = verdicts.iter().filter(|(n, _)| n.as_str() != check);
            assert!(
                others.clone().all(|(_, s)| *s == CheckStatus::Pass),
                "{check}: {verdicts:?}"
            );
        }
    }

    #[test]
    fn a_control_that_shows_nothing_makes_its_check_inconclusive() {
        let hides: [(&str, &str, Edit); 8] = [
            ("kernel_not_shared", "open", |c| {
                c["facts"]["boot_id"] = json!("x")
            }),
            ("runtime_identified", "open", |c| {
                c["classification"]["runtime"] = json!("gvisor")
            }),
            ("no_service_account_token", "token", |c| {
                c["facts"]["service_account_token"] = json!(false)
            }),
            ("no_host_pid", "host-pid", |c| {
                c["facts"]["pid1_cmdline"] = json!("/p")
            }),
            ("no_host_network", "host-network", |c| {
                c["facts"]["network_interfaces"] = json!(["lo"])
            }),
            ("no_node_files", "host-path", |c| {
                c["visible_paths"]["/run/m/node-only"] = json!(false)
            }),
            ("egress_blocked", "open", |c| {
                c["reachable"]["10.0.0.9:8080"] = json!(false)
            }),
            ("sandboxes_isolated", "open", |c| {
                c["reachable"]["10.0.0.3:8080"] = json!(false)
            }),
        ];
        for (check, role, hide) in hides {
            let mut reports = healthy();
            hide(reports.get_mut(role).unwrap());
            assert_eq!(
                judge(&reports)[check],
                CheckStatus::ControlFailed,
                "{check}"
            );
        }
    }

    #[test]
    fn a_missing_report_is_named_not_passed() {
        let mut reports = healthy();
        reports.remove("host-pid");
        let verdicts = judge(&reports);
        assert_eq!(verdicts["no_host_pid"], CheckStatus::NoReport);
        assert_eq!(verdicts["kernel_not_shared"], CheckStatus::Pass);
    }

    #[test]
    fn runtime_classes_map_to_what_the_probe_recognises() {
        assert_eq!(expected_runtime("gvisor"), Runtime::Gvisor);
        assert_eq!(expected_runtime("kata-clh"), Runtime::VirtualMachine);
        assert_eq!(expected_runtime("runc"), Runtime::SharedKernel);
        assert_eq!(runtime_name(Runtime::VirtualMachine), "virtual_machine");
    }

    #[test]
    fn control_pods_switch_on_exactly_their_exposure() {
        let pod = |role| control_pod(role, "runc", "r1", "/run/m", 8080);
        assert_eq!(pod("host-pid")["spec"]["hostPID"], true);
        assert_eq!(pod("host-network")["spec"]["hostNetwork"], true);
        assert_eq!(
            pod("host-path")["spec"]["volumes"][0]["hostPath"]["path"],
            "/run/m"
        );
        let token = pod("token");
        assert!(token["spec"].get("hostPID").is_none());
        assert!(token["spec"].get("automountServiceAccountToken").is_none());
        assert_eq!(token["spec"]["runtimeClassName"], "runc");
        assert_eq!(token["spec"]["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(
            template("t", "gvisor", true, "r")["spec"]["networkPolicyManagement"],
            "Unmanaged"
        );
        assert!(
            template("t", "gvisor", false, "r")["spec"]
                .get("networkPolicyManagement")
                .is_none()
        );
    }
}
