//! Prometheus metrics with upstream's names and labels, and buckets fine enough to resolve
//! milliseconds: upstream's bucket bounds are all kept, with finer ones added below 1 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Milliseconds: upstream's claim and creation buckets merged, plus 1–75 ms steps.
pub const LATENCY_BUCKETS_MS: [f64; 25] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0, 750.0, 1000.0, 1250.0,
    1500.0, 2000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 120000.0, 240000.0, 300000.0,
    600000.0,
];

/// Seconds, for reconcile durations.
pub const RECONCILE_BUCKETS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClaimCreation {
    pub namespace: String,
    pub sandbox_template: String,
    pub launch_type: String,
    pub warmpool_name: String,
    pub pod_condition: String,
    pub created_by: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClaimLatency {
    pub launch_type: String,
    pub sandbox_template: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SandboxLatency {
    pub namespace: String,
    pub launch_type: String,
    pub sandbox_template: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reconcile {
    pub controller: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildInfo {
    pub git_version: String,
    pub git_commit: String,
    pub build_date: String,
    pub compiler: String,
    pub platform: String,
}

/// Labels of `agent_sandboxes`, as upstream's collector computes them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct Sandboxes {
    pub namespace: String,
    /// `"true"` or `"false"`.
    pub ready_condition: String,
    /// `"true"` when Ready's reason is `SandboxExpired`.
    pub expired: String,
    /// `warm` or `cold`.
    pub launch_type: String,
    /// The template annotation, or `unknown` (not the claim metrics' `__unknown__`).
    pub sandbox_template: String,
    /// `SandboxClaim`, `SandboxWarmPool` or `None`.
    pub owned_by: String,
    pub created_by: String,
    /// `spec.operatingMode`: `Running` (also when unset) or `Suspended` (upstream v1.0.11).
    pub operating_mode: String,
}

impl Sandboxes {
    pub fn of(s: &sandbox_api::v1beta1::Sandbox) -> Self {
        use sandbox_api::keys::{self, condition, reason};
        let ready = s
            .status
            .as_ref()
            .and_then(|st| crate::conditions::find(&st.conditions, condition::READY));
        let labels = s.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        let owned_by = crate::sandbox::children::controller_of(&s.metadata)
            .filter(|r| {
                crate::sandbox::children::api_group(&r.api_version) == "extensions.agents.x-k8s.io"
            })
            .map(|r| r.kind.as_str())
            .filter(|k| *k == "SandboxClaim" || *k == "SandboxWarmPool")
            .unwrap_or("None");
        Self {
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            ready_condition: ready
                .is_some_and(|c| c.status == crate::conditions::TRUE)
                .to_string(),
            expired: ready
                .is_some_and(|c| c.reason == reason::SANDBOX_EXPIRED)
                .to_string(),
            launch_type: if label(keys::LAUNCH_TYPE_LABEL) == Some(keys::LAUNCH_TYPE_WARM) {
                keys::LAUNCH_TYPE_WARM
            } else {
                keys::LAUNCH_TYPE_COLD
            }
            .into(),
            sandbox_template: s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(keys::SANDBOX_TEMPLATE_REF_ANNOTATION))
                .filter(|t| !t.is_empty())
                .map_or_else(|| "unknown".into(), Clone::clone),
            owned_by: owned_by.into(),
            created_by: label(keys::CREATED_BY_LABEL)
                .map_or(
                    keys::CREATED_BY_UNKNOWN,
                    crate::sandbox::children::normalize_created_by,
                )
                .into(),
            operating_mode: match s.spec.operating_mode.unwrap_or_default() {
                sandbox_api::v1beta1::OperatingMode::Running => "Running",
                sandbox_api::v1beta1::OperatingMode::Suspended => "Suspended",
            }
            .into(),
        }
    }
}

/// Counts per label set.
pub fn count_sandboxes<'a>(
    sandboxes: impl IntoIterator<Item = &'a sandbox_api::v1beta1::Sandbox>,
) -> HashMap<Sandboxes, i64> {
    let mut counts = HashMap::new();
    for s in sandboxes {
        *counts.entry(Sandboxes::of(s)).or_insert(0) += 1;
    }
    counts
}

/// `agent_sandboxes`, counted from the shared Sandbox cache at each scrape (as upstream counts
/// from its informer cache): nothing to keep in step on every reconcile.
#[derive(Debug, Default, Clone)]
pub struct SandboxGauge {
    store: Arc<Mutex<Option<Store<sandbox_api::v1beta1::Sandbox>>>>,
}

impl SandboxGauge {
    /// Counts this cache from now on.
    pub fn watch(&self, store: Store<sandbox_api::v1beta1::Sandbox>) {
        *self.store.lock().unwrap_or_else(PoisonError::into_inner) = Some(store);
    }
}

impl Collector for SandboxGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(store) = self
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return Ok(());
        };
        let family = Family::<Sandboxes, Gauge>::default();
        let cached = store.state();
        for (labels, n) in count_sandboxes(cached.iter().map(AsRef::as_ref)) {
            family.get_or_create(&labels).set(n);
        }
        let metric = encoder.encode_descriptor(
            "agent_sandboxes",
            "Monitor the point-in-time number of sandboxes in the cluster.",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

/// Milliseconds from an RFC 3339 timestamp annotation to `now`; `None` when the annotation is
/// missing, malformed or in the future (client clock skew), which upstream skips too.
pub fn ms_since_annotation(value: Option<&str>, now: Timestamp) -> Option<f64> {
    let at: Timestamp = value?.parse().ok()?;
    let ms = now.duration_since(at).as_secs_f64() * 1000.0;
    (ms >= 0.0).then_some(ms)
}

fn ms_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_MS)
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    pub claim_creation: Family<ClaimCreation, Counter>,
    pub claim_controller_startup_latency_ms: Family<ClaimLatency, Histogram>,
    /// From the admission webhook's `webhook-first-observed-at` annotation to Ready.
    pub claim_startup_latency_ms: Family<ClaimLatency, Histogram>,
    /// From the client's `client-first-requested-at` annotation to Ready.
    pub client_claim_startup_latency_ms: Family<ClaimLatency, Histogram>,
    pub sandboxes: SandboxGauge,
    pub creation_latency_ms: Family<SandboxLatency, Histogram>,
    pub reconcile_total: Family<Reconcile, Counter>,
    pub reconcile_time_seconds: Family<ControllerLabel, Histogram>,
    /// Objects set aside because they did not decode, by kind (see `quarantine`).
    pub undecodable_objects: Family<KindLabel, Counter>,
    pub registry: Registry,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

