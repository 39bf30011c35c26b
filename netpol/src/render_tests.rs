use super::*;
use crate::cidr::Ipv4Net;
use crate::notes::Notes;
use crate::ports::Protocol;
use std::net::Ipv4Addr;

fn net(text: &str) -> Ipv4Net {
    Ipv4Net::parse(text).unwrap()
}

fn enforced(name: &str, ip: [u8; 4]) -> Enforced {
    Enforced {
        namespace: "ns".into(),
        name: name.into(),
        ip: Ipv4Addr::from(ip),
        ingress: None,
        egress: None,
    }
}

fn decision(pods: Vec<Enforced>) -> Decision {
    Decision {
        pods,
        notes: Notes::default(),
    }
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[test]
fn nothing_enforced_is_an_empty_chain_that_lets_all_through() {
    let r = render(&decision(vec![]), "SBNP", &none());
    assert_eq!(
        r.text,
        "*filter\n:SBNP - [0:0]\n\
         -A SBNP -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\nCOMMIT\n"
    );
    assert_eq!(r.chains, BTreeSet::from(["SBNP".to_string()]));
}

#[test]
fn deny_all_ingress_and_a_port_limited_egress() {
    let mut a = enforced("a", [10, 0, 0, 2]);
    a.egress = Some(vec![
        Allow {
            peer: Peer::Any,
            ports: Ports::Only(vec![
                PortMatch {
                    protocol: Protocol::Udp,
                    range: Some((53, 53)),
                },
                PortMatch {
                    protocol: Protocol::Tcp,
                    range: Some((8000, 8100)),
                },
            ]),
        },
        Allow {
            peer: Peer::Net {
                net: net("10.0.0.3/32"),
                except: vec![],
            },
            ports: Ports::Only(vec![PortMatch {
                protocol: Protocol::Sctp,
                range: None,
            }]),
        },
    ]);
    let mut b = enforced("b", [10, 0, 0, 3]);
    b.ingress = Some(vec![]);
    let r = render(&decision(vec![a, b]), "SBNP", &none());
    let expected = "*filter
:SBNP - [0:0]
:SBNP-E-0 - [0:0]
:SBNP-I-1 - [0:0]
-A SBNP -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A SBNP -s 10.0.0.2/32 -m comment --comment \"ns/a egress\" -j SBNP-E-0
-A SBNP -d 10.0.0.3/32 -m comment --comment \"ns/b ingress\" -j SBNP-I-1
-A SBNP-E-0 -p udp -m udp --dport 53 -j RETURN
-A SBNP-E-0 -p tcp -m tcp --dport 8000:8100 -j RETURN
-A SBNP-E-0 -d 10.0.0.3/32 -p sctp -j RETURN
-A SBNP-E-0 -p tcp -j REJECT --reject-with tcp-reset
-A SBNP-E-0 -j REJECT --reject-with icmp-port-unreachable
-A SBNP-I-1 -p tcp -j REJECT --reject-with tcp-reset
-A SBNP-I-1 -j REJECT --reject-with icmp-port-unreachable
COMMIT
";
    assert_eq!(r.text, expected);
}

#[test]
fn ip_block_except_goes_through_a_marking_subchain() {
    let mut a = enforced("a", [10, 0, 0, 2]);
    a.ingress = Some(vec![
        Allow {
            peer: Peer::Net {
                net: net("10.0.0.0/24"),
                except: vec![net("10.0.0.4/30"), net("10.0.0.9/32")],
            },
            ports: Ports::Any,
        },
        Allow {
            peer: Peer::Any,
            ports: Ports::Only(vec![PortMatch {
                protocol: Protocol::Tcp,
                range: Some((22, 22)),
            }]),
        },
    ]);
    let r = render(&decision(vec![a]), "X", &none());
    let expected = "*filter
:X - [0:0]
:X-I-0 - [0:0]
:X-I-0-0 - [0:0]
-A X -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A X -d 10.0.0.2/32 -m comment --comment \"ns/a ingress\" -j X-I-0
-A X -j MARK --set-xmark 0x0/0x40000
-A X-I-0 -j MARK --set-xmark 0x0/0x40000
-A X-I-0-0 -s 10.0.0.4/30 -j RETURN
-A X-I-0-0 -s 10.0.0.9/32 -j RETURN
-A X-I-0-0 -j MARK --set-xmark 0x40000/0x40000
-A X-I-0 -s 10.0.0.0/24 -j X-I-0-0
-A X-I-0 -p tcp -m tcp --dport 22 -j RETURN
-A X-I-0 -m mark --mark 0x40000/0x40000 -j RETURN
-A X-I-0 -p tcp -j REJECT --reject-with tcp-reset
-A X-I-0 -j REJECT --reject-with icmp-port-unreachable
COMMIT
";
    assert_eq!(r.text, expected);
    assert!(r.chains.contains("X-I-0-0"));
}

#[test]
fn stale_chains_are_flushed_and_deleted_and_kept_chains_are_not() {
    let mut b = enforced("b", [10, 0, 0, 3]);
    b.ingress = Some(vec![]);
    let existing: BTreeSet<String> = ["SBNP", "SBNP-I-0", "SBNP-E-7"].map(String::from).into();
    let r = render(&decision(vec![b]), "SBNP", &existing);
    assert!(r.text.contains(":SBNP-E-7 - [0:0]\n"));
    assert!(r.text.ends_with("-X SBNP-E-7\nCOMMIT\n"));
    assert!(!r.text.contains("-X SBNP-I-0"));
    assert!(!r.text.contains("-X SBNP\n"));
}

#[test]
fn same_decision_same_text() {
    let mut b = enforced("b", [10, 0, 0, 3]);
    b.ingress = Some(vec![Allow {
        peer: Peer::Any,
        ports: Ports::Any,
    }]);
    let d = decision(vec![b]);
    assert_eq!(render(&d, "P", &none()).text, render(&d, "P", &none()).text);
    assert!(
        render(&d, "P", &none())
            .text
            .contains("-A P-I-0 -j RETURN\n")
    );
}

#[test]
fn teardown_flushes_then_deletes() {
    let chains: BTreeSet<String> = ["P", "P-I-0"].map(String::from).into();
    assert_eq!(
        teardown(&chains),
        "*filter\n:P - [0:0]\n:P-I-0 - [0:0]\n-X P\n-X P-I-0\nCOMMIT\n"
    );
}

#[test]
fn ownership_is_the_prefix_itself_or_prefix_dash() {
    assert!(owned("SBNP", "SBNP"));
    assert!(owned("SBNP", "SBNP-I-3"));
    assert!(!owned("SBNP", "SBNPX"));
    assert!(!owned("SBNP", "FORWARD"));
}
