//! Command-line flags, named as upstream's so deployments can switch controllers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "sandbox-controller",
    version,
    long_version = long_version(),
    about = "Reference controller for the agent-sandbox API"
)]
pub struct Flags {
    /// Path to a kubeconfig; without it, $KUBECONFIG, ~/.kube/config, then in-cluster config.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Also run the SandboxClaim, SandboxTemplate and SandboxWarmPool controllers.
    #[arg(long)]
    pub extensions: bool,
    /// DNS domain of the cluster, used in `status.serviceFQDN`.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Sandboxes reconciled in parallel.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_concurrent_workers: u16,
    /// SandboxClaims reconciled in parallel.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_claim_concurrent_workers: u16,
    /// SandboxWarmPools reconciled in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_warm_pool_concurrent_workers: u16,
    /// SandboxTemplates reconciled in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub sandbox_template_concurrent_workers: u16,
    /// Address of `/metrics` (Go style: `:8080` is every interface); `0` turns it off.
    #[arg(long, default_value = ":8080", value_parser = parse_bind_address)]
    pub metrics_bind_address: BindAddress,
    /// Address of `/healthz` and `/readyz`; `0` turns it off.
    #[arg(long, default_value = ":8081", value_parser = parse_bind_address)]
    pub health_probe_bind_address: BindAddress,
    /// Run only while holding the leader Lease, so several replicas can be deployed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, then the in-cluster namespace).
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// Serve the v1alpha1 ⇄ v1beta1 conversion webhook here and point the CRDs at it; `0`
    /// (the default) turns it off.
    #[arg(long, default_value = "0", value_parser = parse_bind_address)]
    pub webhook_bind_address: BindAddress,
    /// Base URL the API server uses for the webhook (for a controller outside the cluster);
    /// without it the CRDs name the webhook Service. Port `0` stands for the port the webhook
    /// bound (with `--webhook-bind-address=HOST:0`).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Service in front of the webhook.
    #[arg(long, default_value = sandbox_api::crds::WEBHOOK_SERVICE_NAME)]
    pub webhook_service_name: String,
    /// Namespace of that Service.
    #[arg(long, default_value = sandbox_api::crds::WEBHOOK_SERVICE_NAMESPACE)]
    pub webhook_namespace: String,
    /// How long a warm pool member may take to become Ready before it is replaced.
    #[arg(long, default_value = "5m", value_parser = parse_positive_duration)]
    pub sandbox_warm_pool_readiness_grace_period: Duration,
    /// How often a pool holding unschedulable members past the grace period looks again.
    #[arg(long, default_value = "1m", value_parser = parse_positive_duration)]
    pub sandbox_warm_pool_unschedulable_recheck_interval: Duration,
    /// Mark warm pool members' Pods safe for the cluster autoscaler to evict, unless the
    /// template says otherwise.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_warm_pool_eviction: bool,
    /// Client-side limit on API requests per second, shared by every request the controller
    /// makes; negative (the default) means no client-side limit, 0 means client-go's 5.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_parser = parse_qps)]
    pub kube_api_qps: f64,
    /// Requests that may go at once above `--kube-api-qps` before throttling starts.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,
    /// Most creates (or deletes) one warm pool reconcile issues.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub sandbox_warm_pool_max_batch_size: u32,
    /// After members leave a pool (e.g. adopted by claims), wait this long without further
    /// departures before creating replacements, so a claim burst gets the API server first.
    /// `0` replenishes at once.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub sandbox_warm_pool_replenish_delay: Duration,
    /// Claims first (ours): while members keep leaving a pool (claims adopting them) and it
    /// still holds more Ready members than the reserve, replacements wait until none has left
    /// for this long, so a burst of claims gets the API server first; so do the writes that
    /// follow an adoption (Pod labels, observedGeneration, Events; at most 10 s). `0` turns it
    /// off.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub sandbox_warm_pool_claims_first: Duration,
    /// The share of a pool's `replicas` (0 to 1, rounded up) kept Ready: at it, refill replaces
    /// each member claims take, holding the pool there until the burst is over.
    #[arg(long, default_value_t = crate::warmpool::shaping::DEFAULT_CLAIMS_FIRST_RESERVE, value_parser = parse_share)]
    pub sandbox_warm_pool_claims_first_reserve: f64,
    /// Most replacement members created per second per pool, as a token bucket holding one
    /// second of creates; `0` (the default) creates the whole deficit at once.
    #[arg(long, default_value_t = 0.0, value_parser = parse_refill_rate)]
    pub sandbox_warm_pool_max_refill_rate: f64,
    /// Emit no Kubernetes Events from the SandboxClaim controller (one write fewer per claim).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disable_claim_events: bool,
    /// Emit no Kubernetes Events from the Sandbox controller (lifecycle Events, `MultiplePods`,
    /// `InvalidConfiguration`).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disable_sandbox_events: bool,
    /// Upstream's Go-specific flags: accepted so a manifest written for upstream starts this
    /// controller, and otherwise ignored (see `docs/upstream-differences.md`).
    #[command(flatten)]
    pub ignored: GoOnlyFlags,
}

