//! The one report the probe gives, in one-shot and serve mode alike: the facts it read, the
//! classification against the node (when the node's facts are known), which TCP targets it
//! could reach and which paths it can see.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::classify::{Classification, NodeFacts, classify};
use crate::facts::{self, Facts};

/// How long one connection attempt may take: long enough for a Pod network's first SYN, short
/// enough that a dropped (not refused) target does not stall the report.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a report is asked to check beyond the facts it always reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRequest {
    /// Empty fields mean "not given": then there is no classification.
    pub node: NodeFacts,
    /// `IP:PORT` targets; names are not resolved (see [`connects`]).
    pub connect: Vec<String>,
    /// Paths to test for existence as seen from inside.
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub facts: Facts,
    pub classification: Option<Classification>,
    pub reachable: BTreeMap<String, bool>,
    #[serde(default)]
    pub visible_paths: BTreeMap<String, bool>,
}

/// Reads the facts and runs the checks the request asks for.
pub fn run(request: &ReportRequest) -> Report {
    let facts = facts::read();
    let node = &request.node;
    let classification = (!node.kernel_release.is_empty() || !node.boot_id.is_empty())
        .then(|| classify(&facts, node));
    Report {
        facts,
        classification,
        reachable: reach_all(&request.connect),
        visible_paths: request
            .paths
            .iter()
            .map(|p| (p.clone(), std::path::Path::new(p).exists()))
            .collect(),
    }
}

/// Tries every target at once, so a report with several silent targets takes one timeout,
/// not one per target.
fn reach_all(targets: &[String]) -> BTreeMap<String, bool> {
    std::thread::scope(|scope| {
        let attempts: Vec<_> = targets
            .iter()
            .map(|t| (t, scope.spawn(|| connects(t))))
            .collect();
        attempts
            .into_iter()
            .map(|(t, h)| (t.clone(), h.join().unwrap_or(false)))
            .collect()
    })
}

/// Whether `target` accepted a TCP connection within [`CONNECT_TIMEOUT`]. Only numeric
/// addresses count: the probe is linked statically, and static glibc cannot load the NSS
/// modules name resolution needs, so a name is reported unreachable rather than guessed at.
pub fn connects(target: &str) -> bool {
    target
        .parse::<SocketAddr>()
        .is_ok_and(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_listening_port_is_reachable_and_a_name_or_a_closed_port_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr").to_string();
        assert!(connects(&open));
        // Port 1 on loopback is closed on any test machine: the connection is refused.
        assert!(!connects("127.0.0.1:1"));
        assert!(!connects("localhost:1"));
        assert!(!connects("not an address"));
    }

    #[test]
    fn a_report_answers_every_target_and_path_and_classifies_only_with_node_facts() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr").to_string();
        let request = ReportRequest {
            connect: vec![open.clone(), "127.0.0.1:1".into()],
            paths: vec!["/proc/version".into(), "/nonexistent".into()],
            ..ReportRequest::default()
        };
        let report = run(&request);
        assert!(report.reachable[&open], "{report:?}");
        assert!(!report.reachable["127.0.0.1:1"], "{report:?}");
        assert!(report.visible_paths["/proc/version"], "{report:?}");
        assert!(!report.visible_paths["/nonexistent"], "{report:?}");
        assert_eq!(report.classification, None);

        let with_node = ReportRequest {
            node: NodeFacts {
                kernel_release: report.facts.kernel_release.clone(),
                boot_id: report.facts.boot_id.clone(),
            },
            ..ReportRequest::default()
        };
        let classified = run(&with_node).classification.expect("classified");
        assert!(classified.shares_node_kernel, "{classified:?}");
    }
}
