//! The `agent-sandbox-config` ConfigMap (upstream v1.0.12, #1301): tunable flags set for a
//! whole deployment without editing its arguments.
//!
//! Read once at startup from the controller's namespace (`POD_NAMESPACE`, else
//! `--leader-election-namespace`, else `agent-sandbox-system`); a change takes effect when the
//! controller restarts. Each key is a flag's name without the dashes and its value is parsed as
//! the flag's would be. Precedence: a flag given on the command line, then the ConfigMap, then
//! the built-in default (upstream's code resolves in this order). Keys starting with `_` or `.`
//! are comments; `allowed-label-domains` belongs to the label allowlist, not to the flags; any
//! other key that is not a tunable flag is logged and skipped. A value that does not parse
//! stops the controller with an error naming the key, before anything runs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::flags::Flags;

/// The ConfigMap's name.
pub const NAME: &str = "agent-sandbox-config";
/// Its namespace when neither `POD_NAMESPACE` nor `--leader-election-namespace` says.
pub const DEFAULT_NAMESPACE: &str = "agent-sandbox-system";
/// Longest wait for the ConfigMap at startup.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The flags the ConfigMap may set: upstream's list of tunables, less
/// `sandbox-claim-warm-candidate-grace-period`, a flag of a later upstream release this
/// controller does not have (a ConfigMap that sets it gets the key logged as skipped).
pub const TUNABLE: &[&str] = &[
    "pprof-block-profile-rate",
    "pprof-mutex-profile-fraction",
    "kube-api-qps",
    "kube-api-burst",
    "api-connections",
    "separate-watch-connection",
    "sandbox-concurrent-workers",
    "sandbox-claim-concurrent-workers",
    "sandbox-warm-pool-concurrent-workers",
    "sandbox-template-concurrent-workers",
    "sandbox-warm-pool-max-batch-size",
    "sandbox-warm-pool-replenish-delay",
    "sandbox-warm-pool-max-refill-rate",
    "sandbox-warm-pool-readiness-grace-period",
    "sandbox-warm-pool-unschedulable-recheck-interval",
    "enable-warm-pool-eviction",
    "disable-sandbox-events",
    "disable-claim-events",
    "disable-claim-observability-annotations",
    "sandbox-write-behind-window",
];

/// Keys of the ConfigMap that are not flags.
const NOT_FLAGS: &[&str] = &["allowed-label-domains"];

/// Why the ConfigMap cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("ConfigMap {namespace}/{NAME} key {key:?}: {message}")]
    Invalid {
        namespace: String,
        key: String,
        message: String,
    },
    #[error("cannot read ConfigMap {namespace}/{NAME}: {source}")]
    Unreadable {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot read ConfigMap {namespace}/{NAME}: no answer within {FETCH_TIMEOUT:?}")]
    TimedOut { namespace: String },
}

impl ConfigError {
    /// A value the user wrote is wrong (not the cluster).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ConfigError::Invalid { .. })
    }
}

/// The flags after the ConfigMap: `cli` as given, with the ConfigMap's tunables for the flags
/// the command line left at their defaults. Pure; `skipped` collects keys that are no flag.
pub fn merge(
    cli: &[OsString],
    namespace: &str,
    data: &BTreeMap<String, String>,
    skipped: &mut Vec<String>,
) -> Result<Flags, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        namespace: namespace.into(),
        key: key.into(),
        message,
    };
    let given = Flags::command()
        .try_get_matches_from(cli)
        .map_err(|e| invalid("(command line)", e.to_string()))?;
    let mut args = cli.to_vec();
    for (key, value) in data {
        if key.starts_with(['_', '.']) || NOT_FLAGS.contains(&key.as_str()) {
            continue;
        }
        if !TUNABLE.contains(&key.as_str()) {
            skipped.push(key.clone());
            continue;
        }
        let id = key.replace('-', "_");
        if given.value_source(&id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let arg = format!("--{key}={}", value.trim());
        // Alone first, so that an error names this key and nothing else.
        Flags::command()
            .try_get_matches_from(["sandbox-controller", arg.as_str()])
            .map_err(|e| invalid(key, first_line(&e.to_string())))?;
        args.push(arg.into());
    }
    let matches = Flags::command()
        .try_get_matches_from(&args)
        .map_err(|e| invalid("(merged)", first_line(&e.to_string())))?;
    Flags::from_arg_matches(&matches).map_err(|e| invalid("(merged)", first_line(&e.to_string())))
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

/// The namespace the ConfigMap is read from.
pub fn namespace(flags: &Flags) -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| flags.leader_election_namespace.clone())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.into())
}