/// Upstream flags that tune the Go runtime or client-go, or features this controller has no
/// counterpart for. Each is parsed with its upstream type, so a malformed value still fails,
/// and a warning names every one that was given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GoOnlyFlags {
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub enable_tracing: Option<bool>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub enable_pprof: Option<bool>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub enable_pprof_debug: Option<bool>,
    #[arg(long, hide = true, allow_negative_numbers = true)]
    pub pprof_block_profile_rate: Option<i64>,
    #[arg(long, hide = true, allow_negative_numbers = true)]
    pub pprof_mutex_profile_fraction: Option<i64>,
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_connections: Option<u32>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub separate_watch_connection: Option<bool>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cache_label_selectors: Option<bool>,
    /// We never write the claim observability annotations, so this is already the case.
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_claim_observability_annotations: Option<bool>,
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub sandbox_write_behind_window: Option<Duration>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub zap_devel: Option<bool>,
    #[arg(long, hide = true)]
    pub zap_encoder: Option<String>,
    #[arg(long, hide = true)]
    pub zap_log_level: Option<String>,
    #[arg(long, hide = true)]
    pub zap_stacktrace_level: Option<String>,
    #[arg(long, hide = true)]
    pub zap_time_encoding: Option<String>,
}

impl GoOnlyFlags {
    /// The flags that were given, as `--name`, for the startup warning.
    pub fn given(&self) -> Vec<&'static str> {
        let given = [
            ("--enable-tracing", self.enable_tracing.is_some()),
            ("--enable-pprof", self.enable_pprof.is_some()),
            ("--enable-pprof-debug", self.enable_pprof_debug.is_some()),
            (
                "--pprof-block-profile-rate",
                self.pprof_block_profile_rate.is_some(),
            ),
            (
                "--pprof-mutex-profile-fraction",
                self.pprof_mutex_profile_fraction.is_some(),
            ),
            ("--api-connections", self.api_connections.is_some()),
            (
                "--separate-watch-connection",
                self.separate_watch_connection.is_some(),
            ),
            (
                "--cache-label-selectors",
                self.cache_label_selectors.is_some(),
            ),
            (
                "--disable-claim-observability-annotations",
                self.disable_claim_observability_annotations.is_some(),
            ),
            (
                "--sandbox-write-behind-window",
                self.sandbox_write_behind_window.is_some(),
            ),
            ("--zap-devel", self.zap_devel.is_some()),
            ("--zap-encoder", self.zap_encoder.is_some()),
            ("--zap-log-level", self.zap_log_level.is_some()),
            (
                "--zap-stacktrace-level",
                self.zap_stacktrace_level.is_some(),
            ),
            ("--zap-time-encoding", self.zap_time_encoding.is_some()),
        ];
        given
            .into_iter()
            .filter(|(_, g)| *g)
            .map(|(n, _)| n)
            .collect()
    }
}

/// `--version` in upstream's layout (`agent-sandbox-controller, version … (revision: …)`).
/// The revision comes from `SANDBOX_CONTROLLER_GIT_SHA` at build time, as upstream stamps
/// `internal/version` with `-ldflags`.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{}, version {} (revision: {})\n  compiler:         rustc\n  platform:         {}/{}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            git_sha(),
            std::env::consts::OS,
            std::env::consts::ARCH,
        )
    });
    TEXT.as_str()
}

