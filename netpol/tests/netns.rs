//! Real packets through real rules: a "node" network namespace with a bridge, four "pod"
//! namespaces on it, the rendered ruleset loaded into the node's iptables, and TCP
//! connections that must succeed or fail as the policies say. Needs root.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use sandbox_netpol::decide::decide;
use sandbox_netpol::render::{render, teardown};
use sandbox_netpol::snapshot::Snapshot;
use serde_json::json;

const PREFIX: &str = "NPT";
const PODS: [(&str, u8); 4] = [("a", 2), ("b", 3), ("c", 4), ("d", 5)];

/// Accepts and closes connections on every port given; says "ready" once listening.
const LISTENER: &str = "
import select, socket, sys
socks = []
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', int(p)))
    s.listen(16)
    socks.append(s)
print('ready', flush=True)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        s.accept()[0].close()
";

/// Exits 0 if a TCP connection opens within 2 s, 1 otherwise.
const CONNECT: &str = "
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
";

/// Namespaces and listener processes of one run, removed on drop (also on panic).
struct Lab {
    tag: String,
    listeners: Vec<Child>,
}

impl Lab {
    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.tag)
    }

    fn exec(&self, ns: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(ns)])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    fn connects(&self, from: &str, to: &str, port: u16) -> bool {
        let ip = ip_of(to);
        let port = port.to_string();
        self.exec(from, &["python3", "-c", CONNECT, &ip, &port])
            .status
            .success()
    }

    fn listen(&mut self, ns: &str, ports: &[&str]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(ns), "python3", "-c", LISTENER])
            .args(ports)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn listener");
        let mut line = String::new();
        // Ends at "ready" or at EOF if python fails, so this cannot hang.
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read listener");
        self.listeners.push(child);
        assert_eq!(line.trim(), "ready", "listener in {ns} did not start");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.listeners {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in ["node"].into_iter().chain(PODS.map(|(p, _)| p)) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_of(pod: &str) -> String {
    let (_, host) = PODS.iter().find(|(p, _)| *p == pod).expect("pod");
    format!("10.123.0.{host}")
}

fn lab() -> Lab {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and loads iptables rules: run it as root"
    );
    let lab = Lab {
        tag: format!("np{}x", std::process::id()),
        listeners: Vec::new(),
    };
    let node = lab.ns("node");
    ip(&["netns", "add", &node]);
    ip(&["-n", &node, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &node, "link", "set", "br0", "up"]);
    for (pod, host) in PODS {
        let ns = lab.ns(pod);
        let port = format!("v{pod}");
        ip(&["netns", "add", &ns]);
        ip(&[
            "-n", &node, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["-n", &node, "link", "set", &port, "master", "br0", "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("10.123.0.{host}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
    }
    // Per network namespace on current kernels: without it the bridge bypasses iptables.
    let out = lab.exec(
        "node",
        &[
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables",
        ],
    );
    assert!(
        out.status.success(),
        "enable bridge-nf-call-iptables (is br_netfilter loaded?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab
}

fn snapshot() -> Snapshot {
    let pods: Vec<Pod> = PODS
        .iter()
        .map(|(name, host)| {
            serde_json::from_value(json!({
                "metadata": {"namespace": "t", "name": name, "labels": {"app": name}},
                "spec": {"nodeName": "node", "containers": [{"name": "c"}]},
                "status": {"phase": "Running", "podIP": format!("10.123.0.{host}")}
            }))
            .expect("pod")
        })
        .collect();
    let namespaces: Vec<Namespace> =
        vec![serde_json::from_value(json!({"metadata": {"name": "t"}})).expect("namespace")];
    let policies: Vec<NetworkPolicy> = [
        // b takes no ingress at all.
        json!({"metadata": {"namespace": "t", "name": "deny-b"},
               "spec": {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"]}}),
        // a may only talk to b's address.
        json!({"metadata": {"namespace": "t", "name": "a-out"},
               "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                        "egress": [{"to": [{"ipBlock": {"cidr": "10.123.0.3/32"}}]}]}}),
        // c takes port 8080 from the subnet, except from d.
        json!({"metadata": {"namespace": "t", "name": "c-in"},
               "spec": {"podSelector": {"matchLabels": {"app": "c"}},
                        "ingress": [{"from": [{"ipBlock": {"cidr": "10.123.0.0/24",
                                                           "except": ["10.123.0.5/32"]}}],
                                     "ports": [{"port": 8080}]}]}}),
    ]
    .into_iter()
    .map(|p| serde_json::from_value(p).expect("policy"))
    .collect();
    Snapshot::new(&pods, &namespaces, &policies)
}

fn restore(lab: &Lab, text: &str) {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("node"),
            "iptables-restore",
            "-w",
            "--noflush",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iptables-restore");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write rules");
    let out = child.wait_with_output().expect("iptables-restore");
    assert!(
        out.status.success(),
        "iptables-restore refused:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rendered_rules_enforce_policies_on_real_traffic() {
    let mut lab = lab();
    for (pod, _) in PODS {
        lab.listen(pod, &["8080", "9090"]);
    }
    // Before any rule, everything connects: the lab itself works.
    assert!(lab.connects("a", "b", 8080), "baseline a -> b");
    assert!(lab.connects("d", "c", 9090), "baseline d -> c");

    let ruleset = render(&decide(&snapshot(), "node"), PREFIX, &Default::default());
    restore(&lab, &ruleset.text);
    let jump = lab.exec(
        "node",
        &["iptables", "-w", "-I", "FORWARD", "1", "-j", PREFIX],
    );
    assert!(jump.status.success(), "insert jump");

    let expectations = [
        // b denies all ingress, whatever the source's egress allows.
        ("a", "b", 8080, false),
        ("c", "b", 8080, false),
        ("d", "b", 8080, false),
        // a's egress allows only b.
        ("a", "c", 8080, false),
        ("a", "d", 8080, false),
        // Nothing isolates d's ingress or the egress of b, c and d.
        ("b", "d", 8080, true),
        ("c", "a", 8080, true),
        ("b", "a", 9090, true),
        // c: port 8080 from the subnet except d.
        ("b", "c", 8080, true),
        ("b", "c", 9090, false),
        ("d", "c", 8080, false),
    ];
    for (from, to, port, allowed) in expectations {
        assert_eq!(
            lab.connects(from, to, port),
            allowed,
            "{from} -> {to}:{port} should be {}\n{}",
            if allowed { "allowed" } else { "denied" },
            ruleset.text
        );
    }

    // Teardown removes every trace, and traffic flows again.
    let unjump = lab.exec("node", &["iptables", "-w", "-D", "FORWARD", "-j", PREFIX]);
    assert!(unjump.status.success(), "delete jump");
    restore(&lab, &teardown(&ruleset.chains));
    let listing = lab.exec("node", &["iptables", "-w", "-S"]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(!listing.contains(PREFIX), "left behind:\n{listing}");
    assert!(lab.connects("a", "b", 8080), "after teardown a -> b");
}
