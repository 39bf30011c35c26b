//! `sandbox-probe [--node-kernel-release R --node-boot-id B] [--connect HOST:PORT]...`: prints
//! one JSON object with the facts it read, the runtime classification (when the node's facts
//! are given) and whether each `--connect` target accepted a TCP connection within 2 s.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use sandbox_probe::{NodeFacts, classify, facts};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let mut node = NodeFacts::default();
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("error: {flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--node-kernel-release" => node.kernel_release = value,
            "--node-boot-id" => node.boot_id = value,
            "--connect" => targets.push(value),
            _ => {
                eprintln!("error: unknown flag {flag}; see the crate's README");
                return ExitCode::from(2);
            }
        }
    }
    let facts = facts::read();
    let classification = (!node.kernel_release.is_empty() || !node.boot_id.is_empty())
        .then(|| classify(&facts, &node));
    let reachable: serde_json::Map<String, serde_json::Value> = targets
        .iter()
        .map(|t| (t.clone(), serde_json::Value::Bool(connects(t))))
        .collect();
    let report = serde_json::json!({
        "facts": facts,
        "classification": classification,
        "reachable": reachable,
    });
    println!("{report}");
    ExitCode::SUCCESS
}

fn connects(target: &str) -> bool {
    target
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok())
}