/// The commit this binary was built from, or `unknown`.
pub fn git_sha() -> &'static str {
    option_env!("SANDBOX_CONTROLLER_GIT_SHA").unwrap_or("unknown")
}

/// A QPS limit: any finite number (negative: no limit).
pub fn parse_qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a finite number")),
    }
}

/// A share between 0 and 1.
pub fn parse_share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: a share from 0 to 1"))
    }
}

/// A refill rate: finite and not negative (0 turns pacing off), as upstream validates it.
pub fn parse_refill_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a finite rate >= 0 (0 disables pacing)"
        )),
    }
}

/// A duration that must be positive, as upstream requires of its grace periods.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("{s:?} must be a positive duration")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// A listen address, or `None` when the endpoint is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddress(pub Option<SocketAddr>);

/// Go-style bind addresses as upstream takes them: `0` (off), `:8080` (every interface),
/// `127.0.0.1:8080`.
pub fn parse_bind_address(s: &str) -> Result<BindAddress, String> {
    if s == "0" {
        return Ok(BindAddress(None));
    }
    let bad = || format!("{s:?} is not an address: use 0, :PORT or HOST:PORT");
    match s.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .map(|p| BindAddress(Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)))))
            .map_err(|_| bad()),
        None => s.parse().map(|a| BindAddress(Some(a))).map_err(|_| bad()),
    }
}

