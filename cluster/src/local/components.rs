//! Command lines and config files of the control-plane components. Pure functions of the
//! cluster's layout and ports, so every flag that matters is unit-tested without starting
//! anything.

use std::path::{Path, PathBuf};

use super::ports::Ports;

/// Where one cluster keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    /// Where the extra client identities' kubeconfigs are.
    pub fn client_kubeconfigs(&self) -> PathBuf {
        self.dir.join("kubeconfigs")
    }
    /// The kubeconfig of the extra client identity `name`.
    pub fn client_kubeconfig(&self, name: &str) -> PathBuf {
        self.client_kubeconfigs().join(name)
    }
    pub fn audit_policy(&self) -> PathBuf {
        self.dir.join("audit-policy.yaml")
    }
    /// The API server's audit log (JSON lines), when the cluster audits.
    pub fn audit_log(&self) -> PathBuf {
        self.logs().join("audit.log")
    }
    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }
    pub fn etcd_data(&self) -> PathBuf {
        self.dir.join("etcd")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub fn log(&self, component: &str) -> PathBuf {
        self.logs().join(format!("{component}.log"))
    }
    pub fn scheduler_config(&self) -> PathBuf {
        self.dir.join("kube-scheduler.yaml")
    }
    pub fn kwok_config(&self) -> PathBuf {
        self.dir.join("kwok.yaml")
    }
}

/// The service range; its first address is the API server's Service IP.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";

/// Client-side rate limits for the controller-manager and the scheduler: high enough that a
/// burst of thousands of sandboxes measures the controller under test, not client throttling.
const COMPONENT_QPS: u32 = 1000;
const COMPONENT_BURST: u32 = 2000;

/// The API server's concurrency limits, as a benchmark cluster sets them (see
/// [`apiserver_args`]).
const MAX_REQUESTS_INFLIGHT: u32 = 2000;
const MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 1000;

fn flag(name: &str, value: impl std::fmt::Display) -> String {
    format!("--{name}={value}")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

pub fn etcd_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    let client = format!("http://127.0.0.1:{}", ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    vec![
        flag("name", "local"),
        flag("data-dir", path(&layout.etcd_data())),
        flag("listen-client-urls", &client),
        flag("advertise-client-urls", &client),
        flag("listen-peer-urls", &peer),
        flag("initial-advertise-peer-urls", &peer),
        flag("initial-cluster", format!("local={peer}")),
        // A throwaway test store: durability buys nothing and fsync dominates write latency.
        flag("unsafe-no-fsync", true),
        flag("quota-backend-bytes", 8u64 << 30),
        flag("log-level", "warn"),
    ]
}

/// The audit policy of a cluster that audits: every request of the extra client identities
/// (`users`) at `Metadata` level (who, what, when, the answer's code), nothing of anyone
/// else, and only the finished request (no `RequestReceived` stage).
pub fn audit_policy(users: &[String]) -> String {
    let users = serde_json::to_string(users).unwrap_or_else(|_| "[]".into());
    format!(
        "apiVersion: audit.k8s.io/v1\n\
         kind: Policy\n\
         omitStages: [\"RequestReceived\"]\n\
         rules:\n\
         - level: Metadata\n  users: {users}\n\
         - level: None\n"
    )
}

/// The API server's flags; with `audit`, its audit log is written (synchronously, so a
/// killed server has logged every request it answered) to [`Layout::audit_log`].
pub fn apiserver_args(layout: &Layout, ports: &Ports, audit: bool) -> Vec<String> {
    let mut args = vec![
        flag(
            "etcd-servers",
            format!("http://127.0.0.1:{}", ports.etcd_client),
        ),
        flag("bind-address", "127.0.0.1"),
        // Without it the server looks for a default route, which a sandbox may not have.
        flag("advertise-address", "127.0.0.1"),
        flag("secure-port", ports.apiserver),
        flag("cert-dir", path(&layout.dir.join("pki"))),
        flag("tls-cert-file", path(&layout.pki("apiserver.crt"))),
        flag("tls-private-key-file", path(&layout.pki("apiserver.key"))),
        flag("client-ca-file", path(&layout.pki("ca.crt"))),
        flag("service-cluster-ip-range", SERVICE_CIDR),
        flag(
            "service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
        ),
        flag("service-account-key-file", path(&layout.pki("sa.pub"))),
        flag(
            "service-account-signing-key-file",
            path(&layout.pki("sa.key")),
        ),
        flag("authorization-mode", "Node,RBAC"),
        // Logs and exec on the real node: the API server presents the admin certificate,
        // which the kubelet's client CA (the cluster's CA) accepts.
        flag("kubelet-client-certificate", path(&layout.pki("admin.crt"))),
        flag("kubelet-client-key", path(&layout.pki("admin.key"))),
        // The real node's name does not resolve; its address does.
        flag("kubelet-preferred-address-types", "InternalIP,Hostname"),
        flag("allow-privileged", true),
        // Loopback endpoints are not valid for the `kubernetes` Service; skip writing them.
        flag("endpoint-reconciler-type", "none"),
        // `/debug/pprof` for the admin user: where a benchmark's API-server time goes
        // (`kubectl get --raw '/debug/pprof/profile?seconds=10'`).
        flag("profiling", true),
        // The in-flight limits of upstream's kwok scalability cluster (its presubmit), which
        // any real cluster can set: with the defaults (400 + 200 seats shared by Priority and
        // Fairness's levels) a burst of claims can wait in its queues while the server has
        // CPU to spare, and the run would measure the queue rather than the controller.
        flag("max-requests-inflight", MAX_REQUESTS_INFLIGHT),
        flag(
            "max-mutating-requests-inflight",
            MAX_MUTATING_REQUESTS_INFLIGHT,
        ),
    ];
    if audit {
        args.extend([
            flag("audit-policy-file", path(&layout.audit_policy())),
            flag("audit-log-path", path(&layout.audit_log())),
            flag("audit-log-format", "json"),
            flag("audit-log-mode", "blocking"),
            flag("audit-log-maxsize", 0),
        ]);
    }
    args
}

/// Flags shared by the controller-manager and the scheduler.
fn component_serving(layout: &Layout, port: u16) -> Vec<String> {
    let kubeconfig = path(&layout.kubeconfig());
    vec![
        flag("authentication-kubeconfig", &kubeconfig),
        flag("authorization-kubeconfig", &kubeconfig),
        flag("bind-address", "127.0.0.1"),
        flag("secure-port", port),
    ]
}

pub fn controller_manager_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    let mut args = vec![
        flag("kubeconfig", path(&layout.kubeconfig())),
        flag("leader-elect", false),
        flag(
            "service-account-private-key-file",
            path(&layout.pki("sa.key")),
        ),
        flag("root-ca-file", path(&layout.pki("ca.crt"))),
        flag("kube-api-qps", COMPONENT_QPS),
        flag("kube-api-burst", COMPONENT_BURST),
    ];
    args.extend(component_serving(layout, ports.controller_manager));
    args
}