impl Metrics {
    pub fn new() -> Self {
        let claim_creation = Family::<ClaimCreation, Counter>::default();
        let claim_latency = Family::<ClaimLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let webhook_latency = Family::<ClaimLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let client_latency = Family::<ClaimLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let sandboxes = SandboxGauge::default();
        let creation_latency = Family::<SandboxLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let reconcile_total = Family::<Reconcile, Counter>::default();
        let reconcile_time = Family::<ControllerLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(RECONCILE_BUCKETS_S)) as fn() -> Histogram,
        );
        let undecodable_objects = Family::<KindLabel, Counter>::default();
        let build_info = Family::<BuildInfo, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        build_info
            .get_or_create(&BuildInfo {
                git_version: env!("CARGO_PKG_VERSION").into(),
                git_commit: crate::flags::git_sha().into(),
                build_date: option_env!("SANDBOX_CONTROLLER_BUILD_DATE")
                    .unwrap_or("unknown")
                    .into(),
                compiler: "rustc".into(),
                platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            })
            .set(1);

        let mut registry = Registry::default();
        registry.register(
            "agent_sandbox_claim_creation",
            "Sandboxes bound to claims, by launch type (warm adoption or cold create)",
            claim_creation.clone(),
        );
        registry.register(
            "agent_sandbox_claim_controller_startup_latency_ms",
            "Time from the controller first seeing a claim to the claim's first Ready",
            claim_latency.clone(),
        );
        registry.register(
            "agent_sandbox_claim_startup_latency_ms",
            "Time from the admission webhook first seeing a claim (its \
             agents.x-k8s.io/webhook-first-observed-at annotation) to the claim's first Ready; \
             only claims carrying that annotation",
            webhook_latency.clone(),
        );
        registry.register(
            "agent_sandbox_client_claim_startup_latency_ms",
            "Time from the client's request (its agents.x-k8s.io/client-first-requested-at \
             annotation) to the claim's first Ready; only claims carrying that annotation, and \
             subject to clock skew between client and controller",
            client_latency.clone(),
        );
        registry.register_collector(Box::new(sandboxes.clone()));
        registry.register(
            "agent_sandbox_creation_latency_ms",
            "Time from a Sandbox's creation to its first Ready",
            creation_latency.clone(),
        );
        registry.register(
            "controller_runtime_reconcile",
            "Reconciles per controller and result",
            reconcile_total.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Duration of one reconcile",
            reconcile_time.clone(),
        );
        registry.register(
            "agent_sandbox_undecodable_objects",
            "Object versions the controller could not decode and ignores, by kind",
            undecodable_objects.clone(),
        );
        registry.register("agent_sandbox_build_info", "Build metadata", build_info);
        Self {
            claim_creation,
            claim_controller_startup_latency_ms: claim_latency,
            claim_startup_latency_ms: webhook_latency,
            client_claim_startup_latency_ms: client_latency,
            sandboxes,
            creation_latency_ms: creation_latency,
            reconcile_total,
            reconcile_time_seconds: reconcile_time,
            undecodable_objects,
            registry,
        }
    }

    /// Records one reconcile of `controller`.
    pub fn reconciled(&self, controller: &str, ok: bool, seconds: f64) {
        let result = if ok { "success" } else { "error" };
        self.reconcile_total
            .get_or_create(&Reconcile {
                controller: controller.into(),
                result: result.into(),
            })
            .inc();
        self.reconcile_time_seconds
            .get_or_create(&ControllerLabel {
                controller: controller.into(),
            })
            .observe(seconds);
    }

    /// Counts one undecodable object version of `kind`.
    pub fn undecodable(&self, kind: &str) {
        self.undecodable_objects
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_and_millisecond_buckets_are_exported() {
        let m = Metrics::new();
        m.claim_controller_startup_latency_ms
            .get_or_create(&ClaimLatency {
                launch_type: "warm".into(),
                sandbox_template: "t".into(),
            })
            .observe(3.0);
        m.claim_creation
            .get_or_create(&ClaimCreation {
                namespace: "ns".into(),
                sandbox_template: "t".into(),
                launch_type: "warm".into(),
                warmpool_name: "p".into(),
                pod_condition: "ready".into(),
                created_by: "unknown".into(),
            })
            .inc();
        m.reconciled("sandbox", true, 0.002);
        let text = m.encode();
        for wanted in [
            "agent_sandbox_claim_creation_total{",
            "agent_sandbox_claim_controller_startup_latency_ms_bucket{le=\"5.0\",launch_type=\"warm\"",
            "controller_runtime_reconcile_total{controller=\"sandbox\",result=\"success\"} 1",
            "agent_sandbox_build_info{",
        ] {
            assert!(text.contains(wanted), "missing {wanted} in\n{text}");
        }
        // A 3 ms observation lands in the 5 ms bucket, not only in upstream's 100 ms one.
        assert!(
            text.contains("le=\"5.0\",launch_type=\"warm\",sandbox_template=\"t\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("le=\"2.0\",launch_type=\"warm\",sandbox_template=\"t\"} 0"),
            "{text}"
        );
    }

    fn sandbox(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Sandbox {
        let mut v = serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"podTemplate": {"spec": {"containers": []}}}
        });
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    fn ready(v: &mut serde_json::Value, status: &str, reason: &str) {
        v["status"] = serde_json::json!({"conditions": [{"type": "Ready", "status": status,
            "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    }

    use sandbox_api::v1beta1::Sandbox;

    #[test]
    fn sandboxes_are_labelled_as_upstreams_collector_labels_them() {
        let warm_member = sandbox("pool-a", |v| {
            v["metadata"]["labels"] = serde_json::json!({"agents.x-k8s.io/launch-type": "warm",
                "agents.x-k8s.io/created-by": "controller"});
            v["metadata"]["annotations"] =
                serde_json::json!({"agents.x-k8s.io/sandbox-template-ref": "python"});
            // An ownerRef written before the v1beta1 upgrade still counts: the group decides.
            v["metadata"]["ownerReferences"] = serde_json::json!([{"apiVersion":
                "extensions.agents.x-k8s.io/v1alpha1", "kind": "SandboxWarmPool", "name": "pool",
                "uid": "u", "controller": true}]);
            ready(v, "True", "DependenciesReady");
        });
        assert_eq!(
            Sandboxes::of(&warm_member),
            Sandboxes {
                namespace: "ns".into(),
                ready_condition: "true".into(),
                expired: "false".into(),
                launch_type: "warm".into(),
                sandbox_template: "python".into(),
                owned_by: "SandboxWarmPool".into(),
                created_by: "controller".into(),
                operating_mode: "Running".into(),
            }
        );
        let bare = sandbox("mine", |v| {
            v["metadata"]["labels"] = serde_json::json!({"agents.x-k8s.io/created-by": "curl"});
            v["metadata"]["ownerReferences"] = serde_json::json!([{"apiVersion": "apps/v1",
                "kind": "SandboxClaim", "name": "x", "uid": "u", "controller": true}]);
            ready(v, "False", "SandboxExpired");
            v["spec"]["operatingMode"] = serde_json::json!("Suspended");
        });
        let labels = Sandboxes::of(&bare);
        assert_eq!(labels.operating_mode, "Suspended");
        assert_eq!(
            (
                labels.ready_condition.as_str(),
                labels.expired.as_str(),
                labels.launch_type.as_str(),
                labels.sandbox_template.as_str(),
                labels.owned_by.as_str(),
                labels.created_by.as_str()
            ),
            ("false", "true", "cold", "unknown", "None", "unknown")
        );
        let counts = count_sandboxes([&warm_member, &bare, &warm_member]);
        assert_eq!(counts[&Sandboxes::of(&warm_member)], 2);
        assert_eq!(counts[&labels], 1);
    }

    #[test]
    fn the_sandbox_gauge_follows_the_cache_at_each_scrape() {
        let m = Metrics::new();
        assert!(
            !m.encode().contains("agent_sandboxes{"),
            "no series before a cache is watched"
        );
        let (store, mut writer) = kube::runtime::reflector::store::<Sandbox>();
        m.sandboxes.watch(store);
        let claimed = sandbox("a", |v| {
            v["metadata"]["ownerReferences"] = serde_json::json!([{"apiVersion":
                "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim", "name": "c",
                "uid": "u", "controller": true}]);
            ready(v, "True", "DependenciesReady");
        });
        for s in [claimed.clone(), sandbox("b", |_| {})] {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(s));
        }
        let text = m.encode();
        assert!(text.contains("# TYPE agent_sandboxes gauge"), "{text}");
        let series = "agent_sandboxes{namespace=\"ns\",ready_condition=\"true\",expired=\"false\",\
                      launch_type=\"cold\",sandbox_template=\"unknown\",owned_by=\"SandboxClaim\",\
                      created_by=\"unknown\",operating_mode=\"Running\"} 1";
        assert!(text.contains(series), "{text}");
        assert!(text.contains("ready_condition=\"false\""), "{text}");
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Delete(claimed));
        let text = m.encode();
        assert!(
            !text.contains(series),
            "a deleted Sandbox is no longer counted:\n{text}"
        );
    }

    #[test]
    fn annotated_latencies_take_rfc3339_and_skip_the_future_and_garbage() {
        let now: Timestamp = "2026-01-01T00:00:01.250Z".parse().unwrap();
        assert_eq!(
            ms_since_annotation(Some("2026-01-01T00:00:00Z"), now),
            Some(1250.0)
        );
        assert_eq!(
            ms_since_annotation(Some("2026-01-01T00:00:01.000000001Z"), now).map(f64::round),
            Some(250.0)
        );
        assert_eq!(ms_since_annotation(Some("2026-01-01T00:00:02Z"), now), None);
        assert_eq!(ms_since_annotation(Some("yesterday"), now), None);
        assert_eq!(ms_since_annotation(None, now), None);
    }

    #[test]
    fn every_upstream_family_is_exported_with_its_labels() {
        let m = Metrics::new();
        let labels = ClaimLatency {
            launch_type: "warm".into(),
            sandbox_template: "t".into(),
        };
        m.claim_startup_latency_ms
            .get_or_create(&labels)
            .observe(7.0);
        m.client_claim_startup_latency_ms
            .get_or_create(&labels)
            .observe(70.0);
        let text = m.encode();
        for wanted in [
            "agent_sandbox_claim_startup_latency_ms_bucket{le=\"10.0\",launch_type=\"warm\",sandbox_template=\"t\"} 1",
            "agent_sandbox_client_claim_startup_latency_ms_bucket{le=\"50.0\",launch_type=\"warm\",sandbox_template=\"t\"} 0",
            "agent_sandbox_client_claim_startup_latency_ms_bucket{le=\"75.0\",launch_type=\"warm\",sandbox_template=\"t\"} 1",
            "agent_sandbox_build_info{git_version=",
            "git_commit=",
            "platform=",
        ] {
            assert!(text.contains(wanted), "missing {wanted} in\n{text}");
        }
    }
}