impl Flags {
    /// The defaults, as if no flag was given (for embedding the controller).
    pub fn defaults() -> Self {
        Self::parse_from(["sandbox-controller"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent_and_default_like_upstream() {
        Flags::command().debug_assert();
        let f = Flags::defaults();
        assert_eq!(
            f.metrics_bind_address.0,
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            f.health_probe_bind_address.0,
            Some("0.0.0.0:8081".parse().unwrap())
        );
        assert!(f.leader_elect);
        assert_eq!(f.webhook_bind_address.0, None);
        assert_eq!(
            (
                f.sandbox_concurrent_workers,
                f.sandbox_claim_concurrent_workers
            ),
            (100, 50)
        );
    }

    #[test]
    fn bind_addresses_parse_go_style_and_bad_ones_name_the_input() {
        assert_eq!(parse_bind_address("0"), Ok(BindAddress(None)));
        assert_eq!(
            parse_bind_address("127.0.0.1:9"),
            Ok(BindAddress(Some("127.0.0.1:9".parse().unwrap())))
        );
        assert!(parse_bind_address(":x").unwrap_err().contains("\":x\""));
        let err = Flags::try_parse_from(["c", "--leader-elect", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--leader-elect"), "{err}");
    }

    #[test]
    fn api_client_limits_default_to_none_and_take_negative_numbers() {
        let f = Flags::defaults();
        assert_eq!((f.kube_api_qps, f.kube_api_burst), (-1.0, 10));
        let f = Flags::try_parse_from(["c", "--kube-api-qps", "-1", "--kube-api-burst=3"]).unwrap();
        assert_eq!((f.kube_api_qps, f.kube_api_burst), (-1.0, 3));
        let f = Flags::try_parse_from(["c", "--kube-api-qps=12.5"]).unwrap();
        assert_eq!(f.kube_api_qps, 12.5);
        for bad in [
            &["c", "--kube-api-burst=0"][..],
            &["c", "--kube-api-qps=NaN"],
            &["c", "--kube-api-qps=inf"],
        ] {
            assert!(Flags::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn warm_pool_shaping_flags_parse_go_values_and_reject_bad_ones() {
        let f = Flags::defaults();
        assert_eq!(f.sandbox_warm_pool_max_batch_size, 300);
        assert_eq!(f.sandbox_warm_pool_replenish_delay, Duration::ZERO);
        assert_eq!(f.sandbox_warm_pool_max_refill_rate, 0.0);
        assert_eq!(f.sandbox_warm_pool_claims_first, Duration::from_secs(1));
        assert_eq!(f.sandbox_warm_pool_claims_first_reserve, 0.25);
        assert_eq!(
            f.sandbox_warm_pool_unschedulable_recheck_interval,
            Duration::from_secs(60)
        );
        let f = Flags::try_parse_from([
            "c",
            "--sandbox-warm-pool-max-batch-size=7",
            "--sandbox-warm-pool-replenish-delay=1m30s",
            "--sandbox-warm-pool-max-refill-rate=2.5",
            "--sandbox-warm-pool-claims-first=0s",
            "--sandbox-warm-pool-claims-first-reserve=0.5",
        ])
        .unwrap();
        assert_eq!(f.sandbox_warm_pool_claims_first, Duration::ZERO);
        assert_eq!(f.sandbox_warm_pool_claims_first_reserve, 0.5);
        assert_eq!(f.sandbox_warm_pool_max_batch_size, 7);
        assert_eq!(f.sandbox_warm_pool_replenish_delay, Duration::from_secs(90));
        assert_eq!(f.sandbox_warm_pool_max_refill_rate, 2.5);
        let f = Flags::try_parse_from(["c", "--sandbox-warm-pool-replenish-delay=250ms"]).unwrap();
        assert_eq!(
            f.sandbox_warm_pool_replenish_delay,
            Duration::from_millis(250)
        );
        for bad in [
            &["c", "--sandbox-warm-pool-max-batch-size=0"][..],
            &["c", "--sandbox-warm-pool-max-refill-rate=-1"],
            &["c", "--sandbox-warm-pool-max-refill-rate=NaN"],
            &["c", "--sandbox-warm-pool-max-refill-rate=+Inf"],
            &["c", "--sandbox-warm-pool-replenish-delay=soon"],
            &["c", "--sandbox-warm-pool-claims-first-reserve=1.5"],
            &["c", "--sandbox-warm-pool-claims-first-reserve=-0.1"],
            &["c", "--sandbox-warm-pool-claims-first=soon"],
            &["c", "--sandbox-warm-pool-readiness-grace-period=0s"],
            &["c", "--sandbox-warm-pool-unschedulable-recheck-interval=0s"],
        ] {
            assert!(Flags::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn bool_flags_work_bare_and_with_a_value_as_in_go() {
        assert!(!Flags::defaults().disable_claim_events);
        let bare = Flags::try_parse_from(["c", "--disable-claim-events", "--extensions"]).unwrap();
        assert!(bare.disable_claim_events && bare.extensions);
        let off = Flags::try_parse_from(["c", "--disable-claim-events=false"]).unwrap();
        assert!(!off.disable_claim_events);
        assert!(!Flags::defaults().disable_sandbox_events);
        let bare = Flags::try_parse_from(["c", "--disable-sandbox-events"]).unwrap();
        assert!(bare.disable_sandbox_events && !bare.disable_claim_events);
        assert!(Flags::defaults().enable_warm_pool_eviction);
        let kept = Flags::try_parse_from(["c", "--enable-warm-pool-eviction=false"]).unwrap();
        assert!(!kept.enable_warm_pool_eviction);
    }

    #[test]
    fn go_only_flags_are_accepted_named_and_still_type_checked() {
        assert!(Flags::defaults().ignored.given().is_empty());
        let f = Flags::try_parse_from([
            "c",
            "--enable-pprof",
            "--api-connections=4",
            "--sandbox-write-behind-window=50ms",
            "--zap-log-level=debug",
            "--disable-claim-observability-annotations",
        ])
        .unwrap();
        assert_eq!(
            f.ignored.given(),
            [
                "--enable-pprof",
                "--api-connections",
                "--disable-claim-observability-annotations",
                "--sandbox-write-behind-window",
                "--zap-log-level"
            ]
        );
        assert!(Flags::try_parse_from(["c", "--api-connections=0"]).is_err());
        assert!(Flags::try_parse_from(["c", "--enable-tracing=maybe"]).is_err());
        // Serving metrics over TLS is not silently downgraded to plain HTTP.
        assert!(Flags::try_parse_from(["c", "--metrics-secure-serving"]).is_err());
    }

    #[test]
    fn version_is_printed_in_upstreams_layout() {
        let err = Flags::try_parse_from(["c", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "sandbox-controller, version {} (revision: ",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.contains("platform:"), "{text}");
    }
}
