//! Serve mode end to end: the built binary on a local port, asked over real TCP as the harness
//! asks it over the Pod IP, then stopped as the kubelet stops it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One GET, answered and closed; returns the status code and the body, after checking that
/// `Content-Length` matches the body.
fn get(port: u16, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {target} HTTP/1.1\r\nHost: probe\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read to close");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.parse().ok())
        .expect("Content-Length");
    assert_eq!(length, body.len(), "{head}");
    (status, body.to_string())
}

/// Kills the server if a test fails before stopping it, so no process outlives the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn healthz_and_report_answer_over_tcp_and_sigterm_stops_with_0() {
    // Port 0: the kernel picks a free port and the probe says which, so no other listener
    // can take it in between.
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_sandbox-probe"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sandbox-probe serve"),
    );
    // Kept open to the end: a closed pipe would fail the probe's later error lines.
    let mut stderr = BufReader::new(server.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the probe's first line");
    let port: u16 = line
        .trim()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_eq!(get(port, "/healthz"), (200, "ok".to_string()));

    let open = TcpListener::bind("127.0.0.1:0").expect("bind target");
    let open = open_addr(&open);
    let (status, body) = get(
        port,
        &format!(
            "/report?connect={}&connect=127.0.0.1%3A1&path=/proc/version&path=%2Fnonexistent",
            open.replace(':', "%3A")
        ),
    );
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("report is JSON");
    assert_eq!(report["reachable"][&open], true, "{report}");
    assert_eq!(report["reachable"]["127.0.0.1:1"], false, "{report}");
    assert_eq!(report["visible_paths"]["/proc/version"], true, "{report}");
    assert_eq!(report["visible_paths"]["/nonexistent"], false, "{report}");
    assert_eq!(
        report["classification"],
        serde_json::Value::Null,
        "{report}"
    );
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(
        report["facts"]["kernel_release"],
        release.trim(),
        "{report}"
    );

    assert_eq!(get(port, "/metrics").0, 404);
    let (status, body) = get(port, "/report?path=%zz");
    assert_eq!(status, 400);
    assert!(body.contains("bad percent escape"), "{body}");

    let status = common::terminate(&mut server.0, Duration::from_secs(2));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{status:?}");
}

#[test]
fn the_one_shot_mode_prints_the_same_report_with_paths() {
    let output = Command::new(env!("CARGO_BIN_EXE_sandbox-probe"))
        .args(["--path", "/proc/version", "--connect", "127.0.0.1:1"])
        .output()
        .expect("run sandbox-probe");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["visible_paths"]["/proc/version"], true, "{report}");
    assert_eq!(report["reachable"]["127.0.0.1:1"], false, "{report}");
    let unknown = Command::new(env!("CARGO_BIN_EXE_sandbox-probe"))
        .arg("--bogus")
        .arg("x")
        .output()
        .expect("run sandbox-probe");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
}

fn open_addr(listener: &TcpListener) -> String {
    listener.local_addr().expect("addr").to_string()
}
