//! The `faults:` block of a scenario and the strikes it schedules: pure, checked before a run,
//! and depending on nothing else in the crate.
//!
//! ```yaml
//! faults:
//!   - controllerKill: {every: 5s, for: 500ms}   # SIGKILL, restarted 500 ms later
//!   - controllerPause: {at: 20s, for: 15s}      # SIGSTOP the leader, SIGCONT 15 s later
//!   - apiserverRestart: {at: 25s, for: 2s}      # killed, started again on its port and data
//!   - etcdRestart: {at: 40s, for: 1s}
//!   - nodeLoss: {at: 15s}                       # a kwok node deleted with its pods
//!   - podKill: {every: 7s, pods: 3}             # sandbox Pods deleted behind the controller
//! ```

use std::time::Duration;

use serde::Deserialize;

/// Upper bound on strikes of one fault in a run.
pub const MAX_STRIKES: u32 = 10_000;
/// Upper bound on Pods one `podKill` strike deletes.
pub const MAX_PODS_PER_STRIKE: u32 = 1_000;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    ControllerKill,
    ControllerPause,
    ApiserverRestart,
    EtcdRestart,
    NodeLoss,
    PodKill,
}

impl FaultKind {
    /// The scenario's name of the kind, as `results.json` counts it.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ControllerKill => "controllerKill",
            FaultKind::ControllerPause => "controllerPause",
            FaultKind::ApiserverRestart => "apiserverRestart",
            FaultKind::EtcdRestart => "etcdRestart",
            FaultKind::NodeLoss => "nodeLoss",
            FaultKind::PodKill => "podKill",
        }
    }

    /// Whether `for` (how long the outage lasts) means something for this kind, and whether it
    /// must be given.
    fn outage(self) -> Outage {
        match self {
            FaultKind::ControllerKill | FaultKind::ApiserverRestart | FaultKind::EtcdRestart => {
                Outage::Optional
            }
            FaultKind::ControllerPause => Outage::Required,
            FaultKind::NodeLoss | FaultKind::PodKill => Outage::None,
        }
    }

    /// Whether the fault acts on what only the local provider has: its control-plane
    /// processes, or kwok nodes that can be lost without a kubelet bringing them back.
    pub fn needs_local_cluster(self) -> bool {
        matches!(
            self,
            FaultKind::ApiserverRestart | FaultKind::EtcdRestart | FaultKind::NodeLoss
        )
    }

    pub fn needs_controller_process(self) -> bool {
        matches!(self, FaultKind::ControllerKill | FaultKind::ControllerPause)
    }
}

enum Outage {
    None,
    Optional,
    Required,
}

/// One entry of `faults:`, a map with a single key naming the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum FaultSpec {
    ControllerKill(Timing),
    ControllerPause(Timing),
    ApiserverRestart(Timing),
    EtcdRestart(Timing),
    NodeLoss(Timing),
    PodKill(Timing),
}

/// When a fault strikes and how hard.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Timing {
    /// First strike, from the first claim's intended time (default: `every`, or at once).
    #[serde(default)]
    pub at: Option<String>,
    /// Strike again at this interval while the load lasts.
    #[serde(default)]
    pub every: Option<String>,
    /// At most this many strikes.
    #[serde(default)]
    pub count: Option<u32>,
    /// How long the outage lasts: restart delay, pause length, time down.
    #[serde(default, rename = "for")]
    pub outage: Option<String>,
    /// `podKill`: Pods deleted per strike (default 1).
    #[serde(default)]
    pub pods: Option<u32>,
}