pub fn scheduler_args(layout: &Layout, ports: &Ports) -> Vec<String> {
    let mut args = vec![flag("config", path(&layout.scheduler_config()))];
    args.extend(component_serving(layout, ports.scheduler));
    args
}

/// The scheduler's client settings live in its config file (the matching flags are deprecated).
pub fn scheduler_config(layout: &Layout) -> String {
    format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         clientConnection:\n  kubeconfig: {kubeconfig}\n  qps: {COMPONENT_QPS}\n  burst: {COMPONENT_BURST}\n\
         leaderElection:\n  leaderElect: false\n",
        kubeconfig = path(&layout.kubeconfig()),
    )
}

pub fn kwok_args(layout: &Layout) -> Vec<String> {
    vec![
        flag("kubeconfig", path(&layout.kubeconfig())),
        flag("config", path(&layout.kwok_config())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (Layout, Ports) {
        (
            Layout::new(PathBuf::from("/c")),
            Ports {
                etcd_client: 1001,
                etcd_peer: 1002,
                apiserver: 1003,
                controller_manager: 1004,
                scheduler: 1005,
            },
        )
    }

    fn has(args: &[String], wanted: &str) -> bool {
        args.iter().any(|a| a == wanted)
    }

    #[test]
    fn etcd_listens_on_loopback_only_with_both_ports_set() {
        let (l, p) = fixture();
        let args = etcd_args(&l, &p);
        assert!(has(&args, "--listen-client-urls=http://127.0.0.1:1001"));
        assert!(has(&args, "--listen-peer-urls=http://127.0.0.1:1002"));
        assert!(has(&args, "--data-dir=/c/etcd"));
        assert!(args.iter().all(|a| !a.contains("0.0.0.0")));
    }

    #[test]
    fn apiserver_binds_loopback_and_uses_generated_credentials() {
        let (l, p) = fixture();
        let args = apiserver_args(&l, &p, false);
        for wanted in [
            "--etcd-servers=http://127.0.0.1:1001",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--secure-port=1003",
            "--client-ca-file=/c/pki/ca.crt",
            "--service-account-signing-key-file=/c/pki/sa.key",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--kubelet-client-certificate=/c/pki/admin.crt",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--max-requests-inflight=2000",
            "--max-mutating-requests-inflight=1000",
        ] {
            assert!(has(&args, wanted), "missing {wanted} in {args:?}");
        }
        assert!(!args.iter().any(|a| a.starts_with("--audit")), "{args:?}");
        let audited = apiserver_args(&l, &p, true);
        for wanted in [
            "--audit-policy-file=/c/audit-policy.yaml",
            "--audit-log-path=/c/logs/audit.log",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ] {
            assert!(has(&audited, wanted), "missing {wanted} in {audited:?}");
        }
    }

    #[test]
    fn the_audit_policy_logs_only_the_named_users() {
        let policy = audit_policy(&["sandbox-controller-0".into(), "sandbox-controller-1".into()]);
        let v: serde_json::Value = serde_saphyr::from_str(&policy).unwrap();
        assert_eq!(v["kind"], "Policy");
        assert_eq!(v["omitStages"][0], "RequestReceived");
        assert_eq!(v["rules"][0]["level"], "Metadata");
        assert_eq!(
            v["rules"][0]["users"],
            serde_json::json!(["sandbox-controller-0", "sandbox-controller-1"])
        );
        assert_eq!(v["rules"][1]["level"], "None");
    }

    #[test]
    fn controller_manager_and_scheduler_get_their_own_ports() {
        let (l, p) = fixture();
        let kcm = controller_manager_args(&l, &p);
        let sched = scheduler_args(&l, &p);
        assert!(has(&kcm, "--secure-port=1004"));
        assert!(has(&kcm, "--bind-address=127.0.0.1"));
        assert!(has(
            &kcm,
            "--service-account-private-key-file=/c/pki/sa.key"
        ));
        assert!(has(&sched, "--secure-port=1005"));
        assert!(has(&sched, "--config=/c/kube-scheduler.yaml"));
        let config = scheduler_config(&l);
        assert!(config.contains("kubeconfig: /c/kubeconfig"), "{config}");
        assert!(config.contains("leaderElect: false"), "{config}");
    }
}
