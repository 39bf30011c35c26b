//! A rule's `ports`, resolved to protocol and port ranges for one destination.

use k8s_openapi::api::networking::v1::NetworkPolicyPort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::notes::Notes;
use crate::snapshot::NamedPort;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The protocol as the API spells it; absent means TCP.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("TCP") {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// The name iptables' `-p` and match modules use.
    pub fn iptables(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// One protocol, and either every port of it or an inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMatch {
    pub protocol: Protocol,
    pub range: Option<(u16, u16)>,
}

/// The ports a rule allows towards one destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ports {
    /// The rule lists no ports: every port and protocol.
    Any,
    /// Only these; empty means the rule allows nothing towards this destination.
    Only(Vec<PortMatch>),
}

/// Resolves `ports` for traffic to a destination whose named container ports are
/// `destination`, or `None` when the destination is not a known pod (an `ipBlock`, or any
/// address): a named port then cannot be resolved, and is dropped with a warning rather
/// than guessed, so it never allows more than written.
pub fn resolve(
    ports: &[NetworkPolicyPort],
    destination: Option<&[NamedPort]>,
    context: &str,
    notes: &mut Notes,
) -> Ports {
    if ports.is_empty() {
        return Ports::Any;
    }
    let mut out = Vec::new();
    for port in ports {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
            notes.warn(format!(
                "{context}: unknown protocol {:?}; that port allows nothing",
                port.protocol
            ));
            continue;
        };
        match &port.port {
            None => out.push(PortMatch {
                protocol,
                range: None,
            }),
            Some(IntOrString::Int(n)) => match numeric(*n, port.end_port) {
                Some(range) => out.push(PortMatch {
                    protocol,
                    range: Some(range),
                }),
                None => notes.warn(format!(
                    "{context}: invalid port {n} (endPort {:?}); that port allows nothing",
                    port.end_port
                )),
            },
            Some(IntOrString::String(name)) => match destination {
                // A pod without the named port is simply not reachable through this entry.
                Some(named) => out.extend(
                    named
                        .iter()
                        .filter(|p| {
                            p.name == *name && Protocol::parse(Some(&p.protocol)) == Some(protocol)
                        })
                        .map(|p| PortMatch {
                            protocol,
                            range: Some((p.port, p.port)),
                        }),
                ),
                None => notes.warn(format!(
                    "{context}: named port {name:?} towards a destination that is not a known pod \
                     cannot be resolved; that port allows nothing"
                )),
            },
        }
    }
    out.sort();
    out.dedup();
    Ports::Only(out)
}

/// `port`, or `port..=end_port`; `None` if out of range or reversed.
fn numeric(port: i32, end_port: Option<i32>) -> Option<(u16, u16)> {
    let start = u16::try_from(port).ok().filter(|p| *p > 0)?;
    let end = match end_port {
        Some(end) => u16::try_from(end).ok().filter(|e| *e >= start)?,
        None => start,
    };
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(
        protocol: Option<&str>,
        port: Option<IntOrString>,
        end: Option<i32>,
    ) -> NetworkPolicyPort {
        NetworkPolicyPort {
            protocol: protocol.map(Into::into),
            port,
            end_port: end,
        }
    }

    fn named(name: &str, protocol: &str, port: u16) -> NamedPort {
        NamedPort {
            name: name.into(),
            protocol: protocol.into(),
            port,
        }
    }

    fn only(list: &[(Protocol, Option<(u16, u16)>)]) -> Ports {
        Ports::Only(
            list.iter()
                .map(|(protocol, range)| PortMatch {
                    protocol: *protocol,
                    range: *range,
                })
                .collect(),
        )
    }

    #[test]
    fn no_ports_means_any() {
        let mut notes = Notes::default();
        assert_eq!(resolve(&[], None, "t", &mut notes), Ports::Any);
    }

    #[test]
    fn numeric_ports_ranges_and_protocol_default() {
        let mut notes = Notes::default();
        let got = resolve(
            &[
                port(None, Some(IntOrString::Int(80)), None),
                port(Some("UDP"), Some(IntOrString::Int(1000)), Some(2000)),
                port(Some("SCTP"), None, None),
            ],
            None,
            "t",
            &mut notes,
        );
        assert_eq!(
            got,
            only(&[
                (Protocol::Tcp, Some((80, 80))),
                (Protocol::Udp, Some((1000, 2000))),
                (Protocol::Sctp, None),
            ])
        );
        assert!(notes.warnings.is_empty());
    }

    #[test]
    fn invalid_numbers_and_protocols_allow_nothing_and_warn() {
        let mut notes = Notes::default();
        let got = resolve(
            &[
                port(None, Some(IntOrString::Int(0)), None),
                port(None, Some(IntOrString::Int(90)), Some(80)),
                port(None, Some(IntOrString::Int(70000)), None),
                port(Some("ICMP"), None, None),
            ],
            None,
            "t",
            &mut notes,
        );
        assert_eq!(got, Ports::Only(vec![]));
        assert_eq!(notes.warnings.len(), 4);
    }

    #[test]
    fn named_ports_resolve_by_name_and_protocol() {
        let mut notes = Notes::default();
        let pod = [
            named("http", "TCP", 8080),
            named("dns", "UDP", 53),
            named("dns", "TCP", 5353),
        ];
        let got = resolve(
            &[
                port(None, Some(IntOrString::String("http".into())), None),
                port(Some("UDP"), Some(IntOrString::String("dns".into())), None),
                port(None, Some(IntOrString::String("missing".into())), None),
            ],
            Some(&pod),
            "t",
            &mut notes,
        );
        assert_eq!(
            got,
            only(&[
                (Protocol::Tcp, Some((8080, 8080))),
                (Protocol::Udp, Some((53, 53))),
            ])
        );
        // A pod lacking the name is ordinary, not a warning.
        assert!(notes.warnings.is_empty());
    }

    #[test]
    fn named_port_without_a_pod_allows_nothing_and_warns() {
        let mut notes = Notes::default();
        let got = resolve(
            &[port(None, Some(IntOrString::String("http".into())), None)],
            None,
            "t",
            &mut notes,
        );
        assert_eq!(got, Ports::Only(vec![]));
        assert_eq!(notes.warnings.len(), 1);
    }

    #[test]
    fn iptables_names() {
        assert_eq!(Protocol::Tcp.iptables(), "tcp");
        assert_eq!(Protocol::Udp.iptables(), "udp");
        assert_eq!(Protocol::Sctp.iptables(), "sctp");
    }
}