impl FaultSpec {
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultSpec::ControllerKill(_) => FaultKind::ControllerKill,
            FaultSpec::ControllerPause(_) => FaultKind::ControllerPause,
            FaultSpec::ApiserverRestart(_) => FaultKind::ApiserverRestart,
            FaultSpec::EtcdRestart(_) => FaultKind::EtcdRestart,
            FaultSpec::NodeLoss(_) => FaultKind::NodeLoss,
            FaultSpec::PodKill(_) => FaultKind::PodKill,
        }
    }

    pub fn timing(&self) -> &Timing {
        match self {
            FaultSpec::ControllerKill(t)
            | FaultSpec::ControllerPause(t)
            | FaultSpec::ApiserverRestart(t)
            | FaultSpec::EtcdRestart(t)
            | FaultSpec::NodeLoss(t)
            | FaultSpec::PodKill(t) => t,
        }
    }

    /// Every problem with this entry as `(field under the entry, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        match self.strikes(Duration::from_secs(1)) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    /// The strikes within a load of `load` length, in time order.
    pub fn strikes(&self, load: Duration) -> Result<Vec<Strike>, Vec<(&'static str, String)>> {
        let kind = self.kind();
        let t = self.timing();
        let mut problems = Vec::new();
        let mut parse = |field: &'static str, text: &Option<String>, zero_ok: bool| {
            let text = text.as_ref()?;
            match parse_duration(text, zero_ok) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push((field, e));
                    None
                }
            }
        };
        let at = parse("at", &t.at, true);
        let every = parse("every", &t.every, false);
        let outage = parse("for", &t.outage, false);
        match (kind.outage(), &t.outage) {
            (Outage::None, Some(_)) => problems.push((
                "for",
                format!("{} has no outage to time; leave `for` out", kind.name()),
            )),
            (Outage::Required, None) => problems.push((
                "for",
                format!("{} needs `for`: how long it lasts", kind.name()),
            )),
            _ => {}
        }
        if let Some(pods) = t.pods {
            if kind != FaultKind::PodKill {
                problems.push(("pods", "only podKill deletes Pods".into()));
            } else if pods == 0 || pods > MAX_PODS_PER_STRIKE {
                problems.push(("pods", format!("must be 1 to {MAX_PODS_PER_STRIKE}")));
            }
        }
        if let Some(count) = t.count
            && (count == 0 || count > MAX_STRIKES)
        {
            problems.push(("count", format!("must be 1 to {MAX_STRIKES}")));
        }
        if t.count.is_some_and(|c| c > 1) && t.every.is_none() {
            problems.push(("count", "more than one strike needs `every`".into()));
        }
        if let (Some(every), Some(outage)) = (every, outage)
            && outage >= every
        {
            problems.push((
                "for",
                "must be shorter than `every`: an outage must end before the next".into(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let first = at.or(every).unwrap_or(Duration::ZERO);
        let limit = t.count.unwrap_or(MAX_STRIKES);
        let mut strikes = Vec::new();
        let mut when = first;
        while when < load && (strikes.len() as u32) < limit {
            strikes.push(Strike {
                kind,
                at: when,
                outage: outage.unwrap_or(kind.default_outage()),
                pods: t.pods.unwrap_or(1),
            });
            match every {
                Some(every) => when += every,
                None => break,
            }
        }
        Ok(strikes)
    }
}

impl FaultKind {
    /// How long the outage lasts when `for` is not given.
    fn default_outage(self) -> Duration {
        match self {
            FaultKind::ControllerKill => Duration::from_millis(500),
            FaultKind::ApiserverRestart | FaultKind::EtcdRestart => Duration::from_secs(1),
            _ => Duration::ZERO,
        }
    }
}

/// One strike of a fault, at `at` from the first claim's intended time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strike {
    pub kind: FaultKind,
    pub at: Duration,
    /// How long what it breaks stays broken (zero: the fault repairs nothing itself).
    pub outage: Duration,
    pub pods: u32,
}

/// Every strike of `faults` within a load of `load`, in time order (stable by entry).
pub fn schedule(faults: &[FaultSpec], load: Duration) -> Vec<Strike> {
    let mut all: Vec<Strike> = faults
        .iter()
        .filter_map(|f| f.strikes(load).ok())
        .flatten()
        .collect();
    all.sort_by_key(|s| s.at);
    all
}

fn parse_duration(text: &str, zero_ok: bool) -> Result<Duration, String> {
    let d = if zero_ok && text.trim() == "0" {
        Duration::ZERO
    } else {
        humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration: {e}"))?
    };
    if (!zero_ok && d.is_zero()) || d > Duration::from_secs(6 * 3600) {
        return Err(format!(
            "{text:?} must be {}at most 6h",
            if zero_ok { "" } else { "above 0 and " }
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> FaultSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn secs(s: &[u64]) -> Vec<Duration> {
        s.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn a_repeating_fault_strikes_every_interval_while_the_load_lasts() {
        let kill = parse("controllerKill: {every: 5s, for: 500ms}");
        let strikes = kill.strikes(Duration::from_secs(21)).unwrap();
        assert_eq!(
            strikes.iter().map(|s| s.at).collect::<Vec<_>>(),
            secs(&[5, 10, 15, 20])
        );
        assert!(
            strikes
                .iter()
                .all(|s| s.outage == Duration::from_millis(500))
        );
        let capped = parse("podKill: {at: 0, every: 2s, count: 3, pods: 4}");
        let strikes = capped.strikes(Duration::from_secs(60)).unwrap();
        assert_eq!(
            strikes.iter().map(|s| s.at).collect::<Vec<_>>(),
            secs(&[0, 2, 4])
        );
        assert!(strikes.iter().all(|s| s.pods == 4));
    }

    #[test]
    fn a_single_fault_strikes_once_and_not_after_the_load() {
        let once = parse("nodeLoss: {at: 15s}");
        assert_eq!(once.strikes(Duration::from_secs(60)).unwrap().len(), 1);
        assert!(once.strikes(Duration::from_secs(10)).unwrap().is_empty());
        let restart = parse("apiserverRestart: {at: 1s}");
        assert_eq!(
            restart.strikes(Duration::from_secs(5)).unwrap()[0].outage,
            Duration::from_secs(1),
            "the default time down"
        );
    }

    #[test]
    fn the_schedule_merges_every_fault_in_time_order() {
        let faults = [
            parse("controllerKill: {every: 10s}"),
            parse("etcdRestart: {at: 15s}"),
        ];
        let all = schedule(&faults, Duration::from_secs(30));
        let order: Vec<(FaultKind, Duration)> = all.iter().map(|s| (s.kind, s.at)).collect();
        assert_eq!(
            order,
            [
                (FaultKind::ControllerKill, Duration::from_secs(10)),
                (FaultKind::EtcdRestart, Duration::from_secs(15)),
                (FaultKind::ControllerKill, Duration::from_secs(20)),
            ]
        );
    }

    #[test]
    fn impossible_entries_name_their_field() {
        let cases = [
            ("controllerPause: {at: 1s}", "for"),
            ("nodeLoss: {at: 1s, for: 2s}", "for"),
            ("controllerKill: {pods: 2}", "pods"),
            ("podKill: {pods: 0}", "pods"),
            ("podKill: {count: 3}", "count"),
            ("podKill: {every: 1s, count: 0}", "count"),
            ("controllerKill: {every: 1s, for: 2s}", "for"),
            ("controllerKill: {every: 0s}", "every"),
            ("controllerKill: {at: soon}", "at"),
        ];
        for (yaml, field) in cases {
            let problems = parse(yaml).problems();
            assert!(
                problems.iter().any(|(f, _)| *f == field),
                "{yaml}: {problems:?}"
            );
        }
        assert!(
            parse("controllerKill: {every: 5s, for: 1s}")
                .problems()
                .is_empty()
        );
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused_by_the_reader() {
        assert!(serde_saphyr::from_str::<FaultSpec>("diskFull: {at: 1s}").is_err());
        assert!(serde_saphyr::from_str::<FaultSpec>("nodeLoss: {when: 1s}").is_err());
    }
}
