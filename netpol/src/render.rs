//! The decision as `iptables-restore --noflush` input for the `filter` table.
//!
//! Shape: chain `<prefix>` (jumped to from FORWARD) lets established flows through, then
//! sends each isolated pod's traffic to its own chain: `-s <ip>` to `<prefix>-E-<n>`, and
//! `-d <ip>` to `<prefix>-I-<n>`. A per-pod chain RETURNs when an allow matches, so the
//! flow goes on to be checked by the other side's chain; otherwise it ends in REJECT.
//! These chains never ACCEPT, so they only ever take traffic away.
//!
//! An `ipBlock` with `except` is a sub-chain `<pod chain>-<k>`: it RETURNs (to the pod
//! chain, which tries its next allow) for the excepted ranges and otherwise sets
//! [`ALLOW_MARK`], which the pod chain tests after its allows.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::decide::{Allow, Decision, Enforced, Peer};
use crate::ports::{PortMatch, Ports};

/// The packet-mark bit an `ipBlock` sub-chain sets to say "allowed". Clear of the bits
/// kube-proxy (0x4000, 0x8000) and Calico-style enforcers commonly use.
pub const ALLOW_MARK: u32 = 0x40000;

/// Rendered rules, and the chains they create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    pub text: String,
    pub chains: BTreeSet<String>,
}

/// Whether `chain` is one of ours under `prefix`.
pub fn owned(prefix: &str, chain: &str) -> bool {
    chain == prefix
        || chain
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The ruleset for `decision`. `existing` is the set of our chains already in the kernel;
/// those no longer wanted are flushed and deleted in the same transaction.
pub fn render(decision: &Decision, prefix: &str, existing: &BTreeSet<String>) -> Ruleset {
    let mut top = vec![format!(
        "-A {prefix} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
    )];
    let mut chains = vec![prefix.to_string()];
    let mut body = Vec::new();
    let mut marks = false;
    type Side = fn(&Enforced) -> Option<&Vec<Allow>>;
    let directions: [(Direction, &str, Side); 2] = [
        (Direction::Egress, "E", |p| p.egress.as_ref()),
        (Direction::Ingress, "I", |p| p.ingress.as_ref()),
    ];
    for (direction, tag, allows_of) in directions {
        for (n, pod) in decision.pods.iter().enumerate() {
            let Some(allows) = allows_of(pod) else {
                continue;
            };
            let chain = format!("{prefix}-{tag}-{n}");
            top.push(format!(
                "-A {prefix} {own} {}/32 -m comment --comment \"{}/{} {}\" -j {chain}",
                pod.ip,
                pod.namespace,
                pod.name,
                direction.word(),
                own = direction.own_flag(),
            ));
            marks |= pod_chain(&chain, direction, allows, &mut chains, &mut body);
        }
    }
    if marks {
        // Leave the packet's mark as it came: other rules may read the bit.
        top.push(format!(
            "-A {prefix} -j MARK --set-xmark 0x0/{ALLOW_MARK:#x}"
        ));
    }
    let wanted: BTreeSet<String> = chains.iter().cloned().collect();
    let stale: Vec<&String> = existing.difference(&wanted).collect();
    let mut text = String::from("*filter\n");
    for chain in chains.iter().chain(stale.iter().copied()) {
        // With --noflush, declaring a chain creates it or flushes it.
        let _ = writeln!(text, ":{chain} - [0:0]");
    }
    for line in top.iter().chain(&body) {
        let _ = writeln!(text, "{line}");
    }
    for chain in stale {
        let _ = writeln!(text, "-X {chain}");
    }
    text.push_str("COMMIT\n");
    Ruleset {
        text,
        chains: wanted,
    }
}

/// Input that flushes and deletes every chain in `chains` (ours, found in the kernel).
/// The FORWARD jump must be gone first, or deleting `<prefix>` fails.
pub fn teardown(chains: &BTreeSet<String>) -> String {
    let mut text = String::from("*filter\n");
    for chain in chains {
        let _ = writeln!(text, ":{chain} - [0:0]");
    }
    for chain in chains {
        let _ = writeln!(text, "-X {chain}");
    }
    text.push_str("COMMIT\n");
    text
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }

    /// Matches the isolated pod's own address.
    fn own_flag(self) -> &'static str {
        match self {
            Self::Ingress => "-d",
            Self::Egress => "-s",
        }
    }

    /// Matches the peer's address.
    fn peer_flag(self) -> &'static str {
        match self {
            Self::Ingress => "-s",
            Self::Egress => "-d",
        }
    }
}

/// Appends `chain`'s rules (and its `ipBlock` sub-chains) to `body`; true if it uses the mark.
fn pod_chain(
    chain: &str,
    direction: Direction,
    allows: &[Allow],
    chains: &mut Vec<String>,
    body: &mut Vec<String>,
) -> bool {
    chains.push(chain.to_string());
    let uses_mark = allows
        .iter()
        .any(|a| matches!(&a.peer, Peer::Net { except, .. } if !except.is_empty()));
    if uses_mark {
        // The bit may still be set from the other direction's chain.
        body.push(format!(
            "-A {chain} -j MARK --set-xmark 0x0/{ALLOW_MARK:#x}"
        ));
    }
    let mut subchains = 0;
    for allow in allows {
        let (peer, target) = match &allow.peer {
            Peer::Any => (String::new(), "RETURN".to_string()),
            Peer::Net { net, except } if except.is_empty() => {
                (format!(" {} {net}", direction.peer_flag()), "RETURN".into())
            }
            Peer::Net { net, except } => {
                let sub = format!("{chain}-{subchains}");
                subchains += 1;
                chains.push(sub.clone());
                for ex in except {
                    body.push(format!("-A {sub} {} {ex} -j RETURN", direction.peer_flag()));
                }
                body.push(format!(
                    "-A {sub} -j MARK --set-xmark {ALLOW_MARK:#x}/{ALLOW_MARK:#x}"
                ));
                (format!(" {} {net}", direction.peer_flag()), sub)
            }
        };
        for ports in port_matches(&allow.ports) {
            body.push(format!("-A {chain}{peer}{ports} -j {target}"));
        }
    }
    if uses_mark {
        body.push(format!(
            "-A {chain} -m mark --mark {ALLOW_MARK:#x}/{ALLOW_MARK:#x} -j RETURN"
        ));
    }
    // Resets and port-unreachables fail connections at once, where a DROP would leave
    // clients (and tests) waiting for a timeout.
    body.push(format!(
        "-A {chain} -p tcp -j REJECT --reject-with tcp-reset"
    ));
    body.push(format!(
        "-A {chain} -j REJECT --reject-with icmp-port-unreachable"
    ));
    uses_mark
}

/// The match text for each port entry ("" for any port).
fn port_matches(ports: &Ports) -> Vec<String> {
    match ports {
        Ports::Any => vec![String::new()],
        Ports::Only(list) => list.iter().map(port_match).collect(),
    }
}

fn port_match(port: &PortMatch) -> String {
    let proto = port.protocol.iptables();
    match port.range {
        None => format!(" -p {proto}"),
        Some((a, b)) if a == b => format!(" -p {proto} -m {proto} --dport {a}"),
        Some((a, b)) => format!(" -p {proto} -m {proto} --dport {a}:{b}"),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
