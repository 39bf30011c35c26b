//! Prometheus metrics with upstream's names and labels, and buckets fine enough to resolve
//! milliseconds: upstream's bucket bounds are all kept, with finer ones added below 1 s.

use prometheus_client::encoding::EncodeLabelSet;
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
    pub compiler: String,
}

fn ms_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_MS)
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    pub claim_creation: Family<ClaimCreation, Counter>,
    pub claim_controller_startup_latency_ms: Family<ClaimLatency, Histogram>,
    pub creation_latency_ms: Family<SandboxLatency, Histogram>,
    pub reconcile_total: Family<Reconcile, Counter>,
    pub reconcile_time_seconds: Family<ControllerLabel, Histogram>,
    pub registry: Registry,
}

impl Metrics {
    pub fn new() -> Self {
        let claim_creation = Family::<ClaimCreation, Counter>::default();
        let claim_latency = Family::<ClaimLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let creation_latency = Family::<SandboxLatency, Histogram>::new_with_constructor(
            ms_histogram as fn() -> Histogram,
        );
        let reconcile_total = Family::<Reconcile, Counter>::default();
        let reconcile_time = Family::<ControllerLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(RECONCILE_BUCKETS_S)) as fn() -> Histogram,
        );
        let build_info = Family::<BuildInfo, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        build_info
            .get_or_create(&BuildInfo {
                git_version: env!("CARGO_PKG_VERSION").into(),
                compiler: "rustc".into(),
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
        registry.register("agent_sandbox_build_info", "Build metadata", build_info);
        Self {
            claim_creation,
            claim_controller_startup_latency_ms: claim_latency,
            creation_latency_ms: creation_latency,
            reconcile_total,
            reconcile_time_seconds: reconcile_time,
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
}