/// Reads the ConfigMap and applies it over `cli`'s flags. No ConfigMap, or no permission to
/// read it, leaves the flags as they are.
pub async fn apply(
    client: &kube::Client,
    cli: &[OsString],
    flags: Flags,
) -> Result<Flags, ConfigError> {
    let namespace = namespace(&flags);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let fetched = tokio::time::timeout(FETCH_TIMEOUT, api.get_opt(NAME))
        .await
        .map_err(|_| ConfigError::TimedOut {
            namespace: namespace.clone(),
        })?;
    let data = match fetched {
        Ok(Some(config)) => config.data.unwrap_or_default(),
        Ok(None) => return Ok(flags),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::info!(%namespace, "no permission to read ConfigMap {NAME}; flags only");
            return Ok(flags);
        }
        Err(source) => return Err(ConfigError::Unreadable { namespace, source }),
    };
    let mut skipped = Vec::new();
    let merged = merge(cli, &namespace, &data, &mut skipped)?;
    if !skipped.is_empty() {
        tracing::warn!(keys = ?skipped, "ConfigMap {NAME}: not tunable flags, skipped");
    }
    tracing::info!(%namespace, keys = data.len(), "applied ConfigMap {NAME}");
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Vec<OsString> {
        std::iter::once("sandbox-controller")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_config_map_sets_what_the_command_line_leaves_at_its_default() {
        let mut skipped = Vec::new();
        let flags = merge(
            &cli(&["--sandbox-concurrent-workers=7"]),
            "ns",
            &data(&[
                ("sandbox-concurrent-workers", "9"),
                ("disable-sandbox-events", "true"),
                ("sandbox-warm-pool-readiness-grace-period", " 90s\n"),
                ("_comment", "the workers come from the Deployment"),
                ("allowed-label-domains", "example.com"),
                ("cluster-domain", "other.local"),
            ]),
            &mut skipped,
        )
        .unwrap();
        assert_eq!(flags.sandbox_concurrent_workers, 7, "the command line wins");
        assert!(flags.disable_sandbox_events);
        assert_eq!(
            flags.sandbox_warm_pool_readiness_grace_period,
            Duration::from_secs(90)
        );
        assert_eq!(flags.cluster_domain, "cluster.local", "not tunable");
        assert_eq!(skipped, ["cluster-domain"]);
    }

    #[test]
    fn a_bad_value_names_its_key_and_changes_nothing() {
        let mut skipped = Vec::new();
        let err = merge(
            &cli(&[]),
            "ns",
            &data(&[
                ("disable-claim-events", "true"),
                ("sandbox-warm-pool-max-refill-rate", "fast"),
            ]),
            &mut skipped,
        )
        .unwrap_err();
        assert!(err.is_bad_input());
        let text = err.to_string();
        assert!(
            text.starts_with(
                "ConfigMap ns/agent-sandbox-config key \"sandbox-warm-pool-max-refill-rate\": "
            ),
            "{text}"
        );
        assert!(text.contains("fast"), "{text}");
    }

    #[test]
    fn every_tunable_key_is_a_flag() {
        let command = Flags::command();
        for key in TUNABLE {
            assert!(
                command.get_arguments().any(|a| a.get_long() == Some(key)),
                "{key} is not a flag"
            );
        }
    }
}
