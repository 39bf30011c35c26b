//! The fencing invariant, judged from the API server's audit log: no write by a controller
//! replica lands after another replica took the leader Lease from it.
//!
//! Each replica connects as a user of its own (a client certificate of the local cluster), so
//! the log says who wrote what and when, on the API server's clock. A replica holds the Lease
//! from its first successful write of it after another replica's (a takeover); renewals and
//! the release are writes by the holder. A write by replica X is a breach when the latest
//! takeover received before it was by another replica and had completed before X's write was
//! received: X wrote although the Lease had certainly passed on. Writes in flight across a
//! takeover are not judged; nothing short of server-side fencing could order them.

use std::collections::HashSet;

use k8s_openapi::jiff::Timestamp;
use sandbox_reports::{Invariant, Violation};
use serde::Deserialize;

/// Resources whose writes are not the controller's decisions: its Lease, Events (best
/// effort, sent after the fact), and what every replica writes at start-up for the webhook.
const NOT_JUDGED: [&str; 5] = [
    "leases",
    "events",
    "customresourcedefinitions",
    "secrets",
    "tokenreviews",
];

/// The fields of one audit event this check reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub stage: String,
    pub verb: String,
    pub user: AuditUser,
    #[serde(default)]
    pub object_ref: Option<AuditObject>,
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
    pub request_received_timestamp: Timestamp,
    pub stage_timestamp: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditUser {
    pub username: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditObject {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub subresource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditStatus {
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// A write that the server carried out (2xx), seen once finished.
    fn landed_write(&self) -> bool {
        self.stage == "ResponseComplete"
            && matches!(
                self.verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection"
            )
            && self
                .response_status
                .as_ref()
                .is_some_and(|s| (200..300).contains(&s.code))
    }

    fn resource(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| o.resource.as_str())
    }

    fn describe(&self) -> String {
        let o = self.object_ref.clone().unwrap_or_default();
        let sub = if o.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", o.subresource)
        };
        format!(
            "{} {}{sub} {}/{}",
            self.verb, o.resource, o.namespace, o.name
        )
    }
}

/// The audit log's events, one JSON object per line; lines that are not events (a line cut
/// short by a killed server) are skipped and counted.
pub fn parse(log: &str) -> (Vec<AuditEvent>, usize) {
    let mut skipped = 0;
    let events = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| match serde_json::from_str(line) {
            Ok(event) => Some(event),
            Err(_) => {
                skipped += 1;
                None
            }
        })
        .collect();
    (events, skipped)
}

/// A replica's first write of the Lease after another replica's.
#[derive(Debug, Clone, PartialEq)]
struct Takeover<'a> {
    by: &'a str,
    received: Timestamp,
    completed: Timestamp,
}

/// Breaches of fencing among the writes of `replicas` (user names), with times in ms after
/// `zero` (the run's start on the same wall clock as the server's).
pub fn check(events: &[AuditEvent], replicas: &[String], zero: Timestamp) -> Vec<Violation> {
    let replicas: HashSet<&str> = replicas.iter().map(String::as_str).collect();
    let mut writes: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.landed_write() && replicas.contains(e.user.username.as_str()))
        .collect();
    writes.sort_by_key(|e| e.stage_timestamp);

    let mut takeovers: Vec<Takeover<'_>> = Vec::new();
    for lease in writes.iter().filter(|e| e.resource() == "leases") {
        let by = lease.user.username.as_str();
        if takeovers.last().is_none_or(|t| t.by != by) {
            takeovers.push(Takeover {
                by,
                received: lease.request_received_timestamp,
                completed: lease.stage_timestamp,
            });
        }
    }
    takeovers.sort_by_key(|t| t.received);

    let at_ms = |t: Timestamp| u64::try_from(t.duration_since(zero).as_millis()).unwrap_or(0);
    writes
        .iter()
        .filter(|w| !NOT_JUDGED.contains(&w.resource()))
        .filter_map(|w| {
            let writer = w.user.username.as_str();
            let received = w.request_received_timestamp;
            let leader = takeovers.iter().rev().find(|t| t.received <= received);
            let detail = match leader {
                Some(t) if t.by == writer || t.completed >= received => return None,
                Some(t) => format!(
                    "{writer} wrote ({}) {} ms after {} took the lease",
                    w.describe(),
                    received.duration_since(t.completed).as_millis(),
                    t.by
                ),
                None => format!(
                    "{writer} wrote ({}) before any replica held the lease",
                    w.describe()
                ),
            };
            let o = w.object_ref.clone().unwrap_or_default();
            Some(Violation {
                invariant: Invariant::LeaderFenced,
                objects: vec![format!("{}/{}", o.resource, o.name)],
                at_ms: at_ms(received),
                detail,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ZERO: i64 = 1_800_000_000;

    fn ts(ms: i64) -> String {
        Timestamp::from_millisecond(ZERO * 1000 + ms)
            .unwrap()
            .to_string()
    }

    /// One finished request by `user`, received at `ms` and answered 5 ms later.
    fn event(user: &str, verb: &str, resource: &str, ms: i64, code: u16) -> String {
        json!({
            "kind": "Event", "level": "Metadata", "stage": "ResponseComplete",
            "verb": verb, "user": {"username": user, "groups": ["system:masters"]},
            "objectRef": {"resource": resource, "namespace": "ns", "name": "x"},
            "responseStatus": {"code": code},
            "requestReceivedTimestamp": ts(ms), "stageTimestamp": ts(ms + 5)
        })
        .to_string()
    }

    fn judge(lines: &[String]) -> Vec<Violation> {
        let (events, skipped) = parse(&lines.join("\n"));
        assert_eq!(skipped, 0);
        let replicas = ["r0".to_string(), "r1".to_string()];
        check(&events, &replicas, Timestamp::from_second(ZERO).unwrap())
    }

    #[test]
    fn writes_by_the_holder_and_across_a_clean_hand_over_are_fine() {
        let log = [
            event("r0", "update", "leases", 0, 200),
            event("r0", "patch", "sandboxclaims", 100, 200),
            event("r0", "update", "leases", 2_000, 200),
            // r1 takes over at 20 s; r0's last write was long before.
            event("r1", "update", "leases", 20_000, 200),
            event("r1", "create", "sandboxes", 20_100, 201),
            // r0 writes again only after taking the Lease back.
            event("r0", "update", "leases", 40_000, 200),
            event("r0", "delete", "pods", 40_100, 200),
            // Refused writes, reads and Events by the ex-leader are not judged.
            event("r1", "patch", "sandboxes", 40_200, 409),
            event("r1", "get", "sandboxes", 40_300, 200),
            event("r1", "create", "events", 40_400, 201),
        ];
        assert_eq!(judge(&log), vec![]);
    }

    #[test]
    fn a_write_by_a_paused_ex_leader_after_the_takeover_is_a_breach() {
        let log = [
            event("r0", "update", "leases", 0, 200),
            event("r1", "update", "leases", 20_000, 200),
            event("r0", "patch", "sandboxclaims", 21_000, 200),
        ];
        let found = judge(&log);
        assert_eq!(found.len(), 1, "{found:?}");
        let v = &found[0];
        assert_eq!(v.invariant, Invariant::LeaderFenced);
        assert_eq!(v.at_ms, 21_000);
        assert!(
            v.detail
                .contains("r0 wrote (patch sandboxclaims ns/x) 995 ms after r1"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn a_write_in_flight_across_the_takeover_is_not_judged_but_one_before_any_lease_is() {
        let log = [
            event("r0", "update", "leases", 0, 200),
            // Received before r1's takeover completed (20 000–20 005 ms).
            event("r0", "patch", "sandboxclaims", 20_003, 200),
            event("r1", "update", "leases", 20_000, 200),
        ];
        assert_eq!(judge(&log), vec![]);
        let early = [event("r1", "create", "sandboxes", 5, 201)];
        assert!(
            judge(&early)[0]
                .detail
                .contains("before any replica held the lease")
        );
    }

    #[test]
    fn a_line_cut_short_by_a_killed_server_is_skipped() {
        let (events, skipped) = parse(&format!(
            "{}\n{{\"kind\":\"Ev",
            event("r0", "update", "leases", 0, 200)
        ));
        assert_eq!((events.len(), skipped), (1, 1));
    }
}
